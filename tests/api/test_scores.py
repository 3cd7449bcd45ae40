"""score="probability": the probability of a model with one logit per example is the sigmoid
of that logit (per example, never a softmax over the batch), a model that already returns
probabilities (a softmax or sigmoid head, rows that sum to 1) is refused, and logits still get
their softmax.

Truths: the same model with an explicit sigmoid (torch, Keras, a numpy function), a
hand-written tf.GradientTape through the model, and torch.autograd.grad through the softmax.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import nbexplain  # noqa: E402
from nbexplain import NBExplainError  # noqa: E402

from toys import X4, _tape_gradient  # noqa: E402


def _softmax_head():
    keras.utils.set_random_seed(0)
    i = keras.Input((4,))
    h = keras.layers.Dense(8, activation="relu")(i)
    return keras.Model(i, keras.layers.Dense(3, activation="softmax")(h))


# --- one logit per example: its sigmoid -------------------------------------------------------
class OneLogit(torch.nn.Module):
    def __init__(self, flat=False, sigmoid=False):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(5, 1)
        self.flat, self.sigmoid = flat, sigmoid

    def forward(self, x):
        z = self.lin(x)
        if self.sigmoid:
            z = torch.sigmoid(z)
        return z[:, 0] if self.flat else z


@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("method, opts", [("integrated_gradients", {"steps": 16}),
                                          ("saliency", {"abs": False}),
                                          ("shapley", {"estimator": "exact"})])
def test_probability_of_a_single_logit_is_its_sigmoid(flat, method, opts):
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    a = nbexplain.attribute(OneLogit(flat), x, method, target=0, score="probability",
                            progress_bar=False, **opts)
    truth = nbexplain.attribute(OneLogit(flat, sigmoid=True), x, method, target=0,
                                progress_bar=False, **opts)
    assert np.abs(truth.values).max() > 1e-3            # not the all-zero softmax answer
    np.testing.assert_allclose(a.values, truth.values, rtol=1e-5, atol=1e-7)
    # per example: no mixing of the batch (a softmax over an (N,) output would)
    one = nbexplain.attribute(OneLogit(flat), x[1:2], method, target=0, score="probability",
                              progress_bar=False, **opts)
    np.testing.assert_allclose(one.values[0], a.values[1], rtol=1e-5, atol=1e-7)


def test_probability_of_a_single_score_numpy_function():
    w = np.array([1.0, -2.0, 0.5])
    x = np.random.default_rng(1).normal(size=(3, 3))
    a = nbexplain.attribute(lambda z: z @ w, x, "shapley", estimator="exact",
                            score="probability", target=0)
    sig = lambda z: 1.0 / (1.0 + np.exp(-(z @ w)))  # noqa: E731
    b = nbexplain.attribute(sig, x, "shapley", estimator="exact", target=0)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12)
    assert np.abs(b.values).max() > 1e-2


def test_keras_probability_of_a_single_logit_is_its_sigmoid():
    import keras      # the tensorflow extra, a dev dependency: never skipped

    def model(sigmoid):
        keras.utils.set_random_seed(0)
        inp = keras.Input((5,))
        out = keras.layers.Dense(1, activation="sigmoid" if sigmoid else None)(inp)
        return keras.Model(inp, out)

    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    for method, opts in (("integrated_gradients", {"steps": 16}), ("saliency", {"abs": False})):
        a = nbexplain.attribute(model(False), x, method, target=0, score="probability",
                                progress_bar=False, **opts)
        b = nbexplain.attribute(model(True), x, method, target=0, progress_bar=False, **opts)
        assert np.abs(b.values).max() > 1e-3
        np.testing.assert_allclose(a.values, b.values, rtol=1e-5, atol=1e-7)


# --- models that already return probabilities -------------------------------------------------
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
