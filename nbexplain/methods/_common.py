"""Helpers shared by methods (framework-free)."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .._errors import NBExplainError


def target_slice(target: Any, i: int, j: int) -> Any:
    return target if callable(target) else target[i:j]


def repeat_target(target: Any, n: int) -> Any:
    """One target per example -> one per each of n consecutive copies of the example."""
    return target if callable(target) else np.repeat(target, n)


def gradients(adapter, x, target, batch_size: int | None):
    """d score / d x for a batch, in chunks of ``batch_size`` examples (by default the
    adapter's ``rows_per_pass``)."""
    n = x.shape[0]
    bs = batch_size or adapter.rows_per_pass(x.shape[1:])
    if n <= bs:
        return adapter.input_gradients(x, target)[1]
    parts = []
    for i in range(0, n, bs):
        _, g = adapter.input_gradients(x[i:i + bs], target_slice(target, i, i + bs))
        parts.append(g)
    return adapter.concat(parts)


def progress(total: int, enabled: bool | None, desc: str):
    """A tqdm bar: always with ``enabled=True``, never with ``False``, and with ``None`` (the
    default) only once a run has lasted more than two seconds, so quick calls stay quiet."""
    if enabled is False or total < 2:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional
        return _NoBar()
    return tqdm(total=total, desc=desc, leave=False, delay=0 if enabled else 2.0)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def as_example_array(adapter, value: Any, x, what: str):
    """A scalar, or an array of one example's shape or of the batch's shape, as a native
    tensor broadcastable against x."""
    if np.isscalar(value) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return adapter.zeros_like(x) + float(value)
    t = adapter.as_tensor(value)
    shape = tuple(t.shape)
    xs = tuple(x.shape)
    if shape == xs:
        return t
    if shape == xs[1:]:
        return adapter.zeros_like(x) + t[None]
    if len(shape) == len(xs) and shape[0] == 1 and shape[1:] == xs[1:]:
        return adapter.zeros_like(x) + t
    raise NBExplainError(
        f"{what} has shape {shape}, but the inputs have shape {xs}: pass a scalar, one "
        f"example's shape {xs[1:]}, or the whole batch's shape.")


def chunks(n: int, size: int) -> Iterable[tuple[int, int]]:
    for i in range(0, n, size):
        yield i, min(n, i + size)
