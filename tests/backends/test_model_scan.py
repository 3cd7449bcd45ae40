"""The torch adapter's one-walk model scan (device, dtype, training-mode layers) against the
reference answers from torch's own ``parameters()``/``buffers()``/``modules()`` walks."""

from __future__ import annotations

import pytest
import torch

from nbexplain.backends.torch import _scan_model


def _reference(model):
    first = next(iter(model.parameters()), None)
    if first is None:
        first = next((b for b in model.buffers() if b.is_floating_point()), None)
    if first is None:
        dev, dtype = torch.device("cpu"), None
    else:
        dev = first.device
        dtype = first.dtype if first.is_floating_point() else torch.float32
    training = any(m.training and (isinstance(m, torch.nn.modules.dropout._DropoutNd)
                                   or getattr(m, "track_running_stats", False))
                   for m in model.modules())
    return dev, dtype, training


class _IntFirst(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.steps = torch.nn.Parameter(torch.zeros(2, dtype=torch.long), requires_grad=False)
        self.lin = torch.nn.Linear(3, 2).double()

    def forward(self, x):
        return self.lin(x)


def _models():
    shared = torch.nn.Linear(4, 4)
    cyclic = torch.nn.Sequential(shared, torch.nn.ReLU(), shared)
    nested = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Sequential(
        torch.nn.Identity(), torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(2, 2)
                                                 .double())))
    with_none = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with_none.register_module("gap", None)
    with_none.add_module("drop", torch.nn.Dropout())
    bn_only = torch.nn.Sequential(torch.nn.BatchNorm1d(3, affine=False).double())
    return {
        "linear": torch.nn.Linear(3, 2),
        "float64 nested, dropout in training": nested,
        "nested, eval": torch.nn.Sequential(*[m for m in nested.children()]).eval(),
        "shared submodule": cyclic,
        "None child + dropout": with_none,
        "buffers only (BatchNorm without affine)": bn_only,
        "buffers only, eval": torch.nn.Sequential(torch.nn.BatchNorm1d(3, affine=False)).eval(),
        "parameterless": torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Softmax(-1)),
        "integer parameter first": _IntFirst(),
        "half": torch.nn.Linear(3, 2).half(),
        "mixed dtypes (the first parameter in module order decides)": torch.nn.Sequential(
            torch.nn.ReLU(), torch.nn.Sequential(torch.nn.Linear(2, 2).half()),
            torch.nn.Linear(2, 2).double()),
    }


@pytest.mark.parametrize("name", list(_models()))
def test_scan_matches_torch_walks(name):
    model = _models()[name]
    assert _scan_model(model) == _reference(model)


def test_scan_sees_changes_between_calls():
    m = torch.nn.Sequential(torch.nn.Linear(3, 3)).eval()
    assert _scan_model(m)[2] is False
    m.append(torch.nn.Dropout())          # added later, in training mode
    assert _scan_model(m) == _reference(m) and _scan_model(m)[2] is True
    m.eval()
    m.double()
    assert _scan_model(m) == (torch.device("cpu"), torch.float64, False)


def test_plain_function_runs_on_cpu_with_input_dtype():
    assert _scan_model(lambda x: x) == (torch.device("cpu"), None, False)
