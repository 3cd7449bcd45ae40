"""The cooperative game v(S) on the model's device, its set-up from the method's options, and
the estimate the estimators yield (values with standard errors and t intervals).

Every coalition is evaluated on the model's device: the perturbed batch is
``where(element_mask, x, background_row)`` built with the adapter's ops, ``batch_size`` model
rows per forward pass, and only the (rows,) target scores come back to the host.

``estimator="auto"`` (:func:`_resolve_estimator`) picks ``exact`` when M ≤ 10, or when
2^M − 2 ≤ ``samples`` and M ≤ 16; else ``kernel``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..._errors import NBExplainError, user_stacklevel
from ...backends.base import check_finite, guess_layout
from .._common import check_memory, check_reference, repeat_target, whole_number
from .._features import FeatureGroups, resolve_features
from .stats import t_quantile

ESTIMATORS = ("auto", "exact", "kernel", "permutation")
MAX_EXACT_FEATURES = 16


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


def _resolve_estimator(estimator: str, m: int, samples: int | None, max_exact: int) -> str:
    if estimator not in ESTIMATORS:
        raise NBExplainError(f"estimator={estimator!r}; use one of {', '.join(ESTIMATORS)}.")
    if estimator == "auto":
        if m <= max_exact and (m <= 10 or (samples is not None and 2 ** m - 2 <= samples)):
            return "exact"
        estimator = "kernel"
    if estimator != "exact":
        # the coalition matrices and their per-pair statistics: ~32 bytes per sample and
        # feature (the kernel plan, the permutation orders and their marginal values)
        n = samples if samples is not None else _default_samples(m)
        check_memory(32.0 * n * max(m, 1),
                     f"samples={n:,} with {m:,} features"
                     + ("" if samples is not None else " (the default budget)"),
                     "lower samples= (the standard errors in .extras say when enough is "
                     "enough), or group the features (features=...).")
        return estimator
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

