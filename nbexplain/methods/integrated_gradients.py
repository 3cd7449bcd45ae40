"""Integrated Gradients.

    IG_i(x) = (x_i - b_i) · ∫_0^1 ∂f_c(b + α (x - b)) / ∂x_i dα
            ≈ (x_i - b_i) · Σ_k w_k ∂f_c(b + α_k (x - b)) / ∂x_i

Sundararajan, Taly, Yan (2017), "Axiomatic Attribution for Deep Networks",
https://arxiv.org/abs/1703.01365

Quadrature rules (``rule=``), for ``steps = n``:

* ``riemann_left``   α_k = k/n,            k = 0..n-1, w_k = 1/n
* ``riemann_right``  α_k = k/n,            k = 1..n,   w_k = 1/n
* ``riemann_middle`` α_k = (k + 1/2)/n,    k = 0..n-1, w_k = 1/n
* ``riemann_trapezoid`` α_k = k/(n-1),     k = 0..n-1, w_k = 1/(n-1), halved at both ends
  (the textbook rule: weights sum to 1). Captum's trapezoid uses w_k = 1/n halved at the ends,
  whose weights sum to (n-1)/n, so its result is (n-1)/n of this one; ours equals
  Captum's × n/(n-1). The rescaled Captum result agrees with Xplique's and TensorFlow's
  tutorial IG.
* ``gausslegendre``  Gauss-Legendre nodes and weights mapped from [-1, 1] to [0, 1] (Captum's
  default).

``delta`` is the completeness error per example, Σ_i IG_i − (f_c(x) − f_c(b)). It does not
shrink steadily with more steps on ReLU networks (their gradients are piecewise constant; see
captum#1334), so it is reported, never promised.

Baselines (``baseline=``): a scalar, an array (one example's shape or the batch's), or a
preset: ``"black"`` / ``"white"`` (each example's minimum / maximum value), ``"blur"`` or
``("blur", sigma)`` (Gaussian blur of the image, σ in pixels, default 5), ``"uniform"``
(uniform noise between each example's min and max, seeded by ``seed``), ``"mean"``
(the mean of ``data=``, a data set of examples). A baseline with NaN or ±inf values (given,
or from a preset) is refused: it would make every attribution NaN.

:func:`integrated_gradients_progressive` refines n → 2n → 4n … steps, reusing every path
point already evaluated (left/right Riemann and the trapezoid rule are nested under halving
of the step), and yields each estimate with its delta.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from .._errors import NBExplainError
from ._layer import layer_integrated_gradients
from ._registry import MethodResult, register
from ._common import (as_example_array, check_memory, check_reference, drawn_channels_first,
                      progress, repeat_target, whole_number)

RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")
_ALIASES = {"left": "riemann_left", "right": "riemann_right", "middle": "riemann_middle",
            "trapezoid": "riemann_trapezoid", "gauss_legendre": "gausslegendre",
            "gl": "gausslegendre"}
NESTED_RULES = ("riemann_left", "riemann_right", "riemann_trapezoid")


def canonical_rule(rule: str) -> str:
    r = _ALIASES.get(rule, rule)
    if r not in RULES:
        raise NBExplainError(f"unknown IG rule {rule!r}; use one of {', '.join(RULES)}.")
    return r


def rule_points(rule: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(alphas, weights) of a quadrature rule on [0, 1]; weights sum to 1."""
    a, w = _rule_points(canonical_rule(rule),
                        whole_number("steps", steps, "path points of the integral, e.g. 50"))
    return a.copy(), w.copy()


@functools.lru_cache(maxsize=64)
def _rule_points(rule: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    # numpy's leggauss solves an eigenvalue problem (~0.7 ms for 50 nodes): once per (rule, n)
    n = int(steps)
    if n < 1 or (rule == "riemann_trapezoid" and n < 2):
        raise NBExplainError(f"steps={steps} is too small for {rule}; use steps >= "
                             f"{2 if rule == 'riemann_trapezoid' else 1}.")
    check_rule_size(rule, n)
    if rule == "riemann_left":
        return np.arange(n) / n, np.full(n, 1.0 / n)
    if rule == "riemann_right":
        return np.arange(1, n + 1) / n, np.full(n, 1.0 / n)
    if rule == "riemann_middle":
        return (np.arange(n) + 0.5) / n, np.full(n, 1.0 / n)
    if rule == "riemann_trapezoid":
        w = np.full(n, 1.0 / (n - 1))
        w[0] /= 2
        w[-1] /= 2
        return np.linspace(0.0, 1.0, n), w
    nodes, w = gauss_legendre(n)
    return (nodes + 1) / 2, w / 2


#: Gauss-Legendre rules up to this many nodes come from numpy's leggauss (an eigenproblem:
#: O(n²) memory and O(n³) time, 65 s at 5,000 nodes); larger ones from Newton's method
_LEGGAUSS_MAX = 100
#: Newton's method with the recurrence costs O(n²) time: used up to this many nodes
_RECURRENCE_MAX = 2_000
#: the asymptotic rule costs O(n) (about 0.7 s at 10^5 nodes on one CPU core)
GAUSS_LEGENDRE_MAX = 200_000


def check_rule_size(rule: str, n: int) -> None:
    """Refuse, before any work, a step count whose rule would not fit in memory (16 bytes a
    point: the points and weights; the passes run in bounded chunks) or, for Gauss-Legendre,
    whose nodes would take too long to build."""
    check_memory(16.0 * n, f"steps={n:,}", "lower steps=.")
    if rule == "gausslegendre" and n > GAUSS_LEGENDRE_MAX:
        raise NBExplainError(
            f"steps={n:,} with the Gauss-Legendre rule: its nodes take O(steps) work to "
            f"build, and nbexplain builds at most {GAUSS_LEGENDRE_MAX:,} (about 1.4 s here). Use "
            f"steps <= {GAUSS_LEGENDRE_MAX:,} with it, or a rule whose points are free to "
            "build: rule='riemann_trapezoid' (nested: attribute_progressive refines it step "
            "by step), 'riemann_left', 'riemann_right' or 'riemann_middle'.")


def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes (ascending) and weights on [-1, 1], in O(n) memory. Up to
    ``_LEGGAUSS_MAX`` nodes numpy's leggauss; up to ``_RECURRENCE_MAX`` Newton's method on P_n
    from Tricomi's initial guesses (error O(n⁻⁴) before the first step), P_n and P_n' by the
    three-term recurrence, one half of the nodes by symmetry, weights 2 / ((1 − x²) P_n'²)
    (O(n²) time); above, the O(n) asymptotic rule (:func:`_gauss_legendre_asymptotic`).
    Refused above ``GAUSS_LEGENDRE_MAX`` nodes, before any work."""
    if n <= _LEGGAUSS_MAX:
        return np.polynomial.legendre.leggauss(n)
    check_rule_size("gausslegendre", n)
    if n > _RECURRENCE_MAX:
        return _gauss_legendre_asymptotic(n)
    half = (n + 1) // 2
    k = np.arange(1, half + 1, dtype=np.float64)
    x = (1 - 1 / (8 * n ** 2) + 1 / (8 * n ** 3)) * np.cos(np.pi * (4 * k - 1) / (4 * n + 2))

    def legendre(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p0, p1 = np.ones_like(x), x.copy()
        tmp = np.empty_like(x)
        for j in range(2, n + 1):
            # p_j = ((2j − 1) x p_{j−1} − (j − 1) p_{j−2}) / j, in place
            np.multiply(x, p1, out=tmp)
            tmp *= (2 * j - 1) / j
            p0 *= (j - 1) / j
            tmp -= p0
            p0, p1, tmp = p1, tmp, p0
        return p1, n * (x * p1 - p0) / (x * x - 1)    # P_n, P_n'

    for _ in range(3):
        pn, dpn = legendre(x)
        step = pn / dpn
        x -= step
        if np.max(np.abs(step)) < 1e-15:
            break
    _, dpn = legendre(x)
    w = 2 / ((1 - x * x) * dpn * dpn)
    return _mirror(x, w, n)


def _mirror(x: np.ndarray, w: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """All n nodes (ascending) and weights from those of one half (x descending from 1)."""
    if n % 2:     # the middle node, 0, is in the half once
        return np.concatenate([-x, x[-2::-1]]), np.concatenate([w, w[-2::-1]])
    return np.concatenate([-x, x[::-1]]), np.concatenate([w, w[::-1]])


#: the boundary nodes k < _BOUNDARY (and their mirror images) of the asymptotic rule come from
#: the recurrence: Stieltjes' expansion needs 2 sin θ_k ≫ 1/n there
_BOUNDARY = 10
_TERMS = 30


def _gauss_legendre_asymptotic(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights in O(n) time and memory (Hale & Townsend, "Fast and
    accurate computation of Gauss-Legendre and Gauss-Jacobi quadrature nodes and weights",
    SIAM J. Sci. Comput. 35 (2013), https://doi.org/10.1137/120889873, in outline).

    Interior nodes: Newton's method in θ (x = cos θ) from Tricomi's guesses on Stieltjes'
    expansion P_n(cos θ) = C_n Σ_m h_m cos α_m / (2 sin θ)^(m+½), α_m = (n+m+½)θ − (m+½)π/2,
    h_m = Π_{j≤m} (j−½)² / (j (n+j+½)), with weights 2 / (C_n dS/dθ)² and C_n = (2/√π) ·
    Γ(n+1)/Γ(n+3/2). Boundary nodes: McMahon's Bessel-zero guesses θ ≈ j₀,ₖ/(n+½), refined
    by Newton on the recurrence (a pairwise product of its 2×2 transfer matrices, then one
    plain run per node), with weights 2(1 − x²) / (n (x P_n − P_{n−1}))² at the node."""
    half = (n + 1) // 2
    k = np.arange(1, half + 1, dtype=np.float64)
    nb = min(_BOUNDARY - 1, half)
    # --- boundary nodes ---
    beta = (np.arange(1, nb + 1) - 0.25) * np.pi
    tb = (beta + 1 / (8 * beta) - 124 / (3 * (8 * beta) ** 3)
          + 120928 / (15 * (8 * beta) ** 5)) / (n + 0.5)
    for _ in range(6):
        p, q = _pairwise_legendre(np.cos(tb), n)
        step = p / (-(n / np.sin(tb)) * (q - np.cos(tb) * p))
        tb = tb - step
        if np.max(np.abs(step)) < 1e-15 * np.max(tb):
            break
    wb = np.empty(nb)
    for i, t in enumerate(tb.tolist()):
        x, pn, pm = _legendre_at(math.cos(t), n)       # one Newton step, then the weight
        t -= pn / (-(n / math.sin(t)) * (pm - x * pn))
        x, pn, pm = _legendre_at(math.cos(t), n)
        tb[i] = t
        wb[i] = 2 * (1 - x) * (1 + x) / (n * (x * pn - pm)) ** 2
    # --- interior nodes ---
    ti = np.pi * (4 * k[nb:] - 1) / (4 * n + 2)
    h = np.ones(_TERMS)
    for m in range(1, _TERMS):
        h[m] = h[m - 1] * (m - 0.5) ** 2 / (m * (n + m + 0.5))

    def series(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s2, c = 2 * np.sin(t), np.cos(t)
        value, slope = np.zeros_like(t), np.zeros_like(t)
        for m in range(_TERMS):
            a = (n + m + 0.5) * t - (m + 0.5) * np.pi / 2
            pw = h[m] * s2 ** -(m + 0.5)
            value += np.cos(a) * pw
            slope -= ((n + m + 0.5) * np.sin(a) + (m + 0.5) * np.cos(a) * 2 * c / s2) * pw
        return value, slope

    for _ in range(3):
        value, slope = series(ti)
        step = value / slope
        ti = ti - step
        if np.max(np.abs(step)) < 1e-16:
            break
    _, slope = series(ti)
    j = np.arange(1, n + 1, dtype=np.float64)
    c_n = (2 / math.sqrt(math.pi)) ** 2 * np.prod(j / (j + 0.5))   # (2/√π)·Γ(n+1)/Γ(n+3/2)
    wi = 2 / (c_n * slope) ** 2
    return _mirror(np.concatenate([np.cos(tb), np.cos(ti)]), np.concatenate([wb, wi]), n)


def _legendre_at(x: float, n: int) -> tuple[float, float, float]:
    """(x, P_n(x), P_{n−1}(x)) by the recurrence, in Python floats (n steps)."""
    p0, p1 = 1.0, x
    for j in range(2, n + 1):
        p0, p1 = p1, ((2 * j - 1) * x * p1 - (j - 1) * p0) / j
    return x, p1, p0


def _pairwise_legendre(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(P_n(x), P_{n−1}(x)) for a few x as one product of the recurrence's transfer matrices
    [p_j, p_{j−1}] = [[(2j−1)x/j, −(j−1)/j], [1, 0]] [p_{j−1}, p_{j−2}], multiplied in pairs
    (log₂ n vectorised rounds; a few digits less than the plain recurrence: for guesses)."""
    j = np.arange(2, n + 1, dtype=np.float64)[:, None]
    e = (2 * j - 1) / j * x[None, :]
    f = np.broadcast_to(-(j - 1) / j, e.shape).copy()
    g, hh = np.ones_like(e), np.zeros_like(e)
    while e.shape[0] > 1:
        if e.shape[0] % 2:     # the identity at the end: applied last, changes nothing
            one, zero = np.ones((1, e.shape[1])), np.zeros((1, e.shape[1]))
            e, f = np.vstack([e, one]), np.vstack([f, zero])
            g, hh = np.vstack([g, zero]), np.vstack([hh, one])
        e0, f0, g0, h0 = e[0::2], f[0::2], g[0::2], hh[0::2]
        e1, f1, g1, h1 = e[1::2], f[1::2], g[1::2], hh[1::2]
        e, f, g, hh = e1 * e0 + f1 * g0, e1 * f0 + f1 * h0, g1 * e0 + h1 * g0, g1 * f0 + h1 * h0
    return e[0] * x + f[0], g[0] * x + hh[0]


# --- baselines ---------------------------------------------------------------------------
def _gaussian_blur(img: np.ndarray, sigma: float, spatial: tuple[int, int]) -> np.ndarray:
    """Separable Gaussian blur over two spatial axes, reflect padding (host side, once)."""
    radius = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    out = img.astype(np.float64)
    for ax in spatial:
        pad = [(0, 0)] * out.ndim
        pad[ax] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect" if out.shape[ax] > radius else "edge")
        out = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), ax, padded)
    return out


_FINITE_FIX = ("Pass a finite baseline: replace the NaN/inf entries (e.g. np.nan_to_num) or use "
               "a number such as 0.0 or a preset such as 'black' or 'blur'.")


def make_baseline(adapter, x, baseline: Any, *, data: Any = None, seed: int | None = None):
    """Resolve a baseline spec into a native tensor of x's shape (NaN/inf refused).
    ``data`` is for the 'mean' preset and ``seed`` (default 0) for 'uniform'; given with
    another baseline they would do nothing, and are refused."""
    if baseline is None:
        baseline = 0.0
    preset = baseline[0] if (isinstance(baseline, tuple) and baseline
                             and isinstance(baseline[0], str)) else baseline
    if data is not None and not (isinstance(preset, str) and preset == "mean"):
        raise NBExplainError("data= is averaged only by baseline='mean'; with baseline="
                             f"{_short(baseline)} it would do nothing. Pass baseline='mean' "
                             "or leave data= out.")
    if seed is not None and not (isinstance(preset, str) and preset == "uniform"):
        raise NBExplainError("seed= draws only the baseline='uniform' noise; with baseline="
                             f"{_short(baseline)} it would do nothing. Leave seed= out.")
    if seed is None:
        seed = 0
    if isinstance(baseline, (int, float, np.number)) and not isinstance(baseline, bool):
        check_reference(float(baseline), f"baseline={baseline!r}",
                        fix="Pass a finite number (e.g. 0.0), an array, or a preset such as "
                            "'black' or 'blur'.")
        # a constant baseline is one element broadcast over the batch: a view, not a copy
        one = x[tuple(slice(0, 1) for _ in x.shape)]
        return adapter.broadcast_to(adapter.zeros_like(one) + float(baseline), tuple(x.shape))
    name, arg = (baseline if isinstance(baseline, tuple) and len(baseline) == 2
                 and isinstance(baseline[0], str) else (baseline, None))
    if not isinstance(name, str):
        return as_example_array(adapter, baseline, x, "baseline")   # checks NaN/inf too
    xn = adapter.to_numpy(x)
    axes = tuple(range(1, xn.ndim))
    lo = xn.min(axis=axes, keepdims=True)
    hi = xn.max(axis=axes, keepdims=True)
    if name == "black":
        b = np.broadcast_to(lo, xn.shape)
    elif name == "white":
        b = np.broadcast_to(hi, xn.shape)
    elif name == "uniform":
        rng = np.random.default_rng(seed)
        b = lo + (hi - lo) * drawn_channels_first(
            rng.random, xn.shape, xn.ndim == 4 and not adapter.channels_first)
    elif name == "blur":
        if xn.ndim != 4:
            raise NBExplainError("the blur baseline needs image inputs (4 axes).")
        sigma = 5.0 if arg is None else float(arg)
        if not (np.isfinite(sigma) and sigma > 0):
            raise NBExplainError(f"baseline=('blur', {arg!r}): the blur's sigma must be a "
                                 "positive number of pixels (default 5).")
        spatial = (2, 3) if adapter.channels_first else (1, 2)
        b = _gaussian_blur(xn, sigma, spatial)
    elif name == "mean":
        if data is None:
            raise NBExplainError("baseline='mean' needs data=<array of examples> to average.")
        d = np.asarray(adapter.to_numpy(adapter.as_tensor(data)), dtype=np.float64)
        check_reference(d, "data= (averaged by baseline='mean')",
                        fix="Drop or impute the rows with NaN/inf before passing data=.")
        if d.shape[1:] != xn.shape[1:]:
            raise NBExplainError(f"data has examples of shape {d.shape[1:]} but the inputs "
                                 f"have {xn.shape[1:]}; pass data in the inputs' layout.")
        b = np.broadcast_to(d.mean(axis=0), xn.shape)
    else:
        raise NBExplainError(f"unknown baseline preset {name!r}; use a number, an array, or "
                             "'black', 'white', 'blur', ('blur', sigma), 'uniform', 'mean'.")
    b = np.ascontiguousarray(b, dtype=xn.dtype)
    check_reference(b, f"baseline={baseline!r}", fix=_FINITE_FIX)
    return adapter.as_tensor(b)


def _short(v: Any) -> str:
    return repr(v) if isinstance(v, (str, int, float, tuple)) else f"<{type(v).__name__}>"


# --- the path integral -----------------------------------------------------------------------
def path_gradient_sum(adapter, x, b, alphas: np.ndarray, weights: np.ndarray, target: Any,
                      batch_size: int | None, bar=None, check=None, ends: dict | None = None):
    """Σ_k w_k ∂f/∂x (b + α_k (x − b)) per example, on the device.

    Forward passes carry at most ``batch_size`` path points (``adapter.rows_per_pass`` when
    None). Points are laid out example-major: each example's chunk of alphas is contiguous.
    With ``ends`` (a dict), the target scores at α = 0 and α = 1, when those points are on the
    path, are stored there under 0.0 / 1.0 as (N,) tensors: f(b) and f(x) come for free with
    the gradients, and the completeness delta needs no extra forward pass.
    """
    n, m = int(x.shape[0]), len(alphas)
    if m == 0:
        return adapter.zeros_like(x)
    per_pass = batch_size or adapter.rows_per_pass(x.shape[1:])
    nb = max(1, min(n, per_pass))                 # examples per pass
    c = max(1, min(m, per_pass // nb))            # alphas per pass
    nd = len(x.shape)
    want = {} if ends is None else {float(v): int(np.flatnonzero(alphas == v)[0])
                                    for v in (0.0, 1.0) if np.any(alphas == v)}
    found: dict[float, list] = {v: [] for v in want}
    parts = []
    for i in range(0, n, nb):
        xi, bi = x[i:i + nb], b[i:i + nb]
        ti = target if callable(target) else target[i:i + nb]
        k = int(xi.shape[0])
        acc = None
        fused = not callable(ti)
        for j in range(0, m, c):
            a = alphas[j:j + c]
            w = weights[j:j + c]
            cc = len(a)
            # the adapter may build the path points and reduce on device in one compiled call
            r = adapter.path_gradient_chunk(xi, bi, a, w, ti) if fused else None
            if r is not None:
                g, s = r
            else:
                # b + α (x − b) by broadcasting (k, 1, ...) against (1, cc, 1, ...): no
                # repeated copies of x and b, and x − b is not held across the passes
                shape = (1, cc) + (1,) * (nd - 1)
                scale = adapter.reshape(adapter.weights(a, nd + 1, like=xi), shape)
                pts = adapter.reshape(bi[:, None] + scale * (xi - bi)[:, None],
                                      (k * cc,) + tuple(x.shape[1:]))
                del scale
                s, g = adapter.input_gradients(pts, repeat_target(ti, cc))
                del pts
                g = adapter.reshape(g, (k, cc) + tuple(x.shape[1:]))
                g = adapter.reduce(g * adapter.reshape(adapter.weights(w, nd + 1, like=g),
                                                        shape), "sum", 1)
            for v, jj in want.items():
                if j <= jj < j + cc:
                    found[v].append(adapter.reshape(s, (k, cc))[:, jj - j])
            acc = g if acc is None else acc + g
            if bar is not None:
                bar.update(k * cc)
            if check is not None:
                check()
        parts.append(acc)
    if ends is not None:
        ends.update({v: adapter.concat(f) for v, f in found.items()})
    return adapter.concat(parts)


def end_scores(adapter, x, b, target, batch_size: int | None):
    """f_c(x) and f_c(b), in one forward pass when no batch size limits it."""
    n = int(x.shape[0])
    if batch_size is not None and 2 * n > batch_size:
        return adapter.scores(x, target, batch_size), adapter.scores(b, target, batch_size)
    t2 = target if callable(target) else np.concatenate([target, target])
    both = adapter.scores(adapter.concat([x, b]), t2)
    return both[:n], both[n:]


def known_end_scores(adapter, x, b, target, batch_size: int | None, ends: dict | None):
    """(f(x), f(b)): the scores in ``ends`` (from a path pass) are reused, and only the
    missing end points are evaluated."""
    ends = ends or {}
    if 0.0 in ends and 1.0 in ends:
        return ends[1.0], ends[0.0]
    if 1.0 in ends:
        return ends[1.0], adapter.scores(b, target, batch_size)
    if 0.0 in ends:
        return adapter.scores(x, target, batch_size), ends[0.0]
    return end_scores(adapter, x, b, target, batch_size)


def completeness_delta(adapter, attr, x, b, target, batch_size: int | None,
                       ends: dict | None = None):
    """Σ attr − (f(x) − f(b)) per example (end-point scores reused from ``ends``)."""
    fx, fb = known_end_scores(adapter, x, b, target, batch_size, ends)
    nd = len(attr.shape)
    s = adapter.reduce(attr, "sum", tuple(range(1, nd))) if nd > 1 else attr
    return delta_of(adapter, s, fx, fb)


def delta_of(adapter, s, fx, fb):
    """s − (f(x) − f(b)) in one float dtype. A Keras model's scores may have another dtype
    than its inputs (a mixed_float16 policy; a float64 ``Input`` feeding float32 layers) and
    TensorFlow does not promote, so mixed dtypes are combined in float64 on the host; the
    result is a native tensor in the inputs' float dtype."""
    if len({getattr(t, "dtype", None) for t in (s, fx, fb)}) == 1:
        return s - (fx - fb)
    s, fx, fb = (np.asarray(adapter.to_numpy(t), dtype=np.float64) for t in (s, fx, fb))
    return adapter.as_tensor(s - (fx - fb))


def _integrate(adapter, x, b, alphas: np.ndarray, weights: np.ndarray, target,
               batch_size: int | None, progress_bar: bool | None, check,
               extras: dict) -> MethodResult:
    """IG of ``x`` against the made baseline ``b`` with one quadrature rule's points."""
    n = int(x.shape[0])
    if (not callable(target)
            and n * len(alphas) <= (batch_size or adapter.rows_per_pass(x.shape[1:]))):
        # all the points fit one pass: the adapter may compute everything in one call (no
        # progress to report within it: a bar only when asked for, progress_bar=True)
        total = n * len(alphas)
        with progress(total, progress_bar if progress_bar else False,
                      "integrated gradients") as bar:
            r = adapter.integrated_gradients_whole(x, b, alphas, weights, target)
            bar.update(total if r is not None else 0)
        if r is not None:
            if check is not None:
                check()
            return MethodResult(values=r[0], delta=r[1], extras=extras)
    ends: dict = {}
    with progress(n * len(alphas), progress_bar, "integrated gradients") as bar:
        g = path_gradient_sum(adapter, x, b, alphas, weights, target, batch_size, bar,
                              check=check, ends=ends)
    attr = (x - b) * g
    delta = completeness_delta(adapter, attr, x, b, target, batch_size, ends)
    return MethodResult(values=attr, delta=delta, extras=extras)


class PathCache:
    """The gradients along one IG path, kept between calls (the live widget's steps slider):
    an estimate at another step count evaluates only the path points it has not seen. A
    point is its α; the cache belongs to one (inputs, baseline, target, model state) and
    empties itself when called for another. Host float32, at most ``limit`` bytes (beyond,
    the oldest points are dropped)."""

    def __init__(self, limit: int = 256 * 2 ** 20):
        self.limit = limit
        self._key: Any = None
        self._grads: dict[float, np.ndarray] = {}
        self._ends: tuple | None = None
        self.evaluated = 0           # path points computed (not taken from the cache)

    def bind(self, adapter, x, b, target) -> None:
        xn, bn = adapter.to_numpy(x), adapter.to_numpy(b)
        key = (hash(xn.tobytes()), hash(bn.tobytes()), xn.shape, repr(np.asarray(target)),
               id(adapter.model), id(adapter))
        if key != self._key:
            self._key, self._grads, self._ends = key, {}, None

    def gradients(self, adapter, x, b, alphas: np.ndarray, target, batch_size, check):
        """(m, *example) host gradients at ``alphas`` (one example), computing the missing
        ones in batches of path points."""
        missing = [float(a) for a in alphas if _point(a) not in self._grads]
        if missing:
            xn = adapter.to_numpy(x).astype(np.float64)
            bn = adapter.to_numpy(b).astype(np.float64)
            per = max(1, batch_size or adapter.rows_per_pass(tuple(xn.shape[1:])))
            tg = np.asarray(target)
            for s in range(0, len(missing), per):
                a = np.asarray(missing[s:s + per])
                pts = bn + a.reshape(-1, *([1] * (xn.ndim - 1))) * (xn - bn)
                g = adapter.to_numpy(adapter.input_gradient(
                    adapter.as_tensor(pts.astype(adapter.to_numpy(x).dtype)),
                    np.repeat(tg, len(a)))).astype(np.float32)
                for ai, gi in zip(a, g):
                    self._grads[_point(ai)] = gi
                self.evaluated += len(a)
                if check is not None:
                    check()
            self._trim(alphas)
        return np.stack([self._grads[_point(a)] for a in alphas])

    def _trim(self, keep: np.ndarray) -> None:
        if not self._grads:
            return
        size = next(iter(self._grads.values())).nbytes
        over = len(self._grads) - max(len(keep), self.limit // max(1, size))
        if over > 0:
            wanted = {_point(a) for a in keep}
            for a in [a for a in self._grads if a not in wanted][:over]:
                del self._grads[a]

    def ends(self, adapter, x, b, target, batch_size) -> tuple:
        if self._ends is None:
            fx, fb = end_scores(adapter, x, b, target, batch_size)
            self._ends = (float(adapter.to_numpy(fx)[0]), float(adapter.to_numpy(fb)[0]))
        return self._ends


def _point(a: float) -> float:
    """A path point's key: α to 13 decimals (linspace's k/(n−1) and 2k/(2n−2) may differ in
    their last bit)."""
    return round(float(a), 13)


def _integrate_cached(adapter, x, b, alphas, weights, target, batch_size, check,
                      cache: PathCache, extras: dict) -> MethodResult:
    """IG of one example from the gradients in ``cache`` (computing the missing ones)."""
    g = cache.gradients(adapter, x, b, alphas, target, batch_size, check)
    xn = adapter.to_numpy(x).astype(np.float64)
    diff = xn - adapter.to_numpy(b).astype(np.float64)
    attr = diff * np.tensordot(np.asarray(weights, dtype=np.float64), g.astype(np.float64),
                               axes=(0, 0))[None]
    fx, fb = cache.ends(adapter, x, b, target, batch_size)
    delta = np.array([attr.sum() - (fx - fb)])
    dtype = adapter.to_numpy(x).dtype
    return MethodResult(values=adapter.as_tensor(attr.astype(dtype)),
                        delta=adapter.as_tensor(delta.astype(dtype)), extras=extras)


def integrated_gradients_stream(adapter, x, target, *, baseline: Any = 0.0, steps: int = 50,
                                rule: str = "gausslegendre", batch_size: int | None = None,
                                data: Any = None, seed: int | None = None,
                                start_steps: int | None = None, path_cache: PathCache | None = None,
                                layer: Any = None, check=None) -> Iterator[MethodResult]:
    """IG's progressive form: estimates at growing step counts, each with its completeness
    error, ending with the method's own result for ``steps`` and ``rule``.

    * A nested rule (``riemann_trapezoid``, ``riemann_left``, ``riemann_right``) whose
      ``steps`` doubling reaches from ``start_steps`` (by default the smallest start of at
      least 4 points with at least one doubling) refines by doubling, each refinement
      evaluating only the new path points (:func:`integrated_gradients_progressive`).
    * Otherwise (Gauss-Legendre, the default; the midpoint rule; a step count doubling cannot
      reach) the partial estimates use the same rule at ``steps``//16, //8 and //4 (those
      with at least 2 points), at most 7/16 more passes than the last estimate alone, which
      is computed exactly as the method computes it.

    Each result's ``progress`` is ``(its steps, steps)``; ``extras`` hold ``steps``,
    ``evaluations`` (path points evaluated so far per example), ``rule`` and ``done``.

    ``path_cache`` (a :class:`PathCache`, one example, a class target): the gradients at
    every path point are kept there, so a later call at another step count evaluates only
    the points it has not seen (a nested rule at a doubled count: half of them; a count seen
    before: none)."""
    rule = canonical_rule(rule)
    steps = whole_number("steps", steps, "path points of the integral, e.g. 50")
    check_rule_size(rule, steps)    # refused before the first estimate, as attribute() does
    start: int | None
    if layer is not None:           # layer attribution: the method's result, once
        alphas, weights = rule_points(rule, steps)
        res = layer_integrated_gradients(adapter, x, target, layer, baseline, alphas, weights,
                                         batch_size, check)
        res.done, res.progress = True, (steps, steps)
        yield res
        return
    if start_steps is not None:
        if rule not in NESTED_RULES:
            raise NBExplainError(
                f"start_steps= refines by doubling, which the {rule} rule cannot do (its "
                f"points change with the step count): use one of {', '.join(NESTED_RULES)}, "
                "or leave start_steps= out.")
        least = 2 if rule == "riemann_trapezoid" else 1
        start = whole_number("start_steps", start_steps,
                             f"the first estimate's steps; the {rule} rule needs at least "
                             f"{least}", minimum=least)
        if not reaches(rule, start, steps):
            raise NBExplainError(
                f"doubling from start_steps={start} does not reach steps={steps} with the "
                f"{rule} rule; pick steps = start_steps·2^j (trapezoid: (start_steps − 1)·2^j"
                " + 1), or leave start_steps= out.")
    else:
        start = progressive_start(rule, steps)
    if path_cache is not None and int(x.shape[0]) == 1 and not callable(target):
        b = make_baseline(adapter, x, baseline, data=data, seed=seed)
        path_cache.bind(adapter, x, b, target)
        counts = (nested_counts(rule, start, steps) if start is not None
                  else coarse_steps(rule, steps) + [steps])
        evals = 0
        for n in counts:
            alphas, weights = rule_points(rule, n)
            evals += len(alphas)
            done = n == steps
            res = _integrate_cached(adapter, x, b, alphas, weights, target, batch_size, check,
                                    path_cache, {"steps": n, "evaluations": evals,
                                                 "rule": rule, "done": done})
            res.done, res.progress = done, (n, steps)
            yield res
        return
    if start is not None:
        for est in integrated_gradients_progressive(
                adapter, x, target, baseline=baseline, start_steps=start, max_steps=steps,
                rule=rule, batch_size=batch_size, data=data, seed=seed, check=check):
            done = est.steps >= steps
            yield MethodResult(values=est.values, delta=est.delta, done=done,
                               progress=(est.steps, steps),
                               extras={"steps": est.steps, "evaluations": est.evaluations,
                                       "rule": rule, "done": done})
        return
    b = make_baseline(adapter, x, baseline, data=data, seed=seed)
    evals = 0
    for n in coarse_steps(rule, steps) + [steps]:
        alphas, weights = rule_points(rule, n)
        evals += len(alphas)
        done = n == steps
        res = _integrate(adapter, x, b, alphas, weights, target, batch_size, False, check,
                         {"steps": n, "evaluations": evals, "rule": rule, "done": done})
        res.done, res.progress = done, (n, steps)
        yield res


def nested_counts(rule: str, start: int, steps: int) -> list[int]:
    """The step counts a nested rule doubles through from ``start`` to ``steps``."""
    out, n = [start], start
    while n < steps:
        n = 2 * n - 1 if rule == "riemann_trapezoid" else 2 * n
        out.append(n)
    return out


def coarse_steps(rule: str, steps: int) -> list[int]:
    """The step counts of the partial estimates of a rule that cannot refine by doubling:
    ``steps``//16, //8, //4, those of at least 2 points, fewer than ``steps``."""
    out: list[int] = []
    for d in (16, 8, 4):
        n = steps // d
        if n >= 2 and n < steps and n not in out:
            out.append(n)
    return out


@register("integrated_gradients", needs_gradients=True, progressive=integrated_gradients_stream)
def integrated_gradients(adapter, x, target, *, baseline: Any = 0.0, steps: int = 50,
                         rule: str = "gausslegendre", batch_size: int | None = None,
                         data: Any = None, seed: int | None = None, layer: Any = None,
                         progress_bar: bool | None = None, check=None) -> MethodResult:
    """Integrated Gradients with a choice of quadrature rule; returns the completeness delta.
    ``check`` (the live runner's cancellation hook) is called after every pass. With
    ``layer=`` (e.g. a text model's embedding) the path runs on that layer's output from the
    baseline tokens' (``baseline``: a pad id, 0 by default, or ids), summed to one value per
    input position (methods/_layer.py)."""
    alphas, weights = rule_points(rule, steps)
    if layer is not None:
        return layer_integrated_gradients(adapter, x, target, layer, baseline, alphas, weights,
                                          batch_size, check)
    b = make_baseline(adapter, x, baseline, data=data, seed=seed)
    return _integrate(adapter, x, b, alphas, weights, target, batch_size, progress_bar, check,
                      {"steps": int(steps), "rule": canonical_rule(rule)})


@dataclass
class IGEstimate:
    values: Any          # native tensor, like x
    delta: Any           # native (N,)
    steps: int
    evaluations: int     # path points evaluated so far (per example)


def progressive_start(rule: str, steps: int, minimum: int = 4) -> int | None:
    """The smallest start (of at least ``minimum`` points) from which doubling reaches
    ``steps`` exactly, with at least one refinement; None if there is none (or the rule is
    not nested). Trapezoid: points p → 2p − 1 (the intervals double); left/right: n → 2n."""
    rule = canonical_rule(rule)
    if rule not in NESTED_RULES or isinstance(steps, bool) or not isinstance(
            steps, (int, np.integer)):
        return None
    unit = steps - 1 if rule == "riemann_trapezoid" else steps
    k = 0
    while unit % 2 == 0 and unit // 2 >= minimum:
        unit //= 2
        k += 1
    if k == 0:
        return None
    return unit + 1 if rule == "riemann_trapezoid" else unit


def reaches(rule: str, start: int, steps: int) -> bool:
    """Whether doubling from ``start`` lands exactly on ``steps`` under a nested rule."""
    a, b = (start - 1, steps - 1) if canonical_rule(rule) == "riemann_trapezoid" else (
        start, steps)
    while 0 < a < b:
        a *= 2
    return a == b


def integrated_gradients_progressive(adapter, x, target, *, baseline: Any = 0.0,
                                     start_steps: int = 8, max_steps: int = 1024,
                                     rule: str = "riemann_trapezoid",
                                     batch_size: int | None = None, data: Any = None,
                                     seed: int | None = None, check=None
                                     ) -> Iterator[IGEstimate]:
    """Yield IG estimates at start_steps, 2×, 4×, … up to max_steps, reusing path points.

    Left/right Riemann with n steps evaluate α = k/n; doubling n adds only the odd multiples of
    1/(2n). The trapezoid rule with n points has n−1 intervals; refining to 2n−1 points adds
    the n−1 midpoints. Each refinement therefore costs only the new points.
    """
    rule = canonical_rule(rule)
    if rule not in NESTED_RULES:
        raise NBExplainError(f"progressive IG needs a nested rule ({', '.join(NESTED_RULES)}); "
                             f"{rule} points cannot be reused when the step count grows.")
    start_steps = whole_number("start_steps", start_steps, "the first estimate's steps")
    max_steps = whole_number("max_steps", max_steps, "the last estimate's steps")
    if batch_size is not None:      # as the registered method takes it (4.0 is 4)
        batch_size = whole_number("batch_size", batch_size,
                                  "examples or rows per pass, or None for the default")
    if max_steps < start_steps:
        raise NBExplainError(f"max_steps={max_steps} is below start_steps={start_steps}; "
                             "the estimates refine from start_steps up to max_steps.")
    b = make_baseline(adapter, x, baseline, data=data, seed=seed)
    diff = x - b
    nd = len(x.shape)
    axes = tuple(range(1, nd))
    ones = lambda k: np.ones(k)  # noqa: E731
    if rule == "riemann_trapezoid":
        intervals = max(1, start_steps - 1)
        scores: dict = {}
        g_ends = path_gradient_sum(adapter, x, b, np.array([0.0, 1.0]), np.array([0.5, 0.5]),
                                   target, batch_size, check=check, ends=scores)
        fx, fb = scores[1.0], scores[0.0]        # the end points' scores come with them
        inner_a = np.arange(1, intervals) / intervals
        inner = path_gradient_sum(adapter, x, b, inner_a, ones(len(inner_a)), target,
                                  batch_size, check=check)
        evals = intervals + 1
        while True:
            attr = diff * ((g_ends + inner) * (1.0 / intervals))
            s = adapter.reduce(attr, "sum", axes)
            yield IGEstimate(attr, delta_of(adapter, s, fx, fb), intervals + 1, evals)
            if 2 * intervals + 1 > max_steps:
                return
            new_a = (2 * np.arange(intervals) + 1) / (2 * intervals)
            inner = inner + path_gradient_sum(adapter, x, b, new_a, ones(len(new_a)), target,
                                              batch_size, check=check)
            evals += len(new_a)
            intervals *= 2
    n = start_steps
    off = 0.0 if rule == "riemann_left" else 1.0
    a0 = (np.arange(n) + off) / n
    scores = {}
    acc = path_gradient_sum(adapter, x, b, a0, ones(n), target, batch_size, check=check,
                            ends=scores)
    fx, fb = known_end_scores(adapter, x, b, target, batch_size, scores)
    evals = n
    while True:
        attr = diff * (acc * (1.0 / n))
        s = adapter.reduce(attr, "sum", axes)
        yield IGEstimate(attr, delta_of(adapter, s, fx, fb), n, evals)
        if 2 * n > max_steps:
            return
        new_a = (2 * np.arange(n) + 1) / (2 * n)  # the odd multiples of 1/(2n), both rules
        acc = acc + path_gradient_sum(adapter, x, b, new_a, ones(n), target, batch_size,
                                      check=check)
        evals += n
        n *= 2
