"""What the TensorFlow adapter reads from Keras models and layers, without changing them: the
Keras module, layer kinds, the Functional graph that runs a model, the layers it calls, image
data formats, and the device and dtype of its variables."""

from __future__ import annotations

from typing import Any

import tensorflow as tf


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
