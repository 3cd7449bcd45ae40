"""Class labels as targets of ``attribute`` for a scikit-learn classifier's bound methods, as
``partial_dependence`` takes them; and the message for an integer table with a fractional
baseline.

Truths: the column of a label is its position in ``clf.classes_`` (scikit-learn's own
contract for predict_proba / decision_function), and the values for a label must equal the
values for that column, computed by the same estimator with an int target.
"""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import nbexplain
from nbexplain import NBExplainError

X, Y = load_iris(return_X_y=True)
NAMES = np.array(["setosa", "versicolor", "virginica"])[Y]
BG = X[:50]


@pytest.fixture(scope="module")
def clf():
    return LogisticRegression(max_iter=500).fit(X, NAMES)


def _shap(model, x, target):
    return nbexplain.attribute(model, x, "shapley", target=target, background=BG,
                               estimator="exact")


def test_a_label_explains_the_column_of_that_class(clf):
    col = list(clf.classes_).index("virginica")
    a = _shap(clf.predict_proba, X[:3], "virginica")
    b = _shap(clf.predict_proba, X[:3], col)
    np.testing.assert_array_equal(a.target, [col] * 3)
    np.testing.assert_allclose(a.values, b.values, rtol=0, atol=0)
    # and efficiency holds against the column scikit-learn says scores that class
    p = clf.predict_proba(X[:3])[:, col] - clf.predict_proba(BG)[:, col].mean()
    np.testing.assert_allclose(a.values.sum(axis=1), p, rtol=1e-9, atol=1e-12)


def test_one_label_per_example_and_log_proba(clf):
    labels = ["setosa", "virginica", "versicolor"]
    cols = [list(clf.classes_).index(v) for v in labels]
    a = _shap(clf.predict_log_proba, X[:3], labels)
    np.testing.assert_array_equal(a.target, cols)
    b = _shap(clf.predict_log_proba, X[:3], cols)
    np.testing.assert_allclose(a.values, b.values, rtol=0, atol=0)


def test_a_single_example_keeps_its_label_target(clf):
    a = nbexplain.attribute(clf.predict_proba, X[0], "occlusion", target="versicolor",
                            baseline=BG.mean(0))
    assert a.target == list(clf.classes_).index("versicolor")


def test_unknown_label_names_the_classes(clf):
    with pytest.raises(NBExplainError, match=r"'virginca' is not one of the model's classes "
                                             r"\['setosa', 'versicolor', 'virginica'\]"):
        _shap(clf.predict_proba, X[:2], "virginca")


def test_an_int_label_past_the_columns_names_its_column():
    clf = LogisticRegression(max_iter=500).fit(X, Y + 1)       # classes 1, 2, 3
    with pytest.raises(NBExplainError, match="3 is a class label of the model: its column "
                                             "is target=2"):
        _shap(clf.predict_proba, X[:2], 3)
    # an int inside the columns stays a column (as everywhere in nbexplain)
    assert list(_shap(clf.predict_proba, X[:2], 1).target) == [1, 1]
    # a float is not read as an int classifier's label: refused as before
    with pytest.raises(NBExplainError, match="not an integer class index"):
        _shap(clf.predict_proba, X[:2], 3.0)


def test_binary_decision_function_scores_the_positive_class_only():
    yb = np.where(NAMES == "virginica", "yes", "no")
    clf = LogisticRegression(max_iter=500).fit(X, yb)
    a = _shap(clf.decision_function, X[:2], "yes")
    np.testing.assert_array_equal(a.target, [0, 0])
    d = clf.decision_function(X[:2]) - clf.decision_function(BG).mean()
    np.testing.assert_allclose(a.values.sum(axis=1), d, rtol=1e-9, atol=1e-12)
    with pytest.raises(NBExplainError, match="scores the positive class 'yes' only.*"
                                             "target=lambda out: -out"):
        _shap(clf.decision_function, X[:2], "no")


def test_boolean_classes_take_boolean_labels():
    clf = LogisticRegression(max_iter=500).fit(X, NAMES == "virginica")   # classes F, T
    a = _shap(clf.predict_proba, X[:2], True)
    np.testing.assert_array_equal(a.target, [1, 1])


def test_labels_need_a_classifier_whose_columns_follow_its_classes(clf):
    # a plain function: its columns name no classes, the label is refused as before
    with pytest.raises(NBExplainError, match="unknown target 'virginica'"):
        _shap(lambda z: clf.predict_proba(z), X[:2], "virginica")


def test_integer_table_with_a_fractional_baseline_suggests_float_inputs():
    xi = (X * 10).astype(np.int64)
    clf = LogisticRegression(max_iter=1000).fit(xi, Y)
    with pytest.raises(NBExplainError, match=r"are integers.*X\.astype\(float\)"):
        nbexplain.attribute(clf.predict_proba, xi[:2], "shapley", target=0,
                            baseline=xi.mean(0))
    # the fix it names works, and gives the linear-in-log-odds model's exact values
    a = nbexplain.attribute(clf.predict_proba, xi[:2].astype(float), "shapley", target=0,
                            baseline=xi.mean(0), estimator="exact")
    f = clf.predict_proba(xi[:2].astype(float))[:, 0] - clf.predict_proba(xi.mean(0)[None])[0, 0]
    np.testing.assert_allclose(a.values.sum(axis=1), f, rtol=1e-9, atol=1e-12)


def test_probability_score_is_refused_for_predict_proba_everywhere(clf):
    # predict_proba already returns probabilities: a softmax of them explains nothing real
    for call in (
        lambda: nbexplain.attribute(clf.predict_proba, X[:2], "shapley", target=0,
                                    background=BG, score="probability"),
        lambda: nbexplain.partial_dependence(clf.predict_proba, X[:50], features=[0],
                                             score="probability"),
        lambda: nbexplain.permutation_importance(clf.predict_proba, X[:50], NAMES[:50],
                                                 score="probability"),
    ):
        with pytest.raises(NBExplainError, match="already is probabilities"):
            call()
    # a decision function's scores are logits: softmax of them is P(class), as predict_proba
    # gives for a multinomial logistic regression
    pd_prob = nbexplain.partial_dependence(clf.decision_function, X[:50], features=[0],
                                           score="probability", grid=[5.0, 6.0])
    pd_true = nbexplain.partial_dependence(clf.predict_proba, X[:50], features=[0],
                                           grid=[5.0, 6.0])
    np.testing.assert_allclose(pd_prob.average, pd_true.average, rtol=1e-9, atol=1e-12)


def test_multi_output_classifiers_keep_int_column_targets():
    from sklearn.ensemble import RandomForestClassifier

    y2 = np.stack([Y, (X[:, 0] > 5.8).astype(int)], axis=1)
    rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y2)
    # its predict_proba is a list of one array per output: output= picks one, int columns
    a = nbexplain.attribute(rf.predict_proba, X[:3], "occlusion", target=1, output=0,
                            baseline=BG.mean(0))
    p = rf.predict_proba(X[:3])[0][:, 1]
    assert a.values.shape == (3, 4)
    # occlusion of each feature: the score drop when it is set to the baseline
    for j in range(4):
        z = X[:3].copy()
        z[:, j] = BG.mean(0)[j]
        np.testing.assert_allclose(a.values[:, j], p - rf.predict_proba(z)[0][:, 1],
                                   rtol=1e-12, atol=1e-12)


def test_one_vs_one_decision_columns_are_not_classes():
    from sklearn.svm import SVC

    svc = SVC(decision_function_shape="ovo").fit(X, NAMES)
    # 3 classes give 3 pair columns: (setosa, versicolor), (setosa, virginica), (versicolor,
    # virginica); "virginica" names none of them (it silently became the third pair)
    with pytest.raises(NBExplainError, match="scores pairs of classes"):
        _shap(svc.decision_function, X[:2], "virginica")
    with pytest.raises(NBExplainError, match="cannot be read as a class label"):
        nbexplain.partial_dependence(svc, X[:50], features=[0], target="virginica",
                                     grid_resolution=3)
    ovr = SVC(decision_function_shape="ovr").fit(X, NAMES)
    col = list(ovr.classes_).index("virginica")
    np.testing.assert_array_equal(_shap(ovr.decision_function, X[:2], "virginica").target,
                                  [col, col])
