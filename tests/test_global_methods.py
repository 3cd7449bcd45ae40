"""Permutation importance and partial dependence against scikit-learn."""

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_diabetes, load_wine  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.inspection import partial_dependence as sk_pd  # noqa: E402
from sklearn.inspection import permutation_importance as sk_pi  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = LogisticRegression(max_iter=2000).fit(X, y)
    return X, y, clf


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X, y, Ridge(alpha=0.1).fit(X, y)


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


def test_permutation_importance_matches_sklearn_regressor(diabetes):
    X, y, reg = diabetes
    for metric, scoring in (("r2", "r2"), ("neg_mse", "neg_mean_squared_error")):
        ref = sk_pi(reg, X, y, scoring=scoring, n_repeats=4, random_state=3)
        ours = nbexplain.permutation_importance(reg.predict, X, y, metric, repeats=4, seed=3)
        np.testing.assert_allclose(ours.importances, ref.importances, rtol=1e-9, atol=1e-9)


def test_permutation_importance_torch_model_and_groups(diabetes):
    X, y, reg = diabetes
    lin = torch.nn.Linear(10, 1).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(reg.coef_)[None])
        lin.bias.fill_(float(reg.intercept_))
    a = nbexplain.permutation_importance(lin, X, y, "r2", repeats=3, seed=0, batch_size=64)
    b = nbexplain.permutation_importance(reg.predict, X, y, "r2", repeats=3, seed=0)
    np.testing.assert_allclose(a.importances, b.importances, atol=1e-10)
    g = nbexplain.permutation_importance(reg.predict, X, y, "r2", repeats=3, seed=0,
                                         features={"bmi+bp": [2, 3]})
    assert g.feature_names[0] == "bmi+bp" and len(g.feature_names) == 9
    # independent replication: one RandomState per group, cumulative shuffles of both columns
    rs = np.random.RandomState(np.random.RandomState(0).randint(np.iinfo(np.int32).max + 1))
    idx, xp, drops = np.arange(len(X)), X.copy(), []
    base = sklearn.metrics.r2_score(y, reg.predict(X))
    for _ in range(3):
        rs.shuffle(idx)
        xp[:, [2, 3]] = xp[idx][:, [2, 3]]
        drops.append(base - sklearn.metrics.r2_score(y, reg.predict(xp)))
    np.testing.assert_allclose(g.importances[0], drops, atol=1e-12)


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


def test_partial_dependence_torch_binary_target_and_plots(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                              torch.nn.Linear(8, 2)).double().eval()
    X = np.random.default_rng(0).normal(size=(40, 4))
    pd = nbexplain.partial_dependence(net, X, 0, target=1, grid_resolution=5, batch_size=33)
    grid = pd.grid_values[0]
    with torch.no_grad():
        ice = np.stack([net(torch.tensor(np.column_stack([np.full(40, g), X[:, 1:]])))[:, 1]
                        .numpy() for g in grid], axis=1)
    np.testing.assert_allclose(pd.individual[0], ice, atol=1e-12)
    np.testing.assert_allclose(pd.average[0], ice.mean(0), atol=1e-12)
    assert pd.save(str(tmp_path / "pd.png")).endswith("pd.png")
    pi = nbexplain.permutation_importance(net, X, (X[:, 0] > 0).astype(int), repeats=2)
    assert pi.metric == "accuracy"
    pi.save(str(tmp_path / "pi.svg"))
    assert (tmp_path / "pd.png").stat().st_size > 1000
    assert (tmp_path / "pi.svg").stat().st_size > 1000


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
