"""LIME: a weighted linear surrogate of the model over binary feature masks.

    (β₀, β) = argmin Σ_k π(z_k) (v(z_k) − β₀ − β·z_k)² + α ‖β‖²
    π(z) = exp(−D(z)² / σ²),   D(z) = 1 − ⟨z, 1⟩ / (‖z‖ ‖1‖) = 1 − sqrt(|z| / M)

z_k ∈ {0, 1}^M switches the M features (groups, see ``_features.py``) on (kept at the input)
or off (replaced by the baseline, or averaged over the rows of ``background``, exactly as
for Shapley values: v(z) = 1/B Σ_b f_c(x_z, b_{¬z})). D is the cosine distance between z and
the unperturbed all-ones mask (LIME's image/text distance); σ is ``kernel_width`` (default
0.25, LIME's image default; LIME itself weights by sqrt(exp(−D²/w²)), which is this kernel
with σ = w·√2). Masks are drawn feature-wise Bernoulli(½) (as ``lime_image`` and Captum's
``Lime``), plus the unperturbed mask first; seeded by ``seed``.

Ribeiro, Singh, Guestrin (2016), "'Why Should I Trust You?': Explaining the Predictions of Any
Classifier", https://arxiv.org/abs/1602.04938

Values: the coefficients β, spread over the input's shape (every element of a group gets its
group's coefficient). ``extras``: "group_values" (N, M) coefficients, "intercept" (N,),
"r2" (N,) — the surrogate's weighted R², the fraction of the kernel-weighted variance of
v(z) it explains — plus "feature_names", "feature_groups" and "samples".

On a linear model f(x) = w·x + c with a baseline b the surrogate is exact:
β_i = w_c,i (x_i − b_i) (summed over a group's elements) and R² = 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._errors import NBExplainError
from ._registry import MethodResult, register
from ._common import check_memory, progress
from .shapley import _check_options, _mm, _setup


def lime_masks(m: int, samples: int, seed) -> np.ndarray:
    """(samples, M) bool: the all-ones mask, then Bernoulli(½) masks."""
    rng = np.random.default_rng(seed)
    z = rng.random((samples, m)) < 0.5
    z[0] = True
    return z


def cosine_kernel(z: np.ndarray, kernel_width: float) -> np.ndarray:
    m = z.shape[1]
    k = z.sum(axis=1).astype(np.float64)
    d = 1.0 - np.sqrt(k / m)
    return np.exp(-(d ** 2) / kernel_width ** 2)


def fit_surrogate(z: np.ndarray, v: np.ndarray, w: np.ndarray, alpha: float = 0.0):
    """Weighted (ridge) least squares with an unpenalised intercept, per example.

    z (K, M), v (N, K), w (K,). Returns (coef (N, M), intercept (N,), r2 (N,))."""
    k, m = z.shape
    a = np.concatenate([np.ones((k, 1)), z.astype(np.float64)], axis=1)
    aw = a * w[:, None]
    h = _mm(a.T, aw)
    if alpha:
        h[1:, 1:] += alpha * np.eye(m)
    rhs = _mm(aw.T, v.T)                                                  # M+1, N
    try:
        sol = np.linalg.solve(h, rhs)
    except np.linalg.LinAlgError:
        sol = np.linalg.lstsq(np.sqrt(w)[:, None] * a, np.sqrt(w)[:, None] * v.T,
                              rcond=None)[0]
    pred = _mm(a, sol).T
    ybar = (v * w).sum(axis=1, keepdims=True) / w.sum()
    ss_res = ((v - pred) ** 2 * w).sum(axis=1)
    ss_tot = ((v - ybar) ** 2 * w).sum(axis=1)
    # an output that does not vary (a constant model; round-off only) has no variance to
    # explain: R² is 1 when the surrogate fits it too, not 1 − 1e-20/1e-30
    scale = (v ** 2 * w).sum(axis=1) + np.finfo(np.float64).tiny
    flat = ss_tot <= 1e-20 * scale
    r2 = np.where(flat, np.where(ss_res <= 1e-20 * scale, 1.0, np.nan),
                  1.0 - ss_res / np.where(flat, 1.0, ss_tot))
    return sol[1:].T, sol[0], r2


@register("lime", needs_gradients=False)
def lime(adapter, x, target, *, samples: int = 1000, kernel_width: float = 0.25,
         alpha: float = 0.0, baseline: Any = None, background: Any = None,
         features: Any = None, feature_names: Any = None, batch_size: int | None = None,
         seed: int | None = 0, progress_bar: bool | None = None,
         check=None) -> MethodResult:
    """LIME: coefficients of a kernel-weighted linear surrogate over binary feature masks."""
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise NBExplainError(f"samples={samples!r}; use a whole number of perturbed samples "
                             "(LIME usually takes ~1000).")
    batch_size = _check_options(samples, seed, batch_size)
    if (isinstance(kernel_width, bool) or not isinstance(kernel_width, (int, float, np.number))
            or not math.isfinite(kernel_width) or kernel_width <= 0):
        raise NBExplainError(f"kernel_width={kernel_width!r}; use a positive, finite width "
                             "(default 0.25).")
    if (isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.number))
            or not math.isfinite(alpha) or alpha < 0):
        raise NBExplainError(f"alpha={alpha!r}; the ridge penalty must be a number >= 0.")
    game, groups = _setup(adapter, x, target, baseline, background, features, feature_names,
                          batch_size, check)
    m = groups.m
    if samples < m + 1 and not alpha:
        raise NBExplainError(
            f"samples={samples} cannot determine {m} coefficients and an intercept; use "
            f"samples >= {m + 1} (LIME usually takes ~1000), or a ridge penalty alpha > 0.")
    # the masks, their distances and weights, and the weighted least-squares design
    check_memory(24.0 * int(samples) * (m + 1), f"LIME with samples={samples:,} and {m} features",
                 "lower samples= (LIME usually takes ~1000), or group the features "
                 "(features=...).")
    z = lime_masks(m, int(samples), seed)
    with progress(len(z), progress_bar, "lime") as bar:
        game.bar = bar
        v = game(z)
    w = cosine_kernel(z, float(kernel_width))
    ess = w.sum() ** 2 / max((w ** 2).sum(), np.finfo(np.float64).tiny)
    if ess < m + 1 and not alpha:
        raise NBExplainError(
            f"kernel_width={kernel_width} weights the samples so unevenly that only "
            f"{ess:.1f} effective samples remain for {m + 1} unknowns (the weights of all but "
            "the nearest masks underflow): the surrogate would be meaningless. Use a larger "
            "kernel_width (default 0.25), or a ridge penalty alpha > 0.")
    coef, intercept, r2 = fit_surrogate(z, v, w, float(alpha))
    return MethodResult(
        values=groups.spread(coef),
        extras={"group_values": coef, "intercept": intercept, "r2": r2,
                "kernel_width": float(kernel_width), "samples": int(samples),
                "feature_names": list(groups.names), "feature_groups": groups.index},
        per_example=("group_values", "intercept", "r2"))
