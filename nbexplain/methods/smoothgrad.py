"""SmoothGrad (and VarGrad): average any gradient method over noisy copies of the input.

    SG(x) = 1/n Σ_k A(x + ε_k),   ε_k ~ N(0, σ²),  σ = noise · (max(x) − min(x))
    VarGrad(x) = 1/n Σ_k A(x + ε_k)² − SG(x)²

Smilkov et al. (2017), "SmoothGrad: removing noise by adding noise",
https://arxiv.org/abs/1706.03825; Adebayo et al. (2018) for VarGrad,
https://arxiv.org/abs/1810.03307. (Captum: ``NoiseTunnel``.)

``base=`` names the wrapped method (any registered method that needs gradients, e.g.
``saliency``, ``input_x_gradient``, ``integrated_gradients``); its options pass through.
``draws=`` gives the exact noise to add, shaped (N, samples, *example_shape), for
reproducing another library's run (``samples`` defaults to its second axis; finite values;
``noise`` and ``seed`` then do nothing and are refused). Otherwise the noise comes from ``numpy.random.default_rng(seed)`` (``seed=None``:
a fresh draw each call), drawn in N×samples×C×H×W order for images and moved to the model's
layout, so a torch model and its Keras twin get the same noise from the same seed.
Noisy copies are evaluated ``batch_samples`` at a time (default: as many as one pass of the
adapter holds; the noise is drawn pass by pass too), each pass carrying N × batch_samples
examples. ``samples`` and ``batch_samples`` are whole numbers >= 1 (3.0 is
taken as 3), ``noise`` a number >= 0 (0: the base method itself). Options other than
SmoothGrad's own must be options of the base method; anything else is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import NBExplainError
from ._registry import MethodResult, check_options, register, registered
from ._common import (check_reference, progress, repeat_target,
                      whole_number)


@register("smoothgrad", needs_gradients=True, forwards_options=True)
def smoothgrad(adapter, x, target, *, base: str = "saliency", samples: int | None = None,
               noise: float | None = None, vargrad: bool = False, seed: int | None = 0,
               draws: Any = None, batch_samples: int | None = None,
               progress_bar: bool | None = None, check=None,
               **base_options) -> MethodResult:
    """SmoothGrad around any gradient method (VarGrad with vargrad=True). ``check`` (the live
    runner's cancellation hook) is called after every batch of noisy copies, and handed to
    the base method when it takes one."""
    if base == "smoothgrad":
        raise NBExplainError("smoothgrad cannot wrap itself; choose base='saliency' etc.")
    if base_options.get("layer") is not None and base in (
            "saliency", "input_x_gradient", "integrated_gradients"):
        raise NBExplainError("smoothgrad adds noise to the inputs, and layer= attributes "
                             "token ids through their embedding, which noise cannot reach; "
                             f"use method={base!r} with layer=, without smoothgrad.")
    spec = registered(base)
    if not spec.needs_gradients:
        raise NBExplainError(f"smoothgrad wraps gradient methods; {base!r} is not one.")
    own = registered("smoothgrad").options
    check_options("smoothgrad", base_options, spec.accepts,
                  list(own) + [o for o in spec.options if o not in own],
                  what=f" (base={base!r})")
    if samples is None:   # 25 noisy copies, or as many as draws= holds
        samples = 25 if draws is None or np.ndim(draws) < 2 else int(np.shape(draws)[1])
    samples = whole_number("samples", samples, "the number of noisy copies, e.g. samples=25")
    if batch_samples is not None:
        batch_samples = whole_number("batch_samples", batch_samples,
                                     "noisy copies per pass, or None for as many as one pass holds")
    given = ([f"noise={noise!r}"] if noise is not None else []) + (
        [f"seed={seed!r}"] if seed != 0 else [])
    if draws is not None and given:
        raise NBExplainError(f"draws= is the noise itself; {', '.join(given)} would do nothing "
                             "with it. Leave it out, or leave draws= out to draw the noise here.")
    if noise is None:
        noise = 0.15
    if (isinstance(noise, bool) or not isinstance(noise, (int, float, np.integer, np.floating))
            or not np.isfinite(noise) or noise < 0):
        raise NBExplainError(f"noise={noise!r}; use a number >= 0: the noise's σ as a fraction "
                             "of each example's value range (default 0.15; 0 adds no noise).")
    n = int(x.shape[0])
    ex_shape = tuple(x.shape[1:])
    nd = len(x.shape)
    if draws is not None:
        d = np.asarray(draws if not hasattr(draws, "detach") else draws.detach().cpu().numpy())
        if d.shape != (n, samples) + ex_shape:
            raise NBExplainError(f"draws has shape {d.shape}; expected (N, samples, ...) = "
                                 f"{(n, samples) + ex_shape}.")
        check_reference(d, "draws", fix="Pass finite noise (e.g. the draws another library "
                                         "added), or leave draws= out.")
        noise_of = lambda j, c: d[:, j:j + c]   # noqa: E731
    else:
        draw = _noise_source(adapter, x, noise, seed)
        noise_of = lambda j, c: draw(c, samples)   # noqa: E731 - read in order of j
    # noisy copies per pass: by default as many as one pass of the adapter holds, so memory
    # follows the chunk, not the sample count (the noise is drawn chunk by chunk too)
    per = batch_samples or max(1, min(samples, adapter.rows_per_pass(ex_shape) // n))
    # a per-example baseline (N, ...) goes with its example's noisy copies, example-major
    # like the copies; a preset drawn at random ('uniform') follows smoothgrad's seed
    b_opt: Any = base_options.get("baseline")
    per_example = (b_opt is not None and not isinstance(b_opt, (str, tuple, int, float))
                   and n > 1 and np.ndim(b_opt) == nd and np.shape(b_opt)[0] == n)
    if per_example:
        b_all = adapter.as_tensor(b_opt if not hasattr(b_opt, "detach")
                                  else b_opt.detach().cpu().numpy())
    if isinstance(b_opt, str) and b_opt == "uniform" and "seed" in spec.accepts:
        base_options = {**base_options, "seed": seed}
    total: Any = None
    total_sq: Any = None
    total_d: Any = None
    shift: Any = None
    with progress(n * samples, progress_bar, "smoothgrad") as bar:
        for j in range(0, samples, per):
            c = min(per, samples - j)
            # samples j..j+c of every example, example-major like adapter.repeat(x, c)
            chunk = adapter.as_tensor(np.ascontiguousarray(noise_of(j, c)).reshape(
                (n * c,) + ex_shape))
            noisy = adapter.repeat(x, c) + chunk
            del chunk
            hook = {"check": check} if check is not None and "check" in spec.accepts else {}
            if per_example:
                hook["baseline"] = adapter.repeat(b_all, c)
            res = spec.fn(adapter, noisy, repeat_target(target, c), progress_bar=False,
                          **{**base_options, **hook})
            a = adapter.reshape(res.values, (n, c) + tuple(res.values.shape[1:]))
            s = adapter.reduce(a, "sum", 1)
            total = s if total is None else total + s
            if vargrad:
                # sums of squares about the first sample's attribution: E[a²] − E[a]² in
                # float32 loses what the variance is made of (negative "variances" when the
                # gradients barely vary); the shifted form is the same quantity, exact when
                # all samples agree
                if shift is None:
                    shift = a[:, :1]
                dev = a - shift
                d1 = adapter.reduce(dev, "sum", 1)
                d2 = adapter.reduce(dev * dev, "sum", 1)
                total_d = d1 if total_d is None else total_d + d1
                total_sq = d2 if total_sq is None else total_sq + d2
            bar.update(n * c)
            if check is not None:
                check()
    mean = total * (1.0 / samples)
    if vargrad:
        md = total_d * (1.0 / samples)
        return MethodResult(values=adapter.relu(total_sq * (1.0 / samples) - md * md),
                            extras={"base": base, "samples": samples, "vargrad": True})
    return MethodResult(values=mean, extras={"base": base, "samples": samples})


def _noise_source(adapter, x, noise: float, seed):
    """``noise_of(c, samples)``: the Gaussian noise of the next ``c`` samples of every example,
    an (N, c, ...) array drawn when asked for, so that memory follows the chunk, not the
    sample count.

    The numbers are those of ``default_rng(seed).standard_normal((N, samples, C, H, W))``
    (channels-last models get them moved to H×W×C, so that a Keras twin sees the torch
    model's noise): each example reads its own part of that one stream, from the generator
    state where its part begins (found by drawing the parts before it once, chunk by chunk;
    for one example there is nothing to skip)."""
    xn = adapter.to_numpy(x)
    nd = xn.ndim
    n, ex_shape = xn.shape[0], tuple(xn.shape[1:])
    axes = tuple(range(1, nd))
    sigma = noise * (xn.max(axis=axes) - xn.min(axis=axes))
    dt = xn.dtype if xn.dtype in (np.float32, np.float64) else np.dtype(np.float32)
    channels_last = nd == 4 and not adapter.channels_first
    drawn = (ex_shape[2], ex_shape[0], ex_shape[1]) if channels_last else ex_shape
    size = int(np.prod(drawn))
    stream = np.random.default_rng(seed)
    rngs: list = []

    def start(samples: int, c: int) -> None:
        # one generator per example, at the state where its (samples, ...) block begins
        # (the blocks before it are drawn, one chunk's worth at a time, and dropped)
        scratch = np.empty(c * size if n > 1 else 0, dtype=dt)
        for i in range(n):
            bg = type(stream.bit_generator)()
            bg.state = stream.bit_generator.state
            rngs.append(np.random.Generator(bg))
            left = samples * size if i < n - 1 else 0
            while left > 0:
                k = min(left, scratch.size)
                stream.standard_normal(out=scratch[:k], dtype=dt)
                left -= k

    def noise_of(c: int, samples: int) -> np.ndarray:
        if not rngs:
            start(samples, c)
        out = np.empty((n, c) + drawn, dtype=dt)
        for i in range(n):
            rngs[i].standard_normal(out=out[i], dtype=dt)
            out[i] *= dt.type(sigma[i])
        return np.moveaxis(out, 2, -1) if channels_last else out

    return noise_of
