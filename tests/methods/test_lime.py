"""LIME: exact recovery on linear models, agreement with an independent weighted fit, a constant
model fitted exactly, and bad options refused."""

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError
from nbexplain.methods.lime import cosine_kernel, lime_masks

from conftest import assert_same_state, model_state_snapshot


def test_recovers_linear_model_coefficients_with_baseline():
    rng = np.random.default_rng(0)
    m = 8
    w = rng.normal(size=m)
    x, b = rng.normal(size=(3, m)), rng.normal(size=m)
    a = nbexplain.attribute(lambda z: z @ w - 0.7, x, "lime", baseline=b, samples=200)
    np.testing.assert_allclose(a.values, w * (x - b), atol=1e-9)
    np.testing.assert_allclose(a.extras["r2"], 1.0, atol=1e-12)
    # intercept = the model at the all-off mask (the baseline)
    np.testing.assert_allclose(a.extras["intercept"], b @ w - 0.7, atol=1e-9)


def test_recovers_torch_linear_model_with_background_and_groups():
    torch.manual_seed(0)
    lin = torch.nn.Linear(6, 3).double()
    w = lin.weight.detach().numpy()
    rng = np.random.default_rng(1)
    x, bg = rng.normal(size=(1, 6)), rng.normal(size=(5, 6))
    before = model_state_snapshot(lin)
    a = nbexplain.attribute(lin, x, "lime", target=2, background=bg, samples=300,
                            features={"first": [0, 1, 2]})
    assert_same_state(before, model_state_snapshot(lin))
    contrib = w[2] * (x[0] - bg.mean(0))
    expected = np.concatenate([[contrib[:3].sum()], contrib[3:]])
    np.testing.assert_allclose(a.extras["group_values"][0], expected, atol=1e-9)
    assert a.extras["feature_names"] == ["first", "x3", "x4", "x5"]
    np.testing.assert_allclose(a.values[0, :3], expected[0], atol=1e-9)


def test_matches_an_independent_weighted_regression():
    sklearn_lm = pytest.importorskip("sklearn.linear_model")
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(2)
    m = 7
    w1 = rng.normal(size=(m, 5))

    def f(z):
        return np.tanh(z @ w1).sum(1) + z[:, 0] * z[:, 3]

    x, b = rng.normal(size=(1, m)), rng.normal(size=(1, m))
    a = nbexplain.attribute(f, x, "lime", baseline=b, samples=400, seed=3, kernel_width=0.4)
    z = lime_masks(m, 400, 3)
    assert z[0].all()
    y = f(np.where(z, x, b))
    d = 1 - np.sqrt(z.sum(1) / m)                            # cosine distance to all-ones
    weights = np.exp(-d ** 2 / 0.4 ** 2)
    np.testing.assert_allclose(cosine_kernel(z, 0.4), weights)
    lm = sklearn_lm.LinearRegression().fit(z.astype(float), y, sample_weight=weights)
    np.testing.assert_allclose(a.extras["group_values"][0], lm.coef_, atol=1e-8)
    np.testing.assert_allclose(a.extras["intercept"][0], lm.intercept_, atol=1e-8)
    r2 = r2_score(y, lm.predict(z.astype(float)), sample_weight=weights)
    np.testing.assert_allclose(a.extras["r2"][0], r2, atol=1e-10)
    assert 0 < r2 < 1


def test_seeded_and_ridge():
    rng = np.random.default_rng(4)
    w = rng.normal(size=(6, 4))

    def f(z):
        return np.sin(z @ w).sum(1)

    x = rng.normal(size=(1, 6))
    a1 = nbexplain.attribute(f, x, "lime", seed=1, samples=300)
    a2 = nbexplain.attribute(f, x, "lime", seed=1, samples=300)
    a3 = nbexplain.attribute(f, x, "lime", seed=2, samples=300)
    np.testing.assert_array_equal(a1.values, a2.values)
    assert not np.allclose(a1.values, a3.values)
    ridge = nbexplain.attribute(f, x, "lime", seed=1, samples=300, alpha=50.0)
    assert np.abs(ridge.values).sum() < np.abs(a1.values).sum()     # shrinks


def test_bad_input():
    f = lambda z: z.sum(1)  # noqa: E731
    x = np.ones((1, 10))
    with pytest.raises(NBExplainError, match="cannot determine"):
        nbexplain.attribute(f, x, "lime", samples=5)
    with pytest.raises(NBExplainError, match="kernel_width"):
        nbexplain.attribute(f, x, "lime", kernel_width=0)
    with pytest.raises(NBExplainError, match="unknown option"):
        nbexplain.attribute(f, x, "lime", kernel=0.3)
    with pytest.raises(NBExplainError, match="background has shape"):
        nbexplain.attribute(f, x, "lime", background=np.zeros((3, 4)))


def test_lime_on_a_constant_model_and_bad_widths():
    x = np.random.default_rng(0).normal(size=(2, 5))
    a = nbexplain.attribute(lambda z: np.full(len(z), 3.0), x, "lime", target=0, samples=64)
    np.testing.assert_allclose(a.extras["group_values"], 0.0, atol=1e-9)
    np.testing.assert_array_equal(a.extras["r2"], 1.0)
    f = lambda z: z @ np.arange(1.0, 6.0)  # noqa: E731
    for bad in (0.0, float("nan"), "x", -1.0):
        with pytest.raises(NBExplainError, match="kernel_width="):
            nbexplain.attribute(f, x, "lime", kernel_width=bad, samples=64)
    with pytest.raises(NBExplainError, match="effective samples"):
        nbexplain.attribute(f, x, "lime", kernel_width=0.01, samples=64)
    with pytest.raises(NBExplainError, match="samples=None"):
        nbexplain.attribute(f, x, "lime", samples=None)
    ok = nbexplain.attribute(f, x, "lime", samples=64)           # linear: recovered exactly
    np.testing.assert_allclose(ok.extras["group_values"], x * np.arange(1.0, 6.0), rtol=1e-8)
    np.testing.assert_allclose(ok.extras["r2"], 1.0)
