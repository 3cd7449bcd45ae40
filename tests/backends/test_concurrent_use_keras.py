"""nbexplain beside a Keras training loop on the same model: the TF adapter's layer capture
(Grad-CAM's sub-model), saliency and IG in another thread leave the loop's every step as it
would have been. Truth: the same seeded loop run alone ends with bit-identical weights and
BatchNorm statistics, and four Grad-CAM threads at once agree with one run alone."""

from __future__ import annotations

import threading

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import nbexplain  # noqa: E402

STEPS = 300


def cnn():
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(inp)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.MaxPooling2D()(h)
    out = keras.layers.Dense(5, name="head")(keras.layers.Flatten()(h))
    return keras.Model(inp, out)


def train(model, data, labels, beside=None):
    """``STEPS`` SGD steps of the model in training mode (BatchNorm updates its statistics);
    ``beside`` runs in another thread meanwhile. Returns the weights and that thread's errors."""
    opt = keras.optimizers.SGD(0.01)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    errors: list[BaseException] = []
    stop = threading.Event()
    started = threading.Event()
    calls = [0]

    def explain_loop():
        try:
            while not stop.is_set():
                beside()
                calls[0] += 1
                started.set()
        except BaseException as e:   # noqa: BLE001 - reported below
            errors.append(e)
            started.set()

    thread = None
    if beside is not None:
        thread = threading.Thread(target=explain_loop, daemon=True)
        thread.start()
        assert started.wait(120), "the explaining thread never finished a call"
    try:
        for step in range(STEPS):
            i = step % len(data)
            with tf.GradientTape() as tape:
                loss = loss_fn(labels[i:i + 1 + 7], model(data[i:i + 8], training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            assert all(g is not None for g in grads), f"step {step}: a layer got no gradient"
            opt.apply_gradients(zip(grads, model.trainable_variables))
    finally:
        stop.set()
        if thread is not None:
            thread.join(60)
    return [w.numpy().copy() for w in model.weights], errors, calls[0]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return (rng.random((64, 8, 8, 3)).astype(np.float32),
            rng.integers(0, 5, size=64).astype(np.int64))


def test_a_keras_training_loop_is_untouched_by_attributions_in_another_thread(data):
    x, y = data
    alone, _, _ = train(cnn(), x, y)

    model = cnn()
    probe = x[:2]
    methods = [("grad_cam", {"layer": "conv2"}), ("saliency", {}),
               ("integrated_gradients", {"steps": 8})]
    turn = [0]

    def explain():
        name, opts = methods[turn[0] % len(methods)]
        turn[0] += 1
        res = nbexplain.attribute(model, probe, method=name, target=1, **opts)
        assert np.isfinite(np.asarray(res.values)).all()

    beside, errors, calls = train(model, x, y, beside=explain)
    assert not errors, errors
    assert calls >= 3, f"only {calls} attributions ran beside the loop"
    for a, b, w in zip(alone, beside, model.weights):
        np.testing.assert_array_equal(a, b, err_msg=f"{w.path} differs from the loop alone")


def test_four_threads_of_keras_grad_cam_at_once(data):
    x, _ = data
    model = cnn()
    want = np.asarray(nbexplain.attribute(model, x[:4], method="grad_cam", layer="conv2",
                                          target=2).values)
    errors: list[BaseException] = []
    results: list[np.ndarray] = []
    lock = threading.Lock()

    def worker():
        try:
            for _ in range(15):
                v = np.asarray(nbexplain.attribute(model, x[:4], method="grad_cam",
                                                   layer="conv2", target=2).values)
                with lock:
                    results.append(v)
        except BaseException as e:   # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert len(results) == 60
    for v in results:
        np.testing.assert_allclose(v, want, rtol=1e-5, atol=1e-7)
