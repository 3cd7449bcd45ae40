"""Integrated Gradients' options: steps= (and the progressive form's start_steps and
max_steps) are whole numbers; data= and seed= are taken only by the baseline presets that use
them ('mean', 'uniform'), and the uniform baseline follows its seed, also as SmoothGrad's base;
SmoothGrad integrates each noisy copy from its own example's baseline; baselines must be finite
(numbers, arrays, tensors, lists, presets and data= alike), and finite ones stay exact on a
linear model.

Truths: IG with the integer step count, IG of every noisy copy averaged by hand, and (x − b)·w
on a linear model. (The fixture ``cnn`` is a small Sequential, not ``CNN``.)
"""

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError
from nbexplain.backends import get_adapter
from nbexplain.methods.integrated_gradients import integrated_gradients_progressive

import option_models
from option_models import CNN, W, linear_torch

# option_models' module-scoped fixtures: cnn (a small Sequential) and its images x
cnn, x = option_models.sequential_cnn, option_models.sequential_x


# --- steps ------------------------------------------------------------------------------------
@pytest.mark.parametrize("steps", [2.5, "10", True, 0])
def test_ig_steps_must_be_whole(cnn, x, steps):
    with pytest.raises(NBExplainError, match=r"steps=.*whole number"):
        nbexplain.attribute(cnn, x, "integrated_gradients", target=1, steps=steps)


def test_ig_whole_float_steps_are_those_steps(cnn, x):
    a = nbexplain.attribute(cnn, x, "integrated_gradients", target=1, steps=3.0)
    b = nbexplain.attribute(cnn, x, "integrated_gradients", target=1, steps=3)
    np.testing.assert_array_equal(a.values, b.values)


@pytest.mark.parametrize("kw,match", [
    ({"start_steps": 0}, "start_steps=0"),
    ({"start_steps": 2.5}, "start_steps=2.5"),
    ({"start_steps": 64, "max_steps": 16}, "max_steps=16 is below start_steps=64"),
])
def test_progressive_ig_step_checks(cnn, x, kw, match):
    ad = get_adapter(cnn)
    with pytest.raises(NBExplainError, match=match):
        next(integrated_gradients_progressive(ad, x, np.ones(3, np.int64), **kw))


# --- baselines --------------------------------------------------------------------------------
@pytest.mark.parametrize("baseline", [0.0, "black", ("blur", 2.0)])
def test_ig_data_and_seed_only_with_their_presets(cnn, x, baseline):
    with pytest.raises(NBExplainError, match="data= is averaged only by baseline='mean'"):
        nbexplain.attribute(cnn, x, "integrated_gradients", target=1, baseline=baseline,
                            data=x.numpy())
    with pytest.raises(NBExplainError, match="seed= draws only the baseline='uniform'"):
        nbexplain.attribute(cnn, x, "integrated_gradients", target=1, baseline=baseline,
                            seed=3)


def test_ig_uniform_baseline_follows_its_seed(cnn, x):
    def ig(**kw):
        return nbexplain.attribute(cnn, x, "integrated_gradients", target=1, steps=8,
                                   baseline="uniform", **kw).values
    np.testing.assert_array_equal(ig(), ig(seed=0))      # the default seed is 0
    assert not np.allclose(ig(seed=1), ig(seed=2))


@pytest.mark.parametrize("baseline, words", [
    (float("nan"), "baseline=nan contains NaN or infinite values"),
    (float("inf"), "baseline=inf contains NaN or infinite values"),
    (np.array([0.0, np.nan, 0.0, 0.0]), "baseline contains NaN or infinite values (1 of 4"),
    (np.full((3, 4), np.inf), "baseline contains NaN or infinite values (12 of 12"),
    ([0.0, 0.0, -np.inf, 1.0], "baseline contains NaN or infinite values (1 of 4"),
    (torch.tensor([0.0, float("nan"), 0.0, 0.0]), "baseline contains NaN or infinite values"),
])
def test_ig_refuses_a_non_finite_baseline(baseline, words):
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    with pytest.raises(NBExplainError) as e:
        nbexplain.attribute(linear_torch(), x, "integrated_gradients", target=0,
                            baseline=baseline)
    msg = str(e.value)
    assert words in msg and "would be NaN" in msg and "Pass a finite" in msg, msg


def test_ig_refuses_non_finite_preset_baselines():
    x = np.random.default_rng(0).normal(size=(2, 3, 8, 8)).astype(np.float32)
    data = np.zeros((5, 3, 8, 8), np.float32)
    data[2, 0, 0, 0] = np.nan
    with pytest.raises(NBExplainError, match=r"data= \(averaged by baseline='mean'\)"):
        nbexplain.attribute(CNN().eval(), x, "integrated_gradients", target=0,
                            baseline="mean", data=data)
    with pytest.raises(NBExplainError, match="sigma must be a positive"):
        nbexplain.attribute(CNN().eval(), x, "integrated_gradients", target=0,
                            baseline=("blur", 0))
    with pytest.raises(NBExplainError, match="sigma must be a positive"):
        nbexplain.attribute(CNN().eval(), x, "integrated_gradients", target=0,
                            baseline=("blur", float("nan")))
    ad = get_adapter(linear_torch())
    with pytest.raises(NBExplainError, match="NaN or infinite"):
        next(integrated_gradients_progressive(ad, ad.as_tensor(x[:, 0, 0, :4]), np.array([0, 1]),
                                              baseline=np.nan))


def test_ig_finite_baselines_still_exact_on_a_linear_model():
    x = np.random.default_rng(4).normal(size=(3, 4)).astype(np.float32)
    b = np.random.default_rng(5).normal(size=(4,)).astype(np.float32)
    for base in (b, torch.tensor(b), b.tolist(), np.broadcast_to(b, x.shape).copy(), 0.5):
        a = nbexplain.attribute(linear_torch(), x, "integrated_gradients", target=1,
                                baseline=base, steps=5)
        np.testing.assert_allclose(a.values, (x - np.asarray(base, np.float64)) * W[1],
                                   rtol=1e-5, atol=1e-6)


# --- as SmoothGrad's base ---------------------------------------------------------------------
def test_smoothgrad_ig_with_a_per_example_baseline(cnn, x):
    """Each noisy copy is integrated from its own example's baseline: the truth is IG of
    every copy with that baseline, averaged by hand."""
    b = np.random.default_rng(2).random((3, 3, 8, 8)).astype(np.float32)
    draws = np.random.default_rng(3).normal(0, 0.05, (3, 4, 3, 8, 8)).astype(np.float32)
    got = nbexplain.attribute(cnn, x, "smoothgrad", base="integrated_gradients", target=1,
                              baseline=b, samples=4, draws=draws, steps=8).values
    want = np.mean([nbexplain.attribute(cnn, x + torch.from_numpy(draws[:, k]),
                                        "integrated_gradients", target=1, baseline=b,
                                        steps=8).values for k in range(4)], axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_smoothgrad_seeds_a_uniform_ig_baseline(cnn, x):
    def sg(seed):
        return nbexplain.attribute(cnn, x, "smoothgrad", base="integrated_gradients",
                                   target=1, baseline="uniform", samples=2, steps=4,
                                   noise=0.0, seed=seed).values
    np.testing.assert_array_equal(sg(5), sg(5))
    assert not np.allclose(sg(1), sg(2))   # noise=0: only the baseline can differ


def test_smoothgrad_hint_for_an_option_of_another_method(cnn, x):
    with pytest.raises(NBExplainError) as e:
        nbexplain.attribute(cnn, x, "smoothgrad", target=1, baseline=0.0)
    msg = str(e.value)
    assert "integrated_gradients" in msg and "Did you mean base=" not in msg


def test_delta_false_skips_the_completeness_pass_and_keeps_the_values():
    class Counting(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.fc = torch.nn.Linear(6, 3)
            self.rows = 0

        def forward(self, x):
            self.rows += int(x.shape[0])
            return torch.tanh(self.fc(x))

    m = Counting().eval()
    x = torch.rand(4, 6)
    with_delta = nbexplain.attribute(m, x, "integrated_gradients", target=1, steps=16)
    m.rows = 0
    without = nbexplain.attribute(m, x, "integrated_gradients", target=1, steps=16,
                                  delta=False)
    rows_without = m.rows
    m.rows = 0
    nbexplain.attribute(m, x, "integrated_gradients", target=1, steps=16)
    assert without.delta is None and with_delta.delta is not None
    np.testing.assert_array_equal(without.values, with_delta.values)
    # Gauss-Legendre has no end points on the path: the delta costs f(x) and f(baseline)
    assert m.rows - rows_without == 2 * 4
    last = list(nbexplain.attribute_progressive(m, x, "integrated_gradients", target=1,
                                                steps=16, rule="riemann_left",
                                                delta=False))[-1]
    assert last.delta is None
    with pytest.raises(nbexplain.NBExplainError, match="delta="):
        nbexplain.attribute(m, x, "integrated_gradients", target=1, delta="no")
