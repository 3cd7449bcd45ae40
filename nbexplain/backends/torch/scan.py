"""The model scan of the torch adapter: the device, float dtype and training state of a model,
read in one walk over its modules, and the tables of layer types the adapter decides by."""

from __future__ import annotations

from typing import Any

import torch


def _scan_model(model: Any) -> tuple[torch.device, torch.dtype | None, bool]:
    """``(device, float dtype, training)`` of a model in one walk over its modules.

    The device and dtype are those of the first parameter (else the first float buffer;
    a parameterless callable runs on the CPU and keeps the inputs' float dtype). ``training``
    is True if some module in training mode behaves differently from eval mode (dropout,
    batch norm). Walked afresh on every call: layers can be added, moved or flipped between
    calls."""
    if not isinstance(model, torch.nn.Module):
        return torch.device("cpu"), None, False
    first: Any = None
    training = False
    # model.modules() in the same pre-order, walked with a list instead of nested
    # generators (a third of the time on an MLP, where this runs on every call)
    stack, seen = [model], set()
    while stack:
        m = stack.pop()
        if id(m) in seen:
            continue
        seen.add(id(m))
        if first is None:
            for p in m._parameters.values():
                if p is not None:
                    first = p
                    break
        if m.training and not training and (
                isinstance(m, _DropoutNd) or getattr(m, "track_running_stats", False)):
            training = True
        if m._modules:
            stack.extend(c for c in reversed(m._modules.values()) if c is not None)
    if first is None:
        first = next((b for b in model.buffers() if b.is_floating_point()), None)
        if first is None:
            return torch.device("cpu"), None, training
    return first.device, (first.dtype if first.is_floating_point() else torch.float32), training


_DropoutNd = torch.nn.modules.dropout._DropoutNd

#: layers that take (N, T, D) batches or one unbatched (T, D) sequence
_SEQUENCE_LAYERS = (torch.nn.RNNBase, torch.nn.MultiheadAttention,
                    torch.nn.TransformerEncoderLayer, torch.nn.TransformerDecoderLayer)
