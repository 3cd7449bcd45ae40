"""IG's path gradients kept between calls (the live widget's steps slider): a point of the
path is its α, so an estimate at another step count evaluates only the points it has not
seen. Used by :func:`integrated_gradients.integrated_gradients_stream` (``path_cache=``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import end_scores
from ._registry import MethodResult


class PathCache:
    """The gradients along one IG path, kept between calls (the live widget's steps slider):
    an estimate at another step count evaluates only the path points it has not seen. A
    point is its α; the cache belongs to one (inputs, baseline, target, model state) and
    empties itself when called for another. Host float32, at most ``limit`` bytes (beyond,
    the oldest points are dropped)."""

    def __init__(self, limit: int = 256 * 2 ** 20):
        self.limit = limit
        self._key: Any = None
        self._grads: dict[float, np.ndarray] = {}
        self._ends: tuple | None = None
        self.evaluated = 0           # path points computed (not taken from the cache)

    def bind(self, adapter, x, b, target) -> None:
        xn, bn = adapter.to_numpy(x), adapter.to_numpy(b)
        key = (hash(xn.tobytes()), hash(bn.tobytes()), xn.shape, repr(np.asarray(target)),
               id(adapter.model), id(adapter))
        if key != self._key:
            self._key, self._grads, self._ends = key, {}, None

    def gradients(self, adapter, x, b, alphas: np.ndarray, target, batch_size, check):
        """(m, *example) host gradients at ``alphas`` (one example), computing the missing
        ones in batches of path points."""
        missing = [float(a) for a in alphas if _point(a) not in self._grads]
        if missing:
            xn = adapter.to_numpy(x).astype(np.float64)
            bn = adapter.to_numpy(b).astype(np.float64)
            per = max(1, batch_size or adapter.rows_per_pass(tuple(xn.shape[1:])))
            tg = np.asarray(target)
            for s in range(0, len(missing), per):
                a = np.asarray(missing[s:s + per])
                pts = bn + a.reshape(-1, *([1] * (xn.ndim - 1))) * (xn - bn)
                g = adapter.to_numpy(adapter.input_gradient(
                    adapter.as_tensor(pts.astype(adapter.to_numpy(x).dtype)),
                    np.repeat(tg, len(a)))).astype(np.float32)
                for ai, gi in zip(a, g):
                    self._grads[_point(ai)] = gi
                self.evaluated += len(a)
                if check is not None:
                    check()
            self._trim(alphas)
        return np.stack([self._grads[_point(a)] for a in alphas])

    def _trim(self, keep: np.ndarray) -> None:
        if not self._grads:
            return
        size = next(iter(self._grads.values())).nbytes
        over = len(self._grads) - max(len(keep), self.limit // max(1, size))
        if over > 0:
            wanted = {_point(a) for a in keep}
            for a in [a for a in self._grads if a not in wanted][:over]:
                del self._grads[a]

    def ends(self, adapter, x, b, target, batch_size) -> tuple:
        if self._ends is None:
            fx, fb = end_scores(adapter, x, b, target, batch_size)
            self._ends = (float(adapter.to_numpy(fx)[0]), float(adapter.to_numpy(fb)[0]))
        return self._ends


def _point(a: float) -> float:
    """A path point's key: α to 13 decimals (linspace's k/(n−1) and 2k/(2n−2) may differ in
    their last bit)."""
    return round(float(a), 13)


def _integrate_cached(adapter, x, b, alphas, weights, target, batch_size, check,
                      cache: PathCache, extras: dict) -> MethodResult:
    """IG of one example from the gradients in ``cache`` (computing the missing ones)."""
    g = cache.gradients(adapter, x, b, alphas, target, batch_size, check)
    xn = adapter.to_numpy(x).astype(np.float64)
    diff = xn - adapter.to_numpy(b).astype(np.float64)
    attr = diff * np.tensordot(np.asarray(weights, dtype=np.float64), g.astype(np.float64),
                               axes=(0, 0))[None]
    fx, fb = cache.ends(adapter, x, b, target, batch_size)
    delta = np.array([attr.sum() - (fx - fb)])
    dtype = adapter.to_numpy(x).dtype
    return MethodResult(values=adapter.as_tensor(attr.astype(dtype)),
                        delta=adapter.as_tensor(delta.astype(dtype)), extras=extras)
