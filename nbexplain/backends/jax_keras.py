"""Keras 3 models on the JAX backend (``KERAS_BACKEND=jax``).

Native tensors are numpy arrays on the host, as for plain numpy functions (the methods'
array ops are the numpy adapter's); the model runs on JAX arrays, and gradients go through
``jax.value_and_grad`` of a function that calls the model. Keras reads its variables' current
values on every call, so a model that is being trained meanwhile is explained with the
weights it has at that moment; nothing is jitted against stale weights, and nothing on the
model is changed (it is called as ``model(x)``, Keras' inference mode).

Layer methods (Grad-CAM, layer attribution) run the model's own graph op by op with Keras'
``_run_through_graph`` loop, as the TensorFlow adapter does: the chosen layer's output is read,
or has a zero offset added to it (the gradient with respect to that offset is the gradient with
respect to the activation), or is replaced. JAX cannot differentiate with respect to an
intermediate value otherwise. This needs a functional or Sequential model whose layer is one
of the graph's own operations (a layer inside a nested model is refused with the fix).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .._errors import NBExplainError
from .base import check_finite, check_float_input, select_output
from .keras_layers import conv_layer_names, find_keras_layer, model_channels_first
from .numpy import NumpyAdapter


def _graph(model: Any) -> Any:
    """The Functional graph that runs ``model`` (a Sequential's is built on its first call)."""
    g = getattr(model, "_functional", None) or model
    return g if hasattr(g, "_run_through_graph") else None


class KerasJaxAdapter(NumpyAdapter):
    """A Keras 3 model on the JAX backend."""

    framework = "keras_jax"
    supports_gradients = True

    def __init__(self, model: Any, *, output: Any = None, score: str = "logit",
                 channels_first: bool | None = None):
        import jax  # noqa: F401 - the backend Keras runs on: present

        super().__init__(model, output=output, score=score, channels_first=True,
                         dtype=np.dtype(getattr(model, "compute_dtype", None) or "float32"))
        self.channels_first = (model_channels_first(model) if channels_first is None
                               else bool(channels_first))
        self._names_in = None
        self._shapes: dict = {}

    # --- checks and outputs -------------------------------------------------------------
    def check_input(self, x: Any, needs_gradients: bool) -> None:
        x = np.asarray(x)
        if x.dtype.kind == "f":
            check_finite(x)
        check_float_input(x[:0] if x.ndim else x, needs_gradients)

    def input_count(self) -> int | None:
        try:
            return len(self.model.inputs)
        except Exception:  # noqa: BLE001 - a subclassed model: unknown
            return None

    def layer_channels_first(self, layer: Any) -> bool:
        fmt = getattr(layer, "data_format", None)
        return self.channels_first if fmt is None else fmt == "channels_first"

    def _jax_output(self, out: Any, score: str | None = None) -> Any:
        """The explained output as a JAX array (inside a traced function)."""
        import jax
        import jax.numpy as jnp

        names = list(getattr(self.model, "output_names", None) or [])
        out = select_output(out, self.output, names=names)
        if not hasattr(out, "shape") or not hasattr(out, "dtype"):
            raise NBExplainError(
                f"the model returned {type(out).__name__}, not an array; return one (N, K) "
                "array of scores, or pass output= to select one of several outputs.")
        out = jnp.asarray(out)
        if (score or self.score) == "probability":
            one = out.ndim <= 1 or out.shape[-1] == 1
            out = jax.nn.sigmoid(out) if one else jax.nn.softmax(out, axis=-1)
        return out

    def _select_output(self, out: Any, score: str | None = None) -> np.ndarray:
        return np.asarray(self._jax_output(out, score))

    @staticmethod
    def _score_array(s: Any) -> Any:
        import jax.numpy as jnp

        return jnp.asarray(s)    # inside a traced function: stays a JAX array

    def _call(self, x: np.ndarray) -> Any:
        return self.model(x)     # JAX arrays are immutable: the caller's array is safe

    # --- gradients ------------------------------------------------------------------------
    def _grad(self, fn: Callable, wrt: Any) -> tuple[np.ndarray, np.ndarray, Any]:
        """(scores, d Σscores / d wrt, aux) of ``fn(wrt) -> (scores, aux)``."""
        import jax

        def total(v):
            s, aux = fn(v)
            return s.sum(), (s, aux)

        try:
            (_, (s, aux)), g = jax.value_and_grad(total, has_aux=True)(wrt)
        except NBExplainError:
            raise
        except (TypeError, jax.errors.JAXTypeError) as e:
            raise NBExplainError(
                "the target score is not differentiable with respect to the inputs on the JAX "
                f"backend ({type(e).__name__}: {str(e).splitlines()[0][:200]}); use a "
                "perturbation method (occlusion, shapley, lime).") from e
        return np.asarray(s), np.asarray(g), aux

    def input_gradients(self, x: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
        import jax.numpy as jnp

        x = self.as_tensor(x)
        s, g, _ = self._grad(
            lambda v: (self._scores(self._jax_output(self.model(v)), target), None),
            jnp.asarray(x))
        return s, g

    # --- layers -----------------------------------------------------------------------------
    def layer_names(self) -> list[str]:
        return conv_layer_names(self.model)

    def find_layer(self, layer: Any, example: Any = None):
        return find_keras_layer(self.model, layer)

    def _through(self, x: Any, layer: Any, change: Callable, store: dict) -> Any:
        """The model on ``x`` op by op, ``layer``'s output ``a`` stored and replaced by
        ``change(a)``."""
        g = _graph(self.model)
        ops = getattr(g, "operations", None) or getattr(g, "layers", [])
        if g is None or not any(op is layer for op in ops):
            raise NBExplainError(
                f"layer {getattr(layer, 'name', layer)!r} cannot be read on the JAX backend: "
                "layer methods need a functional or Sequential Keras model whose layer is "
                "called directly by it (not inside a nested model). Pass a layer of the outer "
                "model, or build the model functionally (keras.Model(inputs, outputs)).")

        def op_fn(op):
            if op is not layer:
                return op

            def call(*a, **kw):
                out = op(*a, **kw)
                store["a"] = out
                return change(out)
            return call

        inputs = x
        if hasattr(g, "_standardize_inputs"):
            inputs = g._standardize_inputs(inputs)
        out = g._run_through_graph(inputs, operation_fn=op_fn)
        if isinstance(out, (list, tuple)) and len(out) == 1:
            out = out[0]
        return out

    def layer_output(self, x: Any, layer: Any) -> np.ndarray:
        store: dict = {}
        self._through(self.as_tensor(x), layer, lambda a: a, store)
        return np.asarray(store["a"])

    def _activation_shape(self, x: np.ndarray, layer: Any) -> tuple:
        import jax

        key = (id(layer), x.shape, str(x.dtype))
        hit = self._shapes.get(key)
        if hit is None or hit[0] is not layer:
            def acts(v):
                store: dict = {}
                self._through(v, layer, lambda a: a, store)
                return store["a"]
            spec = jax.eval_shape(acts, jax.ShapeDtypeStruct(x.shape, x.dtype))
            hit = self._shapes[key] = (layer, (spec.shape, spec.dtype))
        return hit[1]

    def layer_gradients(self, x: Any, target: Any, layer: Any):
        import jax.numpy as jnp

        x = self.as_tensor(x)
        shape, dtype = self._activation_shape(x, layer)

        def fn(delta):
            store: dict = {}
            out = self._through(x, layer, lambda a: a + delta, store)
            return self._scores(self._jax_output(out), target), store["a"]

        s, g, a = self._grad(fn, jnp.zeros(shape, dtype))
        return s, np.asarray(a), g

    def replaced_layer_gradients(self, x: Any, layer: Any, replacement: Any, target: Any):
        import jax.numpy as jnp

        x = self.as_tensor(x)

        def fn(rep):
            out = self._through(x, layer, lambda a: rep, {})
            return self._scores(self._jax_output(out), target), None

        s, g, _ = self._grad(fn, jnp.asarray(np.asarray(replacement)))
        return s, g
