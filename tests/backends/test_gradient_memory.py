"""Saliency's |gradient| never writes into the gradient's memory, which a tensor hook of the
model may hold: a model whose forward puts a hook on its input, keeping the gradient (or a view
of it), keeps the signed gradient. (Taking |g| in place, guarded by the storage's use count,
was tried for speed: no measurable gain at batch 1, so the plain copy stays.) Truth:
torch.autograd on the same model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nbexplain


class _Keeps(torch.nn.Module):
    """Keeps the gradient of its input (as given, as a view, or not at all)."""

    def __init__(self, how: str):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(6, 3)
        self.how, self.kept = how, []

    def forward(self, x):
        if x.requires_grad and self.how == "itself":
            x.register_hook(lambda g: self.kept.append(g))
        elif x.requires_grad and self.how == "view":
            x.register_hook(lambda g: self.kept.append(g.view(-1)))
        return self.lin(x)


def _signed_gradient(model, x, t):
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model.lin(xg).gather(1, t[:, None]).sum(), xg)
    return g


@pytest.mark.parametrize("how", ["itself", "view"])
def test_a_gradient_a_models_hook_kept_stays_signed(how):
    model = _Keeps(how)
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0, 1, 2, 0])
    truth = _signed_gradient(model, x, t)
    assert (truth < 0).any()
    res = nbexplain.attribute(model, x, method="saliency", target=t.numpy())
    np.testing.assert_allclose(res.values, truth.abs().numpy(), rtol=1e-6)
    (kept,) = model.kept
    np.testing.assert_allclose(kept.reshape(truth.shape).numpy(), truth.numpy(), rtol=1e-6)
