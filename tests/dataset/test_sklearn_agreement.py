"""Both dataset methods on scikit-learn's standard examples (a logistic regression on wine,
a ridge regression on diabetes, a random forest with labels 10..12): the numbers of
sklearn.inspection's permutation_importance and partial_dependence(method="brute") for every
metric and grid, and malformed inputs refused (NaN outside the grid's column by scikit-learn's
own refusal)."""

import numpy as np
import pytest

import nbexplain
from nbexplain import NBExplainError

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_wine  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.inspection import partial_dependence as sk_pd  # noqa: E402
from sklearn.inspection import permutation_importance as sk_pi  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


# all 13 columns and a fitted logistic regression: overrides the plugin sklearn_data's wine
# (six columns, no model); diabetes comes from that plugin
@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = LogisticRegression(max_iter=2000).fit(X, y)
    return X, y, clf


@pytest.mark.parametrize("seed,repeats", [(0, 5), (42, 3)])
def test_permutation_importance_matches_sklearn_classifier(wine, seed, repeats):
    X, y, clf = wine
    ref = sk_pi(clf, X, y, scoring="accuracy", n_repeats=repeats, random_state=seed)
    for model in (clf, clf.predict_proba):
        ours = nbexplain.permutation_importance(model, X, y, "accuracy", repeats=repeats,
                                                seed=seed, batch_size=100)
        np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-12)
        np.testing.assert_allclose(ours.importances_mean, ref.importances_mean, atol=1e-12)
        np.testing.assert_allclose(ours.importances_std, ref.importances_std, atol=1e-12)
    assert ours.importances.shape == (13, repeats)
    assert ours.importances_mean.max() > 0.01


def test_permutation_importance_log_loss_and_random_forest(wine):
    X, y, clf = wine
    ref = sk_pi(clf, X, y, scoring="neg_log_loss", n_repeats=3, random_state=7)
    ours = nbexplain.permutation_importance(clf.predict_proba, X, y, "log_loss", repeats=3,
                                            seed=7)
    np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-10)
    rf = RandomForestClassifier(n_estimators=15, random_state=0).fit(X, y + 10)  # labels 10..12
    ref = sk_pi(rf, X, y + 10, scoring="accuracy", n_repeats=2, random_state=1)
    ours = nbexplain.permutation_importance(rf, X, y + 10, "accuracy", repeats=2, seed=1)
    np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-12)


def test_partial_dependence_matches_sklearn_brute(wine, diabetes):
    X, y, clf = wine
    ref = sk_pd(clf, X, [2], method="brute", kind="both", grid_resolution=15)
    ours = nbexplain.partial_dependence(clf, X, 2, grid_resolution=15)
    np.testing.assert_allclose(ours.grid_values[0], ref["grid_values"][0], atol=1e-12)
    np.testing.assert_allclose(ours.average, ref["average"], atol=1e-12)
    np.testing.assert_allclose(ours.individual, ref["individual"], atol=1e-12)
    Xd, yd, reg = diabetes
    ref = sk_pd(reg, Xd, [2, 8], method="brute", kind="both", grid_resolution=6,
                percentiles=(0.1, 0.9))
    ours = nbexplain.partial_dependence(reg.predict, Xd, (2, 8), grid_resolution=6,
                                        percentiles=(0.1, 0.9))
    for g1, g2 in zip(ours.grid_values, ref["grid_values"]):
        np.testing.assert_allclose(g1, g2, atol=1e-12)
    assert ours.average.shape == (1, 6, 6) and ours.individual.shape == (1, len(Xd), 6, 6)
    np.testing.assert_allclose(ours.average, ref["average"], atol=1e-9)
    np.testing.assert_allclose(ours.individual, ref["individual"], atol=1e-9)
    # a custom grid, and few unique values -> the unique values themselves
    ref = sk_pd(reg, Xd, [1], method="brute", kind="average",
                custom_values={1: np.array([-0.05, 0.0, 0.05])})
    ours = nbexplain.partial_dependence(reg.predict, Xd, 1, grid=[-0.05, 0.0, 0.05],
                                        kind="average")
    np.testing.assert_allclose(ours.average, ref["average"], atol=1e-9)
    assert ours.individual is None
    ours = nbexplain.partial_dependence(reg.predict, Xd, 1)   # column 1 (sex) has 2 values
    assert len(ours.grid_values[0]) == 2


def test_bad_input(wine):
    X, y, clf = wine
    with pytest.raises(NBExplainError, match="y has 10 entries"):
        nbexplain.permutation_importance(clf, X, y[:10])
    with pytest.raises(NBExplainError, match="unknown metric"):
        nbexplain.permutation_importance(clf, X, y, "f7")
    with pytest.raises(NBExplainError, match="score='probability'"):
        nbexplain.permutation_importance(lambda z: z[:, :3] * 5, X, y, "log_loss")
    with pytest.raises(NBExplainError, match="not a column index"):
        nbexplain.partial_dependence(clf, X, 20)
    with pytest.raises(NBExplainError, match="out of range"):
        nbexplain.partial_dependence(clf, X, 0, target=5, grid_resolution=3)
    Xn = X.copy()
    Xn[0, 1] = np.nan     # in another column than the one the grid replaces
    with pytest.raises(ValueError, match="NaN"):   # scikit-learn's own refusal
        nbexplain.partial_dependence(clf, Xn, 0)
    Xi = X.copy()
    Xi[3, 2] = np.inf
    with pytest.raises(NBExplainError, match="1 infinite value"):
        nbexplain.permutation_importance(clf, Xi, y)
    with pytest.raises(NBExplainError, match="repeats"):
        nbexplain.permutation_importance(clf, X, y, repeats=0)
