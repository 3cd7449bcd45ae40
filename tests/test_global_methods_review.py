"""Review fixes of permutation_importance / partial_dependence, checked against scikit-learn.

Every expected number comes from ``sklearn.inspection.permutation_importance`` or
``sklearn.inspection.partial_dependence(method="brute")`` on the same estimator, data and
seeds (or from a replication written here with scikit-learn's metrics), never from nbexplain.
"""

import numpy as np
import pytest

import nbexplain
from nbexplain import NBExplainError

sklearn = pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")
from sklearn.datasets import load_diabetes, load_wine  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.inspection import partial_dependence as sk_pd  # noqa: E402
from sklearn.inspection import permutation_importance as sk_pi  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC, LinearSVC  # noqa: E402

NAMES = np.array(["cat", "dog", "eel"])


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:, :6]   # 6 columns: quick, and not separable
    return X, y


@pytest.fixture(scope="module")
def no_proba(wine):
    """Classifiers without predict_proba, fitted on int and on string labels."""
    X, y = wine
    return {
        "linearsvc": LinearSVC(C=0.05).fit(X, y),
        "ridge": RidgeClassifier(alpha=1.0).fit(X, y),
        "svc": SVC().fit(X, y),
        "linearsvc_str": LinearSVC(C=0.05).fit(X, NAMES[y]),
        "svc_binary_str": SVC().fit(X, NAMES[(y == 1).astype(int)]),
    }


def _assert_pd_equal(ours, ref):
    assert ours.average.shape == ref["average"].shape
    for g1, g2 in zip(ours.grid_values, ref["grid_values"]):
        np.testing.assert_allclose(g1, g2, atol=1e-12)
    np.testing.assert_allclose(ours.average, ref["average"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.individual, ref["individual"], rtol=1e-9, atol=1e-9)


# --- 1. classifiers without predict_proba ----------------------------------------------------
@pytest.mark.parametrize("name", ["linearsvc", "ridge", "svc", "linearsvc_str",
                                  "svc_binary_str"])
def test_pd_of_classifier_without_predict_proba_uses_decision_function(wine, no_proba, name):
    X, _ = wine
    clf = no_proba[name]
    assert not hasattr(clf, "predict_proba")
    ref = sk_pd(clf, X, [1], method="brute", kind="both", grid_resolution=5)
    ours = nbexplain.partial_dependence(clf, X, 1, grid_resolution=5)
    # 3 classes: one decision function per class; binary: one (the positive class)
    assert ours.average.shape == ((1, 5) if name == "svc_binary_str" else (3, 5))
    _assert_pd_equal(ours, ref)
    ref2 = sk_pd(clf, X, [0, 2], method="brute", kind="both", grid_resolution=3)
    _assert_pd_equal(nbexplain.partial_dependence(clf, X, (0, 2), grid_resolution=3), ref2)


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


def test_pi_string_labels_in_a_pandas_series_and_dataframe_model(wine):
    X, y = wine
    df = pd.DataFrame(X, columns=list("abcdef"))
    ys = pd.Series(NAMES[y], dtype=object)        # an object column, as pandas keeps strings
    for clf in (LinearSVC(C=0.05).fit(df, ys), LogisticRegression(max_iter=500).fit(df, ys)):
        ref = sk_pi(clf, df, ys, n_repeats=2, random_state=3)
        ours = nbexplain.permutation_importance(clf, df, ys, repeats=2, seed=3)
        np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-12)
        assert ours.feature_names == list("abcdef")


# --- 2. y shaped (N, 1) ------------------------------------------------------------------------
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


# --- 3. plain functions and labels that are not column indices ---------------------------------
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


# --- 4. partial_dependence(target=<class label>) -----------------------------------------------
def test_pd_target_as_class_label(wine, no_proba):
    X, y = wine
    rf = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, NAMES[y])
    ref = sk_pd(rf, X, [0], method="brute", kind="both", grid_resolution=4)
    col = list(rf.classes_).index("dog")
    for model in (rf, rf.predict_proba):
        ours = nbexplain.partial_dependence(model, X, 0, target="dog", grid_resolution=4)
        np.testing.assert_allclose(ours.average, ref["average"][[col]], atol=1e-12)
        np.testing.assert_allclose(ours.individual, ref["individual"][[col]], atol=1e-12)
        ours = nbexplain.partial_dependence(model, X, 0, target=["eel", "cat"],
                                            grid_resolution=4)
        np.testing.assert_allclose(ours.average, ref["average"][[2, 0]], atol=1e-12)
    with pytest.raises(NBExplainError, match="not one of the model's classes"):
        nbexplain.partial_dependence(rf, X, 0, target="zebra", grid_resolution=4)
    with pytest.raises(NBExplainError, match="classes are unknown"):
        nbexplain.partial_dependence(lambda z: rf.predict_proba(z), X, 0, target="dog",
                                     grid_resolution=4)
    # a binary decision function scores the positive class only
    svc = no_proba["svc_binary_str"]
    ref = sk_pd(svc, X, [0], method="brute", kind="average", grid_resolution=4)
    ours = nbexplain.partial_dependence(svc, X, 0, target=svc.classes_[1], grid_resolution=4)
    np.testing.assert_allclose(ours.average, ref["average"], rtol=1e-9, atol=1e-9)
    with pytest.raises(NBExplainError, match="positive class"):
        nbexplain.partial_dependence(svc, X, 0, target=svc.classes_[0], grid_resolution=4)
    # int labels that are not column indices: a clear error that names the column
    rf1 = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y + 10)
    with pytest.raises(NBExplainError, match="target=2"):
        nbexplain.partial_dependence(rf1, X, 0, target=12, grid_resolution=4)


# --- 5. plot of a two-feature grid with one value ----------------------------------------------
@pytest.mark.parametrize("grid", [([0.0], [-1.0, 0.0, 1.0]), ([0.5], [0.25])])
def test_pd_plot_two_features_single_point_grid(wine, tmp_path, grid):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = wine
    reg = Ridge().fit(X, y.astype(float))
    ref = sk_pd(reg, X, [0, 3], method="brute", kind="average",
                custom_values={0: np.array(grid[0]), 3: np.array(grid[1])})
    ours = nbexplain.partial_dependence(reg, X, (0, 3), grid=[np.array(g) for g in grid])
    np.testing.assert_allclose(ours.average, ref["average"], rtol=1e-9, atol=1e-9)
    ax = ours.plot()
    coloured = [c for c in ax.collections if c.get_array() is not None]
    assert coloured
    np.testing.assert_allclose(np.asarray(coloured[0].get_array()).ravel(),
                               ref["average"][0].ravel(), atol=1e-9)
    plt.close(ax.figure)
    out = tmp_path / "pd2.png"
    assert ours.save(str(out)) == str(out) and out.stat().st_size > 1000
    one = nbexplain.partial_dependence(reg, X, 0, grid=[0.5])     # one feature, one value
    one.save(str(tmp_path / "pd1.png"))


# --- 6. a DataFrame's column names in features= groups -----------------------------------------
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


# --- NaN as missing values ------------------------------------------------------------------
# NaN in X was refused outright, also for models that handle missing values natively
# (HistGradientBoosting), which scikit-learn's own functions accept. Now the model decides:
# its answers are checked instead, with the imputation advice when it returns NaN.
@pytest.fixture(scope="module")
def hgb_with_missing():
    from sklearn.datasets import make_regression
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, y = make_regression(200, 4, random_state=0)
    X[::7, 1] = np.nan
    return X, y, HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(X, y)


def test_permutation_importance_with_missing_values_agrees_with_sklearn(hgb_with_missing):
    from sklearn.inspection import permutation_importance as sk_pi

    X, y, hgb = hgb_with_missing
    ours = nbexplain.permutation_importance(hgb, X, y, repeats=3, seed=0)
    ref = sk_pi(hgb, X, y, n_repeats=3, random_state=0)
    np.testing.assert_allclose(ours.importances, ref.importances, atol=1e-12)


def test_partial_dependence_with_missing_values_agrees_with_sklearn(hgb_with_missing):
    from sklearn.inspection import partial_dependence as sk_pd

    X, y, hgb = hgb_with_missing
    ours = nbexplain.partial_dependence(hgb, X, 0, grid_resolution=7, kind="both")
    ref = sk_pd(hgb, X, [0], grid_resolution=7, kind="both", method="brute")
    np.testing.assert_allclose(ours.grid_values[0], ref["grid_values"][0])
    np.testing.assert_allclose(ours.average, ref["average"], rtol=1e-10)
    # the column with missing values: its grid is built from the values present
    on_missing = nbexplain.partial_dependence(hgb, X, 1, grid_resolution=7)
    present = X[~np.isnan(X[:, 1]), 1]
    want = sk_pd(hgb, X, [1], method="brute", custom_values={1: on_missing.grid_values[0]})
    assert not np.isnan(on_missing.grid_values[0]).any()
    assert present.min() <= on_missing.grid_values[0].min()
    assert on_missing.grid_values[0].max() <= present.max()
    np.testing.assert_allclose(on_missing.average, want["average"], rtol=1e-10)


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
