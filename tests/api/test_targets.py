"""Targets are checked against the model's current output: a head replaced since the last call,
an output with more than two axes (indexed flattened), a one-logit model (target 0 is its
score; the message names the negated logit for the other class); a callable target must
return float scores, one per example; and the messages name the problem (a target array of
shape (N, 1), a callable that returns a numpy array, a fractional window).

Truths: the gradient of a linear model (its weight row), the argmax of the flattened output,
and messages that name the fix.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import nbexplain  # noqa: E402
from nbexplain import NBExplainError  # noqa: E402

from toys import _lin  # noqa: E402


def test_targets_are_checked_against_the_current_head():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x = np.random.default_rng(0).random((2, 4)).astype(np.float32)
    nbexplain.attribute(m, x, "saliency", target=1)
    m[2] = torch.nn.Linear(8, 10)                       # more classes now
    a = nbexplain.attribute(m, x, "saliency", target=7)
    assert np.abs(a.values).max() > 0
    nbexplain.attribute(m, x, "saliency", target=7)    # remembered: 10 classes
    m[2] = torch.nn.Linear(8, 2)                        # fewer classes now
    with pytest.raises(NBExplainError, match=r"target 2 is out of range.*2 classes"):
        nbexplain.attribute(m, x, "saliency", target=2)
    with pytest.raises(NBExplainError, match=r"target 2 is out of range.*2 classes"):
        nbexplain.attribute(m, x, "occlusion", target=2)


def test_targets_index_a_multi_axis_output_flattened():
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 15)
    m = lambda z: lin(z).reshape(-1, 3, 5)  # noqa: E731  (N, T=3, K=5)
    x = np.random.default_rng(0).random((2, 4)).astype(np.float32)
    pred = nbexplain.attribute(m, x, "saliency", framework="torch", abs=False)
    with torch.no_grad():
        flat = lin(torch.tensor(x))
    np.testing.assert_array_equal(pred.target, flat.argmax(1).numpy())
    a = nbexplain.attribute(m, x, "saliency", target=7, framework="torch", abs=False)
    np.testing.assert_allclose(a.values, np.broadcast_to(lin.weight[7].detach().numpy(),
                                                         x.shape), rtol=1e-6)
    with pytest.raises(NBExplainError, match=r"3×5 = 15 entries per example.*flattened"):
        nbexplain.attribute(m, x, "saliency", target=15, framework="torch")


def test_target_1_on_a_one_logit_model_explains_the_fix():
    torch.manual_seed(0)
    m = torch.nn.Linear(4, 1)
    with pytest.raises(NBExplainError, match=r"one output column .* target 0 is its score.*"
                                             r"lambda out: -out\[:, 0\]") as e:
        nbexplain.attribute(m, torch.randn(3, 4), "saliency", target=1)
    assert "1 classes" not in str(e.value)


def test_callable_target_with_integer_scores():
    with pytest.raises(NBExplainError, match=r"callable target returned dtype torch.int64"):
        nbexplain.attribute(_lin(), torch.randn(3, 5), "saliency",
                            target=lambda out: out.argmax(1))


@pytest.mark.parametrize("kw,match", [
    ({"target": np.array([[1], [2], [0]])}, r"shape \(3, 1\).*ravel"),
    ({"target": lambda o: o[:, 1].detach().numpy()}, "returned ndarray"),
    ({"method": "occlusion", "target": 1, "window": 2.5}, r"window=2\.5; give a whole"),
])
def test_messages_name_the_problem(kw, match):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 14 * 14, 3)).eval()
    kw = {"method": "saliency", **kw}
    with pytest.raises(NBExplainError, match=match):
        nbexplain.attribute(m, torch.randn(3, 3, 16, 16), **kw)
