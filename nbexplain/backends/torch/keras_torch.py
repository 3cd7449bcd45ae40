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
from ..keras_layers import conv_layer_names, find_keras_layer, model_channels_first


class KerasTorchAdapter(TorchAdapter):
    """A Keras 3 model on the torch backend."""

    def __init__(self, model: Any, **kwargs: Any):
        super().__init__(model, **kwargs)
        self.channels_first = model_channels_first(model)
        self._subs: dict = {}

    def _tuned(self, x: torch.Tensor, fn, grad: bool = True):
        return fn(x)     # Keras' layout: no NCHW / channels_last probing

    def layer_channels_first(self, layer: Any) -> bool:
        fmt = getattr(layer, "data_format", None)
        return self.channels_first if fmt is None else fmt == "channels_first"

    def layer_names(self) -> list[str]:
        return conv_layer_names(self.model)

    def find_layer(self, layer: Any, example: Any = None):
        return find_keras_layer(self.model, layer)

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
