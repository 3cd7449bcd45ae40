"""batch_size= is a positive whole number for every method that takes it (negative numbers,
0, fractions and bools are refused with the rule), and a whole float is that size.

Truth: the same call with the default batch size.
"""

import numpy as np
import pytest

import nbexplain
from nbexplain import NBExplainError

import option_models

# option_models' module-scoped fixtures: cnn (a small Sequential) and its images x
cnn, x = option_models.sequential_cnn, option_models.sequential_x


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
