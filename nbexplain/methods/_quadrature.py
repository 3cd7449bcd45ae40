"""IG's quadrature rules on [0, 1]: Riemann (left, right, middle, trapezoid) and
Gauss-Legendre in O(n) memory (numpy's leggauss up to 100 nodes, Newton on the recurrence up
to 2,000, Stieltjes' asymptotic expansion above; refused above 200,000)."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from .._errors import NBExplainError
from ._common import check_memory, whole_number

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


def rule_points(rule: str, steps: int, linspace: Any = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(alphas, weights) of a quadrature rule on [0, 1]; weights sum to 1. ``linspace`` (an
    adapter's): the Riemann rules' points as that framework spaces them, from Captum's ends
    (left: 0 to 1 − 1/n; right: 1/n to 1; middle: 1/2n to 1 − 1/2n; trapezoid: 0 to 1)."""
    r = canonical_rule(rule)
    n = whole_number("steps", steps, "path points of the integral, e.g. 50")
    a, w = _rule_points(r, n)
    if linspace is not None and r != "gausslegendre":
        lo, hi = {"riemann_left": (0.0, 1 - 1 / n), "riemann_right": (1 / n, 1.0),
                  "riemann_middle": (1 / (2 * n), 1 - 1 / (2 * n)),
                  "riemann_trapezoid": (0.0, 1.0)}[r]
        points = linspace(lo, hi, n)
        if points is not None:
            a = np.asarray(points, dtype=np.float64)
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
