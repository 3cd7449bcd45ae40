"""Matplotlib figures for ``Attribution.plot()`` and ``Attribution.save()``."""

from __future__ import annotations

import operator
import os
import unicodedata
import warnings
from typing import Any

import numpy as np

from ._errors import NBExplainError, user_stacklevel

_FORMATS = {".png", ".svg", ".pdf"}


def _constant_along(v: np.ndarray, axis: int) -> bool:
    """Whether ``v`` holds the same value everywhere along ``axis`` (NaN equal to NaN): a
    group's value repeated over the channels or dimensions its elements span."""
    first = np.take(v, [0], axis=axis)
    return bool(np.array_equal(v, np.broadcast_to(first, v.shape), equal_nan=True))


def heatmap_2d(values: np.ndarray, channels_first: bool) -> np.ndarray:
    """Reduce one example's image attribution (C,H,W or H,W,C or H,W) to H×W.

    A map that is the same in every channel (Shapley, LIME or occlusion values of groups that
    span the channels: each element carries its group's whole value) is drawn from one
    channel, so the colours show the group's value, not C times it. Otherwise non-negative
    maps take the channel maximum, signed maps the channel sum.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 2:
        return v
    if v.ndim != 3:
        raise NBExplainError(f"cannot draw an image heatmap from values of shape {v.shape}; "
                             "expected C×H×W, H×W×C or H×W.")
    axis = 0 if channels_first else 2
    if _constant_along(v, axis):
        return np.take(v, 0, axis=axis)
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


def _example(attr, index: Any) -> tuple[bool, int]:
    """(single, i): whether the attribution is for one example without a batch axis, and the
    checked index of the example to draw."""
    try:
        i = operator.index(index)
    except TypeError:
        raise NBExplainError(f"index={index!r}; pass the int position of an example.") from None
    # attribute() records whether it added the batch axis; the values' rank cannot tell
    # (a single image's Grad-CAM map has the rank of a batch of tabular rows)
    single = bool(attr.extras.get("single", False))
    if single:
        if i != 0:
            raise NBExplainError(f"index={i}, but this attribution is for a single example "
                                 "(no batch axis); use index=0.")
        return True, 0
    n = int(np.shape(attr.values)[0]) if np.ndim(attr.values) else 0
    if not -n <= i < n:
        raise NBExplainError(f"index={i}, but the attribution has {n} example"
                             f"{'' if n == 1 else 's'}; use 0..{n - 1}." if n else
                             "the attribution has no examples to draw.")
    return False, i


def _bars(attr, v: np.ndarray, single: bool, index: int, feature_names: Any):
    """(values, labels) for the bar chart: one bar per feature, named by ``feature_names``
    (or the names given to attribute(), kept in ``extras['feature_names']``). Names that
    match the method's feature groups (shapley/lime ``features=``) label the groups' values."""
    flat = np.ravel(v)
    given = feature_names is not None
    names = feature_names if given else attr.extras.get("feature_names")
    if names is None:
        return flat, [f"x{i}" for i in range(flat.size)]
    names = [str(n) for n in names]
    if len(names) == flat.size:
        return flat, names
    gv = attr.extras.get("group_values")
    if gv is not None:
        gv = np.asarray(gv)
        g = gv if single or gv.ndim < 2 else gv[index]
        if g.ndim == 1 and g.size == len(names):
            return g, names
    if given:
        raise NBExplainError(f"feature_names has {len(names)} names but the attribution has "
                             f"{flat.size} features; give one name per feature.")
    return flat, [f"x{i}" for i in range(flat.size)]


def _finite_or_nan(v: np.ndarray) -> np.ndarray:
    """The values to draw: ±inf as NaN (drawn blank, out of the colour scale and the bar
    order), with a warning naming how many."""
    v = np.asarray(v, dtype=np.float64)
    bad = ~np.isfinite(v)
    n = int(bad.sum())
    if n:
        warnings.warn(f"{n} of the {v.size} values drawn are not finite (inf or NaN); they "
                      "are drawn blank and left out of the colour scale.",
                      stacklevel=user_stacklevel())
        v = np.where(bad, np.nan, v)
    return v


#: text drawn as given: matplotlib reads "$...$" in any text as math (a feature named
#: "Income ($) / Spend ($)" lost its dollar signs, and a malformed one failed every save)
LITERAL = {"parse_math": False}


def plain(text: Any) -> str:
    """``text`` without control characters (tabs and newlines aside): a NUL or an escape
    sequence in a feature name or label makes an SVG that is not well-formed XML, and has no
    place in a PDF."""
    return "".join(ch for ch in str(text) if ch in "\t\n" or unicodedata.category(ch) != "Cc")


def plot_attribution(attr, index: int = 0, ax: Any = None, cmap: str | None = None,
                     alpha: float = 0.6, feature_names: list[str] | None = None):
    import matplotlib.pyplot as plt

    single, index = _example(attr, index)
    values = np.asarray(attr.values)
    inputs = None if attr.inputs is None else np.asarray(attr.inputs)
    v = _finite_or_nan(values if single else values[index])
    x = None if inputs is None else (inputs if single else inputs[index])
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(4.5, 4) if attr.layout == "image" else (6, 4))
    else:
        fig = ax.figure
    try:
        _draw(attr, ax, fig, v, x, single, index, cmap, alpha, feature_names)
    except BaseException:
        if own:          # no half-drawn figure left open in pyplot
            plt.close(fig)
        raise
    return fig


def _draw(attr, ax, fig, v, x, single: bool, index: int, cmap, alpha, feature_names) -> None:
    tgt = attr.target
    if callable(tgt):       # a score function: its name, not its repr with an address
        name = getattr(tgt, "__name__", "")
        tgt = f"{name}(output)" if name and name != "<lambda>" else "(a function of the output)"
    elif np.ndim(tgt) > 0:
        tgt = np.asarray(tgt).ravel()[0 if single else index]
    title = f"{attr.method} · target {tgt}"
    if attr.layout == "image":
        hm = heatmap_2d(v, attr.channels_first)
        signed = np.nanmin(hm) < 0
        cm = cmap or ("RdBu_r" if signed else "inferno")
        extent = None
        if x is not None:
            img = display_image(x, attr.channels_first)
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray",
                      interpolation="nearest")
            h, w = img.shape[:2]
            if hm.shape != (h, w):   # e.g. Grad-CAM with upsample=False: stretch over the image
                extent = (-0.5, w - 0.5, h - 0.5, -0.5)
        m = np.nanmax(np.abs(hm)) or 1.0
        im = ax.imshow(hm, cmap=cm, alpha=alpha if x is not None else 1.0,
                       vmin=-m if signed else 0, vmax=m, extent=extent,
                       interpolation="nearest" if extent is None else "bilinear")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ax.set_xticks([])
        ax.set_yticks([])
    elif attr.layout == "sequence" and np.ndim(v) == 2 and feature_names is None:
        _draw_sequence(ax, fig, np.asarray(v, dtype=np.float64), cmap)
    else:
        flat, names = _bars(attr, v, single, index, feature_names)
        flat = np.asarray(flat, dtype=np.float64)
        size = np.where(np.isfinite(flat), np.abs(flat), -1.0)   # NaN bars last
        order = np.argsort(size, kind="stable")[::-1][:20][::-1]
        colors = ["#d62728" if flat[i] > 0 else "#1f77b4" for i in order]
        pos = np.arange(len(order))    # positions, not categories: equal names stay apart
        ax.barh(pos, flat[order], color=colors)
        ax.set_yticks(pos, [plain(names[i]) for i in order], **LITERAL)
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set_xlabel("attribution")
    ax.set_title(plain(title), **LITERAL)


def _draw_sequence(ax, fig, v: np.ndarray, cmap) -> None:
    """One example of a T×D sequence: bars over the positions when each position has one
    value (D = 1, or the same value in every dimension, as Shapley/LIME/occlusion values
    of positions), else a positions × dimensions heatmap."""
    t = v.shape[0]
    if _constant_along(v, 1):
        per = v[:, 0]
        ax.bar(np.arange(t), per, color=["#d62728" if a > 0 else "#1f77b4" for a in per])
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_xlabel("position")
        ax.set_ylabel("attribution")
        return
    m = np.nanmax(np.abs(v)) or 1.0
    im = ax.imshow(v.T, aspect="auto", cmap=cmap or "RdBu_r", vmin=-m, vmax=m,
                   interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis):   # positions and dimensions are whole numbers
        axis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("position")
    ax.set_ylabel("dimension")


def save_attribution(attr, path: str, index: int = 0, dpi: int = 150, **kwargs: Any) -> str:
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in _FORMATS:
        raise NBExplainError(f"cannot save to {path!r}: use a .png, .svg or .pdf file name.")
    import matplotlib.pyplot as plt

    from .provenance import savefig_metadata

    fig = plot_attribution(attr, index=index, **kwargs)
    try:
        fig.savefig(path, dpi=dpi, bbox_inches="tight",
                    metadata=savefig_metadata({**attr.provenance, "index": index}, ext))
    finally:
        plt.close(fig)
    return str(path)
