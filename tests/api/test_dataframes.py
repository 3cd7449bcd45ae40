"""DataFrame inputs: columns are matched by name, never silently by position, their names
reach every method's results, and bool and int columns are numbers.

A model fitted on a DataFrame gets its values by position: a DataFrame with the same columns
in another order would be explained with each column's values under another column's name (a
linear model's Shapley values [-4.9, 0, 0.1] for a truth of [-0.5, 0, 1.0]), so it is refused,
as scikit-learn refuses it, with the fix. A background DataFrame is put in the inputs' column
order by name. Named feature groups take column names, and an estimator fitted on a DataFrame
is called with one (no "X does not have valid feature names" warning). Bool columns (the
default of pd.get_dummies) and int columns are numbers, and read-only (copy-on-write) values
give torch nothing to warn about.

Truths: the same data as a float array, hand-computed linear attributions, scikit-learn.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import nbexplain
from nbexplain import NBExplainError

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import LinearRegression  # noqa: E402


W = np.array([10.0, 0.0, 1.0])


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = df.to_numpy() @ W
    return df, y, LinearRegression().fit(df, y)


def test_reordered_columns_are_refused_everywhere(frame):
    df, y, reg = frame
    xr = df[["c", "b", "a"]]
    with pytest.raises(NBExplainError, match=r"another order.*feature_names_in_"):
        nbexplain.attribute(reg.predict, xr.iloc[:3], method="shapley", target=0,
                            background=xr.iloc[100:150])
    with pytest.raises(NBExplainError, match="another order"):
        nbexplain.permutation_importance(reg, xr, y, repeats=2, seed=0)
    with pytest.raises(NBExplainError, match="another order"):
        nbexplain.partial_dependence(reg, xr, "a", grid=[0.0, 1.0])


def test_other_columns_are_named(frame):
    df, y, reg = frame
    other = df.rename(columns={"c": "z"})
    with pytest.raises(NBExplainError, match=r"missing: \['c'\].*unexpected: \['z'\]"):
        nbexplain.attribute(reg.predict, other.iloc[:2], method="shapley", target=0,
                            background=other.iloc[100:120])


def test_model_order_still_works_and_is_exact(frame):
    df, y, reg = frame
    r = nbexplain.attribute(reg.predict, df.iloc[:3], method="shapley", target=0,
                            background=df.iloc[100:150])
    truth = W * (df.iloc[:3].to_numpy() - df.iloc[100:150].to_numpy().mean(0))
    np.testing.assert_allclose(r.extras["group_values"], truth, atol=1e-9)
    assert r.extras["feature_names"] == ["a", "b", "c"]


def test_background_is_aligned_by_name():
    rng = np.random.default_rng(1)
    w = np.array([1.0, -2.0, 3.0, 0.5])
    x = pd.DataFrame(rng.normal(size=(2, 4)), columns=list("abcd"))
    bg = pd.DataFrame(rng.normal(size=(30, 4)) + 5.0, columns=list("abcd"))
    f = lambda a: np.asarray(a, dtype=float) @ w  # noqa: E731 - positional, knows no names
    truth = w * (x.to_numpy() - bg.to_numpy().mean(0))
    for b in (bg, bg[["d", "c", "b", "a"]]):
        r = nbexplain.attribute(f, x, method="shapley", target=0, background=b)
        np.testing.assert_allclose(r.extras["group_values"], truth, atol=1e-9)
    with pytest.raises(NBExplainError, match=r"background has other columns.*missing: \['d'\]"):
        nbexplain.attribute(f, x, method="shapley", target=0,
                            background=bg.rename(columns={"d": "e"}))


def test_one_row_series_keeps_its_names_and_order_checks():
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(3)
    df = pd.DataFrame(rng.normal(size=(30, 3)), columns=["age", "bmi", "bp"])
    w = np.array([2.0, -1.0, 0.5])
    reg = LinearRegression().fit(df, df.to_numpy() @ w)
    row = df.iloc[4]                                   # a Series indexed by the columns
    a = nbexplain.attribute(reg.predict, row, "shapley", background=df, estimator="exact")
    assert a.extras["feature_names"] == ["age", "bmi", "bp"]     # was x0, x1, x2
    np.testing.assert_allclose(a.values, w * (row.to_numpy() - df.to_numpy().mean(0)),
                               rtol=1e-9, atol=1e-12)
    with pytest.raises(NBExplainError, match="order"):
        nbexplain.attribute(reg.predict, row[["bp", "age", "bmi"]], "shapley", background=df)


# --- column names in results ------------------------------------------------------------------
def test_dataframes_keep_their_column_names_and_the_estimator_stays_quiet():
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.inspection import partial_dependence as sk_pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    X = StandardScaler().fit_transform(data.data[:, :5])
    cols = [str(c) for c in data.feature_names[:5]]
    df = pd.DataFrame(X, columns=cols)
    clf_df = LogisticRegression().fit(df, data.target)          # knows the column names
    clf_np = LogisticRegression().fit(X, data.target)           # the same model, no names
    with warnings.catch_warnings():
        warnings.simplefilter("error")                           # "X does not have valid..."
        a = nbexplain.attribute(clf_df.predict_proba, df.iloc[:3], "shapley", target=1,
                                estimator="exact", background=df.iloc[:20])
        pdp = nbexplain.partial_dependence(clf_df.predict_proba, df, cols[2], target=1,
                                           grid_resolution=7)
        nbexplain.permutation_importance(clf_df.predict_proba, df, data.target, repeats=2,
                                         seed=0)
    b = nbexplain.attribute(clf_np.predict_proba, X[:3], "shapley", target=1,
                            estimator="exact", background=X[:20])
    assert a.extras["feature_names"] == cols
    np.testing.assert_allclose(a.values, b.values, rtol=1e-9, atol=1e-12)
    ref = sk_pd(clf_df, df, [cols[2]], method="brute", grid_resolution=7,
                percentiles=(0.05, 0.95))
    np.testing.assert_allclose(np.ravel(pdp.average), ref["average"][0].ravel(), rtol=1e-9)


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "occlusion"])
def test_dataframe_columns_name_the_features_of_every_method(method):
    torch.manual_seed(0)
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32),
                      columns=["age", "income", "height"])
    r = nbexplain.attribute(nn.Linear(3, 2), df, method, target=1)
    assert r.extras["feature_names"] == ["age", "income", "height"]


def test_dataframe_columns_resolve_named_groups():
    import pandas as pd

    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(4, 4)), columns=["a", "b", "c", "d"])
    w = np.array([1.0, -2.0, 0.5, 3.0])
    a = nbexplain.attribute(lambda z: z @ w, df, "shapley", target=0, estimator="exact",
                            features={"ab": ["a", "b"]}, baseline=0.0)
    assert a.extras["feature_names"] == ["ab", "c", "d"]
    x = df.to_numpy()
    truth = np.stack([x[:, 0] * w[0] + x[:, 1] * w[1], x[:, 2] * w[2], x[:, 3] * w[3]], 1)
    np.testing.assert_allclose(a.extras["group_values"], truth, rtol=1e-12, atol=1e-12)


# --- bool and int columns, read-only values ---------------------------------------------------
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
