"""Gradient passes in channels_last hand the gradient that reaches an nn.Flatten back in
channels_last: the max-pool before it runs its backward on one memory format (no transient
copies), the numbers equal the NCHW pass, and the temporary hooks never outlive the call."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import nbexplain  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402


def _net():
    torch.manual_seed(3)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 5)).eval()


class SlowNCHW(torch.nn.Module):
    """The same network converted to channels_last by its user, so its passes run in
    channels_last."""

    def __init__(self):
        super().__init__()
        self.net = _net().to(memory_format=torch.channels_last)

    def forward(self, x):
        return self.net(x)


class PoolGradFormats(TorchDispatchMode):
    """Records the memory format of the incoming gradient of every max-pool backward."""

    def __init__(self):
        super().__init__()
        self.formats = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.max_pool2d_with_indices_backward.default:
            g = args[0]
            self.formats.append("nchw" if g.is_contiguous() else "cl")
        return func(*args, **(kwargs or {}))


@pytest.fixture
def x():
    return torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def reference(monkeypatch):
    """Attributions of the plain network in NCHW."""
    def run(x, method, **kw):
        return nbexplain.attribute(_net(), x, method, target=[0, 1, 2, 3], **kw).values
    return run


def test_pool_backward_gets_channels_last_gradient(x):
    m = SlowNCHW().eval()
    nbexplain.attribute(m, x, "saliency", target=[0, 1, 2, 3])   # channels_last
    spy = PoolGradFormats()
    with spy:
        nbexplain.attribute(m, x, "saliency", target=[0, 1, 2, 3])
    assert spy.formats == ["cl"], spy.formats


@pytest.mark.parametrize("method, kw", [
    ("saliency", {"abs": False}),
    ("input_x_gradient", {}),
    ("integrated_gradients", {"steps": 8}),
    ("grad_cam", {"layer": "net.0"}),
    ("grad_cam", {"layer": "net.2"}),       # the pool's output is Grad-CAM's own leaf
    ("grad_cam_pp", {"layer": "net.2"}),
])
def test_values_equal_the_nchw_pass(x, reference, method, kw):
    m = SlowNCHW().eval()
    nbexplain.attribute(m, x, "saliency", target=0)               # channels_last
    got = nbexplain.attribute(m, x, method, target=[0, 1, 2, 3], **kw).values
    ref_kw = {**kw, "layer": kw["layer"].replace("net.", "")} if "layer" in kw else kw
    want = reference(x, method, **ref_kw)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_hooks_do_not_outlive_the_call_and_users_hooks_survive(x):
    m = SlowNCHW().eval()
    flatten = m.net[3]
    calls = []
    user = flatten.register_forward_pre_hook(lambda mod, args: calls.append(1))
    nbexplain.attribute(m, x, "saliency", target=1)
    n = len(calls)
    assert n >= 1
    nbexplain.attribute(m, x, "saliency", target=1)
    assert len(calls) == n + 1                     # the user's hook still runs, once a pass
    assert list(flatten._forward_pre_hooks) == [user.id]

    def bad_target(out):
        raise ValueError("boom")
    with pytest.raises(ValueError, match="boom"):
        nbexplain.attribute(m, x, "saliency", target=bad_target)
    assert list(flatten._forward_pre_hooks) == [user.id]
    user.remove()
    assert not flatten._forward_pre_hooks


def test_forward_only_passes_add_no_hooks(x):
    """Perturbation methods (no gradients) never register the gradient hooks."""
    m = SlowNCHW().eval()
    nbexplain.attribute(m, x, "saliency", target=0)               # channels_last
    seen = []
    orig = torch.nn.Module.register_forward_pre_hook

    def spy(self, *a, **k):
        seen.append(type(self).__name__)
        return orig(self, *a, **k)

    torch.nn.Module.register_forward_pre_hook = spy
    try:
        nbexplain.attribute(m, x, "occlusion", target=0, window=4, stride=4)
    finally:
        torch.nn.Module.register_forward_pre_hook = orig
    assert "Flatten" not in seen


def test_a_flattened_parameter_gets_no_hook(x):
    """A leaf that reaches nn.Flatten (here a channels_last parameter of the model) is the
    user's tensor: a gradient hook on it would outlive the call."""

    class WithTable(SlowNCHW):
        def __init__(self):
            super().__init__()
            self.table = torch.nn.Parameter(
                torch.randn(1, 2, 2, 2).contiguous(memory_format=torch.channels_last))
            self.flat = torch.nn.Flatten()
            self.head = torch.nn.Linear(8, 5)

        def forward(self, x):
            return super().forward(x) + self.head(self.flat(self.table)).expand(
                x.shape[0], 5)

    m = WithTable().eval()
    nbexplain.attribute(m, x, "saliency", target=0)               # channels_last
    nbexplain.attribute(m, x, "saliency", target=[0, 1, 2, 3])
    assert not m.table._backward_hooks
    assert m.table.grad is None


class _ViewsItsGradient(torch.autograd.Function):
    """y = 2x, with a backward written on a flat view of the incoming gradient (which a
    channels_last gradient refuses)."""

    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, g):
        return (g.view(g.shape[0], -1) * 2).view(g.shape)


class _CustomBeforeFlatten(SlowNCHW):
    def forward(self, x):
        net = self.net
        return net[4](net[3](_ViewsItsGradient.apply(net[2](net[1](net[0](x))))))


def test_custom_function_before_flatten_keeps_torch_gradient_layout(x, reference):
    m = _CustomBeforeFlatten().eval()
    nbexplain.attribute(m, x, "saliency", target=0)               # channels_last
    got = nbexplain.attribute(m, x, "saliency", target=[0, 1, 2, 3], abs=False).values
    want = 2 * reference(x, "saliency", abs=False)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_users_gradient_hook_before_flatten_keeps_torch_gradient_layout(x, reference):
    m = SlowNCHW().eval()
    seen = []

    def user_hook(mod, inp, out):       # the user's own hook, viewing the gradient flat
        if out.requires_grad:
            out.register_hook(lambda g: seen.append(g.view(g.shape[0], -1).shape))

    h = m.net[2].register_forward_hook(user_hook)
    try:
        nbexplain.attribute(m, x, "saliency", target=0)           # channels_last
        got = nbexplain.attribute(m, x, "saliency", target=[0, 1, 2, 3], abs=False).values
    finally:
        h.remove()
    assert seen and seen[-1] == (4, 128)
    want = reference(x, "saliency", abs=False)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_a_map_kept_across_calls_collects_no_hooks(x):
    class Cached(SlowNCHW):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.randn(1, 2, 2, 2))
            # a non-leaf map computed once and reused by every call
            self.kept = self.p.contiguous(memory_format=torch.channels_last) * 1.0
            self.flat = torch.nn.Flatten()

        def forward(self, x):
            return super().forward(x) + self.flat(self.kept).sum()

    m = Cached().eval()
    for _ in range(3):
        nbexplain.attribute(m, x, "integrated_gradients", target=0, steps=4)
    assert not m.kept._backward_hooks
