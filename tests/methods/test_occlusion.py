"""Occlusion: Captum's Occlusion for windows and strides over channels and pixels, and
non-finite baselines refused (as a number and as an array)."""

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError

# the fixtures cnn and xb come from the plugin torch_cnn
from torch_cnn import rel_err


def test_occlusion_matches_captum(cnn, xb):
    from captum.attr import Occlusion

    for window, stride in [((3, 4, 4), (3, 2, 2)), ((1, 3, 3), (1, 2, 3)), ((3, 8, 8), (3, 1, 1))]:
        a = nbexplain.attribute(cnn, xb, "occlusion", target=[0, 1, 2, 3], window=window,
                                stride=stride, baseline=0.1, batch_size=17)
        theirs = Occlusion(cnn).attribute(xb, sliding_window_shapes=window, strides=stride,
                                          baselines=0.1, target=[0, 1, 2, 3])
        assert rel_err(a.values, theirs.detach().numpy()) <= 1e-5, (window, stride)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_occlusion_refuses_a_non_finite_baseline(bad):
    x = np.random.default_rng(0).random((2, 3, 8, 8)).astype(np.float32)
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 2))
    for base in (bad, np.full((3, 8, 8), bad, np.float32)):
        with pytest.raises(NBExplainError, match="baseline contains NaN or infinite"):
            nbexplain.attribute(m, x, "occlusion", target=0, baseline=base)
