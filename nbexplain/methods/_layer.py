"""Attribution to a layer's output, summed to one value per input position: text models on
token ids, through their embedding layer (``layer=model.embed``).

Token ids have no gradient, so the gradient methods act on the embedding's output E (N×T×D)
instead, and each token's value is the sum over the embedding axis:

* integrated_gradients: ``(E − E_b) · ∫ ∂f/∂E(E_b + α(E − E_b)) dα``, with ``E_b`` the
  embeddings of the baseline tokens (pad id 0 by default, or the ids given as ``baseline``),
  the layer's output replaced along the path (Captum's LayerIntegratedGradients);
* input_x_gradient: ``E · ∂f/∂E`` (Captum's LayerGradientXActivation);
* saliency: ``|∂f/∂E|``, summed over the embedding axis.

Nothing on the model is patched: torch replaces the output with a thread-confined forward
hook, Keras runs its graph op by op with the layer's output replaced.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import NBExplainError
from ._registry import MethodResult


def baseline_ids(adapter, x, baseline: Any):
    """The baseline token ids: one id for every position (the pad id; 0 by default), or an
    array of ids of one example's or the batch's shape."""
    xn = adapter.to_numpy(x)
    if baseline is None:
        baseline = 0
    b = np.asarray(baseline)
    if b.ndim == 0:
        v = b.item()
        if isinstance(v, float) and not float(v).is_integer():
            raise NBExplainError(f"baseline={baseline!r}: with layer=, the baseline is a token "
                                 "id (e.g. the pad id 0) or an array of ids.")
        return adapter.as_tensor(np.full(xn.shape, int(v), dtype=xn.dtype))
    if b.shape == xn.shape[1:]:
        b = np.broadcast_to(b, xn.shape)
    if b.shape != xn.shape:
        raise NBExplainError(f"baseline has shape {b.shape}; with layer= pass one pad id or "
                             f"token ids of shape {xn.shape[1:]} or {xn.shape}.")
    return adapter.as_tensor(np.ascontiguousarray(b).astype(xn.dtype))


def _host(adapter, t) -> np.ndarray:
    return np.asarray(adapter.to_numpy(t), dtype=np.float64)


def _per_position(a: np.ndarray, x_ndim: int) -> np.ndarray:
    """Sum a layer attribution (N, T, ..., D) over its axes beyond the input's."""
    return a.sum(axis=tuple(range(x_ndim, a.ndim))) if a.ndim > x_ndim else a


def layer_gradient_method(adapter, x, target, layer: Any, kind: str) -> MethodResult:
    """saliency (``kind='saliency'``) or input×gradient (``'ixg'``) on a layer's output."""
    mod, name = adapter.find_layer(layer, example=x)
    e = adapter.layer_output(x, mod)
    _, g = adapter.replaced_layer_gradients(x, mod, e, target)
    gn, en = _host(adapter, g), _host(adapter, e)
    full = np.abs(gn) if kind == "saliency" else en * gn
    values = _per_position(full, len(x.shape))
    return MethodResult(values=values.astype(np.float32), extras={"layer": name})


def layer_integrated_gradients(adapter, x, target, layer: Any, baseline: Any, alphas,
                               weights, batch_size: int | None, check=None) -> MethodResult:
    """IG on ``layer``'s output along the path from the baseline tokens' output."""
    mod, name = adapter.find_layer(layer, example=x)
    b_ids = baseline_ids(adapter, x, baseline)
    e, eb = adapter.layer_output(x, mod), adapter.layer_output(b_ids, mod)
    en, ebn = _host(adapter, e), _host(adapter, eb)
    if en.shape != ebn.shape:
        raise NBExplainError(f"the layer's output has shape {en.shape} for the inputs but "
                             f"{ebn.shape} for the baseline; pass baseline ids of the inputs' "
                             "shape.")
    n = int(x.shape[0])
    per = batch_size or adapter.rows_per_pass(tuple(en.shape[1:]))
    c = max(1, int(per) // max(1, n))           # path points per pass
    tg = np.asarray(target) if not callable(target) else None
    acc = np.zeros_like(en)
    fx = fb = None
    dtype = adapter.to_numpy(e).dtype
    for j in range(0, len(alphas), c):
        a = np.asarray(alphas[j:j + c], dtype=np.float64)
        w = np.asarray(weights[j:j + c], dtype=np.float64)
        k = len(a)
        pts = ebn[None] + a.reshape(-1, *([1] * en.ndim)) * (en - ebn)[None]   # k, N, ...
        xr = adapter.concat([x] * k)
        tr = target if tg is None else np.tile(tg, k)
        _, g = adapter.replaced_layer_gradients(
            xr, mod, adapter.as_tensor(pts.reshape(k * n, *en.shape[1:]).astype(dtype)), tr)
        acc += np.tensordot(w, _host(adapter, g).reshape(k, *en.shape), axes=(0, 0))
        if check is not None:
            check()
    full = (en - ebn) * acc
    values = _per_position(full, len(x.shape))
    s_x, _ = adapter.replaced_layer_gradients(x, mod, e, target)
    s_b, _ = adapter.replaced_layer_gradients(b_ids, mod, eb, target)
    fx, fb = _host(adapter, s_x).reshape(n), _host(adapter, s_b).reshape(n)
    delta = full.reshape(n, -1).sum(axis=1) - (fx - fb)
    return MethodResult(values=values.astype(np.float32), delta=delta.astype(np.float32),
                        extras={"layer": name, "steps": len(alphas)})
