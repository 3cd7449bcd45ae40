"""Fixes from a new-user walkthrough of the README: clearer messages for a one-logit model's
target and for integer torch tensors, show() refusing tables by name, SmoothGrad taking its
sample count from draws=, and whole-number ticks on sequence heatmaps."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import nbexplain  # noqa: E402
from nbexplain import NBExplainError  # noqa: E402

from parity_models import LastStepLSTM  # noqa: E402


def test_target_1_on_a_one_logit_model_explains_the_fix():
    torch.manual_seed(0)
    m = torch.nn.Linear(4, 1)
    with pytest.raises(NBExplainError, match=r"one output column .* target 0 is its score.*"
                                             r"lambda out: -out\[:, 0\]") as e:
        nbexplain.attribute(m, torch.randn(3, 4), "saliency", target=1)
    assert "1 classes" not in str(e.value)


def test_integer_torch_tensor_gets_the_torch_spelling():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten(),
                            torch.nn.Linear(2 * 6 * 6, 2))
    x = (torch.rand(2, 3, 8, 8) * 255).to(torch.uint8)
    for method in ("saliency", "occlusion"):
        with pytest.raises(NBExplainError, match=r"x\.float\(\) for a torch tensor"):
            nbexplain.attribute(m, x, method, target=0)


def test_show_refuses_tables_by_name():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(3, 4)), columns=list("abcd"))
    for values, inputs in [(df.to_numpy(), df), (df.to_numpy()[0], df.to_numpy()[0])]:
        with pytest.raises(NBExplainError, match="show\\(\\) displays attributions of images"):
            nbexplain.show(values, inputs)


def test_smoothgrad_takes_the_sample_count_from_draws():
    torch.manual_seed(0)
    m = torch.nn.Linear(4, 2)
    x = torch.randn(2, 4)
    draws = np.random.default_rng(0).normal(size=(2, 6, 4)).astype(np.float32)
    a = nbexplain.attribute(m, x, "smoothgrad", target=0, draws=draws)
    b = nbexplain.attribute(m, x, "smoothgrad", target=0, draws=draws, samples=6)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.extras["samples"] == 6
    with pytest.raises(NBExplainError, match=r"draws has shape \(2, 6, 4\)"):
        nbexplain.attribute(m, x, "smoothgrad", target=0, draws=draws, samples=5)


def test_sequence_heatmap_ticks_are_whole_numbers():
    import matplotlib

    matplotlib.use("Agg")
    a = nbexplain.attribute(LastStepLSTM(), torch.randn(2, 5, 4), "saliency", target=0, abs=False)
    ax = a.plot()
    ax = ax if hasattr(ax, "get_yticks") else ax.axes[0]
    for ticks in (ax.get_yticks(), ax.get_xticks()):
        assert len(ticks) and np.allclose(ticks, np.round(ticks)), ticks
