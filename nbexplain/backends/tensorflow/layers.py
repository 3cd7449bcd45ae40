"""Layer methods of the TensorFlow adapter: layer discovery (by name, object or automatically),
sub-models, ``_call_capturing`` and Grad-CAM's layer gradients.

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

from typing import Any

import numpy as np
import tensorflow as tf

from ..._errors import NBExplainError
from .keras_info import (_children, _contains, _graph, _is_conv, _is_keras_layer,
                         _is_sequential, _keras)
from .util import _captured, _unpack_singleton
from .compiled import _call, _index_tensor


class _LayerCapture:
    """``TensorFlowAdapter``'s layer methods (a mixin: uses the adapter's ``model``,
    ``channels_first``, ``_submodels``, ``_on``, ``as_tensor``, ``_select_output``, ``_scores``,
    ``_check_differentiable`` and ``_compiled_layer``)."""

    # provided by the adapter this mixin is part of (declared for the type checker)
    model: Any
    channels_first: Any
    _submodels: Any
    _on: Any
    as_tensor: Any
    _select_output: Any
    _scores: Any
    _check_differentiable: Any
    _compiled_layer: Any
    _fall_back_or_raise: Any
    _training: Any

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

    def layer_output(self, x: Any, layer: Any):
        """The output of ``layer`` (a layer of the model) for ``x``."""
        self._require_keras()
        store: dict[str, Any] = {}
        with self._on():
            self._call_capturing(self.model, layer, store, (self.as_tensor(x),), {})
        return _captured(store)

    def replaced_layer_gradients(self, x: Any, layer: Any, replacement: Any, target: Any):
        """``(scores, d scores / d R)``: the model run on ``x`` with ``layer``'s output
        replaced by ``R`` (one per row of ``x``), op by op through the model's graph."""
        self._require_keras()
        with self._on():
            rep = tf.convert_to_tensor(replacement)
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(rep)
                raw = self._call_replacing(self.model, layer, rep, (self.as_tensor(x),))
                out = self._select_output(raw)
                s = self._scores(out, target, grad=True)
            g = tape.gradient(s, rep)
        if g is None:
            raise NBExplainError("the target score does not depend on the chosen layer.")
        return s, g

    def _call_replacing(self, container: Any, layer: Any, rep: Any, args: tuple) -> Any:
        """``container(*args)`` with ``layer``'s output replaced by ``rep`` (nothing on the
        model is patched: the graph runs op by op, Keras' own Functional.call loop)."""
        if container is layer:
            return rep
        holder = next((c for c in _children(container) if _contains(c, layer)), None)
        if holder is None:
            raise NBExplainError(f"layer {layer.name!r} is not part of {container.name!r}.")
        g = _graph(container)
        if g is not None:
            if not hasattr(g, "_run_through_graph"):
                raise NBExplainError(
                    f"this Keras version cannot run {container.name!r} op by op to replace "
                    f"the output of layer {layer.name!r}.")

            def op_fn(op):
                if op is holder:
                    return lambda *a, **kw: self._call_replacing(holder, layer, rep, a)
                return op
            inputs = args[0] if len(args) == 1 else list(args)
            if hasattr(g, "_standardize_inputs"):
                inputs = g._standardize_inputs(inputs)
            return _unpack_singleton(g._run_through_graph(inputs, operation_fn=op_fn))
        if _is_sequential(container):
            h = args[0]
            for c in _children(container):
                h = self._call_replacing(c, layer, rep, (h,)) if c is holder else c(h)
            return h
        self._subclassed_error(container)

    def layer_names(self) -> list[str]:
        if not _is_keras_layer(self.model):
            return []
        return [n for n, layer in self._named_layers() if _is_conv(layer)]

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
                    return _call(fn, x, _index_tensor(target))
            except NBExplainError:
                raise
            except Exception as e:  # graph mode refused: eager from now on for this layer
                self._fall_back_or_raise(("layer", id(layer)), e)
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
