"""Attribution methods, one file each, registered by name (see :mod:`._registry` for what a
method is and how its options and progressive form are checked).

Method modules are imported on first use (:func:`get_method`, :func:`available_methods`):
each registers itself when imported.
"""

from __future__ import annotations

from ._registry import (ALIASES, COMMON_OPTIONS, MethodResult, MethodSpec, _REGISTRY,
                        check_options, iterate, register, registered,
                        unknown_options_error)

__all__ = ["ALIASES", "COMMON_OPTIONS", "MethodResult", "MethodSpec", "available_methods",
           "check_options", "get_method", "iterate", "register", "unknown_options_error"]


def get_method(name: str) -> MethodSpec:
    """The spec of method ``name``; an error that lists the available ones."""
    _load_all()
    return registered(name)


def available_methods() -> list[str]:
    """The names of every registered per-example method."""
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
