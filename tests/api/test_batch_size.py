"""batch_size= is a positive whole number for every method that takes it (negative numbers,
0, fractions and bools are refused with the rule), and a whole float is that size.

Truth: the same call with the default batch size.
"""

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Softplus(),
                               torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(),
                               torch.nn.Linear(16, 5)).eval()


@pytest.fixture(scope="module")
def x():
    return torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("method", ["saliency", "input_x_gradient", "integrated_gradients",
                                    "grad_cam", "occlusion", "shapley"])
@pytest.mark.parametrize("bs", [-3, 0, 2.5, True])
def test_batch_size_must_be_a_positive_whole_number(cnn, x, method, bs):
    with pytest.raises(NBExplainError, match=r"batch_size=.*whole number >= 1"):
        nbexplain.attribute(cnn, x, method, target=1, batch_size=bs)


def test_batch_size_as_whole_float_is_that_size(cnn, x):
    a = nbexplain.attribute(cnn, x, "integrated_gradients", target=1, steps=8, batch_size=2.0)
    b = nbexplain.attribute(cnn, x, "integrated_gradients", target=1, steps=8, batch_size=None)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-6, atol=1e-7)
