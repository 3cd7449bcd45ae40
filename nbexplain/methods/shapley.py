"""Shapley values: exact enumeration, KernelSHAP and antithetic permutation sampling.

    φ_i = Σ_{S ⊆ N∖{i}} |S|! (M − |S| − 1)! / M! · [v(S ∪ {i}) − v(S)]

    v(S) = 1/B Σ_b f_c(x_S, b_{N∖S})

``N`` is the set of the M features (groups of input elements, see ``_features.py``); ``x_S``
keeps the features in S at the input's values and takes the others from a background row b.
With a ``background`` data set of B rows, v is the *interventional* expectation over its rows
(what SHAP's Exact, Kernel and Permutation explainers compute with an independent masker);
with a fixed ``baseline`` B = 1. Efficiency holds for every estimator:
Σ_i φ_i = v(N) − v(∅) = f_c(x) − 1/B Σ_b f_c(b).

Shapley (1953), "A value for n-person games"; Lundberg & Lee (2017), "A Unified Approach to
Interpreting Model Predictions", https://arxiv.org/abs/1705.07874 ; Štrumbelj & Kononenko
(2014), "Explaining prediction models and individual predictions with feature
contributions", https://doi.org/10.1007/s10115-013-0679-x ; Covert & Lee (2021), "Improving
KernelSHAP", https://arxiv.org/abs/2012.01536 ; Mitchell et al. (2022), "Sampling
Permutations for Shapley Value Estimation", https://arxiv.org/abs/2104.12199 .

Estimators (``estimator=``); ``samples`` counts coalition evaluations besides ∅ and N (each
costs B model rows), the unit of SHAP's ``nsamples``:

* ``exact`` — all 2^M coalitions, batched; the formula above. Refused above
  ``max_exact_features`` (16) with a message pointing to ``kernel``/``permutation``/grouping.
* ``kernel`` — KernelSHAP: weighted least squares of v(S) − v(∅) on the coalition indicators
  with the Shapley kernel π(S) = (M−1) / (C(M,|S|) |S| (M−|S|)), under the efficiency
  constraint Σφ = v(N) − v(∅) (solved by eliminating φ_M, as SHAP does). The coalition sizes
  are paired (s with M−s) into strata. As SHAP's KernelExplainer, whole strata are enumerated
  from the smallest size up while the budget covers them (so ``samples >= 2^M − 2`` gives the
  exact values). The remaining budget is *stratified*: each remaining stratum gets a fixed
  share of the budget proportional to its kernel weight (SHAP draws the sizes at random) and
  draws distinct antithetic pairs (S, N∖S) *without replacement* (SHAP draws with replacement
  and merges repeats); strata too small to hold two pairs are pooled and sampled SHAP's way.
  Both changes only remove variance. Standard errors: the estimator is an M-estimator whose
  score Σ_k w_k x'_k (y'_k − x'_k·β) sums over sampled pairs, so its covariance is the
  stratified sandwich H⁻¹ [Σ_s n_s (1 − n_s/N_s) Ŝ_s] H⁻¹ (H = X'ᵀWX', Ŝ_s the sample
  covariance of the per-pair scores in stratum s, 1 − n_s/N_s the finite-population
  correction; enumerated strata carry no variance); the covariance of φ_M follows from the
  constraint. Intervals use Student's t with Σ_s (n_s − 1) − (M − 1) degrees of freedom.
  ``samples`` must be at least 2·M; an error the samples cannot measure (no degrees of
  freedom left, or a degenerate projection) is reported as stderr = inf, an infinite
  interval, never as 0.
* ``permutation`` — antithetic permutation sampling: each draw is a random order π and its
  reverse; the marginal contributions along both orders are averaged into one sample, so
  every sample satisfies efficiency exactly. Running mean and standard error over the pairs;
  intervals mean ± t_{df=n−1} · stderr. A feature that gave the same contribution in every
  sampled pair is tried at the coalitions where the value moved (and 4 fixed ones): if its
  contribution is the same there too (a dummy, an additive part) its stderr is 0, else inf
  (unknown; a 0 there was chance). That check costs 2 evaluations per coalition and such
  feature beyond ``samples``; intermediate estimates report such features as unknown.
* ``auto`` — ``exact`` when M ≤ 10, or when 2^M − 2 ≤ ``samples`` and M ≤ 16; else ``kernel``.

Values returned with the input's shape: every element of a feature group gets the group's
whole Shapley value (elements in no group get 0). Per-group values, standard errors and
``confidence`` intervals are in ``extras`` ("group_values", "stderr", "ci_low", "ci_high",
each (N, M)), with "feature_names", "feature_groups" (the element → group map), "base_value"
(v(∅)), "fx" (v(N)), "estimator", "evaluations", "df" and "confidence". ``delta`` is
Σ_i φ_i − (v(N) − v(∅)) per example. Per-example groupings with different numbers of groups
(SLIC on a batch) leave some groups empty for some examples: exact and permutation sampling
give those exactly 0, while KernelSHAP's shared regression would not, so a KernelSHAP batch
like that is solved example by example ("estimator" and "df" then hold one entry per
example), and its result equals explaining each example alone.

:func:`shapley_progressive` yields :class:`ShapleyEstimate` objects after every chunk of model
evaluations (for a live display); the registered method runs it to the end.

Every coalition is evaluated on the model's device: the perturbed batch is
``where(element_mask, x, background_row)`` built with the adapter's ops, ``batch_size`` model
rows per forward pass, and only the (rows,) target scores come back to the host.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Iterator

import numpy as np

from .._errors import NBExplainError, user_stacklevel
from ..backends.base import check_finite, guess_layout
from . import MethodResult, register
from ._common import check_reference, progress, repeat_target, whole_number
from ._features import FeatureGroups, resolve_features

ESTIMATORS = ("auto", "exact", "kernel", "permutation")
MAX_EXACT_FEATURES = 16


# --- statistics ------------------------------------------------------------------------------
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


@dataclass
class ShapleyEstimate:
    """One (partial or final) estimate: per-group values with their uncertainty."""

    values: np.ndarray          # (N, M) Shapley values of the feature groups
    stderr: np.ndarray          # (N, M) standard errors (0 for exact values)
    ci_low: np.ndarray          # (N, M) lower end of the `confidence` interval
    ci_high: np.ndarray         # (N, M)
    confidence: float
    df: float | None            # degrees of freedom of the t interval (None: exact)
    estimator: str
    evaluations: int            # coalitions evaluated so far (besides ∅ and N)
    budget: int                 # coalitions planned in total
    done: bool
    base_value: np.ndarray      # (N,) v(∅) = mean background score
    fx: np.ndarray              # (N,) v(N) = f(x)
    groups: FeatureGroups

    @property
    def delta(self) -> np.ndarray:
        """Efficiency error per example: Σφ − (f(x) − E f(background))."""
        return self.values.sum(axis=1) - (self.fx - self.base_value)

    def element_values(self) -> np.ndarray:
        """Values spread over the input elements, (N, *example_shape)."""
        return self.groups.spread(self.values)


def _estimate(values, stderr, df, confidence, **kw) -> ShapleyEstimate:
    if not 0 < confidence < 1:
        raise NBExplainError(f"confidence={confidence}; use a level in (0, 1), e.g. 0.95.")
    q = 0.0 if df is None else t_quantile(0.5 + confidence / 2, df)
    # an infinite stderr (an error that cannot be estimated) gives an infinite interval
    half = np.full(np.shape(stderr), np.inf)
    known = np.isfinite(stderr)
    half[known] = q * stderr[known]
    return ShapleyEstimate(values=values, stderr=stderr, ci_low=values - half,
                           ci_high=values + half, confidence=confidence, df=df, **kw)


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


# --- the cooperative game on the device ------------------------------------------------------
class CoalitionGame:
    """v(S) for a batch of coalitions, for every example of the batch at once.

    Rows of one forward pass are laid out (example, background row, coalition); the
    perturbed inputs are built on the device with ``adapter.where`` and only the scores come
    back. ``rows_per_pass`` bounds the model rows per forward pass.
    """

    def __init__(self, adapter, x, target, groups: FeatureGroups, background, per_example: bool,
                 rows_per_pass: int, check=None, bar=None):
        self.adapter = adapter
        self.x = x
        self.target = target
        self.groups = groups
        self.bg = background
        self.per_example = per_example
        self.n = int(x.shape[0])
        self.b = 1 if per_example else int(background.shape[0])
        self.rows_per_pass = max(1, int(rows_per_pass))
        self.check = check
        self.bar = bar
        self.evaluations = 0
        self.ex_shape = tuple(int(s) for s in x.shape[1:])

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Coalitions (C, M) bool -> v (N, C) float64."""
        z = np.asarray(z, dtype=bool)
        c_all = z.shape[0]
        ad, n, b = self.adapter, self.n, self.b
        per = max(1, self.rows_per_pass // (n * b))
        out = np.empty((n, c_all))
        for j in range(0, c_all, per):
            zc = z[j:j + per]
            c = zc.shape[0]
            em = self.groups.element_masks(zc)                       # G, c, *ex
            if n == 1 and b == 1:
                mask = em.reshape((c,) + self.ex_shape)
            else:
                em = np.broadcast_to(em[:, None], (n, b, c) + self.ex_shape) \
                    if em.shape[0] > 1 else np.broadcast_to(em[None], (n, b, c) + self.ex_shape)
                mask = em.reshape((n * b * c,) + self.ex_shape)
            if not mask.flags.writeable or not mask.flags.c_contiguous:
                mask = np.array(mask, order="C")
            # a single example / background row broadcasts against the mask in where()
            xr = self.x if n == 1 else ad.repeat(self.x, b * c)
            if self.per_example:
                br = ad.repeat(self.bg, c)
            elif b == 1:
                br = self.bg
            else:
                br = ad.repeat(self.bg, c)
                if n > 1:
                    br = ad.concat([br] * n)
            rows = ad.where(mask, xr, br)
            s = ad.to_numpy(ad.scores(rows, repeat_target(self.target, b * c)))
            out[:, j:j + c] = np.asarray(s, dtype=np.float64).reshape(n, b, c).mean(axis=1)
            self.evaluations += c
            if self.bar is not None:
                self.bar.update(c)
            if self.check is not None:
                self.check()
        return out


def _background(adapter, x, xn: np.ndarray, baseline: Any, background: Any):
    """(native background tensor, per_example) from baseline= or background=."""
    ex = xn.shape[1:]
    n = xn.shape[0]
    if baseline is not None and background is not None:
        raise NBExplainError("pass either baseline= (a fixed reference) or background= (a data "
                             "set to average over), not both.")
    if background is not None:
        b = np.asarray(adapter.to_numpy(background) if not isinstance(background, np.ndarray)
                       and hasattr(background, "shape") else background)
        if b.dtype == object:
            raise NBExplainError("background is not a rectangular numeric array; pass an "
                                 f"array of rows shaped (B, {', '.join(map(str, ex))}).")
        if b.ndim == len(ex) and b.shape == ex:
            b = b[None]
        if b.ndim != len(ex) + 1 or b.shape[1:] != ex:
            raise NBExplainError(
                f"background has shape {b.shape}, but the inputs have examples of shape {ex}: "
                f"pass background rows shaped (B, {', '.join(map(str, ex))}) in the inputs' "
                "layout.")
        if b.shape[0] == 0:
            raise NBExplainError("background is empty (0 rows); pass at least one row, e.g. "
                                 "a sample of the training data or its mean.")
        if b.dtype.kind == "f":
            check_finite(b, "background")
        if b.shape[0] > 200:
            warnings.warn(
                f"background has {b.shape[0]} rows: every coalition costs that many model "
                "rows. A sample of 50-100 rows (or k-means centres) is usually enough.",
                stacklevel=user_stacklevel())
        per_example = False
    else:
        base = 0.0 if baseline is None else baseline
        if isinstance(base, str):
            raise NBExplainError(f"baseline={base!r}: Shapley values take a number, an array, "
                                 "or background=<data set>.")
        b = np.asarray(adapter.to_numpy(base) if hasattr(base, "shape")
                       and not isinstance(base, np.ndarray) else base)
        if b.ndim == 0:
            b = np.full((1,) + ex, b.item(), dtype=np.float64)
            per_example = False
        elif b.shape == ex:
            b, per_example = b[None], False
        elif b.shape == (1,) + ex:
            per_example = False
        elif b.shape == (n,) + ex:
            per_example = n > 1
        else:
            raise NBExplainError(
                f"baseline has shape {b.shape}, but the inputs have shape {xn.shape}: pass a "
                f"scalar, one example's shape {ex}, or the whole batch's shape.")
        if b.dtype.kind == "f":
            check_finite(b, "baseline")
    check_reference(b, "background" if background is not None else "baseline",
                    xn.dtype.kind in "iu")
    b = np.ascontiguousarray(b.astype(xn.dtype, copy=False))
    return adapter.as_tensor(b), per_example


# --- exact -----------------------------------------------------------------------------------
def all_coalitions(m: int) -> np.ndarray:
    """(2^M, M) bool; row k has feature i present iff bit i of k is set."""
    k = np.arange(2 ** m, dtype=np.int64)
    return ((k[:, None] >> np.arange(m)) & 1).astype(bool)


def exact_from_values(v: np.ndarray, m: int) -> np.ndarray:
    """Shapley values (N, M) from v (N, 2^M) indexed by the bit pattern of the coalition."""
    k = np.arange(2 ** m, dtype=np.int64)
    pop = np.zeros(2 ** m, dtype=np.int64)
    for i in range(m):
        pop += (k >> i) & 1
    w = np.array([1.0 / (m * math.comb(m - 1, s)) for s in range(m)])
    phi = np.empty((v.shape[0], m))
    for i in range(m):
        ks = k[((k >> i) & 1) == 0]
        phi[:, i] = _mm(v[:, ks | (1 << i)] - v[:, ks], w[pop[ks]][:, None])[:, 0]
    return phi


# --- KernelSHAP ------------------------------------------------------------------------------
@dataclass
class KernelPlan:
    z: np.ndarray            # (K, M) coalitions in evaluation order: enumerated, then pairs
    n_enum: int              # the first n_enum rows are enumerated strata
    w_enum: np.ndarray       # (n_enum,) kernel weights of the enumerated rows
    unit_stratum: np.ndarray  # (U,) stratum of each sampled pair (rows n_enum + 2u, +1)
    stratum_weight: np.ndarray  # (S,) total kernel weight of each sampled stratum
    stratum_units: np.ndarray   # (S,) population size in pairs (inf for the pooled stratum)


def _stratum_table(m: int) -> list[dict]:
    """Paired size strata s = 1..ceil((M-1)/2) with SHAP's normalised kernel weights."""
    n_sizes = int(math.ceil((m - 1) / 2))
    n_paired = int(math.floor((m - 1) / 2))
    out = []
    for s in range(1, n_sizes + 1):
        paired = s <= n_paired
        w = (m - 1.0) / (s * (m - s)) * (2 if paired else 1)
        out.append({"size": s, "paired": paired, "w": w,
                    "coalitions": math.comb(m, s) * (2 if paired else 1)})
    tot = sum(d["w"] for d in out)
    for d in out:
        d["w"] /= tot
        d["units"] = d["coalitions"] // 2      # pairs (S, N∖S) in the stratum
    return out


def _subsets_of_size(rng, n: int, m: int, s: int) -> np.ndarray:
    r = rng.random((n, m))
    idx = np.argpartition(r, s - 1, axis=1)[:, :s] if s < m else np.tile(np.arange(m), (n, 1))
    z = np.zeros((n, m), dtype=bool)
    np.put_along_axis(z, idx, True, axis=1)
    return z


def _row_keys(z: np.ndarray) -> np.ndarray:
    """One hashable/sortable key per bool row: an int64 bit pattern (M <= 62) or bytes."""
    if z.shape[1] <= 62:
        return z.astype(np.int64) @ (np.int64(1) << np.arange(z.shape[1], dtype=np.int64))
    keys = np.packbits(z, axis=1)
    return np.ascontiguousarray(keys).view(np.dtype((np.void, keys.shape[1]))).ravel()


def _random_units(rng, sizes: np.ndarray, m: int) -> np.ndarray:
    """One uniformly random subset per entry of ``sizes`` (n, M) bool; subsets of the middle
    size M/2 are replaced by their complement when needed so that they contain feature 0
    (the canonical member of the pair {S, N∖S})."""
    r = rng.random((len(sizes), m))
    thr = np.sort(r, axis=1)[np.arange(len(sizes)), sizes - 1]
    z = r <= thr[:, None]
    if m % 2 == 0:
        flip = (sizes == m // 2) & ~z[:, 0]
        z[flip] = ~z[flip]
    return z


@functools.lru_cache(maxsize=32)
def _combinations(m: int, s: int, middle: bool) -> np.ndarray:
    """All size-s subsets as index rows (middle stratum: those containing feature 0)."""
    if middle:
        c = np.array([(0,) + c for c in itertools.combinations(range(1, m), s - 1)],
                     dtype=np.int64)
    else:
        c = np.array(list(itertools.combinations(range(m), s)), dtype=np.int64)
    c.flags.writeable = False
    return c


def _unit_rows(m: int, s: int, middle: bool, rng, n: int, population: int) -> np.ndarray:
    """n distinct pairs of stratum s, drawn uniformly without replacement: (n, M) bool,
    one canonical member per pair (the middle stratum's member contains feature 0)."""
    if n <= 0:
        return np.zeros((0, m), dtype=bool)
    if population <= 20000 and 3 * n > population:   # dense: pick from the full list
        combos = _combinations(m, s, middle)
        pick = combos[rng.choice(len(combos), size=n, replace=False)]
        z = np.zeros((n, m), dtype=bool)
        np.put_along_axis(z, pick, True, axis=1)
        return z
    rows = np.zeros((0, m), dtype=bool)
    while len(rows) < n:
        k = 2 * (n - len(rows)) + 8
        if middle:
            zz = np.concatenate([np.ones((k, 1), dtype=bool),
                                 _subsets_of_size(rng, k, m - 1, s - 1)], axis=1)
        else:
            zz = _subsets_of_size(rng, k, m, s)
        allz = np.concatenate([rows, zz])
        _, first = np.unique(_row_keys(allz), return_index=True)
        rows = allz[np.sort(first)][:n]          # distinct, in order of drawing
    return rows


@functools.lru_cache(maxsize=64)
def _plan_layout(m: int, samples: int):
    """The deterministic part of a KernelSHAP plan (cached): the enumerated strata and the
    number of pairs each sampled stratum gets.

    Returns (z_enum, w_enum, allocations, pool) with allocations a tuple of
    (size, middle, pairs, population, weight) and pool None or (sizes, probabilities,
    pairs, weight)."""
    table = _stratum_table(m)
    left = float(samples)
    rw = np.array([d["w"] for d in table])
    z_parts, w_parts = [], []
    n_full = 0
    for i, d in enumerate(table):     # SHAP's rule: enumerate while the budget covers a size
        if left * rw[i] / d["coalitions"] >= 1.0 - 1e-8:
            n_full += 1
            left -= d["coalitions"]
            if rw[i] < 1.0:
                rw = rw / (1.0 - rw[i])
            s = d["size"]
            combos = np.array(list(itertools.combinations(range(m), s)), dtype=np.int64)
            zs = np.zeros((len(combos), m), dtype=bool)
            np.put_along_axis(zs, combos, True, axis=1)
            if d["paired"]:
                zs = np.concatenate([zs, ~zs])
            z_parts.append(zs)
            w_parts.append(np.full(len(zs), d["w"] / len(zs)))
        else:
            break
    z_enum = np.concatenate(z_parts) if z_parts else np.zeros((0, m), dtype=bool)
    w_enum = np.concatenate(w_parts) if w_parts else np.zeros(0)
    z_enum.flags.writeable = False
    w_enum.flags.writeable = False
    rest = table[n_full:]
    units_total = int(max(0, left) // 2)
    if not rest or units_total == 0:
        return z_enum, w_enum, (), None
    wr = np.array([d["w"] for d in rest])
    share = units_total * wr / wr.sum()
    strat = np.flatnonzero(share >= 2.0)       # strata that can hold two pairs
    pooled = np.flatnonzero(share < 2.0)
    real = list(share[strat]) + ([share[pooled].sum()] if len(pooled) else [])
    real = np.array(real)
    n_alloc = np.floor(real).astype(np.int64)
    short = units_total - int(n_alloc.sum())   # largest remainders get one more pair
    if short > 0:
        order = np.argsort(-(real - n_alloc), kind="stable")
        n_alloc[order[:short]] += 1
    allocations = []
    for j, i in enumerate(strat):
        d = rest[i]
        allocations.append((d["size"], not d["paired"], int(min(n_alloc[j], d["units"])),
                            d["units"], d["w"]))
    pool = None
    if len(pooled):
        sizes = tuple(rest[j]["size"] for j in pooled)
        probs = tuple(wr[pooled] / wr[pooled].sum())
        pool = (sizes, probs, int(n_alloc[-1]), float(wr[pooled].sum()))
    return z_enum, w_enum, tuple(allocations), pool


def kernel_plan(m: int, samples: int, rng) -> KernelPlan:
    """Which coalitions KernelSHAP evaluates for a budget of ``samples`` (see module doc)."""
    z_enum, w_enum, allocations, pool = _plan_layout(int(m), int(samples))
    if not allocations and pool is None:
        return KernelPlan(z_enum, len(z_enum), w_enum, np.zeros(0, dtype=np.int64),
                          np.zeros(0), np.zeros(0))
    rows, unit_stratum, s_weight, s_units = [], [], [], []
    sparse_sizes, sparse_sid = [], []          # drawn together below, vectorised
    for sid, (size, middle, k, pop, weight) in enumerate(allocations):
        s_weight.append(weight)
        s_units.append(float(pop))
        if pop <= 20000 and 3 * k > pop:       # dense: pick from the full list
            u = _unit_rows(m, size, middle, rng, k, pop)
            rows.append(u)
            unit_stratum.append(np.full(len(u), sid, dtype=np.int64))
        else:
            sparse_sizes.append(np.full(k, size, dtype=np.int64))
            sparse_sid.append(np.full(k, sid, dtype=np.int64))
    if pool is not None:
        sizes_p, probs, k, weight = pool
        sid = len(allocations)
        sparse_sizes.append(np.asarray(sizes_p, dtype=np.int64)[
            rng.choice(len(sizes_p), size=k, p=np.asarray(probs))])
        sparse_sid.append(np.full(k, sid, dtype=np.int64))
        s_weight.append(weight)
        s_units.append(float("inf"))
    if sparse_sizes:
        sizes = np.concatenate(sparse_sizes)
        sid = np.concatenate(sparse_sid)
        u = _random_units(rng, sizes, m)
        # without replacement inside stratified strata: redraw repeats (rare when sparse)
        strat_rows = np.isfinite(np.array(s_units))[sid]
        for _ in range(100):
            _, first = np.unique(_row_keys(u), return_index=True)
            dup = np.ones(len(u), dtype=bool)
            dup[first] = False
            dup &= strat_rows
            if not dup.any():
                break
            u[dup] = _random_units(rng, sizes[dup], m)
        rows.append(u)
        unit_stratum.append(sid)
    units = np.concatenate(rows)
    ustr = np.concatenate(unit_stratum)
    perm = rng.permutation(len(units))          # interleave strata (for progressive use)
    units, ustr = units[perm], ustr[perm]
    pairs = np.empty((2 * len(units), m), dtype=bool)
    pairs[0::2] = units
    pairs[1::2] = ~units
    return KernelPlan(np.concatenate([z_enum, pairs]), len(z_enum), w_enum, ustr,
                      np.array(s_weight), np.array(s_units))


def kernel_solve(plan: KernelPlan, v: np.ndarray, v0: np.ndarray, v1: np.ndarray,
                 n_units: int | None = None):
    """Constrained WLS on the first ``n_units`` sampled pairs (all when None).

    Returns (phi (N, M), stderr (N, M), df or None when nothing was sampled).

    With φ_M = Δ − Σ_{j<M} φ_j (Δ = v(N) − v(∅)) the problem is the ordinary WLS of
    y'_k = v_k − v(∅) − z_kM Δ on x'_k = z_k,<M − z_kM. A sampled pair (S, N∖S) has
    x'(N∖S) = −x'(S) and equal weights, so it enters H = Σ w x'x'ᵀ as 2 w x'(S) x'(S)ᵀ and
    the normal equations as w x'(S) (y'(S) − y'(N∖S)); its score at the solution is
    w x'(S) (r(S) − r(N∖S)).
    """
    m = plan.z.shape[1]
    nu = len(plan.unit_stratum) if n_units is None else int(n_units)
    ne = plan.n_enum
    ustr = plan.unit_stratum[:nu]
    n_strata = len(plan.stratum_weight)
    counts = np.bincount(ustr, minlength=n_strata).astype(np.float64)
    d = v1 - v0
    ze = plan.z[:ne].astype(np.float64)
    xe = ze[:, :-1] - ze[:, -1:]
    ye = (v[:, :ne] - v0[:, None]) - ze[:, -1][None, :] * d[:, None]     # N, ne
    we = plan.w_enum
    zs = plan.z[ne:ne + 2 * nu:2].astype(np.float64)                     # nu, M
    xs = zs[:, :-1] - zs[:, -1:]
    ws = (plan.stratum_weight[ustr] / (2.0 * np.maximum(counts[ustr], 1))) if nu else \
        np.zeros(0)
    vs, vc = v[:, ne:ne + 2 * nu:2], v[:, ne + 1:ne + 2 * nu:2]
    # y'(S) − y'(N∖S) = v(S) − v(N∖S) − (2 z_M(S) − 1) Δ
    ydiff = (vs - vc) - (2 * zs[:, -1] - 1)[None, :] * d[:, None]         # N, nu
    wxe = we[:, None] * xe
    wxs = ws[:, None] * xs
    h = _mm(xe.T, wxe) + 2.0 * _mm(xs.T, wxs)
    g = _mm(wxe.T, ye.T) + _mm(wxs.T, ydiff.T)                          # M-1, N
    try:
        hinv = np.linalg.inv(h)
        cond = np.abs(h).sum(0).max() * np.abs(hinv).sum(0).max()
        if not np.isfinite(cond) or cond > 1e12:
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        hinv = np.linalg.pinv(h)
    beta = hinv @ g                                                     # M-1, N
    phi = np.concatenate([beta, (d - beta.sum(axis=0))[None]], axis=0).T
    p = m - 1
    # the pooled strata draw with replacement: a pair drawn twice is one equation
    canon = plan.z[ne:ne + 2 * nu:2]
    canon = np.where(canon[:, :1], ~canon, canon)         # (S, N∖S) and (N∖S, S) alike
    distinct = len(np.unique(_row_keys(canon))) if nu else 0
    if nu == 0 or ne // 2 + distinct <= p:
        # No sampled pairs: exact when every coalition was enumerated, else (e.g. only sizes
        # 1 and M−1) a deterministic approximation whose error nothing here measures. Or
        # no more equations (a complementary pair is one) than the p unknowns: the fit
        # passes through every point, its residuals are 0 and say nothing of the error.
        # Either way an unknown error is infinite, not 0 (a 0 gave zero-width intervals
        # around estimates 0.4 off on 7 features with 8 samples).
        exact = nu == 0 and ne >= 2 ** m - 2
        return phi, (np.zeros_like(phi) if exact else np.full_like(phi, np.inf)), None
    # stratified sandwich over the sampled pairs
    rdiff = ydiff - 2.0 * _mm(xs, beta).T                               # N, nu
    onehot = np.zeros((n_strata, nu))
    onehot[ustr, np.arange(nu)] = 1.0
    pop = plan.stratum_units
    finite = np.isfinite(pop)
    fpc = np.where(finite, 1.0 - counts / np.where(finite, pop, 1.0), 1.0)
    c = np.where(counts >= 2, np.maximum(fpc, 0.0) * counts / np.maximum(counts - 1, 1), 0.0)
    cu = c[ustr]
    var = np.empty_like(phi)
    for i in range(phi.shape[0]):
        u = wxs * rdiff[i][:, None]                                     # nu, M-1
        sums = _mm(onehot, u)                                           # S, M-1
        vmat = _mm((u * cu[:, None]).T, u) - \
            (sums * (c / np.maximum(counts, 1))[:, None]).T @ sums
        cov = hinv @ vmat @ hinv
        var[i, :-1] = np.diag(cov)
        var[i, -1] = cov.sum()
    df = float(np.sum(np.where(counts >= 2, counts - 1, 0)))
    # small-sample corrections: the residuals come from a fit of p = M − 1 free parameters,
    # which leaves them too small when few pairs are sampled, so the sandwich is scaled by
    # nu / (nu − p) (HC1) and the t interval loses p degrees of freedom. Coverage of the 95%
    # intervals, 10 features, 200 seeds, before → after: 82% → 93% at 60 samples, 89% → 92%
    # at 120, 93% → 94% at 300; 14 features: 84% → 92% at 100, 93% → 94% at 300.
    # With no degrees of freedom left (Σ (pairs per stratum − 1) ≤ p) the residuals cannot
    # measure the error: it is reported infinite, not estimated from a clamp (which gave
    # 66–86% coverage at 2–4·M samples, and zero-width intervals when every stratum held
    # one pair).
    # A fit that passes through every sampled pair although it has more equations than
    # unknowns is an additive game (on these coalitions): its values are exact, error 0.
    scale = np.maximum(np.abs(ydiff).max(axis=1, initial=0.0), np.abs(d)) + 1e-300   # N
    fitted = np.abs(rdiff).max(axis=1, initial=0.0) <= 1e-9 * scale
    df -= p
    if df <= 0:
        stderr = np.full_like(phi, np.inf)
        stderr[fitted] = 0.0            # (ne // 2 + nu > p here: budgets below are refused)
        return phi, stderr, None
    var = var * (nu / (nu - p))
    stderr = np.sqrt(np.maximum(var, 0.0))
    # A zero variance is right for such an exact fit, but not when some residual is not
    # zero and the few pairs happen to leave one feature's projection of them constant
    # (5 features, 14 samples: stderr 0 on a value 0.01 off): that feature's error is unknown.
    # "Zero" is judged against the residuals (the solve runs in float64, so such a projection
    # leaves ~1e-16 of them), not against the scores: a float32 model's additive game leaves
    # residuals of its rounding, ~1e-7 of the scores, and small honest errors from them,
    # which a test against 1e-9 of the scores turned into infinite intervals.
    rmax = np.abs(rdiff).max(axis=1, initial=0.0)
    unknown = (stderr <= 1e-9 * rmax[:, None]) & ~fitted[:, None]
    stderr[unknown] = np.inf
    return phi, stderr, df


# --- setup and the progressive driver -------------------------------------------------------
def _resolve_estimator(estimator: str, m: int, samples: int | None, max_exact: int) -> str:
    if estimator not in ESTIMATORS:
        raise NBExplainError(f"estimator={estimator!r}; use one of {', '.join(ESTIMATORS)}.")
    if estimator == "auto":
        if m <= max_exact and (m <= 10 or (samples is not None and 2 ** m - 2 <= samples)):
            return "exact"
        return "kernel"
    if estimator == "exact" and m > max_exact:
        raise NBExplainError(
            f"exact Shapley values of {m} features need 2^{m} = {2 ** m:,} coalition "
            f"evaluations, above the limit of {max_exact} features (2^{max_exact} = "
            f"{2 ** max_exact:,}). Use estimator='kernel' or estimator='permutation' with a "
            "samples= budget, or group the features (features=... e.g. named groups or "
            "larger image patches), or raise max_exact_features= if you can afford it.")
    return estimator


def _setup(adapter, x, target, baseline, background, features, feature_names, batch_size,
           check, bar=None):
    xn = adapter.to_numpy(x)
    if xn.ndim < 2:
        raise NBExplainError(f"inputs of shape {xn.shape} have no feature axis; pass a batch "
                             "shaped (N, features...).")
    if xn.shape[0] == 0:
        raise NBExplainError("the inputs are an empty batch; pass at least one example.")
    layout = guess_layout(xn.shape, adapter.channels_first)
    groups = resolve_features(features, xn, layout.kind, adapter.channels_first, feature_names)
    if groups.m == 0:
        raise NBExplainError("there are no features to attribute to; check features=.")
    bg, per_example = _background(adapter, x, xn, baseline, background)
    rows = int(batch_size) if batch_size else adapter.rows_per_pass(xn.shape[1:])
    if rows < 1:
        raise NBExplainError(f"batch_size={batch_size}; use a positive number of model rows.")
    game = CoalitionGame(adapter, x, target, groups, bg, per_example, rows, check, bar)
    return game, groups


def _default_samples(m: int) -> int:
    return 2 * m + 2048


def _progressive(game: CoalitionGame, groups: FeatureGroups, estimator: str,
                 samples: int | None, seed, confidence: float, chunk: int | None,
                 streaming: bool) -> Iterator[ShapleyEstimate]:
    m = groups.m
    n = game.n
    if chunk is not None:
        chunk = whole_number("chunk", chunk, "pairs of coalitions or permutations per step")
    ends = np.array([[False] * m, [True] * m])          # ∅ and N ride with the first batch

    def with_ends(z):
        v = game(np.concatenate([ends, z]))
        game.evaluations -= 2
        return v[:, 0], v[:, 1], v[:, 2:]

    if m == 1 or estimator == "exact":
        if m == 1:
            v0, v1, _ = with_ends(np.zeros((0, 1), dtype=bool))
            phi = (v1 - v0)[:, None]
        else:
            z = all_coalitions(m)
            v = game(z)
            game.evaluations -= 2
            v0, v1 = v[:, 0], v[:, -1]
            phi = exact_from_values(v, m)
        yield _estimate(phi, np.zeros_like(phi), None, confidence, estimator="exact",
                        evaluations=game.evaluations, budget=max(0, 2 ** m - 2), done=True,
                        base_value=v0, fx=v1, groups=groups)
        return
    rng = np.random.default_rng(seed)
    budget = _default_samples(m) if samples is None else int(samples)
    if estimator == "kernel":
        if m <= 30:
            budget = min(budget, 2 ** m - 2)
        if budget < min(2 * m, 2 ** m - 2):
            raise NBExplainError(
                f"samples={samples} is too small for KernelSHAP on {m} features: its "
                f"regression has {m - 1} unknowns and each pair of complementary coalitions "
                f"gives one equation, so it needs at least {2 * m} samples ({m} pairs), and "
                f"more to estimate its error. Raise samples (e.g. {_default_samples(m)}), or "
                "use estimator='permutation'.")
        plan = kernel_plan(m, budget, rng)
        total_units = len(plan.unit_stratum)
        v = np.empty((n, plan.z.shape[0]))
        first = plan.z.shape[0] if not streaming else plan.n_enum
        v0, v1, v[:, :first] = with_ends(plan.z[:first])
        common = dict(base_value=v0, fx=v1, groups=groups)
        step = total_units if not streaming else max(
            1, int(chunk) if chunk else game.rows_per_pass // max(1, 2 * n * game.b))
        done_units = 0
        need = np.minimum(2, np.bincount(plan.unit_stratum,
                                         minlength=len(plan.stratum_weight)))
        while True:
            nxt = min(total_units, done_units + step)
            if nxt > done_units and streaming:
                a, b = plan.n_enum + 2 * done_units, plan.n_enum + 2 * nxt
                v[:, a:b] = game(plan.z[a:b])
            done_units = nxt
            final = done_units == total_units
            have = np.bincount(plan.unit_stratum[:done_units], minlength=len(need))
            if final or (streaming and np.all(have >= need)):
                phi, se, df = kernel_solve(plan, v, v0, v1, done_units)
                yield _estimate(phi, se, df, confidence, estimator="kernel",
                                evaluations=game.evaluations, budget=plan.z.shape[0],
                                done=final, **common)
            if final:
                return
    # permutation sampling with antithetic pairs
    per_pair = 2 * (m - 1)
    n_pairs = budget // per_pair
    if n_pairs < 2:
        raise NBExplainError(
            f"samples={samples} is too small for permutation sampling on {m} features: "
            f"each antithetic pair of orders costs {per_pair} evaluations and a standard "
            f"error needs two pairs, so use samples >= {2 * per_pair}.")
    step = n_pairs if not streaming else max(
        2, int(chunk) if chunk else game.rows_per_pass // max(1, per_pair * n * game.b))
    count = 0
    mean = np.zeros((n, m))
    m2 = np.zeros((n, m))
    ks = np.arange(1, m)
    v0 = v1 = None
    pivots: list = []
    while count < n_pairs:
        p = min(step, n_pairs - count)
        perm = rng.permuted(np.tile(np.arange(m), (p, 1)), axis=1)
        rank = np.argsort(perm, axis=1)
        ranks = np.concatenate([rank, m - 1 - rank])                   # 2p, M
        z = (ranks[:, None, :] < ks[None, :, None]).reshape(-1, m)      # 2p (M-1), M
        if v0 is None:
            v0, v1, vz = with_ends(z)
        else:
            vz = game(z)
        vz = vz.reshape(n, 2 * p, m - 1)
        chain = np.concatenate([np.broadcast_to(v0[:, None, None], (n, 2 * p, 1)), vz,
                                np.broadcast_to(v1[:, None, None], (n, 2 * p, 1))], axis=2)
        dpos = np.diff(chain, axis=2)                                   # by position
        phi = np.take_along_axis(dpos, np.broadcast_to(ranks[None], (n, 2 * p, m)), axis=2)
        pair = 0.5 * (phi[:, :p] + phi[:, p:])                          # n, p, M
        _pivots(z, dpos, v1 - v0, m, pivots)
        bm = pair.mean(axis=1)
        bm2 = ((pair - bm[:, None]) ** 2).sum(axis=1)
        tot = count + p
        delta = bm - mean
        mean = mean + delta * (p / tot)
        m2 = m2 + bm2 + delta ** 2 * (count * p / tot)
        count = tot
        final = count == n_pairs
        if final or streaming:
            se, constant = _permutation_stderr(mean, m2, count, v1 - v0)
            if constant.any():
                if final:
                    _confirm_constant(game, mean, v1 - v0, constant, se, pivots)
                else:   # checked once, on the last estimate; unknown until then
                    se[constant] = np.inf
            yield _estimate(mean.copy(), se, float(count - 1), confidence,
                            estimator="permutation", evaluations=game.evaluations,
                            budget=n_pairs * per_pair, done=final, base_value=v0, fx=v1,
                            groups=groups)


def _permutation_stderr(mean: np.ndarray, m2: np.ndarray, count: int,
                        d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(stderr, constant)``: standard errors of the permutation estimates from the running
    sums of squares, and which features (N, M) gave the same contribution in every sampled
    pair (their sample variance is 0, their stderr set to 0 for the caller to confirm)."""
    if count < 2:
        return np.full_like(mean, np.inf), np.zeros(mean.shape, dtype=bool)
    se = np.sqrt(m2 / (count - 1) / count)
    scale = np.maximum(np.abs(d), np.abs(mean).max(axis=1)) + 1e-300            # N
    constant = se <= 1e-9 * scale[:, None]
    se[constant] = 0.0
    return se, constant


def _pivots(z: np.ndarray, dpos: np.ndarray, d: np.ndarray, m: int, found: list,
            limit: int = 8) -> None:
    """Collect (up to ``limit``) coalitions at which adding some feature changed the value:
    the prefix before each non-zero contribution of the sampled orders, in sample order."""
    if len(found) >= limit:
        return
    n, orders = dpos.shape[:2]
    scale = np.abs(d) + 1e-300
    moved = (np.abs(dpos) > 1e-9 * scale[:, None, None]).any(axis=0)      # orders, M
    prefixes = z.reshape(orders, m - 1, m)
    for o, k in zip(*np.nonzero(moved)):
        c = np.zeros(m, dtype=bool) if k == 0 else prefixes[o, k - 1]
        if not any(np.array_equal(c, f) for f in found):
            found.append(c)
            if len(found) >= limit:
                return


def _confirm_constant(game, mean: np.ndarray, d: np.ndarray, constant: np.ndarray,
                      se: np.ndarray, pivots: list) -> None:
    """A feature whose every sampled contribution was the same has a zero error only if its
    contribution is that value everywhere (a dummy, or an additive part of the game). In a
    game where it matters only near some threshold that is chance: a thresholded model
    gave 6 of 10 features 0 ± 0 with 36 samples, exact values up to 0.16, and 30% coverage
    of the 95% intervals over 100 seeds. So each such feature i is tried where the value
    moves: at the coalitions S where adding another feature changed the value in the
    sampled orders (``pivots``, up to 8), plus 4 fixed random ones, v(S ∪ {i}) − v(S ∖ {i})
    against its value. Where they differ its error is unknown: stderr inf, not 0 (2 model
    evaluations per coalition and feature, on top of the budget)."""
    m = mean.shape[1]
    feats = np.flatnonzero(constant.any(axis=0))
    zc = np.concatenate([np.array(pivots, dtype=bool).reshape(-1, m),
                         np.random.default_rng(0x5EED).random((4, m)) < 0.5])
    t = len(zc)
    za = np.repeat(zc[None], len(feats), axis=0)
    zb = za.copy()
    for j, i in enumerate(feats):
        za[j, :, i], zb[j, :, i] = True, False
    k = t * len(feats)
    v = game(np.concatenate([za.reshape(-1, m), zb.reshape(-1, m)]))
    diff = (v[:, :k] - v[:, k:]).reshape(len(v), len(feats), t)
    scale = np.maximum(np.abs(d), np.abs(mean).max(axis=1)) + 1e-300
    off = np.abs(diff - mean[:, feats, None]).max(axis=2) > 1e-6 * scale[:, None]
    sub = se[:, feats]
    sub[constant[:, feats] & off] = np.inf
    se[:, feats] = sub


def _check_options(samples, seed, batch_size, confidence=0.95) -> int | None:
    """Refuses bad options; returns ``batch_size`` as an int (4.0 is 4, as the registered
    methods take it; the widget's streamed runs call the progressive form directly)."""
    if samples is not None and (not isinstance(samples, (int, np.integer)) or samples < 1):
        raise NBExplainError(f"samples={samples!r}; pass a positive int (coalition "
                             "evaluations), or None for the default.")
    if batch_size is not None:
        batch_size = whole_number("batch_size", batch_size,
                                  "model rows per forward pass, or None for the default")
    if seed is not None and not isinstance(seed, (int, np.integer)):
        raise NBExplainError(f"seed={seed!r}; pass an int or None.")
    if not isinstance(confidence, (float, int)) or not 0 < confidence < 1:
        raise NBExplainError(f"confidence={confidence!r}; use a level in (0, 1), e.g. 0.95.")
    return batch_size


def _uneven(groups: FeatureGroups) -> bool:
    """Per-example groupings in which some example leaves groups empty (SLIC finds a
    different number of segments in each image). KernelSHAP's regression would give those
    dummy groups noisy non-zero values (and spread Σφ onto them), so such a batch is solved
    example by example, each with its own number of groups."""
    if not groups.per_example:
        return False
    return any(np.unique(idx[idx >= 0]).size != groups.m for idx in groups.index)


def _one_by_one(adapter, x, target, groups: FeatureGroups, kw: dict) -> MethodResult:
    from ._common import target_slice

    n, m = int(x.shape[0]), groups.m
    base = kw.pop("baseline")
    batch_base = (base is not None and not np.isscalar(base) and not isinstance(base, str)
                  and tuple(np.shape(base)) == tuple(x.shape))
    vals, deltas = [], []
    ex = {k: np.zeros((n, m)) for k in ("group_values", "stderr", "ci_low", "ci_high")}
    ex.update(base_value=np.zeros(n), fx=np.zeros(n))
    df, est, evals = [], [], 0
    for i in range(n):
        ids = groups.index[i]
        m_i = int(ids.max()) + 1
        r = shapley(adapter, x[i:i + 1], target_slice(target, i, i + 1), features=ids,
                    feature_names=list(groups.names[:m_i]),
                    baseline=base[i:i + 1] if batch_base else base, **kw)
        vals.append(np.asarray(adapter.to_numpy(r.values)))
        deltas.append(np.asarray(adapter.to_numpy(r.delta)))
        for k in ("group_values", "stderr", "ci_low", "ci_high"):
            ex[k][i, :m_i] = r.extras[k][0]
        ex["base_value"][i], ex["fx"][i] = r.extras["base_value"][0], r.extras["fx"][0]
        df.append(np.nan if r.extras["df"] is None else float(r.extras["df"]))
        est.append(r.extras["estimator"])
        evals += int(r.extras["evaluations"])
    return MethodResult(
        values=np.concatenate(vals), delta=np.concatenate(deltas),
        extras={**ex, "confidence": kw["confidence"], "df": np.array(df), "estimator": est,
                "evaluations": evals, "feature_names": list(groups.names),
                "feature_groups": groups.index},
        per_example=("group_values", "stderr", "ci_low", "ci_high", "base_value", "fx",
                     "df", "estimator"))


#: the extras of a Shapley result that have one row per example
PER_EXAMPLE = ("group_values", "stderr", "ci_low", "ci_high", "base_value", "fx")


def estimate_result(est: ShapleyEstimate, **more: Any) -> MethodResult:
    """One estimate as a method result: element values, efficiency delta, and the per-group
    values, errors and intervals in ``extras`` (plus ``more``)."""
    return MethodResult(
        values=est.element_values(), delta=est.delta,
        extras={"group_values": est.values, "stderr": est.stderr, "ci_low": est.ci_low,
                "ci_high": est.ci_high, "confidence": est.confidence, "df": est.df,
                "estimator": est.estimator, "evaluations": est.evaluations,
                "base_value": est.base_value, "fx": est.fx,
                "feature_names": list(est.groups.names), "feature_groups": est.groups.index,
                **more},
        per_example=PER_EXAMPLE)


def shapley_progressive(adapter, x, target, *, estimator: str = "permutation",
                        samples: int | None = None, baseline: Any = None,
                        background: Any = None, features: Any = None,
                        feature_names: Any = None, batch_size: int | None = None,
                        seed: int | None = 0, confidence: float = 0.95,
                        chunk: int | None = None, max_exact_features: int = MAX_EXACT_FEATURES,
                        check=None) -> Iterator[ShapleyEstimate]:
    """Anytime Shapley values: yield a :class:`ShapleyEstimate` after each chunk.

    ``x`` is a native batch on the model's device and ``target`` the resolved target (as
    registered methods receive them). ``chunk`` is the number of antithetic permutation pairs
    (``permutation``) or coalition pairs (``kernel``) per step; by default one forward pass of
    ``batch_size`` model rows. KernelSHAP first evaluates its enumerated strata and then
    yields once every sampled stratum has two pairs. ``exact`` yields once. The last estimate
    has ``done=True``; ``check`` (e.g. the live runner's cancellation check) is called after
    every forward pass.
    """
    batch_size = _check_options(samples, seed, batch_size, confidence)
    game, groups = _setup(adapter, x, target, baseline, background, features, feature_names,
                          batch_size, check)
    est = _resolve_estimator(estimator, groups.m, samples, max_exact_features)
    if est == "kernel" and _uneven(groups):
        raise NBExplainError(
            "these examples have different numbers of feature groups (e.g. SLIC segments), "
            "which KernelSHAP cannot share one regression across: stream one example at a "
            "time, or use estimator='permutation' (empty groups get exactly 0).")
    yield from _progressive(game, groups, est, samples, seed, confidence, chunk, True)


@register("shapley", needs_gradients=False)
def shapley(adapter, x, target, *, estimator: str = "auto", samples: int | None = None,
            baseline: Any = None, background: Any = None, features: Any = None,
            feature_names: Any = None, batch_size: int | None = None, seed: int | None = 0,
            confidence: float = 0.95, max_exact_features: int = MAX_EXACT_FEATURES,
            progress_bar: bool | None = None, check=None) -> MethodResult:
    """Shapley values (exact, KernelSHAP or permutation sampling) with confidence intervals."""
    batch_size = _check_options(samples, seed, batch_size, confidence)
    game, groups = _setup(adapter, x, target, baseline, background, features, feature_names,
                          batch_size, check)
    est = _resolve_estimator(estimator, groups.m, samples, max_exact_features)
    if est == "kernel" and _uneven(groups):
        return _one_by_one(adapter, x, target, groups, dict(
            estimator=estimator, samples=samples, baseline=baseline, background=background,
            batch_size=batch_size, seed=seed, confidence=confidence,
            max_exact_features=max_exact_features, progress_bar=progress_bar, check=check))
    m = groups.m
    planned = 2 ** m if est == "exact" else (samples or _default_samples(m))
    with progress(planned, progress_bar, f"shapley ({est})") as bar:
        game.bar = bar
        last = None
        for last in _progressive(game, groups, est, samples, seed, confidence, None, False):
            pass
    assert last is not None
    return estimate_result(last)
