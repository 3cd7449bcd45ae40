"""The widget's controls are one API for both frameworks: a torch CNN and its Keras twin (the
same weights, NCHW and NHWC) in two widgets, driven by the same control changes, show the
same attributions, each equal to attribute()'s."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nbexplain

from parity_models import cnn_pair

pytest.importorskip("keras")

STEPS = [
    {"method": "integrated_gradients", "steps": 12},
    {"baseline": "blur", "blur_sigma": 2.0, "mix": 0.2},
    {"method": "occlusion", "window": 4, "stride": 4},
    {"method": "grad_cam", "layer": "conv2"},
    {"method": "smoothgrad", "samples": 4, "noise": 0.2},
]


def _same(w, model, x):
    a = w.attribution
    again = nbexplain.attribute(model, x, method=a.method, target=int(a.target[0]), **a.options)
    np.testing.assert_allclose(a.values, np.asarray(again.values), rtol=1e-5, atol=1e-6)
    return a


def test_torch_and_keras_widgets_follow_the_same_controls_to_the_same_maps():
    tm, km, to_nhwc = cnn_pair(seed=3)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    xk = to_nhwc(x)
    wt, wk = nbexplain.explain(tm, x), nbexplain.explain(km, xk)
    try:
        assert wt.target == wk.target
        assert wt.layer_choices == ["conv1", "conv2"] == wk.layer_choices
        paint = np.zeros((32, 32), np.uint8)
        paint[4:12, 6:20] = 1
        for change in STEPS + [{"paint": paint.tobytes()}]:
            for w in (wt, wk):
                with w.hold_trait_notifications():
                    for k, v in change.items():
                        setattr(w, k, v)
                assert w.wait(120) and w.error == "", (change, w.error)
            at = _same(wt, tm, torch.as_tensor(wt.attribution.inputs))
            ak = _same(wk, km, wk.attribution.inputs)
            vt = np.asarray(at.values)
            vk = np.asarray(ak.values)
            if vt.ndim == 4:                     # NCHW against NHWC
                vk = vk.transpose(0, 3, 1, 2)
            scale = max(np.abs(vt).max(), 1e-12)
            assert np.abs(vt - vk).max() / scale < 1e-4, change
            np.testing.assert_allclose(np.asarray(wt.attribution.inputs),
                                       np.asarray(wk.attribution.inputs).transpose(0, 3, 1, 2),
                                       rtol=1e-6, atol=1e-6)
            assert [c["index"] for c in wt.top_classes] == [c["index"] for c in wk.top_classes]
    finally:
        wt.close()
        wk.close()
