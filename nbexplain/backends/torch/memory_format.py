"""The memory format of the torch adapter's image passes, by a rule: the model's own. Image
batches run in channels_last when the model's convolution weights are channels_last (the user
converted the model: ``model.to(memory_format=torch.channels_last)``), and in NCHW otherwise,
as the caller's tensor and Captum run them. A rule, not a timing: the same call gives the
same numbers in every process (a timing probe picked channels_last in one process and NCHW in
another for the same ResNet, and the results differed by 3e-3), and no extra passes run."""

from __future__ import annotations

import weakref
from typing import Any, Callable

import torch

from .flatten_hook import _flatten_grad_hooks
from .hooks import own_pass, remove_all


#: per model: its first 4-D convolution weight (None: it has none), found once
_FIRST_CONV: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def _first_conv_weight(model: torch.nn.Module) -> torch.Tensor | None:
    try:
        hit = _FIRST_CONV.get(model, False)
    except TypeError:  # pragma: no cover - not weak-referenceable
        hit = False
    if hit is False:
        hit = next((p for n, p in model.named_parameters() if p.dim() == 4), None)
        try:
            _FIRST_CONV[model] = hit
        except TypeError:  # pragma: no cover
            pass
    return hit


def model_channels_last(model: Any) -> bool:
    """Whether the model's (first) convolution weight is laid out channels_last (and not
    also plain contiguous, as a 1×1 kernel with one input channel is in both)."""
    if not isinstance(model, torch.nn.Module):
        return False
    w = _first_conv_weight(model)
    return (w is not None and w.is_contiguous(memory_format=torch.channels_last)
            and not w.is_contiguous())


class _MemoryFormatTuning:
    """``TorchAdapter``'s passes in the memory format that runs its model fastest (a mixin:
    uses the adapter's ``model`` and ``_training``)."""

    # provided by the adapter this mixin is part of (declared for the type checker)
    model: Any
    _training: Any

    def _tuned(self, x: torch.Tensor, fn: Callable[[torch.Tensor], Any],
               grad: bool = True) -> Any:
        """``fn(x)``, with image batches given in the model's own memory format
        (``model_channels_last``): channels_last for a model converted to it, the caller's
        NCHW otherwise. A gradient pass in channels_last also has the gradients that reach
        an ``nn.Flatten`` handed on in channels_last (``_flatten_grad_hooks``)."""
        if (len(x.shape) != 4 or not x.is_floating_point()
                or not model_channels_last(self.model)):
            return fn(x)
        xc = x.contiguous(memory_format=torch.channels_last)
        if not grad:
            return fn(xc)
        handles: list = []
        with own_pass() as token:
            try:
                _flatten_grad_hooks(self.model, token, handles)
                return fn(xc)
            finally:
                remove_all(handles)
