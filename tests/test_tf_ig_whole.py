"""Keras Integrated Gradients in one compiled call when all path points fit one pass: the same
values and completeness delta as the pass-by-pass form, under every rule, and the pass-by-pass
form whenever the one-call form cannot run."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import nbexplain  # noqa: E402
from nbexplain.backends.tensorflow import TensorFlowAdapter  # noqa: E402

RULES = ["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid",
         "gausslegendre"]


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
