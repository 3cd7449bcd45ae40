"""Data-set (global) explanations: permutation importance and partial dependence / ICE.

Both take a model — a torch module, a Keras model, a numpy callable such as
``clf.predict_proba``, or a fitted scikit-learn estimator — and a data set ``X``, evaluate the
model on modified copies of ``X`` in batches of ``batch_size`` rows, and return a small result
object with ``.plot()`` and ``.save(path)``.

* :func:`permutation_importance` — Breiman (2001), "Random Forests",
  https://doi.org/10.1023/A:1010933404324 ; Fisher, Rudin, Dominici (2019),
  https://arxiv.org/abs/1801.01489 :

      I_j = s(f, X, y) − s(f, X with feature j shuffled across rows, y)

  averaged over ``repeats`` shuffles (higher scores are better, so a large drop means an
  important feature). The shuffles reproduce scikit-learn's random number use exactly
  (``sklearn.inspection.permutation_importance``): one int drawn from
  ``RandomState(seed)``, then, for every feature, a fresh ``RandomState`` of that int whose
  ``shuffle`` of the row indices is applied cumulatively, repeat after repeat. With the same
  ``seed`` and ``repeats`` the importances therefore agree with scikit-learn's.
* :func:`partial_dependence` — Friedman (2001), "Greedy function approximation",
  https://doi.org/10.1214/aos/1013203451 ; ICE curves: Goldstein et al. (2015),
  https://arxiv.org/abs/1309.6392 :

      ICE_i(g) = f(x_i with x_S := g),   PD(g) = 1/N Σ_i ICE_i(g)

  on a grid per feature that follows scikit-learn's ``method="brute"``: the feature's unique
  values when there are fewer than ``grid_resolution``, else ``grid_resolution`` evenly spaced
  values between the ``percentiles`` of the column (scipy's ``mquantiles`` definition), or a
  ``grid`` you give; two features give the Cartesian grid.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ._errors import NBExplainError
from .backends import get_adapter
from .backends.base import frame_columns
from .backends.base import Adapter, check_finite, guess_layout


# --- models ------------------------------------------------------------------------------------
def _is_sklearn_estimator(model: Any) -> bool:
    return not callable(model) and hasattr(model, "fit") and (
        hasattr(model, "predict") or hasattr(model, "predict_proba"))


def _model_adapter(model: Any, *, proba: bool, framework: str | None, output: Any,
                   score: str) -> tuple[Adapter, np.ndarray | None]:
    """(adapter, classes) for a model; scikit-learn estimators use predict_proba (when
    ``proba`` and available), else decision_function/predict."""
    if _is_sklearn_estimator(model):
        from .backends.numpy import NumpyAdapter

        classes = getattr(model, "classes_", None)
        if proba and hasattr(model, "predict_proba"):
            fn = model.predict_proba
        elif classes is not None and hasattr(model, "predict_proba"):
            fn = model.predict_proba
        elif hasattr(model, "predict"):
            fn = model.predict
            classes = None
        else:
            fn = model.decision_function
        return NumpyAdapter(fn, output=output, score=score), (
            None if classes is None else np.asarray(classes))
    return get_adapter(model, framework, output=output, score=score), None


def _as_numpy(a: Any, what: str) -> np.ndarray:
    if hasattr(a, "detach") and hasattr(a, "cpu"):
        a = a.detach().cpu().numpy()
    elif hasattr(a, "to_numpy"):
        a = a.to_numpy()
    elif hasattr(a, "numpy") and not isinstance(a, np.ndarray):
        a = a.numpy()
    a = np.asarray(a)
    if a.dtype == object:
        raise NBExplainError(f"{what} is not a rectangular numeric array; encode categorical "
                             "columns as numbers first.")
    return a


def _check_x(x: np.ndarray) -> None:
    if x.ndim < 2 or x.shape[0] == 0:
        raise NBExplainError(f"X has shape {x.shape}; pass a data set of examples shaped "
                             "(N, features...) with at least one row.")
    if x.dtype.kind == "f":
        check_finite(x, "X")


# --- metrics (higher is better) -----------------------------------------------------------------
def _labels(out: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    if out.ndim == 2 and out.shape[1] > 1:
        idx = np.argmax(out, axis=1)
        return classes[idx] if classes is not None else idx
    o = out.reshape(len(out))
    if o.dtype.kind in "iub":
        return o
    thr = 0.5 if (o.min() >= 0 and o.max() <= 1) else 0.0
    lab = (o > thr).astype(np.int64)
    return classes[lab] if classes is not None and len(classes) == 2 else lab


def _regression_pred(out: np.ndarray, target: Any) -> np.ndarray:
    if out.ndim == 1:
        return out.astype(np.float64)
    flat = out.reshape(len(out), -1)
    if flat.shape[1] == 1:
        return flat[:, 0].astype(np.float64)
    if target is None:
        raise NBExplainError(f"the model has {flat.shape[1]} outputs; pass target=<index> to "
                             "choose the one the regression metric scores.")
    return flat[:, int(target)].astype(np.float64)


def _class_index(y: np.ndarray, classes: np.ndarray | None, k: int) -> np.ndarray:
    if classes is not None:
        pos = {c: i for i, c in enumerate(classes.tolist())}
        try:
            return np.array([pos[v] for v in y.tolist()], dtype=np.int64)
        except KeyError as e:
            raise NBExplainError(f"y contains the label {e.args[0]!r}, which is not one of the "
                                 f"model's classes {list(classes)}.") from None
    yi = np.asarray(y)
    if yi.dtype.kind not in "iub" or yi.min() < 0 or yi.max() >= k:
        raise NBExplainError(f"y must hold class indices 0..{k - 1} for this model's {k} "
                             "outputs (or pass a scikit-learn classifier, whose classes_ map "
                             "the labels).")
    return yi.astype(np.int64)


def _neg_log_loss(y, out, classes, target):
    p = out.astype(np.float64)
    if p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1):
        p1 = p.reshape(-1)
        p = np.stack([1 - p1, p1], axis=1)
    p = p.reshape(len(p), -1)
    if p.min() < 0 or p.max() > 1 or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise NBExplainError("log_loss needs probabilities (rows in [0, 1] summing to 1); the "
                             "model returns scores/logits: pass score='probability' to apply "
                             "a softmax, or choose metric='accuracy'.")
    idx = _class_index(np.asarray(y), classes, p.shape[1])
    eps = np.finfo(np.float64).eps
    p = np.clip(p, eps, 1 - eps)
    p = p / p.sum(axis=1, keepdims=True)
    return float(np.mean(np.log(p[np.arange(len(p)), idx])))


def _metric_fn(metric: Any) -> tuple[str, Callable]:
    """(name, fn(y, out, classes, target) -> float, higher is better)."""
    if callable(metric):
        name = getattr(metric, "__name__", "metric")
        return name, lambda y, out, classes, target: float(metric(y, out))
    named: dict[str, Callable] = {
        "accuracy": lambda y, out, c, t: float(np.mean(_labels(out, c) == np.asarray(y))),
        "r2": lambda y, out, c, t: _r2(np.asarray(y, np.float64), _regression_pred(out, t)),
        "neg_mse": lambda y, out, c, t: -float(np.mean(
            (np.asarray(y, np.float64) - _regression_pred(out, t)) ** 2)),
        "neg_rmse": lambda y, out, c, t: -float(np.sqrt(np.mean(
            (np.asarray(y, np.float64) - _regression_pred(out, t)) ** 2))),
        "neg_mae": lambda y, out, c, t: -float(np.mean(
            np.abs(np.asarray(y, np.float64) - _regression_pred(out, t)))),
        "neg_log_loss": _neg_log_loss,
    }
    aliases = {"neg_mean_squared_error": "neg_mse", "neg_root_mean_squared_error": "neg_rmse",
               "neg_mean_absolute_error": "neg_mae", "log_loss": "neg_log_loss",
               "acc": "accuracy"}
    key = aliases.get(str(metric), str(metric))
    if key not in named:
        raise NBExplainError(
            f"unknown metric {metric!r}; use 'accuracy', 'r2', 'neg_mse', 'neg_rmse', "
            "'neg_mae', 'neg_log_loss' (alias 'log_loss'), or a callable metric(y_true, "
            "model_output) -> float where higher is better.")
    return key, named[key]


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    ss_res = float(np.sum((y - p) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0:
        return 1.0 if ss_res == 0 else 0.0
    return 1.0 - ss_res / ss_tot


# --- permutation importance -----------------------------------------------------------------------
@dataclass
class PermutationImportance:
    """``importances`` (F, repeats) = baseline score − score with feature j shuffled."""

    importances_mean: np.ndarray
    importances_std: np.ndarray
    importances: np.ndarray
    baseline_score: float
    feature_names: list[str]
    metric: str

    def plot(self, ax: Any = None, top: int | None = 20):
        """Horizontal bars of the mean importance with ± std across repeats."""
        import matplotlib.pyplot as plt

        order = np.argsort(-self.importances_mean)[:top]
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.3 * len(order) + 1.2))
        ax.barh(np.arange(len(order))[::-1], self.importances_mean[order],
                xerr=self.importances_std[order], color="#4c72b0")
        ax.set_yticks(np.arange(len(order))[::-1],
                      [self.feature_names[i] for i in order])
        ax.set_xlabel(f"drop in {self.metric} when shuffled")
        ax.axvline(0, color="k", lw=0.5)
        return ax

    def save(self, path: str, **kwargs: Any) -> str:
        return _save(self, path, **kwargs)


def _sklearn_seed(seed: Any) -> int:
    if seed is None or isinstance(seed, (int, np.integer)):
        rs = np.random.mtrand._rand if seed is None else np.random.RandomState(int(seed))
    elif isinstance(seed, np.random.RandomState):
        rs = seed
    else:
        raise NBExplainError(f"seed={seed!r}; pass an int, None, or a numpy RandomState (the "
                             "shuffles follow scikit-learn's RandomState use).")
    return int(rs.randint(np.iinfo(np.int32).max + 1))


def permutation_importance(model: Any, X: Any, y: Any, metric: Any = None, *,
                           repeats: int = 5, seed: Any = None, batch_size: int | None = 4096,
                           features: Any = None, feature_names: Sequence[str] | None = None,
                           target: Any = None, score: str = "logit", output: Any = None,
                           framework: str | None = None) -> PermutationImportance:
    """Permutation feature importance with its spread across ``repeats`` shuffles.

    ``metric``: a name — 'accuracy' (argmax of a multi-column output; a single column is
    thresholded at 0.5 when it lies in [0, 1], else at 0), 'r2', 'neg_mse', 'neg_rmse',
    'neg_mae', 'neg_log_loss' (alias 'log_loss'; needs probabilities) — or a callable
    ``metric(y_true, model_output) -> float``, higher is better. Default: 'accuracy' for a
    multi-column output, else 'r2'. ``target`` picks the output column regression metrics
    score. ``features``: None (each column; each position of a sequence; 8×8 patches of an
    image), named groups ``{name: [columns]}`` or index lists (shuffled together), or any
    ``features=`` spec of the Shapley method. ``seed`` follows scikit-learn's
    ``random_state``. Returns :class:`PermutationImportance`.
    """
    if feature_names is None and features is None:
        feature_names = frame_columns(X)
    x = _as_numpy(X, "X")
    _check_x(x)
    yv = _as_numpy(y, "y")
    if len(yv) != len(x):
        raise NBExplainError(f"y has {len(yv)} entries but X has {len(x)} rows; pass one "
                             "target per row.")
    if not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise NBExplainError(f"repeats={repeats!r}; use a positive int (e.g. 5).")
    proba = metric in ("neg_log_loss", "log_loss")
    adapter, classes = _model_adapter(model, proba=proba or metric in (None, "accuracy"),
                                      framework=framework, output=output, score=score)
    bs = int(batch_size) if batch_size else None
    out0 = adapter.predict(x, bs)
    if metric is None:
        metric = "accuracy" if (out0.ndim == 2 and out0.shape[1] > 1) else "r2"
    name, fn = _metric_fn(metric)
    base = fn(yv, out0, classes, target)

    from .methods._features import resolve_features

    layout = guess_layout(x.shape, adapter.channels_first)
    groups = resolve_features(features, x[:1], layout.kind, adapter.channels_first,
                              feature_names)
    if groups.per_example:
        raise NBExplainError("permutation importance needs one grouping for the whole data "
                             "set; per-example groupings (e.g. 'slic') are not supported.")
    gidx = groups.index[0]
    rseed = _sklearn_seed(seed)
    n = len(x)
    scores = np.empty((groups.m, int(repeats)))
    for g in range(groups.m):
        mask = gidx == g
        rs = np.random.RandomState(rseed)
        idx = np.arange(n)
        xp = x.copy()
        copies = []
        for _ in range(int(repeats)):
            rs.shuffle(idx)
            sel = xp[:, mask]
            xp[:, mask] = sel[idx]
            copies.append(xp.copy())
        out = adapter.predict(np.concatenate(copies), bs)
        for r in range(int(repeats)):
            scores[g, r] = fn(yv, out[r * n:(r + 1) * n], classes, target)
    imp = base - scores
    return PermutationImportance(importances_mean=imp.mean(axis=1),
                                 importances_std=imp.std(axis=1), importances=imp,
                                 baseline_score=float(base), feature_names=list(groups.names),
                                 metric=name)


# --- partial dependence -------------------------------------------------------------------------
@dataclass
class PartialDependence:
    """``average`` (n_targets, *grid lengths); ``individual`` (n_targets, N, *grid lengths)."""

    grid_values: list
    average: np.ndarray | None
    individual: np.ndarray | None
    features: tuple
    feature_names: list[str]
    targets: list = field(default_factory=list)

    def plot(self, ax: Any = None, target_index: int = 0, ice: bool = True,
             max_ice: int = 50, seed: int = 0):
        """One feature: ICE curves (grey, a random subset of ``max_ice``) and the average
        (bold). Two features: filled contours of the average."""
        import matplotlib.pyplot as plt

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
            ax.plot(g, avg, color="C3", lw=2.5, label="average")
            ax.set_xlabel(self.feature_names[0])
            ax.set_ylabel("model output")
        else:
            avg = (self.average[target_index] if self.average is not None
                   else self.individual[target_index].mean(axis=0))
            cs = ax.contourf(self.grid_values[0], self.grid_values[1], avg.T, levels=12,
                             cmap="viridis")
            plt.colorbar(cs, ax=ax)
            ax.set_xlabel(self.feature_names[0])
            ax.set_ylabel(self.feature_names[1])
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


def partial_dependence(model: Any, X: Any, features: Any, *, grid: Any = None,
                       grid_resolution: int = 100, percentiles: Sequence[float] = (0.05, 0.95),
                       kind: str = "both", target: Any = None, batch_size: int | None = 4096,
                       feature_names: Sequence[str] | None = None, score: str = "logit",
                       output: Any = None, framework: str | None = None) -> PartialDependence:
    """Partial dependence of the model output on one or two columns of tabular ``X``, with
    the individual conditional expectation (ICE) curves.

    ``features``: a column (index or name) or a pair. ``grid``: custom values — an array for
    one feature, a list of arrays for two. ``target``: the output column(s) to keep (default
    all; a scikit-learn binary classifier keeps the positive class, as scikit-learn does).
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
    adapter, classes = _model_adapter(model, proba=True, framework=framework, output=output,
                                      score=score)
    xf = x if x.dtype.kind == "f" else x.astype(np.float64)
    n, p = len(xf), len(points)
    per = max(1, (int(batch_size) if batch_size else n * p) // n)
    preds = []
    for j in range(0, p, per):
        pts = points[j:j + per]
        rows = np.repeat(xf[None], len(pts), axis=0)                   # c, N, F
        for k, col in enumerate(fidx):
            rows[:, :, col] = pts[:, k][:, None]
        out = adapter.predict(rows.reshape(-1, nf), None)
        preds.append(out.reshape((len(pts), n) + out.shape[1:]))
    pred = np.concatenate(preds)                                        # P, N, (K)
    if pred.ndim == 2:
        pred = pred[:, :, None]
    pred = pred.reshape(p, n, -1).astype(np.float64)
    k = pred.shape[2]
    if target is None:
        tg = [1] if (is_sk and classes is not None and k == 2) else list(range(k))
    else:
        tg = [int(t) for t in (target if isinstance(target, (list, tuple, np.ndarray))
                               else [target])]
        if any(not 0 <= t < k for t in tg):
            raise NBExplainError(f"target {target!r} is out of range: the model has {k} "
                                 f"outputs (0..{k - 1}).")
    shape = [len(v) for v in values]
    ind = np.transpose(pred[:, :, tg], (2, 1, 0)).reshape([len(tg), n] + shape)
    names = [feature_names[j] if feature_names is not None else f"x{j}" for j in fidx]
    return PartialDependence(
        grid_values=values,
        average=ind.mean(axis=1) if kind in ("average", "both") else None,
        individual=ind if kind in ("individual", "both") else None,
        features=tuple(fidx), feature_names=names, targets=tg)


def _save(result: Any, path: str, **kwargs: Any) -> str:
    import os

    import matplotlib.pyplot as plt

    ext = os.path.splitext(str(path))[1].lower()
    if ext not in (".png", ".svg", ".pdf"):
        raise NBExplainError(f"cannot save to {path!r}: use a .png, .svg or .pdf file name.")
    ax = result.plot(**kwargs)
    fig = ax.figure
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)
