"""TensorFlow adapter: a Keras 3 ``Model`` (Sequential, functional, subclassed), a ``tf.Module``,
or any callable on TF tensors.

Everything runs under ``tf.device(...)`` of the device that holds the model's variables (or the
one given as ``device=``); data stays a TF tensor there until ``to_numpy``. The model is never
changed: it is called as ``model(x)`` (Keras' default inference mode, ``training`` is never
passed), variables' ``trainable`` flags are not touched, input gradients come from a
``tf.GradientTape`` that watches only the input (``watch_accessed_variables=False``).
"""

from __future__ import annotations

import contextlib
import math
import types
import weakref
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from ..._errors import NBExplainError
from ..base import (MULTI_INPUT_FIX, Adapter, check_finite, check_float_input, check_rows,
                    check_target_width, host_array, not_a_tensor, resolve_target,
                    select_output)
from .compiled import _CompiledPaths
from .keras_info import (_flatten_layers, _graph, _image_layer_format_of, _is_keras_layer,
                         _keras, _var_device_dtype, _variables)
from .layers import _LayerCapture
from .util import _NONE_GRADIENT, _canonical_device


#: the class of eager tensors (read from one made once the runtime is up: see _logical_devices)
_EAGER: Any = None
_NO_CONTEXT = contextlib.nullcontext()
_DEVICES: list[str] = []


def _logical_devices() -> list[str]:
    """TensorFlow's logical devices (fixed once its runtime has started: read once)."""
    global _EAGER
    if not _DEVICES:
        _DEVICES.extend(d.name for d in tf.config.list_logical_devices())
        _EAGER = type(tf.constant(0.0))
    return _DEVICES


def _default_format() -> str | None:
    """Keras' configured image data format (what a plain function is taken to use)."""
    k = _keras()
    try:
        return k.config.image_data_format() if k is not None else None
    except Exception:  # pragma: no cover
        return None


#: per built Keras model: (variables' device, input float dtype, image format), which its
#: constructor would otherwise read from its variables and layers on every call (~60 µs)
_FACTS: "weakref.WeakKeyDictionary[Any, tuple]" = weakref.WeakKeyDictionary()


def _facts_of(model: Any) -> tuple | None:
    try:
        return _FACTS.get(model)
    except TypeError:   # not weak-referenceable
        return None


def _remember_facts(model: Any, facts: tuple) -> None:
    """Only for a built Keras model: its variables and layers are settled (a subclassed
    model builds, and gets its variables, on its first call)."""
    if _is_keras_layer(model) and getattr(model, "built", False) and facts[0] is not None:
        try:
            _FACTS[model] = facts
        except TypeError:  # pragma: no cover
            pass


class TensorFlowAdapter(_CompiledPaths, _LayerCapture, Adapter):
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
        facts = _facts_of(model)
        if facts is None:
            facts = self._read_facts()
            _remember_facts(model, facts)
        var_dev, self.dtype, own_format = facts
        self._settle_device(device, var_dev)
        if channels_first is None:
            channels_first = (own_format == "channels_first" if _is_keras_layer(model)
                              else _default_format() == "channels_first")
        elif own_format is not None and (own_format == "channels_first") != bool(channels_first):
            want = "N×C×H×W" if own_format == "channels_first" else "N×H×W×C"
            raise NBExplainError(
                f"channels_first={channels_first} contradicts the model: its image "
                f"layers are {own_format} ({want}). Leave channels_first out and pass the "
                f"images as {want} (np.transpose(x, (0, 2, 3, 1)) turns N×C×H×W into "
                "N×H×W×C).")
        self.channels_first = bool(channels_first)

    def _read_facts(self) -> tuple:
        """``(variables' device, input float dtype, image format)`` of the model, read from
        its inputs, variables and layers (remembered per built Keras model: _facts_of)."""
        model = self.model
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
        dtype = self._input_float_dtype() or var_dtype
        return var_dev, dtype, self._input_image_format()

    def _settle_device(self, device: Any, var_dev: str | None) -> None:
        """The device the passes run on: ``device=``, else the variables', else TF's
        default; and how to enter it (no context where it is the only device)."""
        available = _logical_devices()
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
        # with one device, entering tf.device(...) (~10 µs a time, a dozen times a call)
        # places nothing differently
        self._only_device = len(available) == 1
        self._cpu = ":CPU:" in dev
        self.host_math = self._cpu

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

    def _on(self):
        return _NO_CONTEXT if self._only_device else tf.device(self._device_name)

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
        if (type(x) is _EAGER and x.dtype == self.dtype
                and _canonical_device(x.device) == self._device_name):
            return x   # already ours: an eager tensor of the model's dtype on its device
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
            if "CPU" in (x.device or "CPU").upper():
                # on the host numpy's check is one pass with no op dispatch (~70 µs less a
                # call at batch 1 than two eager ops and a sync)
                # one reduction (NaN and ±inf propagate into the sum); only a non-finite
                # sum (or an overflow) pays for the full check
                a = x.numpy()
                if not math.isfinite(np.add.reduce(a, axis=None)):
                    check_finite(a)
                return
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

    def _detached(self) -> "TensorFlowAdapter":
        """A copy of this adapter's output selection that does not hold the model."""
        d = object.__new__(TensorFlowAdapter)
        d.output, d.score = self.output, self.score
        d.model = types.SimpleNamespace(
            output_names=list(getattr(self.model, "output_names", None) or []))
        return d

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

    def abs(self, t: tf.Tensor) -> Any:
        if self._cpu and type(t) is _EAGER:
            # on the host: numpy's abs of the tensor's memory (an eager op costs ~50 µs a
            # call at batch 1); a numpy array goes on to every op an adapter runs
            return np.abs(t.numpy())
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
        size = (int(size[0]), int(size[1]))
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
