"""The memory format of the torch passes is a rule, the model's own: NCHW for a model in NCHW
(what the caller passes and Captum runs), channels_last for a model converted to it, whatever
the batch size or the machine's speeds; no probe passes run; a model in channels_last gives
the NCHW values; and the same call gives the same numbers in two fresh processes.

Truths: the formats and batch sizes the model itself sees, NCHW runs, fresh processes."""

import subprocess
import sys

import numpy as np
import torch

import nbexplain

# the fixture xb comes from the plugin torch_cnn
from torch_cnn import CNN


class FormatSpy(CNN):
    """Records the memory format and rows of every input it is called with."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(("nchw" if x.is_contiguous() else "cl", int(x.shape[0])))
        return super().forward(x)


def test_an_nchw_model_runs_every_pass_in_nchw_with_no_probe_passes():
    m = FormatSpy().eval()
    for n in (1, 8, 40):
        m.seen.clear()
        x = torch.rand(n, 3, 8, 8)
        nbexplain.attribute(m, x, "integrated_gradients", target=0, steps=16)
        assert {f for f, _ in m.seen} == {"nchw"}
        # the layout probe's one row, the path pass(es) and the end-point scores: no timing
        assert sum(rows for _, rows in m.seen) <= 1 + n * 16 + 2 * n


def test_a_channels_last_model_runs_in_channels_last_with_the_nchw_values(xb):
    ref = nbexplain.attribute(FormatSpy().eval(), xb, "integrated_gradients", target=1,
                              steps=16).values
    m = FormatSpy().eval().to(memory_format=torch.channels_last)
    got = nbexplain.attribute(m, xb, "integrated_gradients", target=1, steps=16).values
    assert {f for f, _ in m.seen[1:]} == {"cl"}
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    assert got.flags.c_contiguous


SCRIPT = r"""
import sys, numpy as np, torch, nbexplain
torch.manual_seed(0)
m = torch.nn.Sequential(
    torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Flatten(), torch.nn.Linear(32 * 8 * 8, 10)).eval()
x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
sg = nbexplain.attribute(m, x, "smoothgrad", target=[3, 5], samples=16, seed=0).values
ig = nbexplain.attribute(m, x, "integrated_gradients", target=[3, 5], steps=32).values
np.savez(sys.argv[1], sg=sg, ig=ig)
"""


def test_smoothgrad_and_ig_are_bitwise_equal_in_two_fresh_processes(tmp_path):
    outs = []
    for k, threads in enumerate(("1", "2")):
        path = tmp_path / f"run{k}.npz"
        env = {**__import__("os").environ, "OMP_NUM_THREADS": threads}
        r = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], capture_output=True,
                           text=True, timeout=300, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        outs.append(dict(np.load(path)))
    for name in ("sg", "ig"):
        a, b = outs[0][name], outs[1][name]
        assert np.abs(a - b).max() <= 1e-6 * np.abs(a).max(), name
