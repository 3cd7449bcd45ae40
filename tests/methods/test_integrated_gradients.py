"""Integrated Gradients on torch: exact on linear models and, with each rule's own nodes, on a
quadratic; Captum's numbers (its trapezoid rule rescaled); the completeness delta computed
from the model itself, under every rule and batch size; the error falling with the steps on a
smooth toy; bounded default passes; the baseline presets; and the progressive refinement,
which reuses every point and equals the direct call at each step count.
"""

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

# the fixtures cnn and xb come from the plugin torch_cnn
from torch_cnn import rel_err
from toys import RULES


# --- analytic toys ----------------------------------------------------------------------------
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


# --- Captum agreement -------------------------------------------------------------------------
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


# --- batching, convergence, progressive refinement --------------------------------------------
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


# --- baselines --------------------------------------------------------------------------------
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
