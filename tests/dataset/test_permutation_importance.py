"""permutation_importance against scikit-learn.

Every expected number comes from ``sklearn.inspection.permutation_importance`` on the same
estimator, data and seeds (or from a replication written here with scikit-learn's metrics),
never from nbexplain: the default metric is the estimator's score (accuracy on predict for a
classifier, with or without predict_proba; r2 for a regressor), labels are read through the
model's ``classes_`` (strings, 1-based ints; a plain function needs column indices), y may be
a column vector or a DataFrame, feature groups (of DataFrame columns too) shuffle together, a
torch model scores as the estimator it copies, and missing values are the model's to handle.
"""

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError

sklearn = pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.inspection import permutation_importance as sk_pi  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

# the fixtures wine, no_proba, diabetes and hgb_with_missing come from the plugin sklearn_data
from sklearn_data import NAMES  # noqa: E402


# --- the default metric -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["linearsvc", "ridge", "svc", "linearsvc_str",
                                  "svc_binary_str"])
def test_pi_default_metric_of_classifier_is_accuracy_on_predict(wine, no_proba, name):
    X, y = wine
    clf = no_proba[name]
    labels = (NAMES[y] if name == "linearsvc_str" else
              NAMES[(y == 1).astype(int)] if name == "svc_binary_str" else y)
    # scikit-learn's default scorer is the estimator's score(): accuracy for a classifier
    ref = sk_pi(clf, X, labels, n_repeats=3, random_state=5)
    ours = nbexplain.permutation_importance(clf, X, labels, repeats=3, seed=5)
    assert ours.metric == "accuracy"
    np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-12)
    assert ours.baseline_score == pytest.approx(clf.score(X, labels), abs=1e-12)
    ref = sk_pi(clf, X, labels, scoring="accuracy", n_repeats=2, random_state=1)
    ours = nbexplain.permutation_importance(clf, X, labels, "accuracy", repeats=2, seed=1)
    np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-12)
    # the bound predict method works the same way, string labels included
    ours = nbexplain.permutation_importance(clf.predict, X, labels, "accuracy", repeats=2,
                                            seed=1)
    np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-12)


def test_pi_default_metric_of_regressor_is_r2():
    X, y = load_diabetes(return_X_y=True)
    reg = Ridge(alpha=0.1).fit(X, y)
    ref = sk_pi(reg, X, y, n_repeats=2, random_state=0)     # estimator.score: r2
    ours = nbexplain.permutation_importance(reg, X, y, repeats=2, seed=0)
    assert ours.metric == "r2"
    np.testing.assert_allclose(ours.importances, ref.importances, rtol=1e-9, atol=1e-9)


def test_permutation_importance_matches_sklearn_regressor(diabetes):
    X, y, reg = diabetes
    for metric, scoring in (("r2", "r2"), ("neg_mse", "neg_mean_squared_error")):
        ref = sk_pi(reg, X, y, scoring=scoring, n_repeats=4, random_state=3)
        ours = nbexplain.permutation_importance(reg.predict, X, y, metric, repeats=4, seed=3)
        np.testing.assert_allclose(ours.importances, ref.importances, rtol=1e-9, atol=1e-9)


# --- labels -----------------------------------------------------------------------------------
def test_pi_string_labels_in_a_pandas_series_and_dataframe_model(wine):
    X, y = wine
    df = pd.DataFrame(X, columns=list("abcdef"))
    ys = pd.Series(NAMES[y], dtype=object)        # an object column, as pandas keeps strings
    for clf in (LinearSVC(C=0.05).fit(df, ys), LogisticRegression(max_iter=500).fit(df, ys)):
        ref = sk_pi(clf, df, ys, n_repeats=2, random_state=3)
        ours = nbexplain.permutation_importance(clf, df, ys, repeats=2, seed=3)
        np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-12)
        assert ours.feature_names == list("abcdef")


def test_pi_bound_method_maps_labels_through_its_classes(wine):
    X, y = wine
    for labels in (NAMES[y], y + 1):              # strings, and 1-based ints
        rf = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, labels)
        ref = sk_pi(rf, X, labels, scoring="accuracy", n_repeats=2, random_state=4)
        ours = nbexplain.permutation_importance(rf.predict_proba, X, labels, "accuracy",
                                                repeats=2, seed=4)
        np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-12)
        assert ours.baseline_score == pytest.approx(accuracy_score(labels, rf.predict(X)))
        ref = sk_pi(rf, X, labels, scoring="neg_log_loss", n_repeats=2, random_state=4)
        ours = nbexplain.permutation_importance(rf.predict_proba, X, labels, "log_loss",
                                                repeats=2, seed=4)
        np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-10)
        # the default metric of a classifier's bound method is accuracy, as for the estimator
        assert nbexplain.permutation_importance(rf.predict_proba, X, labels,
                                                repeats=1).metric == "accuracy"


def test_pi_plain_function_with_labels_that_are_not_column_indices_raises(wine):
    X, y = wine
    rf = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)

    def proba(z):           # a plain function: nbexplain cannot read classes_
        return rf.predict_proba(z)

    for labels in (NAMES[y], y + 1):
        with pytest.raises(NBExplainError, match="not column indices 0..2.*bound method"):
            nbexplain.permutation_importance(proba, X, labels, "accuracy", repeats=1)
        with pytest.raises(NBExplainError, match="bound method"):
            nbexplain.permutation_importance(proba, X, labels, "log_loss", repeats=1)

    def positive(z):        # one probability per row: y must be 0/1
        return rf.predict_proba(z)[:, 1]

    with pytest.raises(NBExplainError, match="not column indices 0 or 1"):
        nbexplain.permutation_importance(positive, X, NAMES[(y == 1).astype(int)],
                                         "accuracy", repeats=1)
    # integer labels 0..K-1 still work with a plain function, as scikit-learn's accuracy
    ref = sk_pi(rf, X, y, scoring="accuracy", n_repeats=2, random_state=0)
    ours = nbexplain.permutation_importance(proba, X, y, "accuracy", repeats=2, seed=0)
    np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-12)


# --- y shaped (N, 1) --------------------------------------------------------------------------
def test_pi_column_vector_y_is_flattened():
    X, y = load_diabetes(return_X_y=True)
    reg = Ridge(alpha=0.1).fit(X, y)
    for metric, scoring in (("r2", "r2"), ("neg_mse", "neg_mean_squared_error")):
        ref = sk_pi(reg, X, y, scoring=scoring, n_repeats=2, random_state=0)
        ours = nbexplain.permutation_importance(reg.predict, X, y[:, None], metric, repeats=2,
                                                seed=0)
        np.testing.assert_allclose(ours.importances, ref.importances, rtol=1e-9, atol=1e-9)
        p = reg.predict(X)
        assert ours.baseline_score == pytest.approx(
            r2_score(y, p) if metric == "r2" else -np.mean((y - p) ** 2), rel=1e-12)
    ours = nbexplain.permutation_importance(reg, X, pd.DataFrame({"t": y}), repeats=2, seed=0)
    ref = sk_pi(reg, X, y, n_repeats=2, random_state=0)
    np.testing.assert_allclose(ours.importances, ref.importances, rtol=1e-9, atol=1e-9)
    with pytest.raises(NBExplainError, match=r"y has shape \(442, 2\)"):
        nbexplain.permutation_importance(reg, X, np.column_stack([y, y]), "r2")


def test_pi_column_vector_labels_accuracy(wine):
    X, y = wine
    clf = LogisticRegression(max_iter=500).fit(X, y)
    ref = sk_pi(clf, X, y, scoring="accuracy", n_repeats=2, random_state=2)
    for model in (clf, clf.predict_proba):
        ours = nbexplain.permutation_importance(model, X, y[:, None], "accuracy", repeats=2,
                                                seed=2)
        np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-12)
        assert ours.baseline_score == pytest.approx(accuracy_score(y, clf.predict(X)))


# --- feature groups ---------------------------------------------------------------------------
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


def test_pi_dataframe_column_names_in_feature_groups(wine):
    X, y = wine
    df = pd.DataFrame(X, columns=list("abcdef"))
    clf = LogisticRegression(max_iter=500).fit(df, y)
    ref = sk_pi(clf, df, y, scoring="accuracy", n_repeats=3, random_state=0)
    for features, first in (({"ab": ["a", "b"]}, "ab"), ([["a", "b"]], "a+b"),
                            ({"ab": [0, "b"]}, "ab")):
        ours = nbexplain.permutation_importance(clf, df, y, "accuracy", repeats=3, seed=0,
                                                features=features)
        assert ours.feature_names == [first, "c", "d", "e", "f"]
        # the leftover single columns shuffle as scikit-learn's (same RandomState per feature)
        np.testing.assert_allclose(ours.importances[1:], ref.importances[2:], atol=1e-12)
    # the group: scikit-learn's shuffles applied to both columns together, scored with
    # scikit-learn's accuracy
    rs = np.random.RandomState(np.random.RandomState(0).randint(np.iinfo(np.int32).max + 1))
    idx, xp, drops = np.arange(len(X)), df.copy(), []
    base = accuracy_score(y, clf.predict(df))
    for _ in range(3):
        rs.shuffle(idx)
        xp[["a", "b"]] = xp[["a", "b"]].to_numpy()[idx]
        drops.append(base - accuracy_score(y, clf.predict(xp)))
    np.testing.assert_allclose(ours.importances[0], drops, atol=1e-12)
    # "columns" names the columns too; an integer array of group ids keeps group names
    assert nbexplain.permutation_importance(clf, df, y, features="columns",
                                            repeats=1).feature_names == list("abcdef")
    g = nbexplain.permutation_importance(clf, df, y, features=np.array([0, 0, 1, 1, 2, 2]),
                                         repeats=1)
    assert g.feature_names == ["group 0", "group 1", "group 2"]


# --- missing values ---------------------------------------------------------------------------
# NaN in X is the model's to handle: a model that takes missing values natively
# (HistGradientBoosting) is explained as scikit-learn's own functions explain it, and a model
# that returns NaN for them gets the imputation advice.
def test_permutation_importance_with_missing_values_agrees_with_sklearn(hgb_with_missing):
    from sklearn.inspection import permutation_importance as sk_pi

    X, y, hgb = hgb_with_missing
    ours = nbexplain.permutation_importance(hgb, X, y, repeats=3, seed=0)
    ref = sk_pi(hgb, X, y, n_repeats=3, random_state=0)
    np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-12)


def test_missing_values_for_a_model_that_cannot_take_them():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    X[[2, 5], 1] = np.nan
    y = np.zeros(20)
    with pytest.raises(NBExplainError, match=r"2 of the 20 rows.*2 NaN.*impute"):
        nbexplain.permutation_importance(net, X, y, metric="neg_mse")
    with pytest.raises(NBExplainError, match=r"impute"):
        nbexplain.partial_dependence(net, X, 0, grid_resolution=3)
