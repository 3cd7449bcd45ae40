"""Fixes from a new-user review: silent wrong answers and raw errors in the entry points.

Each test compares with a truth computed here (an explicit sigmoid model, a brute-force
token ablation, a hand-made single-image batch), not with numbers taken from nbexplain.
"""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import nbexplain
from nbexplain import NBExplainError


# --- score="probability" with one logit per example -----------------------------------------
class OneLogit(torch.nn.Module):
    def __init__(self, flat=False, sigmoid=False):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(5, 1)
        self.flat, self.sigmoid = flat, sigmoid

    def forward(self, x):
        z = self.lin(x)
        if self.sigmoid:
            z = torch.sigmoid(z)
        return z[:, 0] if self.flat else z


@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("method, opts", [("integrated_gradients", {"steps": 16}),
                                          ("saliency", {"abs": False}),
                                          ("shapley", {"estimator": "exact"})])
def test_probability_of_a_single_logit_is_its_sigmoid(flat, method, opts):
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    a = nbexplain.attribute(OneLogit(flat), x, method, target=0, score="probability",
                            progress_bar=False, **opts)
    truth = nbexplain.attribute(OneLogit(flat, sigmoid=True), x, method, target=0,
                                progress_bar=False, **opts)
    assert np.abs(truth.values).max() > 1e-3            # not the all-zero softmax answer
    np.testing.assert_allclose(a.values, truth.values, rtol=1e-5, atol=1e-7)
    # per example: no mixing of the batch (a softmax over an (N,) output would)
    one = nbexplain.attribute(OneLogit(flat), x[1:2], method, target=0, score="probability",
                              progress_bar=False, **opts)
    np.testing.assert_allclose(one.values[0], a.values[1], rtol=1e-5, atol=1e-7)


def test_probability_of_a_single_score_numpy_function():
    w = np.array([1.0, -2.0, 0.5])
    x = np.random.default_rng(1).normal(size=(3, 3))
    a = nbexplain.attribute(lambda z: z @ w, x, "shapley", estimator="exact",
                            score="probability", target=0)
    sig = lambda z: 1.0 / (1.0 + np.exp(-(z @ w)))  # noqa: E731
    b = nbexplain.attribute(sig, x, "shapley", estimator="exact", target=0)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12)
    assert np.abs(b.values).max() > 1e-2


# --- a single image for a Conv2d model -------------------------------------------------------
class MnistNet(torch.nn.Module):
    """pytorch/examples' MNIST net: x.view(-1, 320) makes it answer an unbatched image."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = torch.nn.Conv2d(1, 10, 5)
        self.conv2 = torch.nn.Conv2d(10, 20, 5)
        self.fc1 = torch.nn.Linear(320, 50)
        self.fc2 = torch.nn.Linear(50, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc2(F.relu(self.fc1(x.view(-1, 320))))


@pytest.mark.parametrize("method", ["saliency", "grad_cam", "occlusion"])
def test_one_grayscale_image_is_one_example(method):
    img = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0))
    m = MnistNet().eval()
    a = nbexplain.attribute(m, img, method, target=3, progress_bar=False)
    b = nbexplain.attribute(m, img[None], method, target=3, progress_bar=False)
    assert a.extras["single"] and a.layout == "image"
    np.testing.assert_allclose(a.values, b.values[0], rtol=1e-6)


def test_a_batch_of_grayscale_images_without_channel_axis_is_named():
    m = MnistNet().eval()
    nbexplain.attribute(m, torch.rand(1, 28, 28), "saliency", target=3)   # 1×28×28 known
    with pytest.raises(NBExplainError, match=r"\(4, 28, 28\).*x\[:, None\]"):
        nbexplain.attribute(m, torch.rand(4, 28, 28), "saliency", target=3)
    a = nbexplain.attribute(m, torch.rand(4, 28, 28)[:, None], "saliency", target=3)
    assert a.values.shape == (4, 1, 28, 28)


# --- occlusion on integer token ids ----------------------------------------------------------
class Tokens(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(20, 4)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, t):
        return self.fc(self.emb(t).mean(1))


def test_occlusion_replaces_tokens_with_the_baseline_token():
    m = Tokens().eval()
    t = torch.randint(1, 20, (2, 6), generator=torch.Generator().manual_seed(0))
    keep = t.clone()
    a = nbexplain.attribute(m, t, "occlusion", target=1, baseline=0, window=1)
    with torch.no_grad():
        f0 = m(t)[:, 1]
        truth = np.stack([(f0 - m(torch.where(torch.arange(6) == j, 0, t))[:, 1]).numpy()
                          for j in range(6)], axis=1)
    np.testing.assert_allclose(a.values, truth, rtol=1e-6, atol=1e-7)
    assert torch.equal(t, keep)
    with pytest.raises(NBExplainError, match="are integers.*token id"):
        nbexplain.attribute(m, t, "occlusion", target=1, baseline=0.5, window=1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_occlusion_refuses_a_non_finite_baseline(bad):
    x = np.random.default_rng(0).random((2, 3, 8, 8)).astype(np.float32)
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 2))
    for base in (bad, np.full((3, 8, 8), bad, np.float32)):
        with pytest.raises(NBExplainError, match="baseline contains NaN or infinite"):
            nbexplain.attribute(m, x, "occlusion", target=0, baseline=base)


# --- the remembered output shape goes stale when the head is replaced ------------------------
def test_targets_are_checked_against_the_current_head():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x = np.random.default_rng(0).random((2, 4)).astype(np.float32)
    nbexplain.attribute(m, x, "saliency", target=1)
    m[2] = torch.nn.Linear(8, 10)                       # more classes now
    a = nbexplain.attribute(m, x, "saliency", target=7)
    assert np.abs(a.values).max() > 0
    nbexplain.attribute(m, x, "saliency", target=7)    # remembered: 10 classes
    m[2] = torch.nn.Linear(8, 2)                        # fewer classes now
    with pytest.raises(NBExplainError, match=r"target 2 is out of range.*2 classes"):
        nbexplain.attribute(m, x, "saliency", target=2)
    with pytest.raises(NBExplainError, match=r"target 2 is out of range.*2 classes"):
        nbexplain.attribute(m, x, "occlusion", target=2)


# --- outputs with more than two axes ---------------------------------------------------------
def test_targets_index_a_multi_axis_output_flattened():
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 15)
    m = lambda z: lin(z).reshape(-1, 3, 5)  # noqa: E731  (N, T=3, K=5)
    x = np.random.default_rng(0).random((2, 4)).astype(np.float32)
    pred = nbexplain.attribute(m, x, "saliency", framework="torch", abs=False)
    with torch.no_grad():
        flat = lin(torch.tensor(x))
    np.testing.assert_array_equal(pred.target, flat.argmax(1).numpy())
    a = nbexplain.attribute(m, x, "saliency", target=7, framework="torch", abs=False)
    np.testing.assert_allclose(a.values, np.broadcast_to(lin.weight[7].detach().numpy(),
                                                         x.shape), rtol=1e-6)
    with pytest.raises(NBExplainError, match=r"3×5 = 15 entries per example.*flattened"):
        nbexplain.attribute(m, x, "saliency", target=15, framework="torch")


# --- numpy functions on channels-last images --------------------------------------------------
def test_numpy_function_on_channels_last_images():
    x = np.random.default_rng(0).random((2, 16, 16, 3))

    def f(z):                                           # N×H×W×C: uses channel 0 only
        return np.stack([z[..., 0].mean((1, 2)), z[..., 2].mean((1, 2))], 1)

    a = nbexplain.attribute(f, x, "occlusion", target=0, channels_first=False, window=4)
    assert a.extras["window"] == (4, 4, 3)              # spatial windows over all channels
    # occluding a 4×4 window (baseline 0) drops channel 0's mean by that window's sum / 256
    truth = np.zeros((2, 16, 16))
    for i in range(0, 16, 4):
        for j in range(0, 16, 4):
            truth[:, i:i + 4, j:j + 4] = x[:, i:i + 4, j:j + 4, 0].sum((1, 2))[:, None,
                                                                              None] / 256
    np.testing.assert_allclose(a.values, np.repeat(truth[..., None], 3, axis=3), rtol=1e-10)
    s = nbexplain.attribute(f, x, "shapley", target=0, channels_first=False, samples=64,
                            features=("grid", 8))
    assert len(s.extras["feature_names"]) == 4          # a 2×2 grid of 8×8 patches
    with pytest.raises(NBExplainError, match="contradicts the model.*N×C×H×W"):
        nbexplain.attribute(torch.nn.Conv2d(3, 2, 3), torch.rand(1, 3, 8, 8), "saliency",
                            target=0, channels_first=False)


# --- smaller rough edges ----------------------------------------------------------------------
def test_empty_inputs_are_named():
    with pytest.raises(NBExplainError, match=r"inputs are empty \(shape \(0, 4\)\)"):
        nbexplain.attribute(torch.nn.Linear(4, 3), np.zeros((0, 4), np.float32))


def test_warnings_point_at_the_callers_line():
    m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Dropout(0.1))   # training mode
    x = np.ones((2, 4), np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nbexplain.attribute(m, x, "saliency", target=0)
        nbexplain.attribute(m.eval(), x, "shapley", target=0, samples=32,
                            background=np.random.default_rng(0).random((300, 4)))
    assert len(caught) == 2
    assert all(w.filename == __file__ for w in caught), [w.filename for w in caught]


def test_keras_probability_of_a_single_logit_is_its_sigmoid():
    import keras      # the tensorflow extra, a dev dependency: never skipped

    def model(sigmoid):
        keras.utils.set_random_seed(0)
        inp = keras.Input((5,))
        out = keras.layers.Dense(1, activation="sigmoid" if sigmoid else None)(inp)
        return keras.Model(inp, out)

    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    for method, opts in (("integrated_gradients", {"steps": 16}), ("saliency", {"abs": False})):
        a = nbexplain.attribute(model(False), x, method, target=0, score="probability",
                                progress_bar=False, **opts)
        b = nbexplain.attribute(model(True), x, method, target=0, progress_bar=False, **opts)
        assert np.abs(b.values).max() > 1e-3
        np.testing.assert_allclose(a.values, b.values, rtol=1e-5, atol=1e-7)


def test_group_values_are_drawn_once_not_summed_over_channels():
    from nbexplain.export import heatmap_2d

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    x = torch.rand(1, 3, 8, 8)
    a = nbexplain.attribute(m, x, "shapley", target=1, features=("grid", 4),
                            estimator="exact")
    gv = a.extras["group_values"][0]
    hm = heatmap_2d(a.values[0], True)
    # the 2×2 grid of 4×4 patches: each pixel shows its patch's Shapley value
    truth = np.kron(gv.reshape(2, 2), np.ones((4, 4)))
    np.testing.assert_allclose(hm, truth, rtol=1e-12)
    fig = a.plot()
    assert np.allclose(fig.axes[0].images[-1].get_array(), truth)
    # an element-wise map still sums its signed channels
    v = np.random.default_rng(0).normal(size=(3, 4, 4))
    np.testing.assert_allclose(heatmap_2d(v, True), v.sum(0))


def test_an_estimator_object_is_pointed_to_its_method():
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).normal(size=(20, 3))
    clf = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    with pytest.raises(NBExplainError, match=r"not callable; pass its method instead, e\.g\. "
                                             r"model\.predict_proba"):
        nbexplain.attribute(clf, x[:2], "shapley")


def test_dataframes_keep_their_column_names_and_the_estimator_stays_quiet():
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.inspection import partial_dependence as sk_pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    X = StandardScaler().fit_transform(data.data[:, :5])
    cols = [str(c) for c in data.feature_names[:5]]
    df = pd.DataFrame(X, columns=cols)
    clf_df = LogisticRegression().fit(df, data.target)          # knows the column names
    clf_np = LogisticRegression().fit(X, data.target)           # the same model, no names
    with warnings.catch_warnings():
        warnings.simplefilter("error")                           # "X does not have valid..."
        a = nbexplain.attribute(clf_df.predict_proba, df.iloc[:3], "shapley", target=1,
                                estimator="exact", background=df.iloc[:20])
        pdp = nbexplain.partial_dependence(clf_df.predict_proba, df, cols[2], target=1,
                                           grid_resolution=7)
        nbexplain.permutation_importance(clf_df.predict_proba, df, data.target, repeats=2,
                                         seed=0)
    b = nbexplain.attribute(clf_np.predict_proba, X[:3], "shapley", target=1,
                            estimator="exact", background=X[:20])
    assert a.extras["feature_names"] == cols
    np.testing.assert_allclose(a.values, b.values, rtol=1e-9, atol=1e-12)
    ref = sk_pd(clf_df, df, [cols[2]], method="brute", grid_resolution=7,
                percentiles=(0.05, 0.95))
    np.testing.assert_allclose(np.ravel(pdp.average), ref["average"][0].ravel(), rtol=1e-9)


def test_sequences_are_drawn_over_their_positions():
    torch.manual_seed(0)
    gru = torch.nn.GRU(4, 6, batch_first=True)
    head = torch.nn.Linear(6, 2)

    def model(z):
        return head(gru(z)[0][:, -1])

    x = torch.randn(2, 7, 4)
    sal = nbexplain.attribute(model, x, "saliency", target=1, framework="torch", abs=False)
    fig = sal.plot(index=1)
    img = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(img, sal.values[1].T)       # dimensions × positions
    shp = nbexplain.attribute(model, x, "shapley", target=1, framework="torch",
                              estimator="exact")           # one value per position
    fig = shp.plot(index=0)
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, shp.extras["group_values"][0], rtol=1e-12)
    assert fig.axes[0].get_xlabel() == "position"


@pytest.mark.parametrize("estimator", ["kernel", "permutation", "exact"])
def test_per_example_groupings_with_empty_groups(estimator):
    rng = np.random.default_rng(0)
    w = rng.normal(size=14)

    def f(z):                                    # nonlinear, every column matters
        return np.tanh(z @ w) + 0.3 * z[:, 0] * z[:, 5]

    x = rng.normal(size=(2, 14))
    bg = rng.normal(size=(6, 14))
    ids = np.stack([np.arange(14), np.arange(14) // 4])      # 14 groups vs 4 groups
    kw = {"background": bg, "estimator": estimator, "samples": 300, "seed": 1}
    if estimator == "exact":
        kw["max_exact_features"] = 14
    batch = nbexplain.attribute(f, x, "shapley", features=ids, **kw)
    gv = batch.extras["group_values"]
    np.testing.assert_allclose(gv[1, 4:], 0.0, atol=1e-15)   # example 1 has 4 groups
    for i in range(2):                                        # efficiency on the real groups
        np.testing.assert_allclose(gv[i].sum(), batch.extras["fx"][i]
                                   - batch.extras["base_value"][i], rtol=1e-9, atol=1e-12)
    if estimator == "kernel":                                 # = each example alone
        for i in range(2):
            one = nbexplain.attribute(f, x[i:i + 1], "shapley", features=ids[i], **kw)
            m_i = one.extras["group_values"].shape[1]
            np.testing.assert_allclose(gv[i, :m_i], one.extras["group_values"][0],
                                       rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(batch.values[i], one.values[0], rtol=1e-10,
                                       atol=1e-12)
        assert batch.extras["estimator"] == ["kernel", "kernel"]
        # with 4 groups the budget enumerates every coalition: example 1 is exact
        ex1 = nbexplain.attribute(f, x[1:2], "shapley", features=ids[1], background=bg,
                                  estimator="exact")
        np.testing.assert_allclose(gv[1, :4], ex1.extras["group_values"][0], rtol=1e-9)


def test_dataframe_columns_resolve_named_groups():
    import pandas as pd

    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(4, 4)), columns=["a", "b", "c", "d"])
    w = np.array([1.0, -2.0, 0.5, 3.0])
    a = nbexplain.attribute(lambda z: z @ w, df, "shapley", target=0, estimator="exact",
                            features={"ab": ["a", "b"]}, baseline=0.0)
    assert a.extras["feature_names"] == ["ab", "c", "d"]
    x = df.to_numpy()
    truth = np.stack([x[:, 0] * w[0] + x[:, 1] * w[1], x[:, 2] * w[2], x[:, 3] * w[3]], 1)
    np.testing.assert_allclose(a.extras["group_values"], truth, rtol=1e-12, atol=1e-12)


def test_shapley_refuses_a_fractional_baseline_for_tokens():
    m = Tokens().eval()
    t = torch.randint(1, 20, (1, 6), generator=torch.Generator().manual_seed(0))
    with pytest.raises(NBExplainError, match="are integers.*token id"):
        nbexplain.attribute(m, t, "shapley", target=0, baseline=0.5)
    a = nbexplain.attribute(m, t, "shapley", target=0, baseline=0, estimator="exact")
    with torch.no_grad():
        gap = float(m(t)[0, 0] - m(torch.zeros_like(t))[0, 0])
    np.testing.assert_allclose(a.extras["group_values"].sum(), gap, rtol=1e-5)


def test_lime_on_a_constant_model_and_bad_widths():
    x = np.random.default_rng(0).normal(size=(2, 5))
    a = nbexplain.attribute(lambda z: np.full(len(z), 3.0), x, "lime", target=0, samples=64)
    np.testing.assert_allclose(a.extras["group_values"], 0.0, atol=1e-9)
    np.testing.assert_array_equal(a.extras["r2"], 1.0)
    f = lambda z: z @ np.arange(1.0, 6.0)  # noqa: E731
    for bad in (0.0, float("nan"), "x", -1.0):
        with pytest.raises(NBExplainError, match="kernel_width="):
            nbexplain.attribute(f, x, "lime", kernel_width=bad, samples=64)
    with pytest.raises(NBExplainError, match="effective samples"):
        nbexplain.attribute(f, x, "lime", kernel_width=0.01, samples=64)
    with pytest.raises(NBExplainError, match="samples=None"):
        nbexplain.attribute(f, x, "lime", samples=None)
    ok = nbexplain.attribute(f, x, "lime", samples=64)           # linear: recovered exactly
    np.testing.assert_allclose(ok.extras["group_values"], x * np.arange(1.0, 6.0), rtol=1e-8)
    np.testing.assert_allclose(ok.extras["r2"], 1.0)
