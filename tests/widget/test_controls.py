"""Every control of the widget is a synced trait: set from Python (``w.steps = 7``) or from the
browser (a comm update, ``set_state``), it recomputes, and the map shown is exactly
``attribute()``'s for the options the controls make (``w.attribution.options``).

Truths: ``nbexplain.attribute`` called afresh with those options; torch itself for the painted
input's prediction and the IG path; scipy for the blur baseline and the rank correlations."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain.export import heatmap_2d
from nbexplain.widgets.serialize import decode_array

from widget_helpers import Replies, cnn

scipy_stats = pytest.importorskip("scipy.stats")
scipy_ndimage = pytest.importorskip("scipy.ndimage")


@pytest.fixture
def digits():
    return cnn(), torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(7))


def finals(replies, kind="attribution"):
    return [(c, b) for c, b in replies.items if c.get("kind") == kind and c.get("final", True)]


def assert_same_as_attribute(w, m):
    a = w.attribution
    again = nbexplain.attribute(m, torch.as_tensor(a.inputs), method=a.method,
                                target=int(a.target[0]), **a.options)
    np.testing.assert_allclose(a.values, again.values, rtol=1e-5, atol=1e-8)
    return a


CASES = [
    ("saliency", {}),
    ("input_x_gradient", {}),
    ("smoothgrad", {"samples": 6, "noise": 0.3, "smooth_base": "input_x_gradient"}),
    ("integrated_gradients", {"steps": 7, "rule": "riemann_trapezoid"}),
    ("grad_cam", {"layer": "0"}),
    ("grad_cam_pp", {"layer": "0"}),
    ("occlusion", {"window": 3, "stride": 2}),
    ("shapley", {"budget": 64, "grid": 4}),
    ("lime", {"budget": 64, "grid": 4}),
]


@pytest.mark.parametrize("method,controls", CASES, ids=[c[0] for c in CASES])
def test_setting_a_control_from_python_recomputes_exactly_as_attribute(digits, monkeypatch,
                                                                       method, controls):
    m, x = digits
    w = nbexplain.explain(m, x, method="input_x_gradient" if method == "saliency" else "saliency")
    replies = Replies(w, monkeypatch)
    try:
        with w.hold_trait_notifications():
            w.method = method
            for k, v in controls.items():
                setattr(w, k, v)
        assert w.wait(60)
        assert w.error == "", w.error
        a = assert_same_as_attribute(w, m)
        assert a.method == method and w.heatmap_meta["method"] == method
        for k, v in controls.items():   # each control reached the method
            opt = {"budget": "samples", "smooth_base": "base"}.get(k, k)
            if k == "grid":
                assert a.options["features"] == ("grid", (2, 2))
            else:
                assert a.options[opt] == v, (k, a.options)
        # the last map sent is that attribution, drawn as the view draws it
        content, buffers = finals(replies)[-1]
        np.testing.assert_allclose(decode_array(content["meta"], buffers[0]),
                                   heatmap_2d(a.values[0], True), rtol=1e-5, atol=1e-7)
    finally:
        w.close()


def test_a_control_set_by_the_browser_recomputes(digits, monkeypatch):
    m, x = digits
    w = nbexplain.explain(m, x, method="integrated_gradients")
    replies = Replies(w, monkeypatch)
    try:
        w.set_state({"steps": 9})       # what a comm update from the slider does
        assert w.wait(30)
        assert w.attribution.options["steps"] == 9
        assert_same_as_attribute(w, m)
        assert finals(replies)[-1][0]["method"] == "integrated_gradients"
    finally:
        w.close()


def test_ig_streams_and_records_its_completeness_error_against_steps(digits, monkeypatch):
    m, x = digits
    w = nbexplain.explain(m, x, method="integrated_gradients")
    replies = Replies(w, monkeypatch)
    try:
        w.steps = 64
        assert w.wait(30)
        partial = [c for c in replies.contents if c["kind"] == "attribution" and not c["final"]]
        assert partial, "IG sent no partial map"
        steps = [s for s, _ in w.delta_curve]
        assert steps == sorted(steps) and steps[-1] == 64 and len(steps) >= 2
        # each point is attribute()'s completeness error at that step count
        for n, d in w.delta_curve:
            ref = nbexplain.attribute(m, x, method="integrated_gradients", target=w.target,
                                      steps=n)
            assert d == pytest.approx(float(np.ravel(ref.delta)[0]), rel=1e-4, abs=1e-7)
    finally:
        w.close()


def test_the_blur_baseline_with_a_mix_is_the_blurred_input_mixed_with_the_input(digits):
    m, x = digits
    w = nbexplain.explain(m, x, method="integrated_gradients")
    try:
        with w.hold_trait_notifications():
            w.baseline, w.blur_sigma, w.mix = "blur", 1.5, 0.25
        assert w.wait(30)
        b = np.asarray(w.attribution.options["baseline"])
        img = x.numpy()[0]
        blurred = scipy_ndimage.gaussian_filter(img.astype(np.float64), 1.5, mode="mirror",
                                                truncate=3.0)
        np.testing.assert_allclose(b.reshape(8, 8), 0.75 * blurred + 0.25 * img, rtol=1e-5,
                                   atol=1e-6)
        assert_same_as_attribute(w, m)
    finally:
        w.close()


def test_painting_replaces_the_region_by_the_baseline_and_updates_the_prediction(digits):
    m, x = digits
    w = nbexplain.explain(m, x)
    try:
        before = [c["index"] for c in w.top_classes]
        paint = np.zeros((8, 8), np.uint8)
        paint[:4, :5] = 1
        with w.hold_trait_notifications():
            w.baseline = "white"
            w.paint = paint.tobytes()
        assert w.wait(30)
        painted = np.asarray(w.attribution.inputs)[0, 0]
        img = x.numpy()[0]
        np.testing.assert_array_equal(painted[:4, :5], np.full((4, 5), img.max()))
        np.testing.assert_array_equal(painted[4:], img[4:])
        np.testing.assert_array_equal(painted[:, 5:], img[:, 5:])
        with torch.no_grad():
            probs = torch.softmax(m(torch.as_tensor(painted)[None, None]), 1)[0].numpy()
        order = np.argsort(-probs)[:5]
        assert [c["index"] for c in w.top_classes] == list(order)
        np.testing.assert_allclose([c["prob"] for c in w.top_classes], probs[order], rtol=1e-5)
        assert_same_as_attribute(w, m)
        # the picture shown is the painted input; erasing everything restores the original
        w.paint = b""
        assert w.wait(30)
        assert [c["index"] for c in w.top_classes] == before
        np.testing.assert_array_equal(np.asarray(w.attribution.inputs)[0, 0], img)
    finally:
        w.close()


def test_a_paint_mask_of_the_wrong_size_is_an_error_in_the_widget(digits):
    m, x = digits
    w = nbexplain.explain(m, x)
    try:
        w.paint = bytes(10)
        assert w.wait(30)
        assert "paint has 10 cells" in w.error and "8×8" in w.error
    finally:
        w.close()


def test_the_ig_path_scrubber_sends_the_input_gradient_and_accumulation_at_alpha(digits,
                                                                                  monkeypatch):
    m, x = digits
    w = nbexplain.explain(m, x, method="integrated_gradients", steps=9)
    replies = Replies(w, monkeypatch)
    try:
        w.alpha = 1.0 - 1e-12 if w.alpha == 1.0 else 1.0
        w.alpha = 1.0
        assert w.wait(30)
        (content, buffers), = finals(replies, "path")[-1:]
        acc = decode_array(content["accum_meta"], buffers[2])
        ig = nbexplain.attribute(m, x, method="integrated_gradients", target=w.target,
                                 rule="riemann_trapezoid", steps=9)
        np.testing.assert_allclose(acc, heatmap_2d(ig.values[0], True), rtol=1e-4, atol=1e-7)

        w.alpha = 0.5
        assert w.wait(30)
        content, buffers = finals(replies, "path")[-1]
        assert content["alpha"] == 0.5
        xa = (0.5 * x)[None].requires_grad_(True)     # baseline zero: b + α(x − b) = α·x
        m(xa)[0, w.target].backward()
        grad = decode_array(content["grad_meta"], buffers[1])
        np.testing.assert_allclose(grad, xa.grad[0, 0].numpy(), rtol=1e-4, atol=1e-7)
        shown = np.frombuffer(buffers[0], np.uint8).reshape(content["image_meta"]["shape"])
        assert shown.shape == (8, 8, 1)
    finally:
        w.close()


def test_compared_methods_get_their_maps_and_rank_correlations(digits, monkeypatch):
    m, x = digits
    w = nbexplain.explain(m, x)
    replies = Replies(w, monkeypatch)
    try:
        w.compare = ["saliency", "integrated_gradients", "occlusion"]
        assert w.wait(60)
        maps = {c["method"]: decode_array(c["meta"], b[0]).astype(np.float64)
                for c, b in finals(replies, "compare")}
        assert set(maps) == {"saliency", "integrated_gradients", "occlusion"}
        for name, hm in maps.items():
            ref = nbexplain.attribute(m, x, method=name, target=w.target)
            np.testing.assert_allclose(hm, heatmap_2d(ref.values[0], True), rtol=1e-5,
                                       atol=1e-7)
        (corr, _), = finals(replies, "correlations")[-1:]
        names = corr["methods"]
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                rho = scipy_stats.spearmanr(maps[a].ravel(), maps[b].ravel()).statistic
                assert corr["matrix"][i][j] == pytest.approx(rho, abs=1e-9)
    finally:
        w.close()


def test_a_batch_shows_thumbnails_and_the_index_control_explains_another_example():
    m = cnn()
    xs = torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(3))[:, None]
    w = nbexplain.explain(m, xs, labels=[f"digit {i}" for i in range(10)])
    try:
        with torch.no_grad():
            pred = m(xs).argmax(1).numpy()
        meta = w.thumbnails_meta
        assert meta["n"] == 4 and meta["labels"] == [f"digit {p}" for p in pred]
        assert w.thumbnails and meta["thumb_w"] == 8
        w.index = 2
        assert w.wait(30)
        np.testing.assert_array_equal(np.asarray(w.attribution.inputs), xs[2:3].numpy())
        assert w.target == pred[2]
        assert_same_as_attribute(w, m)
    finally:
        w.close()


def test_a_control_changed_right_after_the_index_explains_the_new_examples_class():
    m = cnn()
    xs = torch.rand(6, 8, 8, generator=torch.Generator().manual_seed(3))[:, None]
    with torch.no_grad():
        pred = m(xs).argmax(1).numpy()
    i = int(np.flatnonzero(pred != pred[0])[0])     # an example of another class than 0's
    w = nbexplain.explain(m, xs, method="saliency")
    try:
        w.index = i                      # no wait: the next change comes before its job ends
        w.method = "integrated_gradients"
        w.compare = ["saliency"]
        assert w.wait(60)
        assert w.target == pred[i], (w.target, pred[i])
        assert int(w.attribution.target[0]) == pred[i]
        assert_same_as_attribute(w, m)
        w.index = 0
        w.target = 7                     # an explicit class after the index is kept
        assert w.wait(60)
        assert w.target == 7 and int(w.attribution.target[0]) == 7
    finally:
        w.close()


def test_shapley_sends_its_interval_half_widths_and_they_shrink_with_the_budget(digits,
                                                                                monkeypatch):
    m, x = digits
    w = nbexplain.explain(m, x, method="shapley", estimator="permutation", samples=512)
    replies = Replies(w, monkeypatch)
    try:
        w.grid = 4          # 16 patches of 2×2
        assert w.wait(60)
        widths = []
        for budget in (64, 1024):
            w.budget = budget
            assert w.wait(60)
            content, buffers = finals(replies)[-1]
            assert content["uncertainty"] is True
            masked = content.get("uncertainty_masked", False)
            unc = decode_array(content["meta"], buffers[-2 if masked else -1])
            ex = w.attribution.extras
            half = (np.asarray(ex["ci_high"])[0] - np.asarray(ex["ci_low"])[0]) / 2
            ids = np.asarray(ex["feature_groups"]).reshape(-1, 8, 8)[0]
            assert ids.max() == 15
            want = half[ids]
            bad = ~np.isfinite(want)
            if masked:    # unbounded intervals travel as a mask, never as a number
                np.testing.assert_array_equal(np.frombuffer(buffers[-1], np.uint8)
                                              .reshape(8, 8), bad)
            assert masked == bool(bad.any())
            np.testing.assert_allclose(unc[~bad], want[~bad], rtol=1e-5, atol=1e-9)
            widths.append(float(np.mean(half[np.isfinite(half)])))
        assert widths[1] < widths[0] / 2, widths
    finally:
        w.close()


def test_a_storm_of_slider_moves_runs_few_jobs_and_ends_with_the_last_value(digits,
                                                                           monkeypatch):
    m, x = digits
    w = nbexplain.explain(m, x, method="integrated_gradients")
    replies = Replies(w, monkeypatch)
    try:
        end = time.monotonic() + 2.0
        values = list(range(2, 202))
        for i, v in enumerate(values):    # 200 moves within 2 s, as a drag sends them
            w.set_state({"steps": v})
            time.sleep(max(0.0, (end - time.monotonic()) / (len(values) - i) * 0.9))
        assert w.wait(60)
        runner = w._runners["map"]
        assert runner.started <= 5, f"{runner.started} jobs ran for 200 moves"
        assert w.attribution.options["steps"] == 201
        last = finals(replies)[-1][0]
        assert last["final"] and last["id"] == w.heatmap_meta["request_id"]
        assert_same_as_attribute(w, m)
    finally:
        w.close()


def test_the_colour_tables_are_matplotlibs(digits):
    from matplotlib import colormaps

    m, x = digits
    w = nbexplain.explain(m, x)
    try:
        lut = np.frombuffer(w.colormap_lut, np.uint8).reshape(len(w.colormap_names), 256, 3)
        for k, name in enumerate(w.colormap_names):
            for i in (0, 37, 128, 255):
                want = np.round(np.asarray(colormaps[name](i / 255)[:3]) * 255)
                np.testing.assert_array_equal(lut[k, i], want)
        assert {"inferno", "RdBu_r"} <= set(w.colormap_names)
    finally:
        w.close()


def test_out_of_range_controls_are_refused_by_name(digits):
    m, x = digits
    w = nbexplain.explain(m, x)
    try:
        with pytest.raises(Exception, match="steps"):
            w.steps = 0
        with pytest.raises(Exception, match="rule"):
            w.rule = "simpson"
    finally:
        w.close()


def test_ig_steps_reuse_the_path_gradients_already_computed(digits, monkeypatch):
    """A nested rule at a doubled step count evaluates only the new half of its points, and
    a step count seen before evaluates none; the maps stay attribute()'s."""
    m, x = digits
    w = nbexplain.explain(m, x, method="integrated_gradients", rule="riemann_trapezoid",
                          steps=9)
    Replies(w, monkeypatch)
    try:
        cache = w._path_cache
        w.steps = 17
        assert w.wait(30)
        first = cache.evaluated
        assert first == 17         # 3, 5, 9 and 17 points: every point once
        assert_same_as_attribute(w, m)
        w.steps = 33
        assert w.wait(30)
        assert cache.evaluated - first == 16     # the 16 midpoints only
        assert_same_as_attribute(w, m)
        w.steps = 17
        assert w.wait(30)
        assert cache.evaluated - first == 16     # seen before: nothing new
        assert_same_as_attribute(w, m)
        w.target = (w.target + 1) % 10           # another path: computed afresh
        assert w.wait(30)
        assert cache.evaluated - first > 16
        assert_same_as_attribute(w, m)
    finally:
        w.close()


def test_the_data_mean_baseline_is_offered_with_data_and_is_its_mean(digits):
    m, x = digits
    data = torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(9))
    w = nbexplain.explain(m, x, method="integrated_gradients", data=data)
    try:
        assert "mean" in w.baseline_choices
        w.baseline = "mean"
        assert w.wait(30) and w.error == ""
        np.testing.assert_allclose(np.asarray(w.attribution.options["baseline"]),
                                   data.mean(0, keepdim=True).numpy(), rtol=1e-6)
        assert_same_as_attribute(w, m)
    finally:
        w.close()
    w = nbexplain.explain(m, x)
    try:
        assert "mean" not in w.baseline_choices
        w.baseline = "mean"                # without data=: an error in the widget, by name
        assert w.wait(30) and "baseline='mean'" in w.error and "data=" in w.error
    finally:
        w.close()


def test_a_new_view_gets_the_comparison_again(digits, monkeypatch):
    m, x = digits
    w = nbexplain.explain(m, x)
    replies = Replies(w, monkeypatch)
    try:
        w.compare = ["saliency"]
        assert w.wait(60)
        before = len(finals(replies, "compare"))
        w._on_msg(w, {"kind": "refresh", "what": "compare"}, [])   # what a reloaded view sends
        assert w.wait(60)
        assert len(finals(replies, "compare")) == before + 1
    finally:
        w.close()
