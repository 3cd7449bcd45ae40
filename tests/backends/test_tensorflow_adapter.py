"""The TensorFlow/Keras adapter: parity with torch on identical weights, analytic truth (a
hand-written tf.GradientTape), layer gradients for every way of building a Keras model, the
input layout read from the model (a leading Permute makes N×C×H×W inputs channels-first),
plain TF modules and functions, bad inputs with messages that name the fix, and no side
effects."""

import os
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import nbexplain  # noqa: E402
from nbexplain import NBExplainError  # noqa: E402
from nbexplain.backends import detect_framework, get_adapter  # noqa: E402
from nbexplain.backends.tensorflow import TensorFlowAdapter  # noqa: E402
from nbexplain.backends.torch import TorchAdapter  # noqa: E402

from parity_models import (INPUT_SHAPES, PAIRS, cnn_channels_first_pair,  # noqa: E402
                           cnn_pair)
from toys import X4, _tape_gradient  # noqa: E402

TOL = dict(rtol=1e-4, atol=1e-4)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def pairs():
    return {name: build() for name, build in PAIRS.items()}


@pytest.fixture(scope="module")
def cnn_styles(pairs):
    out = {"functional": pairs["cnn"]}
    for style in ("sequential", "lazy", "nested", "nested_seq"):
        out[style] = cnn_pair(style=style)
    return out


@pytest.fixture(scope="module")
def cf_pair():
    return cnn_channels_first_pair()


def _x(name, n, seed=0):
    return np.random.default_rng(seed).normal(size=(n,) + INPUT_SHAPES[name]).astype(np.float32)


def _keras_state(model):
    """Everything nbexplain promises not to touch on a Keras model."""
    layers = list(model._flatten_layers(include_self=True, recursive=True))
    return {
        "weights": [np.array(v.numpy(), copy=True) for v in model.weights],
        "paths": [v.path for v in model.weights],
        "var_trainable": [v.trainable for v in model.weights],
        "layer_trainable": [layer.trainable for layer in layers],
        "inbound_nodes": [len(layer._inbound_nodes) for layer in layers],
        "n_layers": len(layers),
        "built": model.built,
        "config": model.to_json(),
    }


def _assert_same_keras_state(before, after):
    assert before["paths"] == after["paths"]
    assert before["var_trainable"] == after["var_trainable"]
    assert before["layer_trainable"] == after["layer_trainable"]
    assert before["inbound_nodes"] == after["inbound_nodes"]
    assert before["n_layers"] == after["n_layers"]
    assert before["built"] == after["built"]
    assert before["config"] == after["config"]
    for a, b in zip(before["weights"], after["weights"]):
        np.testing.assert_array_equal(a, b)


# --- parity with torch on identical weights --------------------------------------------------
@pytest.mark.parametrize("name", ["mlp", "cnn", "seq"])
def test_parity_models_agree(pairs, name):
    tm, km, to_keras = pairs[name]
    x = _x(name, 5)
    with torch.no_grad():
        t_out = tm(torch.from_numpy(x)).numpy()
    k_out = km(to_keras(x)).numpy()
    assert k_out.shape == t_out.shape
    np.testing.assert_allclose(k_out, t_out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("use_abs", [True, False])
@pytest.mark.parametrize("name", ["mlp", "cnn", "seq"])
def test_saliency_parity_batch(pairs, name, use_abs):
    tm, km, to_keras = pairs[name]
    x = _x(name, 3, seed=1)
    tgt = [0, 2, 1]
    theirs = nbexplain.attribute(tm, x, method="saliency", target=tgt, abs=use_abs)
    ours = nbexplain.attribute(km, to_keras(x), method="saliency", target=tgt, abs=use_abs)
    assert ours.values.shape == to_keras(x).shape
    assert ours.extras["device"] == "CPU:0"
    np.testing.assert_allclose(ours.values, to_keras(theirs.values), **TOL)
    assert np.abs(ours.values).max() > 1e-3  # not trivially zero
    np.testing.assert_array_equal(ours.target, theirs.target)


@pytest.mark.parametrize("name", ["mlp", "cnn", "seq"])
def test_single_example_and_predicted_targets(pairs, name):
    tm, km, to_keras = pairs[name]
    x = _x(name, 4, seed=2)
    theirs = nbexplain.attribute(tm, x, target="predicted")
    ours = nbexplain.attribute(km, to_keras(x), target="predicted")
    np.testing.assert_array_equal(ours.target, theirs.target)
    np.testing.assert_allclose(ours.values, to_keras(theirs.values), **TOL)
    single = nbexplain.attribute(km, to_keras(x[1]), target="predicted")
    assert single.values.shape == to_keras(x[1]).shape
    assert single.extras["single"] is True
    assert single.target == int(theirs.target[1])
    np.testing.assert_allclose(single.values, ours.values[1], rtol=1e-5, atol=1e-7)
    chunked = nbexplain.attribute(km, to_keras(x), target="predicted", batch_size=3)
    np.testing.assert_allclose(chunked.values, ours.values, rtol=1e-5, atol=1e-7)


def test_linear_keras_saliency_is_abs_weight_column():
    dense = keras.layers.Dense(4, name="lin")
    km = keras.Sequential([keras.Input((6,)), dense])
    rng = np.random.default_rng(3)
    w = rng.normal(size=(6, 4)).astype(np.float32)
    dense.set_weights([w, rng.normal(size=4).astype(np.float32)])
    x = rng.normal(size=(3, 6)).astype(np.float32)
    a = nbexplain.attribute(km, x, method="saliency", target=[0, 2, 3])
    np.testing.assert_allclose(a.values, np.abs(w[:, [0, 2, 3]].T), rtol=1e-6)
    signed = nbexplain.attribute(km, x, target=1, abs=False)
    np.testing.assert_allclose(signed.values, np.broadcast_to(w[:, 1], (3, 6)), rtol=1e-6)
    assert a.layout == "tabular"


def test_probability_score_and_callable_target(pairs):
    _, km, to_keras = pairs["cnn"]
    x = tf.constant(to_keras(_x("cnn", 2, seed=4)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        p = tf.nn.softmax(km(x), -1)[:, 3]
    expected = tape.gradient(p, x).numpy()
    a = nbexplain.attribute(km, x, target=3, score="probability", abs=False)
    np.testing.assert_allclose(a.values, expected, rtol=1e-5, atol=1e-9)
    b = nbexplain.attribute(km, x, target=lambda out: out[:, 3] * 2.0, abs=False)
    lin = nbexplain.attribute(km, x, target=3, abs=False)
    np.testing.assert_allclose(b.values, 2 * lin.values, rtol=1e-6)
    assert callable(b.target)


@pytest.mark.parametrize("rule", ["riemann_trapezoid", "riemann_right", "gausslegendre"])
def test_ig_delta_is_sum_minus_end_scores(pairs, rule):
    # the compiled Keras path returns the scores at the path points; the end points' scores
    # must be the model's own f(x) and f(b)
    _, km, to_keras = pairs["cnn"]
    x = to_keras(_x("cnn", 3, seed=5))
    a = nbexplain.attribute(km, x, "integrated_gradients", target=[1, 2, 0], steps=7,
                            rule=rule, baseline=0.1)
    out_x, out_b = km(x).numpy(), km(np.full_like(x, 0.1)).numpy()
    idx = np.arange(3), np.array([1, 2, 0])
    want = a.values.reshape(3, -1).sum(1) - (out_x[idx] - out_b[idx])
    np.testing.assert_allclose(a.delta, want, rtol=1e-4, atol=1e-5)


_METHOD_CASES = {
    "saliency": {},
    "input_x_gradient": {},
    "integrated_gradients": dict(steps=16),
    "grad_cam": dict(layer="conv2"),
    "grad_cam_pp": dict(layer="conv2"),
    "occlusion": dict(window=8),
    "smoothgrad": dict(samples=4, batch_samples=3),  # same noise in both via draws=
}


@pytest.mark.parametrize("method", sorted(_METHOD_CASES))
def test_every_method_matches_torch_on_the_cnn_pair(pairs, method):
    tm, km, to_keras = pairs["cnn"]
    x = _x("cnn", 2, seed=12)
    opts_t, opts_k = dict(_METHOD_CASES[method]), dict(_METHOD_CASES[method])
    if method == "smoothgrad":
        draws = np.random.default_rng(0).normal(0, 0.3, size=(2, 4) + x.shape[1:])
        opts_t["draws"] = draws.astype(np.float32)
        opts_k["draws"] = np.transpose(draws, (0, 1, 3, 4, 2)).astype(np.float32)
    theirs = nbexplain.attribute(tm, x, method=method, target=[3, 8], **opts_t)
    ours = nbexplain.attribute(km, to_keras(x), method=method, target=[3, 8], **opts_k)
    expected = theirs.values if method.startswith("grad_cam") else to_keras(theirs.values)
    assert ours.values.shape == expected.shape
    scale = np.abs(expected).max()
    assert scale > 0
    # Grad-CAM++'s alpha = g²/(2g² + ΣA·g³) is ill-conditioned where the denominator nearly
    # cancels: float32 round-off in ΣA (different summation order) shows up as ~0.5 %.
    rtol = 1e-2 if method == "grad_cam_pp" else 1e-4
    np.testing.assert_allclose(ours.values, expected, rtol=rtol, atol=1e-4 * scale)
    if theirs.delta is not None:
        np.testing.assert_allclose(ours.delta, theirs.delta, rtol=1e-4, atol=1e-5)
    if method.startswith("grad_cam"):
        assert ours.extras["layer"] == theirs.extras["layer"] == "conv2"


# --- layer gradients ---------------------------------------------------------------------------
@pytest.mark.parametrize("style", ["functional", "sequential", "lazy", "nested", "nested_seq"])
def test_layer_gradients_parity_every_model_style(cnn_styles, style):
    tm, km, to_keras = cnn_styles[style]
    x = _x("cnn", 3, seed=5)
    tgt = np.array([1, 4, 7])
    ta = TorchAdapter(tm)
    t_layer, t_name = ta.find_layer(None, ta.as_tensor(x))
    assert t_name == "conv2"
    ts, tact, tgrad = ta.layer_gradients(ta.as_tensor(x), tgt, t_layer)

    ka = get_adapter(km)
    assert isinstance(ka, TensorFlowAdapter)
    k_layer, k_name = ka.find_layer(None)
    assert k_layer.name == "conv2"
    assert k_name == ("features/conv2" if style.startswith("nested") else "conv2")
    assert ka.find_layer("conv2")[0] is k_layer
    assert ka.find_layer(k_layer)[0] is k_layer
    ks, kact, kgrad = ka.layer_gradients(ka.as_tensor(to_keras(x)), tgt, k_layer)
    assert tuple(kact.shape) == (3, 30, 30, 16)
    np.testing.assert_allclose(ka.to_numpy(kact), to_keras(tact.numpy()), **TOL)
    np.testing.assert_allclose(ka.to_numpy(kgrad), to_keras(tgrad.numpy()), **TOL)
    np.testing.assert_allclose(ka.to_numpy(ks), ts.numpy(), **TOL)
    assert np.abs(ka.to_numpy(kgrad)).max() > 1e-4
    # the same layer again reuses the cached sub-model and gives the same answer
    ks2, kact2, _ = ka.layer_gradients(ka.as_tensor(to_keras(x)), tgt, k_layer)
    np.testing.assert_array_equal(ka.to_numpy(kact2), ka.to_numpy(kact))
    if style.startswith("nested"):  # the nested model itself as the layer: its output
        _, tact2, tgrad2 = ta.layer_gradients(ta.as_tensor(x), tgt, tm.relu2)
        feats, _ = ka.find_layer("features")
        _, kact3, kgrad3 = ka.layer_gradients(ka.as_tensor(to_keras(x)), tgt, feats)
        np.testing.assert_allclose(ka.to_numpy(kact3), to_keras(tact2.numpy()), **TOL)
        np.testing.assert_allclose(ka.to_numpy(kgrad3), to_keras(tgrad2.numpy()), **TOL)


def test_layer_gradients_sequential_without_graph():
    class NoSymbolic(keras.layers.Layer):  # Keras cannot build a graph through this layer
        def call(self, x):
            return x * 2.0

        def compute_output_spec(self, x):
            raise NotImplementedError

    conv = keras.layers.Conv2D(4, 3, name="c1")
    rest = [NoSymbolic(name="double"), keras.layers.Flatten(), keras.layers.Dense(3)]
    km = keras.Sequential([conv] + rest)
    x = tf.random.stateless_normal((2, 8, 8, 3), seed=(1, 2))
    km(x)
    assert getattr(km, "_functional", None) is None  # the case this test is about
    ad = TensorFlowAdapter(km)
    s, a, g = ad.layer_gradients(x, np.array([0, 2]), ad.find_layer("c1")[0])
    act = conv(x)
    with tf.GradientTape() as tape:
        tape.watch(act)
        h = act
        for layer in rest:
            h = layer(h)
        score = tf.gather(h, [0, 2], axis=1, batch_dims=1)
    np.testing.assert_allclose(a.numpy(), act.numpy(), rtol=1e-6)
    np.testing.assert_allclose(g.numpy(), tape.gradient(score, act).numpy(), rtol=1e-6)
    np.testing.assert_allclose(s.numpy(), score.numpy(), rtol=1e-6)


def test_subclassed_model_layer_methods_name_the_fix():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(4, 3, name="conv")
            self.flat = keras.layers.Flatten()
            self.fc = keras.layers.Dense(3)

        def call(self, x):
            return self.fc(self.flat(self.conv(x)))

    m = Sub()
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
    m(x)
    # input gradients work for subclassed models
    a = nbexplain.attribute(m, x, target=1)
    assert a.values.shape == x.shape
    ad = TensorFlowAdapter(m)
    layer, name = ad.find_layer("conv")
    with pytest.raises(NBExplainError, match="functional"):
        ad.layer_gradients(ad.as_tensor(x), np.array([0, 1]), layer)
    with pytest.raises(NBExplainError, match="functional"):
        ad.find_layer(None)


def test_channels_first_keras_model(cf_pair):
    tm, km, _ = cf_pair
    ad = get_adapter(km)
    assert ad.channels_first is True and ad.channel_axis(4) == 1 and ad.channel_axis(2) == 1
    x = np.random.default_rng(6).normal(size=(2, 3, 8, 8)).astype(np.float32)
    theirs = nbexplain.attribute(tm, x, target=[1, 3], abs=False)
    ours = nbexplain.attribute(km, x, target=[1, 3], abs=False)
    assert ours.channels_first is True
    np.testing.assert_allclose(ours.values, theirs.values, **TOL)
    layer, name = ad.find_layer(None)
    assert name == "conv"
    _, a, g = ad.layer_gradients(ad.as_tensor(x), np.array([1, 3]), layer)
    ta = TorchAdapter(tm)
    _, ta_a, ta_g = ta.layer_gradients(ta.as_tensor(x), np.array([1, 3]), tm.conv)
    np.testing.assert_allclose(a.numpy(), ta_a.numpy(), **TOL)
    np.testing.assert_allclose(g.numpy(), ta_g.numpy(), **TOL)
    # resize follows the layout (N, C, H, W)
    np.testing.assert_allclose(ad.resize(a, (16, 16)).numpy(),
                               ta.resize(ta_a, (16, 16)).numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(NBExplainError, match="N×C×H×W"):
        nbexplain.attribute(km, np.transpose(x, (0, 2, 3, 1)), target=0)


# --- the input layout, read from the layers ---------------------------------------------------
def test_keras_channels_first_that_contradicts_the_layers_is_refused():
    keras = pytest.importorskip("keras")
    i = keras.Input((10, 10, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", name="conv")(i)
    o = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(h))
    km = keras.Model(i, o)
    x = np.random.default_rng(0).random((2, 10, 10, 3), dtype=np.float32)
    # before: a (2, 10, 3) "map" from the wrong axes, and occlusion values 0.07 off
    with pytest.raises(NBExplainError, match=r"channels_first=True contradicts.*channels_last"):
        nbexplain.attribute(km, x, "grad_cam", target=1, channels_first=True)
    ok = nbexplain.attribute(km, x, "grad_cam", target=1, channels_first=False)
    assert ok.values.shape == (2, 10, 10)


def _permuted_and_plain():
    keras.utils.set_random_seed(0)
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c")
    pool, dense = keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)
    i = keras.Input((3, 8, 8))
    permuted = keras.Model(i, dense(pool(conv(keras.layers.Permute((2, 3, 1))(i)))))
    j = keras.Input((8, 8, 3))
    plain = keras.Model(j, dense(pool(conv(j))))          # the same layers, N×H×W×C input
    return permuted, plain


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_pp", "saliency", "occlusion"])
def test_a_leading_permute_makes_the_inputs_channels_first(method):
    permuted, plain = _permuted_and_plain()
    x = np.random.default_rng(1).normal(size=(2, 3, 8, 8)).astype("float32")
    a = nbexplain.attribute(permuted, x, method, target=0)
    b = nbexplain.attribute(plain, np.transpose(x, (0, 2, 3, 1)), method, target=0)
    assert a.channels_first
    truth = b.values if method.startswith("grad_cam") else np.transpose(b.values, (0, 3, 1, 2))
    # before: Grad-CAM maps of shape (2, 3, 8) (resized to C×H), occlusion windows (1, 1, 8)
    assert a.values.shape == truth.shape
    np.testing.assert_allclose(a.values, truth, rtol=1e-6, atol=1e-7)
    # and saying so is no longer refused as a contradiction
    c = nbexplain.attribute(permuted, x, method, target=0, channels_first=True)
    np.testing.assert_allclose(c.values, a.values, rtol=0, atol=0)


def test_a_permute_after_a_rescaling_or_inside_a_nested_model_is_found():
    keras.utils.set_random_seed(0)
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu")
    pool, dense = keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)
    scale = keras.layers.Rescaling(0.5)
    i = keras.Input((3, 10, 10))
    rescaled = keras.Model(i, dense(pool(conv(keras.layers.Permute((2, 3, 1))(scale(i))))))
    front = keras.Sequential([keras.Input((3, 10, 10)), keras.layers.Permute((2, 3, 1))])
    nested = keras.Sequential([keras.Input((3, 10, 10)), front, conv, pool, dense])
    j = keras.Input((10, 10, 3))
    plain = keras.Model(j, dense(pool(conv(scale(j)))))
    plain_nested = keras.Model(j, dense(pool(conv(j))))
    x = np.random.default_rng(1).normal(size=(2, 3, 10, 10)).astype("float32")
    xl = np.transpose(x, (0, 2, 3, 1))
    for model, twin in ((rescaled, plain), (nested, plain_nested)):
        a = nbexplain.attribute(model, x, "grad_cam", target=0)
        b = nbexplain.attribute(twin, xl, "grad_cam", target=0)
        assert a.values.shape == (2, 10, 10)       # was (2, 3, 10): C×H
        np.testing.assert_allclose(a.values, b.values, rtol=1e-6, atol=1e-7)


# --- array ops -----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(32, 32), (13, 9), (3, 4)])
def test_resize_parity_with_torch(pairs, size):
    m = np.random.default_rng(7).normal(size=(2, 1, 7, 5)).astype(np.float32)  # N C H W
    ta, ka = TorchAdapter(pairs["cnn"][0]), TensorFlowAdapter(pairs["cnn"][1])
    t = ta.resize(ta.as_tensor(m), size).numpy()
    k = ka.resize(ka.as_tensor(np.transpose(m, (0, 2, 3, 1))), size).numpy()
    assert k.shape == (2,) + size + (1,)
    np.testing.assert_allclose(k, np.transpose(t, (0, 2, 3, 1)), rtol=1e-5, atol=1e-5)
    k3 = ka.resize(ka.as_tensor(m[:, 0]), size).numpy()  # (N, H, W) maps
    np.testing.assert_allclose(k3, t[:, 0], rtol=1e-5, atol=1e-5)


def test_array_ops(pairs):
    ad = TensorFlowAdapter(pairs["cnn"][1])
    assert ad.device == "CPU:0" and ad.channels_first is False
    assert ad.channel_axis(4) == 3 and ad.channel_axis(3) == 2 and ad.channel_axis(2) == 1
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) - 11
    t = ad.as_tensor(x)
    assert t.dtype == tf.float32 and t.device.endswith("CPU:0")
    assert ad.as_tensor(np.array([[1, 2]])).dtype == tf.int64  # ints stay ints
    np.testing.assert_array_equal(ad.to_numpy(ad.repeat(t, 2)), np.repeat(x, 2, axis=0))
    np.testing.assert_array_equal(ad.to_numpy(ad.abs(t)), np.abs(x))
    np.testing.assert_array_equal(ad.to_numpy(ad.relu(t)), np.maximum(x, 0))
    for op, fn in [("sum", np.sum), ("mean", np.mean), ("max", np.max)]:
        np.testing.assert_allclose(ad.to_numpy(ad.reduce(t, op, (1, 2))), fn(x, axis=(1, 2)))
        np.testing.assert_allclose(ad.to_numpy(ad.reduce(t, op, 2, keepdims=True)),
                                   fn(x, axis=2, keepdims=True))
    np.testing.assert_array_equal(ad.to_numpy(ad.concat([t, t], 1)), np.concatenate([x, x], 1))
    np.testing.assert_array_equal(ad.to_numpy(ad.stack([t, t], 0)), np.stack([x, x]))
    np.testing.assert_array_equal(ad.to_numpy(ad.reshape(t, (4, 6))), x.reshape(4, 6))
    np.testing.assert_array_equal(ad.to_numpy(ad.zeros_like(t)), np.zeros_like(x))
    mask = x > 0
    np.testing.assert_array_equal(ad.to_numpy(ad.where(mask, t, ad.zeros_like(t))),
                                  np.where(mask, x, 0))
    w = ad.weights([1.0, 2.0], 3)
    assert tuple(w.shape) == (2, 1, 1) and w.dtype == tf.float32
    assert ad.weights([1.0], 2, like=tf.zeros((1,), tf.float64)).dtype == tf.float64
    np.testing.assert_array_equal(ad.to_numpy(ad.take(t, np.array([1, 0, 1]))), x[[1, 0, 1]])
    np.testing.assert_array_equal(ad.to_numpy(t * w), x * np.array([1, 2])[:, None, None])


# --- other model kinds -----------------------------------------------------------------------
def test_tf_module_and_plain_callable():
    rng = np.random.default_rng(8)
    w = rng.normal(size=(5, 3)).astype(np.float32)

    class Linear(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(w)
            self.b = tf.Variable(tf.zeros(3))

        def __call__(self, x):
            return tf.matmul(x, self.w) + self.b

    x = rng.normal(size=(4, 5)).astype(np.float32)
    mod = Linear()
    assert detect_framework(mod) == "tensorflow"
    a = nbexplain.attribute(mod, x, target=[0, 1, 2, 0])
    np.testing.assert_allclose(a.values, np.abs(w[:, [0, 1, 2, 0]].T), rtol=1e-6)
    assert get_adapter(mod).device == "CPU:0"

    def quad(t):  # f_0 = sum x^2, f_1 = sum 3x
        return tf.stack([tf.reduce_sum(t ** 2, 1), tf.reduce_sum(3 * t, 1)], 1)

    a = nbexplain.attribute(quad, x, target=0, abs=False, framework="tensorflow")
    # no variables: float inputs keep their dtype (as the torch adapter does)
    assert get_adapter(quad, "tensorflow").as_tensor(x.astype(np.float64)).dtype == tf.float64
    np.testing.assert_allclose(a.values, 2 * x, rtol=1e-6)
    b = nbexplain.attribute(tf.function(quad), x[0], target=1, abs=False)  # detected by type
    np.testing.assert_allclose(b.values, np.full(5, 3.0), rtol=1e-6)
    with pytest.raises(NBExplainError, match="Keras model"):
        get_adapter(quad, "tensorflow").find_layer(None)


def test_tf_module_with_conv_kernels_takes_one_hwc_image_without_crashing():
    """Probing a 3-axis slice hands tf.nn.conv2d a 3-axis tensor, which aborts the process:
    run in a child process so a regression cannot take the test run down with it."""
    code = textwrap.dedent("""
        import os; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import numpy as np, tensorflow as tf, nbexplain
        rng = np.random.RandomState(0)
        class M(tf.Module):
            def __init__(s):
                super().__init__(); s.k = tf.Variable(rng.randn(3, 3, 3, 4).astype(np.float32))
            def __call__(s, x):
                return tf.reduce_mean(tf.nn.conv2d(x, s.k, 1, "VALID"), axis=(1, 2))
        img = rng.rand(8, 8, 3).astype(np.float32)
        m = M()
        a = nbexplain.attribute(m, img, target=1)
        b = nbexplain.attribute(m, img, target=1, batched=False)
        assert a.values.shape == (8, 8, 3) and a.extras["single"], a.values.shape
        np.testing.assert_array_equal(a.values, b.values)
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), (r.returncode, r.stderr[-800:])


def test_plain_tf_function_asks_for_batched_on_a_3_axis_input():
    tf = pytest.importorskip("tensorflow")
    k = tf.constant(np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32))

    def f(x):
        return tf.reduce_mean(x @ k, axis=1)      # (N, T, D) -> (N, 2)

    x = np.random.default_rng(1).normal(size=(3, 6, 4)).astype(np.float32)
    with pytest.raises(NBExplainError, match=r"pass batched=True .* batched=False"):
        nbexplain.attribute(f, x, "saliency", target=0, framework="tensorflow")
    a = nbexplain.attribute(f, x, "saliency", target=0, framework="tensorflow", batched=True,
                            abs=False)
    # d mean_t (x_t @ k)[0] / d x_t = k[:, 0] / T
    np.testing.assert_allclose(a.values, np.broadcast_to(k.numpy()[:, 0] / 6, x.shape),
                               rtol=1e-6)


def test_multi_output_selection():
    inp = keras.Input((4,))
    h = keras.layers.Dense(3, name="logits")(inp)
    aux = keras.layers.Dense(2, name="aux")(inp)
    km_dict = keras.Model(inp, {"main": h, "aux": aux})
    km_list = keras.Model(inp, [h, aux])
    x = np.random.default_rng(9).normal(size=(2, 4)).astype(np.float32)
    w = km_dict.get_layer("logits").get_weights()[0]
    with pytest.raises(NBExplainError, match="output=<key>"):
        nbexplain.attribute(km_dict, x, target=0)
    a = nbexplain.attribute(km_dict, x, target=2, output="main", abs=False)
    np.testing.assert_allclose(a.values, np.broadcast_to(w[:, 2], (2, 4)), rtol=1e-6)
    with pytest.raises(NBExplainError, match=r"output=<index>"):
        nbexplain.attribute(km_list, x, target=0)
    b = nbexplain.attribute(km_list, x, target=2, output=0, abs=False)
    np.testing.assert_allclose(b.values, a.values, rtol=1e-6)
    c = nbexplain.attribute(km_list, x, target=2, output="logits", abs=False)  # by layer name
    np.testing.assert_allclose(c.values, a.values, rtol=1e-6)
    with pytest.raises(NBExplainError, match="does not select"):
        nbexplain.attribute(km_list, x, target=0, output=5)


# --- bad inputs -------------------------------------------------------------------------------
def test_nan_input_rejected(pairs):
    x = pairs["cnn"][2](_x("cnn", 1))
    x[0, 3, 4, 1] = np.nan
    with pytest.raises(NBExplainError, match="NaN"):
        nbexplain.attribute(pairs["cnn"][1], x)


def test_integer_tokens_rejected_for_gradients():
    km = keras.Sequential([keras.Input((3,), dtype="int32"), keras.layers.Embedding(10, 4),
                           keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(NBExplainError, match="integer"):
        nbexplain.attribute(km, np.array([[1, 2, 3]]), method="saliency")


def test_uint8_images_are_told_to_pass_floats():
    keras.utils.set_random_seed(0)
    i = keras.Input((8, 8, 3))
    h = keras.layers.Rescaling(1 / 255)(i)
    km = keras.Model(i, keras.layers.Dense(2)(keras.layers.Flatten()(h)))
    x = np.random.default_rng(0).integers(0, 256, size=(2, 8, 8, 3)).astype(np.uint8)
    with pytest.raises(NBExplainError, match=r"uint8.*x\.astype\('float32'\)"):
        nbexplain.attribute(km, x, "saliency", target=0)
    # the advice works: the gradient w.r.t. the pixel values through the Rescaling layer
    a = nbexplain.attribute(km, x.astype("float32"), "saliency", target=0, abs=False)
    np.testing.assert_allclose(a.values, _tape_gradient(km, x.astype("float32"), 0),
                               rtol=1e-6, atol=1e-10)


def test_keras_width_message_names_the_example_shape():
    keras = pytest.importorskip("keras")
    i = keras.Input((6,))
    lin = keras.Model(i, keras.layers.Dense(3)(i))
    with pytest.raises(NBExplainError, match=r"each example has shape \(7,\)"):
        nbexplain.attribute(lin, np.ones((2, 7), "float32"), "saliency", target=0)


def test_keras_model_takes_torch_tensors_that_require_grad():
    keras = pytest.importorskip("keras")
    inp = keras.Input((5,))
    dense = keras.layers.Dense(3)
    km = keras.Model(inp, dense(inp))
    xt = torch.randn(4, 5, requires_grad=True)
    a = nbexplain.attribute(km, xt, "saliency", target=1, abs=False)
    np.testing.assert_allclose(a.values, np.broadcast_to(np.asarray(dense.kernel)[:, 1],
                                                         (4, 5)), rtol=1e-6)
    b = nbexplain.attribute(km, [xt[0], xt[1]], "saliency", target=1, abs=False)
    assert b.values.shape == (2, 5)
    assert xt.grad is None


@pytest.mark.parametrize("bad, match", [
    (dict(target=10), "out of range"),
    (dict(target=[0, 1, 2]), "one per example"),
    (dict(target="biggest"), "unknown target"),
    (dict(target=lambda out: out[:, :2]), "one score per example"),
    (dict(target=lambda out: out[:, 0].numpy()), "must return a TensorFlow tensor.*one "
                                                  "score per row"),
    (dict(score="softmax"), "score="),
])
def test_bad_arguments(pairs, bad, match):
    _, km, to_keras = pairs["cnn"]
    with pytest.raises(NBExplainError, match=match):
        nbexplain.attribute(km, to_keras(_x("cnn", 2)), **bad)


def test_callable_target_returning_numpy():
    keras.utils.set_random_seed(0)
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])

    def numpy_target(out):
        return out.numpy()[:, 1] - out.numpy()[:, 0]

    with pytest.raises(NBExplainError, match="must return a TensorFlow tensor.*returned ndarray"):
        nbexplain.attribute(km, X4, "saliency", target=numpy_target)
    # no gradient flows through it in Shapley: taken, and exact for this linear model
    w, b = (v.numpy() for v in km.weights)
    a = nbexplain.attribute(km, X4, "shapley", target=numpy_target, baseline=0.0,
                            estimator="exact")
    np.testing.assert_allclose(a.values, X4 * (w[:, 1] - w[:, 0]), rtol=1e-5, atol=1e-6)
    # the same in torch
    lin = nn.Linear(4, 3)
    t = nbexplain.attribute(lin, torch.tensor(X4), "shapley", estimator="exact", baseline=0.0,
                            target=lambda out: out.numpy()[:, 2])
    wt = lin.weight.detach().numpy()[2]
    np.testing.assert_allclose(t.values, X4 * wt, rtol=1e-5, atol=1e-6)


def test_missing_layer_lists_conv_layers(pairs):
    ad = get_adapter(pairs["cnn"][1])
    with pytest.raises(NBExplainError, match=r"no layer named 'conv9'.*conv1.*conv2"):
        ad.find_layer("conv9")
    with pytest.raises(NBExplainError, match="not a layer of the model"):
        ad.find_layer(keras.layers.Conv2D(2, 3))


def test_tuple_output_without_selector():
    class Two(keras.Model):
        def __init__(self):
            super().__init__()
            self.lin = keras.layers.Dense(2)

        def call(self, x):
            y = self.lin(x)
            return y, y * 2

    x = np.random.default_rng(10).normal(size=(2, 3)).astype(np.float32)
    two = Two()
    with pytest.raises(NBExplainError, match=r"tuple of 2 outputs; pass output="):
        nbexplain.attribute(two, x, target=0)
    a0 = nbexplain.attribute(two, x, target=0, output=0, abs=False).values
    a1 = nbexplain.attribute(two, x, target=0, output=1, abs=False).values
    np.testing.assert_allclose(a1, 2 * a0, rtol=1e-6)


def test_disconnected_output_gradient_is_none():
    inp = keras.Input((4,))
    h = keras.layers.Lambda(lambda t: keras.ops.stop_gradient(t))(inp)
    km = keras.Model(inp, keras.layers.Dense(3)(h))
    x = np.ones((2, 4), np.float32)
    with pytest.raises(NBExplainError, match=r"gradient .* is None"):
        nbexplain.attribute(km, x, target=0)

    def via_numpy(t):  # leaves TensorFlow: the tape cannot follow
        return tf.constant(t.numpy() * 2.0)

    with pytest.raises(NBExplainError, match=r"gradient .* is None"):
        nbexplain.attribute(via_numpy, x, target=0, framework="tensorflow")
    # perturbation-style use (forward only) still works on such models
    assert get_adapter(via_numpy, "tensorflow").predict(x).shape == (2, 4)


def test_non_differentiable_output():
    def argmax_model(t):
        return tf.one_hot(tf.argmax(t, 1), 3, dtype=tf.int32)

    with pytest.raises(NBExplainError, match="not differentiable"):
        nbexplain.attribute(argmax_model, np.ones((2, 3), np.float32), target=0,
                            framework="tensorflow")


def test_wrong_layout_names_the_expected_one(pairs):
    _, km, _ = pairs["cnn"]
    x_nchw = _x("cnn", 2)
    with pytest.raises(NBExplainError, match=r"N×H×W×C.*np\.transpose\(x, \(0, 2, 3, 1\)\)"):
        nbexplain.attribute(km, x_nchw, target=0)
    with pytest.raises(NBExplainError, match="N×H×W×C"):
        nbexplain.attribute(km, x_nchw[0], target=0)  # single example, wrong layout


def test_unavailable_device():
    with pytest.raises(NBExplainError, match="not available"):
        TensorFlowAdapter(lambda t: t, device="GPU:7")
    assert TensorFlowAdapter(lambda t: t, device="cpu").device == "CPU:0"


# --- no side effects ---------------------------------------------------------------------------
def test_model_state_untouched_including_on_error():
    L = keras.layers
    inp = keras.Input((8, 8, 3))
    h = L.Conv2D(4, 3, name="conv")(inp)
    h = L.BatchNormalization(name="bn")(h)
    h = L.ReLU()(h)
    h = L.Dropout(0.5)(h)
    km = keras.Model(inp, L.Dense(3)(L.Flatten()(h)))
    bn = km.get_layer("bn")
    bn.set_weights([w + 0.5 for w in bn.get_weights()])  # non-trivial moving statistics
    km.get_layer("conv").trainable = False
    x = np.random.default_rng(11).normal(size=(3, 8, 8, 3)).astype(np.float32)
    before = _keras_state(km)
    out_before = km(x).numpy()

    nbexplain.attribute(km, x, target=1)
    ad = get_adapter(km)
    ad.layer_gradients(ad.as_tensor(x), np.array([0, 1, 2]), ad.find_layer(None)[0])
    with pytest.raises(NBExplainError):
        nbexplain.attribute(km, x, target=99)
    with pytest.raises(NBExplainError):  # raises inside the tape, mid-attribution
        nbexplain.attribute(km, x, target=lambda out: out[:, :2])
    with pytest.raises(NBExplainError):
        ad.layer_gradients(ad.as_tensor(x), lambda out: out, ad.find_layer("conv")[0])

    _assert_same_keras_state(before, _keras_state(km))
    np.testing.assert_array_equal(km(x).numpy(), out_before)  # dropout still off, BN frozen
    km.get_layer("conv").output  # still one graph node: no sub-model call was added
    assert km.get_layer("conv").trainable is False
