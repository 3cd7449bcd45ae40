"""The one array serialiser between the kernel and the browser.

An array travels as ``meta = {dtype, shape, masked}`` plus raw little-endian row-major bytes;
``js/lib/codec.ts`` decodes it. NaN and infinity never travel: they are sent as 0 with a uint8
mask (1 = not finite) and a warning, so the browser can draw them as "no data".
"""

from __future__ import annotations

import warnings

import numpy as np

from .._errors import user_stacklevel

_DTYPES = {"float32": "<f4", "float16": "<f2", "uint8": "|u1"}


def encode_array(a: np.ndarray, dtype: str = "float32", *, what: str = "attribution"
                 ) -> tuple[dict, bytes, bytes, str]:
    """Return ``(meta, data_bytes, mask_bytes, warning_text)``.

    ``mask_bytes`` is empty and ``warning_text`` is ``""`` when every value is finite.
    """
    if dtype not in _DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}")
    arr = np.asarray(a)
    warning = ""
    mask = b""
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
            big = np.finfo(np.dtype(_DTYPES[dtype])).max
            if np.abs(arr).max(initial=0) > big:
                # would overflow to inf in the target dtype: clip and say so
                warning = warning or f"{what} values exceed the {dtype} range and were clipped."
                arr = np.clip(arr, -big, big)
    data = np.ascontiguousarray(arr.astype(_DTYPES[dtype], copy=False)).tobytes()
    meta = {"dtype": dtype, "shape": [int(s) for s in arr.shape], "masked": bool(mask)}
    return meta, data, mask, warning


def decode_array(meta: dict, data: bytes | memoryview) -> np.ndarray:
    """Inverse of :func:`encode_array` (used by tests and by messages from the browser)."""
    arr = np.frombuffer(data, dtype=np.dtype(_DTYPES[meta["dtype"]]))
    return arr.reshape(meta["shape"])
