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
costs B model rows), the unit of SHAP's ``nsamples``. Each is described in its module:

* ``exact`` (``exact.py``) — all 2^M coalitions, batched; the formula above.
* ``kernel`` (``kernel.py``) — KernelSHAP, stratified, with sandwich standard errors.
* ``permutation`` (``permutation.py``) — antithetic permutation sampling.
* ``auto`` (``game.py``) — ``exact`` when M ≤ 10, or when 2^M − 2 ≤ ``samples`` and M ≤ 16;
  else ``kernel``.

The game v on the model's device and the estimate type are in ``game.py``, Student's t and
the other numerics in ``stats.py``, the anytime driver :func:`shapley_progressive` in
``progressive.py``.

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
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .._registry import MethodResult, register
from .._common import progress
from .._features import FeatureGroups
# the names other modules import from nbexplain.methods.shapley
from .exact import all_coalitions, exact_from_values  # noqa: F401
from .game import (ESTIMATORS, MAX_EXACT_FEATURES, CoalitionGame,  # noqa: F401
                   ShapleyEstimate, _background, _check_options, _default_samples,
                   _estimate, _resolve_estimator, _setup, _uneven)
from .kernel import KernelPlan, kernel_plan, kernel_rounds, kernel_solve  # noqa: F401
from .permutation import (_confirm_constant, _permutation_stderr, _pivots,  # noqa: F401
                          permutation_rounds)
from .progressive import (PER_EXAMPLE, _progressive, estimate_result,  # noqa: F401
                          shapley_progressive)
from .stats import _betainc, _mm, _t_cornish_fisher, t_quantile  # noqa: F401


def _one_by_one(adapter, x, target, groups: FeatureGroups, kw: dict) -> MethodResult:
    from .._common import target_slice

    n, m = int(x.shape[0]), groups.m
    base = kw.pop("baseline")
    batch_base = (base is not None and not np.isscalar(base) and not isinstance(base, str)
                  and tuple(np.shape(base)) == tuple(x.shape))
    vals, deltas = [], []
    ex: dict[str, Any] = {k: np.zeros((n, m))
                          for k in ("group_values", "stderr", "ci_low", "ci_high")}
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


def shapley_stream(adapter, x, target, *, estimator: str = "auto", samples: int | None = None,
                   baseline: Any = None, background: Any = None, features: Any = None,
                   feature_names: Any = None, batch_size: int | None = None,
                   seed: int | None = 0, confidence: float = 0.95,
                   max_exact_features: int = MAX_EXACT_FEATURES, chunk: int | None = None,
                   check=None) -> Iterator[MethodResult]:
    """Shapley's progressive form: :func:`shapley_progressive` with the method's defaults,
    each estimate as a result with its intervals; ``extras["budget"]``, and ``progress``
    ``(evaluations, planned)``. The last equals the method's result (same estimator, budget
    and seed)."""
    for est in shapley_progressive(adapter, x, target, estimator=estimator, samples=samples,
                                   baseline=baseline, background=background,
                                   features=features, feature_names=feature_names,
                                   batch_size=batch_size, seed=seed, confidence=confidence,
                                   chunk=chunk, max_exact_features=max_exact_features,
                                   check=check):
        res = estimate_result(est, budget=est.budget, done=est.done)
        # the dummy-feature confirmation may evaluate a few coalitions beyond the budget
        res.done, res.progress = est.done, (est.evaluations, max(est.budget, est.evaluations))
        yield res


@register("shapley", needs_gradients=False, progressive=shapley_stream)
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
