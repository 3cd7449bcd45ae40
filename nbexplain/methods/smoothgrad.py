"""SmoothGrad (and VarGrad): average any gradient method over noisy copies of the input.

    SG(x) = 1/n Σ_k A(x + ε_k),   ε_k ~ N(0, σ²),  σ = noise · (max(x) − min(x))
    VarGrad(x) = 1/n Σ_k A(x + ε_k)² − SG(x)²

Smilkov et al. (2017), "SmoothGrad: removing noise by adding noise",
https://arxiv.org/abs/1706.03825; Adebayo et al. (2018) for VarGrad,
https://arxiv.org/abs/1810.03307. (Captum: ``NoiseTunnel``.)

``base=`` names the wrapped method (any registered method that needs gradients, e.g.
``saliency``, ``input_x_gradient``, ``integrated_gradients``); its options pass through.
``draws=`` gives the exact noise to add, shaped (N, samples, *example_shape), for
reproducing another library's run; otherwise noise is drawn on the device from ``seed``.
Noisy copies are evaluated ``batch_samples`` at a time (default: all), each pass carrying
N × batch_samples examples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import NBExplainError
from . import MethodResult, get_method, register
from ._common import repeat_target


@register("smoothgrad", needs_gradients=True)
def smoothgrad(adapter, x, target, *, base: str = "saliency", samples: int = 25,
               noise: float = 0.15, vargrad: bool = False, seed: int | None = 0,
               draws: Any = None, batch_samples: int | None = None,
               **base_options) -> MethodResult:
    """SmoothGrad around any gradient method (VarGrad with vargrad=True)."""
    if base == "smoothgrad":
        raise NBExplainError("smoothgrad cannot wrap itself; choose base='saliency' etc.")
    spec = get_method(base)
    if not spec.needs_gradients:
        raise NBExplainError(f"smoothgrad wraps gradient methods; {base!r} is not one.")
    if samples < 1:
        raise NBExplainError(f"samples={samples}; use at least 1.")
    n = int(x.shape[0])
    ex_shape = tuple(x.shape[1:])
    nd = len(x.shape)
    if draws is not None:
        d = np.asarray(draws if not hasattr(draws, "detach") else draws.detach().cpu().numpy())
        if d.shape != (n, samples) + ex_shape:
            raise NBExplainError(f"draws has shape {d.shape}; expected (N, samples, ...) = "
                                 f"{(n, samples) + ex_shape}.")
        draws_t = adapter.as_tensor(d.reshape((n * samples,) + ex_shape))
    else:
        xn = adapter.to_numpy(x)
        axes = tuple(range(1, nd))
        sigma = noise * (xn.max(axis=axes) - xn.min(axis=axes))
        draws_t = adapter.randn_like(adapter.repeat(x, samples), seed) * adapter.weights(
            np.repeat(sigma, samples), nd, like=x)
    per = batch_samples or samples
    total = total_sq = None
    for j in range(0, samples, per):
        c = min(per, samples - j)
        # rows for samples j..j+c of every example, example-major like draws_t
        idx = (np.arange(n)[:, None] * samples + j + np.arange(c)[None]).ravel()
        noisy = adapter.repeat(x, c) + _take(adapter, draws_t, idx)
        res = spec.fn(adapter, noisy, repeat_target(target, c), **base_options)
        a = adapter.reshape(res.values, (n, c) + tuple(res.values.shape[1:]))
        s = adapter.reduce(a, "sum", 1)
        total = s if total is None else total + s
        if vargrad:
            s2 = adapter.reduce(a * a, "sum", 1)
            total_sq = s2 if total_sq is None else total_sq + s2
    mean = total * (1.0 / samples)
    if vargrad:
        return MethodResult(values=total_sq * (1.0 / samples) - mean * mean,
                            extras={"base": base, "samples": samples, "vargrad": True})
    return MethodResult(values=mean, extras={"base": base, "samples": samples})


def _take(adapter, t, idx: np.ndarray):
    if len(idx) == t.shape[0] and np.array_equal(idx, np.arange(len(idx))):
        return t
    return adapter.take(t, idx)
