"""Matplotlib figures for ``Attribution.plot()`` and ``Attribution.save()``."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._errors import NBExplainError

_FORMATS = {".png", ".svg", ".pdf"}


def heatmap_2d(values: np.ndarray, channels_first: bool) -> np.ndarray:
    """Reduce one example's image attribution (C,H,W or H,W,C or H,W) to H×W.

    Non-negative maps take the channel maximum, signed maps the channel sum.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 2:
        return v
    if v.ndim != 3:
        raise NBExplainError(f"cannot draw an image heatmap from values of shape {v.shape}; "
                             "expected C×H×W, H×W×C or H×W.")
    axis = 0 if channels_first else 2
    finite = v[np.isfinite(v)]
    if finite.size and finite.min() >= 0:
        return v.max(axis=axis)
    return v.sum(axis=axis)


def display_image(x: np.ndarray, channels_first: bool) -> np.ndarray:
    """One example's image as float H×W×C in [0, 1] (per-image min/max scaling)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2:
        a = a[..., None]
    elif a.ndim == 3 and channels_first:
        a = np.moveaxis(a, 0, -1)
    if a.ndim != 3:
        raise NBExplainError(f"cannot display an image of shape {np.shape(x)}.")
    if a.shape[-1] not in (1, 3, 4):
        a = a.mean(axis=-1, keepdims=True)
    finite = np.isfinite(a)
    lo = a[finite].min() if finite.any() else 0.0
    hi = a[finite].max() if finite.any() else 1.0
    a = np.where(finite, a, lo)
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def plot_attribution(attr, index: int = 0, ax: Any = None, cmap: str | None = None,
                     alpha: float = 0.6, feature_names: list[str] | None = None):
    import matplotlib.pyplot as plt

    values = np.asarray(attr.values)
    inputs = None if attr.inputs is None else np.asarray(attr.inputs)
    single = inputs is not None and values.ndim == inputs.ndim and attr.extras.get("single")
    v = values if single else values[index]
    x = None if inputs is None else (inputs if single else inputs[index])
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4) if attr.layout == "image" else (6, 4))
    else:
        fig = ax.figure
    tgt = attr.target
    if np.ndim(tgt) > 0:
        tgt = np.asarray(tgt).ravel()[0 if single else index]
    title = f"{attr.method} · target {tgt}"
    if attr.layout == "image":
        hm = heatmap_2d(v, attr.channels_first)
        signed = np.nanmin(hm) < 0
        cm = cmap or ("RdBu_r" if signed else "inferno")
        if x is not None:
            img = display_image(x, attr.channels_first)
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray",
                      interpolation="nearest")
        m = np.nanmax(np.abs(hm)) or 1.0
        im = ax.imshow(hm, cmap=cm, alpha=alpha if x is not None else 1.0,
                       vmin=-m if signed else 0, vmax=m, interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        flat = np.ravel(v)
        names = feature_names or [f"x{i}" for i in range(flat.size)]
        order = np.argsort(np.abs(flat))[::-1][:20][::-1]
        colors = ["#d62728" if flat[i] > 0 else "#1f77b4" for i in order]
        ax.barh([names[i] for i in order], flat[order], color=colors)
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set_xlabel("attribution")
    ax.set_title(title)
    return fig


def save_attribution(attr, path: str, index: int = 0, dpi: int = 150, **kwargs: Any) -> str:
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in _FORMATS:
        raise NBExplainError(f"cannot save to {path!r}: use a .png, .svg or .pdf file name.")
    import matplotlib.pyplot as plt

    fig = plot_attribution(attr, index=index, **kwargs)
    try:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return str(path)
