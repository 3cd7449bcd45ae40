"""Input × Gradient: the gradient scaled elementwise by the input.

    A(x) = x ⊙ d f_c(x) / d x

Shrikumar et al. (2016), "Not Just a Black Box", https://arxiv.org/abs/1605.01713
(Captum: ``InputXGradient``.)
"""

from __future__ import annotations

from ._registry import MethodResult, register
from ._common import gradients


@register("input_x_gradient", needs_gradients=True)
def input_x_gradient(adapter, x, target, *,
                     batch_size: int | None = None) -> MethodResult:
    """Input times the gradient of the target score."""
    return MethodResult(values=x * gradients(adapter, x, target, batch_size))
