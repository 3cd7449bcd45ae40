"""Partial dependence and ICE curves of a model on a data set.

Friedman (2001), "Greedy function approximation", https://doi.org/10.1214/aos/1013203451 ;
ICE curves: Goldstein et al. (2015), https://arxiv.org/abs/1309.6392 :

    ICE_i(g) = f(x_i with x_S := g),   PD(g) = 1/N Σ_i ICE_i(g)

on a grid per feature that follows scikit-learn's ``method="brute"``: the feature's unique
values when there are fewer than ``grid_resolution``, else ``grid_resolution`` evenly spaced
values between the ``percentiles`` of the column (scipy's ``mquantiles`` definition), or a
``grid`` you give; two features give the Cartesian grid.

A data-set method (see ``_dataset.py``), exported as ``nbexplain.partial_dependence``; not a
registered per-example method.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .._errors import NBExplainError
from .._sklearn import _is_sklearn_estimator, _positions
from ..backends.base import check_frame_columns, frame_columns
from ..export import LITERAL, plain
from ._dataset import _as_numpy, _check_output, _check_score, _check_x, _model_adapter, _save


@dataclass
class PartialDependence:
    """``average`` (n_targets, *grid lengths); ``individual`` (n_targets, N, *grid lengths)."""

    grid_values: list
    average: Any             # (n_targets, *grid) or None
    individual: Any          # (n_targets, N, *grid) or None
    features: tuple
    feature_names: list[str]
    targets: list = field(default_factory=list)

    def plot(self, ax: Any = None, target_index: int = 0, ice: bool = True,
             max_ice: int = 50, seed: int = 0):
        """One feature: ICE curves (grey, a random subset of ``max_ice``) and the average
        (bold). Two features: filled contours of the average (coloured dots when a grid has
        a single value)."""
        import matplotlib.pyplot as plt

        n_t = len(self.average if self.average is not None else self.individual)
        if (not isinstance(target_index, (int, np.integer)) or isinstance(target_index, bool)
                or not -n_t <= target_index < n_t):
            cols = f" (output columns {list(self.targets)})" if self.targets else ""
            raise NBExplainError(
                f"target_index={target_index!r}: this result holds {n_t} target(s){cols}; "
                f"target_index picks one of them (0..{n_t - 1}), not a model column.")
        output = "model output" + (f" (column {self.targets[target_index]})"
                                   if len(self.targets) == n_t else "")
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        if len(self.features) == 1:
            g = self.grid_values[0]
            if ice and self.individual is not None:
                ind = self.individual[target_index]
                rows = np.random.default_rng(seed).permutation(len(ind))[:max_ice]
                for r in rows:
                    ax.plot(g, ind[r], color="0.6", lw=0.6, alpha=0.5)
            avg = (self.average[target_index] if self.average is not None
                   else self.individual[target_index].mean(axis=0))
            ax.plot(g, avg, color="C3", lw=2.5, label="average",
                    marker="o" if len(g) == 1 else None)   # one grid value: a dot
            ax.set_xlabel(plain(self.feature_names[0]), **LITERAL)
            ax.set_ylabel(output)
        else:
            avg = (self.average[target_index] if self.average is not None
                   else self.individual[target_index].mean(axis=0))
            g0, g1 = (np.asarray(g, dtype=np.float64) for g in self.grid_values[:2])
            if len(g0) >= 2 and len(g1) >= 2:
                cs = ax.contourf(g0, g1, avg.T, levels=12, cmap="viridis")
            else:   # contours need a 2×2 grid at least: one coloured dot per grid point
                gx, gy = np.meshgrid(g0, g1, indexing="ij")
                cs = ax.scatter(gx.ravel(), gy.ravel(), c=np.asarray(avg).ravel(), s=80,
                                cmap="viridis")
            plt.colorbar(cs, ax=ax, label=output)
            ax.set_xlabel(plain(self.feature_names[0]), **LITERAL)
            ax.set_ylabel(plain(self.feature_names[1]), **LITERAL)
        return ax

    def save(self, path: str, **kwargs: Any) -> str:
        return _save(self, path, **kwargs)


def mquantiles(a: np.ndarray, prob: Sequence[float], alphap: float = 0.4,
               betap: float = 0.4) -> np.ndarray:
    """scipy.stats.mstats.mquantiles (default plotting positions), without scipy."""
    x = np.sort(np.asarray(a, dtype=np.float64))
    n = len(x)
    p = np.asarray(prob, dtype=np.float64)
    m = alphap + p * (1.0 - alphap - betap)
    aleph = n * p + m
    k = np.floor(np.clip(aleph, 1, n - 1)).astype(np.int64)
    gamma = np.clip(aleph - k, 0, 1)
    return (1.0 - gamma) * x[k - 1] + gamma * x[k]


def _feature_index(f: Any, names: Sequence[str] | None, nf: int) -> int:
    if isinstance(f, str):
        if names is None or f not in list(names):
            raise NBExplainError(f"feature {f!r} is not a column name; pass feature_names= or "
                                 "a column index.")
        return list(names).index(f)
    if not isinstance(f, (int, np.integer)) or not -nf <= int(f) < nf:
        raise NBExplainError(f"feature {f!r} is not a column index of X's {nf} columns.")
    return int(f) % nf


def _pd_targets(target: Any, k: int, classes: np.ndarray | None, binary_sk: bool) -> list:
    """Output columns for ``target``: None (all; a scikit-learn binary classifier's positive
    class), an int column index, a class label (looked up in ``classes``), or a list."""
    if target is None:
        return [1] if binary_sk else list(range(k))
    many = isinstance(target, (list, tuple, np.ndarray))
    if many and np.ndim(target) != 1:
        raise NBExplainError(f"target={target!r}; pass one output column or class, or a flat "
                             "list of them.")
    tg = []
    for t in (list(target) if many else [target]):
        if isinstance(t, (int, np.integer)) and not isinstance(t, (bool, np.bool_)):
            t = int(t)
            if not 0 <= t < k:
                hint = ""
                if classes is not None and t in classes.tolist():
                    pos = classes.tolist().index(t)
                    col = pos if len(classes) == k else (0 if pos == 1 and k == 1 else None)
                    if col is not None:
                        hint = (f"; {t} is a class label of the model: its column is "
                                f"target={col}")
                raise NBExplainError(f"target {t!r} is out of range: the model has {k} "
                                     f"outputs (0..{k - 1}){hint}.")
            tg.append(t)
            continue
        if classes is None:
            raise NBExplainError(
                f"target {t!r} is not an output column index, and the model's classes are "
                "unknown, so it cannot be read as a class label: pass an int column index, "
                "or the fitted scikit-learn classifier (or its bound method, e.g. "
                "clf.predict_proba) whose classes_ hold the label.")
        pos = _positions([t], classes, -1)[0]
        if pos < 0:
            raise NBExplainError(f"target {t!r} is not one of the model's classes "
                                 f"{list(classes)} (an int target is an output column).")
        if len(classes) == k:
            tg.append(int(pos))
        elif k == 1 and len(classes) == 2 and pos == 1:
            tg.append(0)    # a binary decision function scores the positive class
        else:
            raise NBExplainError(
                f"target {t!r}: the model's {k} output(s) score "
                + (f"the positive class {classes[1]!r} only" if k == 1 and len(classes) == 2
                   else f"not its {len(classes)} classes one by one") + ".")
    return tg


def partial_dependence(model: Any, X: Any, features: Any, *, grid: Any = None,
                       grid_resolution: int = 100, percentiles: Sequence[float] = (0.05, 0.95),
                       kind: str = "both", target: Any = None, batch_size: int | None = 4096,
                       feature_names: Sequence[str] | None = None, score: str = "logit",
                       output: Any = None, framework: str | None = None) -> PartialDependence:
    """Partial dependence of the model output on one or two columns of tabular ``X``, with
    the individual conditional expectation (ICE) curves.

    ``features``: a column (index or name) or a pair. ``grid``: custom values — an array for
    one feature, a list of arrays for two. A scikit-learn classifier is evaluated with
    predict_proba, else decision_function (scikit-learn's ``response_method='auto'``), a
    regressor with predict. ``target``: the output column(s) to keep — int column indices,
    or class labels (e.g. 'dog') of a scikit-learn classifier or of a bound method such as
    ``clf.predict_proba``; default all (a scikit-learn binary classifier keeps the positive
    class, as scikit-learn does).
    ``kind``: 'average', 'individual' or 'both'. Returns :class:`PartialDependence`.
    """
    if feature_names is None:
        feature_names = frame_columns(X)    # a DataFrame's columns: features by name
    x = _as_numpy(X, "X")
    _check_x(x)
    if x.ndim != 2:
        raise NBExplainError(f"partial_dependence takes tabular X (N, F); X has shape {x.shape}.")
    if kind not in ("average", "individual", "both"):
        raise NBExplainError(f"kind={kind!r}; use 'average', 'individual' or 'both'.")
    nf = x.shape[1]
    feats = list(features) if isinstance(features, (list, tuple)) else [features]
    if not 1 <= len(feats) <= 2:
        raise NBExplainError(f"features={features!r}; pass one column or a pair of columns.")
    fidx = [_feature_index(f, feature_names, nf) for f in feats]
    if len(set(fidx)) != len(fidx):
        raise NBExplainError("features repeats a column; pass two different columns.")
    if len(percentiles) != 2 or not 0 <= percentiles[0] < percentiles[1] <= 1:
        raise NBExplainError(f"percentiles={percentiles!r}; pass (low, high) with "
                             "0 <= low < high <= 1.")
    if grid is not None:
        custom = [np.asarray(grid, dtype=np.float64)] if len(fidx) == 1 else [
            np.asarray(g, dtype=np.float64) for g in grid]
        if len(custom) != len(fidx) or any(c.ndim != 1 or c.size == 0 for c in custom):
            raise NBExplainError("grid must be a 1-D array of values for one feature, or a "
                                 "list of two 1-D arrays for a pair.")
        values = custom
    else:
        if grid_resolution < 2:
            raise NBExplainError(f"grid_resolution={grid_resolution}; use at least 2.")
        values = []
        for j in fidx:
            col = x[:, j]
            if col.dtype.kind == "f":   # missing values are not grid points
                col = col[~np.isnan(col)]
                if col.size == 0:
                    raise NBExplainError(f"column {j} of X is all NaN; it has no values to "
                                         "build a grid from (pass grid= values).")
            uniq = np.unique(col)
            if len(uniq) < grid_resolution:
                values.append(uniq.astype(np.float64))
            else:
                lo, hi = mquantiles(col, percentiles)
                if np.allclose(lo, hi):
                    raise NBExplainError(
                        f"the percentiles {tuple(percentiles)} of column {j} are equal; widen "
                        "percentiles= or pass grid= values.")
                values.append(np.linspace(lo, hi, num=int(grid_resolution)))
    points = np.array(list(itertools.product(*values)), dtype=np.float64)  # P, len(fidx)
    is_sk = _is_sklearn_estimator(model)
    adapter, classes, _ = _model_adapter(model, response="auto", framework=framework,
                                         output=output, score=score)
    check_frame_columns(adapter._names_in, frame_columns(X), "X")
    _check_score(adapter, x)
    xf = x if x.dtype.kind == "f" else x.astype(np.float64)
    n, p = len(xf), len(points)
    per = max(1, (int(batch_size) if batch_size else n * p) // n)
    preds = []
    for j in range(0, p, per):
        pts = points[j:j + per]
        rows = np.repeat(xf[None], len(pts), axis=0)                   # c, N, F
        for k, col in enumerate(fidx):   # type: ignore[assignment]  # (ints of fidx)
            rows[:, :, col] = pts[:, k][:, None]
        out = adapter.predict(rows.reshape(-1, nf), None)
        preds.append(out.reshape((len(pts), n) + out.shape[1:]))
    pred = np.concatenate(preds)                                        # P, N, (K)
    _check_output(pred.reshape(p * n, -1), xf)
    if pred.ndim == 2:
        pred = pred[:, :, None]
    pred = pred.reshape(p, n, -1).astype(np.float64)
    k = pred.shape[2]
    tg = _pd_targets(target, k, classes, binary_sk=is_sk and classes is not None and k == 2)
    shape = [len(v) for v in values]
    ind = np.transpose(pred[:, :, tg], (2, 1, 0)).reshape([len(tg), n] + shape)
    names = [feature_names[j] if feature_names is not None else f"x{j}" for j in fidx]
    return PartialDependence(
        grid_values=values,
        average=ind.mean(axis=1) if kind in ("average", "both") else None,
        individual=ind if kind in ("individual", "both") else None,
        features=tuple(fidx), feature_names=names, targets=tg)
