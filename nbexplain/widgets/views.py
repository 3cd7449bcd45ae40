"""What the widget computes besides the map: the colour tables it draws with (matplotlib's
own), the thumbnail strip of a batch, the painted input, the IG path at α, the rank
correlation of compared maps, and Shapley's per-patch uncertainty. Framework-free: the
adapter does every model call."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..export import display_image
from .display import downsample, encode_picture

#: the colour maps the widget offers, in the menu's order (matplotlib names)
COLORMAPS = ("inferno", "viridis", "magma", "cividis", "gray", "RdBu_r", "coolwarm", "bwr")
THUMB = 64


def colormap_lut(names=COLORMAPS) -> bytes:
    """uint8 len(names)×256×3: matplotlib's tables, so the widget draws what ``.plot()`` does."""
    from matplotlib import colormaps

    rows = [np.round(colormaps[n](np.linspace(0.0, 1.0, 256))[:, :3] * 255) for n in names]
    return np.stack(rows).astype(np.uint8).tobytes()


def thumbnail_strip(images: list[np.ndarray], labels: list[str]) -> tuple[dict, bytes]:
    """One picture of the examples side by side (each at most ``THUMB`` px a side, area
    averaged; small images keep their size) and its meta ``{n, thumb, thumb_h, thumb_w,
    encoding, labels}``."""
    thumbs = [downsample(im, THUMB) for im in images]
    th, tw = thumbs[0].shape[:2]
    strip = np.concatenate([t.reshape(th, tw, -1) for t in thumbs], axis=1)
    if strip.shape[2] == 1:
        strip = strip[:, :, 0]
    elif strip.shape[2] == 4:
        strip = strip[:, :, :3]
    u8 = np.round(np.clip(np.nan_to_num(strip), 0, 1) * 255).astype(np.uint8)
    fmt, data = encode_picture(u8, 24_000)
    return {"n": len(images), "thumb": int(tw), "thumb_h": int(th), "thumb_w": int(tw),
            "encoding": fmt, "labels": [str(s) for s in labels]}, data


def paint_mask(paint: bytes, display_hw: tuple[int, int], hw: tuple[int, int]) -> np.ndarray | None:
    """The painted cells (bool H×W at the input's size) of the ``paint`` trait, drawn at the
    display size; None when nothing is painted. Each input pixel takes the display cell it
    falls in."""
    dh, dw = display_hw
    if not paint:
        return None
    m = np.frombuffer(bytes(paint), dtype=np.uint8)
    if m.size != dh * dw:
        raise ValueError(f"paint has {m.size} cells; the image is drawn at {dh}×{dw} = "
                         f"{dh * dw}: send one byte per displayed pixel (1 = painted).")
    m = m.reshape(dh, dw) != 0
    if not m.any():
        return None
    h, w = hw
    rows = np.minimum((np.arange(h) + 0.5) * dh / h, dh - 1).astype(int)
    cols = np.minimum((np.arange(w) + 0.5) * dw / w, dw - 1).astype(int)
    return m[np.ix_(rows, cols)]


def average_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of ``a``'s entries, ties sharing their average rank (as Spearman's)."""
    _, inverse, counts = np.unique(np.ravel(a), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends - 1) / 2.0)[inverse]


def spearman(maps: list[np.ndarray]) -> list[list[float | None]]:
    """The Spearman rank correlation of each pair of maps (resampled to the first one's size
    when they differ); None where a map is constant (no ranking)."""
    shape = maps[0].shape
    ranks = []
    for m in maps:
        m = np.nan_to_num(np.asarray(m, dtype=np.float64))
        if m.shape != shape:
            r = np.minimum((np.arange(shape[0]) + 0.5) * m.shape[0] / shape[0],
                           m.shape[0] - 1).astype(int)
            c = np.minimum((np.arange(shape[1]) + 0.5) * m.shape[1] / shape[1],
                           m.shape[1] - 1).astype(int)
            m = m[np.ix_(r, c)]
        ranks.append(average_ranks(m))
    out: list[list[float | None]] = []
    for a in ranks:
        row: list[float | None] = []
        for b in ranks:
            sa, sb = a.std(), b.std()
            row.append(None if sa == 0 or sb == 0 else
                       float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb)))
        out.append(row)
    return out


def path_at(adapter, x, b, target: np.ndarray, alpha: float, steps: int,
            batch_size: int | None = None) -> dict:
    """IG's path at ``alpha``: the interpolated input ``b + α(x − b)``, the gradient of the
    target there, and the attribution accumulated from 0 to α with the trapezoid rule on
    ``steps`` points (at α = 1 it is ``attribute(..., rule='riemann_trapezoid',
    steps=steps)``). Host arrays of one example each."""
    alpha = float(min(max(alpha, 0.0), 1.0))
    n = max(2, int(steps))
    ts = np.linspace(0.0, alpha, n)
    w = np.full(n, 1.0 / (n - 1))
    w[[0, -1]] *= 0.5                      # trapezoid weights on [0, 1], scaled by α below
    xn = adapter.to_numpy(x).astype(np.float64)
    bn = adapter.to_numpy(b).astype(np.float64)
    diff = xn - bn
    acc = np.zeros_like(xn)
    grad_alpha = None
    per = int(batch_size or adapter.rows_per_pass(tuple(xn.shape[1:])))
    for s in range(0, n, per):
        t = ts[s:s + per]
        pts = bn + t.reshape(-1, *([1] * (xn.ndim - 1))) * diff
        g = adapter.to_numpy(adapter.input_gradient(
            adapter.as_tensor(pts.astype(adapter.to_numpy(x).dtype)),
            np.repeat(target, len(t)))).astype(np.float64)
        acc += np.tensordot(w[s:s + per], g, axes=(0, 0))[None]
        if s + per >= n:
            grad_alpha = g[-1]
    return {"input": (bn + alpha * diff)[0], "gradient": grad_alpha,
            "accumulated": (diff * acc * alpha)[0]}


def uncertainty_map(extras: dict, example_shape: tuple) -> np.ndarray | None:
    """Shapley's per-element half-width of the confidence interval (each element carries its
    patch's), from a result's ``extras``; None without intervals."""
    lo, hi, ids = (extras.get(k) for k in ("ci_low", "ci_high", "feature_groups"))
    if lo is None or hi is None or ids is None:
        return None
    half = (np.asarray(hi, dtype=np.float64)[0] - np.asarray(lo, dtype=np.float64)[0]) / 2
    idx = np.asarray(ids)
    if idx.ndim == len(example_shape) + 1:
        idx = idx[0]
    half = np.where(np.isfinite(half), half, np.nan)
    return half[idx]


def display_u8(x_single: np.ndarray, channels_first: bool) -> np.ndarray:
    """One example as uint8 H×W×C at display resolution (the path scrubber's input)."""
    img = downsample(display_image(x_single, channels_first))
    return np.round(np.clip(np.nan_to_num(img), 0, 1) * 255).astype(np.uint8)


def as_channels(mask_hw: np.ndarray, x_shape: tuple, channels_first: bool) -> Any:
    """A bool H×W mask broadcast to one example batch ``x_shape`` (1, C, H, W or 1, H, W, C)."""
    m = mask_hw[None, None] if channels_first else mask_hw[None, :, :, None]
    if len(x_shape) == 3:     # 1×H×W single-channel images
        m = mask_hw[None]
    return np.broadcast_to(m, x_shape)
