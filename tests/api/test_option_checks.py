"""Options are checked by name and by value.

An unknown option is refused with the list the method accepts (exactly the options it
documents, plus progress_bar, which the widget passes to every method), a Captum spelling is
told nbexplain's name, and a near miss gets a suggestion; SmoothGrad checks its own options
and its base method's; progress_bar=True forces the bar and False turns it off. SmoothGrad's
samples, noise and batch_samples are validated, and True/False options take only bools
(numpy bools are bools).

Truths: the options each method documents, and options that take effect (IG with the steps
given, Grad-CAM on the layer given, SmoothGrad without noise equal to its base method).
"""

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError
from nbexplain.backends import get_adapter
from nbexplain.methods import available_methods, get_method

import option_models
from option_models import W
from parity_models import cnn_pair
from toys import _x

# option_models' module-scoped fixtures (they override the plugin torch_cnn's cnn and xb)
cnn, xb = option_models.cnn, option_models.xb


# The options each method documents (its docstring / module docs), plus progress_bar, which
# every method takes because the widget passes it to all of them.
DOCUMENTED = {
    "saliency": {"abs", "reduce_channels", "batch_size", "layer", "progress_bar"},
    "input_x_gradient": {"batch_size", "layer", "progress_bar"},
    "integrated_gradients": {"baseline", "steps", "rule", "batch_size", "data", "seed",
                             "layer", "delta", "progress_bar"},
    "grad_cam": {"layer", "relu", "upsample", "batch_size", "progress_bar"},
    "grad_cam_pp": {"layer", "relu", "upsample", "batch_size", "progress_bar"},
    "smoothgrad": {"base", "samples", "noise", "vargrad", "seed", "draws", "batch_samples",
                   "progress_bar"},
    "occlusion": {"window", "stride", "baseline", "batch_size", "progress_bar"},
}


def _accepted_list(msg: str) -> set:
    tail = msg.split("accepts:")[1].strip().rstrip(".")
    return {s.strip() for s in tail.split(",")}


# --- unknown options --------------------------------------------------------------------------
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


def test_misnamed_options_are_refused_and_the_right_names_take_effect(cnn, xb):
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


def test_progress_bar_can_be_forced_and_turned_off(capsys):
    m = torch.nn.Linear(5, 2)
    x = torch.randn(3, 5)
    nbexplain.attribute(m, x, "integrated_gradients", target=0, progress_bar=True, batch_size=10)
    assert "integrated gradients" in capsys.readouterr().err
    nbexplain.attribute(m, x, "integrated_gradients", target=0, progress_bar=False, batch_size=10)
    nbexplain.attribute(m, x, "occlusion", target=0, progress_bar=False)
    assert capsys.readouterr().err == ""


# --- option values ----------------------------------------------------------------------------
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


@pytest.mark.parametrize("method, opt, value", [
    ("smoothgrad", "vargrad", "no"), ("saliency", "abs", "False"),
    ("grad_cam", "relu", "no"), ("grad_cam", "upsample", None),
    ("grad_cam_pp", "relu", 0), ("integrated_gradients", "progress_bar", "yes"),
])
def test_true_false_options_take_only_bools(method, opt, value):
    tm, _, _ = cnn_pair()
    x = _x((1, 3, 32, 32))
    with pytest.raises(NBExplainError, match=f"{opt}={value!r}; use True or False"):
        nbexplain.attribute(tm, x, method, target=0, **{opt: value})


def test_numpy_bools_are_bools():
    tm, _, _ = cnn_pair()
    x = _x((1, 3, 32, 32))
    a = nbexplain.attribute(tm, x, "saliency", target=0, abs=np.bool_(False)).values
    b = nbexplain.attribute(tm, x, "saliency", target=0, abs=False).values
    np.testing.assert_array_equal(a, b)
    assert (a < 0).any()
    nbexplain.attribute(tm, x, "integrated_gradients", target=0, steps=4, progress_bar=None)
