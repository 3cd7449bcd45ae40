import warnings

import numpy as np
import pytest

from nbexplain.widgets.serialize import decode_array, encode_array


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_roundtrip(rng, dtype):
    a = rng.normal(size=(5, 7)).astype(np.float64)
    meta, data, mask, warning = encode_array(a, dtype)
    assert meta == {"dtype": dtype, "shape": [5, 7], "masked": False}
    assert mask == b"" and warning == ""
    assert len(data) == a.size * (4 if dtype == "float32" else 2)
    back = decode_array(meta, data)
    np.testing.assert_allclose(back, a, rtol=1e-3 if dtype == "float16" else 1e-6)


def test_nonfinite_values_are_masked_with_warning():
    a = np.array([[1.0, np.nan], [np.inf, -np.inf]], dtype=np.float32)
    with pytest.warns(RuntimeWarning, match="3 of 4"):
        meta, data, mask, warning = encode_array(a)
    assert meta["masked"] is True
    assert "NaN or infinite" in warning
    vals = decode_array(meta, data)
    assert np.all(np.isfinite(vals))
    np.testing.assert_array_equal(np.frombuffer(mask, np.uint8).reshape(2, 2), [[0, 1], [1, 1]])


def test_float16_overflow_is_clipped_not_inf():
    a = np.array([1e6, -1e6, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        meta, data, mask, warning = encode_array(a, "float16")
    vals = decode_array(meta, data)
    assert np.all(np.isfinite(vals)) and "clipped" in warning
    assert vals[0] == np.finfo(np.float16).max


def test_uint8_image():
    a = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    meta, data, _, _ = encode_array(a, "uint8")
    assert data == a.tobytes()
