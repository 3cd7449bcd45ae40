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
from .backends.base import (Adapter, check_frame_columns, check_probability_score,
                            frame_columns, guess_layout, host_array)
from .export import LITERAL
from .methods._features import names_columns


# --- models ------------------------------------------------------------------------------------
def _is_sklearn_estimator(model: Any) -> bool:
    return not callable(model) and hasattr(model, "fit") and (
        hasattr(model, "predict") or hasattr(model, "predict_proba"))


def _is_classifier(model: Any) -> bool:
    if hasattr(model, "classes_"):
        return True
    try:
        from sklearn.base import is_classifier
    except ImportError:  # pragma: no cover - an estimator-like object without scikit-learn
        return getattr(model, "_estimator_type", None) == "classifier"
    try:
        return bool(is_classifier(model))
    except Exception:  # noqa: BLE001 - a duck-typed estimator scikit-learn cannot inspect
        return False


# the bound methods of a fitted classifier whose output columns follow its classes_
_CLASS_METHODS = {"predict_proba": "proba", "predict_log_proba": "log_proba",
                  "decision_function": "decision", "predict": "predict"}


def _bound_classes(model: Any) -> tuple[np.ndarray | None, str | None]:
    """(classes_, kind) of a bound method of a fitted classifier (``clf.predict_proba``),
    else (None, None)."""
    owner = getattr(model, "__self__", None)
    kind = _CLASS_METHODS.get(getattr(model, "__name__", ""))
    classes = getattr(owner, "classes_", None) if owner is not None else None
    if kind is None or classes is None or isinstance(classes, list):
        return None, None          # a multi-output classifier: one classes_ per output
    try:
        c = np.asarray(classes)
    except ValueError:  # ragged
        return None, None
    if c.ndim != 1:
        return None, None
    if kind == "decision" and _one_vs_one(owner, c):
        return None, None          # its columns are pairs of classes, not classes
    return c, kind


def _one_vs_one(owner: Any, classes: np.ndarray) -> bool:
    """Whether a classifier's decision_function columns are class pairs (SVC/NuSVC with
    decision_function_shape='ovo' and more than two classes)."""
    return getattr(owner, "decision_function_shape", None) == "ovo" and len(classes) > 2


def _positions(values: Any, classes: np.ndarray, missing: int) -> np.ndarray:
    """The index of each value in ``classes`` (``missing`` where it is not one of them)."""
    v = np.asarray(values).reshape(-1)
    try:
        order = np.argsort(classes, kind="stable")
        sc = classes[order]
        i = np.clip(np.searchsorted(sc, v), 0, len(sc) - 1)
        hit = np.asarray(sc[i] == v)
        if hit.dtype == bool and hit.shape == v.shape:
            return np.where(hit, order[i], missing).astype(np.int64)
    except Exception:  # noqa: BLE001 - labels numpy cannot sort or compare: a dict lookup
        pass
    pos: dict = {}
    for i, c in enumerate(classes.tolist()):
        pos.setdefault(c, i)
    return np.array([pos.get(a, missing) for a in v.tolist()], dtype=np.int64)


def class_label_target(model: Any, target: Any) -> Any:
    """``target`` with class labels replaced by the output columns that score them, for a
    bound method of a fitted scikit-learn classifier (``clf.predict_proba``,
    ``predict_log_proba``, ``decision_function``), whose columns follow ``clf.classes_``:
    ``attribute(clf.predict_proba, X, target="virginica")`` explains the column of that
    class, as ``partial_dependence`` does. Ints stay output columns (as everywhere); an int
    past the columns that is a class label gets a message naming its column. Other models,
    and targets that are not labels, pass through unchanged (the usual checks follow)."""
    if target is None or callable(target) or (isinstance(target, str)
                                              and target == "predicted"):
        return target
    classes, kind = _bound_classes(model)
    if classes is None or kind not in ("proba", "log_proba", "decision"):
        owner = getattr(model, "__self__", None)
        own = getattr(owner, "classes_", None)
        if (getattr(model, "__name__", "") == "decision_function"
                and isinstance(own, np.ndarray) and own.ndim == 1
                and _one_vs_one(owner, own) and not _is_int_like(target)):
            raise NBExplainError(
                f"target {target!r}: this classifier's decision_function "
                "(decision_function_shape='ovo') scores pairs of classes, so a class label "
                "names none of its columns. Use predict_proba, or decision_function_shape="
                "'ovr' (one column per class), or pass a column index.")
        return target
    try:
        arr = np.asarray(target)
    except Exception:  # noqa: BLE001 - ragged or odd: the usual message explains
        return target
    if arr.ndim > 1 or (arr.dtype.kind in "bf" and arr.dtype.kind != classes.dtype.kind):
        # booleans and floats are labels only of a classifier fitted on them (a float
        # target of an int-labelled classifier is refused as before, not read as a label)
        return target
    binary_decision = kind == "decision" and len(classes) == 2
    n_cols = 1 if binary_decision else len(classes)
    if arr.dtype.kind in "iu":
        past = [int(t) for t in arr.reshape(-1).tolist() if not 0 <= int(t) < n_cols]
        if past and past[0] in classes.tolist():
            t = past[0]
            pos = classes.tolist().index(t)
            col = pos - 1 if binary_decision else pos
            where = (f"its column is target={col}" if col >= 0 else
                     "the decision function scores the positive class "
                     f"{classes.tolist()[1]!r} only (explain {t!r} with "
                     "target=lambda out: -out)")
            raise NBExplainError(
                f"target {t} is out of range: the model has {n_cols} output column(s) "
                f"(0..{n_cols - 1}), and an int target is a column; {t!r} is a class label "
                f"of the model: {where}. Labels can also be passed as they are "
                "(e.g. target=clf.classes_[i]).")
        return target
    pos = _positions(arr, classes, -1)
    if (pos < 0).any():
        bad = arr.reshape(-1)[int(np.flatnonzero(pos < 0)[0])].item()
        raise NBExplainError(
            f"target {bad!r} is not one of the model's classes {classes.tolist()}; pass one "
            "of them, an output column index, 'predicted', or a callable on the output.")
    if binary_decision:
        if (pos == 0).any():
            neg, posc = classes.tolist()
            raise NBExplainError(
                f"target {neg!r}: the binary classifier's decision_function scores the "
                f"positive class {posc!r} only (one column); explain {neg!r} with "
                "target=lambda out: -out, or use predict_proba.")
        pos = pos - 1
    return int(pos[0]) if arr.ndim == 0 else pos


def _is_int_like(target: Any) -> bool:
    """An int, bool or array of them (column indices, not labels)."""
    try:
        return np.asarray(target).dtype.kind in "iub"
    except Exception:  # noqa: BLE001 - ragged: not a plain index
        return False


class _PredictIndex:
    """A classifier's ``predict`` that returns the position of each predicted label in
    ``classes`` — numbers, whatever the labels are (strings too). ``__self__`` is the
    estimator, so the numpy adapter still hands a model fitted on a DataFrame its columns."""

    __name__ = "predict"

    def __init__(self, predict: Callable, classes: np.ndarray):
        self.__self__ = getattr(predict, "__self__", None)
        self._predict, self._classes = predict, classes

    def __call__(self, x: Any) -> np.ndarray:
        lab = self._predict(x)
        if hasattr(lab, "to_numpy"):
            lab = lab.to_numpy()
        lab = np.asarray(lab)
        if lab.ndim == 2 and lab.shape[1] == 1:
            lab = lab[:, 0]
        if lab.ndim != 1:
            raise NBExplainError(f"the classifier's predict returned shape {lab.shape}; "
                                 "accuracy needs one label per example.")
        return _positions(lab, self._classes, -1)


def _model_adapter(model: Any, *, response: str, framework: str | None, output: Any,
                   score: str) -> tuple[Adapter, np.ndarray | None, str | None]:
    """(adapter, classes, kind) for a model.

    ``response`` says which method of a scikit-learn estimator to call:

    * 'auto' (partial dependence, scikit-learn's ``response_method='auto'``): predict_proba,
      else decision_function for a classifier, else predict;
    * 'label' (accuracy, scikit-learn's accuracy scorer): a classifier's predict, returned as
      the positions of the predicted labels in ``classes`` (kind 'index');
    * 'proba' (log loss): predict_proba, required;
    * 'output' (regression metrics, callable metrics): predict_proba of a classifier, else
      predict.

    ``classes`` are the estimator's ``classes_`` when its output columns follow them (also for
    a bound method such as ``clf.predict_proba``), else None. ``kind`` says what the output
    is: 'proba', 'log_proba', 'decision', 'predict', 'index', or None (a model nbexplain
    knows nothing about)."""
    from .backends.numpy import NumpyAdapter

    if _is_sklearn_estimator(model):
        name = type(model).__name__
        is_clf = _is_classifier(model)
        classes = getattr(model, "classes_", None)
        classes = None if classes is None or np.ndim(classes) != 1 else np.asarray(classes)
        has = {m: hasattr(model, m) for m in ("predict_proba", "decision_function", "predict")}
        if response == "proba":
            if not has["predict_proba"]:
                raise NBExplainError(
                    f"metric 'neg_log_loss' needs predicted probabilities, and {name} has no "
                    "predict_proba; use metric='accuracy', or calibrate the classifier "
                    "(sklearn.calibration.CalibratedClassifierCV) to get probabilities.")
            fn, kind = model.predict_proba, "proba"
        elif response == "label" and is_clf and classes is not None and has["predict"]:
            fn, kind = _PredictIndex(model.predict, classes), "index"
        elif has["predict_proba"] and (response in ("auto", "label") or classes is not None):
            fn, kind = model.predict_proba, "proba"
        elif response in ("auto", "label") and is_clf and has["decision_function"]:
            fn, kind = model.decision_function, "decision"
            if classes is not None and _one_vs_one(model, classes):
                classes = None     # columns are pairs of classes: labels name none of them
        elif has["predict"]:
            fn, kind, classes = model.predict, "predict", None
        else:
            fn, kind = model.decision_function, "decision"
        if response == "auto" and is_clf and kind == "predict":
            raise NBExplainError(
                f"partial dependence of the classifier {name} needs predict_proba or "
                "decision_function (as in scikit-learn); it has neither.")
        # predicted labels are not scores: score='probability' (a softmax) is not applied
        return (NumpyAdapter(fn, output=output, score="logit" if kind == "index" else score),
                classes, kind)
    classes, kind = _bound_classes(model)
    if kind == "predict":
        if response == "label" and framework in (None, "numpy"):
            return (NumpyAdapter(_PredictIndex(model, classes), output=output,
                                 score="logit"), classes, "index")
        classes = None    # labels, not columns
    return get_adapter(model, framework, output=output, score=score), classes, kind


def _check_score(adapter: Adapter, x: np.ndarray) -> None:
    """score='probability' is refused for a model that already returns probabilities
    (e.g. predict_proba): the softmax of probabilities is not what anyone means."""
    if adapter.score == "probability" and len(x):
        check_probability_score(adapter, np.asarray(adapter.predict(x[:2], None,
                                                                    score="logit")))


def _to_host(a: Any) -> np.ndarray:
    """A torch tensor (any device), pandas object or TF tensor as a numpy array."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):
        a = a.detach().cpu()
        a = (a.float() if str(a.dtype) == "torch.bfloat16" else a).numpy()
    elif hasattr(a, "columns") and hasattr(a, "to_numpy"):
        a = host_array(a)
    elif hasattr(a, "to_numpy"):
        a = a.to_numpy()
    elif hasattr(a, "numpy") and not isinstance(a, np.ndarray):
        a = a.numpy()
    return np.asarray(a)


def _as_numpy(a: Any, what: str) -> np.ndarray:
    a = _to_host(a)
    if a.dtype == object:
        raise NBExplainError(f"{what} is not a rectangular numeric array; encode categorical "
                             "columns as numbers first.")
    return a


def _as_targets(y: Any, n: int, flatten: bool) -> np.ndarray:
    """``y`` as a numpy array of n entries: labels may be strings (a pandas column of strings
    is an object array); with ``flatten`` (the named metrics) an (N, 1) y becomes (N,), as
    scikit-learn's column_or_1d does, and any other shape is refused."""
    yv = _to_host(y)
    if yv.ndim == 0 or len(yv) != n:
        got = "is a scalar" if yv.ndim == 0 else f"has {len(yv)} entries"
        raise NBExplainError(f"y {got} but X has {n} rows; pass one target per row.")
    if flatten:
        if yv.ndim == 2 and yv.shape[1] == 1:
            yv = yv[:, 0]
        if yv.ndim != 1:
            raise NBExplainError(
                f"y has shape {yv.shape}; the named metrics take one target per row, an (N,) "
                "or (N, 1) array. For several targets pass a callable metric(y_true, "
                "model_output).")
    if yv.dtype == object and yv.ndim == 1 and any(
            isinstance(v, (list, tuple, np.ndarray)) for v in yv[:100].tolist()):
        raise NBExplainError("y holds sequences; pass one label or value per row.")
    return yv


def _check_x(x: np.ndarray) -> None:
    """NaN may mark missing values for a model that handles them (HistGradientBoosting,
    as scikit-learn allows); the model's output is checked instead (``_check_output``).
    Infinite values are refused."""
    if x.ndim < 2 or x.shape[0] == 0:
        raise NBExplainError(f"X has shape {x.shape}; pass a data set of examples shaped "
                             "(N, features...) with at least one row.")
    if x.dtype.kind == "f" and np.isinf(x).any():
        raise NBExplainError(f"X contains {int(np.isinf(x).sum())} infinite value(s); "
                             "replace them (e.g. np.nan_to_num, or NaN for a model that "
                             "handles missing values).")


def _check_output(out: np.ndarray, x: np.ndarray) -> None:
    """The model's answers on X must be numbers: NaN in X is fine only for a model that
    handles missing values."""
    if out.dtype.kind == "f" and not np.isfinite(out).all():
        bad = int(out.shape[0] - np.count_nonzero(
            np.isfinite(out.reshape(out.shape[0], -1)).all(axis=1)))
        nan_x = int(np.isnan(x).sum()) if x.dtype.kind == "f" else 0
        why = (f"X contains {nan_x} NaN value(s) and the model does not handle missing "
               "values: impute them first (e.g. sklearn.impute.SimpleImputer), or use a model "
               "that does (e.g. HistGradientBoosting)" if nan_x else
               "the model overflowed on these rows")
        raise NBExplainError(f"the model returned NaN or infinite scores for {bad} of the "
                             f"{out.shape[0]} rows of X: {why}.")


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
                      [self.feature_names[i] for i in order], **LITERAL)
        ax.set_xlabel(f"drop in {self.metric} when shuffled", **LITERAL)
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
    response = {"neg_log_loss": "proba", "accuracy": "label"}.get(key, "output")
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
            scores[g, r] = fn(yv, out[r * n:(r + 1) * n], classes, target, kind)
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
            ax.set_xlabel(self.feature_names[0], **LITERAL)
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
            ax.set_xlabel(self.feature_names[0], **LITERAL)
            ax.set_ylabel(self.feature_names[1], **LITERAL)
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
        for k, col in enumerate(fidx):
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
