"""The method registry: what a method is, how it is registered, how its options are checked.

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

A method may also register a *progressive form* (``register(..., progressive=gen)``): a
generator ``gen(adapter, x, target, **options)`` with the method's options (and its own, such
as ``start_steps`` or ``chunk``) that yields :class:`MethodResult` objects which refine as more
work is done, ``done=True`` on the last one, whose values are what the method itself returns
for the same options. :func:`iterate` runs any method that way (once, for a method without a
progressive form): ``attribute_progressive`` and the live widget both go through it, so the
two share one set of defaults.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from .._errors import NBExplainError
from ._common import whole_number


@dataclass
class MethodResult:
    values: Any                      # native tensor or numpy array
    delta: Any = None                # per-example completeness error, where defined
    extras: dict = field(default_factory=dict)
    per_example: tuple = ()          # extras keys whose first axis is the batch axis
    done: bool = True                # False on a progressive form's partial results
    progress: tuple | None = None    # (work done, work planned), for a progress display


@dataclass
class MethodSpec:
    name: str
    fn: Callable[..., MethodResult]
    needs_gradients: bool
    summary: str
    options: tuple = ()              # the options the method accepts, as listed to users
    accepts: frozenset = frozenset()  # every keyword it takes (with internal hooks)
    progressive: Callable[..., Iterator[MethodResult]] | None = None   # checked, see register
    progressive_options: tuple = ()  # the progressive form's options, as listed to users
    progressive_accepts: frozenset = frozenset()
    output: str = "input"            # values of the inputs' shape; "map": N×H×W (Grad-CAM)


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


def _signature_options(fn: Callable) -> tuple[list[str], list[str], dict]:
    """(every keyword name, the options listed to users, the True/False options) of a
    method-like ``fn(adapter, x, target, **options)``; a flag's value says whether None is
    allowed too."""
    params = list(inspect.signature(fn).parameters.values())
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    options = [n for n in named[3:] if n not in _INTERNAL]   # after adapter, x, target
    # True/False options: 'no' or 'False' would be truthy in the method's `if`, so anything
    # but a bool is refused
    flags = {p.name: "None" in str(p.annotation) for p in params
             if str(p.annotation).replace(" ", "") in ("bool", "bool|None")}
    return named, options, flags


def _checked(name: str, fn: Callable, accepts: frozenset, listed: list[str], flags: dict,
             drop: tuple, check: bool) -> Callable:
    """``fn`` with its options checked (unknown names, whole-number batch_size, bool flags)
    and the common options it does not take dropped."""
    @functools.wraps(fn)
    def method(*args, **kwargs):
        if not kwargs:       # nothing to check or drop (a plain call: its defaults)
            return fn(*args)
        if check:
            check_options(name, kwargs, accepts, listed)
        if kwargs.get("batch_size") is not None:
            kwargs["batch_size"] = whole_number(
                "batch_size", kwargs["batch_size"],
                "examples or rows per pass, or None for the default")
        for k in flags.keys() & kwargs.keys():
            kwargs[k] = _flag(name, k, kwargs[k], flags[k])
        for c in drop:
            kwargs.pop(c, None)
        return fn(*args, **kwargs)
    return method


def register(name: str, *, needs_gradients: bool, summary: str = "",
             forwards_options: bool = False,
             progressive: Callable[..., Iterator[MethodResult]] | None = None,
             output: str = "input"):
    """Register ``fn(adapter, x, target, **options)`` under ``name``.

    The registered (and returned) function refuses options the signature does not name:
    a ``**kwargs`` catch-all does not widen what is accepted, unless ``forwards_options``
    (the method then checks what it forwards itself). ``progressive`` is the method's
    refining form (see the module docstring); its options are checked the same way, and it
    must take every option the method takes (``progress_bar`` aside: partial results are the
    progress). ``output`` is the shape of the values: ``"input"``, the inputs' shape, or
    ``"map"``, one spatial map per example (N×H×W: Grad-CAM's)."""
    if output not in ("input", "map"):
        raise ValueError(f"output={output!r}; use 'input' or 'map'")

    def deco(fn):
        named, options, flags = _signature_options(fn)
        options += [c for c in COMMON_OPTIONS if c not in options]
        accepts = frozenset(named) | frozenset(COMMON_OPTIONS)
        drop = tuple(c for c in COMMON_OPTIONS if c not in named)
        method = _checked(name, fn, accepts, options, flags, drop, not forwards_options)
        gen, p_options, p_accepts = None, (), frozenset()
        if progressive is not None:
            p_named, p_listed, p_flags = _signature_options(progressive)
            missing = [o for o in options if o not in p_named and o not in COMMON_OPTIONS]
            if missing:
                raise TypeError(f"{name}'s progressive form does not take the method's "
                                f"options {missing}")
            p_options, p_accepts = tuple(p_listed), frozenset(p_named)
            gen = _checked(f"{name} (progressive)", progressive, p_accepts, p_listed,
                           p_flags, (), True)
        _REGISTRY[name] = MethodSpec(name, method, needs_gradients,
                                     summary or (fn.__doc__ or "").strip().splitlines()[0],
                                     tuple(options), accepts, gen, p_options, p_accepts,
                                     output)
        return method
    return deco


def iterate(spec: MethodSpec, adapter, x, target, **options) -> Iterator[MethodResult]:
    """Run ``spec`` through its progressive form, or once (``done=True``) when it has none.
    ``options`` are the method's own (``progress_bar`` is dropped for a progressive form:
    its partial results are the progress)."""
    if spec.progressive is None:
        res = spec.fn(adapter, x, target, **options)
        res.done = True
        yield res
        return
    for c in COMMON_OPTIONS:
        options.pop(c, None)
    yield from spec.progressive(adapter, x, target, **options)


def registered(name: str) -> MethodSpec:
    """The spec of a method already registered (no loading: for a method that wraps another,
    which is found through :func:`nbexplain.methods.get_method`, which loads them all)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NBExplainError(
            f"unknown method {name!r}; available: {', '.join(sorted(_REGISTRY))}.") from None


def _flag(method: str, name: str, v: Any, allow_none: bool) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if v is None and allow_none:
        return None
    raise NBExplainError(f"{method}: {name}={v!r}; use True or False"
                         + (" (or None for the default)." if allow_none else "."))


