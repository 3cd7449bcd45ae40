"""scikit-learn's class labels: which output columns of a fitted classifier (or of its bound
method, e.g. ``clf.predict_proba``) score which class, and targets given as class labels.

Duck-typed: scikit-learn is imported only to ask whether an estimator is a classifier."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np

from ._errors import NBExplainError, user_stacklevel


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
    for k, c in enumerate(classes.tolist()):
        pos.setdefault(c, k)
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


def warn_class_ids(model: Any) -> None:
    """Warn when the model is a classifier's ``predict``: it returns class ids (labels), which
    the perturbation methods would explain as if they were numbers on a scale."""
    owner = getattr(model, "__self__", None)
    if getattr(model, "__name__", None) != "predict" or owner is None:
        return
    if getattr(owner, "classes_", None) is None or not _is_classifier(owner):
        return
    name = type(owner).__name__
    better = "predict_proba" if hasattr(owner, "predict_proba") else "decision_function"
    warnings.warn(
        f"{name}.predict returns class ids, not scores: the attributions would treat the ids "
        f"as numbers (class 2 'twice' class 1), which means nothing. Explain {name}."
        f"{better} instead, with target= the class to explain.", stacklevel=user_stacklevel())
