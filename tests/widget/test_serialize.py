"""How the widget encodes maps for the front end: float32 and float16 round trips, non-finite
values masked with a warning, float16 overflow clipped, uint8 images as they are; finite values
beyond float32 scaled by a power of two (never masked, nor clipped to one value), in explain()'s
map and in replies alike, with real non-finite values still masked next to them.

Truths: the values encoded, decoded and rescaled, and strict JSON.
"""

import json
import warnings

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain.widgets.serialize import decode_array, encode_array

from widget_helpers import Replies, request, trait_map


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


# --- finite values beyond float32 -------------------------------------------------------------
class HugeGrad(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.linspace(1.0, 64.0, 64, dtype=torch.float64) * 1e300

    def forward(self, x):
        z = x.flatten(1)
        # at x = 0 the logits are 0 and the gradient of class 0 is w (finite, > float32 max)
        return torch.stack([(z * self.w).sum(1), z.sum(1)], 1)


def test_huge_finite_values_are_not_masked_in_explain():
    x = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # nothing is NaN or infinite
        w = nbexplain.explain(HugeGrad(), x, target=0)
    meta = w.heatmap_meta
    assert meta["masked"] is False and w.heatmap_mask == b""
    assert "NaN or infinite" not in w.warning and "float32" in w.warning
    json.dumps(meta, allow_nan=False)
    hm, tol = trait_map(w)
    expected = np.linspace(1.0, 64.0, 64).reshape(8, 8) * 1e300
    # the picture is kept: the stored range is the values' own, not clipped to one value
    assert meta["lo"] == pytest.approx(1e300) and meta["hi"] == pytest.approx(64e300)
    np.testing.assert_allclose(hm, expected, rtol=0, atol=tol)


def test_huge_finite_values_in_a_reply_are_not_masked(monkeypatch):
    w = nbexplain.explain(HugeGrad(), torch.zeros(1, 1, 8, 8, dtype=torch.float64), target=1)
    replies = Replies(w, monkeypatch)
    request(w, id=1, target=0, method="saliency")
    assert w.wait(20)
    (content, buffers) = replies.items[-1]
    assert content["kind"] == "attribution" and content["meta"]["masked"] is False
    assert len(buffers) == 1
    hm = decode_array(content["meta"], buffers[0])
    assert np.all(np.isfinite(hm)) and len(np.unique(hm)) == 64


def test_real_nonfinite_values_are_still_masked_next_to_huge_ones():
    hm = np.array([[1e300, np.nan], [-np.inf, 2e300]])
    with pytest.warns(RuntimeWarning, match="2 of 4"):
        meta, data, mask, warning = encode_array(hm, overflow="scale")
    vals = decode_array(meta, data)
    assert np.all(np.isfinite(vals))
    np.testing.assert_array_equal(np.frombuffer(mask, np.uint8), [0, 1, 1, 0])
    assert vals[1, 1] == 2 * vals[0, 0] and "NaN or infinite" in warning and "float32" in warning


def test_values_in_range_are_not_scaled():
    meta, data, _, warning = encode_array(np.array([1.0, -3e38]), overflow="scale")
    assert "scale" not in meta and warning == ""
    np.testing.assert_allclose(decode_array(meta, data), [1.0, -3e38], rtol=1e-6)
