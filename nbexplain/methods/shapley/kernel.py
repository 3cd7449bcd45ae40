"""KernelSHAP: which coalitions to evaluate for a budget, and the constrained weighted least
squares with its standard errors.

``estimator="kernel"`` — KernelSHAP: weighted least squares of v(S) − v(∅) on the coalition
indicators with the Shapley kernel π(S) = (M−1) / (C(M,|S|) |S| (M−|S|)), under the efficiency
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
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..._errors import NBExplainError
from .._features import FeatureGroups
from .game import CoalitionGame, ShapleyEstimate, _default_samples, _estimate
from .stats import _mm


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
    real = np.array(list(share[strat]) + ([share[pooled].sum()] if len(pooled) else []))
    n_alloc = np.floor(real).astype(np.int64)
    short = units_total - int(n_alloc.sum())   # largest remainders get one more pair
    if short > 0:
        order = np.argsort(-(real - n_alloc), kind="stable")
        n_alloc[order[:short]] += 1
    allocations = []
    for j, i in enumerate(strat.tolist()):
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
        sids = np.concatenate(sparse_sid)
        u = _random_units(rng, sizes, m)
        # without replacement inside stratified strata: redraw repeats (rare when sparse)
        strat_rows = np.isfinite(np.array(s_units))[sids]
        for _ in range(100):
            _, first = np.unique(_row_keys(u), return_index=True)
            dup = np.ones(len(u), dtype=bool)
            dup[first] = False
            dup &= strat_rows
            if not dup.any():
                break
            u[dup] = _random_units(rng, sizes[dup], m)
        rows.append(u)
        unit_stratum.append(sids)
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


def kernel_rounds(game: CoalitionGame, groups: FeatureGroups, with_ends, rng, budget: int,
                  samples: int | None, confidence: float, chunk: int | None,
                  streaming: bool) -> Iterator[ShapleyEstimate]:
    """KernelSHAP's estimates for the progressive driver: the enumerated strata first, then
    (``streaming``) one estimate per step of sampled pairs once every sampled stratum has two
    pairs, else one final estimate. ``with_ends(z)`` evaluates ∅ and N with the coalitions
    ``z`` and returns (v(∅), v(N), v(z))."""
    m = groups.m
    n = game.n
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
