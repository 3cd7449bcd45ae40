"""What the widget keeps in its synced traits, and so in a saved notebook: pictures at display
resolution, compressed.

- **Display resolution.** Arrays are averaged down (area weights, NaN-aware) to at most
  :data:`MAX_SIDE` pixels on a side; the widget draws at about 280 CSS pixels, so nothing
  visible is lost.
- **Compressed, within a byte budget.** The input image and the attribution map (quantised to
  256 levels between its finite minimum and maximum) are stored as PNG when the lossless form
  fits the budget, else as WebP (JPEG where Pillow lacks WebP) at the highest quality that
  fits. A saved notebook then holds at most about 43 KB per widget (base64 included), not the ~500 KB of raw arrays.

The exact float32 maps still travel in the custom messages; the traits only serve a page
reload and a saved notebook opened without a kernel. Pillow is matplotlib's own dependency.
"""

from __future__ import annotations

import io

import numpy as np

from .._errors import NBExplainError
from ..export import heatmap_2d

MAX_SIDE = 256
#: bytes for the attribution map and for the input image in one widget's state
MAP_BUDGET = 20_000
IMAGE_BUDGET = 12_000
_QUALITIES = (92, 85, 78, 70, 60, 50, 40)


def display_shape(h: int, w: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """``(h, w)`` scaled down (aspect kept) so neither side exceeds ``max_side``."""
    s = max(h, w)
    if s <= max_side:
        return h, w
    return max(1, round(h * max_side / s)), max(1, round(w * max_side / s))


def _area_weights(n: int, m: int) -> np.ndarray:
    """The m×n matrix that averages n cells into m (m <= n) by overlap length."""
    edges = np.arange(m + 1) * (n / m)
    lo, hi = edges[:-1, None], edges[1:, None]
    cells = np.arange(n)[None, :]
    w = np.clip(np.minimum(hi, cells + 1) - np.maximum(lo, cells), 0, None)
    return w / w.sum(axis=1, keepdims=True)


def downsample(a: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Area-average an H×W(×C) array to at most ``max_side`` a side; NaN/inf cells are left
    out of each average (a display cell that holds no finite value stays NaN)."""
    a = np.asarray(a, dtype=np.float64)
    h, w = a.shape[:2]
    dh, dw = display_shape(h, w, max_side)
    if (dh, dw) == (h, w):
        return a
    rh, rw = _area_weights(h, dh), _area_weights(w, dw)
    finite = np.isfinite(a)
    vals = np.where(finite, a, 0.0)

    def reduce(x: np.ndarray) -> np.ndarray:   # rh · x · rwᵀ, per channel: two products
        rows = np.tensordot(rh, x, axes=(1, 0))                    # dh, w(, c)
        return np.moveaxis(np.tensordot(rw, rows, axes=(1, 1)), 0, 1)   # dh, dw(, c)

    num, den = reduce(vals), reduce(finite.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _pil_formats() -> tuple[str, ...]:
    from PIL import features
    return ("WEBP", "JPEG") if features.check("webp") else ("JPEG",)


def encode_picture(u8: np.ndarray, budget: int) -> tuple[str, bytes]:
    """``(format, bytes)`` of an H×W or H×W×3 uint8 picture: PNG when it fits ``budget``
    bytes, else the best lossy quality that fits (the lowest tried when none does)."""
    from PIL import Image
    img = Image.fromarray(np.ascontiguousarray(u8))

    def save(fmt: str, **kw) -> bytes:
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        return buf.getvalue()

    png = save("PNG", optimize=True)
    if len(png) <= budget:
        return "png", png
    fmt = _pil_formats()[0]
    extra = {"method": 4} if fmt == "WEBP" else {"subsampling": 0 if img.mode == "RGB" else None}
    extra = {k: v for k, v in extra.items() if v is not None}
    data = b""
    for q in _QUALITIES:
        data = save(fmt, quality=q, **extra)
        if len(data) <= budget:
            break
    if len(data) >= len(png):   # content a lossy codec cannot shrink: keep it exact
        return "png", png
    return fmt.lower(), data


def state_image(img01: np.ndarray, budget: int = IMAGE_BUDGET) -> tuple[dict, bytes]:
    """``(image_meta, bytes)`` of an H×W or H×W×C image in [0, 1] for the ``image`` trait."""
    small = downsample(img01)
    if small.ndim == 3 and small.shape[2] == 1:
        small = small[:, :, 0]
    if small.ndim == 3 and small.shape[2] == 4:
        small = small[:, :, :3]      # the widget draws the input opaque
    u8 = np.round(np.clip(np.nan_to_num(small), 0, 1) * 255).astype(np.uint8)
    fmt, data = encode_picture(u8, budget)
    shape = [int(s) for s in u8.shape] + ([] if u8.ndim == 3 else [1])
    return {"dtype": "uint8", "shape": shape, "encoding": fmt}, data


def state_map(values: np.ndarray, budget: int = MAP_BUDGET) -> tuple[dict, bytes, bytes]:
    """``(meta, data, mask)`` of an H×W attribution map for the ``heatmap`` traits: 256
    levels between ``meta['lo']`` and ``meta['hi']`` (a value is ``lo + level/255 ·
    (hi - lo)``), as a greyscale picture; ``mask`` is a PNG of the non-finite cells (1),
    empty when every cell is finite."""
    small = downsample(values)
    finite = np.isfinite(small)
    lo = float(small[finite].min()) if finite.any() else 0.0
    hi = float(small[finite].max()) if finite.any() else 0.0
    span = hi - lo
    level = np.zeros(small.shape) if span <= 0 else (np.where(finite, small, lo) - lo) / span
    u8 = np.round(np.clip(level, 0, 1) * 255).astype(np.uint8)
    fmt, data = encode_picture(u8, budget)
    mask = b""
    if not finite.all():
        mask = encode_picture((~finite).astype(np.uint8), 1 << 30)[1]   # 0/1: always PNG
    meta = {"dtype": "uint8", "shape": [int(s) for s in u8.shape], "encoding": fmt,
            "lo": lo, "hi": hi, "masked": bool(mask)}
    return meta, data, mask


def decode_state_map(meta: dict, data: bytes) -> np.ndarray:
    """The float map of :func:`state_map`'s output (tests; the browser decodes its own)."""
    from PIL import Image
    level = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float64) / 255
    return meta["lo"] + level * (meta["hi"] - meta["lo"])


def _fits(map_hw: tuple, image_hw: tuple) -> bool:
    """Whether an H'×W' map can be drawn over an H×W image: the same size, or a coarser (or
    finer) grid of about the same aspect ratio (Grad-CAM maps; the front end resamples)."""
    (h, w), (ih, iw) = map_hw, image_hw
    if h < 1 or w < 1:
        return False
    if (h, w) == (ih, iw):
        return True
    cell_h, cell_w = ih / h, iw / w
    return max(cell_h, cell_w) / min(cell_h, cell_w) <= 1.5


def static_map(values: np.ndarray, image: np.ndarray, image_cf: bool) -> np.ndarray:
    """The H×W map of show()'s values, read in their own layout (C×H×W, H×W×C or H×W, not
    necessarily the image's); an NBExplainError when they do not fit the image."""
    v = values
    if image.ndim == 2:
        hw, channels = tuple(image.shape), 1
    else:
        hw = tuple(image.shape[1:] if image_cf else image.shape[:2])
        channels = image.shape[0] if image_cf else image.shape[-1]

    def mismatch() -> NBExplainError:
        return NBExplainError(
            f"the values' shape {tuple(v.shape)} does not fit the image of shape "
            f"{tuple(image.shape)} ({hw[0]}×{hw[1]}, {channels} channel"
            f"{'s' if channels != 1 else ''}): pass one map of the image's size as H×W, "
            f"C×H×W or H×W×C with C = 1{f' or {channels}' if channels != 1 else ''} (a "
            "coarser map of the same aspect ratio is drawn stretched).")

    if v.ndim == 2:
        if not _fits(tuple(v.shape), hw):
            raise mismatch()
        return heatmap_2d(v, image_cf)
    if v.ndim != 3:
        return heatmap_2d(v, image_cf)  # raises its own "cannot draw" error
    # (channels_first, the spatial shape) for each reading whose channel axis fits the image
    readings = [(cf, tuple(v.shape[1:] if cf else v.shape[:2])) for cf in (image_cf, not image_cf)
                if v.shape[0 if cf else 2] in (1, channels)]
    exact = [cf for cf, s in readings if s == hw]
    close = [cf for cf, s in readings if _fits(s, hw)]
    if exact:
        return heatmap_2d(v, exact[0])   # the image's own layout first when both read
    if close:
        return heatmap_2d(v, close[0])
    raise mismatch()


def shown_map(hm: np.ndarray, sign: str, top_k: float, clip: float) -> tuple[np.ndarray,
                                                                            float, float, bool]:
    """What the image view draws of a 2-D map, as the browser computes it (js/lib/display.ts):
    the sign transform, the top-k% area mask, and the colour range at the ``clip``
    percentile. Returns (values with NaN where nothing is drawn, vmin, vmax, signed)."""
    v = np.asarray(hm, np.float64)
    finite = np.isfinite(v)
    area = int(finite.sum())
    signed = bool(np.nanmin(v) < 0) if area else False
    if sign == "positive":
        keep, v = finite & (v > 0), v
    elif sign == "negative":
        keep, v = finite & (v < 0), -v
    elif sign == "absolute":
        keep, v = finite, np.abs(v)
    else:
        keep = finite
    if sign in ("positive", "negative", "absolute"):
        signed = False
    out = np.where(keep, v, np.nan)
    if top_k < 100:
        mags = np.sort(np.abs(out[keep]))[::-1]
        n_keep = min(len(mags), int(np.ceil(max(0.0, top_k) / 100 * area - 1e-9)))
        if n_keep <= 0:
            out[:] = np.nan
        elif n_keep < len(mags):
            out[np.abs(out) < mags[n_keep - 1]] = np.nan
    drawn = out[np.isfinite(out)]
    if signed:
        m = float(np.percentile(np.abs(drawn), clip)) if drawn.size else 1.0
        if not m > 0 and drawn.size:
            m = float(np.abs(drawn).max())
        m = m if m > 0 and np.isfinite(m) else 1.0
        return out, -m, m, True
    if not drawn.size:
        return out, 0.0, 1.0, False
    lo = 0.0 if drawn.min() >= 0 else min(0.0, float(np.percentile(drawn, 100 - clip)))
    hi = float(np.percentile(drawn, clip))
    if not hi > lo:
        hi = float(drawn.max())
    if not hi > lo:
        hi = lo + (1.0 if lo == 0 else abs(lo))
    return out, lo, hi, False
