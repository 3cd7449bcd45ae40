"""Small inputs, models and truths that several test modules build the same way; the modules
import them by name (they keep the names they had as module-private copies).

``RULES``: every Integrated Gradients rule. ``X4``: three float32 rows of four features.
``_lin``: a seeded torch ``Linear(d, k)``. ``_x``: a seeded float32 array of uniform values.
``_linear32``: a float32 linear torch model with an input, a background and the exact Shapley
values of its logit 1. ``_tape_gradient``: the gradient of one output column of a Keras model
by a hand-written ``tf.GradientTape`` (TensorFlow is imported on the first call, after the
calling module has set its log level).
"""

import numpy as np
import torch

RULES = ["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"]

X4 = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")


def _lin(k=3, d=5, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(d, k)


def _x(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def _linear32():
    """A float32 additive model: (model, x, background, exact Shapley values of logit 1)."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(12, 2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 12)).astype(np.float32)
    bg = rng.normal(size=(10, 12)).astype(np.float32)
    w = lin.weight.detach().numpy().astype(np.float64)[1]
    truth = w * (x[0].astype(np.float64) - bg.astype(np.float64).mean(0))
    return lin, x, bg, truth


def _tape_gradient(km, x, column):
    """d km(x)[:, column] / dx by a hand-written tf.GradientTape."""
    import tensorflow as tf

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        s = km(xt)[:, column]
    return tape.gradient(s, xt).numpy()
