"""Shared helpers of the data-set (global) methods, :func:`permutation_importance` and
:func:`partial_dependence`.

Both take a model — a torch module, a Keras model, a numpy callable such as
``clf.predict_proba``, or a fitted scikit-learn estimator — and a data set ``X``, evaluate the
model on modified copies of ``X`` in batches of ``batch_size`` rows, and return a small result
object with ``.plot()`` and ``.save(path)``. Here: the adapter for such a model, ``X`` and
``y`` as numpy arrays with their checks, and saving a result's figure. These methods are not
per-example methods: they are not registered (not in ``available_methods()``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import NBExplainError
from .._sklearn import (_PredictIndex, _bound_classes, _is_classifier, _is_sklearn_estimator,
                        _one_vs_one)
from ..backends import get_adapter
from ..backends.base import Adapter, check_probability_score, host_array


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
    from ..backends.numpy import NumpyAdapter

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
    classes, kind = _bound_classes(model)  # type: ignore[assignment]  # (None, None): not bound
    if kind == "predict":
        if response == "label" and framework in (None, "numpy"):
            return (NumpyAdapter(_PredictIndex(model, classes),  # type: ignore[arg-type]
                                 output=output,
                                 score="logit"), classes, "index")
        classes = None    # labels, not columns
    return get_adapter(model, framework, output=output, score=score), classes, kind


def _check_score(adapter: Adapter, x: np.ndarray) -> None:
    """score='probability' is refused for a model that already returns probabilities
    (e.g. predict_proba): the softmax of probabilities is not what anyone means."""
    if adapter.score == "probability" and len(x):
        check_probability_score(adapter, np.asarray(adapter.predict(x[:2], None,
                                                                    score="logit")))


def _as_numpy(a: Any, what: str) -> np.ndarray:
    a = host_array(a, labels=True)
    if a.dtype == object:
        raise NBExplainError(f"{what} is not a rectangular numeric array; encode categorical "
                             "columns as numbers first.")
    return a


def _as_targets(y: Any, n: int, flatten: bool) -> np.ndarray:
    """``y`` as a numpy array of n entries: labels may be strings (a pandas column of strings
    is an object array); with ``flatten`` (the named metrics) an (N, 1) y becomes (N,), as
    scikit-learn's column_or_1d does, and any other shape is refused."""
    yv = host_array(y, labels=True)
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

def _save(result: Any, path: str, **kwargs: Any) -> str:
    import os

    import matplotlib.pyplot as plt

    ext = os.path.splitext(str(path))[1].lower()
    if ext not in (".png", ".svg", ".pdf"):
        raise NBExplainError(f"cannot save to {path!r}: use a .png, .svg or .pdf file name.")
    from ..provenance import savefig_metadata, versions

    ax = result.plot(**kwargs)
    fig = ax.figure
    fig.tight_layout()
    prov = {"method": type(result).__name__, "features": list(result.feature_names),
            "versions": versions(), **getattr(result, "provenance", {})}
    fig.savefig(path, metadata=savefig_metadata(prov, ext))
    plt.close(fig)
    return str(path)
