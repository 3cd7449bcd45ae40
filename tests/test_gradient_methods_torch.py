"""Gradient methods on torch: analytic toys, agreement with Captum, batching, side effects."""

import time

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError
from nbexplain.backends import get_adapter
from nbexplain.methods.integrated_gradients import (
    integrated_gradients_progressive,
    rule_points,
)

from conftest import assert_same_state, model_state_snapshot

RULES = ["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"]


def rel_err(ours, theirs):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    return np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30)


class CNN(torch.nn.Module):
    def __init__(self, seed=0, c=3, hw=8, k=5):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = torch.nn.Conv2d(c, 6, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(6, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8 * (hw // 2) ** 2, k)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


@pytest.fixture(scope="module")
def cnn():
    return CNN().eval()


@pytest.fixture(scope="module")
def xb():
    torch.manual_seed(1)
    return torch.rand(4, 3, 8, 8)


# --- analytic toys --------------------------------------------------------------------------
@pytest.mark.parametrize("rule", RULES)
def test_ig_on_linear_model_is_exact(rule):
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 3)
    x, b = torch.randn(2, 5), torch.randn(2, 5)
    a = nbexplain.attribute(lin, x, "integrated_gradients", target=[2, 0], baseline=b.numpy(),
                            steps=7, rule=rule)
    w = lin.weight.detach().numpy()
    expected = (x - b).numpy() * w[[2, 0]]
    np.testing.assert_allclose(a.values, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.delta, 0, atol=1e-5)


class Quadratic(torch.nn.Module):
    def forward(self, x):
        return torch.stack([(x ** 2).sum(1), x.sum(1)], 1)


@pytest.mark.parametrize("rule", RULES)
def test_ig_on_quadratic(rule):
    x = torch.tensor([[1.0, -2.0, 3.0]], dtype=torch.float64)
    b = torch.tensor([[0.5, 0.5, -1.0]], dtype=torch.float64)
    n = 6
    a = nbexplain.attribute(Quadratic().double(), x, "integrated_gradients", target=0,
                            baseline=b.numpy(), steps=n, rule=rule)
    d = (x - b).numpy()
    alphas, w = rule_points(rule, n)
    # ∫ 2(b + α d) dα with the rule's own nodes: exact answer x² − b² when the rule
    # integrates linear functions exactly (all but the one-sided Riemann sums)
    expected = d * (2 * b.numpy() * w.sum() + 2 * d * (alphas * w).sum())
    np.testing.assert_allclose(a.values, expected, rtol=1e-12)
    if rule not in ("riemann_left", "riemann_right"):
        np.testing.assert_allclose(a.values, (x ** 2 - b ** 2).numpy(), rtol=1e-12)
        assert abs(float(a.delta[0])) < 1e-12


class Planted(torch.nn.Module):
    """Output depends only on one input position (through a smooth nonlinearity)."""

    def __init__(self, index):
        super().__init__()
        self.index = index
        self.scale = torch.nn.Parameter(torch.tensor([1.5, -0.7]))

    def forward(self, x):
        v = x[(slice(None),) + self.index]
        return torch.stack([torch.tanh(v) * self.scale[0] + v ** 2, v * self.scale[1]], 1)


@pytest.mark.parametrize("shape, index", [
    ((2, 3, 7, 9), (1, 4, 6)),        # NCHW image
    ((2, 10), (7,)),                  # tabular
    ((2, 6, 4), (3, 2)),              # sequence N,T,D
])
@pytest.mark.parametrize("method, opts", [
    ("saliency", {}), ("input_x_gradient", {}), ("integrated_gradients", {"steps": 16}),
    ("smoothgrad", {"samples": 8, "noise": 0.05}), ("occlusion", {"window": 1}),
])
def test_planted_position_gets_the_maximum(shape, index, method, opts):
    torch.manual_seed(0)
    x = torch.rand(shape) + 0.5
    if method == "occlusion":
        opts = {"window": (1,) * (len(shape) - 1)}  # one element at a time, channels too
    a = nbexplain.attribute(Planted(index), x, method, target=0, **opts).values
    for i in range(shape[0]):
        flat = np.abs(a[i]).ravel()
        assert np.unravel_index(flat.argmax(), a[i].shape) == index
        assert np.sum(flat > 1e-6 * flat.max()) == 1, "only the planted position may matter"


# --- Captum agreement -----------------------------------------------------------------------
def test_input_x_gradient_matches_captum(cnn, xb):
    from captum.attr import InputXGradient

    tgt = [0, 3, 1, 4]
    ours = nbexplain.attribute(cnn, xb, "input_x_gradient", target=tgt).values
    theirs = InputXGradient(cnn).attribute(xb.clone(), target=tgt).detach().numpy()
    assert rel_err(ours, theirs) <= 1e-5


@pytest.mark.parametrize("rule", ["riemann_left", "riemann_right", "riemann_middle",
                                  "gausslegendre"])
@pytest.mark.parametrize("steps, batch", [(5, None), (20, 7), (50, 64)])
def test_ig_matches_captum(cnn, xb, rule, steps, batch):
    from captum.attr import IntegratedGradients

    tgt = [2, 2, 0, 1]
    base = torch.full_like(xb, 0.25)
    a = nbexplain.attribute(cnn, xb, "integrated_gradients", target=tgt,
                            baseline=base.numpy(), steps=steps, rule=rule, batch_size=batch)
    theirs, delta = IntegratedGradients(cnn).attribute(
        xb, baselines=base, target=tgt, n_steps=steps, method=rule,
        internal_batch_size=batch, return_convergence_delta=True)
    assert rel_err(a.values, theirs.detach().numpy()) <= 1e-5
    np.testing.assert_allclose(a.delta, delta.detach().numpy(), atol=1e-4)


@pytest.mark.parametrize("steps", [4, 25, 50])
def test_ig_trapezoid_is_captum_rescaled(cnn, xb, steps):
    from captum.attr import IntegratedGradients

    a = nbexplain.attribute(cnn, xb, "integrated_gradients", target=1, baseline=0.0,
                            steps=steps, rule="riemann_trapezoid")
    theirs = IntegratedGradients(cnn).attribute(xb, baselines=0.0, target=1, n_steps=steps,
                                                method="riemann_trapezoid")
    assert rel_err(a.values, theirs.detach().numpy() * steps / (steps - 1)) <= 1e-5


def test_grad_cam_matches_captum_with_interpolation(cnn, xb):
    from captum.attr import LayerAttribution, LayerGradCam

    tgt = [1, 0, 4, 2]
    a = nbexplain.attribute(cnn, xb, "grad_cam", target=tgt, layer="conv2")
    assert a.values.shape == (4, 8, 8)
    gc = LayerGradCam(cnn, cnn.conv2).attribute(xb, target=tgt, relu_attributions=True)
    up = LayerAttribution.interpolate(gc, (8, 8), interpolate_mode="bilinear")
    assert rel_err(a.values, up[:, 0].detach().numpy()) <= 1e-5
    raw = LayerGradCam(cnn, cnn.conv2).attribute(xb, target=tgt)
    assert rel_err(a.extras["raw"], raw[:, 0].detach().numpy()) <= 1e-5
    # automatic layer choice: the last conv
    auto = nbexplain.attribute(cnn, xb, "grad_cam", target=tgt)
    assert auto.extras["layer"] == "conv2"
    # (calls may run in another memory format: equal up to float round-off)
    tol = dict(rtol=1e-6, atol=1e-6 * np.abs(a.values).max())
    np.testing.assert_allclose(auto.values, a.values, **tol)
    # layer given as an object
    obj = nbexplain.attribute(cnn, xb, "grad_cam", target=tgt, layer=cnn.conv2)
    np.testing.assert_allclose(obj.values, a.values, **tol)


def _pytorch_grad_cam_pp(acts, grads):
    """Grad-CAM++ as pytorch-grad-cam's GradCAMPlusPlus.get_cam_weights computes it (float32
    numpy arrays, eps = 1e-6), then its ReLU'd weighted sum of the activations."""
    grads_power_2 = grads ** 2
    grads_power_3 = grads_power_2 * grads
    sum_activations = np.sum(acts, axis=(2, 3))
    eps = 0.000001
    aij = grads_power_2 / (2 * grads_power_2
                           + sum_activations[:, :, None, None] * grads_power_3 + eps)
    aij = np.where(grads != 0, aij, 0)
    weights = np.sum(np.maximum(grads, 0) * aij, axis=(2, 3))
    return np.maximum((weights[:, :, None, None] * acts).sum(1), 0)


def _acts_and_grads(model, layer, x, tgt):
    acts = {}
    h = layer.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
    try:
        out = model(x.clone().requires_grad_(True))
        s = out[torch.arange(len(tgt)), torch.tensor(tgt)].sum()
        (g,) = torch.autograd.grad(s, acts["a"])
    finally:
        h.remove()
    return acts["a"].detach().numpy(), g.numpy()


def test_grad_cam_pp_matches_pytorch_grad_cam(cnn, xb):
    tgt = [3, 3, 1, 0]
    a = nbexplain.attribute(cnn, xb, "grad_cam_pp", target=tgt, layer="conv2", upsample=False)
    cam = _pytorch_grad_cam_pp(*_acts_and_grads(cnn, cnn.conv2, xb, tgt))
    assert rel_err(a.values, cam) <= 1e-5


def test_grad_cam_pp_with_small_gradients_matches_pytorch_grad_cam():
    """A conv map averaged over 32×32 positions has gradients of ~1e-3, where the constant
    added to α's denominator changes the map: it must be pytorch-grad-cam's."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 6, 3, padding=1)
    model = torch.nn.Sequential(conv, torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(6, 3)).eval()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    tgt = [0, 2]
    a = nbexplain.attribute(model, x, "grad_cam_pp", target=tgt, layer=conv, upsample=False)
    A, G = _acts_and_grads(model, conv, x, tgt)
    assert np.abs(G).max() < 3e-3            # the regime where the constant matters
    assert rel_err(a.values, _pytorch_grad_cam_pp(A, G)) <= 1e-4


def test_occlusion_matches_captum(cnn, xb):
    from captum.attr import Occlusion

    for window, stride in [((3, 4, 4), (3, 2, 2)), ((1, 3, 3), (1, 2, 3)), ((3, 8, 8), (3, 1, 1))]:
        a = nbexplain.attribute(cnn, xb, "occlusion", target=[0, 1, 2, 3], window=window,
                                stride=stride, baseline=0.1, batch_size=17)
        theirs = Occlusion(cnn).attribute(xb, sliding_window_shapes=window, strides=stride,
                                          baselines=0.1, target=[0, 1, 2, 3])
        assert rel_err(a.values, theirs.detach().numpy()) <= 1e-5, (window, stride)


@pytest.mark.parametrize("base", ["saliency", "input_x_gradient"])
def test_smoothgrad_matches_captum_noise_tunnel_given_same_draws(cnn, xb, base):
    from captum.attr import InputXGradient, NoiseTunnel, Saliency

    n, stdev = 6, 0.2
    torch.manual_seed(123)
    draws = torch.normal(0, torch.tensor(stdev).repeat((4 * n,) + tuple(xb.shape[1:])))
    torch.manual_seed(123)
    algo = Saliency(cnn) if base == "saliency" else InputXGradient(cnn)
    theirs = NoiseTunnel(algo).attribute(xb, nt_type="smoothgrad", nt_samples=n, stdevs=stdev,
                                         target=[1, 2, 3, 4])
    ours = nbexplain.attribute(cnn, xb, "smoothgrad", base=base, samples=n, target=[1, 2, 3, 4],
                               draws=draws.reshape((4, n) + tuple(xb.shape[1:])).numpy())
    assert rel_err(ours.values, theirs.detach().numpy()) <= 1e-5
    # VarGrad: the same draws, Captum's nt_type="vargrad"
    torch.manual_seed(123)
    theirs_v = NoiseTunnel(algo).attribute(xb, nt_type="vargrad", nt_samples=n, stdevs=stdev,
                                           target=[1, 2, 3, 4])
    ours_v = nbexplain.attribute(cnn, xb, "smoothgrad", base=base, samples=n, vargrad=True,
                                 target=[1, 2, 3, 4], batch_samples=4,
                                 draws=draws.reshape((4, n) + tuple(xb.shape[1:])).numpy())
    assert rel_err(ours_v.values, theirs_v.detach().numpy()) <= 1e-4


def test_smoothgrad_wraps_integrated_gradients_and_is_seeded(cnn, xb):
    a = nbexplain.attribute(cnn, xb[:2], "smoothgrad", base="integrated_gradients", samples=4,
                            steps=8, target=0, seed=5)
    b = nbexplain.attribute(cnn, xb[:2], "smoothgrad", base="integrated_gradients", samples=4,
                            steps=8, target=0, seed=5)
    c = nbexplain.attribute(cnn, xb[:2], "smoothgrad", base="integrated_gradients", samples=4,
                            steps=8, target=0, seed=6)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.allclose(a.values, c.values)
    with pytest.raises(NBExplainError, match="gradient methods"):
        nbexplain.attribute(cnn, xb, "smoothgrad", base="occlusion")


# --- batching, convergence, progressive refinement ----------------------------------------
def test_ig_batch_size_invariance(cnn, xb):
    vals = [nbexplain.attribute(cnn, xb, "integrated_gradients", target=1, steps=20,
                                batch_size=bs, rule="riemann_middle").values
            for bs in (1, 7, None)]
    for v in vals[1:]:
        np.testing.assert_allclose(v, vals[0], rtol=1e-6, atol=1e-6 * np.abs(vals[0]).max())


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("batch", [None, 3])
@pytest.mark.parametrize("callable_target", [False, True])
def test_ig_delta_is_sum_minus_end_scores(cnn, xb, rule, batch, callable_target):
    # the end points' scores may come from the path pass itself (rules with α = 0 or 1):
    # the delta must still be Σ attr − (f(x) − f(b)), computed here from the model directly
    base = torch.full_like(xb, 0.3)
    tgt = (lambda out: out[:, 2] - out[:, 0]) if callable_target else [2, 0, 4, 1]
    a = nbexplain.attribute(cnn, xb, "integrated_gradients", target=tgt, steps=6, rule=rule,
                            baseline=base.numpy(), batch_size=batch)
    with torch.no_grad():
        fx, fb = cnn(xb), cnn(base)
    if callable_target:
        expect = tgt(fx) - tgt(fb)
    else:
        idx = torch.tensor([2, 0, 4, 1])[:, None]
        expect = fx.gather(1, idx)[:, 0] - fb.gather(1, idx)[:, 0]
    want = a.values.reshape(4, -1).sum(1) - expect.numpy()
    np.testing.assert_allclose(a.delta, want, rtol=1e-5, atol=1e-5)


class _PassSizes(torch.nn.Module):
    """A conv net that records the batch size of every forward pass."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 3)
        self.sizes = []

    def forward(self, x):
        self.sizes.append(int(x.shape[0]))
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def test_default_passes_are_bounded_and_agree_with_one_pass():
    m = _PassSizes().eval()
    x = torch.rand(3, 3, 64, 64)                 # 12,288 elements per example
    limit = get_adapter(m).rows_per_pass(x.shape[1:])
    assert 8 <= limit < 3 * 50                   # the default cannot take all 150 points at once
    m.sizes.clear()
    a = nbexplain.attribute(m, x, "integrated_gradients", target=[0, 1, 2], steps=50)
    assert max(m.sizes[1:]) <= limit < sum(m.sizes[1:])   # sizes[0] is the layout probe
    one = nbexplain.attribute(m, x, "integrated_gradients", target=[0, 1, 2], steps=50,
                              batch_size=10 ** 6)
    np.testing.assert_allclose(a.values, one.values, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a.delta, one.delta, rtol=1e-4, atol=1e-6)


def smooth_net():
    torch.manual_seed(4)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16),
                               torch.nn.Softplus(), torch.nn.Linear(16, 3)).double()


@pytest.mark.parametrize("rule", ["riemann_trapezoid", "riemann_middle", "gausslegendre",
                                  "riemann_left"])
def test_completeness_error_falls_on_a_smooth_toy(rule):
    m = smooth_net()
    x = torch.randn(3, 6, dtype=torch.float64) * 2
    errs = [np.abs(nbexplain.attribute(m, x, "integrated_gradients", target=0, steps=s,
                                       rule=rule).delta).max() for s in (4, 16, 64)]
    assert errs[0] > errs[1] >= errs[2] - 1e-14, errs
    # one-sided Riemann sums converge as O(1/n) (16x the steps: ~1/16 the error), the others
    # at least as O(1/n^2)
    assert errs[2] < (0.1 if rule == "riemann_left" else 1e-2) * errs[0], errs


@pytest.mark.parametrize("rule", ["riemann_trapezoid", "riemann_left", "riemann_right"])
def test_progressive_ig_equals_direct_and_reuses_points(rule):
    m = smooth_net()
    x = torch.randn(2, 6, dtype=torch.float64)
    ad = get_adapter(m)
    xt = ad.as_tensor(x)
    tgt = np.array([1, 2])
    ests = list(integrated_gradients_progressive(ad, xt, tgt, baseline=0.0, start_steps=5,
                                                 max_steps=80, rule=rule))
    steps = [e.steps for e in ests]
    if rule == "riemann_trapezoid":
        assert steps == [5, 9, 17, 33, 65]
        assert [e.evaluations for e in ests] == steps  # every point evaluated once
    else:
        assert steps == [5, 10, 20, 40, 80]
        assert [e.evaluations for e in ests] == steps
    for e in ests:
        direct = nbexplain.attribute(m, x, "integrated_gradients", target=tgt, steps=e.steps,
                                     rule=rule)
        np.testing.assert_allclose(ad.to_numpy(e.values), direct.values, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ad.to_numpy(e.delta), direct.delta, atol=1e-10)


def test_progressive_rejects_non_nested_rules():
    ad = get_adapter(smooth_net())
    with pytest.raises(NBExplainError, match="nested"):
        next(integrated_gradients_progressive(ad, ad.as_tensor(np.zeros((1, 6))),
                                              np.array([0]), rule="gausslegendre"))


# --- baselines ------------------------------------------------------------------------------
def test_baseline_presets(cnn, xb):
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    for preset in ["black", "white", "uniform", "blur", ("blur", 1.0)]:
        a = nbexplain.attribute(lin, xb, "integrated_gradients", target=0, baseline=preset,
                                steps=4)
        assert np.abs(a.delta).max() < 1e-4, preset  # linear model: exact for any baseline
    black = nbexplain.attribute(lin, xb, "integrated_gradients", target=0, baseline="black",
                                steps=4).values
    w = lin[1].weight.detach().numpy()[0].reshape(3, 8, 8)
    mins = xb.numpy().min(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(black, (xb.numpy() - mins) * w, rtol=1e-4, atol=1e-6)
    data = np.random.default_rng(0).random((10, 3, 8, 8)).astype(np.float32)
    mean = nbexplain.attribute(lin, xb, "integrated_gradients", target=0, baseline="mean",
                               data=data, steps=4).values
    np.testing.assert_allclose(mean, (xb.numpy() - data.mean(0)) * w, rtol=1e-4, atol=1e-6)
    with pytest.raises(NBExplainError, match="data="):
        nbexplain.attribute(lin, xb, "integrated_gradients", baseline="mean")
    with pytest.raises(NBExplainError, match="baseline has shape"):
        nbexplain.attribute(lin, xb, "integrated_gradients", baseline=np.zeros((5, 5)))
    with pytest.raises(NBExplainError, match="unknown baseline preset"):
        nbexplain.attribute(lin, xb, "integrated_gradients", baseline="grey")


# --- side effects under errors and interrupts -------------------------------------------------
class Interrupting(CNN):
    def __init__(self):
        super().__init__()
        self.calls = 0
        self.fail_at = None
        self.exc = KeyboardInterrupt

    def forward(self, x):
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise self.exc()
        return super().forward(x)


@pytest.mark.parametrize("method, opts", [
    ("grad_cam", {}), ("grad_cam_pp", {}), ("integrated_gradients", {"batch_size": 8}),
    ("smoothgrad", {"samples": 4, "batch_samples": 1}), ("occlusion", {"batch_size": 4}),
])
@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_model_untouched_after_success_error_and_interrupt(xb, method, opts, exc):
    m = Interrupting().eval()
    user_hook_calls = []
    m.conv2.register_forward_hook(lambda mod, i, o: user_hook_calls.append(1))
    before = model_state_snapshot(m)
    with torch.no_grad():
        ref = CNN.forward(m, xb).clone()
    nbexplain.attribute(m, xb, method, target=0, **opts)   # may probe the memory format
    m.calls = 0
    nbexplain.attribute(m, xb, method, target=0, **opts)   # the steady state: no probe
    assert m.calls >= 2
    # fail on a forward pass in the middle of the method's own passes (hooks live there)
    m.calls, m.fail_at, m.exc = 0, m.calls // 2 + 1, exc
    with pytest.raises(exc):
        nbexplain.attribute(m, xb, method, target=0, **opts)
    m.fail_at = None
    assert_same_state(before, model_state_snapshot(m))
    with torch.no_grad():
        assert torch.equal(CNN.forward(m, xb), ref)
    n = len(user_hook_calls)
    m(xb)
    assert len(user_hook_calls) == n + 1


def test_layer_errors(cnn, xb):
    with pytest.raises(NBExplainError, match="no layer named 'conv9'.*conv1"):
        nbexplain.attribute(cnn, xb, "grad_cam", layer="conv9")
    with pytest.raises(NBExplainError, match="not a submodule"):
        nbexplain.attribute(cnn, xb, "grad_cam", layer=torch.nn.Conv2d(1, 1, 1))
    with pytest.raises(NBExplainError, match="image inputs"):
        nbexplain.attribute(torch.nn.Linear(4, 2), torch.randn(2, 4), "grad_cam")


def test_progress_bar_can_be_forced_and_turned_off(capsys):
    m = torch.nn.Linear(5, 2)
    x = torch.randn(3, 5)
    nbexplain.attribute(m, x, "integrated_gradients", target=0, progress_bar=True, batch_size=10)
    assert "integrated gradients" in capsys.readouterr().err
    nbexplain.attribute(m, x, "integrated_gradients", target=0, progress_bar=False, batch_size=10)
    nbexplain.attribute(m, x, "occlusion", target=0, progress_bar=False)
    assert capsys.readouterr().err == ""


def test_single_example_strips_batch_axis_from_per_example_extras():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    a = nbexplain.attribute(m, torch.randn(5), "shapley", target=1, baseline=0.0)
    assert a.values.shape == (5,) and a.extras["stderr"].shape == (5,)
    assert np.ndim(a.extras["fx"]) == 0


class VGGish(torch.nn.Module):
    """conv → ReLU(inplace) as in VGG/torchvision: the ReLU rewrites the conv's output."""

    def __init__(self, inplace):
        super().__init__()
        torch.manual_seed(3)
        self.conv1 = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(6, 8, 3, padding=1)
        self.relu = torch.nn.ReLU(inplace=inplace)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        x = self.relu(self.conv2(self.relu(self.conv1(x))))
        return self.fc(x.mean((2, 3)))


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_pp"])
def test_grad_cam_with_inplace_relu_after_the_layer(xb, method):
    plain, inplace = VGGish(False).eval(), VGGish(True).eval()
    a = nbexplain.attribute(plain, xb, method, target=[0, 1, 2, 3], layer="conv2",
                            relu=False, upsample=False)
    b = nbexplain.attribute(inplace, xb, method, target=[0, 1, 2, 3], layer="conv2",
                            relu=False, upsample=False)
    # the activations are the conv's output (before the in-place ReLU rewrote it)
    np.testing.assert_allclose(b.values, a.values, rtol=1e-6, atol=1e-7)
    # and by hand: Grad-CAM = Σ_c mean(dS/dA_c) A_c with A = conv2's pre-ReLU output
    if method == "grad_cam":
        x = xb.clone()
        with torch.enable_grad():
            A = plain.conv2(torch.relu(plain.conv1(x))).detach().requires_grad_(True)
            s = plain.fc(torch.relu(A).mean((2, 3)))[torch.arange(4), torch.tensor([0, 1, 2, 3])]
            (g,) = torch.autograd.grad(s.sum(), A)
        want = (g.mean((2, 3), keepdim=True) * A).sum(1).detach().numpy()
        np.testing.assert_allclose(b.values, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("outer", ["enabled", "no_grad"])
def test_layer_methods_restore_the_grad_mode(xb, outer):
    m = Interrupting().eval()
    ctx = torch.no_grad() if outer == "no_grad" else torch.enable_grad()
    with ctx:
        before = torch.is_grad_enabled()
        nbexplain.attribute(m, xb, "grad_cam", target=1, layer="conv1")
        assert torch.is_grad_enabled() == before
        m.fail_at, m.exc, m.calls = 1, RuntimeError, 0
        with pytest.raises(RuntimeError):
            nbexplain.attribute(m, xb, "grad_cam", target=1, layer="conv1")
        assert torch.is_grad_enabled() == before
        m.fail_at = None


# --- memory format chosen per model ----------------------------------------------------------
class FormatSpy(CNN):
    """Records the memory format of every input; optionally flattens with .view (which a
    channels_last tensor cannot do)."""

    def __init__(self, use_view=False):
        super().__init__()
        self.formats, self.use_view = [], use_view

    def forward(self, x):
        self.formats.append("cl" if not x.is_contiguous() else "nchw")
        if not self.use_view:
            return super().forward(x)
        h = torch.nn.functional.max_pool2d(torch.relu(self.conv2(torch.relu(self.conv1(x)))), 2)
        return self.fc(h.view(h.shape[0], -1))


def test_memory_format_is_probed_once_then_fixed(xb):
    m = FormatSpy().eval()
    first = nbexplain.attribute(m, xb, "saliency", target=[0, 1, 2, 3], abs=False)
    probe_end = len(m.formats)
    vals = [nbexplain.attribute(m, xb, "saliency", target=[0, 1, 2, 3], abs=False).values
            for _ in range(4)]
    # the first call probed both formats (forward passes), later calls only compute
    assert {"cl", "nchw"} <= set(m.formats[1:probe_end])
    later = m.formats[probe_end:]
    assert len(later) == 4 and len(set(later)) == 1
    for v in vals:   # one format per shape from now on: identical values, C-ordered
        np.testing.assert_array_equal(v, vals[0])
        assert v.flags.c_contiguous
    np.testing.assert_allclose(vals[0], first.values, rtol=1e-5,
                               atol=1e-6 * np.abs(first.values).max())


class SlowIn(CNN):
    """Sleeps 20 ms when given one memory format: the probe must pick the other one."""

    def __init__(self, slow):
        super().__init__()
        self.slow, self.formats = slow, []

    def forward(self, x):
        fmt = "nchw" if x.is_contiguous() else "cl"
        self.formats.append(fmt)
        if fmt == self.slow:
            time.sleep(0.02)
        return super().forward(x)


@pytest.mark.parametrize("slow, picked", [("nchw", "cl"), ("cl", "nchw")])
def test_probe_picks_the_faster_format(xb, slow, picked):
    m = SlowIn(slow).eval()
    nbexplain.attribute(m, xb, "saliency", target=1)
    n = len(m.formats)
    nbexplain.attribute(m, xb, "grad_cam", target=1, layer="conv2")   # same shape: no probe
    nbexplain.attribute(m, xb, "saliency", target=2)
    assert m.formats[n:] == [picked, picked]


def test_model_that_cannot_take_channels_last_falls_back(xb):
    m = FormatSpy(use_view=True).eval()
    ok = FormatSpy(use_view=False).eval()
    vals = [nbexplain.attribute(m, xb, "integrated_gradients", target=1, steps=8).values
            for _ in range(4)]
    want = nbexplain.attribute(ok, xb, "integrated_gradients", target=1, steps=8,
                               batch_size=10 ** 6).values
    for v in vals:
        np.testing.assert_allclose(v, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    # after the one failed channels_last try, every pass is NCHW
    i = m.formats.index("cl")
    assert set(m.formats[i + 1:]) == {"nchw"}


def test_training_mode_models_are_never_given_channels_last(xb):
    m = FormatSpy()
    m.bn = torch.nn.BatchNorm2d(3)           # a mode-dependent layer, in training mode
    with pytest.warns(UserWarning, match="training mode"):
        for _ in range(6):
            nbexplain.attribute(m, xb, "saliency", target=0)
    assert set(m.formats) == {"nchw"}


def test_autotune_can_be_turned_off_by_environment():
    import subprocess
    import sys

    code = (
        "import torch, nbexplain\n"
        "seen = []\n"
        "class M(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__(); self.c = torch.nn.Conv2d(3, 4, 3)\n"
        "    def forward(self, x):\n"
        "        seen.append(x.is_contiguous()); return self.c(x).mean((2, 3))\n"
        "for _ in range(3):\n"
        "    nbexplain.attribute(M().eval(), torch.rand(2, 3, 8, 8), 'saliency', target=0)\n"
        "print(all(seen), len(seen))\n")
    out = {}
    for flag in ("0", "1"):
        env = {**__import__("os").environ, "NBEXPLAIN_TORCH_AUTOTUNE": flag}
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        out[flag] = r.stdout.split()
    assert out["0"] == ["True", "6"]   # layout probe + one pass per call, all NCHW
    assert out["1"][0] == "False"             # the probe tried channels_last


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients"])
def test_gradient_methods_work_inside_no_grad(cnn, xb, method):
    outside = nbexplain.attribute(cnn, xb, method, target=2)
    with torch.no_grad():
        inside = nbexplain.attribute(cnn, xb, method, target=2)
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()
    np.testing.assert_allclose(inside.values, outside.values, rtol=1e-5,
                               atol=1e-6 * np.abs(outside.values).max())


def test_probe_times_a_few_rows_and_respects_runtime_switch(monkeypatch):
    class Sizes(CNN):
        def __init__(self):
            super().__init__()
            self.seen = []

        def forward(self, x):
            self.seen.append((int(x.shape[0]), x.is_contiguous()))
            return super().forward(x)

    x = torch.rand(40, 3, 8, 8)
    m = Sizes().eval()
    nbexplain.attribute(m, x, "saliency", target=0)
    probe = [n for n, contiguous in m.seen[1:-1]]          # between layout probe and pass
    assert probe and max(probe) <= 16 and m.seen[-1][0] == 40
    monkeypatch.setenv("NBEXPLAIN_TORCH_AUTOTUNE", "OFF")  # read on every call, any case
    m2 = Sizes().eval()
    nbexplain.attribute(m2, x, "saliency", target=0)
    assert m2.seen == [(1, True), (40, True)]               # layout probe, then the pass


def test_layers_added_later_in_training_mode_are_seen(xb):
    m = torch.nn.Sequential(
        torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Identity()),
        torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                            torch.nn.Linear(4, 3))).eval()
    nbexplain.attribute(m, xb, "saliency", target=1)
    m[0][1] = torch.nn.BatchNorm2d(4)   # nested, after the first call, in training mode
    m.train()
    with pytest.warns(UserWarning, match="training mode"):
        nbexplain.attribute(m, torch.rand(5, 3, 8, 8), "saliency", target=1)
    # only the one real pass (the layout is known from the first call); no memory-format
    # probe on a model in training mode
    assert int(m[0][1].num_batches_tracked) == 1


def test_inference_mode_is_named(cnn, xb):
    with torch.inference_mode():
        for method in ("saliency", "grad_cam"):
            with pytest.raises(NBExplainError, match="inference_mode"):
                nbexplain.attribute(cnn, xb, method, target=0)
        occ = nbexplain.attribute(cnn, xb, "occlusion", target=0, window=4)
    assert np.isfinite(occ.values).all()


class WritesLayerOutput(torch.nn.Module):
    """The Grad-CAM layer's output is changed in place afterwards: by a residual ``+=``
    (as in ResNet blocks), or by a write under the model's own ``no_grad`` (which torch
    does not refuse on a leaf), or not at all (``how=None``: the out-of-place twin)."""

    def __init__(self, how):
        super().__init__()
        torch.manual_seed(4)
        self.how = how
        self.conv1 = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(6, 6, 3, padding=1)
        self.fc = torch.nn.Linear(6, 4)

    def forward(self, x):
        h = torch.relu(self.conv1(x))
        y = self.conv2(h)
        if self.how == "residual":
            y += h
        elif self.how == "no_grad":
            with torch.no_grad():
                y.mul_(2.0)            # unseen by autograd
            y = y + h
        else:
            y = y + h
        return self.fc(torch.relu(y).mean((2, 3)))


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_pp"])
def test_grad_cam_when_the_model_adds_into_the_layer_output(xb, method):
    twin = WritesLayerOutput(None).eval()
    ref = nbexplain.attribute(twin, xb, method, target=[0, 1, 2, 3], layer="conv2",
                              relu=False, upsample=False)
    m = WritesLayerOutput("residual").eval()
    for _ in range(2):   # the first call finds out and re-runs; the second clones at once
        got = nbexplain.attribute(m, xb, method, target=[0, 1, 2, 3], layer="conv2",
                                  relu=False, upsample=False)
        np.testing.assert_allclose(got.values, ref.values, rtol=1e-6, atol=1e-7)


def test_grad_cam_when_the_model_writes_the_layer_output_under_no_grad(xb):
    """torch lets a no_grad write through on a leaf; the version counter tells, and the CAM
    still weighs the layer's own output A (not the doubled values the model went on with)."""
    m = WritesLayerOutput("no_grad").eval()
    t = torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        h = torch.relu(m.conv1(xb))
        A = m.conv2(h)
    with torch.enable_grad():
        y = (2.0 * A + h).requires_grad_(True)   # what the model went on with, as a leaf
        s = m.fc(torch.relu(y).mean((2, 3)))[torch.arange(4), t]
        (g,) = torch.autograd.grad(s.sum(), y)
    want = (g.mean((2, 3), keepdim=True) * A).sum(1).numpy()
    for _ in range(2):
        got = nbexplain.attribute(m, xb, "grad_cam", target=t.numpy(), layer="conv2",
                                  relu=False, upsample=False)
        np.testing.assert_allclose(got.values, want, rtol=1e-5, atol=1e-6)
