"""Fixes from a new-user review of the gradient methods: SmoothGrad's noise is the same for a
torch model and its Keras twin (numpy draws from the seed, in N×C×H×W order), draws= is
checked, True/False options take only bools, and uint8 images for a float torch model get the
dtype named as the problem by every method."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import nbexplain  # noqa: E402
from nbexplain import NBExplainError  # noqa: E402

from parity_models import cnn_pair, mlp_pair  # noqa: E402


def _x(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


@pytest.mark.parametrize("base, kw", [("saliency", {}), ("input_x_gradient", {}),
                                      ("integrated_gradients", {"steps": 6}),
                                      ("grad_cam", {"layer": "conv2"})])
def test_smoothgrad_same_seed_same_noise_in_torch_and_keras(base, kw):
    pytest.importorskip("keras")
    tm, km, to_keras = cnn_pair()
    x = _x((2, 3, 32, 32))
    opts = dict(target=[1, 2], base=base, samples=4, noise=0.2, seed=7, **kw)
    a = nbexplain.attribute(tm, x, "smoothgrad", **opts).values
    b = nbexplain.attribute(km, to_keras(x), "smoothgrad", **opts).values
    if a.ndim == 4:
        b = np.transpose(b, (0, 3, 1, 2))
    assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max()


def test_smoothgrad_noise_is_numpy_default_rng_in_nchw_order():
    """Independent truth: the average of torch.autograd gradients over x + σ·ε, ε drawn by
    numpy's default_rng(seed) as (N, samples, C, H, W), σ = noise·(max − min) per example."""
    tm, _, _ = cnn_pair()
    x = _x((2, 3, 32, 32), seed=1)
    samples, noise, seed, tgt = 5, 0.1, 3, [0, 2]
    got = nbexplain.attribute(tm, x, "smoothgrad", target=tgt, base="saliency", abs=False,
                              samples=samples, noise=noise, seed=seed).values
    eps = np.random.default_rng(seed).standard_normal((2, samples, 3, 32, 32), dtype=np.float32)
    sigma = noise * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))
    want = np.zeros_like(x)
    for k in range(samples):
        xi = torch.from_numpy(x + sigma[:, None, None, None] * eps[:, k]).requires_grad_(True)
        out = tm(xi)
        (g,) = torch.autograd.grad(out[torch.arange(2), torch.tensor(tgt)].sum(), xi)
        want += g.numpy() / samples
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())


def test_smoothgrad_seed_none_draws_afresh_and_a_seed_repeats():
    tm, _, _ = mlp_pair()
    x = _x((3, 10))
    runs = [nbexplain.attribute(tm, x, "smoothgrad", target=0, samples=3, seed=s).values
            for s in (None, None, 4, 4)]
    assert not np.array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[2], runs[3])


def test_smoothgrad_draws_are_checked():
    tm, _, _ = mlp_pair()
    x = _x((2, 10))
    bad = np.zeros((2, 3, 10), np.float32)
    bad[0, 1, 2] = np.nan
    with pytest.raises(NBExplainError, match="draws contains NaN or infinite values"):
        nbexplain.attribute(tm, x, "smoothgrad", target=0, samples=3, draws=bad)
    ok = np.zeros((2, 3, 10), np.float32)
    for extra, word in [({"noise": 0.9}, "noise=0.9"), ({"seed": 123}, "seed=123"),
                        ({"seed": None}, "seed=None")]:
        with pytest.raises(NBExplainError, match=f"draws= is the noise itself; {word}"):
            nbexplain.attribute(tm, x, "smoothgrad", target=0, samples=3, draws=ok, **extra)
    # zero draws: the base method itself
    np.testing.assert_allclose(
        nbexplain.attribute(tm, x, "smoothgrad", target=0, samples=3, draws=ok).values,
        nbexplain.attribute(tm, x, "saliency", target=0).values, rtol=1e-6)


@pytest.mark.parametrize("method, opt, value", [
    ("smoothgrad", "vargrad", "no"), ("saliency", "abs", "False"),
    ("grad_cam", "relu", "no"), ("grad_cam", "upsample", None),
    ("grad_cam_pp", "relu", 0), ("integrated_gradients", "progress_bar", "yes"),
])
def test_true_false_options_take_only_bools(method, opt, value):
    tm, _, _ = cnn_pair()
    x = _x((1, 3, 32, 32))
    with pytest.raises(NBExplainError, match=f"{opt}={value!r}; use True or False"):
        nbexplain.attribute(tm, x, method, target=0, **{opt: value})


def test_numpy_bools_are_bools():
    tm, _, _ = cnn_pair()
    x = _x((1, 3, 32, 32))
    a = nbexplain.attribute(tm, x, "saliency", target=0, abs=np.bool_(False)).values
    b = nbexplain.attribute(tm, x, "saliency", target=0, abs=False).values
    np.testing.assert_array_equal(a, b)
    assert (a < 0).any()
    nbexplain.attribute(tm, x, "integrated_gradients", target=0, steps=4, progress_bar=None)


@pytest.mark.parametrize("method", ["occlusion", "shapley", "lime"])
def test_uint8_images_for_a_float_torch_model_name_the_dtype(method):
    tm, _, _ = cnn_pair()
    x = (_x((2, 3, 32, 32)) * 255).astype(np.uint8)
    with pytest.raises(NBExplainError, match=r"integer dtype uint8.*x\.astype\('float32'\)"):
        nbexplain.attribute(tm, x, method, target=1)
