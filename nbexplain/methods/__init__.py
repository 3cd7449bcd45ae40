"""Attribution methods, one file each, registered by name.

A method is a function ``fn(adapter, x, target, **options) -> MethodResult`` where ``x`` is the
batch as a native tensor on the model's device and ``target`` is the resolved target (one class
index per example, or a callable on the output). Methods never import a framework: they use
the adapter's methods and the operators native tensors share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .._errors import NBExplainError


@dataclass
class MethodResult:
    values: Any                      # native tensor or numpy array
    delta: Any = None                # per-example completeness error, where defined
    extras: dict = field(default_factory=dict)
    per_example: tuple = ()          # extras keys whose first axis is the batch axis


@dataclass
class MethodSpec:
    name: str
    fn: Callable[..., MethodResult]
    needs_gradients: bool
    summary: str


_REGISTRY: dict[str, MethodSpec] = {}


def register(name: str, *, needs_gradients: bool, summary: str = ""):
    def deco(fn):
        _REGISTRY[name] = MethodSpec(name, fn, needs_gradients, summary or (fn.__doc__ or "")
                                     .strip().splitlines()[0])
        return fn
    return deco


def get_method(name: str) -> MethodSpec:
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NBExplainError(
            f"unknown method {name!r}; available: {', '.join(sorted(_REGISTRY))}.") from None


def available_methods() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


_LOADED = False


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from . import (  # noqa: F401
        grad_cam,
        input_x_gradient,
        integrated_gradients,
        lime,
        occlusion,
        saliency,
        shapley,
        smoothgrad,
    )
