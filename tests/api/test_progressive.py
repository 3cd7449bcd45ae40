"""nbexplain.attribute_progressive: the streamed forms as a public API, the IG refinement
and the Shapley anytime iterator, taking what attribute() takes (an int target, numpy input)
and naming the fix for what they cannot take.

Truths: attribute() with the same options (the last estimate), the completeness of IG on a
smooth model, and the exact Shapley values the intervals must narrow around.
"""

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Softplus(),
                               torch.nn.Linear(8, 3)).eval()


@pytest.mark.parametrize("rule,steps,counts", [
    ("riemann_trapezoid", 33, [5, 9, 17, 33]),
    ("riemann_left", 32, [4, 8, 16, 32]),
    ("riemann_right", 48, [6, 12, 24, 48]),
])
def test_ig_refinements_end_at_attribute(mlp, rule, steps, counts):
    x = np.random.default_rng(0).normal(size=(2, 5)).astype(np.float32)
    seen = list(nbexplain.attribute_progressive(mlp, x, "integrated_gradients", target=1,
                                                rule=rule, steps=steps))
    assert [a.extras["steps"] for a in seen] == counts
    assert [a.extras["done"] for a in seen] == [False] * (len(counts) - 1) + [True]
    ref = nbexplain.attribute(mlp, x, "integrated_gradients", target=1, rule=rule,
                              steps=steps)
    np.testing.assert_allclose(seen[-1].values, ref.values, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(seen[-1].delta, ref.delta, rtol=1e-3, atol=1e-6)
    # a smooth model: the completeness error falls as the steps double
    err = [np.abs(a.delta).max() for a in seen]
    assert err[-1] < err[0]


@pytest.mark.parametrize("kw,counts", [
    ({}, [3, 6, 12, 50]),                              # the method's defaults: GL, 50 steps
    ({"rule": "riemann_left"}, [25, 50]),              # 50 = 25·2: one doubling
    ({"rule": "riemann_trapezoid"}, [3, 6, 12, 50]),   # 49 intervals: no doubling reaches
    ({"rule": "riemann_left", "steps": 51}, [3, 6, 12, 51]),
    ({"rule": "riemann_middle", "steps": 64}, [4, 8, 16, 64]),
])
def test_ig_defaults_are_the_methods_and_end_at_attribute(mlp, kw, counts):
    # one set of defaults: the progressive form takes attribute()'s (Gauss-Legendre, 50
    # steps); a rule or step count that cannot refine by doubling streams coarser estimates
    x = np.random.default_rng(3).normal(size=(2, 5)).astype(np.float32)
    seen = list(nbexplain.attribute_progressive(mlp, x, target=1, **kw))
    assert [a.extras["steps"] for a in seen] == counts
    assert [a.extras["done"] for a in seen] == [False] * (len(counts) - 1) + [True]
    ref = nbexplain.attribute(mlp, x, "integrated_gradients", target=1, **kw)
    np.testing.assert_allclose(seen[-1].values, ref.values, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(seen[-1].delta, ref.delta, rtol=1e-3, atol=1e-6)
    # each partial estimate is IG with its own step count (same rule)
    mid = nbexplain.attribute(mlp, x, "integrated_gradients", target=1,
                              **{**kw, "steps": counts[0]})
    np.testing.assert_allclose(seen[0].values, mid.values, rtol=1e-5, atol=1e-7)


def test_ig_single_example_and_an_explicit_start(mlp):
    x = np.random.default_rng(1).normal(size=5).astype(np.float32)
    seen = list(nbexplain.attribute_progressive(mlp, x, "integrated_gradients", target=2,
                                                steps=17, start_steps=3,
                                                rule="riemann_trapezoid"))
    assert [a.extras["steps"] for a in seen] == [3, 5, 9, 17]
    assert seen[-1].values.shape == (5,) and np.ndim(seen[-1].delta) == 0
    assert seen[-1].target == 2


def test_shapley_estimates_narrow_and_end_at_attribute():
    w = np.array([1.0, -2.0, 0.5, 3.0, 0.0, 1.5])

    def f(z):
        z = np.asarray(z)
        return np.tanh(z @ w)[:, None] + (z[:, 0] * z[:, 1])[:, None]

    x = np.random.default_rng(2).normal(size=(1, 6))
    exact = nbexplain.attribute(f, x, "shapley", target=0, baseline=0.0, estimator="exact")
    seen = list(nbexplain.attribute_progressive(f, x, "shapley", target=0, baseline=0.0,
                                                estimator="permutation", samples=2400,
                                                seed=3, chunk=8))
    assert len(seen) > 3 and seen[-1].extras["done"] and not seen[0].extras["done"]
    # feature 4 is a dummy: constant, so unknown until the last estimate confirms it
    live = [0, 1, 2, 3, 5]
    widths = [np.max((a.extras["ci_high"] - a.extras["ci_low"])[:, live]) for a in seen]
    assert np.all(np.isfinite(widths)) and widths[-1] < 0.5 * widths[0]
    assert np.isinf(seen[0].extras["stderr"][0, 4])
    assert last_is_exact_dummy(seen[-1])
    last = seen[-1]
    ref = nbexplain.attribute(f, x, "shapley", target=0, baseline=0.0,
                              estimator="permutation", samples=2400, seed=3)
    np.testing.assert_allclose(last.values, ref.values, rtol=1e-12, atol=1e-14)
    inside = (last.extras["ci_low"] <= exact.extras["group_values"]) & (
        exact.extras["group_values"] <= last.extras["ci_high"])
    assert inside.mean() >= 0.8
    # the budget, plus the dummy's confirmation: 2 evaluations at each of 4 to 12 coalitions
    assert last.extras["evaluations"] - last.extras["budget"] in range(8, 25, 2)


def last_is_exact_dummy(a) -> bool:
    return a.extras["stderr"][0, 4] == 0 and a.extras["group_values"][0, 4] == 0


@pytest.mark.parametrize("kw,match", [
    ({"method": "saliency"}, "no progressive form"),
    ({"rule": "gausslegendre", "start_steps": 4}, "refines by doubling"),
    ({"steps": 51, "rule": "riemann_left", "start_steps": 4}, "does not reach steps=51"),
    ({"steps": 33, "start_steps": 4, "rule": "riemann_trapezoid"}, "does not reach steps=33"),
    ({"steps": 2.5}, "whole number"),
    ({"n_steps": 8}, "n_steps= is called steps="),
    ({"progress_bar": False}, "unknown option"),
])
def test_progressive_errors_name_the_fix(mlp, kw, match):
    x = np.ones((1, 5), np.float32)
    kw = {"method": "integrated_gradients", **kw}
    with pytest.raises(NBExplainError, match=match):
        next(nbexplain.attribute_progressive(mlp, x, target=0, **kw))


def test_keras_refinements_end_at_attribute():
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="softplus"),
                          keras.layers.Dense(3)])
    x = np.random.default_rng(0).normal(size=(2, 5)).astype(np.float32)
    seen = list(nbexplain.attribute_progressive(m, x, "integrated_gradients", target=1,
                                                steps=17, rule="riemann_trapezoid"))
    assert [a.extras["steps"] for a in seen] == [5, 9, 17]
    ref = nbexplain.attribute(m, x, "integrated_gradients", target=1, steps=17,
                              rule="riemann_trapezoid")
    np.testing.assert_allclose(seen[-1].values, ref.values, rtol=1e-5, atol=1e-6)


def test_leaving_the_loop_early_keeps_the_callers_grad_mode(mlp):
    x = np.ones((1, 5), np.float32)
    with torch.no_grad():
        it = nbexplain.attribute_progressive(mlp, x, "integrated_gradients", target=0)
        next(it)
    assert torch.is_grad_enabled()
    it.close()                       # closed at its yield: nothing to undo
    del it
    assert torch.is_grad_enabled()
