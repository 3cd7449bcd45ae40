"""partial_dependence against scikit-learn.

Every expected number comes from ``sklearn.inspection.partial_dependence(method="brute")`` on
the same estimator and grid (or, for a torch model, from ICE curves computed here): a classifier
without predict_proba is scored by its decision function (one per class; the positive class
only for a binary one), targets may be class labels, the plot checks and labels its target
index, a two-feature grid of one value is plotted and saved, and missing values are the
model's to handle (the grid is built from the values present).
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import nbexplain  # noqa: E402
from nbexplain import NBExplainError  # noqa: E402

sklearn = pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.inspection import partial_dependence as sk_pd  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402

# the fixtures wine, no_proba and hgb_with_missing come from the plugin sklearn_data
from sklearn_data import NAMES  # noqa: E402


def _assert_pd_equal(ours, ref):
    assert ours.average.shape == ref["average"].shape
    for g1, g2 in zip(ours.grid_values, ref["grid_values"]):
        np.testing.assert_allclose(g1, g2, atol=1e-12)
    np.testing.assert_allclose(ours.average, ref["average"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.individual, ref["individual"], rtol=1e-9, atol=1e-9)


# --- classifiers: decision functions and class labels -----------------------------------------
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


# --- plots ------------------------------------------------------------------------------------
def test_partial_dependence_plot_target_index_is_checked_and_labelled():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0))
    pdp = nbexplain.partial_dependence(clf, X, features=[0], target=1, grid_resolution=5)
    with pytest.raises(NBExplainError, match=r"target_index=1: this result holds 1 target"
                                             r".*output columns \[1\]"):
        pdp.plot(target_index=1)
    assert pdp.plot().get_ylabel() == "model output (column 1)"


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


# --- missing values ---------------------------------------------------------------------------
# NaN in X is the model's to handle: a model that takes missing values natively
# (HistGradientBoosting) is explained as scikit-learn's own functions explain it.
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
