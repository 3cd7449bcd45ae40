"""Occlusion: slide a window over the input, replace it with a baseline, and record how much
the target score drops.

    A_i = mean over windows W ∋ i of [ f_c(x) − f_c(x with W set to the baseline) ]

Zeiler & Fergus (2014), "Visualizing and Understanding Convolutional Networks",
https://arxiv.org/abs/1311.2901 (as Captum's ``Occlusion``: windows start at multiples of the
stride, ceil((D − w)/s) + 1 of them per axis, the last one clipped at the border, and every
element's attribution is averaged over the windows that cover it).

``window`` and ``stride`` are given per example axis (an int applies to every axis); for
images the channel axis defaults to the full channel count. Perturbed inputs are built on the
device, ``batch_size`` windows × examples per forward pass (by default the adapter's
``rows_per_pass``, so memory stays bounded); only scores come back.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .._errors import NBExplainError
from ._registry import MethodResult, register
from ._common import as_example_array, progress, repeat_target


def _per_axis(v: Any, ex_shape: tuple, name: str, channel_axis: int | None) -> tuple:
    if isinstance(v, (int, np.integer)):
        out = [int(v)] * len(ex_shape)
        if channel_axis is not None:
            out[channel_axis] = ex_shape[channel_axis] if name == "window" else 1
        return tuple(out)
    try:
        items = list(v)
    except TypeError:
        items = None
    if items is None or not all(isinstance(a, (int, np.integer))
                                and not isinstance(a, (bool, np.bool_)) for a in items):
        raise NBExplainError(f"{name}={v!r}; give a whole number of elements, or one per "
                             f"example axis {ex_shape} (e.g. {name}=4 or "
                             f"{name}={tuple(min(4, d) for d in ex_shape)}).")
    t = tuple(int(a) for a in items)
    if len(t) != len(ex_shape):
        raise NBExplainError(f"{name}={v!r} has {len(t)} entries; the examples have "
                             f"{len(ex_shape)} axes {ex_shape}: give one per axis.")
    return t


def window_starts(ex_shape: tuple, window: tuple, stride: tuple) -> list[tuple]:
    per_axis = []
    for d, w, s in zip(ex_shape, window, stride):
        if w > d or w < 1 or s < 1:
            raise NBExplainError(f"window {window} / stride {stride} do not fit examples of "
                                 f"shape {ex_shape}: each window side must be 1..size and "
                                 "each stride >= 1.")
        if s > w and d > w:
            raise NBExplainError(f"stride {stride} is larger than the window {window}: some "
                                 "positions would never be occluded. Use stride <= window.")
        count = int(np.ceil((d - w) / s)) + 1
        per_axis.append([k * s for k in range(count)])
    return list(itertools.product(*per_axis))


def window_mask(ex_shape: tuple, start: tuple, window: tuple) -> np.ndarray:
    m = np.zeros(ex_shape, dtype=bool)
    m[tuple(slice(a, a + w) for a, w in zip(start, window))] = True
    return m


@register("occlusion", needs_gradients=False)
def occlusion(adapter, x, target, *, window: Any = None, stride: Any = None,
              baseline: Any = 0.0, batch_size: int | None = None,
              progress_bar: bool | None = None, check=None) -> MethodResult:
    """Score drop when a sliding window of the input is replaced by a baseline."""
    ex_shape = tuple(int(s) for s in x.shape[1:])
    nd = len(x.shape)
    ch = (adapter.channel_axis(nd) - 1) if nd == 4 else None
    if window is None:
        window = 1 if nd == 2 else max(1, min(ex_shape[a] for a in range(len(ex_shape))
                                                 if a != ch) // 8)
    window = _per_axis(window, ex_shape, "window", ch)
    stride = _per_axis(stride if stride is not None else window, ex_shape, "stride", ch)
    starts = window_starts(ex_shape, window, stride)
    n = int(x.shape[0])
    base = as_example_array(adapter, baseline, x, "baseline")
    f0 = adapter.to_numpy(adapter.scores(x, target)).astype(np.float64)
    total = np.zeros((n,) + ex_shape)
    counts = np.zeros(ex_shape)
    per = max(1, (batch_size or adapter.rows_per_pass(x.shape[1:])) // n)
    with progress(len(starts) * n, progress_bar, "occlusion") as bar:
        for j in range(0, len(starts), per):
            chunk = starts[j:j + per]
            masks = np.stack([window_mask(ex_shape, s, window) for s in chunk])  # c, *ex
            c = len(chunk)
            # selected, not blended: integer inputs (token ids) stay integers, and the
            # result equals Captum's x·(1−m) + b·m for a 0/1 mask
            m = np.tile(masks, (n,) + (1,) * len(ex_shape))
            ablated = adapter.where(m, adapter.repeat(base, c), adapter.repeat(x, c))
            f = adapter.to_numpy(adapter.scores(ablated, repeat_target(target, c))).astype(
                np.float64).reshape(n, c)
            drops = f0[:, None] - f                                            # n, c
            total += np.tensordot(drops, masks.astype(np.float64), axes=(1, 0))
            counts += masks.sum(axis=0)
            bar.update(n * c)
            if check is not None:
                check()
    values = total / np.maximum(counts, 1)
    return MethodResult(values=values, extras={"window": window, "stride": stride,
                                               "evaluations": len(starts) * n})
