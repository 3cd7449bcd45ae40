"""IG's Riemann path points are Captum's (torch.linspace in the model's dtype), which shows
where the gradient jumps: a model built with a ReLU kink at each path point that numpy's
spacing and torch's spacing place on different sides of it. There trapezoid IG equals
Captum's × n/(n−1) (Captum weighs each point 1/n, the ends halved), and the last progressive
estimate runs on attribute()'s very points."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nbexplain

captum_attr = pytest.importorskip("captum.attr")

N = 101       # trapezoid points: 100 intervals (doubling from 26 points reaches it)


def _kinks() -> torch.Tensor:
    """The path points (x = 1, baseline 0) where numpy's k/(n−1), in float32, differs from
    torch's float32 linspace: a kink sits on numpy's point, torch's is past it."""
    torch_pts = torch.linspace(0, 1, N).numpy()
    numpy_pts = np.linspace(0.0, 1.0, N).astype(np.float32)
    k = np.flatnonzero((torch_pts != numpy_pts) & (torch_pts > numpy_pts))
    assert len(k) >= 3, "no path points to separate on this build"
    return torch.from_numpy(numpy_pts[k].copy())


class Kinked(torch.nn.Module):
    """f(x) = Σ_k relu(x − t_k) + 0.5 x: the gradient counts the kinks passed."""

    def __init__(self):
        super().__init__()
        self.register_buffer("t", _kinks())
        self.scale = torch.nn.Parameter(torch.ones(1))

    def forward(self, x):
        return (torch.relu(x - self.t).sum(1, keepdim=True) + 0.5 * x) * self.scale


@pytest.fixture(scope="module")
def model():
    return Kinked().eval()


def test_trapezoid_ig_equals_captum_times_n_over_n_minus_1_on_relu_kinks(model):
    x = torch.ones(1, 1)
    ours = nbexplain.attribute(model, x, "integrated_gradients", target=0,
                               rule="riemann_trapezoid", steps=N).values
    theirs = captum_attr.IntegratedGradients(model).attribute(
        x, baselines=torch.zeros(1, 1), target=0, n_steps=N, method="riemann_trapezoid")
    want = theirs.detach().numpy() * N / (N - 1)
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("rule,steps", [("riemann_trapezoid", N), ("riemann_left", 96),
                                        ("riemann_right", 96)])
def test_the_last_progressive_estimate_runs_on_attributes_points(model, rule, steps):
    x = torch.ones(1, 1)
    want = nbexplain.attribute(model, x, "integrated_gradients", target=0, rule=rule,
                               steps=steps)
    last = list(nbexplain.attribute_progressive(model, x, "integrated_gradients", target=0,
                                                rule=rule, steps=steps))[-1]
    np.testing.assert_allclose(last.values, want.values, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(last.delta, want.delta, atol=1e-6)
