"""``attribute``, ``explain`` and ``show``: the public entry points."""

from __future__ import annotations

import math
import time
import warnings
from typing import TYPE_CHECKING, Any, Iterator, Union

import numpy as np

from ._attribution import Attribution

if TYPE_CHECKING:   # the widget classes import anywidget: only for the annotations
    from .widgets.explainer import Explainer
    from .widgets.global_view import GlobalExplainer
    from .widgets.sequence import SequenceExplainer, TextExplainer
    from .widgets.table import TableExplainer

    View = Union[Explainer, TableExplainer, SequenceExplainer, TextExplainer]
from ._errors import NBExplainError, user_stacklevel
from .backends import get_adapter, guess_layout
from ._inputs import prepare_inputs, resolve_target
from .backends.base import (align_frame, check_frame_columns, frame_columns, host_array,
                            series_names)
from .methods import get_method, iterate
from .methods._common import as_whole
from .methods._features import names_columns
from .provenance import record


def _warn_non_finite(values: np.ndarray, method: str) -> None:
    """A warning naming how many attribution values are inf or NaN (the inputs were checked:
    the model overflowed, e.g. exp of a large logit in float32). One sum decides that all
    are finite; only a non-finite (or overflowing) sum pays for this count."""
    bad = int(values.size - np.count_nonzero(np.isfinite(values)))
    if bad:
        warnings.warn(
            f"{bad} of the {values.size} {method} values are not finite (inf or NaN): the "
            "model's output or gradient overflowed for these inputs (e.g. exp of a large "
            "value in float32). Plots and the widget leave them blank; a float64 copy of the "
            "model (model.double()), or a score that does not overflow, gives finite values.",
            stacklevel=user_stacklevel())


def attribute(model: Any, inputs: Any, method: str = "saliency", target: Any = "predicted",
              baseline: Any = None, *, framework: str | None = None, output: Any = None,
              score: str = "logit", batched: bool | None = None,
              channels_first: bool | None = None, **options: Any) -> Attribution:
    """Compute attributions without any widget.

    Parameters
    ----------
    model: a torch ``nn.Module``, a Keras model or ``tf.Module``, or a function: of numpy
        arrays (e.g. scikit-learn's ``clf.predict_proba``; perturbation methods only), or of
        torch / TensorFlow tensors with ``framework="torch"`` / ``"tensorflow"``.
    inputs: a batch, or a single example (a batch axis is added and removed again).
    method: one of :func:`nbexplain.available_methods`; its options go in ``**options``
        (e.g. ``steps=``, ``rule=`` for integrated_gradients, ``window=`` for occlusion,
        ``layer=`` for grad_cam): the README's method table lists them, and an option the
        method does not take is an error that lists the ones it does.
    baseline: the reference input of the methods that have one (integrated_gradients,
        occlusion, shapley, lime): a number, an array of one example's or the batch's shape,
        or a preset (integrated_gradients: ``'black'``, ``'white'``, ``('blur', sigma)``,
        ``'uniform'``, ``'mean'`` with ``data=``).
    target: an int class, one int per example, ``"predicted"``, or a callable on the output
        returning one score per example. For a scikit-learn classifier's bound method
        (``clf.predict_proba``, ``predict_log_proba``, ``decision_function``) a class label
        (or one per example) also works: ``target="virginica"`` explains the column of that
        class in ``clf.classes_``; an int is always a column. A model with one output column
        (a binary classifier with one logit) has one score, target 0, whatever it predicts;
        explain the other class with ``target=lambda out: -out[:, 0]`` (or ``1 - p`` with
        ``score="probability"``).
    output: selects one output of a model returning a tuple or dict.
    batched: whether ``inputs`` has a batch axis. None (the default) decides: a 1-axis input
        is one example; a C×H×W image for a Conv2d model, or a T×D sequence for a model with
        recurrent or attention layers, is one example; otherwise the model is tried on one
        row. A model made only of Linear layers also runs a T×D sequence as T rows, so pass
        ``batched=False`` to explain one sequence with it (the result's
        ``extras["single"]`` says which was used).
    channels_first: the image layout of a plain numpy function (True, the default: N×C×H×W;
        False: N×H×W×C). torch and Keras models know their own layout.
    score: ``"logit"`` (the raw output) or ``"probability"`` (softmax over the last axis; the
        sigmoid when the model gives one logit per example, an (N,) or (N, 1) output).
    """
    t0 = time.perf_counter()
    spec, adapter, x, added, tgt = _setup(model, inputs, method, target, baseline, framework,
                                          output, score, batched, channels_first, options)
    t1 = time.perf_counter()
    state = adapter.thread_state()
    try:
        res = spec.fn(adapter, x, tgt, **options)
    except BaseException:   # a KeyboardInterrupt anywhere leaves no hook and the grad mode
        adapter.recover(state)
        raise
    out = _package(adapter, x, added, method, target, tgt, options, res.values, res.delta,
                   res.extras, res.per_example)
    t2 = time.perf_counter()
    out.timings = {"prepare_s": t1 - t0, "compute_s": t2 - t1, "total_s": t2 - t0}
    return out


def _setup(model, inputs, method, target, baseline, framework, output, score, batched,
           channels_first, options: dict) -> tuple:
    """The method, adapter, batch, single-example flag and resolved target of a call; puts
    ``baseline`` and a DataFrame's column names (as feature names) into ``options``."""
    spec = get_method(method)
    adapter = get_adapter(model, framework, output=output, score=score,
                          channels_first=channels_first)
    cols = frame_columns(inputs)
    if cols is None:
        cols = series_names(inputs)    # one row, X.iloc[0]: its index names the features
    check_frame_columns(adapter._names_in, cols)
    adapter.input_columns = cols     # for _package: a DataFrame's columns name the features
    # with layer= (token ids through an embedding) the gradients are the layer's, not the inputs'
    x, added = prepare_inputs(adapter, inputs, batched,
                              spec.needs_gradients and options.get("layer") is None)
    if adapter.framework == "numpy":
        # class labels of a scikit-learn classifier's bound method name their columns (torch
        # and Keras models have no classes_: nothing to look up on their hot path)
        from ._sklearn import class_label_target, warn_class_ids

        target = class_label_target(adapter.model, target)
        warn_class_ids(adapter.model)
    tgt = resolve_target(adapter, target, x)
    if baseline is not None:
        options["baseline"] = baseline
    if cols is not None and options.get("background") is not None:
        # a background DataFrame is matched to the inputs' columns by name
        options["background"] = align_frame(options["background"], cols, "background")
    if (cols is not None and "feature_names" in spec.accepts
            and options.get("feature_names") is None
            and names_columns(options.get("features"))):
        # a DataFrame's columns name the features, and the columns that named groups
        # (features={"size": ["height", "width"]}) refer to
        options["feature_names"] = cols
    return spec, adapter, x, added, tgt


def _package(adapter, x, added: bool, method: str, target: Any, tgt: Any, options: dict,
             values: Any, delta: Any, extras: dict, per_example=()) -> Attribution:
    """An :class:`Attribution` of host arrays; a single example loses its batch axis again
    (values, inputs, delta, target and the per-example extras)."""
    values = np.ascontiguousarray(adapter.to_numpy(values))
    total = float(values.sum()) if values.dtype.kind == "f" else None
    if total is not None and not math.isfinite(total):
        _warn_non_finite(values, method)
    elif total == 0.0 and values.size and not values.any():
        spec = get_method(method)
        if spec.needs_gradients and spec.output == "input":
            warnings.warn(
                f"every {method} value is zero: either the model's gradient is zero "
                "everywhere for these inputs (a rounding, argmax, comparison or integer cast "
                "on the way to the output has no useful gradient: explain the scores before "
                "it, or use a perturbation method such as method='occlusion' or "
                "method='shapley'), or what the gradient is multiplied by is zero (inputs of "
                "zeros for input_x_gradient; inputs equal to the baseline for "
                "integrated_gradients).", stacklevel=user_stacklevel())
    delta = None if delta is None else adapter.to_numpy(delta)
    x_np = adapter.to_numpy(x)
    target_out: Any = target if callable(target) and not isinstance(target, str) else tgt
    extras = dict(extras)
    if added:
        values, x_np = values[0], x_np[0]
        for k in per_example:
            if k in extras and np.ndim(extras[k]) >= 1:
                extras[k] = np.asarray(extras[k])[0]
        if isinstance(target_out, np.ndarray):
            target_out = int(target_out[0])
        if delta is not None:
            delta = delta[0]
    shape = tuple(x.shape)
    layout = guess_layout((1,) + shape[1:], adapter.channels_first)
    cols = adapter.input_columns
    if (cols is not None and layout.kind == "tabular" and extras.get("feature_names") is None
            and np.shape(values)[-1:] == (len(cols),)):
        extras["feature_names"] = list(cols)
    return Attribution(
        values=values, method=method, target=target_out, options=dict(options), delta=delta,
        inputs=x_np, layout=layout.kind, channels_first=layout.channels_first,
        extras={"single": added, "device": adapter.device, **extras},
        provenance=record(method, target_out, options, adapter.model, adapter.framework,
                          shape),
    )


def attribute_progressive(model: Any, inputs: Any, method: str = "integrated_gradients",
                          target: Any = "predicted", baseline: Any = None, *,
                          framework: str | None = None, output: Any = None,
                          score: str = "logit", batched: bool | None = None,
                          channels_first: bool | None = None,
                          **options: Any) -> Iterator[Attribution]:
    """Yield attributions that refine as more work is done; the last is ``attribute()``'s
    (to float rounding where IG's steps double: the sums run in another order).

    The method's progressive form, as the live widget streams it, for a loop of your own
    (e.g. stop once the error is small enough). It takes the method's options, with the same
    defaults as :func:`attribute`. Each yielded :class:`Attribution` is complete in itself,
    with ``extras["done"]`` True on the last.

    ``method="integrated_gradients"``: estimates at growing step counts, each with its
    completeness error ``delta``; ``extras["steps"]``, ``extras["evaluations"]``. With a
    nested ``rule`` (``"riemann_trapezoid"``, ``"riemann_left"``, ``"riemann_right"``) the
    step count doubles up to ``steps``, every refinement reusing the path points already
    evaluated, starting from ``start_steps`` (by default the smallest count of at least 4
    points from which doubling reaches ``steps``; e.g. ``steps=65`` with the trapezoid rule
    gives 5, 9, 17, 33, 65 points). With the default Gauss-Legendre rule (whose points change
    with the count), or a count doubling cannot reach, the estimates use ``steps``//16, //8
    and //4 points before ``steps`` itself (at most 7/16 more passes).

    ``method="shapley"``: estimates after each chunk of model evaluations with their
    standard errors and ``confidence`` intervals (``extras["stderr"]``, ``"ci_low"``,
    ``"ci_high"``, ``"evaluations"``, ``"budget"``); options as for ``attribute`` plus
    ``chunk`` (pairs per step). The last equals ``attribute(..., method="shapley")`` with
    the same estimator, budget and seed.
    """
    spec = get_method(method)
    if spec.progressive is None:
        from .methods import available_methods

        forms = [m for m in available_methods() if get_method(m).progressive is not None]
        raise NBExplainError(f"method={method!r} has no progressive form; use one of "
                             f"{', '.join(repr(m) for m in forms)} (or attribute()).")
    if "progress_bar" in options:
        raise NBExplainError(
            f"{method} (progressive) got unknown option 'progress_bar': the estimates it "
            "yields are the progress; leave progress_bar= out (or wrap the loop in tqdm).")
    from .methods import check_options

    check_options(f"{method} (progressive)", options, spec.progressive_accepts,
                  list(spec.progressive_options))
    # everything is checked (and the model probed) here, not at the first next()
    spec, adapter, x, added, tgt = _setup(model, inputs, method, target, baseline, framework,
                                          output, score, batched, channels_first, options)
    return _estimates(spec, adapter, x, added, method, target, tgt, options)


def _estimates(spec, adapter, x, added, method, target, tgt, options) -> Iterator[Attribution]:
    state = adapter.thread_state()
    results = iterate(spec, adapter, x, tgt, **options)
    while True:
        try:
            res = next(results)
        except StopIteration:
            return
        except BaseException:   # an interrupted pass: nothing of it is left on the model
            adapter.recover(state)
            raise
        # (leaving the loop early closes this generator at the yield: no pass is under way,
        # and the grad mode is the caller's own business by then)
        yield _package(adapter, x, added, method, target, tgt, options, res.values,
                       res.delta, {**res.extras, "done": res.done}, res.per_example)


def explain(model: Any, inputs: Any, method: str | None = None, target: Any = "predicted", *,
            labels: list[str] | None = None, index: int = 0, top_k: int = 5,
            framework: str | None = None, output: Any = None, score: str = "logit",
            batched: bool | None = None, channels_first: bool | None = None,
            feature_names: list[str] | None = None, tokens: list[str] | None = None,
            **options: Any) -> "View":
    """Display the live widget for ``inputs``; the view follows their layout:

    * images (N×C×H×W / N×H×W×C): the heatmap instrument (``index`` picks the example;
      method saliency by default);
    * a table (rows of features, a DataFrame, ``feature_names=``): feature bars with
      Shapley's intervals and draggable baselines (method shapley by default; ``background=``);
    * sequences (N×T×D floats): a time × feature map with a cursor;
    * text (token ids and ``tokens=[...]``, through ``layer=`` the embedding, found when not
      given): the tokens highlighted (integrated_gradients by default).

    Every control is a trait: set it from Python to recompute as the UI would.
    """
    from .widgets import Explainer
    from .widgets.sequence import SequenceExplainer, TextExplainer
    from .widgets.table import TableExplainer

    if tokens is not None:
        return TextExplainer(model, inputs, tokens=tokens, method=method or
                             "integrated_gradients", target=target, labels=labels, index=index,
                             top_k=top_k, framework=framework, output=output, score=score,
                             **options)
    kind = "image"
    if frame_columns(inputs) is not None or series_names(inputs) is not None or (
            feature_names is not None):
        kind = "tabular"
    else:
        adapter = get_adapter(model, framework, output=output, score=score,
                              channels_first=channels_first)
        x, _ = prepare_inputs(adapter, inputs, batched, False)
        kind = guess_layout(tuple(x.shape), adapter.channels_first).kind
    if kind == "tabular":
        return TableExplainer(model, inputs, method=method or "shapley", target=target,
                              feature_names=feature_names, labels=labels, top_k=top_k,
                              framework=framework, output=output, score=score, **options)
    if kind == "sequence":
        return SequenceExplainer(model, inputs, method=method or "saliency", target=target,
                                 labels=labels, index=index, top_k=top_k,
                                 framework=framework, output=output, score=score,
                                 batched=batched, **options)
    return Explainer(model, inputs, method=method or "saliency", target=target, labels=labels,
                     index=index, top_k=top_k, framework=framework, output=output, score=score,
                     batched=batched, _channels_first=channels_first, **options)


def explain_global(model: Any, X: Any, y: Any = None, *,
                   kind: str = "permutation_importance", feature: Any = None,
                   feature_names: list[str] | None = None,
                   **options: Any) -> "GlobalExplainer":
    """The data-set methods as a widget, drawn as their ``.plot()`` draws them:
    ``kind="permutation_importance"`` (needs ``y``; bars with their spread over repeats) or
    ``"partial_dependence"`` (PDP with ICE curves; ``feature`` is a trait, with a picker).
    ``options`` go to :func:`nbexplain.permutation_importance` /
    :func:`nbexplain.partial_dependence`; ``w.result`` is their result."""
    from .widgets.global_view import GlobalExplainer

    return GlobalExplainer(model, X, y, kind=kind, feature=feature,
                           feature_names=feature_names, **options)


def show(values: Any, inputs: Any = None, *, channels_first: bool | None = None,
         method: str = "external", target: int = 0, labels: list[str] | None = None,
         index: int | None = None,
         feature_names: list[str] | None = None) -> "Explainer | TableExplainer":
    """Display attributions computed elsewhere (Captum, SHAP, ...).

    ``values`` may be a SHAP ``Explanation`` (its ``data`` are the inputs, its
    ``feature_names`` the names, its ``base_values`` the base of the bars), a Captum tensor
    or tuple of tensors, or an array. ``index`` picks one example of a batch. Images: H×W,
    C×H×W or H×W×C values whatever the layout of ``inputs`` (a coarser map, e.g. Grad-CAM's,
    is drawn stretched over the image); ``channels_first`` is the image's layout (guessed when
    None). Tables (rows of features): the feature bars of the table view. ``target`` is the
    class the values explain and ``labels`` (one name per class) names it; ``method`` is the
    caption's method name.
    """
    from .widgets import Explainer
    from .widgets.table import TableExplainer

    if not isinstance(method, str):
        raise NBExplainError(f"method={method!r}; pass the name to show for the method that "
                             "computed the values, e.g. 'captum saliency'.")
    base = None
    shap_table = False
    if hasattr(values, "values") and hasattr(values, "base_values") and hasattr(values, "data"):
        expl = values                                   # a shap.Explanation
        shap_table = np.ndim(expl.values) <= 2
        if inputs is None:
            inputs = expl.data
        if feature_names is None and getattr(expl, "feature_names", None) is not None:
            feature_names = list(expl.feature_names)
        base, values = expl.base_values, expl.values
    if isinstance(values, (tuple, list)) and values and hasattr(values[0], "shape"):
        if len(values) != 1:
            raise NBExplainError(f"values is a tuple of {len(values)} tensors (Captum's form "
                                 "for a model with several inputs); show() draws one input's "
                                 "values: pass values[0] with inputs[0].")
        values = values[0]
    if isinstance(inputs, (tuple, list)) and inputs and hasattr(inputs[0], "shape"):
        inputs = inputs[0]
    if inputs is None:
        raise NBExplainError("show() needs the inputs the values explain (inputs=), or a SHAP "
                             "Explanation that holds them as .data.")
    v = np.asarray(host_array(values), dtype=np.float64)
    x = np.asarray(host_array(inputs), dtype=np.float64)
    # a table: named features, a DataFrame, SHAP's tabular Explanation, or one row (1-D);
    # a plain 2-D array stays an image (H×W), as before
    is_table = (feature_names is not None or frame_columns(inputs) is not None or shap_table
                or (v.ndim == 1 and x.ndim == 1))
    tgt = as_whole(target)
    if tgt is None or tgt < 0:
        raise NBExplainError(f"target={target!r}; show() needs the index of the class the "
                             "values explain (an int >= 0).")
    if index is not None:
        i = int(index)
        if v.ndim == x.ndim and v.ndim >= (2 if is_table else 4):
            if not 0 <= i < v.shape[0]:
                raise NBExplainError(f"index={i} but the batch has {v.shape[0]} examples; "
                                     f"use 0..{v.shape[0] - 1}.")
            v, x = v[i], x[i]
            if base is not None and np.ndim(base) >= 1 and np.shape(base)[0] > i:
                base = np.asarray(base)[i]
    if is_table:
        names = feature_names or frame_columns(inputs)
        return TableExplainer.from_values(v, x, feature_names=names, base_value=base,
                                          method=method, target=tgt, labels=labels)
    return Explainer.from_values(v, x, channels_first=channels_first, method=method,
                                 target=target, labels=labels)
