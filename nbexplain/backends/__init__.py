"""Adapters, chosen by the model's type without importing a framework the user doesn't use."""

from __future__ import annotations

import weakref
from typing import Any

from .._errors import NBExplainError
from .base import Adapter, Layout, guess_layout


def _modules_of(model: Any) -> list[str]:
    return [c.__module__ or "" for c in type(model).__mro__]


_FRAMEWORK_OF_TYPE: "weakref.WeakKeyDictionary[type, str]" = weakref.WeakKeyDictionary()


def detect_framework(model: Any) -> str:
    """'torch', 'tensorflow', 'keras_torch', 'keras_jax' or 'numpy', from the modules the model's classes come from
    (remembered per class)."""
    cls = type(model)
    try:
        fw = _FRAMEWORK_OF_TYPE.get(cls)
        if fw is None:
            fw = _FRAMEWORK_OF_TYPE[cls] = _detect_framework(model)
        return fw
    except TypeError:   # a class that cannot be weakly referenced or hashed
        return _detect_framework(model)


def _detect_framework(model: Any) -> str:
    mods = _modules_of(model)
    if any(m.split(".")[0] == "keras" for m in mods):     # Keras 3: its backend decides
        import keras

        backend = keras.backend.backend()
        if backend in ("torch", "jax"):
            return "keras_" + backend
        if backend != "tensorflow":
            raise NBExplainError(
                f"this Keras model runs on the {backend!r} backend; nbexplain explains Keras "
                "models on the 'tensorflow', 'torch' and 'jax' backends (KERAS_BACKEND="
                "tensorflow, torch or jax, set before keras is imported).")
        return "tensorflow"
    if any(m == "torch" or m.startswith("torch.") for m in mods):
        return "torch"
    if any(m.split(".")[0] in ("keras", "tensorflow", "tf_keras") for m in mods):
        return "tensorflow"
    return "numpy"


def get_adapter(model: Any, framework: str | None = None, *,
                channels_first: bool | None = None, **kwargs: Any) -> Adapter:
    """Wrap ``model`` in the adapter for its framework.

    ``framework`` ('torch', 'tensorflow' or 'numpy') is needed only for plain functions, whose
    type says nothing about the tensors they take. ``channels_first`` sets the image layout
    of a numpy callable (N×C×H×W by default; False for N×H×W×C) or a TensorFlow model
    (read from its layers by default); torch models take N×C×H×W, and False is an error.
    """
    if isinstance(model, Adapter):
        return _check_channels(model, channels_first)
    ad = _make_adapter(model, framework, channels_first, **kwargs)
    _settle_allocator()
    return _check_channels(ad, channels_first)


_SETTLED = False


def _settle_allocator() -> None:
    """Once per process: allocate and free (never touch) a 31 MiB block.

    glibc's malloc serves blocks above its mmap threshold (128 KiB at start) with fresh
    mmap'd pages and trims its heap when more than twice that threshold lies free at the top,
    so passes of a few MiB of activations fault their pages in anew on every pass. Freeing
    one mmap'd block raises the threshold to its size (glibc's own dynamic rule, capped at
    32 MiB), which any large tensor freed by the user's own code does too; after that, blocks
    below 31 MiB are reused from the heap. Measured: KernelSHAP on the small CNN (2048
    images in passes of 85) ran 0.35–0.65x as long, with ~60 000 minor page faults per call
    before and none after. No pages are touched, so no memory is used; elsewhere than glibc
    it is a harmless allocation. NBEXPLAIN_MALLOC_WARMUP=0 turns it off."""
    global _SETTLED
    if _SETTLED:
        return
    _SETTLED = True
    import os

    if os.environ.get("NBEXPLAIN_MALLOC_WARMUP", "1").strip().lower() in ("0", "false", "no",
                                                                          "off"):
        return
    import numpy as np

    block = np.empty(31 * 2 ** 20, dtype=np.uint8)   # malloc'd, never written
    del block


def _check_channels(ad: Adapter, channels_first: bool | None) -> Adapter:
    if channels_first is not None and bool(channels_first) != bool(ad.channels_first):
        want = "N×C×H×W" if ad.channels_first else "N×H×W×C"
        raise NBExplainError(
            f"channels_first={channels_first} contradicts the model: this {ad.framework} "
            f"model takes images as {want}. Leave channels_first out and pass the images "
            f"as {want} (torch: x.permute(0, 3, 1, 2); Keras: np.transpose(x, (0, 2, 3, 1)))"
            ", or set it only for plain numpy functions.")
    return ad


_TORCH_ADAPTER = None


def _torch_adapter():
    global _TORCH_ADAPTER
    from .torch import TorchAdapter

    _TORCH_ADAPTER = TorchAdapter
    return TorchAdapter


def _make_adapter(model: Any, framework: str | None, channels_first: bool | None,
                  **kwargs: Any) -> Adapter:
    fw = framework or detect_framework(model)
    if framework is not None and framework in ("torch", "tensorflow", "numpy"):
        found = detect_framework(model)
        if found != "numpy" and found != framework:   # a torch module or a Keras/TF model
            kind = "torch module" if found == "torch" else "Keras/TensorFlow model"
            raise NBExplainError(
                f"framework={framework!r}, but the model is a {kind} "
                f"({type(model).__name__}): leave framework= out (or pass {found!r}). "
                "framework= is for plain functions, whose type does not say which tensors "
                "they take.")
    if fw == "keras_jax":
        from .jax_keras import KerasJaxAdapter

        return KerasJaxAdapter(model, channels_first=channels_first, **kwargs)
    if fw == "keras_torch":
        from .torch.keras_torch import KerasTorchAdapter

        return KerasTorchAdapter(model, **kwargs)
    if fw == "torch":
        cls = _TORCH_ADAPTER
        if cls is None:   # imported on first use (an import statement costs µs a call)
            cls = _torch_adapter()
        return cls(model, **kwargs)
    if fw == "tensorflow":
        try:
            from .tensorflow import TensorFlowAdapter
        except ImportError as e:  # pragma: no cover - depends on the install
            raise NBExplainError("TensorFlow support needs `pip install nbexplain[tensorflow]`"
                                 ) from e
        if channels_first is not None:   # Keras: overrides the layout read from the model
            kwargs["channels_first"] = bool(channels_first)
        return TensorFlowAdapter(model, **kwargs)
    if fw == "numpy":
        if not callable(model):
            fix = "a torch module, a Keras model, or a function of numpy arrays"
            for meth in ("predict_proba", "decision_function", "predict"):
                if callable(getattr(model, meth, None)):   # a scikit-learn style estimator
                    fix = (f"its method instead, e.g. model.{meth} (the function from rows to "
                           "scores, one row per example)")
                    break
            raise NBExplainError(f"model of type {type(model).__name__} is not callable; pass "
                                 f"{fix}.")
        try:
            from .numpy import NumpyAdapter
        except ImportError as e:  # pragma: no cover
            raise NBExplainError("numpy callables are not supported yet") from e
        if channels_first is not None:
            kwargs["channels_first"] = bool(channels_first)
        return NumpyAdapter(model, **kwargs)
    raise NBExplainError(f"framework={framework!r}; use 'torch', 'tensorflow' or 'numpy'.")


__all__ = ["Adapter", "Layout", "guess_layout", "get_adapter", "detect_framework"]
