"""Inputs into a batch on the model's device: layout probing (remembered per model and shape)
and target resolution. Used by ``attribute`` and by the widget."""

from __future__ import annotations

import linecache
import math
import os
import re
import sys
import weakref
from typing import Any

import numpy as np

from ._errors import NBExplainError
from .backends.base import MULTI_INPUT_FIX, check_probability_score, target_indices


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
    own = None   # the first error a `raise` in the model's own code gave
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
        except _MODEL_BUGS as e:   # the model's own failure, whatever the layout
            e.add_note("nbexplain: the model raised this on its first call, given one example "
                       f"of the inputs (shape {tuple(cand.shape)}); it is the model's own "
                       "error, not a problem of the inputs' layout.")
            raise
        except Exception as e:  # the model refused this shape (the next may suit it)
            errors.append(e)
            if own is None and _raised_by_model_code(e):
                own = (e, tuple(cand.shape))
    if own is not None:
        # a `raise` in the model's own code (a ValueError of its own): its words, not ours
        own_error, shape = own
        own_error.add_note(
            "nbexplain: the model's own code raised this on its first call, given one example "
            f"of the inputs (shape {shape}). If it is about the inputs' shape: torch image "
            "models take N×C×H×W, Keras models N×H×W×C; pass batched=True/False if the batch "
            "axis is ambiguous.")
        raise own_error
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
    # (Keras ends a layer's error with the arguments it got, "dtype=float32" among them)
    if xdt.kind in "iuf" and _DTYPE_TROUBLE.search(str(err).split("Arguments received")[0]):
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


#: exceptions that are a model's own bug on any input, never a sign of a wrong layout
#: (frameworks report shapes and dtypes as RuntimeError, ValueError, TypeError or their own)
_MODEL_BUGS = (KeyError, AttributeError, NameError, ZeroDivisionError, AssertionError,
               NotImplementedError, ImportError, RecursionError)


#: packages whose own checks report a shape or dtype the model cannot take
_FRAMEWORKS = ("torch", "tensorflow", "keras", "tf_keras", "numpy", "jax", "nbexplain")
_RAISE = re.compile(r"^\s*(?:if\b.*:\s*)?raise\b")


def _raised_by_model_code(e: BaseException) -> bool:
    """Whether ``e`` comes from a ``raise`` statement in the model's own code: the innermost
    frame of its traceback is outside the frameworks and its line raises. A framework's shape
    error raised from the model's line (``x.view(-1, 400)``) is not, nor one raised inside the
    framework; Keras re-raises a layer's error with the layer's own frame innermost."""
    tb = e.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    path = tb.tb_frame.f_code.co_filename
    roots = [os.path.dirname(getattr(sys.modules.get(n), "__file__", None) or "") + os.sep
             for n in _FRAMEWORKS if n in sys.modules]
    if path.startswith("<") or any(r != os.sep and path.startswith(r) for r in roots):
        return False
    return bool(_RAISE.match(linecache.getline(path, tb.tb_lineno)))


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
