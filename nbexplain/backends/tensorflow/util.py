"""Small helpers of the TensorFlow adapter: a captured layer output, device names, unpacking
of single outputs, and the message for a gradient that is None."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ..._errors import NBExplainError


def _captured(store: dict) -> Any:
    """The layer output ``_call_capturing`` stored (the first of several outputs)."""
    a = store.get("a")
    if isinstance(a, (list, tuple)):
        a = a[0]
    if a is None or not tf.is_tensor(a):
        raise NBExplainError("the chosen layer was not called during the forward pass; pick a "
                             "layer the model actually uses.")
    return a


_CANONICAL: dict[str, str] = {}


def _canonical_device(name: Any) -> str:
    """'/job:localhost/.../device:CPU:0', 'gpu', 'cuda:1', '/GPU:0' -> '/device:GPU:1'
    (remembered per name: parsing one costs ~10 µs, and every call compares a few)."""
    key = str(name)
    hit = _CANONICAL.get(key)
    if hit is None:
        hit = _CANONICAL[key] = _parse_device(key)
    return hit


def _parse_device(name: str) -> str:
    s = name.strip()
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
