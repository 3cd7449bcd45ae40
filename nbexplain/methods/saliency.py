"""Saliency: the gradient of the target score with respect to the input.

    S(x) = |d f_c(x) / d x|          (abs=True, the default, as in Captum's ``Saliency``)

Simonyan, Vedaldi, Zisserman (2014), "Deep Inside Convolutional Networks",
https://arxiv.org/abs/1312.6034
"""

from __future__ import annotations

from typing import Any

from ._common import gradients
from ._layer import layer_gradient_method
from ._registry import MethodResult, register
from .._errors import NBExplainError


@register("saliency", needs_gradients=True)
def saliency(adapter, x, target, *, abs: bool = True, reduce_channels: str | None = None,
             batch_size: int | None = None, layer: Any = None) -> MethodResult:
    """Gradient of the target score w.r.t. the input (absolute value by default). With
    ``layer=`` (a text model's embedding): |gradient| of that layer's output, summed to one
    value per input position (methods/_layer.py)."""
    if layer is not None:
        return layer_gradient_method(adapter, x, target, layer, "saliency")
    if reduce_channels not in (None, "max", "sum"):
        raise NBExplainError(f"reduce_channels={reduce_channels!r}; use None, 'max' or 'sum'.")
    g = gradients(adapter, x, target, batch_size)
    if abs:
        g = adapter.abs(g)
    if reduce_channels is not None:
        g = adapter.reduce(g, reduce_channels, axis=adapter.channel_axis(len(g.shape)),
                           keepdims=True)
    return MethodResult(values=g)
