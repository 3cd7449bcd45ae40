"""Problems are named for what they are: the model's own bug on its first call is the model's
error (not a layout problem), complex inputs and meta-device models get their own messages, a
gradient that is zero everywhere and a classifier's class ids (``clf.predict``) are warned
about, and a Keras model that fails inside nbexplain's compiled call raises its own error
instead of silently re-running eagerly.

Truths: the exception type the model raises itself, and the warnings' texts.
"""

import warnings

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError


class LookupModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
        self.table = {}

    def forward(self, x):
        return self.fc(x) + self.table["bias"]      # a bug in the user's model


def test_the_models_own_error_on_its_first_call_is_raised_as_its_own():
    with pytest.raises(KeyError, match="bias") as info:
        nbexplain.attribute(LookupModel(), np.ones((2, 4), np.float32), "saliency", target=0)
    assert any("the model's own error" in n for n in getattr(info.value, "__notes__", []))


class ConfigCheck(torch.nn.Module):
    """Raises a ValueError of its own on every call (a missing configuration)."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
        self.vocab = None

    def forward(self, x):
        if self.vocab is None:
            raise ValueError("the tokenizer vocabulary was never loaded")
        return self.fc(x)


def test_the_models_own_value_error_is_raised_as_its_own_not_as_a_layout_problem():
    with pytest.raises(ValueError, match="vocabulary was never loaded") as info:
        nbexplain.attribute(ConfigCheck(), np.ones((2, 4), np.float32), "saliency", target=0)
    assert not isinstance(info.value, NBExplainError)
    assert any("the model's own code raised this" in n for n in info.value.__notes__)


def test_a_keras_models_own_value_error_is_raised_as_its_own():
    keras = pytest.importorskip("keras")

    class Unconfigured(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            raise ValueError("the tokenizer vocabulary was never loaded")

    with pytest.raises(ValueError, match="vocabulary was never loaded") as info:
        nbexplain.attribute(Unconfigured(), np.ones((2, 4), np.float32), "saliency", target=0)
    assert not isinstance(info.value, NBExplainError)


class SequencesOnly(torch.nn.Module):
    """Checks its own input rank: a batch of T×D sequences, N×T×D."""

    def forward(self, x):
        if x.ndim != 3:
            raise ValueError(f"expected N×T×D, got {x.ndim} axes")
        return x.sum(-1)


def test_a_models_own_rank_check_still_lets_the_batch_axis_be_added():
    x = np.random.default_rng(0).random((5, 2)).astype(np.float32)   # one T×D sequence
    res = nbexplain.attribute(SequencesOnly(), x, "saliency", target=0)
    expected = np.zeros((5, 2))
    expected[0] = 1.0               # d(sum of step 0)/dx
    np.testing.assert_array_equal(np.asarray(res.values).reshape(5, 2), expected)


class Reshapes(torch.nn.Module):
    def forward(self, x):
        return x.view(-1, 400)[:, :3]     # torch's own shape error, raised on this line


def test_a_framework_shape_error_on_the_models_line_is_still_a_layout_problem():
    with pytest.raises(NBExplainError, match="cannot be run on inputs of shape"):
        nbexplain.attribute(Reshapes(), np.ones((2, 7), np.float32), "saliency", target=0)


def test_complex_inputs_are_named_complex():
    m = torch.nn.Linear(4, 3)
    x = np.ones((2, 4), np.complex64)
    with pytest.raises(NBExplainError, match="complex dtype complex64"):
        nbexplain.attribute(m, x, "saliency", target=0)
    with pytest.raises(NBExplainError, match="complex"):
        nbexplain.attribute(m, torch.ones(2, 4, dtype=torch.complex64), "occlusion", target=0)


def test_a_model_on_the_meta_device_is_named():
    with torch.device("meta"):
        m = torch.nn.Linear(4, 3)
    with pytest.raises(NBExplainError, match="'meta' device.*to_empty"):
        nbexplain.attribute(m, np.ones((2, 4), np.float32), "saliency", target=0)


class Rounded(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return torch.round(self.fc(x))


@pytest.mark.parametrize("method", ["saliency", "input_x_gradient", "integrated_gradients"])
def test_a_gradient_zero_everywhere_warns_that_the_model_may_not_be_differentiable(method):
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="gradient is zero everywhere.*rounding"):
        a = nbexplain.attribute(Rounded(), np.ones((2, 4), np.float32), method, target=1)
    assert not a.values.any()


def test_a_nonzero_gradient_does_not_warn():
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nbexplain.attribute(torch.nn.Linear(4, 3), np.ones((2, 4), np.float32), "saliency",
                            target=1)


@pytest.mark.parametrize("method", ["shapley", "lime"])
def test_class_ids_from_predict_warn_and_point_to_predict_proba(method):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=500).fit(X, y)
    with pytest.warns(UserWarning, match="class ids.*LogisticRegression.predict_proba"):
        nbexplain.attribute(clf.predict, X[:1], method, target=0, background=X[:20],
                            **({"samples": 64} if method == "lime" else {}))


def test_a_keras_layer_that_raises_inside_the_compiled_call_raises():
    keras = pytest.importorskip("keras")

    class FailsOnSecondCall(keras.layers.Layer):
        calls = 0

        def call(self, x):
            type(self).calls += 1
            if type(self).calls == 2:
                raise ValueError("the layer failed on its second call")
            return x

    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    out = keras.layers.Dense(3)(FailsOnSecondCall()(inp))
    m = keras.Model(inp, out)
    FailsOnSecondCall.calls = 0          # the layout probe is its first call, eager; the
                                         # second is inside nbexplain's tf.function
    x = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match="second call"):
        nbexplain.attribute(m, x, "saliency", target=0)


def test_a_keras_models_own_runtime_assertion_is_raised_and_keeps_it_compiled():
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    from nbexplain.backends.tensorflow import _COMPILED

    class Bounded(keras.layers.Layer):
        def call(self, x):
            tf.debugging.assert_less(x, 10.0, message="inputs must stay below 10")
            return x

    inp = keras.Input((4,))
    m = keras.Model(inp, keras.layers.Dense(3)(Bounded()(inp)), name="bounded")
    nbexplain.attribute(m, np.ones((2, 4), np.float32), "saliency", target=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no "cannot run inside tf.function"
        with pytest.raises(tf.errors.InvalidArgumentError, match="below 10"):
            nbexplain.attribute(m, np.full((2, 4), 20.0, np.float32), "saliency", target=0)
    assert False not in _COMPILED[m].values()    # still compiled for the next, valid call
