"""``attribute``, ``explain`` and ``show``: the public entry points."""

from __future__ import annotations

import math
import re
import time
import warnings
import weakref
from typing import Any, Iterator

import numpy as np

from ._attribution import Attribution
from ._errors import NBExplainError, user_stacklevel
from .backends import get_adapter, guess_layout
from .backends.base import (MULTI_INPUT_FIX, align_frame, check_frame_columns,
                            check_probability_score, frame_columns, series_names,
                            target_indices)
from .methods import get_method
from .methods._features import names_columns


_DECISIONS: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _layouts(adapter) -> dict:
    """Per-model memory, keyed by input shape and output selection, of what the probe learnt:
    ``(added_batch_axis, per_example_output_shape)``. The model is probed once per shape
    rather than on every call, and integer targets are range-checked without a forward pass."""
    memo = getattr(adapter, "_layout_memo", None)   # looked up once per adapter (call)
    if memo is None:
        try:
            memo = _DECISIONS.setdefault(adapter.model, {})
        except TypeError:  # model not weak-referenceable
            memo = {}
        adapter._layout_memo = memo
    return memo


def _layout_key(adapter, x, single: bool = False) -> tuple:
    """Batches are remembered by their example shape (any N); an input found to be ONE
    example by its whole shape, since its first axis is not a batch axis (a 1×28×28 image
    says nothing about a 4×28×28 input)."""
    shape = tuple(x.shape) if single else tuple(x.shape[1:])
    return (shape, len(x.shape), single, adapter.output_key, str(x.dtype))


def prepare_inputs(adapter, inputs: Any, batched: bool | None, needs_gradients: bool):
    """Move inputs to the model's device, validate them and add a batch axis if needed.

    Returns ``(x, added_batch_axis)``. With ``batched=None`` a single example is recognised by
    trying the model on one example: a 1-axis input is always one example; otherwise the
    input is used as a batch if the model accepts it and returns one row per example, else
    with a batch axis. The answer is remembered per model and shape.
    A torch model with 2-d convolutions takes a 3-axis input as one C×H×W image (torch would
    also run it as an unbatched image and answer with one row, indistinguishable from a
    batch of one sequence).
    """
    if batched is not None:
        if not isinstance(batched, (bool, np.bool_)):
            raise NBExplainError(f"batched={batched!r}; use True (the inputs are a batch), "
                                 "False (one example) or None (decide from the model).")
        batched = bool(batched)
    x = adapter.as_tensor(inputs)
    if 0 in tuple(x.shape):
        raise NBExplainError(
            f"the inputs are empty (shape {tuple(x.shape)}); pass at least one example.")
    adapter.check_input(x, needs_gradients)
    explicit = batched is not None or len(x.shape) == 1
    if batched is False or (batched is None and len(x.shape) == 1):
        x, added = x[None], True
    else:
        added = False
    layouts = _layouts(adapter)
    if not explicit and _layout_key(adapter, x, single=True) in layouts:
        return x[None], True
    if _layout_key(adapter, x) in layouts:
        return x, added
    if not explicit and len(x.shape) in adapter.unprobeable_ranks():
        raise NBExplainError(
            f"inputs of shape {tuple(x.shape)} for a plain TensorFlow function: pass "
            "batched=True if the first axis is the batch (e.g. N sequences of T×D), or "
            "batched=False if it is one example (e.g. one H×W×C image). Trying it on the "
            "function could crash the process: TensorFlow's convolution aborts on 3-axis "
            "inputs.")
    errors: list[Exception] = []
    if explicit:
        candidates = [(x, added)]
    elif len(x.shape) in adapter.single_example_ranks():
        # e.g. one C×H×W image for a Conv2d model, which takes no 3-axis batches (its
        # one-row probe would pass as an unbatched image, so the batch is not tried)
        candidates = [(x[None], True)]
    else:
        candidates = [(x, False), (x[None], True)]
    for cand, cand_added in candidates:
        try:
            if _remember(adapter, x, cand, extra_axis=cand_added and not added):
                return cand, cand_added
        except NBExplainError:
            raise
        except Exception as e:  # the model refused this shape
            errors.append(e)
    err = errors[0] if errors else None
    n_inputs = adapter.input_count()
    if n_inputs is not None and n_inputs > 1:
        raise NBExplainError(f"the model takes {n_inputs} inputs and failed on one "
                             f"({type(err).__name__}: {err}). " + MULTI_INPUT_FIX) from err
    if isinstance(err, _NotOneRowEach):
        raise NBExplainError(
            f"the model does not return one row per example: {err}. nbexplain needs one row "
            "of scores per example (N×K); wrap a model that puts another axis first (a "
            "time-major RNN) or returns K×N, e.g. lambda x: model(x).T.")
    xdt = adapter.to_numpy(x[:0]).dtype
    if xdt.kind in "iuf" and _DTYPE_TROUBLE.search(str(err)):
        # e.g. torch's "Input type (unsigned char) and bias type (float) should be the same",
        # or a float64 batch for a function with float32 constants
        advice = ("If they are numbers (pixel values such as uint8 images, counts), pass "
                  "float inputs, e.g. x.astype('float32') (x.float() for a torch tensor; a "
                  "Rescaling layer in the model still applies); token ids go to a model that "
                  "starts with an embedding layer." if xdt.kind in "iu" else
                  "Pass inputs in the dtype the model computes in, e.g. x.astype('float32') "
                  "(x.float() for a torch tensor).")
        raise NBExplainError(
            f"the model cannot be run on inputs of {'integer ' if xdt.kind in 'iu' else ''}"
            f"dtype {xdt} ({type(err).__name__}: {err}). {advice}") from err
    tried = "" if explicit else (" (nor with a batch axis added)" if len(candidates) > 1
                                 else " as one example (with a batch axis added)")
    hint = ""
    if len(x.shape) in adapter.single_example_ranks():
        hint = ("; a batch of single-channel images needs its channel axis, e.g. x[:, None] "
                "for N×H×W")
    if getattr(adapter, "_training", False):
        hint += ("; the model is in training mode, where BatchNorm needs several rows per "
                 "pass: call model.eval(), or pass a batch")
    raise NBExplainError(
        f"the model cannot be run on inputs of shape {tuple(x.shape)}{tried}: "
        f"{type(err).__name__}: {err}. Check the layout: torch image models take N×C×H×W, "
        "Keras models N×H×W×C (or channels_first), tabular models N×F"
        f"{hint}. Pass batched=True/False if the batch axis is ambiguous."
    ) from err


#: a framework's complaint about dtypes ("Input type (unsigned char) and bias type (float)",
#: "expected m1 and m2 to have the same dtype", "was expected to be a double tensor")
_DTYPE_TROUBLE = re.compile(r"\btype\b|dtype|expected to be a \w+ tensor", re.I)


class _NotOneRowEach(ValueError):
    """The probe's answer had not one row per example."""


def _remember(adapter, x, batch, extra_axis: bool) -> bool:
    """Run the model on one example of ``batch`` (``x``, or ``x`` with a batch axis added);
    if it answers with one row, remember the layout for both shapes."""
    # a model in training mode (BatchNorm) needs more than one row per pass
    rows = 2 if getattr(adapter, "_training", False) and batch.shape[0] >= 2 else 1
    prob = adapter.score == "probability"
    # the output as the model returns it: score='probability' keeps its shape, and a model
    # that already returns probabilities is refused for it
    out = adapter.predict(batch[:rows], score="logit" if prob else None)
    if out.shape[:1] != (rows,):
        raise _NotOneRowEach(f"given {rows} example(s) it returned an output of shape "
                             f"{tuple(out.shape)}, not one row per example")
    if prob:
        check_probability_score(adapter, out)
    layouts, shape = _layouts(adapter), tuple(out.shape[1:])
    if extra_axis:
        layouts[_layout_key(adapter, x, single=True)] = (True, shape)
    layouts[_layout_key(adapter, batch)] = (False, shape)
    return True


def resolve_target(adapter, target: Any, x) -> Any:
    """One class index per example (or the callable). Integer targets are checked against the
    output size learnt by the probe, without running the model again."""
    if (target is not None and not isinstance(target, str) and not callable(target)):
        known = _layouts(adapter).get(_layout_key(adapter, x))
        if known is not None:
            shape = known[1]   # one example's output shape, as learnt by the probe
            k = math.prod(shape)
            try:
                return target_indices(target, k, int(x.shape[0]), shape)
            except NBExplainError:
                # the remembered shape may be stale (the model's head was replaced since):
                # forget it and check against a fresh forward pass
                _layouts(adapter).pop(_layout_key(adapter, x), None)
    return adapter.resolve_target(target, x)


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
    res = spec.fn(adapter, x, tgt, **options)
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
    x, added = prepare_inputs(adapter, inputs, batched, spec.needs_gradients)
    if adapter.framework == "numpy":
        # class labels of a scikit-learn classifier's bound method name their columns (torch
        # and Keras models have no classes_: nothing to look up on their hot path)
        from .global_methods import class_label_target

        target = class_label_target(adapter.model, target)
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
    if values.dtype.kind == "f" and not math.isfinite(float(values.sum())):
        _warn_non_finite(values, method)
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
    layout = guess_layout((1,) + tuple(x.shape[1:]), adapter.channels_first)
    cols = adapter.input_columns
    if (cols is not None and layout.kind == "tabular" and extras.get("feature_names") is None
            and np.shape(values)[-1:] == (len(cols),)):
        extras["feature_names"] = list(cols)
    return Attribution(
        values=values, method=method, target=target_out, options=dict(options), delta=delta,
        inputs=x_np, layout=layout.kind, channels_first=layout.channels_first,
        extras={"single": added, "device": adapter.device, **extras},
    )


#: the options of each progressive form that attribute_progressive passes through
_PROGRESSIVE = {
    "integrated_gradients": ("steps", "start_steps", "rule", "batch_size", "data", "seed"),
    "shapley": ("estimator", "samples", "background", "features", "feature_names",
                "batch_size", "seed", "confidence", "chunk", "max_exact_features"),
}


def attribute_progressive(model: Any, inputs: Any, method: str = "integrated_gradients",
                          target: Any = "predicted", baseline: Any = None, *,
                          framework: str | None = None, output: Any = None,
                          score: str = "logit", batched: bool | None = None,
                          channels_first: bool | None = None,
                          **options: Any) -> Iterator[Attribution]:
    """Yield attributions that refine as more work is done; the last is ``attribute()``'s.

    The forms the live widget streams, for a loop of your own (e.g. stop once the error is
    small enough). Each yielded :class:`Attribution` is complete in itself, with
    ``extras["done"]`` True on the last.

    ``method="integrated_gradients"``: the step count doubles up to ``steps`` (default 65
    points with the trapezoid rule, 64 steps with the others: five estimates, from 5 or 4),
    every refinement reusing the path points already evaluated (a nested ``rule``:
    ``"riemann_trapezoid"``, the default here, ``"riemann_left"`` or ``"riemann_right"``),
    starting from ``start_steps`` (by default the smallest count of at least 4 points from
    which doubling reaches ``steps``). Each estimate carries its completeness error
    ``delta``; ``extras["steps"]``, ``extras["evaluations"]``. The last equals
    ``attribute(..., method="integrated_gradients", rule=rule, steps=steps)``.

    ``method="shapley"``: estimates after each chunk of model evaluations with their
    standard errors and ``confidence`` intervals (``extras["stderr"]``, ``"ci_low"``,
    ``"ci_high"``, ``"evaluations"``, ``"budget"``); options as for ``attribute`` plus
    ``chunk`` (pairs per step). The last equals ``attribute(..., method="shapley")`` with
    the same estimator, budget and seed.
    """
    if method not in _PROGRESSIVE:
        raise NBExplainError(f"method={method!r} has no progressive form; use "
                             "'integrated_gradients' or 'shapley' (or attribute()).")
    from .methods import check_options

    check_options(f"{method} (progressive)", options, _PROGRESSIVE[method],
                  list(_PROGRESSIVE[method]))
    spec, adapter, x, added, tgt = _setup(model, inputs, method, target, baseline, framework,
                                          output, score, batched, channels_first, options)
    if method == "integrated_gradients":
        yield from _ig_progressive(adapter, x, added, target, tgt, options)
        return
    from .methods.shapley import estimate_result, shapley_progressive

    opts = {"estimator": "auto", **options}
    for est in shapley_progressive(adapter, x, tgt, **opts):
        res = estimate_result(est, budget=est.budget, done=est.done)
        yield _package(adapter, x, added, method, target, tgt, options, res.values,
                       res.delta, res.extras, res.per_example)


def _ig_progressive(adapter, x, added, target, tgt, options: dict) -> Iterator[Attribution]:
    from .methods._common import whole_number
    from .methods.integrated_gradients import (NESTED_RULES, canonical_rule,
                                               integrated_gradients_progressive,
                                               progressive_start, reaches)

    opts = dict(options)
    rule = canonical_rule(opts.pop("rule", "riemann_trapezoid"))
    if rule not in NESTED_RULES:
        raise NBExplainError(f"rule={rule!r} cannot be refined: its points change with the "
                             f"step count. Use one of {', '.join(NESTED_RULES)}.")
    steps = opts.pop("steps", None)
    if steps is None:   # 5, 9, 17, 33, 65 points (trapezoid); 4, 8, 16, 32, 64 steps
        steps = 65 if rule == "riemann_trapezoid" else 64
    steps = whole_number("steps", steps, "the last estimate's steps")
    start = opts.pop("start_steps", None)
    if start is None:
        start = progressive_start(rule, steps)
        if start is None:
            raise NBExplainError(
                f"steps={steps} cannot be reached by doubling from 4 or more points with "
                f"the {rule} rule: use steps = k·2^j with k >= 4, j >= 1 (trapezoid: "
                "k·2^j + 1, e.g. 65), or give start_steps=.")
    elif not reaches(rule, whole_number("start_steps", start, "the first estimate's steps"),
                     steps):
        raise NBExplainError(f"doubling from start_steps={start} does not reach steps={steps} "
                             f"with the {rule} rule; pick steps = start_steps·2^j "
                             "(trapezoid: (start_steps − 1)·2^j + 1).")
    for est in integrated_gradients_progressive(adapter, x, tgt, start_steps=start,
                                                max_steps=steps, rule=rule, **opts):
        yield _package(adapter, x, added, "integrated_gradients", target, tgt,
                       {**options, "rule": rule}, est.values, est.delta,
                       {"steps": est.steps, "evaluations": est.evaluations, "rule": rule,
                        "done": est.steps >= steps})


def explain(model: Any, inputs: Any, method: str = "saliency", target: Any = "predicted", *,
            labels: list[str] | None = None, index: int = 0, top_k: int = 5,
            framework: str | None = None, output: Any = None, score: str = "logit",
            batched: bool | None = None, channels_first: bool | None = None,
            **options: Any):
    """Display the live widget for one example of ``inputs`` (``index`` picks it from a batch).

    The map for ``target`` is computed before the widget appears; clicking another of the
    top-k classes in the widget asks the kernel for that class's map.
    """
    from .widgets import Explainer

    return Explainer(model, inputs, method=method, target=target, labels=labels, index=index,
                     top_k=top_k, framework=framework, output=output, score=score,
                     batched=batched, _channels_first=channels_first, **options)


def show(values: Any, inputs: Any, *, channels_first: bool | None = None, method: str = "external",
         target: int = 0, labels: list[str] | None = None):
    """Display attributions computed elsewhere (Captum, SHAP, ...) for one image.

    ``values`` may be H×W, C×H×W or H×W×C whatever the layout of ``inputs`` (a coarser map,
    e.g. Grad-CAM's, is drawn stretched over the image); ``channels_first`` is the image's
    layout (guessed when None). ``target`` is the class the values explain and ``labels``
    (one name per class) names it in the view; ``method`` is the caption's method name.
    """
    from .widgets import Explainer

    if not isinstance(method, str):
        raise NBExplainError(f"method={method!r}; pass the name to show for the method that "
                             "computed the values, e.g. 'captum saliency'.")
    return Explainer.from_values(values, inputs, channels_first=channels_first, method=method,
                                 target=target, labels=labels)
