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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from .._errors import NBExplainError
from ._common import (as_example_array, check_reference, drawn_channels_first, end_scores,
                      progress, repeat_target, whole_number)
from ._layer import layer_integrated_gradients
from ._quadrature import (GAUSS_LEGENDRE_MAX, NESTED_RULES, RULES,  # noqa: F401 - re-exported
                          canonical_rule, check_rule_size, gauss_legendre, rule_points)
from ._registry import MethodResult, register

if TYPE_CHECKING:
    from ._path_cache import PathCache

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
               extras: dict, delta: bool = True) -> MethodResult:
    """IG of ``x`` against the made baseline ``b`` with one quadrature rule's points (and its
    completeness delta unless ``delta`` is False: no end-point scores are computed)."""
    n = int(x.shape[0])
    if (not callable(target)
            and n * len(alphas) <= (batch_size or adapter.rows_per_pass(x.shape[1:]))):
        # all the points fit one pass: the adapter may compute everything in one call (no
        # progress to report within it: a bar only when asked for, progress_bar=True)
        total = n * len(alphas)
        with progress(total, progress_bar if progress_bar else False,
                      "integrated gradients") as bar:
            r = adapter.integrated_gradients_whole(x, b, alphas, weights, target, delta)
            bar.update(total if r is not None else 0)
        if r is not None:
            if check is not None:
                check()
            return MethodResult(values=r[0], delta=r[1] if delta else None, extras=extras)
    ends: dict | None = {} if delta else None
    with progress(n * len(alphas), progress_bar, "integrated gradients") as bar:
        g = path_gradient_sum(adapter, x, b, alphas, weights, target, batch_size, bar,
                              check=check, ends=ends)
    attr = (x - b) * g
    if not delta:
        return MethodResult(values=attr, delta=None, extras=extras)
    d = completeness_delta(adapter, attr, x, b, target, batch_size, ends)
    return MethodResult(values=attr, delta=d, extras=extras)


def integrated_gradients_stream(adapter, x, target, *, baseline: Any = 0.0, steps: int = 50,
                                rule: str = "gausslegendre", batch_size: int | None = None,
                                data: Any = None, seed: int | None = None,
                                start_steps: int | None = None, path_cache: PathCache | None = None,
                                layer: Any = None, delta: bool = True,
                                check=None) -> Iterator[MethodResult]:
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
        alphas, weights = rule_points(rule, steps, adapter.linspace)
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
        from ._path_cache import _integrate_cached

        b = make_baseline(adapter, x, baseline, data=data, seed=seed)
        path_cache.bind(adapter, x, b, target)
        counts = (nested_counts(rule, start, steps) if start is not None
                  else coarse_steps(rule, steps) + [steps])
        evals = 0
        for n in counts:
            alphas, weights = rule_points(rule, n, adapter.linspace)
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
                rule=rule, batch_size=batch_size, data=data, seed=seed, check=check,
                delta=delta):
            done = est.steps >= steps
            yield MethodResult(values=est.values, delta=est.delta, done=done,
                               progress=(est.steps, steps),
                               extras={"steps": est.steps, "evaluations": est.evaluations,
                                       "rule": rule, "done": done})
        return
    b = make_baseline(adapter, x, baseline, data=data, seed=seed)
    evals = 0
    for n in coarse_steps(rule, steps) + [steps]:
        alphas, weights = rule_points(rule, n, adapter.linspace)
        evals += len(alphas)
        done = n == steps
        res = _integrate(adapter, x, b, alphas, weights, target, batch_size, False, check,
                         {"steps": n, "evaluations": evals, "rule": rule, "done": done}, delta)
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
                         delta: bool = True, progress_bar: bool | None = None,
                         check=None) -> MethodResult:
    """Integrated Gradients with a choice of quadrature rule; returns the completeness delta
    (``delta=False``: not computed, no end-point pass; ``.delta`` is None).
    ``check`` (the live runner's cancellation hook) is called after every pass. With
    ``layer=`` (e.g. a text model's embedding) the path runs on that layer's output from the
    baseline tokens' (``baseline``: a pad id, 0 by default, or ids), summed to one value per
    input position (methods/_layer.py)."""
    alphas, weights = rule_points(rule, steps, adapter.linspace)
    if layer is not None:
        res = layer_integrated_gradients(adapter, x, target, layer, baseline, alphas, weights,
                                         batch_size, check)
        if not delta:
            res.delta = None
        return res
    b = make_baseline(adapter, x, baseline, data=data, seed=seed)
    if not isinstance(delta, (bool, np.bool_)):
        raise NBExplainError(f"delta={delta!r}; pass True (the completeness error, one more "
                             "pass where the path has no end points) or False.")
    return _integrate(adapter, x, b, alphas, weights, target, batch_size, progress_bar, check,
                      {"steps": int(steps), "rule": canonical_rule(rule)}, bool(delta))


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
                                     seed: int | None = None, check=None, delta: bool = True
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
    # the few sums and products between the passes: on the host where the adapter's own
    # ops cost more (eager TensorFlow on a CPU: ~30 µs an op, 0.28 ms of a 0.96 ms
    # refinement of the benchmark MLP at batch 1), else as the adapter's ops
    host = adapter.host_math
    on = adapter.to_numpy if host else (lambda t: t)
    if host:
        diff = on(diff)

    def total(attr):
        return attr.sum(axis=axes) if host else adapter.reduce(attr, "sum", axes)

    def path_sum(alphas, weights, ends=None):
        return on(path_gradient_sum(adapter, x, b, alphas, weights, target, batch_size,
                                    check=check, ends=ends))
    # every estimate's points are taken from the last one's, which are attribute()'s at that
    # step count (the adapter's linspace: Captum's points for torch), so the last estimate
    # runs on attribute()'s very points, ReLU kinks included
    if rule == "riemann_trapezoid":
        intervals = last = max(1, start_steps - 1)
        while 2 * last + 1 <= max_steps:
            last *= 2
        grid = rule_points(rule, last + 1, adapter.linspace)[0]
        stride = last // intervals
        scores: dict = {}
        g_ends = path_sum(grid[[0, -1]], np.array([0.5, 0.5]), ends=scores)
        fx, fb = on(scores[1.0]), on(scores[0.0])   # the end points' scores come with them
        inner_a = grid[stride:-1:stride]
        inner = path_sum(inner_a, ones(len(inner_a)))
        evals = intervals + 1
        while True:
            attr = diff * ((g_ends + inner) * (1.0 / intervals))
            d = delta_of(adapter, total(attr), fx, fb) if delta else None
            yield IGEstimate(attr, d, intervals + 1, evals)
            if 2 * intervals + 1 > max_steps:
                return
            stride //= 2
            new_a = grid[stride::2 * stride]          # the midpoints of the intervals
            inner = inner + path_sum(new_a, ones(len(new_a)))
            evals += len(new_a)
            intervals *= 2
    n = last = start_steps
    while 2 * last <= max_steps:
        last *= 2
    grid = rule_points(rule, last, adapter.linspace)[0]
    stride = last // n
    first = 0 if rule == "riemann_left" else stride - 1     # α = k/n, or (k + 1)/n
    a0 = grid[first::stride]
    scores = {}
    acc = path_sum(a0, ones(n), ends=scores)
    if delta:
        fx, fb = (on(t) for t in known_end_scores(adapter, x, b, target, batch_size, scores))
    evals = n
    while True:
        attr = diff * (acc * (1.0 / n))
        d = delta_of(adapter, total(attr), fx, fb) if delta else None
        yield IGEstimate(attr, d, n, evals)
        if 2 * n > max_steps:
            return
        stride //= 2                              # the odd multiples of 1/(2n)
        new_a = grid[(stride if rule == "riemann_left" else stride - 1)::2 * stride]
        acc = acc + path_sum(new_a, ones(n))
        evals += n
        n *= 2
