"""Compiled (tf.function) paths of the TensorFlow adapter: input gradients, target scores, IG
path gradients, Integrated Gradients in one call and Grad-CAM's layer gradients, each traced
once per Keras model and output selection and cached in ``_COMPILED`` (the one home of that
cache). Plain callables and tf.Modules stay eager."""

from __future__ import annotations

import functools
import warnings
import weakref
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from ..._errors import NBExplainError, user_stacklevel
from .keras_info import _children, _graph, _is_keras_layer
from .util import _NONE_GRADIENT, _captured


def _per_model_function(run: Callable) -> Any:
    """``tf.function(run)`` for one model. TensorFlow counts the traces of a tf.function
    per code object, so the same nested ``run`` compiled for five models in a session (a
    notebook cell re-run after retraining) printed its "triggered tf.function retracing ...
    define your @tf.function outside of the loop" warning about code the user never wrote.
    Wrapped in a partial (no ``__code__``), each model's function is counted on its own; a
    function that really retraces still warns."""
    return tf.function(functools.partial(run), reduce_retracing=True)


# Compiled (tf.function) gradient and score functions, per Keras model and output selection.
# Tracing costs a few hundred ms once; every later call with the same input signature then
# runs as one graph, which is what the tutorials' @tf.function code gets.
_COMPILED: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()

#: per compiled function: its concrete functions by the shapes and dtypes of the arguments
_CONCRETE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _call(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` for a compiled function of tensors, through the concrete function traced
    for these shapes and dtypes, found by a dict lookup. Calling the tf.function itself
    binds and canonicalises the arguments and looks the trace up on every call: ~150 µs of
    a ~1 ms batch-1 saliency call on the small CNN, which the tutorials' @tf.function code
    pays too."""
    sig = tuple((tuple(a.shape), a.dtype) for a in args)
    try:
        table = _CONCRETE.setdefault(fn, {})
    except TypeError:  # pragma: no cover - not weak-referenceable
        return fn(*args)
    hit = table.get(sig)
    if hit is None:
        cf = fn.get_concrete_function(*args)
        # the flat call skips binding the arguments to the signature again (~40 µs); it
        # is TensorFlow's own inner call (2.x), taken only where it has that form
        flat = getattr(cf, "_call_flat", None)
        hit = table[sig] = (cf, flat if callable(flat) and hasattr(cf, "captured_inputs")
                            and not cf.structured_input_signature[1] else None)
    cf, flat = hit
    if flat is not None:
        return flat(list(args), cf.captured_inputs)
    return cf(*args)


_INDEX: dict[tuple, Any] = {}


def _index_tensor(target: Any) -> Any:
    """Integer targets as an int64 tensor, remembered for the last few target arrays (a
    tf.constant from numpy costs ~10 µs; a widget asks again and again for the same few)."""
    tn = np.asarray(target, dtype=np.int64)
    key = (tn.shape, tn.tobytes())
    t = _INDEX.get(key)
    if t is None:
        if len(_INDEX) >= 64:
            _INDEX.clear()
        t = _INDEX[key] = tf.constant(tn)
    return t


#: what TensorFlow says when tracing, not the model, is the problem
_TRACING_WORDS = ("symbolic", "tf.function", "autograph", "only available when eager",
                  "eagertensor", "unhashable", "out of scope", "inaccessible")


#: what Keras adds to an exception raised inside a layer's call
_MODEL_RAISED = "Exception encountered when calling"


def _first_line(text: str) -> str:
    """The reason in an error message (AutoGraph puts its traceback first, the reason last)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[-1] if lines else text)[:200]


def _tracing_failure(e: BaseException) -> bool:
    """Whether ``e`` is a failure of running the model inside tf.function (which eager
    execution does not have), rather than the model's own error."""
    kinds = tuple(k for k in (getattr(tf.errors, "OperatorNotAllowedInGraphError", None),
                              getattr(tf.errors, "InaccessibleTensorError", None)) if k)
    if kinds and isinstance(e, kinds):
        return True
    text = str(e).lower()
    return any(w in text for w in _TRACING_WORDS)


class _CompiledPaths:
    """``TensorFlowAdapter``'s compiled paths (a mixin: uses the adapter's ``model``,
    ``output``, ``score``, ``_on``, ``_detached``, ``_select_output``,
    ``_check_differentiable``, ``_submodel`` and ``_call_capturing``)."""

    # provided by the adapter this mixin is part of (declared for the type checker)
    model: Any
    output: Any
    score: Any
    _on: Any
    _detached: Any
    _submodel: Any

    def _compiled(self, kind: str):
        """The cached tf.function of ``kind`` ('grad' or 'scores') for a Keras model, or None
        (plain callables and tf.Modules stay eager: they may hold Python side effects)."""
        if not _is_keras_layer(self.model):
            return None
        try:
            per_model = _COMPILED.setdefault(self.model, {})
        except TypeError:  # pragma: no cover - not weak-referenceable
            return None
        key = (kind, repr(self.output), self.score)
        fn = per_model.get(key)
        if fn is False:  # graph mode failed for this model before: stay eager
            return None
        if fn is None:
            # the cached closures must not hold the adapter (it holds the model, the key of
            # the weak cache: the model would never be freed); they hold a weak reference
            d = self._detached()
            ref = weakref.ref(self.model)

            def forward(x):
                return d._select_output(ref()(x))

            if kind == "grad":
                def run(x, idx):
                    with tf.GradientTape(watch_accessed_variables=False) as tape:
                        tape.watch(x)
                        out = forward(x)
                        s = d._scores_by_index(out, idx)
                    d._check_differentiable(out, s)
                    g = tape.gradient(s, x)
                    if g is None:  # known while tracing: the graph is disconnected
                        raise NBExplainError(_NONE_GRADIENT)
                    return s, tf.convert_to_tensor(g)
            elif kind in ("path", "ig"):
                def path_sum(x, b, a, w, idx):
                    # b + α (x − b) for every α, built inside the graph (which frees the
                    # points after the first layer), gradients, Σ_k w_k g_k per example,
                    # and the (k·m,) target scores at the points
                    k, m = tf.shape(x)[0], tf.shape(a)[0]
                    shp = tf.concat([[1, m], tf.ones([tf.rank(x) - 1], tf.int32)], 0)
                    pts = b[:, None] + tf.reshape(a, shp) * (x - b)[:, None]
                    flat = tf.reshape(pts, tf.concat([[k * m], tf.shape(x)[1:]], 0))
                    with tf.GradientTape(watch_accessed_variables=False) as tape:
                        tape.watch(flat)
                        out = forward(flat)
                        s = d._scores_by_index(out, tf.repeat(idx, m))
                    d._check_differentiable(out, s)
                    g = tape.gradient(s, flat)
                    if g is None:
                        raise NBExplainError(_NONE_GRADIENT)
                    g = tf.reshape(tf.convert_to_tensor(g), tf.shape(pts))
                    return tf.reduce_sum(g * tf.reshape(w, shp), axis=1), s

                def whole(x, b, a, w, idx, j0, j1):
                    # the whole of IG for a batch whose points fit one pass: (x − b)·Σ and
                    # the completeness delta, with f(b) and f(x) read from the points at
                    # α = 0 and α = 1 when the rule has them (index j0 / j1 ≥ 0), else from
                    # one more pass (-1), or not at all (-2: delta=False); tensors, not
                    # Python flags, so that every rule and step count shares one trace
                    gsum, s = path_sum(x, b, a, w, idx)
                    attr = (x - b) * gsum
                    s2 = tf.reshape(s, [tf.shape(x)[0], -1])

                    def end(j, at):
                        return tf.cond(
                            j >= 0, lambda: tf.gather(s2, tf.maximum(j, 0), axis=1),
                            lambda: tf.cond(j == -1,
                                            lambda: d._scores_by_index(forward(at), idx),
                                            lambda: tf.zeros_like(s2[:, 0])))

                    fx, fb = end(j1, x), end(j0, b)
                    k = tf.shape(x)[0]
                    total = tf.reduce_sum(tf.reshape(attr, [k, -1]), axis=1)
                    if fx.dtype != attr.dtype:  # as delta_of: mixed dtypes meet in float64
                        total, fx, fb = (tf.cast(t, tf.float64) for t in (total, fx, fb))
                        return attr, tf.cast(total - (fx - fb), attr.dtype)
                    return attr, total - (fx - fb)

                run = path_sum if kind == "path" else whole  # type: ignore[assignment]
            else:
                def run(x, idx):
                    return d._scores_by_index(forward(x), idx)
            fn = per_model[key] = _per_model_function(run)
        return fn

    def path_gradient_chunk(self, x, b, alphas, weights, target):
        """``(Σ_k w_k ∂f/∂x (b + α_k (x − b)) per example, the (k·m,) target scores at the
        points)`` in one compiled call, or None (the caller then builds the points itself)."""
        fn = None if callable(target) else self._compiled("path")
        if fn is None or not x.dtype.is_floating:
            return None
        try:
            with self._on():
                return _call(fn, x, b, tf.constant(np.asarray(alphas), dtype=x.dtype),
                          tf.constant(np.asarray(weights), dtype=x.dtype),
                          _index_tensor(target))
        except NBExplainError:
            raise
        except Exception as e:
            self._fall_back_or_raise("path", e)
            return None

    def integrated_gradients_whole(self, x, b, alphas, weights, target, delta=True):
        """``(attributions, completeness delta)`` of Integrated Gradients in one compiled
        call, for a batch whose path points the caller has found to fit one pass; None where
        there is no compiled form (the caller then runs the generic passes). Eager
        TensorFlow ops cost 20–200 µs each on a CPU: on the tabular benchmark MLP (8 rows,
        51 points) the generic passes spent ~3 ms of a ~4.5 ms call in the eager slicing,
        reshaping and sums around a 1.4 ms compiled pass."""
        fn = None if callable(target) else self._compiled("ig")
        if fn is None or not x.dtype.is_floating:
            return None
        a = np.asarray(alphas)
        missing = -1 if delta else -2       # an end point off the path: one more pass, or none
        at0, at1 = np.flatnonzero(a == 0.0), np.flatnonzero(a == 1.0)
        try:
            with self._on():
                return _call(fn, x, b, tf.constant(a, dtype=x.dtype),
                             tf.constant(np.asarray(weights), dtype=x.dtype),
                             _index_tensor(target),
                             tf.constant(int(at0[0]) if at0.size else missing, tf.int32),
                             tf.constant(int(at1[0]) if at1.size else missing, tf.int32))
        except NBExplainError:
            raise
        except Exception as e:
            if isinstance(e, tf.errors.InvalidArgumentError) and "indices" in str(e).lower():
                return None    # a bad target: the eager path says so clearly
            self._fall_back_or_raise("ig", e)
            return None

    def _compiled_layer(self, layer: Any):
        """tf.function of (scores, A, dS/dA) for a functional/Sequential model: through the
        cached sub-model for a layer the model calls directly, else through the op-by-op run
        of ``_call_capturing`` (a layer inside a nested model, e.g. a backbone in a
        Sequential: eager, that ran 5-6x as long). None for other models."""
        if _graph(self.model) is None:
            return None
        try:
            per_model = _COMPILED.setdefault(self.model, {})
        except TypeError:  # pragma: no cover
            return None
        key = ("layer", id(layer), repr(self.output), self.score)
        hit = per_model.get(key)
        if hit is False:
            return None
        if hit is not None and hit[0]() is layer:
            return hit[1]
        d = self._detached()
        if not _children(layer) and any(c is layer for c in _children(self.model)):
            sub = self._submodel(self.model, layer)   # holds the layers, not the model

            def capture(x):
                return sub(x)
        else:
            d._submodels = {}
            ref = weakref.ref(self.model)             # the closure must not hold the model

            def capture(x):
                store: dict[str, Any] = {}
                raw = d._call_capturing(ref(), layer, store, (x,), {})
                return _captured(store), raw

        def run(x, idx):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(x)
                a, raw = capture(x)
                tape.watch(a)
                out = d._select_output(raw)
                s = d._scores_by_index(out, idx)
            d._check_differentiable(out, s)
            g = tape.gradient(s, a)
            if g is None:
                raise NBExplainError(f"the target score does not depend on layer "
                                     f"{layer.name!r}.")
            return s, a, tf.convert_to_tensor(g)
        fn = _per_model_function(run)
        per_model[key] = (weakref.ref(layer), fn)
        return fn

    def grad_cam_whole(self, x: Any, target: Any, layer: Any, weights_fn: Any, relu: bool,
                       upsample: bool, size: tuple) -> tuple | None:
        """Grad-CAM (or a variant's ``weights_fn``) as one tf.function: the layer gradients,
        the channel weights, the weighted sum, the ReLU and the resize in one graph, as
        keras.io's Grad-CAM in tf.function runs (eagerly each of those is its own op call:
        2.7x that at batch 1). None where the eager path must run (a callable target,
        integer inputs, a layer in another layout than the inputs, a failure)."""
        lcf = self.layer_channels_first(layer)       # type: ignore[attr-defined]
        if (callable(target) or not x.dtype.is_floating
                or lcf != self.channels_first):       # type: ignore[attr-defined]
            return None
        layer_fn = self._compiled_layer(layer)
        if layer_fn is None:
            return None
        per_model = _COMPILED.setdefault(self.model, {})
        key = ("cam", id(layer), weights_fn, bool(relu), bool(upsample), tuple(size),
               repr(self.output), self.score)
        hit = per_model.get(key)
        if hit is False:
            return None
        if hit is not None and hit[0]() is layer:
            fn = hit[1]
        else:
            spatial, ch = ((2, 3), 1) if lcf else ((1, 2), 3)
            size = (int(size[0]), int(size[1]))

            def run(x, idx):
                _, a, g = layer_fn(x, idx)
                raw = tf.reduce_sum(weights_fn(_TF_OPS, a, g, spatial) * a, axis=ch,
                                    keepdims=True)
                cam = tf.nn.relu(raw) if relu else raw
                hw = tuple(cam.shape[2:4] if lcf else cam.shape[1:3])
                if upsample and hw != size:
                    c4 = tf.transpose(cam, (0, 2, 3, 1)) if lcf else cam
                    c4 = tf.cast(tf.image.resize(c4, size, method="bilinear",
                                                 antialias=False), cam.dtype)
                    cam = tf.transpose(c4, (0, 3, 1, 2)) if lcf else c4
                return tf.reduce_sum(cam, axis=ch), tf.reduce_sum(raw, axis=ch)
            fn = _per_model_function(run)
            per_model[key] = (weakref.ref(layer), fn)
        try:
            with self._on():
                return _call(fn, x, _index_tensor(target))
        except NBExplainError:
            raise
        except Exception:   # noqa: BLE001 - the eager path runs, and says what is wrong
            per_model[key] = False
            return None

    def _scores_by_index(self, out: tf.Tensor, idx: tf.Tensor) -> tf.Tensor:
        flat = tf.reshape(out, (tf.shape(out)[0], -1))
        if out.shape.rank == 1 or (flat.shape[1] is not None and flat.shape[1] == 1):
            return flat[:, 0]
        return tf.gather(flat, idx, axis=1, batch_dims=1)

    def _run_compiled(self, kind: str, x: tf.Tensor, target: Any):
        fn = None if callable(target) else self._compiled(kind)
        if fn is None:
            return None
        idx = _index_tensor(target)
        try:
            with self._on():
                return _call(fn, x, idx)
        except NBExplainError:
            raise
        except Exception as e:
            if isinstance(e, tf.errors.InvalidArgumentError) and "indices" in str(e).lower():
                return None     # a target out of range: the eager path says so clearly
            self._fall_back_or_raise(kind, e)   # graph mode refused the model: eager
            return None

    def _fall_back_or_raise(self, kind: Any, e: Exception) -> None:
        """After the compiled call failed. An error raised inside one of the model's layers
        (Keras says "Exception encountered when calling ...") is the model's own: raised as
        it is, never hidden behind an eager re-run (which could succeed where the model is
        flaky). nbexplain's own checks, raised while tracing, are left to the eager path,
        which states them plainly. Anything else (tracing itself failed: Python control flow
        on a tensor, ``.numpy()`` in ``call``, graph-only shape checks) switches this model
        to eager for good, with one warning that names the model and the reason."""
        text = str(e)
        if "NBExplainError" in text:
            return
        # a layer's own exception, or an op failing while the graph runs (a failed
        # tf.debugging assertion, a bad reshape of this input): the model's, not tracing's
        runtime = isinstance(e, tf.errors.OpError)
        if (runtime or _MODEL_RAISED in text) and not _tracing_failure(e):
            e.add_note("nbexplain: raised by the model inside nbexplain's compiled "
                       "(tf.function) call.")
            raise e
        name = getattr(self.model, "name", None) or type(self.model).__name__
        if not _COMPILED.get(self.model, {}).get("warned"):
            warnings.warn(
                f"nbexplain: the model {name!r} cannot run inside tf.function "
                f"({type(e).__name__}: {_first_line(text)}); computing eagerly for this model "
                "from now on, which is slower.", stacklevel=user_stacklevel())
            _COMPILED.setdefault(self.model, {})["warned"] = True
        self._uncompilable(kind)

    def _uncompilable(self, kind: Any) -> None:
        key = (kind if isinstance(kind, tuple) else (kind,)) + (repr(self.output), self.score)
        _COMPILED.setdefault(self.model, {})[key] = False


class _TFOps:
    """The array ops Grad-CAM's weight functions use, as plain TensorFlow ops (inside a
    tf.function, where the adapter itself is not held)."""

    @staticmethod
    def reduce(t, op, axis, keepdims=False):
        return {"sum": tf.reduce_sum, "mean": tf.reduce_mean, "max": tf.reduce_max}[op](
            t, axis=axis, keepdims=keepdims)

    @staticmethod
    def relu(t):
        return tf.nn.relu(t)

    @staticmethod
    def where(mask, a, b):
        return tf.where(mask, a, b)

    @staticmethod
    def zeros_like(t):
        return tf.zeros_like(t)


_TF_OPS = _TFOps()
