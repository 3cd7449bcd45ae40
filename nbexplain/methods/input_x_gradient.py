"""Input × Gradient: the gradient scaled elementwise by the input.

    A(x) = x ⊙ d f_c(x) / d x

Shrikumar et al. (2016), "Not Just a Black Box", https://arxiv.org/abs/1605.01713
(Captum: ``InputXGradient``.)
"""

from __future__ import annotations

from typing import Any

from ._common import gradients
from ._layer import layer_gradient_method
from ._registry import MethodResult, register


@register("input_x_gradient", needs_gradients=True)
def input_x_gradient(adapter, x, target, *, batch_size: int | None = None,
                     layer: Any = None) -> MethodResult:
    """Input times the gradient of the target score. With ``layer=`` (a text model's
    embedding): that layer's output times its gradient, summed to one value per input
    position (methods/_layer.py)."""
    if layer is not None:
        return layer_gradient_method(adapter, x, target, layer, "ixg")
    return MethodResult(values=x * gradients(adapter, x, target, batch_size))
