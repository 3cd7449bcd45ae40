"""SmoothGrad and VarGrad: Captum's NoiseTunnel given the same draws; the noise drawn by
numpy's default_rng(seed) in N×C×H×W order, so the same for a torch model and its Keras twin,
and afresh when seed=None; draws= checked, and setting the sample count; VarGrad of a constant
gradient exactly 0; Integrated Gradients as the base, seeded.

Truths: Captum, the average of torch.autograd gradients over x + σ·ε computed here, the torch
model's Keras twin, and the constant gradient of a linear model.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import nbexplain  # noqa: E402
from nbexplain import NBExplainError  # noqa: E402

from parity_models import cnn_pair, mlp_pair  # noqa: E402
# the fixtures cnn and xb come from the plugin torch_cnn
from torch_cnn import rel_err  # noqa: E402
from toys import _x  # noqa: E402


# --- agreement with Captum --------------------------------------------------------------------
@pytest.mark.parametrize("base", ["saliency", "input_x_gradient"])
def test_smoothgrad_matches_captum_noise_tunnel_given_same_draws(cnn, xb, base):
    from captum.attr import InputXGradient, NoiseTunnel, Saliency

    n, stdev = 6, 0.2
    torch.manual_seed(123)
    draws = torch.normal(0, torch.tensor(stdev).repeat((4 * n,) + tuple(xb.shape[1:])))
    torch.manual_seed(123)
    algo = Saliency(cnn) if base == "saliency" else InputXGradient(cnn)
    theirs = NoiseTunnel(algo).attribute(xb, nt_type="smoothgrad", nt_samples=n, stdevs=stdev,
                                         target=[1, 2, 3, 4])
    ours = nbexplain.attribute(cnn, xb, "smoothgrad", base=base, samples=n, target=[1, 2, 3, 4],
                               draws=draws.reshape((4, n) + tuple(xb.shape[1:])).numpy())
    assert rel_err(ours.values, theirs.detach().numpy()) <= 1e-5
    # VarGrad: the same draws, Captum's nt_type="vargrad"
    torch.manual_seed(123)
    theirs_v = NoiseTunnel(algo).attribute(xb, nt_type="vargrad", nt_samples=n, stdevs=stdev,
                                           target=[1, 2, 3, 4])
    ours_v = nbexplain.attribute(cnn, xb, "smoothgrad", base=base, samples=n, vargrad=True,
                                 target=[1, 2, 3, 4], batch_samples=4,
                                 draws=draws.reshape((4, n) + tuple(xb.shape[1:])).numpy())
    assert rel_err(ours_v.values, theirs_v.detach().numpy()) <= 1e-4


def test_smoothgrad_wraps_integrated_gradients_and_is_seeded(cnn, xb):
    a = nbexplain.attribute(cnn, xb[:2], "smoothgrad", base="integrated_gradients", samples=4,
                            steps=8, target=0, seed=5)
    b = nbexplain.attribute(cnn, xb[:2], "smoothgrad", base="integrated_gradients", samples=4,
                            steps=8, target=0, seed=5)
    c = nbexplain.attribute(cnn, xb[:2], "smoothgrad", base="integrated_gradients", samples=4,
                            steps=8, target=0, seed=6)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.allclose(a.values, c.values)
    with pytest.raises(NBExplainError, match="gradient methods"):
        nbexplain.attribute(cnn, xb, "smoothgrad", base="occlusion")


# --- the noise --------------------------------------------------------------------------------
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


def test_smoothgrad_seed_none_draws_afresh_and_a_seed_repeats():
    tm, _, _ = mlp_pair()
    x = _x((3, 10))
    runs = [nbexplain.attribute(tm, x, "smoothgrad", target=0, samples=3, seed=s).values
            for s in (None, None, 4, 4)]
    assert not np.array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[2], runs[3])


# --- draws= -----------------------------------------------------------------------------------
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


# --- VarGrad ----------------------------------------------------------------------------------
def test_vargrad_of_a_constant_gradient_is_zero_not_negative():
    torch.manual_seed(0)
    lin = nn.Linear(10, 3)
    with torch.no_grad():
        lin.weight.mul_(1000.0)
    x = torch.randn(3, 10)
    r = nbexplain.attribute(lin, x, "smoothgrad", target=1, vargrad=True, samples=50,
                            noise=0.1)
    # the gradient of a linear model is the same at every noisy copy: variance 0 (before:
    # values down to -0.0024, 9 of 30 negative)
    assert np.all(r.values == 0)


def test_smoothgrad_noise_is_drawn_per_chunk():
    """Memory follows the chunk (batch_samples), not the sample count: the host noise of 500
    samples of one image, traced by tracemalloc, peaks under twice one chunk's noise."""
    import tracemalloc

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                            torch.nn.Flatten(), torch.nn.Linear(4 * 64 * 64, 3)).eval()
    x = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    nbexplain.attribute(m, x, "smoothgrad", target=1, samples=4)   # probes done once
    chunk = 10 * x.nbytes
    tracemalloc.start()
    try:
        a = nbexplain.attribute(m, x, "smoothgrad", target=1, samples=500, batch_samples=10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.all(np.isfinite(a.values))
    assert peak < 2 * chunk, (peak, chunk)      # all 500 at once would be 50 chunks
