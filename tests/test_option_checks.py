"""Option checks a second review found loose, each against an independent truth.

* steps=2.5 ran 2 steps (options said 2.5); batch_size=-3 gave a raw torch.cat error and
  batch_size=0 silently meant the default; progressive IG took start_steps=0
  (ZeroDivisionError) and max_steps < start_steps.
* IG's data= (only for baseline='mean') and seed= (only for 'uniform') were silently ignored
  with other baselines; through smoothgrad the uniform baseline could not be seeded.
* smoothgrad(base='integrated_gradients') refused a per-example baseline, naming an internal
  batch of N × samples rows; smoothgrad's hint for baseline= pointed at base=.
"""

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError
from nbexplain.backends import get_adapter
from nbexplain.methods.integrated_gradients import integrated_gradients_progressive


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Softplus(),
                               torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(),
                               torch.nn.Linear(16, 5)).eval()


@pytest.fixture(scope="module")
def x():
    return torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("steps", [2.5, "10", True, 0])
def test_ig_steps_must_be_whole(cnn, x, steps):
    with pytest.raises(NBExplainError, match=r"steps=.*whole number"):
        nbexplain.attribute(cnn, x, "integrated_gradients", target=1, steps=steps)


def test_ig_whole_float_steps_are_those_steps(cnn, x):
    a = nbexplain.attribute(cnn, x, "integrated_gradients", target=1, steps=3.0)
    b = nbexplain.attribute(cnn, x, "integrated_gradients", target=1, steps=3)
    np.testing.assert_array_equal(a.values, b.values)


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


@pytest.mark.parametrize("kw,match", [
    ({"start_steps": 0}, "start_steps=0"),
    ({"start_steps": 2.5}, "start_steps=2.5"),
    ({"start_steps": 64, "max_steps": 16}, "max_steps=16 is below start_steps=64"),
])
def test_progressive_ig_step_checks(cnn, x, kw, match):
    ad = get_adapter(cnn)
    with pytest.raises(NBExplainError, match=match):
        next(integrated_gradients_progressive(ad, x, np.ones(3, np.int64), **kw))


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
