"""Grad-CAM and Grad-CAM++: Captum's LayerGradCam (interpolated to the input) and the raw map,
pytorch-grad-cam's Grad-CAM++ (also where its ε in α's denominator matters), the layer's own
output when the model changes it afterwards (an in-place ReLU, a residual +=, a write under
no_grad), the last call of a layer called twice (torch and Keras alike), and errors that name
the layers.

Truths: Captum, pytorch-grad-cam's formula written out, Σ_c mean(dS/dA_c)·A_c by hand, and the
out-of-place twin of each model.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import nbexplain  # noqa: E402
from nbexplain import NBExplainError  # noqa: E402

# the fixtures cnn and xb come from the plugin torch_cnn
from torch_cnn import rel_err  # noqa: E402


# --- agreement with Captum and pytorch-grad-cam -----------------------------------------------
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


def test_grad_cam_on_a_layer_called_twice_is_the_last_call_in_both_frameworks():
    keras = pytest.importorskip("keras")
    from captum.attr import LayerAttribution, LayerGradCam

    torch.manual_seed(0)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(3, 3, 3, padding=1)
            self.d = nn.Linear(3, 4)

        def forward(self, x):
            return self.d(self.c(torch.relu(self.c(x))).mean((2, 3)))

    tm = Twice().eval()
    shared = keras.layers.Conv2D(3, 3, padding="same", name="c")
    i = keras.Input((12, 12, 3))
    h = shared(keras.layers.ReLU()(shared(i)))
    o = keras.layers.Dense(4, name="d")(keras.layers.GlobalAveragePooling2D()(h))
    km = keras.Model(i, o)
    shared.set_weights([tm.c.weight.detach().numpy().transpose(2, 3, 1, 0),
                        tm.c.bias.detach().numpy()])
    km.get_layer("d").set_weights([tm.d.weight.detach().numpy().T, tm.d.bias.detach().numpy()])
    xt = torch.randn(2, 3, 12, 12)
    xk = xt.numpy().transpose(0, 2, 3, 1)
    ref = LayerAttribution.interpolate(
        LayerGradCam(tm, tm.c).attribute(xt, target=1, relu_attributions=True), (12, 12),
        "bilinear")[:, 0].detach().numpy()
    at = nbexplain.attribute(tm, xt, "grad_cam", target=1, layer="c").values
    ak = nbexplain.attribute(km, xk, "grad_cam", target=1, layer="c").values
    scale = np.abs(ref).max()
    assert np.abs(at - ref).max() <= 1e-5 * scale
    assert np.abs(ak - ref).max() <= 1e-4 * scale      # Keras used the first call: 1e-2 off


# --- a layer output the model changes afterwards ----------------------------------------------
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


# --- errors -----------------------------------------------------------------------------------
def test_layer_errors(cnn, xb):
    with pytest.raises(NBExplainError, match="no layer named 'conv9'.*conv1"):
        nbexplain.attribute(cnn, xb, "grad_cam", layer="conv9")
    with pytest.raises(NBExplainError, match="not a submodule"):
        nbexplain.attribute(cnn, xb, "grad_cam", layer=torch.nn.Conv2d(1, 1, 1))
    with pytest.raises(NBExplainError, match="image inputs"):
        nbexplain.attribute(torch.nn.Linear(4, 2), torch.randn(2, 4), "grad_cam")
