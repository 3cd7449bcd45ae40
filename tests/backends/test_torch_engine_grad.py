"""The torch adapter's direct call of the autograd engine (the call torch.autograd.grad makes
after checking its arguments) gives torch.autograd.grad's numbers, leaves no .grad behind, and
falls back to the public function when the private one is missing or behaves differently."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import nbexplain  # noqa: E402
from nbexplain.backends.torch import engine as tb  # noqa: E402


def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def _reference(model, x, target):
    """d f_target / d x by torch.autograd.grad on the gathered scores (no nbexplain)."""
    xi = x.detach().clone().requires_grad_(True)
    out = model(xi)
    s = out.gather(1, torch.as_tensor(target)[:, None]).sum()
    (g,) = torch.autograd.grad(s, xi)
    return g.numpy()


@pytest.fixture
def engine_state():
    """Restore the adapter's cached engine decision after a test that changes it."""
    saved = tb._ENGINE
    yield
    tb._ENGINE = saved


def test_engine_path_is_taken_and_matches_autograd(engine_state):
    tb._ENGINE = None
    model = _mlp()
    x = torch.randn(5, 6)
    target = np.array([0, 2, 1, 1, 0])
    got = nbexplain.attribute(model, x, "saliency", target=target, abs=False).values
    assert tb._engine_grad() is not None, "this torch has the engine call: the fast path runs"
    np.testing.assert_allclose(got, _reference(model, x, target), rtol=1e-6, atol=1e-7)
    assert all(p.grad is None for p in model.parameters())
    assert x.grad is None


def test_fallback_when_private_function_is_missing(engine_state, monkeypatch):
    monkeypatch.delattr(torch.autograd.graph, "_engine_run_backward")
    tb._ENGINE = None
    model = _mlp()
    x = torch.randn(4, 6)
    target = np.array([1, 2, 0, 1])
    got = nbexplain.attribute(model, x, "input_x_gradient", target=target).values
    assert tb._ENGINE is False
    np.testing.assert_allclose(got, _reference(model, x, target) * x.numpy(), rtol=1e-6,
                               atol=1e-7)


def test_fallback_when_private_function_changed(engine_state, monkeypatch):
    calls = []

    def changed(*args, **kwargs):   # e.g. a new signature in a later torch
        calls.append(1)
        raise TypeError("run_backward() got an unexpected keyword argument")

    monkeypatch.setattr(torch.autograd.graph, "_engine_run_backward", changed)
    tb._ENGINE = None
    model = _mlp()
    x = torch.randn(3, 6)
    target = np.array([2, 2, 0])
    got = nbexplain.attribute(model, x, "saliency", target=target, abs=False).values
    assert calls == [1], "checked once, then the public function"
    assert tb._ENGINE is False
    # torch.autograd.grad itself goes through the (patched) private function, so the
    # reference here is the analytic gradient of the same MLP
    w1, b1 = model[0].weight.detach(), model[0].bias.detach()
    w2 = model[2].weight.detach()
    h = torch.tanh(x @ w1.T + b1)
    expected = ((1 - h ** 2) * w2[torch.as_tensor(target)]) @ w1
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_fallback_when_private_function_answers_wrongly(engine_state, monkeypatch):
    def wrong(outputs, grads, *args, **kwargs):   # returns the seed, not the gradient
        return tuple(grads)

    monkeypatch.setattr(torch.autograd.graph, "_engine_run_backward", wrong)
    tb._ENGINE = None
    assert tb._engine_grad() is None
    assert tb._ENGINE is False


def test_tensor_subclass_outputs_use_public_grad(engine_state, monkeypatch):
    """A model whose output is a tensor subclass with __torch_function__ goes through
    torch.autograd.grad, which dispatches on it; the engine call would skip that."""
    seen = []

    class Tagged(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if func is torch.autograd.grad:
                seen.append(func)
            return super().__torch_function__(func, types, args, kwargs or {})

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(6, 3)

        def forward(self, x):
            return self.lin(x).as_subclass(Tagged)

    torch.manual_seed(1)
    model = Model()
    x = torch.randn(2, 6)
    got = nbexplain.attribute(model, x, "saliency", target=[0, 2], abs=False).values
    assert seen, "torch.autograd.grad was called, so the subclass could dispatch"
    w = model.lin.weight.detach().numpy()
    np.testing.assert_allclose(got, w[[0, 2]], rtol=1e-6)
