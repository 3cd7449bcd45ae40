"""The memory-format autotuner of the torch adapter: image batches on a CPU run in NCHW or
channels_last, whichever a short probe of the model found faster for that input shape."""

from __future__ import annotations

import os
import time
import weakref
from typing import Any, Callable

import numpy as np
import torch

from .flatten_hook import _flatten_grad_hooks
from .hooks import own_pass, remove_all


#: per model: {input shape: True for channels_last}, or False once channels_last has failed
_FORMATS: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def _autotune() -> bool:
    """NBEXPLAIN_TORCH_AUTOTUNE=0/false/no/off (any case) turns the format probe off; read on
    every call, so setting it in a running notebook takes effect."""
    v = os.environ.get("NBEXPLAIN_TORCH_AUTOTUNE", "1").strip().lower()
    return v not in ("0", "false", "no", "off")


#: the probe times at most this many rows of the batch, so it stays cheap next to the work
_PROBE_ROWS = 16


def _probe_format(model: torch.nn.Module, x: torch.Tensor) -> bool | None:
    """True if ``model`` runs the batch ``x`` clearly faster in channels_last than in NCHW,
    False if not, None if it fails in channels_last.

    Forward passes without a graph, on the batch itself: one warm-up in each format, then
    rounds of one NCHW and one channels_last pass back to back, whose time ratio cancels slow
    drifts of the machine's load. A clear first round (≤ 0.75 or ≥ 1.25) decides at once;
    otherwise the median ratio of three rounds must be under 0.9 for channels_last.
    """
    # NCHW copies: the probe's passes never see the caller's tensor, and an input that is
    # already channels_last is still timed against NCHW
    x = x.clone(memory_format=torch.contiguous_format)
    xc = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        try:
            model(xc)       # warm-up, and the check that the model takes channels_last
        except Exception:   # e.g. ``x.view(n, -1)`` after a conv
            return None
        model(x)
        ratios = []
        for _ in range(3):
            t0 = time.perf_counter()
            model(x)
            t1 = time.perf_counter()
            model(xc)
            t2 = time.perf_counter()
            ratios.append((t2 - t1) / max(t1 - t0, 1e-12))
            if len(ratios) == 1 and not 0.75 < ratios[0] < 1.25:
                return ratios[0] <= 0.75
    return float(np.median(ratios)) < 0.9


class _MemoryFormatTuning:
    """``TorchAdapter``'s passes in the memory format that runs its model fastest (a mixin:
    uses the adapter's ``model`` and ``_training``)."""

    # provided by the adapter this mixin is part of (declared for the type checker)
    model: Any
    _training: Any

    def _tuned(self, x: torch.Tensor, fn: Callable[[torch.Tensor], Any],
               grad: bool = True) -> Any:
        """``fn(x)``, with image batches on a CPU given in the memory format that runs this
        model fastest. The first pass of a new input shape times forward passes in NCHW and
        channels_last (``_probe_format``; a few extra passes, once per model and shape); every
        later pass of that shape uses the faster format, so repeated calls give identical
        values. CNNs with max-pooling ran their gradient passes 0.73–0.84x as long in
        channels_last (torch's NCHW CPU max-pool is ~14x slower), while a ResNet on one image
        ran 1.2x as long: measured per model and shape, never assumed. Not for models whose
        training-mode layers would update state on the extra passes, not on accelerators,
        and not with NBEXPLAIN_TORCH_AUTOTUNE=0. The probe times the first 16 rows.

        A gradient pass (``grad``) in channels_last also has the gradients that reach an
        ``nn.Flatten`` handed on in channels_last (``_flatten_grad_hooks``)."""
        if (len(x.shape) != 4 or self._training or x.device.type != "cpu"
                or not x.is_floating_point() or not isinstance(self.model, torch.nn.Module)
                or not _autotune()):
            return fn(x)
        per_model = _FORMATS.get(self.model)
        if per_model is False:
            return fn(x)
        if per_model is None:
            try:
                per_model = _FORMATS[self.model] = {}
            except TypeError:  # pragma: no cover - not weak-referenceable
                return fn(x)
        key = tuple(x.shape)
        cl = per_model.get(key)
        if cl is None:
            # the probe's extra passes must not change anything: not on a model with any
            # module in training mode (BatchNorm statistics, F.dropout(..., self.training))
            if any(m.training for m in self.model.modules()):
                return fn(x)
            cl = _probe_format(self.model, x[:_PROBE_ROWS])
            if cl is None:          # the model cannot take channels_last: NCHW for good
                _FORMATS[self.model] = False
                return fn(x)
            per_model[key] = cl
        if not cl:
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
