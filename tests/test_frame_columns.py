"""DataFrame columns are matched by name, never silently by position.

A model fitted on a DataFrame gets its values by position: a DataFrame with the same columns
in another order was explained with each column's values under another column's name (a
linear model's Shapley values came out [-4.9, 0, 0.1] for a truth of [-0.5, 0, 1.0]). It is
now refused, as scikit-learn refuses it, with the fix. A background DataFrame is put in the
inputs' column order by name.
"""

import numpy as np
import pandas as pd
import pytest

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
