"""Helpers shared by methods (framework-free)."""

from __future__ import annotations

import os
from typing import Any, Iterable

import numpy as np

from .._errors import NBExplainError


def as_whole(v: Any) -> int | None:
    """``v`` as an int if it is a whole number (3, 3.0, np.int64(3)); None for 2.7, True,
    "3", NaN, None and anything else."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer():
        return int(v)
    return None


def whole_number(name: str, v: Any, what: str, minimum: int = 1) -> int:
    """A whole number >= ``minimum`` (3.0 is taken as 3; 2.5, True and "3" are refused)."""
    n = as_whole(v)
    if n is None or n < minimum:
        raise NBExplainError(f"{name}={v!r}; use a whole number >= {minimum} ({what}).")
    return n


def target_slice(target: Any, i: int, j: int) -> Any:
    return target if callable(target) else target[i:j]


def repeat_target(target: Any, n: int) -> Any:
    """One target per example -> one per each of n consecutive copies of the example."""
    return target if callable(target) else np.repeat(target, n)


def gradients(adapter, x, target, batch_size: int | None):
    """d score / d x for a batch, in chunks of ``batch_size`` examples (by default the
    adapter's ``rows_per_pass``)."""
    n = x.shape[0]
    # rows_per_pass is never below 8: a small batch is one pass without asking
    bs = batch_size or (n if n <= 8 else adapter.rows_per_pass(x.shape[1:]))
    if n <= bs:
        return adapter.input_gradient(x, target)
    parts = []
    for i in range(0, n, bs):
        parts.append(adapter.input_gradient(x[i:i + bs], target_slice(target, i, i + bs)))
    return adapter.concat(parts)


def progress(total: int, enabled: bool | None, desc: str):
    """A tqdm bar: always with ``enabled=True``, never with ``False``, and with ``None`` (the
    default) only once a run has lasted more than two seconds, so quick calls stay quiet. The
    bar is created only then: in a notebook, tqdm's bar is a set of ipywidgets made when the
    bar is, which a quick call would leave behind in the saved widget state."""
    if enabled is False or total < 2:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional
        return _NoBar()
    return _Bar(tqdm, total, desc, 0.0 if enabled else 2.0)


class _Bar:
    """A tqdm bar made on the first update after ``delay`` seconds (at the count reached);
    closing it also closes the notebook bar's widgets (tqdm closes only their container)."""

    def __init__(self, tqdm: Any, total: int, desc: str, delay: float):
        import time

        self._clock = time.monotonic
        self._tqdm, self._total, self._desc = tqdm, total, desc
        self._due = self._clock() + delay
        self._n = 0
        self._bar: Any = None
        if delay <= 0:
            self._open()

    def _open(self) -> None:
        self._bar = self._tqdm(total=self._total, desc=self._desc, leave=False,
                               initial=self._n)

    def update(self, n: int = 1) -> None:
        self._n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._clock() >= self._due:
            self._open()

    def close(self) -> None:
        bar, self._bar = self._bar, None
        if bar is None:
            return
        bar.close()
        _close_widgets(getattr(bar, "container", None))

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _close_widgets(w: Any) -> None:
    """Close an ipywidget, its children and its layout and style models."""
    if w is None or not hasattr(w, "close"):
        return
    for child in getattr(w, "children", ()) or ():
        _close_widgets(child)
    for part in ("layout", "style"):
        sub = getattr(w, part, None)
        if sub is not None and hasattr(sub, "close"):
            sub.close()
    w.close()


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
    tensor of x's shape. It must be finite; for integer inputs (token ids) it must hold
    whole numbers, and takes x's integer dtype (a float would turn the tokens into floats)."""
    x_dtype = adapter.to_numpy(x[:1]).dtype
    integer = x_dtype.kind in "iu"
    if np.isscalar(value) or (isinstance(value, np.ndarray) and value.ndim == 0):
        v = np.asarray(value)
        if v.dtype.kind not in "biuf":
            raise NBExplainError(f"{what}={value!r} is not a number; pass a number or an array.")
        check_reference(v, what, integer)
        return adapter.zeros_like(x) + (int(v) if integer else float(v))
    if integer:
        vn = np.asarray(adapter.to_numpy(value) if hasattr(value, "shape")
                        and not isinstance(value, np.ndarray) else value)
        check_reference(vn, what, integer)
        value = vn.astype(x_dtype)
    t = adapter.as_tensor(value)
    if not integer:
        # one reduction on the device (NaN and ±inf propagate into the sum); only a
        # non-finite sum pays for the full check on the host
        total = adapter.to_numpy(adapter.reduce(t, "sum", tuple(range(len(t.shape)))))
        if not np.all(np.isfinite(total)):
            check_reference(np.asarray(adapter.to_numpy(t), dtype=np.float64), what, False)
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


def check_reference(v: Any, what: str, integer: bool = False, fix: str | None = None) -> None:
    """NBExplainError if a baseline/background ``v`` (host values) holds NaN or ±inf (every
    attribution would silently be NaN), or, for integer inputs (token ids), fractions.
    ``fix``: the advice, if not the generic one."""
    v = np.asarray(v)
    if v.dtype.kind in "fc" and not np.all(np.isfinite(v)):
        bad = int(v.size - np.count_nonzero(np.isfinite(v)))
        count = "" if v.ndim == 0 else f" ({bad} of {v.size}, shape {v.shape})"
        raise NBExplainError(
            f"{what} contains NaN or infinite values{count}; the attributions would be NaN. "
            + (fix or f"Pass a finite {what} (e.g. 0, the data mean, or a blurred copy of "
                      "the input)."))
    if integer and v.dtype.kind == "f" and not np.all(v == np.round(v)):
        raise NBExplainError(
            f"{what} holds fractional values but the inputs are integers. If they are numbers "
            "(a table of counts or integer-valued features), pass float inputs, e.g. "
            "X.astype(float), and the baseline can be any value; if they are token ids, pass "
            "a token id (e.g. the padding or [MASK] id) as the baseline.")


def drawn_channels_first(draw, shape: tuple, channels_last: bool) -> np.ndarray:
    """``draw(shape)`` (a numpy sampler, e.g. ``rng.random``) for an array whose last three
    axes are H×W×C when ``channels_last``: drawn as C×H×W and moved, so that a channels-last
    (Keras) model gets the same numbers from a seed as its channels-first (torch) twin."""
    if not channels_last:
        return draw(tuple(shape))
    *lead, h, w, c = shape
    return np.moveaxis(draw((*lead, c, h, w)), -3, -1)


def chunks(n: int, size: int) -> Iterable[tuple[int, int]]:
    for i in range(0, n, size):
        yield i, min(n, i + size)


def memory_limit() -> int:
    """Bytes a method may plan to hold on the host at once: half the machine's memory."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) // 2
    except (AttributeError, ValueError, OSError):   # not a POSIX system
        return 8 << 30


def check_memory(nbytes: float, what: str, fix: str) -> None:
    """Refuse, before anything is allocated, work whose host memory estimate ``nbytes`` is
    above :func:`memory_limit`; the message names the estimate, ``what`` needs it and
    ``fix``, the option that lowers it."""
    limit = memory_limit()
    if nbytes > limit:
        raise NBExplainError(
            f"{what} needs about {_size(nbytes)} of memory; nbexplain plans at most half of "
            f"this machine's {_size(2 * limit)} ({_size(limit)}). {fix[:1].upper()}{fix[1:]}")


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def end_scores(adapter, x, b, target, batch_size: int | None):
    """f_c(x) and f_c(b), in one forward pass when no batch size limits it."""
    n = int(x.shape[0])
    if batch_size is not None and 2 * n > batch_size:
        return adapter.scores(x, target, batch_size), adapter.scores(b, target, batch_size)
    t2 = target if callable(target) else np.concatenate([target, target])
    both = adapter.scores(adapter.concat([x, b]), t2)
    return both[:n], both[n:]
