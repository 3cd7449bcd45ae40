"""The table view's numbers are attribute()'s: the bars of a row for each table method, a
baseline handle dragged to v (= attribute(..., baseline=the background's means with v in
that feature)), Shapley's intervals narrowing as the budget grows, and the summary over every
row; for a scikit-learn predict_proba and for a torch MLP. Also the sequence and text views,
and explain()'s choice of view from the inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError

from widget_helpers import gru_classifier

sklearn = pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def cancer():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    d = load_breast_cancer(as_frame=True)
    X = d.data.iloc[:, :6]
    clf = LogisticRegression(max_iter=5000).fit(X, d.target)
    return clf, X


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).eval()
    x = torch.rand(4, 5, generator=torch.Generator().manual_seed(1))
    return m, x


def same(w, model, rows):
    row = rows[w.row:w.row + 1]
    a = nbexplain.attribute(model, row, method=w.method, target=w.target, **w.options_for())
    np.testing.assert_allclose(np.asarray(a.values).ravel(), w.bars["values"], rtol=1e-6,
                               atol=1e-9)
    return a


@pytest.mark.parametrize("method", ["shapley", "lime", "occlusion"])
def test_bars_of_a_scikit_learn_model_are_attributes(cancer, method):
    clf, X = cancer
    w = nbexplain.explain(clf.predict_proba, X.iloc[:5], method=method,
                          background=X.iloc[:60], samples=256 if method == "lime" else None)
    try:
        assert w.view == "table" and w.feature_names == list(X.columns)
        same(w, clf.predict_proba, X.iloc[:5])
        w.row = 3
        assert w.wait(60) and w.error == ""
        assert w.bars["row"] == 3
        same(w, clf.predict_proba, X.iloc[:5])
    finally:
        w.close()


@pytest.mark.parametrize("method", ["shapley", "integrated_gradients", "saliency",
                                    "input_x_gradient", "occlusion", "lime"])
def test_bars_of_a_torch_model_are_attributes_and_follow_the_method(mlp, method):
    m, x = mlp
    w = nbexplain.explain(m, x, feature_names=list("abcde"))
    try:
        w.method = method
        assert w.wait(60) and w.error == "", w.error
        same(w, m, x)
    finally:
        w.close()


def test_a_dragged_baseline_is_the_background_mean_with_that_value(cancer):
    clf, X = cancer
    bg = X.iloc[:80]
    w = nbexplain.explain(clf.predict_proba, X.iloc[:3], background=bg)
    try:
        w.baseline = {"mean texture": 31.5}
        assert w.wait(60) and w.error == ""
        row = bg.to_numpy().mean(0)
        row[list(X.columns).index("mean texture")] = 31.5
        a = nbexplain.attribute(clf.predict_proba, X.iloc[:1], method="shapley",
                                target=w.target, baseline=row[None])
        np.testing.assert_allclose(np.asarray(a.values).ravel(), w.bars["values"], rtol=1e-6)
        np.testing.assert_allclose(w.bars["baseline"], row)
        # efficiency: the bars add up from the baseline's score to the row's
        assert sum(w.bars["values"]) == pytest.approx(
            w.bars["prediction"] - w.bars["base_value"], rel=1e-6, abs=1e-9)
        w.baseline_kind = "median"
        assert w.wait(60)
        med = np.median(bg.to_numpy(), 0)
        med[list(X.columns).index("mean texture")] = 31.5
        np.testing.assert_allclose(w.bars["baseline"], med)
        w.baseline = {"no such feature": 1.0}
        assert w.wait(60) and "not a feature" in w.error
    finally:
        w.close()


def test_shapley_error_bars_narrow_as_the_budget_grows(mlp):
    m, x = mlp
    w = nbexplain.explain(m, x, estimator="permutation", samples=64)
    try:
        widths = []
        for budget in (64, 4096):
            w.budget = budget
            assert w.wait(60) and w.error == ""
            lo, hi = np.array(w.bars["ci_low"]), np.array(w.bars["ci_high"])
            assert np.all(lo <= np.array(w.bars["values"]) + 1e-12)
            widths.append(float(np.mean(hi - lo)))
            same(w, m, x)
        assert widths[1] < widths[0] / 3, widths
    finally:
        w.close()


def test_the_summary_holds_every_rows_attribution(cancer, monkeypatch):
    clf, X = cancer
    w = nbexplain.explain(clf.predict_proba, X.iloc[:6], background=X.iloc[:40])
    sent = []
    monkeypatch.setattr(w, "send", lambda c, b=None: sent.append(c))
    try:
        w.summary = True
        assert w.wait(60)
        (msg,) = [c for c in sent if c["kind"] == "summary"]
        a = nbexplain.attribute(clf.predict_proba, X.iloc[:6], method="shapley",
                                target=w.target, **w.options_for())
        np.testing.assert_allclose(np.array(msg["values"]), a.values, rtol=1e-6, atol=1e-12)
        assert np.array(msg["feature_values"]).shape == (6, 6)
    finally:
        w.close()


def test_the_view_follows_the_inputs(mlp):
    m, x = mlp
    assert type(nbexplain.explain(m, x)).__name__ == "TableExplainer"

    seq = gru_classifier()
    s = torch.rand(2, 6, 3, generator=torch.Generator().manual_seed(2))
    w = nbexplain.explain(seq, s)
    try:
        assert w.view == "sequence" and w.map["shape"] == [6, 3]
        a = nbexplain.attribute(seq, s[:1], method="saliency", target=w.target)
        np.testing.assert_allclose(w.values, np.asarray(a.values)[0], rtol=1e-6)
        w.method = "integrated_gradients"
        assert w.wait(60) and w.error == ""
        a = nbexplain.attribute(seq, s[:1], method="integrated_gradients", target=w.target)
        np.testing.assert_allclose(w.values, np.asarray(a.values)[0], rtol=1e-5, atol=1e-8)
    finally:
        w.close()


def test_a_new_row_explains_its_predicted_class_until_a_class_is_chosen(cancer):
    clf, X = cancer
    pred = clf.predict(X.iloc[:40])
    i, j = int(np.flatnonzero(pred != pred[0])[0]), 0
    w = nbexplain.explain(clf.predict_proba, X.iloc[:40], samples=64, seed=0)
    try:
        assert w.target == pred[0]
        w.row = i
        assert w.wait(60) and w.target == pred[i] and w.bars["target"] == pred[i]
        w.target = int(pred[0])          # chosen: kept on the next rows
        assert w.wait(60)
        w.row = j
        assert w.wait(60) and w.target == pred[0]
        w.row = i
        assert w.wait(60) and w.target == pred[0] and w.bars["target"] == pred[0]
    finally:
        w.close()


def test_the_text_view_highlights_tokens_through_the_embedding():
    class Txt(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.embed = torch.nn.Embedding(30, 4)
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, ids):
            return self.fc(torch.tanh(self.embed(ids)).mean(1))

    m = Txt().eval()
    ids = torch.tensor([[3, 5, 7, 9, 2]])
    tokens = ["the", "<script>window.__p=1</script>", "##ing", "</span>", "Ġend"]
    w = nbexplain.explain(m, ids, tokens=tokens)
    try:
        assert w.view == "text" and w.tokens == tokens       # kept as text, verbatim
        ref = nbexplain.attribute(m, ids, method="integrated_gradients", target=w.target,
                                  layer=m.embed)
        np.testing.assert_allclose(w.values, np.asarray(ref.values)[0], rtol=1e-6)
        w.method = "input_x_gradient"
        assert w.wait(30) and w.error == ""
        ref = nbexplain.attribute(m, ids, method="input_x_gradient", target=w.target,
                                  layer=m.embed)
        np.testing.assert_allclose(w.values, np.asarray(ref.values)[0], rtol=1e-6)
    finally:
        w.close()
    with pytest.raises(NBExplainError, match="one string per id"):
        nbexplain.explain(m, ids, tokens=["a"])


def test_the_text_view_of_a_batch_shows_each_rows_own_tokens():
    torch.manual_seed(0)
    emb = torch.nn.Embedding(30, 4)
    m = torch.nn.Sequential(emb, torch.nn.Flatten(), torch.nn.Linear(12, 2)).eval()
    ids = torch.tensor([[3, 5, 7], [8, 4, 2]])      # predicted: class 0, then class 1
    rows = [["good", "<b>film</b>", "ok"], ["bad", "plot", "ugh"]]
    w = nbexplain.explain(m, ids, tokens=rows, layer=emb)
    try:
        assert w.tokens == rows[0] and w.token_ids == [3, 5, 7]
        assert w.row_labels == ["good <b>film</b> ok", "bad plot ugh"]   # text, verbatim
        w.index = 1
        assert w.wait(30) and w.error == ""
        assert w.tokens == rows[1] and w.token_ids == [8, 4, 2]
        with torch.no_grad():
            pred = int(m(ids[1:]).argmax(1))
            pred0 = int(m(ids[:1]).argmax(1))
        assert w.target == pred       # the new row's own predicted class
        ref = nbexplain.attribute(m, ids[1:], method="integrated_gradients", target=pred,
                                  layer=emb)
        np.testing.assert_allclose(w.values, np.asarray(ref.values)[0], rtol=1e-6)
        w.target = 1 - pred           # chosen: kept when the row changes
        assert w.wait(30)
        w.index = 0
        assert pred0 != pred
        assert w.wait(30) and w.target == 1 - pred
    finally:
        w.close()
    with pytest.raises(NBExplainError, match="one list per row"):
        nbexplain.explain(m, ids, tokens=rows[0], layer=emb)
    with pytest.raises(NBExplainError, match="2 lists for 2 rows|row 1 has 2 strings"):
        nbexplain.explain(m, ids, tokens=[rows[0], rows[1][:2]], layer=emb)


def test_the_data_set_views_draw_what_plot_draws(cancer):
    import io

    from PIL import Image

    clf, X = cancer
    y = (clf.predict(X) > 0).astype(int)
    w = nbexplain.explain_global(clf.predict_proba, X.iloc[:120], y[:120], repeats=3, seed=0,
                                 target=1)
    try:
        assert w.view == "global" and w.kind == "permutation_importance"
        ref = nbexplain.permutation_importance(clf.predict_proba, X.iloc[:120], y[:120],
                                               repeats=3, seed=0, target=1)
        np.testing.assert_allclose(w.result.importances_mean, ref.importances_mean)
        assert Image.open(io.BytesIO(w.figure)).size == (576, 384)
    finally:
        w.close()
    w = nbexplain.explain_global(clf.predict_proba, X.iloc[:80], kind="partial_dependence",
                                 grid_resolution=8, target=1)
    try:
        first = bytes(w.figure)
        w.feature = "mean area"
        assert w.wait(60) and w.error == ""
        assert bytes(w.figure) != first
        ref = nbexplain.partial_dependence(clf.predict_proba, X.iloc[:80],
                                           [list(X.columns).index("mean area")],
                                           grid_resolution=8, target=1)
        np.testing.assert_allclose(w.result.average, ref.average)
    finally:
        w.close()


def test_keras_tables_and_text_use_the_same_views():
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    inp = keras.Input((5,))
    km = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Dense(8, activation="tanh")(inp)))
    x = np.random.default_rng(1).random((4, 5)).astype("float32")
    w = nbexplain.explain(km, x, feature_names=list("abcde"), method="integrated_gradients")
    try:
        assert w.view == "table"
        same(w, km, x)
        w.baseline = {"c": 0.9}
        assert w.wait(60) and w.error == ""
        same(w, km, x)
    finally:
        w.close()
    ids_in = keras.Input((6,), dtype="int32")
    emb = keras.layers.Embedding(30, 4, name="embed")
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(emb(ids_in)))
    tm = keras.Model(ids_in, out)
    ids = np.array([[3, 5, 7, 9, 2, 4]], dtype="int32")
    w = nbexplain.explain(tm, ids, tokens=["a", "b", "c", "d", "e", "f"])
    try:
        ref = nbexplain.attribute(tm, ids, method="integrated_gradients", target=w.target,
                                  layer="embed")
        np.testing.assert_allclose(w.values, np.asarray(ref.values)[0], rtol=1e-5)
    finally:
        w.close()
