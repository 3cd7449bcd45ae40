"""Input kinds a new-user review found refused or mishandled.

* DataFrames with bool columns (pd.get_dummies' default) or int columns: numpy made an object
  array of them, refused as "not numeric" (and a raw TypeError for torch models).
* Models with several inputs: a raw numpy "inhomogeneous shape" error, or two same-shape
  inputs silently stacked and the failure blamed on the layout.
* bfloat16 torch models: every method failed in Tensor.numpy(), blamed on the layout.
* A copy-on-write DataFrame's read-only values made torch warn on every first use.
Truths: the same data as a float array, hand-computed linear attributions, scikit-learn.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError


def _frame():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"age": rng.normal(size=20), "visits": rng.integers(0, 5, 20),
                       "color": rng.choice(["red", "blue"], 20)})
    df = pd.get_dummies(df, columns=["color"])          # bool one-hot columns
    assert {str(d) for d in df.dtypes} == {"float64", "int64", "bool"}
    return df


def test_dataframe_with_bool_and_int_columns_equals_its_float_array():
    from sklearn.linear_model import LinearRegression

    df = _frame()
    X = df.to_numpy(dtype=float)
    y = X @ np.array([1.0, 0.5, 2.0, -1.0])
    lr = LinearRegression().fit(df, y)
    a = nbexplain.attribute(lr.predict, df, "shapley", baseline=X.mean(0))
    np.testing.assert_allclose(a.values, (X - X.mean(0)) * lr.coef_, atol=1e-9)
    assert a.extras["feature_names"] == list(df.columns)


def test_dataframe_with_bool_columns_for_data_set_methods_agrees_with_sklearn():
    from sklearn.inspection import permutation_importance as sk_pi
    from sklearn.linear_model import LinearRegression

    df = _frame()
    y = df.to_numpy(dtype=float) @ np.array([1.0, 0.5, 2.0, -1.0])
    lr = LinearRegression().fit(df, y)
    ours = nbexplain.permutation_importance(lr, df, y, metric="r2", repeats=4, seed=3)
    ref = sk_pi(lr, df, y, scoring="r2", n_repeats=4, random_state=3)
    np.testing.assert_allclose(ours.importances_mean, ref.importances_mean, atol=1e-12)


def test_dataframe_with_bool_columns_for_a_torch_model():
    df = _frame()
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 1)
    a = nbexplain.attribute(lin, df, "integrated_gradients", target=0, baseline=0.0)
    X = df.to_numpy(dtype=np.float32)
    np.testing.assert_allclose(a.values, X * lin.weight.detach().numpy()[0], rtol=1e-5,
                               atol=1e-6)


def test_read_only_dataframe_values_give_no_torch_warning():
    df = pd.DataFrame(np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nbexplain.attribute(torch.nn.Linear(3, 2), df, "saliency", target=0)
        ro = np.ones((2, 3), np.float32)
        ro.flags.writeable = False
        nbexplain.attribute(torch.nn.Linear(3, 2), ro, "saliency", target=0)


class TwoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(6, 2)

    def forward(self, a, b):
        return self.lin(torch.cat([a, b], 1))


@pytest.mark.parametrize("inputs", [
    lambda: [np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)],
    lambda: {"a": np.ones((4, 3), np.float32), "b": np.ones((4, 3), np.float32)},
    lambda: np.ones((4, 3), np.float32),                   # one of the two
    lambda: [np.ones((4, 3), np.float32), np.ones((4, 3), np.float32)],   # same shapes
], ids=["list-of-different-shapes", "dict", "one-of-two", "list-of-same-shapes"])
def test_two_input_torch_model_gets_the_wrapping_advice(inputs):
    with pytest.raises(NBExplainError, match="several inputs.*b1.expand"):
        nbexplain.attribute(TwoInputs(), inputs(), "saliency", target=0)


def test_the_advised_wrapper_explains_one_input():
    m = TwoInputs()
    a1, b1 = torch.randn(1, 3), torch.randn(1, 3)

    def f(a):
        return m(a, b1.expand(len(a), *b1.shape[1:]))

    ig = nbexplain.attribute(f, a1, "integrated_gradients", framework="torch", target=0,
                             baseline=0.0)
    np.testing.assert_allclose(ig.values, (m.lin.weight[0, :3] * a1).detach().numpy(),
                               rtol=1e-5)
    sh = nbexplain.attribute(f, a1, "shapley", framework="torch", target=0, baseline=0.0)
    np.testing.assert_allclose(sh.values, ig.values, rtol=1e-5, atol=1e-6)


def test_two_input_keras_model_gets_the_wrapping_advice():
    keras = pytest.importorskip("keras")
    a_in, b_in = keras.Input((3,)), keras.Input((3,))
    km = keras.Model([a_in, b_in],
                     keras.layers.Dense(2)(keras.layers.Concatenate()([a_in, b_in])))
    x = np.ones((4, 3), np.float32)
    for inputs in ([x, x], x):
        with pytest.raises(NBExplainError, match="takes 2 inputs.*tf.repeat"):
            nbexplain.attribute(km, inputs, "saliency", target=0)


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "occlusion",
                                    "shapley"])
def test_bfloat16_torch_model(method):
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 2).to(torch.bfloat16)
    x = np.array([[1.0, 2.0, -1.0, 0.5]], np.float32)
    opts = {} if method == "saliency" else {"baseline": 0.0}
    a = nbexplain.attribute(lin, x, method, target=0, **opts)
    assert a.values.dtype.kind == "f"
    w = lin.weight.float().detach().numpy()[0]
    want = np.abs(w)[None] if method == "saliency" else (w * x)
    # bfloat16 keeps 8 bits of mantissa: the truth to its precision
    np.testing.assert_allclose(a.values, want, rtol=2e-2, atol=2e-2)
