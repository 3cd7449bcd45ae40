"""One API for both frameworks: a torch model and a Keras model with the same weights give the
same attributions (within 1e-4 relative to the largest value) for every method, random
baselines included (the uniform IG baseline is drawn in one layout for both)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import nbexplain  # noqa: E402

from parity_models import cnn_pair, mlp_pair, seq_pair  # noqa: E402

TOL = 1e-4


def close(a, b, what):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.abs(b).max(), 1e-12)
    err = np.abs(a - b).max() / scale
    assert err <= TOL, f"{what}: relative difference {err:.2e} > {TOL}"


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    return {
        "cnn": (*cnn_pair(), rng.random((3, 3, 32, 32)).astype(np.float32)),
        "mlp": (*mlp_pair(), rng.normal(size=(4, 10)).astype(np.float32)),
        "seq": (*seq_pair(), rng.normal(size=(3, 12, 5)).astype(np.float32)),
    }


def to_torch_layout(values, kind):
    return np.transpose(values, (0, 3, 1, 2)) if kind == "cnn" and values.ndim == 4 else values


METHODS = [
    ("saliency", {}),
    ("saliency", {"abs": False}),
    ("input_x_gradient", {}),
    ("integrated_gradients", {"steps": 24, "rule": "gausslegendre"}),
    ("integrated_gradients", {"steps": 16, "rule": "riemann_trapezoid", "baseline": "black"}),
    ("occlusion", {}),
]


@pytest.mark.parametrize("kind", ["cnn", "mlp", "seq"])
@pytest.mark.parametrize("method, opts", METHODS)
def test_same_attributions_in_torch_and_keras(pairs, kind, method, opts):
    tm, km, to_keras, x = pairs[kind]
    topts, kopts = dict(opts), dict(opts)
    if method == "occlusion" and kind == "cnn":
        topts.update(window=(3, 4, 4), stride=(3, 4, 4))
        kopts.update(window=(4, 4, 3), stride=(4, 4, 3))
    elif method == "occlusion" and kind == "seq":
        topts.update(window=(2, 5), stride=(1, 5))
        kopts.update(window=(2, 5), stride=(1, 5))
    t = nbexplain.attribute(tm, x, method, target="predicted", **topts)
    k = nbexplain.attribute(km, to_keras(x), method, target="predicted", **kopts)
    np.testing.assert_array_equal(t.target, k.target)
    close(to_torch_layout(k.values, kind), t.values, f"{method} {kind}")
    if t.delta is not None:
        np.testing.assert_allclose(k.delta, t.delta, atol=TOL * max(1.0, np.abs(t.values).sum()))


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_pp"])
@pytest.mark.parametrize("upsample", [True, False])
def test_grad_cam_parity(pairs, method, upsample):
    tm, km, to_keras, x = pairs["cnn"]
    t = nbexplain.attribute(tm, x, method, target=[0, 3, 7], layer="conv2", upsample=upsample)
    k = nbexplain.attribute(km, to_keras(x), method, target=[0, 3, 7], layer="conv2",
                            upsample=upsample)
    assert t.values.shape == k.values.shape
    close(k.values, t.values, method)
    auto_t = nbexplain.attribute(tm, x, method, target=1)
    auto_k = nbexplain.attribute(km, to_keras(x), method, target=1)
    assert auto_t.extras["layer"] == auto_k.extras["layer"] == "conv2"
    close(auto_k.values, auto_t.values, method + " auto layer")


def test_smoothgrad_parity_with_shared_draws(pairs):
    tm, km, to_keras, x = pairs["cnn"]
    n = 5
    draws = np.random.default_rng(3).normal(0, 0.1, size=(3, n) + x.shape[1:]).astype(np.float32)
    kdraws = np.transpose(draws, (0, 1, 3, 4, 2))
    for base in ["saliency", "integrated_gradients"]:
        opts = {"steps": 8} if base == "integrated_gradients" else {}   # options of the base
        t = nbexplain.attribute(tm, x, "smoothgrad", base=base, samples=n, draws=draws, target=2,
                                **opts)
        k = nbexplain.attribute(km, to_keras(x), "smoothgrad", base=base, samples=n,
                                draws=kdraws, target=2, **opts)
        close(to_torch_layout(k.values, "cnn"), t.values, f"smoothgrad({base})")


@pytest.mark.parametrize("method, opts", [
    ("saliency", {}), ("input_x_gradient", {}), ("integrated_gradients", {"steps": 16}),
    ("smoothgrad", {"samples": 8, "noise": 0.05}), ("occlusion", {"window": (1, 1, 1)}),
])
def test_planted_pixel_in_keras_nhwc(method, opts):
    """The Keras layout (N, H, W, C): the maximum lands on the one position the output uses."""
    import keras
    import tensorflow as tf

    index = (4, 6, 1)  # h, w, c
    inp = keras.Input((7, 9, 3))
    v = keras.layers.Lambda(lambda t: t[:, index[0], index[1], index[2]])(inp)
    out = keras.layers.Lambda(lambda s: tf.stack([tf.tanh(s) * 1.5 + s ** 2, -0.7 * s], 1))(v)
    km = keras.Model(inp, out)
    x = np.random.default_rng(0).random((2, 7, 9, 3)).astype(np.float32) + 0.5
    a = nbexplain.attribute(km, x, method, target=0, **opts).values
    for i in range(2):
        flat = np.abs(a[i]).ravel()
        assert np.unravel_index(flat.argmax(), a[i].shape) == index
        assert np.sum(flat > 1e-6 * flat.max()) == 1


def test_uniform_baseline_is_the_same_for_keras_and_torch_twins():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    tm = nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    i = keras.Input((8, 8, 3))
    kc = keras.layers.Conv2D(4, 3, padding="same", activation="relu")
    kd = keras.layers.Dense(2)
    km = keras.Model(i, kd(keras.layers.GlobalAveragePooling2D()(kc(i))))
    kc.set_weights([conv.weight.detach().numpy().transpose(2, 3, 1, 0),
                    conv.bias.detach().numpy()])
    kd.set_weights([tm[4].weight.detach().numpy().T, tm[4].bias.detach().numpy()])
    x = np.random.default_rng(2).random((2, 3, 8, 8)).astype("float32")
    a = nbexplain.attribute(tm, torch.tensor(x), "integrated_gradients", target=1,
                            baseline="uniform", seed=3, steps=16)
    b = nbexplain.attribute(km, np.transpose(x, (0, 2, 3, 1)), "integrated_gradients",
                            target=1, baseline="uniform", seed=3, steps=16)
    # before: 0.26 apart (the noise was drawn in each framework's own layout)
    np.testing.assert_allclose(np.transpose(b.values, (0, 3, 1, 2)), a.values, rtol=1e-4,
                               atol=1e-5 * float(np.abs(a.values).max()))
