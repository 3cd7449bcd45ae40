"""The scikit-learn data and estimators that the dataset-method tests (partial_dependence,
permutation_importance) share, as module-scoped fixtures: ``wine`` (its first six columns,
standardised: quick, and not separable), ``no_proba`` (classifiers without predict_proba on
it, fitted on int and on string labels), ``diabetes`` (with a ridge regression) and
``hgb_with_missing`` (a regression with NaN in one column and a HistGradientBoosting model
that takes them); and ``NAMES``, the string labels of the three wine classes.

This module is a plugin (``pytest_plugins`` in ``conftest.py``), so test modules take the
fixtures without importing them; a module with another data set under the same name (e.g. the
whole of wine with a logistic regression) defines its own fixture, which overrides these.
scikit-learn is imported inside the fixtures: the modules that use them skip without it.
"""

import numpy as np
import pytest

NAMES = np.array(["cat", "dog", "eel"])


@pytest.fixture(scope="module")
def wine():
    """(X, y): wine's first six columns, standardised, and its three classes."""
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:, :6]   # 6 columns: quick, and not separable
    return X, y


@pytest.fixture(scope="module")
def no_proba(wine):
    """Classifiers without predict_proba, fitted on int and on string labels."""
    from sklearn.linear_model import RidgeClassifier
    from sklearn.svm import SVC, LinearSVC

    X, y = wine
    return {
        "linearsvc": LinearSVC(C=0.05).fit(X, y),
        "ridge": RidgeClassifier(alpha=1.0).fit(X, y),
        "svc": SVC().fit(X, y),
        "linearsvc_str": LinearSVC(C=0.05).fit(X, NAMES[y]),
        "svc_binary_str": SVC().fit(X, NAMES[(y == 1).astype(int)]),
    }


@pytest.fixture(scope="module")
def diabetes():
    """(X, y, a ridge regression fitted on them)."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True)
    return X, y, Ridge(alpha=0.1).fit(X, y)


@pytest.fixture(scope="module")
def hgb_with_missing():
    """(X, y, model): a regression with NaN in column 1, and a HistGradientBoosting model."""
    from sklearn.datasets import make_regression
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, y = make_regression(200, 4, random_state=0)
    X[::7, 1] = np.nan
    return X, y, HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(X, y)
