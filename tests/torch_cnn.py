"""The small torch CNN that the gradient-method and torch-backend tests share (three 8×8
channels in, five classes out: two convolutions, a max-pool, a linear head), its fixtures
``cnn`` (the CNN in eval mode) and ``xb`` (a batch of four images), and the relative error
their comparisons with Captum and pytorch-grad-cam use.

This module is a plugin (``pytest_plugins`` in ``conftest.py``), so every test module can take
``cnn`` and ``xb`` without importing them; both are module-scoped (built afresh for each
module). A module with a different model or batch under the same name defines its own fixture,
which overrides these.
"""

import numpy as np
import pytest
import torch


def rel_err(ours, theirs):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    return np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30)


class CNN(torch.nn.Module):
    def __init__(self, seed=0, c=3, hw=8, k=5):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = torch.nn.Conv2d(c, 6, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(6, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8 * (hw // 2) ** 2, k)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


@pytest.fixture(scope="module")
def cnn():
    """``CNN()`` in eval mode."""
    return CNN().eval()


@pytest.fixture(scope="module")
def xb():
    """Four 3×8×8 images, uniform in [0, 1)."""
    torch.manual_seed(1)
    return torch.rand(4, 3, 8, 8)
