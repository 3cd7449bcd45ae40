"""Numerics of the Shapley estimators: Student's t quantile (for the confidence intervals
around the estimates and their standard errors), the regularized incomplete beta function it
rests on, and a blocked matrix product for small products on few cores."""

from __future__ import annotations

import functools
import math
from statistics import NormalDist

import numpy as np


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (continued fraction, modified
    Lentz; Numerical Recipes' betacf)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - _betainc(b, a, 1.0 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x)) / a
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return front * h


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: float | None) -> float:
    """Quantile of Student's t (normal when df is None/inf). Closed forms for df = 1, 2;
    otherwise the Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5; 4% low at p = 0.9995,
    df = 3) refined by Newton steps on the exact distribution function (agrees with
    scipy.stats.t.ppf to 1e-9)."""
    z = NormalDist().inv_cdf(p)
    if df is None or not np.isfinite(df) or df > 1e7:
        return z
    if df < 1:
        return float("inf")
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    t = _t_cornish_fisher(z, df)
    logc = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    for _ in range(50):
        tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))     # P(T > |t|)
        cdf = 1.0 - tail if t >= 0 else tail
        dens = math.exp(logc - (df + 1) / 2 * math.log1p(t * t / df))
        step = (cdf - p) / dens
        t -= step
        if abs(step) <= 1e-12 * max(1.0, abs(t)):
            break
    return t


def _t_cornish_fisher(z: float, df: float) -> float:
    g1 = (z ** 3 + z) / 4
    g2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96
    g3 = (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384
    g4 = (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160
    return z + g1 / df + g2 / df ** 2 + g3 / df ** 3 + g4 / df ** 4


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b in pieces small enough for a single-threaded BLAS call.

    On few cores, multi-threaded BLAS calls interleaved with a deep-learning framework's own
    thread pool make both stall (each pool spins while the other works); the products here
    are small, so one thread per piece is faster."""
    if a.ndim != 2 or b.ndim != 2:
        return a @ b
    m, k = a.shape
    n = b.shape[1]
    limit = 200_000
    if m * k * n <= limit:
        return a @ b
    if k >= m:                                   # long contraction: sum partial products
        step = max(1, limit // max(1, m * n))
        out = a[:, :step] @ b[:step]
        for j in range(step, k, step):
            out += a[:, j:j + step] @ b[j:j + step]
        return out
    step = max(1, limit // max(1, k * n))         # many rows: stack row blocks
    return np.concatenate([a[i:i + step] @ b for i in range(0, m, step)])
