"""What a model may be and what it must return: an estimator object is pointed to its method,
framework= must agree with the model, the model returns one row of output per example (not a
reduction over the batch, not K×N), and output= selects a tensor: a field of a named tuple or
dataclass, a dict key, a tuple index, or a message that lists what there is.

Truths: the weights of a linear model (the gradient of the selected logits), and messages
that name the model's outputs, fields and keys instead of a raw framework error.
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

import nbexplain  # noqa: E402
from nbexplain import NBExplainError  # noqa: E402

from toys import _lin  # noqa: E402


# --- the model --------------------------------------------------------------------------------
def test_an_estimator_object_is_pointed_to_its_method():
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).normal(size=(20, 3))
    clf = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    with pytest.raises(NBExplainError, match=r"not callable; pass its method instead, e\.g\. "
                                             r"model\.predict_proba"):
        nbexplain.attribute(clf, x[:2], "shapley")


@pytest.mark.parametrize("framework", ["tensorflow", "numpy"])
def test_framework_that_contradicts_a_torch_module(framework):
    with pytest.raises(NBExplainError, match=rf"framework='{framework}', but the model is a "
                                             r"torch module"):
        nbexplain.attribute(_lin(), np.zeros((2, 5), np.float32), "occlusion", target=0,
                            framework=framework)


def test_framework_that_contradicts_a_keras_model():
    keras = pytest.importorskip("keras")
    inp = keras.Input((5,))
    km = keras.Model(inp, keras.layers.Dense(3)(inp))
    with pytest.raises(NBExplainError, match=r"framework='torch', but the model is a "
                                             r"Keras/TensorFlow model"):
        nbexplain.attribute(km, np.zeros((2, 5), np.float32), "saliency", target=0,
                            framework="torch")


# --- one row of output per example ------------------------------------------------------------
class BatchMean(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = _lin()

    def forward(self, x):
        return self.lin(x).mean(0, keepdim=True)       # 1 row whatever the batch


@pytest.mark.parametrize("method, kw", [("saliency", {}), ("integrated_gradients",
                                                           {"steps": 4}),
                                        ("occlusion", {})])
def test_a_model_that_reduces_over_the_batch_is_refused(method, kw):
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    with pytest.raises(NBExplainError, match=r"returned 1 row\(s\) of output for \d+ examples"):
        nbexplain.attribute(BatchMean(), x, method, target=[0, 1, 2, 0], **kw)


def test_keras_model_that_reduces_over_the_batch_is_refused():
    keras = pytest.importorskip("keras")
    inp = keras.Input((5,))
    out = keras.layers.Lambda(lambda t: keras.ops.mean(t, axis=0, keepdims=True))(
        keras.layers.Dense(3)(inp))
    km = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    for method in ("saliency", "integrated_gradients", "occlusion"):
        with pytest.raises(NBExplainError, match=r"returned 1 row\(s\) of output for"):
            nbexplain.attribute(km, x, method, target=[0, 1, 2, 0])


def test_a_k_by_n_output_is_named_as_such():
    lin = _lin()
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    with pytest.raises(NBExplainError, match=r"does not return one row per example: given 1 "
                                             r"example\(s\) it returned an output of shape "
                                             r"\(3, 1\)") as e:
        nbexplain.attribute(lambda t: lin(t).T, x, "saliency", target=0, framework="torch")
    assert "NoneType" not in str(e.value)


# --- output= selection ------------------------------------------------------------------------
NT = collections.namedtuple("NT", "logits hidden")


@dataclasses.dataclass
class DC:
    logits: torch.Tensor
    hidden: torch.Tensor = None


class Packed(torch.nn.Module):
    """A linear model whose output is ``pack(logits, x)``."""

    def __init__(self, lin, pack):
        super().__init__()
        self.lin, self.pack = lin, pack

    def forward(self, x):
        return self.pack(self.lin(x), x)


@pytest.mark.parametrize("kind", [NT, DC])
def test_outputs_with_a_logits_field(kind):
    lin = _lin()
    M = lambda: Packed(lin, kind)  # noqa: E731
    x = torch.randn(4, 5)
    a = nbexplain.attribute(M(), x, "saliency", target=1, output="logits", abs=False)
    np.testing.assert_allclose(a.values, lin.weight.detach().numpy()[[1] * 4], rtol=1e-6)
    words = (r"output='nope' does not select one of the model's 2 outputs" if kind is NT
             else r"output='nope' is not a field of the model's DC output; its fields: "
                  r"\['logits', 'hidden'\]")
    with pytest.raises(NBExplainError, match=words):
        nbexplain.attribute(M(), x, "saliency", target=1, output="nope")


def test_a_selected_output_that_is_not_a_tensor_says_so():
    class M(torch.nn.Module):
        def forward(self, x):
            return {"logits": x * 2, "meta": "text"}

    with pytest.raises(NBExplainError, match=r"output='meta' selected str, not a tensor"):
        nbexplain.attribute(M(), torch.randn(2, 3), "saliency", target=0, output="meta")


def test_dict_output_names_the_missing_key():
    class Dic(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 3)

        def forward(self, x):
            return {"a": self.lin(x), "b": self.lin(x)}

    with pytest.raises(NBExplainError, match="output='c' is not one of its keys"):
        nbexplain.attribute(Dic(), torch.randn(4, 6), "saliency", target=0, output="c")


def test_a_tuple_method_name_is_not_an_output_field():
    m = Packed(_lin(), lambda y, x: (y, y * 2))
    with pytest.raises(NBExplainError, match=r"output='count' does not select one of the "
                                             r"model's 2 outputs"):
        nbexplain.attribute(m, torch.randn(2, 5), "saliency", target=0, output="count")
