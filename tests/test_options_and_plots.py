"""Options are checked (unknown ones refused with nbexplain's name for a Captum/SHAP spelling),
Integrated Gradients on Keras models whose output dtype is not the input's, non-finite
baselines refused, SmoothGrad's samples/noise validated, and plot()/save() for single-example
and batched maps (Grad-CAM's (H, W) maps included), indices and feature names."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import nbexplain  # noqa: E402
from nbexplain import NBExplainError  # noqa: E402
from nbexplain.backends import get_adapter  # noqa: E402
from nbexplain.methods import available_methods, get_method  # noqa: E402
from nbexplain.methods.integrated_gradients import (  # noqa: E402
    integrated_gradients_progressive,
)


class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c1 = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.c2 = torch.nn.Conv2d(4, 5, 3, padding=1)
        self.fc = torch.nn.Linear(5 * 4 * 4, 3)

    def forward(self, x):
        x = torch.relu(self.c1(x))
        x = torch.nn.functional.max_pool2d(torch.relu(self.c2(x)), 2)
        return self.fc(x.flatten(1))


@pytest.fixture(scope="module")
def cnn():
    return CNN().eval()


@pytest.fixture(scope="module")
def xb():
    return torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))


W = np.array([[1.0, -2.0, 0.5, 3.0], [0.25, 1.5, -1.0, 2.0]])


def linear_torch():
    lin = torch.nn.Linear(4, 2, bias=True)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(W, dtype=torch.float32))
        lin.bias.copy_(torch.tensor([0.3, -0.7]))
    return lin.eval()


# The options each method documents (its docstring / module docs), plus progress_bar, which
# every method takes because the widget passes it to all of them.
DOCUMENTED = {
    "saliency": {"abs", "reduce_channels", "batch_size", "progress_bar"},
    "input_x_gradient": {"batch_size", "progress_bar"},
    "integrated_gradients": {"baseline", "steps", "rule", "batch_size", "data", "seed",
                             "progress_bar"},
    "grad_cam": {"layer", "relu", "upsample", "batch_size", "progress_bar"},
    "grad_cam_pp": {"layer", "relu", "upsample", "batch_size", "progress_bar"},
    "smoothgrad": {"base", "samples", "noise", "vargrad", "seed", "draws", "batch_samples",
                   "progress_bar"},
    "occlusion": {"window", "stride", "baseline", "batch_size", "progress_bar"},
}


def _accepted_list(msg: str) -> set:
    tail = msg.split("accepts:")[1].strip().rstrip(".")
    return {s.strip() for s in tail.split(",")}


# --- 1. unknown options ------------------------------------------------------------------------
@pytest.mark.parametrize("method", sorted(DOCUMENTED))
def test_every_method_lists_exactly_its_documented_options(cnn, xb, method):
    with pytest.raises(NBExplainError) as e:
        nbexplain.attribute(cnn, xb, method, target=0, no_such_option=1)
    msg = str(e.value)
    assert "'no_such_option'" in msg and method in msg
    expected = DOCUMENTED[method]
    if method == "smoothgrad":                    # plus those of its base, saliency by default
        expected = expected | DOCUMENTED["saliency"]
    assert _accepted_list(msg) == expected


@pytest.mark.parametrize("method", ["shapley", "lime"])
def test_perturbation_methods_refuse_unknown_options_too(method):
    f = lambda z: z @ W.T  # noqa: E731
    with pytest.raises(NBExplainError, match=f"{method} got unknown option 'bogus'"):
        nbexplain.attribute(f, np.ones((1, 4)), method, target=0, bogus=1)


@pytest.mark.parametrize("method, options, ours", [
    ("integrated_gradients", {"n_steps": 3}, "steps="),
    ("integrated_gradients", {"internal_batch_size": 4}, "batch_size="),
    ("integrated_gradients", {"baselines": 0.0}, "baseline="),
    ("grad_cam", {"target_layer": "c1"}, "layer="),
    ("grad_cam_pp", {"target_layer": "c1"}, "layer="),
    ("grad_cam", {"relu_attributions": False}, "relu="),
    ("smoothgrad", {"nt_samples": 3}, "samples="),
    ("smoothgrad", {"stdevs": 0.2}, "noise="),
    ("smoothgrad", {"nt_samples_batch_size": 2}, "batch_samples="),
    ("occlusion", {"sliding_window_shapes": (3, 2, 2)}, "window="),
    ("occlusion", {"strides": (3, 2, 2)}, "stride="),
    ("saliency", {"baselines": 0.5}, "baseline="),
])
def test_captum_spellings_are_refused_with_our_name(cnn, xb, method, options, ours):
    (name,) = options
    with pytest.raises(NBExplainError) as e:
        nbexplain.attribute(cnn, xb, method, target=0, **options)
    msg = str(e.value)
    assert f"got unknown option '{name}'" in msg and method in msg
    assert f"{name}= is" in msg and ours in msg
    assert "accepts:" in msg


def test_captum_method_keyword_names_the_rule(cnn, xb):
    # attribute()'s own `method` parameter takes this name there; the widget and direct callers
    # reach the method function with it
    spec = get_method("integrated_gradients")
    a = get_adapter(cnn)
    with pytest.raises(NBExplainError, match=r"method= is called rule="):
        spec.fn(a, a.as_tensor(xb), np.array([0, 1]), method="riemann_trapezoid")


def test_the_silently_ignored_cases_of_the_review(cnn, xb):
    # previously: 50 steps, the automatic layer, and a baseline saliency has no use for
    with pytest.raises(NBExplainError, match="n_steps"):
        nbexplain.attribute(cnn, xb, "integrated_gradients", target=0, n_steps=3)
    with pytest.raises(NBExplainError, match="target_layer"):
        nbexplain.attribute(cnn, xb, "grad_cam", target=0, target_layer="c1")
    with pytest.raises(NBExplainError, match="saliency does not use baseline="):
        nbexplain.attribute(cnn, xb, "saliency", target=0, baseline=0.5)
    # the right names do what they say: 3 steps are recorded, and layer c1 is used
    assert nbexplain.attribute(cnn, xb, "integrated_gradients", target=0,
                               steps=3).extras["steps"] == 3
    assert nbexplain.attribute(cnn, xb, "grad_cam", target=0, layer="c1").extras["layer"] == "c1"


def test_a_near_miss_is_suggested(cnn, xb):
    with pytest.raises(NBExplainError, match=r"Did you mean steps= \(not step=\)"):
        nbexplain.attribute(cnn, xb, "integrated_gradients", target=0, step=8)


def test_smoothgrad_checks_its_own_and_its_base_methods_options(cnn, xb):
    with pytest.raises(NBExplainError) as e:
        nbexplain.attribute(cnn, xb, "smoothgrad", target=0, samples=2, steps=4)
    msg = str(e.value)
    assert "base='saliency'" in msg and "'steps'" in msg and "integrated_gradients" in msg
    assert _accepted_list(msg) == DOCUMENTED["smoothgrad"] | DOCUMENTED["saliency"]
    with pytest.raises(NBExplainError, match="n_steps= is called steps="):
        nbexplain.attribute(cnn, xb, "smoothgrad", base="integrated_gradients", n_steps=4)
    # a base option that is forwarded takes effect: with no noise, SmoothGrad of IG with 4
    # steps is IG with 4 steps (not with the default 50)
    sg = nbexplain.attribute(cnn, xb, "smoothgrad", target=0, base="integrated_gradients",
                             steps=4, rule="riemann_left", samples=2, noise=0.0)
    ig4 = nbexplain.attribute(cnn, xb, "integrated_gradients", target=0, steps=4,
                              rule="riemann_left")
    ig50 = nbexplain.attribute(cnn, xb, "integrated_gradients", target=0, rule="riemann_left")
    np.testing.assert_allclose(sg.values, ig4.values, rtol=1e-5, atol=1e-7)
    assert np.abs(ig4.values - ig50.values).max() > 1e-4


@pytest.mark.parametrize("method", ["saliency", "input_x_gradient", "integrated_gradients",
                                    "grad_cam", "grad_cam_pp", "smoothgrad", "occlusion",
                                    "shapley", "lime"])
def test_progress_bar_is_accepted_by_every_method_as_the_widget_passes_it(cnn, xb, method):
    assert method in available_methods()
    a = get_adapter(cnn)
    x = a.as_tensor(xb[:1])
    opts = {"samples": 2} if method == "smoothgrad" else {
        "samples": 20, "features": ("grid", 4)} if method in ("shapley", "lime") else {}
    # exactly as the widget calls it
    res = get_method(method).fn(a, x, np.array([1]), progress_bar=False, **opts)
    assert res.values.shape[0] == 1


# --- 2. IG when the model's output dtype is not its input's ---------------------------------
def _keras_linear(input_dtype, policy=None):
    keras = pytest.importorskip("keras")
    old = keras.mixed_precision.global_policy()
    try:
        if policy is not None:
            keras.mixed_precision.set_global_policy(policy)
        inp = keras.Input((4,), dtype=input_dtype)
        dense = keras.layers.Dense(2, dtype=None if policy else "float32")
        model = keras.Model(inp, dense(inp))
        dense.set_weights([W.T.astype(np.float32), np.array([0.3, -0.7], np.float32)])
    finally:
        keras.mixed_precision.set_global_policy(old)
    assert keras.mixed_precision.global_policy().name == old.name
    return model


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_trapezoid", "riemann_middle"])
def test_ig_keras_float64_input_into_float32_layers(rule):
    model = _keras_linear("float64")
    x = np.random.default_rng(0).normal(size=(3, 4))
    b = np.random.default_rng(1).normal(size=(4,))
    t = [0, 1, 1]
    a = nbexplain.attribute(model, x, "integrated_gradients", target=t, baseline=b, steps=6,
                            rule=rule)
    # truth: on a linear model IG is (x − b) · w_t exactly, and complete (delta 0)
    expected = (x - b) * W[t]
    np.testing.assert_allclose(a.values, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-5)
    # and delta is Σ IG − (f(x) − f(b)), f from the model itself
    fx = np.asarray(model(x))[np.arange(3), t].astype(np.float64)
    fb = np.asarray(model(np.broadcast_to(b, x.shape)))[np.arange(3), t].astype(np.float64)
    np.testing.assert_allclose(a.delta, a.values.sum(1) - (fx - fb), atol=1e-5)


def test_ig_keras_mixed_float16_policy():
    model = _keras_linear("float32", policy="mixed_float16")
    x = np.random.default_rng(2).normal(size=(2, 4)).astype(np.float32)
    out = model(x)
    assert "float16" in str(out.dtype)          # the case of the review: half scores
    t = [1, 0]
    a = nbexplain.attribute(model, x, "integrated_gradients", target=t, steps=8)
    assert np.all(np.isfinite(a.delta))
    # the Dense layer computes in float16: compare at float16 precision
    np.testing.assert_allclose(a.values, x * W[t], rtol=1e-2, atol=1e-2)
    fx = np.asarray(out, np.float64)[np.arange(2), t]
    fb = np.asarray(model(np.zeros_like(x)), np.float64)[np.arange(2), t]
    np.testing.assert_allclose(a.delta, a.values.sum(1) - (fx - fb), atol=2e-2)


def test_ig_progressive_on_keras_float64_input():
    model = _keras_linear("float64")
    ad = get_adapter(model)
    x = ad.as_tensor(np.random.default_rng(3).normal(size=(2, 4)))
    t = np.array([1, 0])
    for rule in ("riemann_trapezoid", "riemann_left"):
        last = None
        for last in integrated_gradients_progressive(ad, x, t, start_steps=4, max_steps=16,
                                                      rule=rule):
            pass
        np.testing.assert_allclose(ad.to_numpy(last.values), ad.to_numpy(x) * W[t],
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ad.to_numpy(last.delta), 0.0, atol=1e-5)


# --- 3. non-finite baselines --------------------------------------------------------------------
@pytest.mark.parametrize("baseline, words", [
    (float("nan"), "baseline=nan contains NaN or infinite values"),
    (float("inf"), "baseline=inf contains NaN or infinite values"),
    (np.array([0.0, np.nan, 0.0, 0.0]), "baseline contains NaN or infinite values (1 of 4"),
    (np.full((3, 4), np.inf), "baseline contains NaN or infinite values (12 of 12"),
    ([0.0, 0.0, -np.inf, 1.0], "baseline contains NaN or infinite values (1 of 4"),
    (torch.tensor([0.0, float("nan"), 0.0, 0.0]), "baseline contains NaN or infinite values"),
])
def test_ig_refuses_a_non_finite_baseline(baseline, words):
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    with pytest.raises(NBExplainError) as e:
        nbexplain.attribute(linear_torch(), x, "integrated_gradients", target=0,
                            baseline=baseline)
    msg = str(e.value)
    assert words in msg and "would be NaN" in msg and "Pass a finite" in msg, msg


def test_ig_refuses_non_finite_preset_baselines():
    x = np.random.default_rng(0).normal(size=(2, 3, 8, 8)).astype(np.float32)
    data = np.zeros((5, 3, 8, 8), np.float32)
    data[2, 0, 0, 0] = np.nan
    with pytest.raises(NBExplainError, match=r"data= \(averaged by baseline='mean'\)"):
        nbexplain.attribute(CNN().eval(), x, "integrated_gradients", target=0,
                            baseline="mean", data=data)
    with pytest.raises(NBExplainError, match="sigma must be a positive"):
        nbexplain.attribute(CNN().eval(), x, "integrated_gradients", target=0,
                            baseline=("blur", 0))
    with pytest.raises(NBExplainError, match="sigma must be a positive"):
        nbexplain.attribute(CNN().eval(), x, "integrated_gradients", target=0,
                            baseline=("blur", float("nan")))
    ad = get_adapter(linear_torch())
    with pytest.raises(NBExplainError, match="NaN or infinite"):
        next(integrated_gradients_progressive(ad, ad.as_tensor(x[:, 0, 0, :4]), np.array([0, 1]),
                                              baseline=np.nan))


def test_ig_finite_baselines_still_exact_on_a_linear_model():
    x = np.random.default_rng(4).normal(size=(3, 4)).astype(np.float32)
    b = np.random.default_rng(5).normal(size=(4,)).astype(np.float32)
    for base in (b, torch.tensor(b), b.tolist(), np.broadcast_to(b, x.shape).copy(), 0.5):
        a = nbexplain.attribute(linear_torch(), x, "integrated_gradients", target=1,
                                baseline=base, steps=5)
        np.testing.assert_allclose(a.values, (x - np.asarray(base, np.float64)) * W[1],
                                   rtol=1e-5, atol=1e-6)


# --- 4. smoothgrad's samples and noise ------------------------------------------------------
@pytest.mark.parametrize("opts, match", [
    ({"samples": 2.5}, r"samples=2\.5; use a whole number >= 1"),
    ({"samples": 0}, r"samples=0; use a whole number >= 1"),
    ({"samples": -3}, r"samples=-3; use a whole number >= 1"),
    ({"samples": "4"}, r"samples='4'; use a whole number >= 1"),
    ({"samples": True}, r"samples=True; use a whole number >= 1"),
    ({"samples": float("nan")}, r"samples=nan; use a whole number"),
    ({"noise": -0.1}, r"noise=-0\.1; use a number >= 0"),
    ({"noise": float("nan")}, r"noise=nan; use a number >= 0"),
    ({"noise": "0.2"}, r"noise='0\.2'; use a number >= 0"),
    ({"batch_samples": 1.5}, r"batch_samples=1\.5; use a whole number >= 1"),
    ({"batch_samples": 0}, r"batch_samples=0; use a whole number >= 1"),
])
def test_smoothgrad_validates_samples_and_noise(cnn, xb, opts, match):
    with pytest.raises(NBExplainError, match=match):
        nbexplain.attribute(cnn, xb, "smoothgrad", target=0, **opts)


def test_smoothgrad_whole_float_samples_and_zero_noise(cnn, xb):
    a = nbexplain.attribute(cnn, xb, "smoothgrad", target=0, samples=3.0, seed=7)
    b = nbexplain.attribute(cnn, xb, "smoothgrad", target=0, samples=3, seed=7)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.extras["samples"] == 3 and isinstance(a.extras["samples"], int)
    # truth: with no noise every copy is the input, so SmoothGrad is the base method
    z = nbexplain.attribute(cnn, xb, "smoothgrad", target=0, samples=4, noise=0)
    s = nbexplain.attribute(cnn, xb, "saliency", target=0)
    np.testing.assert_allclose(z.values, s.values, rtol=1e-6, atol=1e-8)


# --- 5. plot() and save() -------------------------------------------------------------------------
MAGIC = {"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_pp", "saliency"])
@pytest.mark.parametrize("single", [True, False])
def test_save_single_and_batched(cnn, xb, tmp_path, method, single):
    a = nbexplain.attribute(cnn, xb[0] if single else xb, method, target=1)
    assert a.extras["single"] is single
    for ext, magic in MAGIC.items():
        p = tmp_path / f"{method}_{single}.{ext}"
        assert a.save(str(p)) == str(p)
        assert p.stat().st_size > 0
        assert p.read_bytes().startswith(magic)


def _drawn_heatmap(fig):
    return np.asarray(fig.axes[0].images[-1].get_array())


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_pp"])
def test_grad_cam_plot_draws_the_requested_examples_map(cnn, xb, method):
    single = nbexplain.attribute(cnn, xb[1], method, target=2)
    assert single.values.shape == (8, 8)
    fig = single.plot()
    try:  # truth: the drawn map is the example's map itself (no row picked out of it)
        np.testing.assert_array_equal(_drawn_heatmap(fig), single.values)
    finally:
        plt.close(fig)
    batch = nbexplain.attribute(cnn, xb, method, target=2)
    fig = batch.plot(index=1)
    try:
        np.testing.assert_array_equal(_drawn_heatmap(fig), batch.values[1])
        np.testing.assert_allclose(batch.values[1], single.values, rtol=1e-5, atol=1e-7)
    finally:
        plt.close(fig)


def test_grad_cam_without_upsampling_covers_the_image(cnn, xb, tmp_path):
    a = nbexplain.attribute(cnn, xb[0], "grad_cam", target=0, layer="c2", upsample=False)
    fig = a.plot()
    try:
        img, hm = fig.axes[0].images
        assert img.get_extent() == hm.get_extent()
    finally:
        plt.close(fig)
    assert os.path.getsize(a.save(str(tmp_path / "raw.png"))) > 0


def test_out_of_range_index_is_an_nbexplain_error(cnn, xb, tmp_path):
    batch = nbexplain.attribute(cnn, xb, "saliency", target=0)
    single = nbexplain.attribute(cnn, xb[0], "grad_cam", target=0)
    tab = nbexplain.attribute(linear_torch(), np.ones((3, 4), np.float32), target=0)
    open_before = plt.get_fignums()
    for a, index, match in [(batch, 2, r"index=2, but the attribution has 2 examples; use 0\.\.1"),
                            (batch, -3, r"index=-3, but the attribution has 2 examples"),
                            (tab, 7, r"index=7, but the attribution has 3 examples"),
                            (single, 1, r"index=1, but this attribution is for a single"),
                            (batch, 0.5, r"index=0\.5; pass the int position")]:
        with pytest.raises(NBExplainError, match=match):
            a.plot(index=index)
        with pytest.raises(NBExplainError, match=match):
            a.save(str(tmp_path / "never.png"), index=index)
    assert not (tmp_path / "never.png").exists()
    assert plt.get_fignums() == open_before      # no figure left behind
    fig = batch.plot(index=-1)                   # Python-style negative indices still work
    plt.close(fig)


def _tick_labels(fig):
    return [t.get_text() for t in fig.axes[0].get_yticklabels()]


def test_feature_names_label_the_bars():
    f = lambda z: z @ W.T  # noqa: E731
    x = np.array([[1.0, 2.0, -3.0, 0.5], [2.0, -1.0, 1.0, 1.0]])
    names = ["age", "income", "height", "weight"]
    a = nbexplain.attribute(f, x, "shapley", target=0, baseline=0.0, feature_names=names)
    assert list(a.extras["feature_names"]) == names
    for index in (0, 1):
        fig = a.plot(index=index)
        try:
            # truth: Shapley values of a linear model with a zero baseline are w_i x_i; the
            # bars run from the smallest |value| (bottom) to the largest (top)
            phi = W[0] * x[index]
            expected = [names[i] for i in np.argsort(np.abs(phi))]
            assert _tick_labels(fig) == expected
        finally:
            plt.close(fig)
    # explicit names win; a wrong count is an NBExplainError, not an IndexError
    fig = a.plot(feature_names=["a", "b", "c", "d"])
    assert sorted(_tick_labels(fig)) == ["a", "b", "c", "d"]
    plt.close(fig)
    with pytest.raises(NBExplainError, match="feature_names has 2 names"):
        a.plot(feature_names=["a", "b"])


def test_feature_group_names_label_the_group_values():
    f = lambda z: z @ W.T  # noqa: E731
    x = np.array([[1.0, 2.0, -3.0, 0.5]])
    a = nbexplain.attribute(f, x[0], "shapley", target=1, baseline=0.0,
                            features={"first": [0, 1], "last": [2, 3]})
    fig = a.plot()
    try:
        # truth: a group's Shapley value on a linear model is the sum of its w_i x_i
        phi = W[1] * x[0]
        g = {"first": phi[:2].sum(), "last": phi[2:].sum()}
        assert _tick_labels(fig) == sorted(g, key=lambda k: abs(g[k]))
        widths = [p.get_width() for p in fig.axes[0].patches]
        np.testing.assert_allclose(sorted(widths), sorted(g.values()), rtol=1e-6)
    finally:
        plt.close(fig)


def test_tabular_without_names_and_single_tabular_example(tmp_path):
    a = nbexplain.attribute(linear_torch(), np.ones(4, np.float32), "input_x_gradient",
                            target=1)
    assert a.extras["single"] is True
    fig = a.plot()
    try:
        # truth: input × gradient of a linear model at x = 1 is the weight row
        expected = [f"x{i}" for i in np.argsort(np.abs(W[1]))]
        assert _tick_labels(fig) == expected
    finally:
        plt.close(fig)
    for ext in MAGIC:
        assert os.path.getsize(a.save(str(tmp_path / f"t.{ext}"))) > 0


# --- non-finite attributions (a model that overflows) ---------------------------------------
class _ExpOverflow(torch.nn.Module):
    """exp(100) overflows float32: the gradient at that input element is inf."""

    def forward(self, x):
        return torch.exp(x.flatten(1)).sum(1, keepdim=True)


def _overflowing(shape):
    x = np.zeros(shape, np.float32)
    x.flat[0] = 100.0
    return x


def test_attribute_warns_about_non_finite_values():
    with pytest.warns(UserWarning, match=r"1 of the 16 saliency values are not finite"):
        a = nbexplain.attribute(_ExpOverflow(), _overflowing((1, 1, 4, 4)), "saliency")
    assert np.isinf(a.values).sum() == 1


@pytest.mark.parametrize("shape", [(1, 1, 4, 4), (1, 2, 2), (1, 4)],
                         ids=["image", "sequence", "tabular"])
def test_plots_leave_non_finite_values_out_of_the_scale(shape):
    with pytest.warns(UserWarning, match="not finite"):
        a = nbexplain.attribute(_ExpOverflow(), _overflowing(shape), "saliency")
    with pytest.warns(UserWarning, match="drawn blank"):
        fig = a.plot()
    try:
        ax = fig.axes[0]
        if ax.images:      # heatmaps: the colour scale spans the finite values (all 1)
            lo, hi = ax.images[-1].get_clim()
            assert np.isfinite([lo, hi]).all() and hi == pytest.approx(1.0)
        else:              # bars: the inf one is not drawn as the largest
            heights = [p.get_width() if hasattr(p, "get_width") else None
                       for p in ax.patches]
            assert all(np.isfinite(h) or np.isnan(h) for h in heights)
    finally:
        plt.close(fig)
