"""Permutation feature importance of a model on a data set.

Breiman (2001), "Random Forests", https://doi.org/10.1023/A:1010933404324 ; Fisher, Rudin,
Dominici (2019), https://arxiv.org/abs/1801.01489 :

    I_j = s(f, X, y) − s(f, X with feature j shuffled across rows, y)

averaged over ``repeats`` shuffles (higher scores are better, so a large drop means an
important feature). The shuffles reproduce scikit-learn's random number use exactly
(``sklearn.inspection.permutation_importance``): one int drawn from ``RandomState(seed)``,
then, for every feature, a fresh ``RandomState`` of that int whose ``shuffle`` of the row
indices is applied cumulatively, repeat after repeat. With the same ``seed`` and ``repeats``
the importances therefore agree with scikit-learn's.

A data-set method (see ``_dataset.py``), exported as ``nbexplain.permutation_importance``; not
a registered per-example method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .._errors import NBExplainError
from .._sklearn import _bound_classes, _is_classifier, _is_sklearn_estimator, _positions
from ..backends.base import check_frame_columns, frame_columns, guess_layout
from ..export import LITERAL, plain
from ._dataset import (_as_numpy, _as_targets, _check_output, _check_score, _check_x,
                       _model_adapter, _save)
from ._features import names_columns


# --- metrics (higher is better) -----------------------------------------------------------------
def _preview(v: np.ndarray) -> list:
    u = list(dict.fromkeys(np.asarray(v).reshape(-1).tolist()))
    return u[:5] + (["..."] if len(u) > 5 else [])


def _column_labels(y: np.ndarray, k: int, what: str) -> np.ndarray:
    """y as output-column indices 0..k-1 (a model whose classes nbexplain cannot read)."""
    yv = np.asarray(y).reshape(-1)
    ok = yv.dtype.kind in "iub" or (yv.dtype.kind == "f" and bool(
        np.all(np.isfinite(yv)) and np.all(yv == np.round(yv))))
    if ok and yv.size and (yv.min() < 0 or yv.max() >= k):
        ok = False
    if not ok:
        cols = "0 or 1 (the output is one score per example)" if k == 2 and what == "score" \
            else f"0..{k - 1} (the model has {k} output columns)"
        raise NBExplainError(
            f"y holds {_preview(yv)}, which are not column indices {cols}, and the model's "
            "classes are unknown, so they cannot be mapped to its output. Pass the fitted "
            "scikit-learn estimator or its bound method (e.g. clf.predict_proba), whose "
            "clf.classes_ map labels to columns, or encode y as integers 0..K-1 in the order "
            "of the model's outputs.")
    return yv.astype(np.int64)


def _class_index(y: np.ndarray, classes: np.ndarray | None, k: int) -> np.ndarray:
    if classes is not None:
        if len(classes) != k:
            raise NBExplainError(f"the model has {k} output columns but {len(classes)} "
                                 f"classes {list(classes)}.")
        idx = _positions(y, classes, -1)
        if (idx < 0).any():
            bad = np.asarray(y).reshape(-1)[idx < 0][0]
            raise NBExplainError(f"y contains the label {bad!r}, which is not one of the "
                                 f"model's classes {list(classes)}.")
        return idx
    return _column_labels(y, k, "column")


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


def _numeric_y(y: np.ndarray, metric: str) -> np.ndarray:
    try:
        return np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise NBExplainError(f"metric {metric!r} needs numeric y; y holds {_preview(y)}. For "
                             "class labels use metric='accuracy' or 'neg_log_loss'.") from None


def _neg_log_loss(y, out, classes, target, kind):
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


def _accuracy(y, out, classes, target, kind):
    """Share of rows whose predicted class is y's: the labels a classifier's predict returns
    ('index': their positions in ``classes``), else the argmax column of a multi-column
    output, or one score thresholded (0 for a decision function, 0.5 for a probability; else
    0.5 when the scores lie in [0, 1], 0 otherwise). Columns are mapped to labels through
    ``classes`` when known; otherwise y must hold the column indices."""
    if kind == "index":
        return float(np.mean(out.reshape(-1) == _positions(y, classes, -2)))
    o = out.reshape(len(out), -1) if out.ndim > 1 else out
    if o.ndim == 2 and o.shape[1] > 1:
        idx, k = np.argmax(o, axis=1), o.shape[1]
    else:
        o = o.reshape(len(o))
        if o.dtype.kind in "iub" and kind not in ("proba", "log_proba", "decision"):
            return float(np.mean(o == np.asarray(y).reshape(-1)))   # a predict function: labels
        if kind == "decision" or kind == "log_proba":
            thr = 0.0 if kind == "decision" else np.log(0.5)
        elif kind == "proba":
            thr = 0.5
        else:
            thr = 0.5 if (o.min() >= 0 and o.max() <= 1) else 0.0
        idx, k = (o > thr).astype(np.int64), 2
    if classes is not None:
        if len(classes) != k:
            raise NBExplainError(f"the model has {k} outputs but {len(classes)} classes "
                                 f"{list(classes)}; accuracy cannot map them to labels.")
        return float(np.mean(idx == _positions(y, classes, -2)))
    return float(np.mean(idx == _column_labels(y, k, "column" if o.ndim == 2 else "score")))


def _metric_fn(metric: Any) -> tuple[str, Callable]:
    """(name, fn(y, out, classes, target, kind) -> float, higher is better)."""
    if callable(metric):
        name = getattr(metric, "__name__", "metric")
        return name, lambda y, out, classes, target, kind: float(metric(y, out))

    def reg(f):
        return lambda y, out, c, t, k: f(y, _regression_pred(out, t))

    named: dict[str, Callable] = {
        "accuracy": _accuracy,
        "r2": reg(_r2),
        "neg_mse": reg(lambda y, p: -float(np.mean((y - p) ** 2))),
        "neg_rmse": reg(lambda y, p: -float(np.sqrt(np.mean((y - p) ** 2)))),
        "neg_mae": reg(lambda y, p: -float(np.mean(np.abs(y - p)))),
        "neg_log_loss": _neg_log_loss,
    }
    key = _metric_key(metric)
    if key not in named:
        raise NBExplainError(
            f"unknown metric {metric!r}; use 'accuracy', 'r2', 'neg_mse', 'neg_rmse', "
            "'neg_mae', 'neg_log_loss' (alias 'log_loss'), or a callable metric(y_true, "
            "model_output) -> float where higher is better.")
    return key, named[key]


def _metric_key(metric: Any) -> str:
    aliases = {"neg_mean_squared_error": "neg_mse", "neg_root_mean_squared_error": "neg_rmse",
               "neg_mean_absolute_error": "neg_mae", "log_loss": "neg_log_loss",
               "acc": "accuracy"}
    return aliases.get(str(metric), str(metric))


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    ss_res = float(np.sum((y - p) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0:
        return 1.0 if ss_res == 0 else 0.0
    return 1.0 - ss_res / ss_tot


# --- permutation importance ----------------------------------------------------------------------
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
                      [plain(self.feature_names[i]) for i in order], **LITERAL)
        ax.set_xlabel(plain(f"drop in {self.metric} when shuffled"), **LITERAL)
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

    ``metric``: a name — 'accuracy', 'r2', 'neg_mse', 'neg_rmse', 'neg_mae',
    'neg_log_loss' (alias 'log_loss'; needs probabilities) — or a callable
    ``metric(y_true, model_output) -> float``, higher is better. Default: as scikit-learn's
    ``estimator.score``, 'accuracy' for a classifier (a scikit-learn classifier or a bound
    method of one) and 'r2' for a regressor; for other models 'accuracy' for a multi-column
    output, else 'r2'. 'accuracy' scores a scikit-learn classifier's ``predict`` (labels of any
    type, strings too); for other models it takes the argmax of a multi-column output, or
    thresholds a single column (at 0.5 when it lies in [0, 1], else at 0), and maps the
    columns to labels through the classes of a bound method such as ``clf.predict_proba``;
    a model whose classes are unknown needs y as column indices 0..K-1. ``y``: one target per
    row, (N,) or (N, 1) (a callable metric gets y as given). ``target`` picks the output column
    regression metrics score. ``features``: None (each column; each position of a sequence;
    8×8 patches of an image), named groups ``{name: [columns]}`` or index lists (shuffled
    together; a DataFrame's column names may be used), or any ``features=`` spec of the
    Shapley method. ``seed`` follows scikit-learn's ``random_state``. Returns
    :class:`PermutationImportance`.
    """
    if feature_names is None and names_columns(features):
        feature_names = frame_columns(X)    # a DataFrame's columns: usable in features=
    x = _as_numpy(X, "X")
    _check_x(x)
    if not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise NBExplainError(f"repeats={repeats!r}; use a positive int (e.g. 5).")
    yv = _as_targets(y, len(x), flatten=not callable(metric))
    if metric is not None:
        _metric_fn(metric)      # an unknown name fails before the model runs
    elif _is_sklearn_estimator(model):
        # scikit-learn scores with the estimator's score(): accuracy for a classifier (on its
        # predict), r2 for a regressor
        metric = "accuracy" if _is_classifier(model) else "r2"
    elif _bound_classes(model)[0] is not None:
        metric = "accuracy"     # a bound method of a fitted classifier (clf.predict, ...)
    key = None if metric is None or callable(metric) else _metric_key(metric)
    response = {"neg_log_loss": "proba", "accuracy": "label"}.get(key or "", "output")
    adapter, classes, kind = _model_adapter(model, response=response, framework=framework,
                                            output=output, score=score)
    check_frame_columns(adapter._names_in, frame_columns(X), "X")
    _check_score(adapter, x)
    bs = int(batch_size) if batch_size else None
    out0 = adapter.predict(x, bs)
    _check_output(np.asarray(out0), x)
    if metric is None:
        metric = "accuracy" if (out0.ndim == 2 and out0.shape[1] > 1) else "r2"
    name, fn = _metric_fn(metric)
    if name in ("r2", "neg_mse", "neg_rmse", "neg_mae"):
        yv = _numeric_y(yv, name)
    base = fn(yv, out0, classes, target, kind)

    from ._features import resolve_features

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
            scores[g, r] = fn(yv, out[r * n:(r + 1) * n], classes, target, kind)
    imp = base - scores
    return PermutationImportance(importances_mean=imp.mean(axis=1),
                                 importances_std=imp.std(axis=1), importances=imp,
                                 baseline_score=float(base), feature_names=list(groups.names),
                                 metric=name)
