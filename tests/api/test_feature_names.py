"""feature_names that do not fit the features are refused with the count, never indexed past
their end (an IndexError) or silently dropped; no two features share a name."""

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError

X = np.random.default_rng(0).normal(size=(2, 5))


def f(a):
    return np.asarray(a) @ np.arange(5.0)


@pytest.mark.parametrize("method", ["shapley", "lime"])
@pytest.mark.parametrize("names", [list("abc"), list("abcdefg")])
def test_grouped_features_need_one_name_per_column(method, names):
    with pytest.raises(NBExplainError, match=f"feature_names has {len(names)} names but there "
                                             "are 5 columns"):
        nbexplain.attribute(f, X, method=method, target=0, features={"g": [0, 1]},
                            feature_names=names)


def test_grouped_features_with_column_names():
    r = nbexplain.attribute(f, X, method="shapley", target=0, features={"g": ["a", "b"]},
                            feature_names=list("abcde"))
    assert r.extras["feature_names"] == ["g", "c", "d", "e"]
    # efficiency on a linear model, baseline 0: the group gets w_a x_a + w_b x_b
    np.testing.assert_allclose(r.extras["group_values"][:, 0], X[:, 1] * 1.0, atol=1e-12)


def test_permutation_importance_checks_the_names_too():
    y = f(X)
    with pytest.raises(NBExplainError, match="feature_names has 3 names"):
        nbexplain.permutation_importance(f, X, y, features={"g": [0, 1]},
                                         feature_names=list("abc"), repeats=2, seed=0)


def test_duplicate_names_are_refused():
    with pytest.raises(NBExplainError, match="both named 'b'"):
        nbexplain.attribute(f, X, method="shapley", target=0, features={"b": ["a"]},
                            feature_names=list("abcde"))


def test_grid_patches_take_the_names_given_or_refuse_a_wrong_count():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    x = torch.rand(1, 1, 8, 8)
    with pytest.raises(NBExplainError, match="2 names but features=.*defines 4 features"):
        nbexplain.attribute(net, x, method="shapley", target=0, features=("grid", 4),
                            feature_names=["tl", "tr"])
    r = nbexplain.attribute(net, x, method="shapley", target=0, features=("grid", 4),
                            feature_names=["tl", "tr", "bl", "br"])
    assert r.extras["feature_names"] == ["tl", "tr", "bl", "br"]
