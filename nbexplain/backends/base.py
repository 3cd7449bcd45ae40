"""The adapter contract shared by every framework, and the framework-free input checks.

An adapter wraps the user's model and answers the questions methods ask (forward scores, input
gradients, ...) on the model's own device. Methods only see the adapter and never import a
framework; arrays they receive from the adapter are the framework's native tensors, which they
combine with the adapter's small ``ops`` namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

import numpy as np

from .._errors import NBExplainError

Target = Union[int, Sequence[int], str, Callable[[Any], Any], None]


@dataclass
class Layout:
    """How an input batch is laid out: ``kind`` is 'image', 'tabular' or 'sequence'.

    For images ``channels_first`` says NCHW (torch default) or NHWC (Keras default).
    """

    kind: str
    channels_first: bool = True

    def channel_axis(self, ndim: int) -> int | None:
        if self.kind != "image":
            return None
        return 1 if self.channels_first else ndim - 1

    def spatial_axes(self, ndim: int) -> tuple[int, ...]:
        if self.kind != "image":
            return tuple(range(1, ndim))
        return tuple(range(2, ndim)) if self.channels_first else tuple(range(1, ndim - 1))


def guess_layout(shape: Sequence[int], channels_first: bool) -> Layout:
    """Guess the layout of a *batched* input from its shape."""
    nd = len(shape)
    if nd == 2:
        return Layout("tabular")
    if nd == 3:
        return Layout("sequence")
    if nd == 4:
        return Layout("image", channels_first=channels_first)
    raise NBExplainError(
        f"inputs have shape {tuple(shape)} ({nd} axes); expected (N, F) tabular, (N, T, D) "
        "sequences or 4-axis images (N, C, H, W for torch, N, H, W, C for Keras). "
        "Reshape the inputs to one of these layouts."
    )


def check_finite(x: np.ndarray, what: str = "inputs") -> None:
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        n = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise NBExplainError(
            f"{what} contain {n} NaN or infinite value(s); attributions would be meaningless. "
            f"Clean or impute them first (e.g. np.nan_to_num) and pass finite values."
        )


def check_float_input(x: np.ndarray, needs_gradients: bool) -> None:
    if np.issubdtype(x.dtype, np.complexfloating):
        raise NBExplainError(
            f"inputs have complex dtype {x.dtype}: attributions are defined for real inputs "
            "(a complex gradient has no single sign or size per element). Pass the real and "
            "imaginary parts as two real channels, e.g. np.stack([x.real, x.imag], axis=1), "
            "with a model that takes them.")
    if needs_gradients and not np.issubdtype(x.dtype, np.floating):
        raise NBExplainError(
            f"inputs have integer dtype {x.dtype}: gradient methods need float inputs. If "
            "they are numbers (pixel values such as uint8 images, counts), pass float inputs, "
            "e.g. x.astype('float32') (x.float() for a torch tensor; a Rescaling layer in "
            "the model still applies); if they "
            "are token ids, gradients with respect to them do not exist: explain the embedding "
            "output instead (pass the embedded float tensor and a model that starts after the "
            "embedding layer), or use a perturbation method such as method='occlusion' or "
            "method='shapley'."
        )


def resolve_target(target: Target, out: np.ndarray, n: int) -> np.ndarray:
    """Turn a target spec into one class index per example (int64 array of length n).

    ``out`` is the model output for the batch as numpy, shape (N, K) or (N,). Outputs with
    more axes (N, T, K) are indexed flattened per example (entry t·K + k), for int targets
    and for ``"predicted"`` alike.
    """
    check_rows(int(out.shape[0]) if out.ndim else 1, n)
    k = int(np.prod(out.shape[1:])) if out.ndim >= 2 else 1
    if target is None:
        if out.ndim >= 2 and k > 1:
            target = "predicted"
        else:
            return np.zeros(n, dtype=np.int64)
    if isinstance(target, str):
        if target != "predicted":
            raise NBExplainError(
                f"unknown target {target!r}; pass an int class index, one index per example, "
                "'predicted', or a callable on the output."
            )
        flat = out.reshape(n, -1)
        return np.argmax(flat, axis=1).astype(np.int64)
    if callable(target):
        raise TypeError("callable targets are resolved by the adapter")  # pragma: no cover
    return target_indices(target, k, n, out.shape[1:])


def probability_rows(a: np.ndarray) -> bool:
    """Whether a float output already is probabilities: several columns, every row (over
    the last axis) non-negative and summing to 1 (within 1e-3, for float16 models)."""
    a = np.asarray(a)
    if a.ndim < 2 or a.shape[-1] < 2 or not a.size or a.dtype.kind != "f":
        return False
    r = a.astype(np.float64)
    return bool(np.all(np.isfinite(r)) and r.min() >= -1e-6
                and np.all(np.abs(r.sum(axis=-1) - 1.0) <= 1e-3))


def _column_diff(expected: Sequence[str], got: Sequence[str]) -> str:
    """'missing: [...]; unexpected: [...]' of two column lists."""
    missing = [c for c in expected if c not in got]
    extra = [c for c in got if c not in expected]
    return f"missing: {missing}; unexpected: {extra}"


def check_probability_score(adapter: "Adapter", raw: np.ndarray) -> None:
    """With ``score='probability'``, refuse a model whose output already is probabilities:
    the softmax (or sigmoid) nbexplain applies would be taken of probabilities, and every
    attribution would explain that instead, silently (IG sums came out a third of
    P(x) − P(b) for a softmax head). Told by the model's last layer where its structure
    shows it, else by the rows of ``raw`` (the probe's output as the model returns it):
    non-negative and summing to 1 over the last axis."""
    act = adapter.output_activation()
    if act is None and probability_rows(raw):
        act = "rows"
    if act is None:
        return
    what = ("each row of it is non-negative and sums to 1" if act == "rows" else
            f"the model ends in a {act}")
    raise NBExplainError(
        f"score='probability' applies a softmax (a sigmoid for one output column) to the "
        f"model's output, but this output already is probabilities ({what}): the "
        "attributions would explain the softmax of probabilities. Leave score='logit' (the "
        "default: the output as the model returns it, here the probabilities), or remove the "
        "final activation to explain the logits.")


def frame_columns(x: Any) -> list[str] | None:
    """The column names of a 2-D pandas-style DataFrame (anything with ``columns`` and
    ``to_numpy``), else None. Used as default feature names and to hand a model fitted on a
    DataFrame its columns back."""
    if hasattr(x, "columns") and hasattr(x, "to_numpy") and getattr(x, "ndim", 2) == 2:
        return [str(c) for c in x.columns]
    return None


def series_names(x: Any) -> list[str] | None:
    """The index of a pandas Series holding one example (``X.iloc[0]``) as its feature
    names, when the labels are strings (a Series indexed 0..F-1 names nothing), else None."""
    if (hasattr(x, "index") and hasattr(x, "to_numpy") and not hasattr(x, "columns")
            and getattr(x, "ndim", 0) == 1):
        labels = list(x.index)
        if labels and all(isinstance(v, str) for v in labels):
            return labels
    return None


def check_frame_columns(expected: Sequence[str] | None, cols: Sequence[str] | None,
                        what: str = "the inputs") -> None:
    """A DataFrame's columns against the columns a model was fitted on (scikit-learn's
    ``feature_names_in_``). The numbers reach the model by position, so a DataFrame whose
    columns are in another order (or are other columns) would be explained with its values
    under the wrong names; scikit-learn refuses it too."""
    if expected is None or cols is None or list(map(str, expected)) == list(cols):
        return
    expected = [str(c) for c in expected]
    if sorted(expected) == sorted(cols):
        raise NBExplainError(
            f"{what} have the model's columns in another order ({list(cols)}; the model was "
            f"fitted on {expected}): values are passed to the model by position. Reorder "
            "them first: X[model.feature_names_in_].")
    raise NBExplainError(
        f"{what} do not have the columns the model was fitted on "
        f"({_column_diff(expected, cols)}). Pass a DataFrame with the model's columns, in "
        "its order: X[model.feature_names_in_].")


def align_frame(frame: Any, cols: Sequence[str], what: str) -> Any:
    """A DataFrame (e.g. the background) with its columns put in the order of the inputs'
    columns ``cols``, matched by name; anything else unchanged."""
    fcols = frame_columns(frame)
    if fcols is None or fcols == list(cols):
        return frame
    if sorted(fcols) != sorted(cols):
        raise NBExplainError(
            f"{what} has other columns than the inputs ({_column_diff(cols, fcols)}). Pass "
            f"{what} with the inputs' columns, e.g. {what}[X.columns].")
    by_name = {str(c): c for c in frame.columns}
    return frame[[by_name[c] for c in cols]]


def int_range(idx: np.ndarray) -> tuple[int, int]:
    """``(min, max)`` of a non-empty int array ((0, -1) for an empty one). A batch's
    targets are a handful of ints, where Python's min/max over the list take a tenth of the
    time of two numpy reductions (~0.5 µs against ~5 µs, on every call)."""
    if idx.size == 0:
        return 0, -1
    if idx.size <= 256:
        vals = idx.ravel().tolist()
        return min(vals), max(vals)
    return int(idx.min()), int(idx.max())


MULTI_INPUT_FIX = (
    "nbexplain explains a model with one input tensor. For a model with several inputs, "
    "explain one input of one example at a time, holding the example's other inputs fixed "
    "and repeated to the rows of each pass: torch: f = lambda a: model(a, b1.expand(len(a), "
    "*b1.shape[1:])); Keras: f = lambda a: model([a, tf.repeat(b1, tf.shape(a)[0], "
    "axis=0)]), with b1 the example's other input as a batch of one; then "
    "nbexplain.attribute(f, a1, framework='torch' (or 'tensorflow'), ...).")


def host_array(x: Any, *, labels: bool = False) -> np.ndarray:
    """Inputs that are not a framework tensor (or are: a torch tensor on any device, a TF
    tensor), as one numeric numpy array. With ``labels`` (the targets ``y`` of the data-set
    methods), text, objects and a scalar pass through as they are: the caller checks them.

    A DataFrame becomes a float array even with bool columns (``pd.get_dummies`` gives bool
    one-hot columns, and numpy makes object arrays of bool next to float) or int columns
    (numbers of a tabular row, not token ids). A dict, or a list of arrays of different
    shapes, is the input of a model with several inputs: refused with the way to explain
    one of them."""
    if isinstance(x, dict) and not labels:
        raise NBExplainError(f"inputs are a dict with keys {sorted(map(str, x))}. "
                             + MULTI_INPUT_FIX)
    if hasattr(x, "columns") and hasattr(x, "to_numpy") and hasattr(x, "dtypes"):
        x = _frame_array(x)
        if x.dtype == object:   # e.g. a column of text next to numbers
            try:
                x = x.astype(np.float64)
            except (TypeError, ValueError):
                raise NBExplainError(
                    "the DataFrame has non-numeric columns (text or objects); encode them "
                    "as numbers first (e.g. pd.get_dummies) and pass the numeric columns the "
                    "model takes.") from None
        return x
    if isinstance(x, (list, tuple)) and len(x) > 1 and all(
            hasattr(e, "shape") and len(getattr(e, "shape", ())) >= 1 for e in x):
        shapes = {tuple(e.shape) for e in x}
        if len(shapes) > 1:
            raise NBExplainError(
                f"inputs are a {type(x).__name__} of {len(x)} arrays of different shapes "
                f"{[tuple(e.shape) for e in x]}. " + MULTI_INPUT_FIX)
    if isinstance(x, (list, tuple)):   # e.g. a list of torch tensors (maybe requiring grad)
        x = [_detached(e) for e in x]
    try:
        a = np.asarray(_detached(x))
    except ValueError as e:   # a ragged list
        raise NBExplainError(f"the inputs cannot be made into one array ({e}); pass a "
                             "rectangular array of numbers, one row per example.") from e
    if labels:
        return a
    if a.dtype == object or a.dtype.kind in "USV":
        raise NBExplainError(
            f"the inputs hold {'text' if a.dtype.kind in 'US' else 'non-numeric'} values "
            f"(dtype {a.dtype}); pass numbers: encode categorical columns first (e.g. "
            "pd.get_dummies), and pass the rows as an array of floats.")
    if a.ndim == 0:
        raise NBExplainError(f"the inputs are one number ({a!r}); pass an array with a row "
                             "per example (or one example's array).")
    return a


def _detached(e: Any) -> Any:
    """A torch tensor (one that requires grad, or lives on a GPU) as host memory."""
    if hasattr(e, "detach") and hasattr(e, "cpu"):
        e = e.detach().cpu()
        # numpy has no bfloat16: its values go to float32 exactly
        return (e.float() if str(e.dtype) == "torch.bfloat16" else e).numpy()
    return e


def _frame_array(df: Any) -> np.ndarray:
    kinds = []
    for d in df.dtypes:
        try:
            kinds.append(np.dtype(d))
        except TypeError:          # a pandas extension dtype (category, Int64, string, ...)
            return np.asarray(df.to_numpy())
    if kinds and all(d.kind in "biuf" for d in kinds) and any(d.kind != "f" for d in kinds):
        floats = [d for d in kinds if d.kind == "f"]
        return df.to_numpy(dtype=np.result_type(*floats) if floats else np.float64)
    return np.asarray(df.to_numpy())


def check_target_width(idx: np.ndarray, k: int) -> None:
    """Int targets against the width k of the output actually computed (the remembered
    output shape can be stale if the model's head was replaced between calls)."""
    hi = int_range(idx)[1]
    if hi >= k:
        raise NBExplainError(f"target {hi} is out of range: " + _classes_text(k) + ".")


#: the one-output case: a binary classifier with one logit has one score per example
ONE_SCORE = ("the model has one output column (a binary classifier with one logit): target 0 "
             "is its score, whichever class is predicted; explain the other class with "
             "target=lambda out: -out[:, 0] (or 1 - p with score='probability')")


def _classes_text(k: int, what: str | None = None) -> str:
    if k == 1 and what is None:
        return ONE_SCORE
    return (f"the model output has {what or f'{k} classes'} (valid targets are 0..{k - 1})")


def target_indices(target: Any, k: int, n: int, shape: Sequence[int] | None = None
                   ) -> np.ndarray:
    """Integer class targets (one int, or one per example) checked against k classes (``shape``:
    one example's output shape, for the message)."""
    idx = np.asarray(target)
    if idx.dtype.kind not in "iu":
        raise NBExplainError(
            f"target {target!r} is not an integer class index; pass an int, a list of ints "
            "(one per example), 'predicted', or a callable on the output."
        )
    if idx.ndim == 0:
        idx = np.full(n, int(idx), dtype=np.int64)
    elif idx.shape != (n,) and idx.size == n:
        raise NBExplainError(
            f"target has shape {idx.shape}; pass a flat array with one int per example "
            f"(shape ({n},)), e.g. y.ravel().")
    elif idx.shape != (n,):
        raise NBExplainError(
            f"target has {idx.size} entries but the batch has {n} examples; pass one int for "
            "all, or exactly one per example."
        )
    lo, hi = int_range(idx)
    if n and (lo < 0 or hi >= k):
        bad = (idx < 0) | (idx >= k)
        what = None if shape is None or len(shape) <= 1 else (
            f"{'×'.join(map(str, shape))} = {k} entries per example, and targets index them "
            "flattened")
        raise NBExplainError(f"target {idx[bad][0]} is out of range: "
                             + _classes_text(k, what) + ".")
    return idx.astype(np.int64)


def select_output(out: Any, output: Any, *, names: Sequence[str] | None = None,
                  lists_are_outputs: bool = True) -> Any:
    """Pick the output to explain from a model that returns a tuple, list or dict.

    ``output`` is an index or key (or, with ``names``, an output name); a one-element tuple or
    list needs no selector. Anything else passes through unchanged. Shared by every adapter so
    the messages are the same in every framework. A string also names a field of an output
    object (a namedtuple, a dataclass, a HuggingFace ModelOutput: ``output="logits"``).
    """
    if isinstance(output, str) and not isinstance(out, dict) and not hasattr(out, "shape"):
        # a named field of an output object (a namedtuple, a dataclass, a HuggingFace
        # ModelOutput: output="logits"), not a method of it (a tuple's "count")
        if output in getattr(out, "_fields", ()) or (
                not isinstance(out, (tuple, list)) and hasattr(out, output)
                and not callable(getattr(out, output))):
            return getattr(out, output)
    if isinstance(out, tuple) or (isinstance(out, list)
                                  and (lists_are_outputs or output is not None)):
        if len(out) == 1 and output is None:
            return out[0]
        if output is None:
            raise NBExplainError(
                f"the model returned a {type(out).__name__} of {len(out)} outputs; pass "
                "output=<index> to choose the one to explain (e.g. output=0).")
        sel = output
        if names and isinstance(sel, str) and sel in names and len(names) == len(out):
            sel = list(names).index(sel)
        try:
            return out[sel]
        except (IndexError, TypeError) as e:
            hint = f" or a name in {list(names)}" if names and len(names) == len(out) else ""
            raise NBExplainError(
                f"output={output!r} does not select one of the model's {len(out)} outputs; "
                f"use an index in 0..{len(out) - 1}{hint}.") from e
    if isinstance(out, dict):
        if output is None or output not in out:
            which = "" if output is None else f"output={output!r} is not one of its keys: "
            raise NBExplainError(
                f"the model returned a dict with keys {sorted(map(str, out))}; {which}pass "
                "output=<key> to choose the one to explain.")
        return out[output]
    if output is not None and not hasattr(out, "shape") and hasattr(out, "__dict__"):
        fields = [f for f in vars(out) if not f.startswith("_")]
        raise NBExplainError(
            f"output={output!r} is not a field of the model's {type(out).__name__} output"
            + (f"; its fields: {fields}." if fields else "."))
    return out


def check_rows(rows: int, n: int) -> None:
    """NBExplainError unless the model's output has one row per example."""
    if rows != n:
        raise NBExplainError(
            f"the model returned {rows} row(s) of output for {n} examples; nbexplain needs one "
            "row of scores per example (N×K). A model that reduces over the batch (a mean or "
            "sum over axis 0) or puts another axis first (a time-major RNN, batch_first="
            "False) must be wrapped to return N×K, e.g. lambda x: model(x.transpose(0, 1))"
            "[-1] for a time-major RNN.")


def not_a_tensor(out: Any, output: Any, kind: str = "tensor") -> NBExplainError:
    """The error for a (selected) output that is not a tensor, naming what was selected."""
    if output is None:
        return NBExplainError(
            f"the model returned {type(out).__name__}, not a tensor; nbexplain needs a {kind} "
            "of logits or probabilities (or pass output= to select one).")
    return NBExplainError(
        f"output={output!r} selected {type(out).__name__}, not a tensor; nbexplain needs a "
        f"{kind} of logits or probabilities: pick the output (index, key or field name) "
        "that holds them.")


class Adapter:
    """Interface every framework adapter implements (``backends/torch/``,
    ``backends/tensorflow/``, ``backends/numpy.py``).

    Native tensors ("T" below) stay on the model's device. Batch axis first. Methods combine
    them with the operators both frameworks share (``+ - * /``) and the ops listed here.
    ``target`` arguments are what ``resolve_target`` returned: an int64 numpy array with one
    class index per example of the tensor passed alongside, or a callable on the output.
    """

    framework: str = "abstract"
    supports_gradients: bool = False
    channels_first: bool = True
    #: the columns the model was fitted on (a scikit-learn estimator's feature_names_in_)
    _names_in: list | None = None
    #: the column names of a DataFrame given as the inputs of this call (set by _setup)
    input_columns: list | None = None
    #: input elements per forward pass when a method batches many rows itself (IG path
    #: points, Shapley coalitions, ...) and the user gave no ``batch_size``; see ``rows_per_pass``
    pass_elements: int = 2 ** 20
    #: whether a method's few small sums and products between passes run faster on host
    #: numpy arrays than as this adapter's own ops (eager TensorFlow on a CPU)
    host_math: bool = False

    def rows_per_pass(self, example_shape: Sequence[int]) -> int:
        """Rows per forward pass when ``batch_size`` is None: ``pass_elements`` input elements
        (at least 8 rows), so memory stays bounded however many rows a method needs. Each
        adapter sets the budget where its framework runs fastest (docs/decisions.md)."""
        n_el = 1
        for d in example_shape:
            n_el *= int(d)
        return int(max(8, self.pass_elements // max(1, n_el)))

    def _bind(self, model: Any, output: Any, score: str, accepts: str) -> None:
        """The checks and fields every adapter's constructor shares."""
        if not callable(model):
            raise NBExplainError(f"model {type(model).__name__} is not callable; pass {accepts}.")
        if score not in ("logit", "probability"):
            raise NBExplainError(f"score={score!r}; use 'logit' or 'probability'.")
        self.model, self.output, self.score = model, output, score
        #: what selects the explained output, as a hashable key
        self.output_key = (repr(output), score)

    @property
    def device(self) -> str:
        return "cpu"

    def input_count(self) -> int | None:
        """How many input tensors the model takes, where the adapter can tell (else None);
        asked only to explain a failure."""
        return None

    def single_example_ranks(self) -> frozenset:
        """Input ranks that are one example for this model whatever the model accepts (a
        torch Conv2d model also runs an unbatched C×H×W image, and would answer a single
        1×28×28 image with one row as if it were a batch of one 28×28 sequence)."""
        return frozenset()

    def unprobeable_ranks(self) -> frozenset:
        """Input ranks this model must not be probed with (``batched=`` must decide)."""
        return frozenset()

    # --- conversion -----------------------------------------------------------------
    def as_tensor(self, x: Any) -> Any:
        """numpy/native -> native float tensor on the model's device (ints stay ints)."""
        raise NotImplementedError

    def to_numpy(self, t: Any) -> np.ndarray:
        raise NotImplementedError

    def check_input(self, x: Any, needs_gradients: bool) -> None:
        """Raise NBExplainError for NaN/inf, or integer inputs when gradients are needed."""
        raise NotImplementedError

    # --- model ------------------------------------------------------------------------
    def predict(self, x: Any, batch_size: int | None = None,
                score: str | None = None) -> np.ndarray:
        """Selected model output (logits, or probabilities with score='probability');
        ``score`` overrides the adapter's (``'logit'``: the output as the model returns it)."""
        raise NotImplementedError

    def layer_channels_first(self, layer: Any) -> bool:
        """Whether ``layer``'s 4-axis output is N×C×H×W (Grad-CAM's channel axis); the
        inputs' layout unless the adapter knows better."""
        return self.channels_first

    def output_activation(self) -> str | None:
        """'softmax' or 'sigmoid' where the model's structure shows that its output already
        goes through one (a Keras Dense(..., activation='softmax') head, an nn.Softmax at
        the end of an nn.Sequential), else None (unknown)."""
        return None

    def resolve_target(self, target: Any, x: Any) -> np.ndarray | Callable:
        raise NotImplementedError

    def scores(self, x: Any, target: Any, batch_size: int | None = None) -> Any:
        """Target scores (N,) without gradients, batched, as a native tensor."""
        raise NotImplementedError

    def input_gradients(self, x: Any, target: Any) -> tuple[Any, Any]:
        """(scores (N,), d score / d x with x's shape), native, one forward+backward."""
        raise NBExplainError(
            f"the {self.framework} adapter cannot take gradients; use a perturbation method "
            "(occlusion, shapley, lime) or pass a torch/Keras model.")

    def input_gradient(self, x: Any, target: Any) -> Any:
        """d score / d x alone, for methods that do not use the scores."""
        return self.input_gradients(x, target)[1]

    def layer_names(self) -> list[str]:
        """Names of the layers a layer method (Grad-CAM) can read, in model order: the
        convolutional ones (empty for models without layers)."""
        return []

    def layer_output(self, x: Any, layer: Any) -> Any:
        """The output of ``layer`` for ``x`` (layer attribution through an embedding)."""
        raise NBExplainError(f"layer attribution is not supported for {type(self).__name__} "
                             "models; pass a torch nn.Module or a Keras model.")

    def replaced_layer_gradients(self, x: Any, layer: Any, replacement: Any,
                                 target: Any) -> tuple[Any, Any]:
        """``(scores, gradient)`` of the target scores with respect to ``layer``'s output
        when that output is replaced by ``replacement`` (one per row of ``x``)."""
        raise NBExplainError(f"layer attribution is not supported for {type(self).__name__} "
                             "models; pass a torch nn.Module or a Keras model.")

    def find_layer(self, layer: Any, example: Any = None) -> tuple[Any, str]:
        """Resolve a layer given by name or object (or None: the last spatial conv-like
        layer) to ``(layer_object, name)``; NBExplainError naming candidates if missing."""
        raise NBExplainError(f"the {self.framework} adapter has no layers.")

    def layer_gradients(self, x: Any, target: Any, layer: Any) -> tuple[Any, Any, Any]:
        """(scores (N,), activations A, d score / d A) of a layer returned by find_layer.

        For image layers A is laid out like the model's images (N,C,h,w torch, N,h,w,C Keras).
        """
        raise NBExplainError(f"the {self.framework} adapter cannot take layer gradients.")

    # --- small array ops on native tensors ---------------------------------------------
    # --- the calling thread's framework state around one call (attribute(), a job) ---------
    def thread_state(self) -> Any:
        """What :meth:`recover` restores (torch: the grad mode)."""
        return None

    def recover(self, state: Any) -> None:
        """After a call ended with an exception, KeyboardInterrupt included: undo what an
        interrupted pass may have left in this thread (torch: its hooks on the model, the
        grad mode)."""

    # --- optional shortcuts: an adapter may offer a faster form of a method's inner loop.
    # The default (None) tells the method to run its generic passes; methods call these
    # unconditionally and never probe the adapter with getattr.
    def path_gradient_chunk(self, x: Any, b: Any, alphas: np.ndarray, weights: np.ndarray,
                            target: Any) -> tuple[Any, Any] | None:
        """``(Σ_k w_k ∂f/∂x (b + α_k (x − b)) per example, the (k·m,) target scores at the
        points)`` for one chunk of Integrated Gradients path points, or None."""
        return None

    def integrated_gradients_whole(self, x: Any, b: Any, alphas: np.ndarray,
                                   weights: np.ndarray, target: Any, delta: bool = True
                                   ) -> tuple[Any, Any] | None:
        """``(attributions, completeness delta)`` of Integrated Gradients in one call, for a
        batch whose path points fit one pass, or None. Without ``delta`` no end-point pass
        runs and the second value is meaningless."""
        return None

    def linspace(self, start: float, end: float, n: int) -> np.ndarray | None:
        """``n`` evenly spaced points as the framework computes them, as float64 holding
        the values exactly (IG's Riemann rules: Captum's path points are
        ``torch.linspace(...)`` in float32); None: numpy's."""
        return None

    def grad_cam_whole(self, x: Any, target: Any, layer: Any, weights_fn: Any, relu: bool,
                       upsample: bool, size: tuple) -> tuple | None:
        """``(cam (N, H, W), raw map (N, h, w))`` of Grad-CAM (``weights_fn``: the variant's
        channel weights) for a batch in one call, or None."""
        return None

    def concat(self, ts: list, axis: int = 0) -> Any:
        raise NotImplementedError

    def stack(self, ts: list, axis: int = 0) -> Any:
        raise NotImplementedError

    def reshape(self, t: Any, shape: tuple) -> Any:
        raise NotImplementedError

    def repeat(self, t: Any, n: int) -> Any:
        """Repeat each example n times consecutively along the batch axis (N -> N*n)."""
        raise NotImplementedError

    def take(self, t: Any, idx: np.ndarray) -> Any:
        """Rows of t along the batch axis, by a numpy int index array."""
        raise NotImplementedError

    def abs(self, t: Any) -> Any:
        raise NotImplementedError

    def relu(self, t: Any) -> Any:
        raise NotImplementedError

    def reduce(self, t: Any, op: str, axis: Any, keepdims: bool = False) -> Any:
        """op in {'sum', 'mean', 'max'}; axis an int or a tuple of ints."""
        raise NotImplementedError

    def broadcast_to(self, t: Any, shape: tuple) -> Any:
        """A broadcast view of t (no copy where the framework allows)."""
        raise NotImplementedError

    def zeros_like(self, t: Any) -> Any:
        raise NotImplementedError

    def where(self, mask: Any, a: Any, b: Any) -> Any:
        """Elementwise select with broadcasting: an operand with a batch axis of 1 (one
        example, one baseline row) broadcasts against the mask without being copied."""
        raise NotImplementedError

    def weights(self, w: Any, ndim: int, like: Any = None) -> Any:
        """A 1-D numpy weight vector as a native tensor shaped (len, 1, ..., 1) (ndim axes),
        for scaling examples along the batch axis; dtype of ``like`` when given, else the
        model's float dtype."""
        raise NotImplementedError

    def resize(self, t: Any, size: tuple[int, int]) -> Any:
        """Bilinear resize of image-layout maps (spatial axes per the adapter's layout),
        align_corners=False semantics."""
        raise NotImplementedError

    def channel_axis(self, ndim: int) -> int:
        raise NotImplementedError
