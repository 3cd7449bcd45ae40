"""Attribution methods, one file each, registered by name.

A method is a function ``fn(adapter, x, target, **options) -> MethodResult`` where ``x`` is the
batch as a native tensor on the model's device and ``target`` is the resolved target (one class
index per example, or a callable on the output). Methods never import a framework: they use
the adapter's methods and the operators native tensors share.

Options are checked in one place: :func:`register` reads the method's signature, and the
registered function refuses any keyword it does not name (with the method's accepted options,
and nbexplain's name for a known Captum/SHAP spelling). ``progress_bar`` is accepted by every
method (the widget passes it to all of them) and dropped for methods that draw no bar. A
method that forwards options to another one (``forwards_options=True``: smoothgrad) checks
those itself with :func:`check_options`.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .._errors import NBExplainError
from ._common import whole_number


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
    options: tuple = ()              # the options the method accepts, as listed to users
    accepts: frozenset = frozenset()  # every keyword it takes (with internal hooks)


_REGISTRY: dict[str, MethodSpec] = {}

#: accepted by every method; dropped before the call where the method does not take it
COMMON_OPTIONS = ("progress_bar",)
#: keywords for nbexplain's own callers (the live runner's cancel hook), not listed to users
_INTERNAL = ("check",)

#: other libraries' spellings (Captum, SHAP, LIME, pytorch-grad-cam) -> (nbexplain's name, note)
ALIASES: dict[str, tuple[str, str]] = {
    "n_steps": ("steps", ""),
    "method": ("rule", "Captum's method= names the quadrature rule, e.g. "
                       "rule='riemann_trapezoid'"),
    "baselines": ("baseline", ""),
    "internal_batch_size": ("batch_size", ""),
    "perturbations_per_eval": ("batch_size", "batch_size counts model rows per forward pass"),
    "target_layer": ("layer", ""),
    "target_layers": ("layer", "one layer, given by name or object"),
    "relu_attributions": ("relu", ""),
    "sliding_window_shapes": ("window", ""),
    "strides": ("stride", ""),
    "nt_samples": ("samples", ""),
    "n_samples": ("samples", ""),
    "nsamples": ("samples", ""),
    "num_samples": ("samples", ""),
    "nt_samples_batch_size": ("batch_samples", ""),
    "stdevs": ("noise", "noise is σ as a fraction of each example's value range, "
                        "max − min, not an absolute standard deviation"),
    "nt_type": ("vargrad", "use smoothgrad with vargrad=True for nt_type='vargrad'"),
    "feature_mask": ("features", ""),
    "random_seed": ("seed", ""),
    "random_state": ("seed", ""),
}


def _accepting(option: str) -> list[str]:
    return sorted(n for n, s in _REGISTRY.items() if option in s.accepts)


def unknown_options_error(method: str, unknown, accepted, *, what: str = "") -> NBExplainError:
    """The error for options a method does not use: each one named, with nbexplain's name for
    a known alias (or a close spelling), the methods that do take it, and the accepted list."""
    accepted = list(accepted)
    who = f"{method}{what}"
    hints = []
    for k in unknown:
        if k in ALIASES:
            ours, note = ALIASES[k]
            note = f" ({note})" if note else ""
            if ours in accepted:
                hints.append(f"{k}= is called {ours}= in nbexplain{note}.")
            else:
                hints.append(f"{k}= is nbexplain's {ours}=, which {who} does not take{note}.")
            continue
        others = _accepting(k)
        close = difflib.get_close_matches(k, accepted, n=1)
        if close and not others:   # an option of other methods is not a misspelling
            hints.append(f"Did you mean {close[0]}= (not {k}=)?")
            continue
        hints.append(f"{who} does not use {k}="
                     + (f" ({', '.join(others)} {'does' if len(others) == 1 else 'do'})"
                        if others else "") + ".")
    names = ", ".join(repr(k) for k in unknown)
    return NBExplainError(
        f"{who} got unknown option{'s' if len(unknown) > 1 else ''} {names}. "
        f"{' '.join(hints)} Options {who} accepts: "
        f"{', '.join(accepted) if accepted else '(none)'}.")


def check_options(method: str, options: dict, accepts, listed, *, what: str = "") -> None:
    """Raise :func:`unknown_options_error` if ``options`` names anything outside ``accepts``."""
    unknown = [k for k in options if k not in accepts]
    if unknown:
        raise unknown_options_error(method, unknown, listed, what=what)


def register(name: str, *, needs_gradients: bool, summary: str = "",
             forwards_options: bool = False):
    """Register ``fn(adapter, x, target, **options)`` under ``name``.

    The registered (and returned) function refuses options the signature does not name:
    a ``**kwargs`` catch-all does not widen what is accepted, unless ``forwards_options``
    (the method then checks what it forwards itself)."""
    def deco(fn):
        params = list(inspect.signature(fn).parameters.values())
        named = [p.name for p in params
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        options = [n for n in named[3:] if n not in _INTERNAL]   # after adapter, x, target
        options += [c for c in COMMON_OPTIONS if c not in options]
        accepts = frozenset(named) | frozenset(COMMON_OPTIONS)
        drop = tuple(c for c in COMMON_OPTIONS if c not in named)
        # True/False options (value: whether None is allowed too): 'no' or 'False' would be
        # truthy in the method's `if`, so anything but a bool is refused
        flags = {p.name: "None" in str(p.annotation) for p in params
                 if str(p.annotation).replace(" ", "") in ("bool", "bool|None")}

        @functools.wraps(fn)
        def method(*args, **kwargs):
            if not forwards_options:
                check_options(name, kwargs, accepts, options)
            if kwargs.get("batch_size") is not None:
                kwargs["batch_size"] = whole_number(
                    "batch_size", kwargs["batch_size"],
                    "examples or rows per pass, or None for the default")
            for k in flags.keys() & kwargs.keys():
                kwargs[k] = _flag(name, k, kwargs[k], flags[k])
            for c in drop:
                kwargs.pop(c, None)
            return fn(*args, **kwargs)

        _REGISTRY[name] = MethodSpec(name, method, needs_gradients,
                                     summary or (fn.__doc__ or "").strip().splitlines()[0],
                                     tuple(options), accepts)
        return method
    return deco


def _flag(method: str, name: str, v: Any, allow_none: bool) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if v is None and allow_none:
        return None
    raise NBExplainError(f"{method}: {name}={v!r}; use True or False"
                         + (" (or None for the default)." if allow_none else "."))


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
