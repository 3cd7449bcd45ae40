"""Keras 3 models on the torch backend (``KERAS_BACKEND=torch``): torch modules that take
Keras' layout (N×H×W×C unless a layer says ``channels_first``) and whose layers are Keras
layers, not registered submodules. The torch adapter runs their passes and gradients; this
subclass reads the layout from the model and finds and reads layers the Keras way (a
sub-model from the inputs to the layer and the output, differentiated by torch autograd).
Nothing on the model is patched or hooked."""

from __future__ import annotations

from typing import Any

import torch

from ..._errors import NBExplainError
from .adapter import TorchAdapter
from .hooks import despite_training


def _keras_layers(model: Any) -> list:
    """Every layer under the model, parents first (nested models walked)."""
    out = []

    def walk(m):
        for layer in getattr(m, "layers", []) or []:
            out.append(layer)
            walk(layer)

    walk(model)
    return out


def _is_conv(layer: Any) -> bool:
    return any("Conv" in c.__name__ for c in type(layer).__mro__
               if c.__name__ not in ("Layer", "object"))


class KerasTorchAdapter(TorchAdapter):
    """A Keras 3 model on the torch backend."""

    def __init__(self, model: Any, **kwargs: Any):
        super().__init__(model, **kwargs)
        formats = {getattr(layer, "data_format", None) for layer in _keras_layers(model)}
        self.channels_first = "channels_first" in formats and "channels_last" not in formats
        self._subs: dict = {}

    def _tuned(self, x: torch.Tensor, fn, grad: bool = True):
        return fn(x)     # Keras' layout: no NCHW / channels_last probing

    def layer_channels_first(self, layer: Any) -> bool:
        fmt = getattr(layer, "data_format", None)
        return self.channels_first if fmt is None else fmt == "channels_first"

    def layer_names(self) -> list[str]:
        return [layer.name for layer in _keras_layers(self.model) if _is_conv(layer)]

    def find_layer(self, layer: Any, example: Any = None):
        layers = _keras_layers(self.model)
        if isinstance(layer, str) and layer:
            found = [lay for lay in layers if lay.name == layer]
            if not found:
                convs = [lay.name for lay in layers if _is_conv(lay)]
                raise NBExplainError(f"the model has no layer named {layer!r}. Conv layers: "
                                     f"{convs[-8:]}; pass one of these names or the layer.")
            return found[0], layer
        if layer is not None and not isinstance(layer, str):
            if any(lay is layer for lay in layers):
                return layer, layer.name
            raise NBExplainError("the layer passed is not a layer of the model.")
        convs = [lay for lay in layers if _is_conv(lay)]
        if not convs:
            raise NBExplainError("the model has no convolutional layer; pass layer=.")
        return convs[-1], convs[-1].name

    def _sub(self, layer: Any):
        hit = self._subs.get(id(layer))
        if hit is not None and hit[0] is layer:
            return hit[1]
        import keras

        try:
            sub = keras.Model(self.model.inputs, [layer.output, self.model.output])
        except Exception as e:
            raise NBExplainError(f"cannot read layer {layer.name!r} of this Keras model "
                                 f"({type(e).__name__}: {e}); layer methods need a "
                                 "functional or Sequential model.") from e
        self._subs[id(layer)] = (layer, sub)
        return sub

    def layer_gradients(self, x: torch.Tensor, target: Any, layer: Any):
        self._check_not_inference_mode()
        sub = self._sub(layer)

        def run():
            with torch.enable_grad():
                acts, raw = sub(x)
                out = self._select_output(raw)
                s, g = self._score_gradient(
                    out, target, acts, True,
                    "the target score does not depend on the chosen layer through "
                    "differentiable operations.")
            if g is None:
                raise NBExplainError("the target score does not depend on the chosen layer.")
            return s, acts.detach(), g

        return despite_training(self.model, run)
