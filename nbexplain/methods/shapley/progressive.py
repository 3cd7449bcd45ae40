"""The progressive driver: estimates after every chunk of model evaluations.

:func:`shapley_progressive` yields :class:`ShapleyEstimate` objects after every chunk of model
evaluations (for a live display); the registered method runs it to the end.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ..._errors import NBExplainError
from .._registry import MethodResult
from .._common import whole_number
from .._features import FeatureGroups
from .exact import all_coalitions, exact_from_values
from .game import (MAX_EXACT_FEATURES, CoalitionGame, ShapleyEstimate, _check_options,
                   _default_samples, _estimate, _resolve_estimator, _setup, _uneven)
from .kernel import kernel_rounds
from .permutation import permutation_rounds

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


def _progressive(game: CoalitionGame, groups: FeatureGroups, estimator: str,
                 samples: int | None, seed, confidence: float, chunk: int | None,
                 streaming: bool) -> Iterator[ShapleyEstimate]:
    m = groups.m
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
        yield from kernel_rounds(game, groups, with_ends, rng, budget, samples, confidence,
                                 chunk, streaming)
        return
    # permutation sampling with antithetic pairs
    yield from permutation_rounds(game, groups, with_ends, rng, budget, samples, confidence,
                                  chunk, streaming)


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

