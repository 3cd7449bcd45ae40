"""The widget's controls at their edges, as a new user meets them: defaults that mean "the
method's own" (LIME's budget), explain() options beyond a slider or unknown, failures of the
comparison and the IG path shown in the widget, changes after close(), a model in training
mode, and clear messages for the common mistakes."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError

from widget_helpers import Replies, cnn


@pytest.fixture
def digits():
    return cnn(), torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(7))


def same_as_attribute(w, m):
    a = w.attribution
    again = nbexplain.attribute(m, torch.as_tensor(a.inputs), method=a.method,
                                target=int(a.target[0]), **a.options)
    np.testing.assert_allclose(a.values, again.values, rtol=1e-5, atol=1e-8)


def test_lime_runs_with_its_own_default_budget(digits):
    m, x = digits
    w = nbexplain.explain(m, x, method="lime")
    try:
        assert w.budget == 0 and "samples" not in w.attribution.options
        same_as_attribute(w, m)
        w.method = "saliency"
        w.method = "lime"
        assert w.wait(60) and w.error == ""
    finally:
        w.close()


def test_explain_options_beyond_a_slider_are_the_controls_value(digits):
    m, x = digits
    w = nbexplain.explain(m, x, method="integrated_gradients", steps=500)
    try:
        assert w.steps == 500 and w.attribution.options["steps"] == 500
        w.steps = 10
        assert w.wait(30) and w.attribution.options["steps"] == 10
    finally:
        w.close()
    w = nbexplain.explain(m, x, method="shapley", samples=600)
    try:
        assert w.budget == 600 and w.samples == 25     # Shapley's samples are its budget
        w.method = "smoothgrad"
        assert w.wait(60) and w.attribution.options["samples"] == 25
    finally:
        w.close()


def test_an_option_no_control_holds_stays_with_its_method_until_the_control_moves(digits):
    m, x = digits
    w = nbexplain.explain(m, x, method="occlusion", window=(1, 4, 2))
    try:
        assert w.attribution.options["window"] == (1, 4, 2)
        same_as_attribute(w, m)
        w.window = 3
        assert w.wait(30) and w.attribution.options["window"] == 3
    finally:
        w.close()


def test_an_unknown_explain_option_is_refused_with_the_ones_taken(digits):
    m, x = digits
    with pytest.raises(NBExplainError, match="unknown option 'bogus'.*steps"):
        nbexplain.explain(m, x, bogus=1)


def test_comparison_failures_show_and_the_other_methods_still_compare(monkeypatch):
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()  # no conv
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    w = nbexplain.explain(mlp, x)
    replies = Replies(w, monkeypatch)
    try:
        w.compare = ["salency", "grad_cam", "saliency", "saliency", "occlusion"]
        assert w.wait(60)
        got = [c for c in replies.contents if c["kind"] == "compare"]
        assert [c["method"] for c in got] == ["grad_cam", "saliency", "occlusion"]
        assert "error" in got[0] and "meta" in got[1] and "meta" in got[2]
        corr = [c for c in replies.contents if c["kind"] == "correlations"][-1]
        assert corr["methods"] == ["saliency", "occlusion"]
        assert "'salency'" in w.error and "grad_cam" in w.error
    finally:
        w.close()


class OneAtATime(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = cnn()

    def forward(self, x):
        if x.shape[0] != 1:
            raise RuntimeError("this model takes one image at a time")
        return self.net(x)


def test_the_ig_path_honours_batch_size_and_shows_its_failures(monkeypatch):
    m = OneAtATime().eval()
    x = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(3))
    w = nbexplain.explain(m, x, method="integrated_gradients", batch_size=1, steps=6)
    replies = Replies(w, monkeypatch)
    try:
        w.alpha = 0.5
        assert w.wait(30) and w.error == ""
        assert [c for c in replies.contents if c["kind"] == "path"]
        w.method = "saliency"
        assert w.wait(30)
        n = len(replies.items)
        w.alpha = 0.25                   # the path is IG's: nothing to compute for saliency
        assert w.wait(30) and len(replies.items) == n
    finally:
        w.close()


def test_changes_after_close_do_nothing_and_wait_returns_at_once(digits):
    m, x = digits
    w = nbexplain.explain(m, x)
    w.close()
    t0 = time.monotonic()
    w.steps = 12
    w.method = "integrated_gradients"
    w.alpha = 0.5
    w.compare = ["saliency"]
    assert w.wait(5) and time.monotonic() - t0 < 1.0
    assert w.status == "idle" and w._runners == {}


def test_a_model_in_training_mode_is_named_in_the_widget():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                            torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(256, 10))
    x = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(1))
    with pytest.warns(UserWarning, match="training mode"):
        w = nbexplain.explain(m, x)
    try:
        assert "training mode" in w.warning and "model.eval()" in w.warning
        assert m.training                      # said, not changed
    finally:
        w.close()


def test_common_mistakes_get_messages_with_the_fix(digits):
    m, x = digits
    w = nbexplain.explain(m, x)
    try:
        w.baseline = "mean"
        assert w.wait(30) and "data=" in w.error
        w.baseline = "zero"
        assert w.wait(30) and w.error == ""
        w.index = 4
        assert w.wait(30) and "use 0..0" in w.error
        w.index = 0
        assert w.wait(30) and w.error == ""
        w.noise = np.float32(0.2)              # numpy scalars are numbers too
        assert w.noise == pytest.approx(0.2)
    finally:
        w.close()
    torch.manual_seed(0)
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3)).eval()
    gray = np.random.default_rng(0).random((5, 8, 8)).astype("float32")
    # explain() shows an N×T×D batch as sequences; the image view says how to make images
    w = nbexplain.explain(lin, gray)
    try:
        assert w.view == "sequence"
    finally:
        w.close()
    from nbexplain.widgets import Explainer

    with pytest.raises(NBExplainError, match=r"x\[:, None\]"):
        Explainer(lin, gray)


def test_a_painting_belongs_to_its_example():
    m = cnn()
    xs = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    w = nbexplain.explain(m, xs)
    try:
        w.paint = np.ones((8, 8), np.uint8).tobytes()
        assert w.wait(30)
        w.index = 1
        assert w.wait(30) and w.paint == b""
        np.testing.assert_array_equal(w.attribution.inputs, xs[1:2].numpy())
    finally:
        w.close()


def test_explain_takes_the_display_settings_as_options():
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8), method="shapley", grid=4, budget=64,
                          show_uncertainty=True, opacity=0.3, colormap="viridis",
                          sign="positive", clip=95)
    try:
        assert (w.show_uncertainty, w.opacity, w.colormap, w.sign, w.clip) == (
            True, 0.3, "viridis", "positive", 95.0)
    finally:
        w.close()
    with pytest.raises(NBExplainError, match="colormap='bogus'.*viridis"):
        nbexplain.explain(cnn(), torch.rand(1, 8, 8), colormap="bogus")
