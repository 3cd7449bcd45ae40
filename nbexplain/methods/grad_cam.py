"""Grad-CAM and Grad-CAM++: class activation maps from a convolutional layer.

    Grad-CAM:    w_c = mean_{ij} ∂y/∂A_{cij},   L = ReLU(Σ_c w_c A_c)
    Grad-CAM++:  α_{cij} = g² / (2 g² + Σ_{ij} A_{cij} · g³),  g = ∂y/∂A_{cij}
                 w_c = Σ_{ij} α_{cij} ReLU(g_{cij})

Selvaraju et al. (2017), https://arxiv.org/abs/1610.02391 ;
Chattopadhyay et al. (2018), https://arxiv.org/abs/1710.11063 (as computed by
pytorch-grad-cam's ``GradCAMPlusPlus``: the exponential-score form with first-order gradients,
and 1e-6 added to α's denominator).

``layer=`` is a layer name or object; ``None`` picks the last layer with a spatial output,
preferring convolutions. The map is upsampled bilinearly to the input's spatial size
(``upsample=False`` keeps the layer's size); ``relu=False`` keeps negative evidence.
``values`` have shape (N, H, W); ``extras["raw"]`` is the map before ReLU and upsampling.
Variants override only the channel weights.
"""

from __future__ import annotations

from typing import Any

from .._errors import NBExplainError
from ._registry import MethodResult, register


def gradcam_weights(adapter, acts, grads, spatial):
    return adapter.reduce(grads, "mean", spatial, keepdims=True)


#: added to Grad-CAM++'s α denominator, as pytorch-grad-cam's GradCAMPlusPlus does (1e-6):
#: the same maps as that library. (It is of the size of g² for gradients below ~1e-3, so the
#: maps differ there from the eps-free formula of the paper, as pytorch-grad-cam's do.)
GRADCAM_PP_EPS = 1e-6


def gradcam_pp_weights(adapter, acts, grads, spatial, eps: float = GRADCAM_PP_EPS):
    g2 = grads * grads
    g3 = g2 * grads
    sum_a = adapter.reduce(acts, "sum", spatial, keepdims=True)
    alpha = g2 / (g2 * 2.0 + sum_a * g3 + eps)
    alpha = adapter.where(grads != 0, alpha, adapter.zeros_like(alpha))
    return adapter.reduce(alpha * adapter.relu(grads), "sum", spatial, keepdims=True)


def _cam(adapter, x, target, layer, relu: bool, upsample: bool, weights_fn,
         batch_size: int | None):
    if len(x.shape) != 4:
        raise NBExplainError(f"Grad-CAM needs image inputs (4 axes); got shape {tuple(x.shape)}.")
    mod, name = adapter.find_layer(layer, example=x)
    cf = adapter.channels_first
    lcf = adapter.layer_channels_first(mod)     # the layer output's layout (may differ)
    n = int(x.shape[0])
    bs = batch_size or n
    if bs >= n and not callable(target):     # the adapter may run it all in one call
        size = tuple(x.shape[2:4]) if cf else tuple(x.shape[1:3])
        r = adapter.grad_cam_whole(x, target, mod, weights_fn, relu, upsample, size)
        if r is not None:
            return r[0], r[1], name
    raws = []
    for i in range(0, n, bs):
        t = target if callable(target) else target[i:i + bs]
        _, acts, grads = adapter.layer_gradients(x[i:i + bs], t, mod)
        if len(acts.shape) != 4:
            raise NBExplainError(f"layer {name!r} outputs shape {tuple(acts.shape)}; Grad-CAM "
                                 "needs a spatial (4-axis) layer output. Pick a conv layer.")
        spatial = (2, 3) if lcf else (1, 2)
        ch = 1 if lcf else 3
        w = weights_fn(adapter, acts, grads, spatial)
        raws.append(adapter.reduce(w * acts, "sum", ch, keepdims=True))
    raw = adapter.concat(raws)                                   # N,1,h,w or N,h,w,1
    if lcf != cf:   # e.g. a Keras model permuting N×C×H×W inputs for channels-last convs
        s = tuple(int(d) for d in raw.shape)
        h, w = (s[2], s[3]) if lcf else (s[1], s[2])
        raw = adapter.reshape(raw, (s[0], 1, h, w) if cf else (s[0], h, w, 1))
    cam = adapter.relu(raw) if relu else raw
    size = tuple(x.shape[2:4]) if cf else tuple(x.shape[1:3])
    if upsample and tuple(cam.shape[2:4] if cf else cam.shape[1:3]) != size:
        cam = adapter.resize(cam, size)
    ch = 1 if cf else 3
    return (adapter.reduce(cam, "sum", ch), adapter.reduce(raw, "sum", ch), name)


@register("grad_cam", needs_gradients=True, output="map")
def grad_cam(adapter, x, target, *, layer: Any = None, relu: bool = True,
             upsample: bool = True, batch_size: int | None = None) -> MethodResult:
    """Grad-CAM map from a convolutional layer, upsampled to the input size."""
    cam, raw, name = _cam(adapter, x, target, layer, relu, upsample, gradcam_weights,
                          batch_size)
    return MethodResult(values=cam, extras={"layer": name, "raw": adapter.to_numpy(raw)},
                        per_example=("raw",))


@register("grad_cam_pp", needs_gradients=True, output="map")
def grad_cam_pp(adapter, x, target, *, layer: Any = None, relu: bool = True,
                upsample: bool = True,
                batch_size: int | None = None) -> MethodResult:
    """Grad-CAM++: Grad-CAM with second-order-style channel weights."""
    cam, raw, name = _cam(adapter, x, target, layer, relu, upsample, gradcam_pp_weights,
                          batch_size)
    return MethodResult(values=cam, extras={"layer": name, "raw": adapter.to_numpy(raw)},
                        per_example=("raw",))
