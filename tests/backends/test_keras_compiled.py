"""The compiled Keras paths. Integrated Gradients in one compiled call when all path points fit
one pass: the same values and completeness delta as the pass-by-pass form, under every rule,
and the pass-by-pass form whenever the one-call form cannot run; IG when the model's output
dtype is not its input's (float64 inputs into float32 layers, a mixed_float16 policy).
Grad-CAM on a layer inside a nested backbone runs as a cached tf.function; models built in a
loop cause no retracing warning; no compiled function keeps its model alive.

Truths: the pass-by-pass form, (x − b)·w on linear models, a hand-written tf.GradientTape, and
a weak reference to the model."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import nbexplain  # noqa: E402
from nbexplain.backends import get_adapter  # noqa: E402
from nbexplain.backends.tensorflow import TensorFlowAdapter  # noqa: E402
from nbexplain.methods.integrated_gradients import (  # noqa: E402
    integrated_gradients_progressive,
)

from option_models import W  # noqa: E402
from toys import RULES  # noqa: E402


def _mlp(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((5,))
    h = keras.layers.Dense(12, activation="tanh")(inp)
    h = keras.layers.Dense(8, activation="softplus")(h)
    return keras.Model(inp, keras.layers.Dense(3)(h))


def _cnn(seed=1):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="tanh")(inp)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(3)(h))


@pytest.fixture
def whole_calls(monkeypatch):
    """Counts the one-call form's answers (None = it declined)."""
    calls = []
    orig = TensorFlowAdapter.integrated_gradients_whole

    def spy(self, *a, **k):
        r = orig(self, *a, **k)
        calls.append(r is not None)
        return r

    monkeypatch.setattr(TensorFlowAdapter, "integrated_gradients_whole", spy)
    return calls


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("make, shape", [(_mlp, (4, 5)), (_cnn, (3, 6, 6, 2))])
def test_one_call_equals_the_pass_by_pass_form(whole_calls, rule, make, shape):
    model = make()
    rng = np.random.default_rng(7)
    x = rng.normal(size=shape).astype(np.float32)
    b = rng.normal(size=shape[1:]).astype(np.float32)
    t = np.arange(shape[0]) % 3
    one = nbexplain.attribute(model, x, "integrated_gradients", target=t, baseline=b,
                              steps=9, rule=rule)
    assert whole_calls == [True]
    # batch_size=1: one path point per pass, so the one-call form is not tried
    passes = nbexplain.attribute(model, x, "integrated_gradients", target=t, baseline=b,
                                 steps=9, rule=rule, batch_size=1)
    assert whole_calls == [True]
    scale = np.abs(passes.values).max()
    np.testing.assert_allclose(one.values, passes.values, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(one.delta, passes.delta, rtol=1e-4, atol=1e-6 * scale)
    # the delta is Σ IG − (f(x) − f(b)) with f the model itself
    fx = np.asarray(model(x))[np.arange(shape[0]), t]
    fb = np.asarray(model(np.broadcast_to(b, shape)))[np.arange(shape[0]), t]
    np.testing.assert_allclose(
        one.delta, one.values.reshape(shape[0], -1).sum(1) - (fx - fb), atol=1e-5)
    assert one.extras["steps"] == 9 and one.extras["rule"] == rule


def test_linear_model_is_exact():
    """Analytic truth: on a linear model IG is (x − b)·w_t under every rule, delta 0."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((4,))
    dense = keras.layers.Dense(2)
    model = keras.Model(inp, dense(inp))
    w = np.asarray(dense.kernel).T
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    for rule in RULES:
        a = nbexplain.attribute(model, x, "integrated_gradients", target=[1, 0, 1], steps=5,
                                rule=rule)
        np.testing.assert_allclose(a.values, x * w[[1, 0, 1]], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a.delta, 0.0, atol=1e-5)


def test_large_batches_use_the_passes(whole_calls):
    model = _mlp()
    x = np.random.default_rng(1).normal(size=(6, 5)).astype(np.float32)
    a = nbexplain.attribute(model, x, "integrated_gradients", target=0, steps=16,
                            batch_size=50)   # 6 × 16 points > 50
    assert whole_calls == []
    assert a.values.shape == x.shape


def test_callable_targets_use_the_passes(whole_calls):
    model = _mlp()
    x = np.random.default_rng(2).normal(size=(2, 5)).astype(np.float32)
    a = nbexplain.attribute(model, x, "integrated_gradients",
                            target=lambda out: out[:, 2] - out[:, 0], steps=8)
    b = nbexplain.attribute(model, x, "integrated_gradients", target=2, steps=8)
    c = nbexplain.attribute(model, x, "integrated_gradients", target=0, steps=8)
    np.testing.assert_allclose(a.values, b.values - c.values, rtol=1e-4, atol=1e-6)
    assert whole_calls == [True, True]    # only the two int targets


def test_a_model_that_fails_in_graph_mode_falls_back(whole_calls):
    """A subclassed model that needs eager tensors (.numpy() in call) cannot be compiled:
    the one-call form declines once, and the eager passes give the right numbers."""

    class Eager(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            x.numpy()            # fails while tracing
            return self.dense(x)

    model = Eager()
    x = np.random.default_rng(4).normal(size=(2, 3)).astype(np.float32)
    model(x)
    w = np.asarray(model.dense.kernel).T
    for _ in range(2):
        a = nbexplain.attribute(model, x, "integrated_gradients", target=[0, 1], steps=6)
        np.testing.assert_allclose(a.values, x * w[[0, 1]], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a.delta, 0.0, atol=1e-5)
    assert whole_calls == [False, False]


def test_progress_bar_when_asked_for(whole_calls, capsys):
    model = _mlp()
    x = np.random.default_rng(5).normal(size=(2, 5)).astype(np.float32)
    nbexplain.attribute(model, x, "integrated_gradients", target=1, steps=8, progress_bar=True)
    assert "integrated gradients" in capsys.readouterr().err
    nbexplain.attribute(model, x, "integrated_gradients", target=1, steps=8)
    nbexplain.attribute(model, x, "integrated_gradients", target=1, steps=8,
                        progress_bar=False)
    assert capsys.readouterr().err == ""
    assert whole_calls == [True, True, True]


def test_every_rule_and_step_count_shares_one_trace(whole_calls):
    """A notebook cell comparing the rules at a few step counts compiles once (twice with
    TensorFlow's shape relaxation), not once per rule: the end-point flags are tensors."""
    from nbexplain.backends.tensorflow import _COMPILED

    model = _mlp(seed=4)
    x = np.random.default_rng(4).normal(size=(4, 5)).astype(np.float32)
    for steps in (8, 16, 32):
        for rule in RULES:
            nbexplain.attribute(model, x, "integrated_gradients", target=0, steps=steps,
                                rule=rule)
    assert whole_calls == [True] * 15
    (fn,) = [f for k, f in _COMPILED[model].items() if k[0] == "ig"]
    assert fn.experimental_get_tracing_count() <= 2


# --- IG when the model's output dtype is not its input's --------------------------------------
def _keras_linear(input_dtype, policy=None):
    keras = pytest.importorskip("keras")
    old = keras.mixed_precision.global_policy()
    try:
        if policy is not None:
            keras.mixed_precision.set_global_policy(policy)
        inp = keras.Input((4,), dtype=input_dtype)
        dense = keras.layers.Dense(2, dtype=None if policy else "float32")
        model = keras.Model(inp, dense(inp))
        dense.set_weights([W.T.astype(np.float32), np.array([0.3, -0.7], np.float32)])
    finally:
        keras.mixed_precision.set_global_policy(old)
    assert keras.mixed_precision.global_policy().name == old.name
    return model


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_trapezoid", "riemann_middle"])
def test_ig_keras_float64_input_into_float32_layers(rule):
    model = _keras_linear("float64")
    x = np.random.default_rng(0).normal(size=(3, 4))
    b = np.random.default_rng(1).normal(size=(4,))
    t = [0, 1, 1]
    a = nbexplain.attribute(model, x, "integrated_gradients", target=t, baseline=b, steps=6,
                            rule=rule)
    # truth: on a linear model IG is (x − b) · w_t exactly, and complete (delta 0)
    expected = (x - b) * W[t]
    np.testing.assert_allclose(a.values, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.delta, 0.0, atol=1e-5)
    # and delta is Σ IG − (f(x) − f(b)), f from the model itself
    fx = np.asarray(model(x))[np.arange(3), t].astype(np.float64)
    fb = np.asarray(model(np.broadcast_to(b, x.shape)))[np.arange(3), t].astype(np.float64)
    np.testing.assert_allclose(a.delta, a.values.sum(1) - (fx - fb), atol=1e-5)


def test_ig_keras_mixed_float16_policy():
    model = _keras_linear("float32", policy="mixed_float16")
    x = np.random.default_rng(2).normal(size=(2, 4)).astype(np.float32)
    out = model(x)
    assert "float16" in str(out.dtype)          # the case of the review: half scores
    t = [1, 0]
    a = nbexplain.attribute(model, x, "integrated_gradients", target=t, steps=8)
    assert np.all(np.isfinite(a.delta))
    # the Dense layer computes in float16: compare at float16 precision
    np.testing.assert_allclose(a.values, x * W[t], rtol=1e-2, atol=1e-2)
    fx = np.asarray(out, np.float64)[np.arange(2), t]
    fb = np.asarray(model(np.zeros_like(x)), np.float64)[np.arange(2), t]
    np.testing.assert_allclose(a.delta, a.values.sum(1) - (fx - fb), atol=2e-2)


def test_ig_progressive_on_keras_float64_input():
    model = _keras_linear("float64")
    ad = get_adapter(model)
    x = ad.as_tensor(np.random.default_rng(3).normal(size=(2, 4)))
    t = np.array([1, 0])
    for rule in ("riemann_trapezoid", "riemann_left"):
        last = None
        for last in integrated_gradients_progressive(ad, x, t, start_steps=4, max_steps=16,
                                                      rule=rule):
            pass
        np.testing.assert_allclose(ad.to_numpy(last.values), ad.to_numpy(x) * W[t],
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ad.to_numpy(last.delta), 0.0, atol=1e-5)


# --- other compiled paths ---------------------------------------------------------------------
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


def test_compiled_functions_do_not_keep_the_model_alive():
    import gc
    import weakref

    import keras

    import nbexplain

    inp = keras.Input((6,))
    km = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Dense(8, activation="tanh")(inp)))
    x = np.random.default_rng(0).normal(size=(2, 6)).astype(np.float32)
    for method in ("saliency", "integrated_gradients"):
        nbexplain.attribute(km, x, method, target=1)
    ref = weakref.ref(km)
    del km
    gc.collect()
    assert ref() is None, "a cache still holds the Keras model"


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_pp"])
def test_grad_cam_runs_as_one_compiled_call_with_the_eager_paths_numbers(method):
    from nbexplain.backends.tensorflow.compiled import _COMPILED

    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(6, 3, activation="relu", name="c1")(inp)
    h = keras.layers.Conv2D(8, 3, activation="relu", name="c2")(h)
    out = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(h))
    m = keras.Model(inp, out)
    x = np.random.default_rng(0).random((3, 12, 12, 3)).astype("float32")
    whole = nbexplain.attribute(m, x, method, target=[0, 1, 3], layer="c2")
    assert any(k[0] == "cam" for k in _COMPILED[m] if isinstance(k, tuple))
    # batch_size=1: the layer gradients pass by pass and the map combined op by op
    parts = nbexplain.attribute(m, x, method, target=[0, 1, 3], layer="c2", batch_size=1)
    np.testing.assert_allclose(whole.values, parts.values, rtol=1e-5,
                               atol=1e-6 * np.abs(parts.values).max())
    np.testing.assert_allclose(whole.extras["raw"], parts.extras["raw"], rtol=1e-5,
                               atol=1e-6 * np.abs(parts.extras["raw"]).max())
    assert whole.values.shape == (3, 12, 12)


def _tape_saliency(model, x, t):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        s = tf.gather(model(x), t, axis=1, batch_dims=1)
    return np.abs(tape.gradient(s, x).numpy())


def test_compiled_calls_follow_batch_shapes_and_weight_updates():
    """The compiled saliency is looked up per input shape, and reads the model's variables
    as they are at each call (a training loop updates them in place between calls)."""
    model = _cnn()
    rng = np.random.default_rng(0)
    for n in (1, 3, 1, 3):
        x = rng.normal(size=(n, 6, 6, 2)).astype("float32")
        t = rng.integers(0, 3, size=n)
        got = nbexplain.attribute(model, x, method="saliency", target=t).values
        np.testing.assert_allclose(got, _tape_saliency(model, x, t), rtol=1e-5, atol=1e-7)
    conv = model.layers[1]
    before = nbexplain.attribute(model, x, method="saliency", target=t).values
    conv.kernel.assign(conv.kernel.numpy() * -2.0)      # an in-place update, as training does
    after = nbexplain.attribute(model, x, method="saliency", target=t).values
    np.testing.assert_allclose(after, _tape_saliency(model, x, t), rtol=1e-5, atol=1e-7)
    assert np.abs(after - before).max() > 1e-3


def test_remembered_model_facts_still_check_each_calls_options():
    """What the adapter reads from a built model once (its layout, dtype and device) does
    not let a later call's contradicting options through."""
    model = _cnn()
    x = np.zeros((1, 6, 6, 2), "float32")
    nbexplain.attribute(model, x, method="saliency", target=0)
    with pytest.raises(nbexplain.NBExplainError, match="channels_first=True contradicts"):
        nbexplain.attribute(model, x, method="saliency", target=0, channels_first=True)
    with pytest.raises(nbexplain.NBExplainError, match="not available to TensorFlow"):
        get_adapter(model, device="GPU:7")
    assert get_adapter(model).channels_first is False
    x64 = x.astype("float64")   # cast to the model's float32 as on the first call
    assert nbexplain.attribute(model, x64, method="saliency", target=0).values.dtype == np.float32
