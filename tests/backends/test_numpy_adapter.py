"""NumpyAdapter: selection, outputs and targets, ops against torch, perturbation methods."""

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError
from nbexplain.backends import get_adapter
from nbexplain.backends.numpy import NumpyAdapter


def test_plain_callables_get_the_numpy_adapter():
    ad = get_adapter(lambda z: z.sum(1))
    assert isinstance(ad, NumpyAdapter) and ad.framework == "numpy"
    assert not ad.supports_gradients


def test_predict_scores_targets():
    w = np.arange(12.0).reshape(4, 3)
    ad = NumpyAdapter(lambda z: z @ w)
    x = ad.as_tensor(np.eye(4)[:3])
    out = ad.predict(x, batch_size=2)
    np.testing.assert_allclose(out, w[:3])
    tgt = ad.resolve_target("predicted", x)
    np.testing.assert_array_equal(tgt, [2, 2, 2])
    np.testing.assert_allclose(ad.scores(x, np.array([0, 1, 2]), batch_size=1), [0, 4, 8])
    np.testing.assert_allclose(ad.scores(x, lambda o: o[:, 1] * 2), 2 * w[:3, 1])
    with pytest.raises(NBExplainError, match="out of range"):
        ad.resolve_target(3, x)
    with pytest.raises(NBExplainError, match="one score per example"):
        ad.scores(x, lambda o: o)
    one = NumpyAdapter(lambda z: z.sum(1))
    np.testing.assert_array_equal(one.resolve_target(None, x), [0, 0, 0])
    np.testing.assert_allclose(one.scores(x, np.zeros(3, np.int64)), [1, 1, 1])


def test_probability_score_and_outputs():
    logits = np.array([[1.0, 2.0, 0.5]])
    ad = NumpyAdapter(lambda z: logits.repeat(len(z), 0), score="probability")
    p = ad.predict(np.zeros((2, 2)))
    np.testing.assert_allclose(p[0], np.exp(logits[0]) / np.exp(logits[0]).sum())
    tup = NumpyAdapter(lambda z: (z.sum(1), z * 2))
    with pytest.raises(NBExplainError, match="output=<index>"):
        tup.predict(np.ones((2, 3)))
    np.testing.assert_allclose(NumpyAdapter(lambda z: (z.sum(1), z * 2), output=1)
                               .predict(np.ones((2, 3))), 2 * np.ones((2, 3)))
    d = NumpyAdapter(lambda z: {"a": z.sum(1)}, output="a")
    np.testing.assert_allclose(d.predict(np.ones((2, 3))), [3, 3])
    with pytest.raises(NBExplainError, match="dict with keys"):
        NumpyAdapter(lambda z: {"a": z}).predict(np.ones((2, 3)))
    with pytest.raises(NBExplainError, match="one row of scores per example"):
        NumpyAdapter(lambda z: z.sum(0)).predict(np.ones((2, 3)))


def test_input_checks_and_gradient_methods_refused():
    f = lambda z: z.sum(1)  # noqa: E731
    x = np.ones((1, 4))
    x[0, 1] = np.nan
    with pytest.raises(NBExplainError, match="NaN"):
        nbexplain.attribute(f, x, "occlusion")
    with pytest.raises(NBExplainError, match="no gradients"):
        nbexplain.attribute(f, np.ones((1, 4)), "saliency")
    with pytest.raises(NBExplainError, match="not callable"):
        NumpyAdapter(3)


def test_dtypes_are_kept():
    ad = NumpyAdapter(lambda z: z.sum(1))
    assert ad.as_tensor(np.ones(3, np.float32)).dtype == np.float32
    assert ad.as_tensor(np.ones(3, np.float64)).dtype == np.float64
    assert ad.as_tensor(np.ones(3, np.int64)).dtype == np.int64
    assert ad.as_tensor(torch.ones(2)).dtype == np.float32


def test_ops_agree_with_torch_adapter():
    from nbexplain.backends.torch import TorchAdapter

    tad = TorchAdapter(torch.nn.Identity())
    nad = NumpyAdapter(lambda z: z)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 3, 5, 4)).astype(np.float32)
    ta = tad.as_tensor(a)
    mask = rng.random(a.shape) < 0.5

    def same(x, y, tol=1e-6):
        np.testing.assert_allclose(nad.to_numpy(x), tad.to_numpy(y), atol=tol)

    same(nad.repeat(a, 3), tad.repeat(ta, 3))
    same(nad.take(a, np.array([1, 0, 1])), tad.take(ta, np.array([1, 0, 1])))
    same(nad.where(mask, a, 0 * a), tad.where(mask, ta, 0 * ta))
    same(nad.reduce(a, "max", (2, 3)), tad.reduce(ta, "max", (2, 3)))
    same(nad.reduce(a, "mean", 1, keepdims=True), tad.reduce(ta, "mean", 1, keepdims=True))
    same(nad.relu(a), tad.relu(ta))
    same(nad.weights([1, 2], 4) * a, tad.weights([1, 2], 4) * ta)
    same(nad.resize(a, (9, 7)), tad.resize(ta, (9, 7)), tol=1e-5)
    same(nad.resize(a, (3, 2)), tad.resize(ta, (3, 2)), tol=1e-5)


def test_occlusion_same_on_numpy_and_torch():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.Tanh(),
                              torch.nn.Linear(4, 2)).double().eval()

    def f(z):
        with torch.no_grad():
            return net(torch.as_tensor(z)).numpy()

    x = np.random.default_rng(1).normal(size=(3, 6))
    a = nbexplain.attribute(net, x, "occlusion", target=1, window=2)
    b = nbexplain.attribute(f, x, "occlusion", target=1, window=2)
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)
