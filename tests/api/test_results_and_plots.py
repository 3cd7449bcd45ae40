"""Results and how they are drawn: plot() and save() for single-example and batched maps
(Grad-CAM's (H, W) maps included) with the example index checked; feature and group names on
the bars, drawn as text (never as mathtext); a group's value drawn once over its pixels;
sequences drawn over their positions with whole-number ticks; a callable target named by its
function in the title; non-finite values warned about and left out of the colour scale; and
warnings that point at the caller's line.

Truths: the drawn arrays against the values themselves, the closed-form Shapley values of
linear models, and the text the user gave.
"""

import os
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402

import nbexplain  # noqa: E402
from nbexplain import NBExplainError  # noqa: E402

import option_models  # noqa: E402
from option_models import W, linear_torch  # noqa: E402
from parity_models import LastStepLSTM  # noqa: E402
from toys import _linear32  # noqa: E402

# option_models' module-scoped fixtures (they override the plugin torch_cnn's cnn and xb)
cnn, xb = option_models.cnn, option_models.xb


# --- plot() and save() ------------------------------------------------------------------------
MAGIC = {"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_pp", "saliency"])
@pytest.mark.parametrize("single", [True, False])
def test_save_single_and_batched(cnn, xb, tmp_path, method, single):
    a = nbexplain.attribute(cnn, xb[0] if single else xb, method, target=1)
    assert a.extras["single"] is single
    for ext, magic in MAGIC.items():
        p = tmp_path / f"{method}_{single}.{ext}"
        assert a.save(str(p)) == str(p)
        assert p.stat().st_size > 0
        assert p.read_bytes().startswith(magic)


def _drawn_heatmap(fig):
    return np.asarray(fig.axes[0].images[-1].get_array())


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_pp"])
def test_grad_cam_plot_draws_the_requested_examples_map(cnn, xb, method):
    single = nbexplain.attribute(cnn, xb[1], method, target=2)
    assert single.values.shape == (8, 8)
    fig = single.plot()
    try:  # truth: the drawn map is the example's map itself (no row picked out of it)
        np.testing.assert_array_equal(_drawn_heatmap(fig), single.values)
    finally:
        plt.close(fig)
    batch = nbexplain.attribute(cnn, xb, method, target=2)
    fig = batch.plot(index=1)
    try:
        np.testing.assert_array_equal(_drawn_heatmap(fig), batch.values[1])
        np.testing.assert_allclose(batch.values[1], single.values, rtol=1e-5, atol=1e-7)
    finally:
        plt.close(fig)


def test_grad_cam_without_upsampling_covers_the_image(cnn, xb, tmp_path):
    a = nbexplain.attribute(cnn, xb[0], "grad_cam", target=0, layer="c2", upsample=False)
    fig = a.plot()
    try:
        img, hm = fig.axes[0].images
        assert img.get_extent() == hm.get_extent()
    finally:
        plt.close(fig)
    assert os.path.getsize(a.save(str(tmp_path / "raw.png"))) > 0


def test_out_of_range_index_is_an_nbexplain_error(cnn, xb, tmp_path):
    batch = nbexplain.attribute(cnn, xb, "saliency", target=0)
    single = nbexplain.attribute(cnn, xb[0], "grad_cam", target=0)
    tab = nbexplain.attribute(linear_torch(), np.ones((3, 4), np.float32), target=0)
    open_before = plt.get_fignums()
    for a, index, match in [(batch, 2, r"index=2, but the attribution has 2 examples; use 0\.\.1"),
                            (batch, -3, r"index=-3, but the attribution has 2 examples"),
                            (tab, 7, r"index=7, but the attribution has 3 examples"),
                            (single, 1, r"index=1, but this attribution is for a single"),
                            (batch, 0.5, r"index=0\.5; pass the int position")]:
        with pytest.raises(NBExplainError, match=match):
            a.plot(index=index)
        with pytest.raises(NBExplainError, match=match):
            a.save(str(tmp_path / "never.png"), index=index)
    assert not (tmp_path / "never.png").exists()
    assert plt.get_fignums() == open_before      # no figure left behind
    fig = batch.plot(index=-1)                   # Python-style negative indices still work
    plt.close(fig)


# --- bars: feature and group names ------------------------------------------------------------
def _tick_labels(fig):
    return [t.get_text() for t in fig.axes[0].get_yticklabels()]


def test_feature_names_label_the_bars():
    f = lambda z: z @ W.T  # noqa: E731
    x = np.array([[1.0, 2.0, -3.0, 0.5], [2.0, -1.0, 1.0, 1.0]])
    names = ["age", "income", "height", "weight"]
    a = nbexplain.attribute(f, x, "shapley", target=0, baseline=0.0, feature_names=names)
    assert list(a.extras["feature_names"]) == names
    for index in (0, 1):
        fig = a.plot(index=index)
        try:
            # truth: Shapley values of a linear model with a zero baseline are w_i x_i; the
            # bars run from the smallest |value| (bottom) to the largest (top)
            phi = W[0] * x[index]
            expected = [names[i] for i in np.argsort(np.abs(phi))]
            assert _tick_labels(fig) == expected
        finally:
            plt.close(fig)
    # explicit names win; a wrong count is an NBExplainError, not an IndexError
    fig = a.plot(feature_names=["a", "b", "c", "d"])
    assert sorted(_tick_labels(fig)) == ["a", "b", "c", "d"]
    plt.close(fig)
    with pytest.raises(NBExplainError, match="feature_names has 2 names"):
        a.plot(feature_names=["a", "b"])


def test_feature_group_names_label_the_group_values():
    f = lambda z: z @ W.T  # noqa: E731
    x = np.array([[1.0, 2.0, -3.0, 0.5]])
    a = nbexplain.attribute(f, x[0], "shapley", target=1, baseline=0.0,
                            features={"first": [0, 1], "last": [2, 3]})
    fig = a.plot()
    try:
        # truth: a group's Shapley value on a linear model is the sum of its w_i x_i
        phi = W[1] * x[0]
        g = {"first": phi[:2].sum(), "last": phi[2:].sum()}
        assert _tick_labels(fig) == sorted(g, key=lambda k: abs(g[k]))
        widths = [p.get_width() for p in fig.axes[0].patches]
        np.testing.assert_allclose(sorted(widths), sorted(g.values()), rtol=1e-6)
    finally:
        plt.close(fig)


def test_tabular_without_names_and_single_tabular_example(tmp_path):
    a = nbexplain.attribute(linear_torch(), np.ones(4, np.float32), "input_x_gradient",
                            target=1)
    assert a.extras["single"] is True
    fig = a.plot()
    try:
        # truth: input × gradient of a linear model at x = 1 is the weight row
        expected = [f"x{i}" for i in np.argsort(np.abs(W[1]))]
        assert _tick_labels(fig) == expected
    finally:
        plt.close(fig)
    for ext in MAGIC:
        assert os.path.getsize(a.save(str(tmp_path / f"t.{ext}"))) > 0


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


# --- heatmaps of feature groups and of sequences ----------------------------------------------
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


def test_sequence_heatmap_ticks_are_whole_numbers():
    import matplotlib

    matplotlib.use("Agg")
    a = nbexplain.attribute(LastStepLSTM(), torch.randn(2, 5, 4), "saliency", target=0, abs=False)
    ax = a.plot()
    ax = ax if hasattr(ax, "get_yticks") else ax.axes[0]
    for ticks in (ax.get_yticks(), ax.get_xticks()):
        assert len(ticks) and np.allclose(ticks, np.round(ticks)), ticks


# --- titles -----------------------------------------------------------------------------------
def test_callable_target_title_names_no_address():
    lin, x, _, _ = _linear32()
    a = nbexplain.attribute(lin, torch.tensor(x), "saliency", target=lambda out: out[:, 1])
    title = a.plot().axes[0].get_title()
    assert "0x" not in title and "function of the output" in title

    def margin(out):
        return out[:, 1] - out[:, 0]

    b = nbexplain.attribute(lin, torch.tensor(x), "saliency", target=margin)
    assert b.plot().axes[0].get_title() == "saliency · target margin(output)"


# --- non-finite attributions (a model that overflows), warnings -------------------------------
class _ExpOverflow(torch.nn.Module):
    """exp(100) overflows float32: the gradient at that input element is inf."""

    def forward(self, x):
        return torch.exp(x.flatten(1)).sum(1, keepdim=True)


def _overflowing(shape):
    x = np.zeros(shape, np.float32)
    x.flat[0] = 100.0
    return x


def test_attribute_warns_about_non_finite_values():
    with pytest.warns(UserWarning, match=r"1 of the 16 saliency values are not finite"):
        a = nbexplain.attribute(_ExpOverflow(), _overflowing((1, 1, 4, 4)), "saliency")
    assert np.isinf(a.values).sum() == 1


@pytest.mark.parametrize("shape", [(1, 1, 4, 4), (1, 2, 2), (1, 4)],
                         ids=["image", "sequence", "tabular"])
def test_plots_leave_non_finite_values_out_of_the_scale(shape):
    with pytest.warns(UserWarning, match="not finite"):
        a = nbexplain.attribute(_ExpOverflow(), _overflowing(shape), "saliency")
    with pytest.warns(UserWarning, match="drawn blank"):
        fig = a.plot()
    try:
        ax = fig.axes[0]
        if ax.images:      # heatmaps: the colour scale spans the finite values (all 1)
            lo, hi = ax.images[-1].get_clim()
            assert np.isfinite([lo, hi]).all() and hi == pytest.approx(1.0)
        else:              # bars: the inf one is not drawn as the largest
            heights = [p.get_width() if hasattr(p, "get_width") else None
                       for p in ax.patches]
            assert all(np.isfinite(h) or np.isnan(h) for h in heights)
    finally:
        plt.close(fig)


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


def test_control_characters_in_names_are_left_out_of_svg_and_pdf(tmp_path):
    import xml.etree.ElementTree as ET

    a = nbexplain.Attribution(values=np.array([0.5, -1.0, 0.25]), method="saliency", target=0,
                              options={}, delta=None, inputs=np.array([1.0, 2.0, 3.0]),
                              layout="tabular", channels_first=True,
                              extras={"single": True,
                                      "feature_names": ["a\x00b", "esc\x1b[31m", "tab\tok"]})
    svg = a.save(str(tmp_path / "f.svg"))
    root = ET.parse(svg).getroot()                 # well-formed XML
    text = ET.tostring(root, encoding="unicode")
    assert "\x00" not in text and "\x1b" not in text
    pdf = a.save(str(tmp_path / "f.pdf"))
    with open(pdf, "rb") as f:
        assert f.read(4) == b"%PDF"


def test_the_repr_of_a_big_batch_summarises_its_arrays():
    from nbexplain import Attribution

    a = Attribution(values=np.zeros((300, 3)), method="integrated_gradients",
                    target=np.arange(300), delta=np.linspace(0, 1, 300))
    text = repr(a)
    assert len(text) < 400 and "..." in text and "shape=(300, 3)" in text
    small = Attribution(values=np.zeros((2, 3)), method="saliency", target=np.array([0, 1]),
                        delta=np.ones(2))
    assert "delta=array([1., 1.])" in repr(small)
