"""Results move between nbexplain and the libraries users already use: an Attribution is an
array, a torch or TensorFlow tensor, a DataFrame, a SHAP Explanation that SHAP's own plots
draw; show() takes SHAP Explanations and Captum batches (with index=)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nbexplain

from widget_helpers import trait_map

pd = pytest.importorskip("pandas")
shap = pytest.importorskip("shap")


@pytest.fixture(scope="module")
def table():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2)).eval()
    X = pd.DataFrame(np.random.default_rng(0).random((5, 4)).astype("float32"),
                     columns=["age", "<b>income</b>", "height", "weight"])
    return m, X


def test_an_attribution_is_an_array_a_tensor_and_a_dataframe(table):
    m, X = table
    a = nbexplain.attribute(m, X, method="shapley", target=1)
    np.testing.assert_array_equal(np.asarray(a), a.values)
    t = a.to_torch()
    assert isinstance(t, torch.Tensor) and t.device.type == "cpu"
    np.testing.assert_array_equal(t.numpy(), a.values)
    df = a.to_pandas()
    assert list(df.columns) == list(X.columns) and df.shape == (5, 4)
    tf = pytest.importorskip("tensorflow")
    np.testing.assert_array_equal(a.to_tensorflow().numpy(), a.values)
    assert isinstance(a.to_tensorflow(), tf.Tensor)


def test_to_shap_draws_with_shaps_own_plots(table):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m, X = table
    a = nbexplain.attribute(m, X, method="shapley", target=1)
    e = a.to_shap()
    assert isinstance(e, shap.Explanation) and e.feature_names == list(X.columns)
    np.testing.assert_array_equal(e.values, a.values)
    # efficiency: base + Σ values = the model's score of each row
    with torch.no_grad():
        fx = m(torch.as_tensor(X.to_numpy()))[:, 1].numpy()
    np.testing.assert_allclose(e.base_values + e.values.sum(1), fx, rtol=1e-5, atol=1e-6)
    shap.plots.bar(e, show=False)
    assert plt.gcf().axes, "shap.plots.bar drew nothing"
    plt.close("all")
    shap.plots.waterfall(e[0], show=False)
    assert plt.gcf().axes
    plt.close("all")


def test_show_takes_a_shap_explanation_as_its_values(table):
    m, X = table
    e = nbexplain.attribute(m, X, method="shapley", target=1).to_shap()
    a = nbexplain.show(e, index=2)
    b = nbexplain.show(e.values, X, index=2)
    try:
        assert a.view == b.view == "table"
        assert a.bars["values"] == b.bars["values"] == pytest.approx(e.values[2])
        assert a.feature_names == b.feature_names == list(X.columns)
        assert a.bars["base_value"] == pytest.approx(float(e.base_values[2]))
    finally:
        a.close()
        b.close()


def test_show_takes_a_captum_batch_with_index():
    from captum.attr import Saliency

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                            torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 5)).eval()
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    vals = Saliency(m).attribute(x, target=2)
    for v, inp in ((vals, x), ((vals,), (x,))):       # a tensor, or Captum's tuple form
        w = nbexplain.show(v, inp, index=1, target=2)
        try:
            hm, tol = trait_map(w)
            np.testing.assert_allclose(hm, vals[1].max(0).values.numpy(), rtol=0, atol=tol)
        finally:
            w.close()
