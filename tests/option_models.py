"""The toy models of the option, plot and Integrated Gradients baseline tests: a small torch
CNN (three 8×8 channels in, three classes out; its modules build it with the fixture ``cnn``
and a batch of two images with ``xb``), a linear model whose weights ``W`` are known, and the
batch-size and IG-option tests' fixtures ``cnn`` (a small Sequential) and ``x``.

These fixtures share their names with the fixtures of the plugin ``torch_cnn``, so this module
is not a plugin: a test module takes them by binding them to its own names, e.g.
``cnn, xb = option_models.cnn, option_models.xb``. A fixture bound in a module is that module's
own (it overrides the plugin's) and keeps its scope (module: built once per module).
"""

import numpy as np
import pytest
import torch


class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c1 = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.c2 = torch.nn.Conv2d(4, 5, 3, padding=1)
        self.fc = torch.nn.Linear(5 * 4 * 4, 3)

    def forward(self, x):
        x = torch.relu(self.c1(x))
        x = torch.nn.functional.max_pool2d(torch.relu(self.c2(x)), 2)
        return self.fc(x.flatten(1))


W = np.array([[1.0, -2.0, 0.5, 3.0], [0.25, 1.5, -1.0, 2.0]])


def linear_torch():
    lin = torch.nn.Linear(4, 2, bias=True)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(W, dtype=torch.float32))
        lin.bias.copy_(torch.tensor([0.3, -0.7]))
    return lin.eval()


# --- fixtures (bound by name in the modules that use them; see above) -------------------------
@pytest.fixture(scope="module")
def cnn():
    """``CNN()`` (this module's) in eval mode."""
    return CNN().eval()


@pytest.fixture(scope="module")
def xb():
    """Two 3×8×8 images, uniform in [0, 1)."""
    return torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module", name="cnn")
def sequential_cnn():
    """The fixture ``cnn`` of the batch-size and IG-option tests: a small Sequential (a
    convolution, softplus, adaptive pooling, a linear head; five classes), not ``CNN``."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Softplus(),
                               torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(),
                               torch.nn.Linear(16, 5)).eval()


@pytest.fixture(scope="module", name="x")
def sequential_x():
    """The fixture ``x`` that goes with ``sequential_cnn``: three images."""
    return torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
