"""Numpy adapter: any callable that takes a numpy batch and returns numpy scores.

Examples: ``sklearn_model.predict_proba``, ``lambda x: x @ w``, a jitted JAX function whose
output ``np.asarray`` accepts. There are no gradients: perturbation methods (occlusion,
shapley, lime) and the data-set methods work, gradient methods raise an ``NBExplainError``.

"Native tensors" are numpy arrays. Float inputs keep their dtype (float32 stays float32,
float64 stays float64, so a float64 model is evaluated in float64); integer inputs (token ids)
stay integers.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._errors import NBExplainError
from .base import (Adapter, check_finite, check_float_input, check_target_width,
                   host_array, resolve_target, select_output)


def _softmax(a: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; one score per example (an (N,) or (N, 1) output, a binary
    classifier's logit) gets the sigmoid instead."""
    if a.ndim <= 1 or a.shape[-1] == 1:
        return np.exp(-np.logaddexp(0.0, -a))      # the sigmoid, without overflow
    a = a - a.max(axis=-1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=-1, keepdims=True)


class NumpyAdapter(Adapter):
    framework = "numpy"
    supports_gradients = False
    channels_first = True

    def __init__(self, model: Any, *, output: Any = None, score: str = "logit",
                 channels_first: bool = True, dtype: Any = None):
        self._bind(model, output, score, "a function of numpy arrays (e.g. "
                   "clf.predict_proba), a torch module or a Keras model")
        self.channels_first = bool(channels_first)
        self.dtype = None if dtype is None else np.dtype(dtype)
        # a bound method of an estimator fitted on a DataFrame (scikit-learn keeps its column
        # names): rows go back to it as a DataFrame with those columns, so it does not warn
        # "X does not have valid feature names" on every call
        names = getattr(getattr(model, "__self__", None), "feature_names_in_", None)
        self._names_in = None if names is None else list(names)

    # --- conversion ---------------------------------------------------------------------
    def as_tensor(self, x: Any) -> np.ndarray:
        if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor handed to numpy code
            x = x.detach().cpu().numpy()
        elif hasattr(x, "numpy") and not isinstance(x, np.ndarray):  # tf tensor
            x = x.numpy()
        a = host_array(x)
        if a.dtype == object:
            raise NBExplainError("inputs are an object array (ragged lists or mixed types); "
                                 "pass a rectangular numeric array.")
        if a.dtype.kind == "f" and self.dtype is not None and a.dtype != self.dtype:
            a = a.astype(self.dtype)
        elif a.dtype.kind == "b":
            a = a.astype(self.dtype or np.float64)
        if isinstance(x, np.ndarray) and np.may_share_memory(a, x):
            a = a.copy()    # a private copy: the caller's array or tensor is never written to
        return a

    def to_numpy(self, t: Any) -> np.ndarray:
        return np.asarray(t)

    def check_input(self, x: Any, needs_gradients: bool) -> None:
        x = np.asarray(x)
        if x.dtype.kind == "f":
            check_finite(x)
        check_float_input(x[:0] if x.ndim else x, needs_gradients)
        if needs_gradients:
            raise NBExplainError(
                "a plain numpy function has no gradients; use a perturbation method "
                "(method='occlusion', 'shapley' or 'lime'), or pass a torch/Keras model. A "
                "plain function of torch or TensorFlow tensors has gradients: say so with "
                "framework='torch' or framework='tensorflow'.")

    # --- evaluation ---------------------------------------------------------------------
    def _select_output(self, out: Any, score: str | None = None) -> np.ndarray:
        out = select_output(out, self.output, lists_are_outputs=False)
        if hasattr(out, "to_numpy"):  # pandas
            out = out.to_numpy()
        a = np.asarray(out)
        if a.dtype == object or a.ndim == 0:
            raise NBExplainError(
                f"the model returned {type(out).__name__} that is not a numeric array with one "
                "row per example; return an (N,) or (N, K) array of scores (or pass output= "
                "to select one of several outputs).")
        if a.dtype.kind not in "fiub":
            raise NBExplainError(f"the model returned an array of dtype {a.dtype}; nbexplain "
                                 "needs numeric scores.")
        if (score or self.score) == "probability":
            a = _softmax(a.astype(np.float64))
        return a

    def forward(self, x: np.ndarray, score: str | None = None) -> np.ndarray:
        names = self._names_in
        if names is not None and x.ndim == 2 and x.shape[1] == len(names):
            import pandas as pd   # present: the estimator was fitted on a DataFrame

            out = self._select_output(self.model(pd.DataFrame(x, columns=names, copy=True)),
                                      score)
        else:
            out = self._select_output(self._call(x), score)
        if out.shape[:1] != x.shape[:1]:
            raise NBExplainError(
                f"the model returned {out.shape[0] if out.ndim else 0} rows for a batch of "
                f"{x.shape[0]} examples; it must return one row of scores per example.")
        return out

    def _call(self, x: np.ndarray) -> Any:
        """``model(x)`` on a private copy of ``x``.

        nbexplain reuses its arrays across passes (the examples, the baseline, the batch the
        target was read from), so a function that writes into its input (``x *= 2``,
        ``np.log(x, out=x)``, a scaler with ``copy=False``) would silently change every later
        pass: with target="predicted" the examples came back doubled for ``x *= 2``. A copy
        per batch contains any write. A read-only view would cost nothing, but
        ``torch.from_numpy`` inside a wrapped torch model warns about it, and compiled code
        may insist on a writable buffer; the copy costs ~30 µs on 2048 rows of 30 float64
        features, next to ~1 ms for a small scikit-learn MLP's predict_proba."""
        return self.model(x.copy())

    def predict(self, x: Any, batch_size: int | None = None,
                score: str | None = None) -> np.ndarray:
        x = self.as_tensor(x)
        n = x.shape[0]
        bs = n if not batch_size else int(batch_size)
        outs = [self.forward(x[i:i + bs], score) for i in range(0, max(n, 1), max(bs, 1))]
        return outs[0] if len(outs) == 1 else np.concatenate(outs, 0)

    def resolve_target(self, target: Any, x: np.ndarray) -> np.ndarray | Callable:
        if callable(target) and not isinstance(target, str):
            return target
        return resolve_target(target, self.forward(x), x.shape[0])

    #: turns what a callable target returned into an array (the JAX adapter keeps JAX arrays)
    _score_array: Callable = staticmethod(np.asarray)

    def _scores(self, out: np.ndarray, target: Any) -> np.ndarray:
        n = out.shape[0]
        if callable(target):
            s = self._score_array(target(out))
            if s.shape != (n,):
                raise NBExplainError(
                    "a callable target must return one score per example (an array of shape "
                    f"({n},)); it returned shape {s.shape}.")
            return s
        flat = out.reshape(n, -1)
        if flat.shape[1] == 1:
            return flat[:, 0]
        idx = np.asarray(target, dtype=np.int64)
        check_target_width(idx, flat.shape[1])
        return flat[np.arange(n), idx]

    def scores(self, x: Any, target: Any, batch_size: int | None = None) -> np.ndarray:
        x = self.as_tensor(x)
        n = x.shape[0]
        bs = batch_size or n
        out = []
        for i in range(0, n, max(bs, 1)):
            t = target if callable(target) else target[i:i + bs]
            out.append(self._scores(self.forward(x[i:i + bs]), t))
        return out[0] if len(out) == 1 else np.concatenate(out)

    # --- small array ops ------------------------------------------------------------------
    def concat(self, ts: list, axis: int = 0) -> np.ndarray:
        return ts[0] if len(ts) == 1 else np.concatenate(ts, axis)

    def stack(self, ts: list, axis: int = 0) -> np.ndarray:
        return np.stack(ts, axis)

    def reshape(self, t: np.ndarray, shape: tuple) -> np.ndarray:
        return np.reshape(t, shape)

    def repeat(self, t: np.ndarray, n: int) -> np.ndarray:
        return np.repeat(t, int(n), axis=0)

    def take(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return np.take(t, np.asarray(idx, dtype=np.int64), axis=0)

    def abs(self, t: np.ndarray) -> np.ndarray:
        return np.abs(t)

    def relu(self, t: np.ndarray) -> np.ndarray:
        return np.maximum(t, 0)

    def reduce(self, t: np.ndarray, op: str, axis: Any, keepdims: bool = False):
        fns: dict[str, Any] = {"sum": np.sum, "mean": np.mean, "max": np.max}
        if op not in fns:
            raise ValueError(op)
        return fns[op](t, axis=axis, keepdims=keepdims)

    def broadcast_to(self, t: np.ndarray, shape: tuple) -> np.ndarray:
        return np.broadcast_to(t, shape)

    def zeros_like(self, t: np.ndarray) -> np.ndarray:
        return np.zeros_like(t)

    def where(self, mask: Any, a: Any, b: Any) -> np.ndarray:
        return np.where(np.asarray(mask, dtype=bool), a, b)

    def weights(self, w: Any, ndim: int, like: Any = None) -> np.ndarray:
        dtype = like.dtype if like is not None else (self.dtype or np.float64)
        return np.asarray(w, dtype=dtype).reshape((-1,) + (1,) * (ndim - 1))

    def resize(self, t: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Bilinear resize with half-pixel centres (torch's align_corners=False)."""
        t = np.asarray(t)
        nd = t.ndim
        if nd == 3:
            sp = (1, 2)
        elif nd == 4:
            sp = (2, 3) if self.channels_first else (1, 2)
        else:
            raise NBExplainError(f"resize needs (N, H, W) or 4-axis maps; got {t.shape}.")
        out = t.astype(np.float64)
        for ax, new in zip(sp, size):
            old = out.shape[ax]
            pos = (np.arange(int(new)) + 0.5) * (old / int(new)) - 0.5
            pos = np.clip(pos, 0, old - 1)
            lo = np.floor(pos).astype(np.int64)
            hi = np.minimum(lo + 1, old - 1)
            frac = pos - lo
            shape = [1] * out.ndim
            shape[ax] = -1
            frac = frac.reshape(shape)
            out = np.take(out, lo, axis=ax) * (1 - frac) + np.take(out, hi, axis=ax) * frac
        return out.astype(t.dtype if t.dtype.kind == "f" else np.float64)

    def channel_axis(self, ndim: int) -> int:
        return 1 if (ndim == 4 and self.channels_first) else ndim - 1
