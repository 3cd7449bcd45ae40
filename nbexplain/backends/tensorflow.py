"""TensorFlow adapter: a Keras 3 ``Model`` (Sequential, functional, subclassed), a ``tf.Module``,
or any callable on TF tensors.

Everything runs under ``tf.device(...)`` of the device that holds the model's variables (or the
one given as ``device=``); data stays a TF tensor there until ``to_numpy``. The model is never
changed: it is called as ``model(x)`` (Keras' default inference mode, ``training`` is never
passed), variables' ``trainable`` flags are not touched, input gradients come from a
``tf.GradientTape`` that watches only the input (``watch_accessed_variables=False``).

Layer activations and gradients (Grad-CAM):

* a functional model, or a Sequential model with its graph (built on an ``Input`` or by a first
  call): a sub-model ``keras.Model(model.inputs, [layer.output, model.output])`` that reuses the
  model's own graph and layers (no new layer calls, no new nodes), cached per layer;
* a Sequential model without a graph: its layers are called one by one;
* a layer inside a nested model (``Sequential([base_model, ...])`` or a functional model calling
  ``base_model(x)``): the outer model is run op by op and the nested model that holds the layer is
  replaced, for this call only, by its own sub-model; nothing on the model is patched;
* a subclassed model: its ``call()`` is opaque Python, so layer methods raise NBExplainError
  suggesting a functional model.
"""

from __future__ import annotations

import functools
import types
import weakref

from typing import Any, Callable

import numpy as np
import tensorflow as tf

from .._errors import NBExplainError
from .base import (MULTI_INPUT_FIX, Adapter, check_finite, check_float_input, check_rows,
                   check_target_width, host_array, not_a_tensor, resolve_target,
                   select_output)


def _keras():
    try:
        import keras
    except ImportError:  # pragma: no cover - TF >= 2.16 ships Keras 3
        return None
    return keras


def _is_keras_layer(obj: Any) -> bool:
    k = _keras()
    return k is not None and isinstance(obj, k.layers.Layer)


def _is_sequential(obj: Any) -> bool:
    k = _keras()
    return k is not None and isinstance(obj, k.Sequential)


def _graph(obj: Any) -> Any:
    """The Functional graph that runs ``obj`` (itself, or a built Sequential's), else None."""
    if _is_sequential(obj):
        obj = getattr(obj, "_functional", None)
        if obj is None:
            return None
    if (_is_keras_layer(obj) and hasattr(obj, "_run_through_graph")
            and hasattr(obj, "_nodes_by_depth")):
        return obj
    return None


def _image_layer_format_of(layer: Any) -> str | None:
    """The data_format of an image layer (Conv2D, Pooling2D, ...: rank 2 or 3 spatial),
    else None."""
    fmt = getattr(layer, "data_format", None)
    rank = getattr(layer, "rank", None)
    name = type(layer).__name__
    if fmt in ("channels_first", "channels_last") and (
            rank in (2, 3) or "2D" in name or "3D" in name):
        return fmt
    return None


def _captured(store: dict) -> Any:
    """The layer output ``_call_capturing`` stored (the first of several outputs)."""
    a = store.get("a")
    if isinstance(a, (list, tuple)):
        a = a[0]
    if a is None or not tf.is_tensor(a):
        raise NBExplainError("the chosen layer was not called during the forward pass; pick a "
                             "layer the model actually uses.")
    return a


def _per_model_function(run: Callable) -> Any:
    """``tf.function(run)`` for one model. TensorFlow counts the traces of a tf.function
    per code object, so the same nested ``run`` compiled for five models in a session (a
    notebook cell re-run after retraining) printed its "triggered tf.function retracing ...
    define your @tf.function outside of the loop" warning about code the user never wrote.
    Wrapped in a partial (no ``__code__``), each model's function is counted on its own; a
    function that really retraces still warns."""
    return tf.function(functools.partial(run), reduce_retracing=True)


def _is_input_layer(layer: Any) -> bool:
    return type(layer).__name__ == "InputLayer"


def _is_conv(layer: Any) -> bool:
    for c in type(layer).__mro__:
        if c.__name__ in ("Layer", "object"):
            return False
        if "Conv" in c.__name__:
            return True
    return False


def _children(container: Any) -> list:
    """The layers a Keras container calls directly (nested models count as one)."""
    layers = getattr(container, "layers", None)
    if layers is None:
        return []
    try:
        return [c for c in layers if not _is_input_layer(c)]
    except Exception:  # pragma: no cover - defensive
        return []


def _contains(container: Any, layer: Any) -> bool:
    """container is layer, or calls it (directly or through nested models)."""
    return container is layer or any(_contains(c, layer) for c in _children(container))


def _flatten_layers(obj: Any) -> list:
    """All Keras layers under ``obj`` (not obj itself), parents before children."""
    if hasattr(obj, "_flatten_layers"):
        try:
            return list(obj._flatten_layers(include_self=False, recursive=True))
        except Exception:  # pragma: no cover - defensive
            pass
    out = []
    for c in _children(obj):
        out.append(c)
        out.extend(_flatten_layers(c))
    return out


def _variables(model: Any) -> list:
    for attr in ("weights", "variables"):
        try:
            vs = getattr(model, attr)
        except Exception:
            continue
        if vs is not None and not callable(vs):
            try:
                return list(vs)
            except TypeError:
                continue
    return []


def _var_device_dtype(v: Any) -> tuple[str | None, tf.DType | None]:
    tv = v if isinstance(v, tf.Variable) else getattr(v, "value", v)
    dev = getattr(tv, "device", None)
    try:
        dt = tf.as_dtype(v.dtype)
    except Exception:
        dt = None
    return (dev if isinstance(dev, str) and dev else None), dt


def _canonical_device(name: Any) -> str:
    """'/job:localhost/.../device:CPU:0', 'gpu', 'cuda:1', '/GPU:0' -> '/device:GPU:1'."""
    s = str(name).strip()
    if s.lower().startswith("cuda"):
        s = "GPU" + s[4:]
    try:
        spec = tf.DeviceSpec.from_string(s)
    except (ValueError, TypeError) as e:
        raise NBExplainError(f"device={name!r} is not a TensorFlow device name; use e.g. "
                             "'CPU:0' or 'GPU:0'.") from e
    if not spec.device_type:
        raise NBExplainError(f"device={name!r} names no device type; use e.g. 'CPU:0' or "
                             "'GPU:0'.")
    return f"/device:{spec.device_type.upper()}:{spec.device_index or 0}"


def _unpack_singleton(x: Any) -> Any:
    if isinstance(x, (list, tuple)) and len(x) == 1:
        return x[0]
    return x


_NONE_GRADIENT = (
    "the gradient of the target score with respect to the inputs is None: the model output is "
    "not connected to the inputs through differentiable TensorFlow operations "
    "(tf.stop_gradient, a .numpy() round trip, an integer cast or non-TensorFlow code in the "
    "model break the chain). Remove the break, or use a perturbation method such as "
    "method='occlusion' or method='shapley'.")

# Compiled (tf.function) gradient and score functions, per Keras model and output selection.
# Tracing costs a few hundred ms once; every later call with the same input signature then
# runs as one graph, which is what the tutorials' @tf.function code gets.
_COMPILED: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


class TensorFlowAdapter(Adapter):
    framework = "tensorflow"
    supports_gradients = True
    channels_first = False
    # TensorFlow's allocator pools memory: unlike torch on a CPU, splitting IG's path points
    # into smaller passes made it slower (ResNet-18-like, 51 points: 1.04x in 2 passes, 1.15x
    # in 5), so passes are large (32 MiB of float32 input; 55 ResNet points) yet bounded
    pass_elements = 2 ** 23

    def __init__(self, model: Any, *, output: Any = None, score: str = "logit",
                 device: Any = None, channels_first: bool | None = None):
        self._bind(model, output, score, "a Keras model, a tf.Module with __call__, or a "
                   "function of TF tensors")
        self._submodels: dict[tuple[int, int], tuple[Any, Any, Any]] = {}
        n_inputs = self.input_count()
        if n_inputs is not None and n_inputs > 1:
            raise NBExplainError(f"the model takes {n_inputs} inputs. " + MULTI_INPUT_FIX)

        var_dev, var_dtype, any_dev = None, None, None
        for v in _variables(model):  # the first float variable decides (seed states are ints)
            d, dt = _var_device_dtype(v)
            any_dev = any_dev or d
            if dt is not None and dt.is_floating:
                var_dev, var_dtype = d, dt
                break
        var_dev = var_dev or any_dev
        # float inputs are cast to this; None (no variables, no typed Input): keep theirs
        self.dtype: tf.DType | None = self._input_float_dtype() or var_dtype

        available = [d.name for d in tf.config.list_logical_devices()]
        if device is not None:
            dev = _canonical_device(device)
            if dev not in {_canonical_device(a) for a in available}:
                raise NBExplainError(
                    f"device={device!r} is not available to TensorFlow; available devices: "
                    f"{[a.replace('/device:', '') for a in available]}.")
        elif var_dev is not None:
            dev = _canonical_device(var_dev)
        else:  # no variables: where TF would place the computation by default
            gpus = [a for a in available if ":GPU:" in a]
            dev = _canonical_device(gpus[0] if gpus else "CPU:0")
        self._device_name = dev

        if channels_first is None:
            channels_first = self._detect_channels_first()
        else:
            own = self._input_image_format()
            if own is not None and (own == "channels_first") != bool(channels_first):
                want = "N×C×H×W" if own == "channels_first" else "N×H×W×C"
                raise NBExplainError(
                    f"channels_first={channels_first} contradicts the model: its image "
                    f"layers are {own} ({want}). Leave channels_first out and pass the "
                    f"images as {want} (np.transpose(x, (0, 2, 3, 1)) turns N×C×H×W into "
                    "N×H×W×C).")
        self.channels_first = bool(channels_first)

    # --- setup helpers -------------------------------------------------------------------
    def _input_float_dtype(self) -> tf.DType | None:
        g = _graph(self.model)
        try:
            inputs = g.inputs if g is not None else None
        except Exception:
            inputs = None
        if inputs and len(inputs) == 1:
            try:
                dt = tf.as_dtype(inputs[0].dtype)
            except Exception:
                return None
            return dt if dt.is_floating else None
        return None

    def _image_layer_format(self) -> str | None:
        """The data_format of the model's image layers (Conv2D, Pooling2D, ...: rank 2 or 3
        spatial): 'channels_first' if any is, else 'channels_last', None without any."""
        if not _is_keras_layer(self.model):
            return None
        found = None
        for layer in [self.model] + _flatten_layers(self.model):
            fmt = _image_layer_format_of(layer)
            if fmt == "channels_first":
                return fmt
            found = fmt or found
        return found

    def output_activation(self) -> str | None:
        """'softmax'/'sigmoid' where the layer that makes a Keras model's single output
        applies one (Dense(..., activation='softmax'), a Softmax or Activation layer, also
        at the end of a nested model); None when unknown."""
        if self.output is not None:
            return None
        obj = self.model
        for _ in range(8):                  # through nested models that end the graph
            g = _graph(obj)
            if g is None:
                return None
            try:
                outs = g.outputs
                if len(outs) != 1:
                    return None
                layer = outs[0]._keras_history.operation
            except Exception:  # noqa: BLE001 - another Keras internals layout: unknown
                return None
            if _graph(layer) is None:
                if type(layer).__name__ == "Softmax":
                    return "softmax"
                name = getattr(getattr(layer, "activation", None), "__name__", None)
                return name if name in ("softmax", "sigmoid") else None
            obj = layer
        return None

    def _input_image_format(self) -> str | None:
        """The image layout of the model's inputs: its image layers' format, unless the
        model starts by permuting its input into that format (``Permute((2, 3, 1))`` before
        channels-last convolutions: N×C×H×W inputs, as in models ported from torch)."""
        fmt = self._image_layer_format()
        if fmt is None:
            return None
        dims = None
        for layer in _flatten_layers(self.model):    # in call order, into nested models
            if _image_layer_format_of(layer) is not None:
                break                                # the first image layer: stop
            if type(layer).__name__ == "Permute":
                dims = tuple(getattr(layer, "dims", ()) or ())
        if dims == (2, 3, 1) and fmt == "channels_last":
            return "channels_first"
        if dims == (3, 1, 2) and fmt == "channels_first":
            return "channels_last"
        return fmt

    def layer_channels_first(self, layer: Any) -> bool:
        """A Keras layer's own data_format, else that of the model's image layers (a
        BatchNorm or activation after a conv keeps its layout), else the inputs'."""
        fmt = getattr(layer, "data_format", None)
        if fmt not in ("channels_first", "channels_last"):
            fmt = self._image_layer_format()
        return self.channels_first if fmt is None else fmt == "channels_first"

    def _detect_channels_first(self) -> bool:
        if _is_keras_layer(self.model):
            return self._input_image_format() == "channels_first"
        k = _keras()
        try:
            return k is not None and k.config.image_data_format() == "channels_first"
        except Exception:  # pragma: no cover
            return False

    def _on(self):
        return tf.device(self._device_name)

    # --- conversion ---------------------------------------------------------------------
    @property
    def device(self) -> str:
        return self._device_name.replace("/device:", "")

    def single_example_ranks(self) -> frozenset:
        """A tf.Module with 2-d convolution kernels (4-axis variables) takes a 3-axis input
        as one H×W×C image: TensorFlow's CPU convolution aborts the process (a CHECK
        failure, not an exception) when given a 3-axis tensor, so such an input is never
        probed as a batch. Keras models check their inputs' rank themselves."""
        if not _is_keras_layer(self.model) and any(
                len(getattr(v, "shape", ())) == 4 for v in _variables(self.model)):
            return frozenset({3})
        return frozenset()

    def unprobeable_ranks(self) -> frozenset:
        """A plain TF function (no Keras layers, no variables) says nothing about its
        inputs, and probing a 3-axis input could hand a convolution a 3-axis tensor, which
        aborts the process: ``batched=`` must say what a 3-axis input is."""
        if not _is_keras_layer(self.model) and not _variables(self.model):
            return frozenset({3})
        return frozenset()

    def input_count(self) -> int | None:
        """The number of inputs of a built Keras functional model (None if unknown)."""
        try:
            ins = getattr(self.model, "inputs", None)
        except Exception:   # a subclassed model that is not built raises
            return None
        return len(ins) if isinstance(ins, (list, tuple)) else None

    def as_tensor(self, x: Any) -> tf.Tensor:
        with self._on():
            if tf.is_tensor(x) or isinstance(x, tf.Variable):
                t = tf.convert_to_tensor(x)
            else:
                t = tf.convert_to_tensor(host_array(x))
            if t.dtype.is_floating and self.dtype is not None and t.dtype != self.dtype:
                t = tf.cast(t, self.dtype)
            if not self._on_device(t):
                t = tf.identity(t)
            return t

    def _on_device(self, t: Any) -> bool:
        try:
            return _canonical_device(t.device) == self._device_name
        except Exception:
            return True

    def to_numpy(self, t: Any) -> np.ndarray:
        if isinstance(t, np.ndarray):
            return t
        if hasattr(t, "numpy"):
            return np.asarray(t.numpy())
        return np.asarray(t)

    def check_input(self, x: Any, needs_gradients: bool) -> None:
        if x.dtype.is_floating:
            with self._on():
                ok = bool(tf.reduce_all(tf.math.is_finite(x)))
            if not ok:
                check_finite(self.to_numpy(x))
        else:
            try:
                np_dtype = np.dtype(x.dtype.as_numpy_dtype)
            except TypeError:
                np_dtype = np.dtype(object)
            check_float_input(np.empty(0, dtype=np_dtype), needs_gradients)

    # --- evaluation ---------------------------------------------------------------------
    def _select_output(self, out: Any, score: str | None = None) -> tf.Tensor:
        names = list(getattr(self.model, "output_names", None) or [])
        out = select_output(out, self.output, names=names)
        if isinstance(out, np.ndarray) and out.dtype.kind in "fiub":
            out = tf.convert_to_tensor(out)  # gradients will say it is disconnected
        if not tf.is_tensor(out) or isinstance(out, (tf.SparseTensor, tf.RaggedTensor)):
            raise not_a_tensor(out, self.output, "dense tensor")
        if (score or self.score) == "probability":
            # one logit per example: the sigmoid (softmax over one column is always 1)
            one = len(out.shape) <= 1 or out.shape[-1] == 1
            out = tf.math.sigmoid(out) if one else tf.nn.softmax(out, axis=-1)
        return out

    def forward(self, x: tf.Tensor, score: str | None = None) -> tf.Tensor:
        return self._select_output(self.model(x), score)

    def _expected_input_shape(self) -> tuple | None:
        g = _graph(self.model)
        try:
            inputs = g.inputs if g is not None else None
            if not inputs or len(inputs) != 1:
                return None
            return tuple(inputs[0].shape)
        except Exception:
            return None

    def _layout_problem(self, x: Any) -> str | None:
        """A message naming the expected layout when x has the model's rank but wrong dims."""
        exp = self._expected_input_shape()
        shape = tuple(x.shape)
        if exp is None or len(exp) != len(shape):
            return None
        if all(e is None or e == d for e, d in zip(exp[1:], shape[1:])):
            return None
        dims = ", ".join("?" if e is None else str(e) for e in exp[1:])
        msg = (f"each example has shape {shape[1:]} but the model expects inputs of shape "
               f"(N, {dims})")
        if len(exp) == 4:
            if self.channels_first:
                msg += " (N×C×H×W, channels_first)"
                perm, other = (0, 3, 1, 2), (shape[3], shape[1], shape[2])
            else:
                msg += " (N×H×W×C, channels last: the Keras default)"
                perm, other = (0, 2, 3, 1), (shape[2], shape[3], shape[1])
            if all(e is None or e == d for e, d in zip(exp[1:], other)):
                which = ("channels-last (N×H×W×C)" if self.channels_first
                         else "channels-first (N×C×H×W, the torch layout)")
                msg += (f". The inputs look {which}: transpose them with "
                        f"np.transpose(x, {perm})")
        return msg + "."

    def predict(self, x: Any, batch_size: int | None = None,
                score: str | None = None) -> np.ndarray:
        x = self.as_tensor(x)
        n = x.shape[0]
        bs = n if not batch_size else batch_size
        outs = []
        with self._on():
            for i in range(0, n, bs):
                try:
                    outs.append(self.forward(x[i:i + bs], score))
                except NBExplainError:
                    raise
                except Exception as e:
                    problem = self._layout_problem(x)
                    if problem:
                        raise NBExplainError(problem) from e
                    raise
            out = outs[0] if len(outs) == 1 else tf.concat(outs, 0)
        return self.to_numpy(out)

    def resolve_target(self, target: Any, x: tf.Tensor) -> np.ndarray | Callable:
        if callable(target) and not isinstance(target, str):
            return target
        with self._on():
            out = self.forward(x)
        return resolve_target(target, self.to_numpy(out), x.shape[0])

    def _scores(self, out: tf.Tensor, target: Any, grad: bool = False) -> tf.Tensor:
        """(N,) target scores. A callable target's numpy result is taken where no gradient
        flows through it (``grad`` False: Shapley, occlusion, LIME); gradient methods need a
        tensor computed from the output."""
        n = out.shape[0]
        if callable(target):
            s = target(out)
            if not tf.is_tensor(s):
                if grad:
                    raise NBExplainError(
                        "a callable target must return a TensorFlow tensor computed from the "
                        f"output (one score per row of the output it is given, here shape "
                        f"({n},)) for gradient methods; "
                        f"it returned {type(s).__name__}. Keep it in TensorFlow (no .numpy() "
                        "or float()), e.g. target=lambda out: out[:, 1] - out[:, 0].")
                a = np.asarray(s)
                if a.dtype.kind in "fiub" and a.shape == (n,):
                    return tf.convert_to_tensor(a.astype(np.float64 if a.dtype == np.float64
                                                         else np.float32))
            if getattr(s, "shape", None) is None or tuple(s.shape) != (n,):
                raise NBExplainError(
                    "a callable target must return one score per example (shape "
                    f"({n},)); it returned {type(s).__name__} of shape "
                    f"{tuple(getattr(s, 'shape', ()) or np.shape(s))}.")
            return s
        flat = tf.reshape(out, (n, -1))
        if flat.shape[1] == 1:
            return flat[:, 0]
        tn = np.asarray(target, dtype=np.int64)
        if n is not None and tn.shape[0] != n:
            check_rows(int(n), tn.shape[0])
        if flat.shape[1] is not None:
            check_target_width(tn, int(flat.shape[1]))
        idx = tf.constant(tn)
        return tf.gather(flat, idx, axis=1, batch_dims=1)

    @staticmethod
    def _check_differentiable(out: tf.Tensor, s: tf.Tensor) -> None:
        for what, t in (("model output", out), ("target score", s)):
            if not (t.dtype.is_floating or t.dtype.is_complex):
                raise NBExplainError(
                    f"the {what} has dtype {t.dtype.name}, which is not differentiable (an "
                    "argmax, a cast to an integer type, ...); gradient methods need float "
                    "logits or probabilities. Return the float scores, or use a perturbation "
                    "method such as method='occlusion' or method='shapley'.")

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
                    # one more pass; tensors, not Python flags, so that every rule and step
                    # count shares one trace
                    gsum, s = path_sum(x, b, a, w, idx)
                    attr = (x - b) * gsum
                    s2 = tf.reshape(s, [tf.shape(x)[0], -1])

                    def end(j, at):
                        return tf.cond(j >= 0,
                                       lambda: tf.gather(s2, tf.maximum(j, 0), axis=1),
                                       lambda: d._scores_by_index(forward(at), idx))

                    fx, fb = end(j1, x), end(j0, b)
                    k = tf.shape(x)[0]
                    total = tf.reduce_sum(tf.reshape(attr, [k, -1]), axis=1)
                    if fx.dtype != attr.dtype:  # as delta_of: mixed dtypes meet in float64
                        total, fx, fb = (tf.cast(t, tf.float64) for t in (total, fx, fb))
                        return attr, tf.cast(total - (fx - fb), attr.dtype)
                    return attr, total - (fx - fb)

                run = path_sum if kind == "path" else whole
            else:
                def run(x, idx):
                    return d._scores_by_index(forward(x), idx)
            fn = per_model[key] = _per_model_function(run)
        return fn

    def _detached(self) -> "TensorFlowAdapter":
        """A copy of this adapter's output selection that does not hold the model."""
        d = object.__new__(TensorFlowAdapter)
        d.output, d.score = self.output, self.score
        d.model = types.SimpleNamespace(
            output_names=list(getattr(self.model, "output_names", None) or []))
        return d

    def path_gradient_chunk(self, x, b, alphas, weights, target):
        """``(Σ_k w_k ∂f/∂x (b + α_k (x − b)) per example, the (k·m,) target scores at the
        points)`` in one compiled call, or None (the caller then builds the points itself)."""
        fn = None if callable(target) else self._compiled("path")
        if fn is None or not x.dtype.is_floating:
            return None
        try:
            with self._on():
                return fn(x, b, tf.constant(np.asarray(alphas), dtype=x.dtype),
                          tf.constant(np.asarray(weights), dtype=x.dtype),
                          tf.constant(np.asarray(target, dtype=np.int64)))
        except NBExplainError:
            raise
        except Exception:
            self._uncompilable("path")
            return None

    def integrated_gradients_whole(self, x, b, alphas, weights, target):
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
        at0, at1 = np.flatnonzero(a == 0.0), np.flatnonzero(a == 1.0)
        try:
            with self._on():
                return fn(x, b, tf.constant(a, dtype=x.dtype),
                          tf.constant(np.asarray(weights), dtype=x.dtype),
                          tf.constant(np.asarray(target, dtype=np.int64)),
                          tf.constant(int(at0[0]) if at0.size else -1, dtype=tf.int32),
                          tf.constant(int(at1[0]) if at1.size else -1, dtype=tf.int32))
        except NBExplainError:
            raise
        except tf.errors.InvalidArgumentError as e:
            if "indices" not in str(e).lower():   # (a bad target: the eager path says so)
                self._uncompilable("ig")
            return None
        except Exception:
            self._uncompilable("ig")
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

    def _scores_by_index(self, out: tf.Tensor, idx: tf.Tensor) -> tf.Tensor:
        flat = tf.reshape(out, (tf.shape(out)[0], -1))
        if out.shape.rank == 1 or (flat.shape[1] is not None and flat.shape[1] == 1):
            return flat[:, 0]
        return tf.gather(flat, idx, axis=1, batch_dims=1)

    def _run_compiled(self, kind: str, x: tf.Tensor, target: Any):
        fn = None if callable(target) else self._compiled(kind)
        if fn is None:
            return None
        idx = tf.constant(np.asarray(target, dtype=np.int64))
        try:
            with self._on():
                return fn(x, idx)
        except NBExplainError:
            raise
        except tf.errors.InvalidArgumentError as e:
            if "indices" in str(e).lower():
                return None     # a target out of range: the eager path says so clearly
            self._uncompilable(kind)
            return None
        except Exception:  # graph mode refused the model: fall back to eager, once for all
            self._uncompilable(kind)
            return None

    def _uncompilable(self, kind: str) -> None:
        _COMPILED.setdefault(self.model, {})[(kind, repr(self.output), self.score)] = False

    def input_gradients(self, x: tf.Tensor, target: Any) -> tuple[tf.Tensor, tf.Tensor]:
        x = self.as_tensor(x)
        if not x.dtype.is_floating:
            check_float_input(np.empty(0, dtype=np.dtype(x.dtype.as_numpy_dtype)), True)
        res = self._run_compiled("grad", x, target)
        if res is not None:
            return res
        with self._on():
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(x)
                out = self.forward(x)
                s = self._scores(out, target, grad=True)
            self._check_differentiable(out, s)
            g = tape.gradient(s, x)
        if g is None:
            raise NBExplainError(_NONE_GRADIENT)
        if isinstance(g, tf.IndexedSlices):
            g = tf.convert_to_tensor(g)
        return s, g

    def scores(self, x: tf.Tensor, target: Any, batch_size: int | None = None) -> tf.Tensor:
        n = x.shape[0]
        bs = batch_size or n
        out = []
        with self._on():
            for i in range(0, n, bs):
                t = target if callable(target) else target[i:i + bs]
                s = self._run_compiled("scores", x[i:i + bs], t)
                out.append(s if s is not None else self._scores(self.forward(x[i:i + bs]), t))
        return self.concat(out)

    # --- layers -----------------------------------------------------------------------
    def _named_layers(self) -> list[tuple[str, Any]]:
        """(path name, layer) for every layer under the model, parents first; layers inside a
        nested model are named 'outer/inner'."""
        out: list[tuple[str, Any]] = []

        def walk(container, prefix):
            for c in _children(container):
                name = prefix + c.name
                out.append((name, c))
                walk(c, name + "/")

        walk(self.model, "")
        return out

    def _require_keras(self) -> None:
        if not _is_keras_layer(self.model):
            raise NBExplainError(
                f"layer methods need a Keras model; got {type(self.model).__name__}. Wrap the "
                "computation in a functional keras.Model (keras.Model(inputs, outputs)) or "
                "keras.Sequential, or use a method without layers (saliency, "
                "integrated_gradients, occlusion, shapley).")

    def find_layer(self, layer: Any, example: Any = None):
        self._require_keras()
        named = self._named_layers()
        convs = [n for n, m in named if _is_conv(m)]
        if isinstance(layer, str):
            for n, m in named:  # exact path, then top-level name (get_layer), then any depth
                if n == layer:
                    return m, n
            for n, m in named:
                if m.name == layer:
                    return m, n
            raise NBExplainError(
                f"the model has no layer named {layer!r}. Conv layers: {convs[-8:]}; "
                "pass one of these names, or the layer object itself.")
        if layer is not None and _is_keras_layer(layer):
            for n, m in named:
                if m is layer:
                    return m, n
            raise NBExplainError("the layer object passed is not a layer of the model.")
        if layer is not None:
            raise NBExplainError(f"layer={layer!r}: pass a layer name, a layer, or None.")
        return self._last_spatial_layer()

    def _last_spatial_layer(self):
        if _graph(self.model) is None and not _is_sequential(self.model):
            self._subclassed_error(self.model)
        seen = []
        for name, m in self._execution_order(self.model, ""):
            try:
                shape = tuple(m.output.shape)
            except Exception:  # never called symbolically, or shared by several calls
                continue
            if len(shape) != 4:
                continue
            cf = getattr(m, "data_format", None)
            cf = self.channels_first if cf is None else cf == "channels_first"
            h, w = (shape[2], shape[3]) if cf else (shape[1], shape[2])
            if h is None or w is None or h * w > 1:
                seen.append((name, m))
        if not seen:
            raise NBExplainError(
                "found no layer with a spatial (N, H, W, C) output; Grad-CAM needs a "
                "convolutional layer. Pass layer=<name or layer> explicitly.")
        conv = [(n, m) for n, m in seen if _is_conv(m)]
        name, m = (conv or seen)[-1]
        return m, name

    def _execution_order(self, container, prefix):
        """(path name, leaf layer) in the order the graph runs them (Keras keeps a functional
        model's layers topologically sorted), descending into nested models."""
        for c in _children(container):
            if _children(c):
                yield from self._execution_order(c, prefix + c.name + "/")
            else:
                yield prefix + c.name, c

    def _subclassed_error(self, container: Any):
        raise NBExplainError(
            f"layer gradients need a functional or Sequential Keras model, but "
            f"{container.name!r} ({type(container).__name__}) is a subclassed model (or a "
            "single layer) whose call() nbexplain cannot look into. Build it with the "
            "functional API (inputs = keras.Input(...); outputs = ...; "
            "keras.Model(inputs, outputs)) or keras.Sequential, or pass a functional "
            "sub-model that contains the layer.")

    @staticmethod
    def _last_call_output(g: Any, layer: Any) -> Any:
        """The layer's output at its last call in graph ``g`` (a layer called twice, as
        ``shared(relu(shared(x)))``: Keras' ``layer.output`` is the first call's, torch
        hooks and Captum see the last one). ``layer.output`` when the graph's nodes cannot
        be read."""
        nodes = getattr(layer, "_inbound_nodes", None) or []
        by_depth = getattr(g, "_nodes_by_depth", None)
        if len(nodes) > 1 and isinstance(by_depth, dict):
            mine = {id(n) for ns in by_depth.values() for n in ns}
            in_graph = [n for n in nodes if id(n) in mine]
            if in_graph:
                outs = in_graph[-1].output_tensors
                return outs[0] if len(outs) == 1 else outs
        return layer.output

    def _submodel(self, container: Any, layer: Any):
        key = (id(container), id(layer))
        hit = self._submodels.get(key)
        if hit is not None and hit[0] is container and hit[1] is layer:
            return hit[2]
        k = _keras()
        g = _graph(container)
        try:
            act = self._last_call_output(g, layer)
        except Exception as e:
            raise NBExplainError(
                f"cannot read the output of layer {layer.name!r}: it is called more than once "
                "in the model (a shared layer) or was never called in its graph. Pick a layer "
                f"that is called once. ({type(e).__name__}: {e})") from e
        try:
            sub = k.Model(g.inputs, [act, g.output])
        except Exception as e:
            raise NBExplainError(
                f"cannot build a sub-model from the model's inputs to layer {layer.name!r} "
                f"({type(e).__name__}: {e}). Pick a layer on the path from the inputs to the "
                "output.") from e
        self._submodels[key] = (container, layer, sub)
        return sub

    def _call_capturing(self, container: Any, layer: Any, store: dict, args: tuple,
                        kwargs: dict) -> Any:
        """Run ``container(*args, **kwargs)`` eagerly; store ``layer``'s output in store['a'].

        Returns what the container returns. Nothing on the model is patched.
        """
        if container is layer:
            out = container(*args, **kwargs)
            store["a"] = out
            if tf.is_tensor(out) and "tape" in store:
                store["tape"].watch(out)
            return out
        kids = _children(container)
        holder = None
        for c in kids:
            if _contains(c, layer):
                holder = c
                break
        if holder is None:
            raise NBExplainError(f"layer {layer.name!r} is not part of {container.name!r}.")
        g = _graph(container)
        if g is not None and holder is layer and not _children(layer):
            # a plain layer of this graph: a sub-model on the graph's own tensors
            sub = self._submodel(container, layer)
            a, out = sub(*args, **kwargs)
            store["a"] = a
            return out
        if g is not None:
            # the layer is (inside) a nested model: run this graph op by op, calling the
            # nested model through _call_capturing (Keras' own Functional.call loop)
            if not hasattr(g, "_run_through_graph"):
                raise NBExplainError(
                    f"this Keras version cannot run {container.name!r} op by op to reach layer "
                    f"{layer.name!r} inside the nested model {holder.name!r}; pass the nested "
                    "model itself (model.get_layer(...)) or a flat functional model.")

            def op_fn(op):
                if op is holder:
                    return lambda *a, **kw: self._call_capturing(holder, layer, store, a, kw)
                return op
            inputs = args[0] if len(args) == 1 else list(args)
            if hasattr(g, "_standardize_inputs"):
                inputs = g._standardize_inputs(inputs)
            return _unpack_singleton(g._run_through_graph(inputs, operation_fn=op_fn))
        if _is_sequential(container):  # no graph: call the layers one by one
            if len(args) != 1:
                raise NBExplainError("a Sequential model takes one input tensor.")
            h = args[0]
            for c in kids:
                h = (self._call_capturing(c, layer, store, (h,), {}) if c is holder else c(h))
            return h
        self._subclassed_error(container)

    def layer_gradients(self, x: tf.Tensor, target: Any, layer: Any):
        self._require_keras()
        x = self.as_tensor(x)
        fn = None if callable(target) or not x.dtype.is_floating else self._compiled_layer(layer)
        if fn is not None:
            try:
                with self._on():
                    return fn(x, tf.constant(np.asarray(target, dtype=np.int64)))
            except NBExplainError:
                raise
            except Exception:  # graph mode refused: eager from now on for this layer
                _COMPILED.setdefault(self.model, {})[
                    ("layer", id(layer), repr(self.output), self.score)] = False
        store: dict[str, Any] = {}
        with self._on():
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                if x.dtype.is_floating:
                    tape.watch(x)
                store["tape"] = tape
                raw = self._call_capturing(self.model, layer, store, (x,), {})
                out = self._select_output(raw)
                s = self._scores(out, target, grad=True)
                a = _captured(store)
            self._check_differentiable(out, s)
            g = tape.gradient(s, a)
        if g is None:
            raise NBExplainError(
                f"the gradient of the target score with respect to layer {layer.name!r} is "
                "None: the score does not depend on that layer through differentiable "
                "operations (tf.stop_gradient, a .numpy() round trip or an integer cast after "
                "it). Pick a layer closer to the output.")
        if isinstance(g, tf.IndexedSlices):
            g = tf.convert_to_tensor(g)
        return s, a, g

    # --- small array ops for framework-free methods --------------------------------------
    def concat(self, ts: list, axis: int = 0) -> tf.Tensor:
        if len(ts) == 1:
            return ts[0]
        with self._on():
            return tf.concat(ts, axis)

    def stack(self, ts: list, axis: int = 0) -> tf.Tensor:
        with self._on():
            return tf.stack(ts, axis)

    def reshape(self, t: tf.Tensor, shape: tuple) -> tf.Tensor:
        with self._on():
            return tf.reshape(t, shape)

    def repeat(self, t: tf.Tensor, n: int) -> tf.Tensor:
        with self._on():
            return tf.repeat(t, int(n), axis=0)

    def take(self, t: tf.Tensor, idx: np.ndarray) -> tf.Tensor:
        with self._on():
            return tf.gather(t, tf.constant(np.asarray(idx, dtype=np.int64)), axis=0)

    def abs(self, t: tf.Tensor) -> tf.Tensor:
        with self._on():
            return tf.abs(t)

    def relu(self, t: tf.Tensor) -> tf.Tensor:
        with self._on():
            return tf.nn.relu(t)

    def reduce(self, t: tf.Tensor, op: str, axis: Any, keepdims: bool = False) -> tf.Tensor:
        fns = {"sum": tf.reduce_sum, "mean": tf.reduce_mean, "max": tf.reduce_max}
        if op not in fns:
            raise ValueError(op)
        ax = list(axis) if isinstance(axis, (tuple, list)) else axis
        with self._on():
            return fns[op](t, axis=ax, keepdims=keepdims)

    def broadcast_to(self, t: tf.Tensor, shape: tuple) -> tf.Tensor:
        with self._on():
            return tf.broadcast_to(t, shape)

    def zeros_like(self, t: tf.Tensor) -> tf.Tensor:
        with self._on():
            return tf.zeros_like(t)

    def where(self, mask: Any, a: Any, b: Any) -> tf.Tensor:
        with self._on():
            m = tf.convert_to_tensor(mask)
            if m.dtype != tf.bool:
                m = tf.cast(m, tf.bool)
            return tf.where(m, a, b)

    def weights(self, w: Any, ndim: int, like: Any = None) -> tf.Tensor:
        dtype = like.dtype if like is not None else (self.dtype or tf.float32)
        with self._on():
            w = tf.constant(np.asarray(w), dtype=dtype)
            return tf.reshape(w, (-1,) + (1,) * (ndim - 1))

    def resize(self, t: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
        """Bilinear, half-pixel centres, no antialiasing: torch's align_corners=False.

        4-axis maps follow the adapter's layout (N,H,W,C, or N,C,H,W for channels_first
        models); 3-axis maps are taken as (N, H, W).
        """
        size = tuple(int(s) for s in size)
        nd = len(t.shape)
        with self._on():
            if nd == 3:
                r = tf.image.resize(t[..., None], size, method="bilinear", antialias=False)
                return tf.cast(r[..., 0], t.dtype)
            if nd != 4:
                raise NBExplainError(f"resize needs (N, H, W, C) maps; got shape {tuple(t.shape)}.")
            if self.channels_first:
                t4 = tf.transpose(t, (0, 2, 3, 1))
                r = tf.image.resize(t4, size, method="bilinear", antialias=False)
                return tf.cast(tf.transpose(r, (0, 3, 1, 2)), t.dtype)
            r = tf.image.resize(t, size, method="bilinear", antialias=False)
            return tf.cast(r, t.dtype)

    def channel_axis(self, ndim: int) -> int:
        return 1 if (ndim == 4 and self.channels_first) else ndim - 1
