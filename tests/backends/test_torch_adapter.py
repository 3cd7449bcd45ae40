"""The torch adapter leaves the model as it found it, after a result, an error or a
KeyboardInterrupt in the middle of a method's passes (training flags, requires_grad, .grad,
parameters, buffers, hooks; the user's own hooks still fire), restores torch's grad mode,
works inside no_grad, names inference_mode where gradients cannot be had, and says why a
TorchScript module cannot run Grad-CAM (its saliency equals the eager module's).
"""

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError

from conftest import assert_same_state, model_state_snapshot
# the fixtures cnn and xb come from the plugin torch_cnn
from torch_cnn import CNN


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


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients"])
def test_gradient_methods_work_inside_no_grad(cnn, xb, method):
    outside = nbexplain.attribute(cnn, xb, method, target=2)
    with torch.no_grad():
        inside = nbexplain.attribute(cnn, xb, method, target=2)
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()
    np.testing.assert_allclose(inside.values, outside.values, rtol=1e-5,
                               atol=1e-6 * np.abs(outside.values).max())


def test_inference_mode_is_named(cnn, xb):
    with torch.inference_mode():
        for method in ("saliency", "grad_cam"):
            with pytest.raises(NBExplainError, match="inference_mode"):
                nbexplain.attribute(cnn, xb, method, target=0)
        occ = nbexplain.attribute(cnn, xb, "occlusion", target=0, window=4)
    assert np.isfinite(occ.values).all()


# --- TorchScript ------------------------------------------------------------------------------
def test_gradcam_on_torchscript_says_why():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(4, 2)).eval()
    x = torch.rand(2, 3, 8, 8)
    for scripted in (torch.jit.script(net), torch.jit.trace(net, x)):
        with pytest.raises(NBExplainError, match="TorchScript modules .* run no Python hooks"):
            nbexplain.attribute(scripted, x, "grad_cam", target=0)
        np.testing.assert_allclose(
            nbexplain.attribute(scripted, x, "saliency", target=0).values,
            nbexplain.attribute(net, x, "saliency", target=0).values, rtol=1e-5, atol=1e-7)
