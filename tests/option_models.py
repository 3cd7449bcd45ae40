"""The toy models of the option, plot and Integrated Gradients baseline tests: a small torch
CNN (three 8×8 channels in, three classes out; its modules build it with the fixture ``cnn``
and a batch of two images with ``xb``) and a linear model whose weights ``W`` are known."""

import numpy as np
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
