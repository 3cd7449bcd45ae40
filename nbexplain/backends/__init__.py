"""Adapters, chosen by the model's type without importing a framework the user doesn't use."""

from __future__ import annotations

from typing import Any

from .._errors import NBExplainError
from .base import Adapter, Layout, guess_layout


def _modules_of(model: Any) -> list[str]:
    return [c.__module__ or "" for c in type(model).__mro__]


def detect_framework(model: Any) -> str:
    mods = _modules_of(model)
    if any(m == "torch" or m.startswith("torch.") for m in mods):
        return "torch"
    if any(m.split(".")[0] in ("keras", "tensorflow", "tf_keras") for m in mods):
        return "tensorflow"
    return "numpy"


def get_adapter(model: Any, framework: str | None = None, **kwargs: Any) -> Adapter:
    """Wrap ``model`` in the adapter for its framework.

    ``framework`` ('torch', 'tensorflow' or 'numpy') is needed only for plain functions, whose
    type says nothing about the tensors they take.
    """
    if isinstance(model, Adapter):
        return model
    fw = framework or detect_framework(model)
    if fw == "torch":
        from .torch import TorchAdapter

        return TorchAdapter(model, **kwargs)
    if fw == "tensorflow":
        try:
            from .tensorflow import TensorFlowAdapter
        except ImportError as e:  # pragma: no cover - depends on the install
            raise NBExplainError("TensorFlow support needs `pip install nbexplain[tensorflow]`"
                                 ) from e
        return TensorFlowAdapter(model, **kwargs)
    if fw == "numpy":
        if not callable(model):
            raise NBExplainError(f"model of type {type(model).__name__} is not callable; pass a "
                                 "torch module, a Keras model, or a function of numpy arrays.")
        try:
            from .numpy import NumpyAdapter
        except ImportError as e:  # pragma: no cover
            raise NBExplainError("numpy callables are not supported yet") from e
        return NumpyAdapter(model, **kwargs)
    raise NBExplainError(f"framework={framework!r}; use 'torch', 'tensorflow' or 'numpy'.")


__all__ = ["Adapter", "Layout", "guess_layout", "get_adapter", "detect_framework"]
