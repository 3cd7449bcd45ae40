"""Defects a new-user review of the TensorFlow/Keras path found, each checked against an
independent truth: a hand-written tf.GradientTape, the same model without the layer in
question, or the torch twin with the same weights."""

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import nbexplain  # noqa: E402
from nbexplain import NBExplainError  # noqa: E402

X4 = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")


def _tape_gradient(km, x, column):
    """d km(x)[:, column] / dx by a hand-written tf.GradientTape."""
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        s = km(xt)[:, column]
    return tape.gradient(s, xt).numpy()


def _softmax_head():
    keras.utils.set_random_seed(0)
    i = keras.Input((4,))
    h = keras.layers.Dense(8, activation="relu")(i)
    return keras.Model(i, keras.layers.Dense(3, activation="softmax")(h))


# --- score='probability' on a model that already returns probabilities -----------------------
def test_probability_score_refuses_a_keras_softmax_head():
    km = _softmax_head()
    # before: IG of softmax(probabilities), its sums a third of P(x) - P(0), no warning
    with pytest.raises(NBExplainError, match="already is probabilities.*ends in a softmax"):
        nbexplain.attribute(km, X4, "integrated_gradients", target=2, score="probability")
    # the fix the message names: the default score explains the probabilities themselves
    a = nbexplain.attribute(km, X4, "saliency", target=2, abs=False)
    np.testing.assert_allclose(a.values, _tape_gradient(km, X4, 2), rtol=1e-6, atol=1e-8)


def test_probability_score_refuses_sigmoid_heads_and_nested_softmax_models():
    keras.utils.set_random_seed(0)
    sig = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    with pytest.raises(NBExplainError, match="ends in a sigmoid"):
        nbexplain.attribute(sig, X4, "saliency", target=0, score="probability")
    nested = keras.Sequential([keras.Input((4,)), _softmax_head()])
    with pytest.raises(NBExplainError, match="ends in a softmax"):
        nbexplain.attribute(nested, X4, "saliency", target=0, score="probability")
    act = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                            keras.layers.Softmax()])
    with pytest.raises(NBExplainError, match="ends in a softmax"):
        nbexplain.attribute(act, X4, "saliency", target=0, score="probability")


def test_probability_score_refuses_torch_models_returning_probabilities():
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=-1))
    with pytest.raises(NBExplainError, match="ends in a softmax"):
        nbexplain.attribute(seq, torch.tensor(X4), "saliency", target=0, score="probability")

    class Custom(nn.Module):       # no structure to read: told by the rows summing to 1
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, z):
            return torch.softmax(self.lin(z), -1)

    with pytest.raises(NBExplainError, match="each row of it is non-negative and sums to 1"):
        nbexplain.attribute(Custom(), torch.tensor(X4), "saliency", target=0,
                            score="probability")


def test_probability_score_still_applies_to_logits():
    torch.manual_seed(0)
    lin = nn.Linear(4, 3)
    a = nbexplain.attribute(lin, torch.tensor(X4), "saliency", target=1, score="probability",
                            abs=False)
    xt = torch.tensor(X4, requires_grad=True)
    (g,) = torch.autograd.grad(torch.softmax(lin(xt), -1)[:, 1].sum(), xt)
    np.testing.assert_allclose(a.values, g.numpy(), rtol=1e-6, atol=1e-8)


# --- a model that permutes N×C×H×W inputs for channels-last convolutions ---------------------
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


# --- messages ----------------------------------------------------------------------------------
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


def test_no_retracing_warning_for_models_built_in_a_loop():
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")

    def build():
        i = keras.Input((8, 8, 3))
        h = keras.layers.Conv2D(4, 3, activation="relu")(i)
        return keras.Model(i, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(h)))

    seen = []

    class Catch:
        def write(self, msg):
            seen.append(msg)

    import logging

    handler = logging.StreamHandler(Catch())
    logger = tf.get_logger()
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            for _ in range(7):      # TF warns at the 5th trace of one function's code
                nbexplain.attribute(build(), x, "saliency", target=0)
        text = "".join(seen) + "".join(str(m.message) for m in w)
    finally:
        logger.removeHandler(handler)
    assert "retracing" not in text, text


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


# --- Grad-CAM on a layer inside a nested model runs compiled ----------------------------------
def test_grad_cam_inside_a_nested_backbone_is_exact_and_compiled():
    from nbexplain.backends import tensorflow as nbtf

    keras.utils.set_random_seed(0)
    bi = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="b0")(bi)
    h = keras.layers.BatchNormalization(name="bn")(h)
    base = keras.Model(bi, h, name="backbone")
    head = keras.layers.Dense(4)
    model = keras.Sequential([keras.Input((12, 12, 3)), base,
                              keras.layers.GlobalAveragePooling2D(), head])
    x = np.random.default_rng(0).normal(size=(3, 12, 12, 3)).astype("float32")
    t = np.array([0, 3, 1])
    a = nbexplain.attribute(model, x, "grad_cam", target=t, layer="bn", upsample=False)
    # truth: a hand-written tape through the backbone's BatchNorm output
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        act = base(xt)
        tape.watch(act)
        s = tf.gather(head(tf.reduce_mean(act, (1, 2))), t, axis=1, batch_dims=1)
    g = tape.gradient(s, act)
    cam = tf.nn.relu(tf.reduce_sum(tf.reduce_mean(g, (1, 2), keepdims=True) * act, -1))
    np.testing.assert_allclose(a.values, cam.numpy(), rtol=1e-5, atol=1e-7)
    # it ran as a cached tf.function (it ran eagerly before, 5-6x as long), keyed by the layer
    layer = base.get_layer("bn")
    entry = nbtf._COMPILED[model][("layer", id(layer), repr(None), "logit")]
    assert entry is not False and entry[0]() is layer


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
