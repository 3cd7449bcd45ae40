"""Defects a new-user review of results, figures and the progressive forms found, each against
an independent truth (a linear model's exact Shapley values, the text the user gave)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402

import nbexplain  # noqa: E402
from nbexplain import NBExplainError  # noqa: E402


def _linear32():
    torch.manual_seed(0)
    lin = torch.nn.Linear(12, 2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 12)).astype(np.float32)
    bg = rng.normal(size=(10, 12)).astype(np.float32)
    w = lin.weight.detach().numpy().astype(np.float64)[1]
    truth = w * (x[0].astype(np.float64) - bg.astype(np.float64).mean(0))
    return lin, x, bg, truth


@pytest.mark.parametrize("samples", [200, 400, 1000])
def test_kernel_errors_of_a_float32_additive_model_are_small_not_infinite(samples):
    lin, x, bg, truth = _linear32()
    a = nbexplain.attribute(lin, torch.tensor(x), "shapley", target=1, background=bg,
                            estimator="kernel", samples=samples, seed=0)
    scale = float(np.abs(truth).max())
    np.testing.assert_allclose(a.values[0], truth, rtol=0, atol=1e-6 * scale)
    se = a.extras["stderr"][0]
    # before: inf for every feature at 400 and 1000 samples (some already at 200)
    assert np.all(np.isfinite(se)), se
    assert np.all(se <= 1e-5 * scale), se


def test_progressive_kernel_intervals_of_a_float32_additive_model_stay_finite():
    lin, x, bg, truth = _linear32()
    widths = []
    for est in nbexplain.attribute_progressive(lin, torch.tensor(x), "shapley", target=1,
                                               background=bg, estimator="kernel",
                                               samples=1000, chunk=40, seed=0):
        widths.append(float(np.max(est.extras["ci_high"] - est.extras["ci_low"])))
    finite = [w for w in widths if np.isfinite(w)]
    # before: finite once (7.7e-9 at 236 evaluations), then inf at every later estimate
    assert len(finite) >= len(widths) - 2 and np.isfinite(widths[-1]), widths
    assert widths[-1] <= 1e-5 * float(np.abs(truth).max())


def test_dollar_signs_in_names_are_drawn_as_text(tmp_path):
    names = ["Income ($) / Spend ($)", r"price $\frac$", "plain", "<b>bold</b>"]
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 4)), columns=names)
    y = df.to_numpy() @ np.array([1.0, -2.0, 0.5, 3.0])
    reg = LinearRegression().fit(df, y)
    a = nbexplain.attribute(reg.predict, df.iloc[:2], "shapley", background=df,
                            estimator="exact")
    fig = a.plot()
    labels = fig.axes[0].get_yticklabels()
    assert sorted(t.get_text() for t in labels) == sorted(names)
    assert not any(t.get_parse_math() for t in labels)
    # before: a raw matplotlib ValueError from the malformed "$\frac$" in every format
    for ext in ("png", "svg", "pdf"):
        a.save(str(tmp_path / f"a.{ext}"))
    pi = nbexplain.permutation_importance(reg, df, y, repeats=2, seed=0)
    pi.save(str(tmp_path / "pi.png"))
    ax = pi.plot()
    assert not any(t.get_parse_math() for t in ax.get_yticklabels())
    pdp = nbexplain.partial_dependence(reg, df, features=[names[1]], grid_resolution=5)
    ax = pdp.plot()
    assert ax.get_xlabel() == names[1] and not ax.xaxis.label.get_parse_math()
    pdp.save(str(tmp_path / "pd.svg"))


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


def test_progressive_shapley_checks_chunk():
    lin, x, bg, _ = _linear32()
    for bad in (1.5, -3, True, 0):
        with pytest.raises(NBExplainError, match=rf"chunk={bad!r}; use a whole number"):
            list(nbexplain.attribute_progressive(lin, torch.tensor(x), "shapley", target=1,
                                                 background=bg, samples=100, chunk=bad))


def test_callable_target_title_names_no_address():
    lin, x, _, _ = _linear32()
    a = nbexplain.attribute(lin, torch.tensor(x), "saliency", target=lambda out: out[:, 1])
    title = a.plot().axes[0].get_title()
    assert "0x" not in title and "function of the output" in title

    def margin(out):
        return out[:, 1] - out[:, 0]

    b = nbexplain.attribute(lin, torch.tensor(x), "saliency", target=margin)
    assert b.plot().axes[0].get_title() == "saliency · target margin(output)"
