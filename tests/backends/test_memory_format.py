"""The memory format chosen per model: probed once per input shape, on a few rows (the faster
of NCHW and channels_last), then fixed; a model that cannot take channels_last falls back to
NCHW; models in training mode are never given channels_last (nor probed); the probe can be
turned off by NBEXPLAIN_TORCH_AUTOTUNE, read on every call.

Truths: the formats and batch sizes the model itself sees, and the values of a one-format run.
"""

import time

import numpy as np
import pytest
import torch

import nbexplain

# the fixture xb comes from the plugin torch_cnn
from torch_cnn import CNN


class FormatSpy(CNN):
    """Records the memory format of every input; optionally flattens with .view (which a
    channels_last tensor cannot do)."""

    def __init__(self, use_view=False):
        super().__init__()
        self.formats, self.use_view = [], use_view

    def forward(self, x):
        self.formats.append("cl" if not x.is_contiguous() else "nchw")
        if not self.use_view:
            return super().forward(x)
        h = torch.nn.functional.max_pool2d(torch.relu(self.conv2(torch.relu(self.conv1(x)))), 2)
        return self.fc(h.view(h.shape[0], -1))


def test_memory_format_is_probed_once_then_fixed(xb):
    m = FormatSpy().eval()
    first = nbexplain.attribute(m, xb, "saliency", target=[0, 1, 2, 3], abs=False)
    probe_end = len(m.formats)
    vals = [nbexplain.attribute(m, xb, "saliency", target=[0, 1, 2, 3], abs=False).values
            for _ in range(4)]
    # the first call probed both formats (forward passes), later calls only compute
    assert {"cl", "nchw"} <= set(m.formats[1:probe_end])
    later = m.formats[probe_end:]
    assert len(later) == 4 and len(set(later)) == 1
    for v in vals:   # one format per shape from now on: identical values, C-ordered
        np.testing.assert_array_equal(v, vals[0])
        assert v.flags.c_contiguous
    np.testing.assert_allclose(vals[0], first.values, rtol=1e-5,
                               atol=1e-6 * np.abs(first.values).max())


class SlowIn(CNN):
    """Sleeps 20 ms when given one memory format: the probe must pick the other one."""

    def __init__(self, slow):
        super().__init__()
        self.slow, self.formats = slow, []

    def forward(self, x):
        fmt = "nchw" if x.is_contiguous() else "cl"
        self.formats.append(fmt)
        if fmt == self.slow:
            time.sleep(0.02)
        return super().forward(x)


@pytest.mark.parametrize("slow, picked", [("nchw", "cl"), ("cl", "nchw")])
def test_probe_picks_the_faster_format(xb, slow, picked):
    m = SlowIn(slow).eval()
    nbexplain.attribute(m, xb, "saliency", target=1)
    n = len(m.formats)
    nbexplain.attribute(m, xb, "grad_cam", target=1, layer="conv2")   # same shape: no probe
    nbexplain.attribute(m, xb, "saliency", target=2)
    assert m.formats[n:] == [picked, picked]


def test_model_that_cannot_take_channels_last_falls_back(xb):
    m = FormatSpy(use_view=True).eval()
    ok = FormatSpy(use_view=False).eval()
    vals = [nbexplain.attribute(m, xb, "integrated_gradients", target=1, steps=8).values
            for _ in range(4)]
    want = nbexplain.attribute(ok, xb, "integrated_gradients", target=1, steps=8,
                               batch_size=10 ** 6).values
    for v in vals:
        np.testing.assert_allclose(v, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    # after the one failed channels_last try, every pass is NCHW
    i = m.formats.index("cl")
    assert set(m.formats[i + 1:]) == {"nchw"}


def test_training_mode_models_are_never_given_channels_last(xb):
    m = FormatSpy()
    m.bn = torch.nn.BatchNorm2d(3)           # a mode-dependent layer, in training mode
    with pytest.warns(UserWarning, match="training mode"):
        for _ in range(6):
            nbexplain.attribute(m, xb, "saliency", target=0)
    assert set(m.formats) == {"nchw"}


def test_layers_added_later_in_training_mode_are_seen(xb):
    m = torch.nn.Sequential(
        torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Identity()),
        torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                            torch.nn.Linear(4, 3))).eval()
    nbexplain.attribute(m, xb, "saliency", target=1)
    m[0][1] = torch.nn.BatchNorm2d(4)   # nested, after the first call, in training mode
    m.train()
    with pytest.warns(UserWarning, match="training mode"):
        nbexplain.attribute(m, torch.rand(5, 3, 8, 8), "saliency", target=1)
    # only the one real pass (the layout is known from the first call); no memory-format
    # probe on a model in training mode
    assert int(m[0][1].num_batches_tracked) == 1


def test_autotune_can_be_turned_off_by_environment():
    import subprocess
    import sys

    code = (
        "import torch, nbexplain\n"
        "seen = []\n"
        "class M(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__(); self.c = torch.nn.Conv2d(3, 4, 3)\n"
        "    def forward(self, x):\n"
        "        seen.append(x.is_contiguous()); return self.c(x).mean((2, 3))\n"
        "for _ in range(3):\n"
        "    nbexplain.attribute(M().eval(), torch.rand(2, 3, 8, 8), 'saliency', target=0)\n"
        "print(all(seen), len(seen))\n")
    out = {}
    for flag in ("0", "1"):
        env = {**__import__("os").environ, "NBEXPLAIN_TORCH_AUTOTUNE": flag}
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        out[flag] = r.stdout.split()
    assert out["0"] == ["True", "6"]   # layout probe + one pass per call, all NCHW
    assert out["1"][0] == "False"             # the probe tried channels_last


def test_probe_times_a_few_rows_and_respects_runtime_switch(monkeypatch):
    class Sizes(CNN):
        def __init__(self):
            super().__init__()
            self.seen = []

        def forward(self, x):
            self.seen.append((int(x.shape[0]), x.is_contiguous()))
            return super().forward(x)

    x = torch.rand(40, 3, 8, 8)
    m = Sizes().eval()
    nbexplain.attribute(m, x, "saliency", target=0)
    probe = [n for n, contiguous in m.seen[1:-1]]          # between layout probe and pass
    assert probe and max(probe) <= 16 and m.seen[-1][0] == 40
    monkeypatch.setenv("NBEXPLAIN_TORCH_AUTOTUNE", "OFF")  # read on every call, any case
    m2 = Sizes().eval()
    nbexplain.attribute(m2, x, "saliency", target=0)
    assert m2.seen == [(1, True), (40, True)]               # layout probe, then the pass
