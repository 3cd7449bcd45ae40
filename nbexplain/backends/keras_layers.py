"""Reading a Keras 3 model's layers without a framework: shared by the adapters of Keras on the
torch and JAX backends (the TensorFlow adapter has its own, with nested-model support)."""

from __future__ import annotations

from typing import Any

from .._errors import NBExplainError


def keras_layers(model: Any) -> list:
    """Every layer under the model, parents first (nested models walked)."""
    out = []

    def walk(m):
        for layer in getattr(m, "layers", []) or []:
            out.append(layer)
            walk(layer)

    walk(model)
    return out


def is_conv(layer: Any) -> bool:
    return any("Conv" in c.__name__ for c in type(layer).__mro__
               if c.__name__ not in ("Layer", "object"))


def model_channels_first(model: Any) -> bool:
    """Whether the model's image layers say ``channels_first`` (Keras' default is last)."""
    formats = {getattr(layer, "data_format", None) for layer in keras_layers(model)}
    return "channels_first" in formats and "channels_last" not in formats


def conv_layer_names(model: Any) -> list[str]:
    return [layer.name for layer in keras_layers(model) if is_conv(layer)]


def find_keras_layer(model: Any, layer: Any) -> tuple[Any, str]:
    """A layer given by name or object (None: the last convolutional layer) as
    ``(layer, name)``, or an NBExplainError naming the candidates."""
    layers = keras_layers(model)
    if isinstance(layer, str) and layer:
        found = [lay for lay in layers if lay.name == layer]
        if not found:
            convs = [lay.name for lay in layers if is_conv(lay)]
            raise NBExplainError(f"the model has no layer named {layer!r}. Conv layers: "
                                 f"{convs[-8:]}; pass one of these names or the layer.")
        return found[0], layer
    if layer is not None and not isinstance(layer, str):
        if any(lay is layer for lay in layers):
            return layer, layer.name
        raise NBExplainError("the layer passed is not a layer of the model.")
    convs = [lay for lay in layers if is_conv(lay)]
    if not convs:
        raise NBExplainError("the model has no convolutional layer; pass layer=.")
    return convs[-1], convs[-1].name
