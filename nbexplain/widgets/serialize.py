"""The one array serialiser between the kernel and the browser.

An array travels as ``meta = {dtype, shape, masked}`` plus raw little-endian row-major bytes;
``js/lib/codec.ts`` decodes it. NaN and infinity never travel: they are sent as 0 with a uint8
mask (1 = not finite) and a warning, so the browser can draw them as "no data". Finite values
beyond the target dtype's range are clipped, or (``overflow="scale"``) divided by a power of
two, which keeps every ratio and so the picture; ``meta["scale"]`` then says by how much.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._errors import user_stacklevel

_DTYPES = {"float32": "<f4", "float16": "<f2", "uint8": "|u1"}


def encode_array(a: np.ndarray, dtype: str = "float32", *, what: str = "attribution",
                 overflow: str = "clip") -> tuple[dict, bytes, bytes, str]:
    """Return ``(meta, data_bytes, mask_bytes, warning_text)``.

    ``mask_bytes`` is empty and ``warning_text`` is ``""`` when every value is finite and
    fits ``dtype``. Finite values that do not fit are clipped to its range
    (``overflow="clip"``), or all divided by the power of two ``meta["scale"]`` that makes
    them fit (``overflow="scale"``: the sent values times ``scale`` are the values given,
    to ``dtype``'s precision; tiny values may become 0).
    """
    if dtype not in _DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}")
    if overflow not in ("clip", "scale"):
        raise ValueError(f"overflow={overflow!r}; use 'clip' or 'scale'")
    arr = np.asarray(a)
    warning = ""
    mask = b""
    scale = None
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all():
            n_bad = int(finite.size - np.count_nonzero(finite))
            warning = (f"{n_bad} of {finite.size} {what} values were NaN or infinite; they are "
                       "shown as masked (transparent).")
            warnings.warn(warning, RuntimeWarning, stacklevel=user_stacklevel())
            arr = np.where(finite, arr, 0)
            mask = np.ascontiguousarray((~finite).astype(np.uint8)).tobytes()
        if dtype != "uint8":
            big = float(np.finfo(np.dtype(_DTYPES[dtype])).max)
            top = float(np.abs(arr).max(initial=0))
            if top > big and overflow == "scale":
                # would overflow to inf in the target dtype: divide everything by 2**k
                # (exact in binary floating point, so every ratio is kept)
                k = max(1, int(np.ceil(np.log2(top / big))))
                while np.ldexp(top, -k) > big:
                    k += 1
                arr = np.ldexp(arr.astype(np.float64), -k)
                scale = float(2.0 ** k)
                warning = " ".join(filter(None, [warning, (
                    f"{what} values exceed the {dtype} range; they were divided by 2**{k} "
                    "to be sent (meta 'scale'); the picture is unchanged.")]))
            elif top > big:
                # would overflow to inf in the target dtype: clip and say so
                warning = " ".join(filter(None, [
                    warning, f"{what} values exceed the {dtype} range and were clipped."]))
                arr = np.clip(arr, -big, big)
    data = np.ascontiguousarray(arr.astype(_DTYPES[dtype], copy=False)).tobytes()
    meta = {"dtype": dtype, "shape": [int(s) for s in arr.shape], "masked": bool(mask)}
    if scale is not None:
        meta["scale"] = scale
    return meta, data, mask, warning


def decode_array(meta: dict, data: bytes | memoryview) -> np.ndarray:
    """Inverse of :func:`encode_array` (used by tests and by messages from the browser)."""
    arr = np.frombuffer(data, dtype=np.dtype(_DTYPES[meta["dtype"]]))
    return arr.reshape(meta["shape"])
