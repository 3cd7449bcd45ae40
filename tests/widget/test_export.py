"""Figures out of the widget: w.export() writes the current view as PNG/SVG/PDF with its
provenance (read back by real readers), and the widget's output carries a static PNG of its
view, so a notebook run and converted by nbconvert shows an <img> where the widget was."""

from __future__ import annotations

import base64
import re
import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

import nbexplain

from widget_helpers import cnn, gru_classifier

pd = pytest.importorskip("pandas")


def test_export_writes_the_view_with_its_provenance(tmp_path):
    from PIL import Image
    from pypdf import PdfReader

    labels = [f"<script>window.__p={i}</script>" for i in range(10)]
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8), labels=labels,
                          method="integrated_gradients", steps=12)
    try:
        w.colormap = "viridis"
        paths = [str(tmp_path / f"view.{e}") for e in ("png", "svg", "pdf")]
        for p in paths:
            w.export(p)
            prov = nbexplain.read_provenance(p)
            assert prov["method"] == "integrated_gradients" and prov["options"]["steps"] == 12
            assert prov["colormap"] == "viridis" and prov["target"] == w.target
            assert prov["model"].endswith("Sequential") and prov["input_shape"] == [1, 1, 8, 8]
            assert "torch" in prov["versions"]
        with Image.open(paths[0]) as im:
            assert json.loads(im.text["nbexplain"])["view"] == "image"
        tree = ET.parse(paths[1])
        assert not [el for el in tree.iter() if el.tag.endswith("script")]
        assert json.loads(PdfReader(paths[2]).metadata["/Subject"])["view"] == "image"
    finally:
        w.close()


def test_the_exported_overlay_follows_sign_top_k_and_clip_as_the_browser_draws_them():
    from nbexplain.widgets.display import shown_map

    hm = np.array([[-4.0, -1.0, 0.5], [2.0, 3.0, np.nan]])
    v, lo, hi, signed = shown_map(hm, "both", 100.0, 100.0)
    assert signed and (lo, hi) == (-4.0, 4.0) and np.isnan(v[1, 2])
    v, lo, hi, signed = shown_map(hm, "positive", 100.0, 100.0)
    assert not signed and np.isnan(v[0, :2]).all() and (lo, hi) == (0.0, 3.0)
    v, lo, hi, signed = shown_map(hm, "negative", 100.0, 100.0)
    np.testing.assert_array_equal(v[0, :2], [4.0, 1.0])
    assert np.isnan(v[1]).all()
    # top 40% of the 5 finite cells: 2 cells, the largest |value| (-4 and 3)
    v, _, _, _ = shown_map(hm, "both", 40.0, 100.0)
    assert set(np.flatnonzero(np.isfinite(v.ravel()))) == {0, 4}
    # the clip percentile of |values| sets a signed range (js/lib/normalize.ts robustRange)
    _, lo, hi, _ = shown_map(hm, "both", 100.0, 50.0)
    assert hi == pytest.approx(np.percentile([4.0, 1.0, 0.5, 2.0, 3.0], 50)) and lo == -hi


def test_export_draws_the_display_settings_and_names_them(tmp_path):
    from PIL import Image

    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(2)),
                          method="input_x_gradient")
    try:
        pictures = {}
        for sign, top in (("both", 100.0), ("positive", 100.0), ("both", 10.0)):
            w.sign, w.top_k = sign, top
            path = tmp_path / f"{sign}-{top:g}.png"
            w.export(str(path))
            with Image.open(path) as im:
                pictures[(sign, top)] = np.asarray(im.convert("RGB"), np.int16)
            prov = nbexplain.read_provenance(path)
            assert prov["sign"] == sign
        base = pictures[("both", 100.0)]
        for key in (("positive", 100.0), ("both", 10.0)):
            other = pictures[key]
            assert other.shape == base.shape
            assert (np.abs(other - base).max(axis=2) > 30).mean() > 0.01, key
    finally:
        w.close()


def test_an_unknown_colour_map_is_refused_with_the_choices():
    import traitlets

    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8))
    try:
        with pytest.raises(traitlets.TraitError, match="colormap='bogus'.*viridis"):
            w.colormap = "bogus"
        assert w.colormap == "auto"
    finally:
        w.close()


def test_the_table_view_exports_its_bars(tmp_path):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(3, 2))
    X = pd.DataFrame(np.random.default_rng(0).random((4, 3)).astype("float32"),
                     columns=["a", "<b>b</b>", "c"])
    w = nbexplain.explain(m, X, top_k=2)
    try:
        p = str(tmp_path / "bars.png")
        w.export(p)
        prov = nbexplain.read_provenance(p)
        assert prov["view"] == "table" and prov["method"] == "shapley"
        from PIL import Image

        assert Image.open(p).size[0] > 100
    finally:
        w.close()


def test_the_widget_output_carries_a_small_png_of_its_view():
    from PIL import Image

    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8))
    try:
        data, _ = w._repr_mimebundle_()
        png = base64.b64decode(data["image/png"])
        assert len(png) <= 256_000 and Image.open(io.BytesIO(png)).format == "PNG"
        assert "application/vnd.jupyter.widget-view+json" in data
    finally:
        w.close()


def test_nbconvert_shows_the_widget_as_an_image(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nbconvert = pytest.importorskip("nbconvert")
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "import torch, nbexplain\n"
        "torch.manual_seed(0)\n"
        "m = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),\n"
        "                        torch.nn.Flatten(), torch.nn.Linear(256, 10)).eval()\n"
        "w = nbexplain.explain(m, torch.rand(1, 8, 8))\n"
        "w"))
    # saved as JupyterLab saves by default: the outputs, not the widget state (with the
    # state, nbconvert embeds the live widget instead, which needs its JavaScript)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=False,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert "image/png" in nb.cells[0].outputs[-1]["data"]
    html, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    assert re.search(r'<img [^>]*src="data:image/png;base64,', html), "no <img> of the view"


def test_the_sequence_and_text_views_export_with_provenance(tmp_path):
    from PIL import Image

    class Txt(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.embed = torch.nn.Embedding(20, 4)
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, ids):
            return self.fc(self.embed(ids).mean(1))

    m = Txt().eval()
    w = nbexplain.explain(m, torch.tensor([[3, 5, 7]]), tokens=["<script>", "walk", "##ing"])
    try:
        p = str(tmp_path / "text.svg")
        w.export(p)
        prov = nbexplain.read_provenance(p)
        assert prov["view"] == "text" and "Embedding" in prov["options"]["layer"]
        tree = ET.parse(p)
        assert not [el for el in tree.iter() if el.tag.endswith("script")]
        data, _ = w._repr_mimebundle_()
        assert Image.open(io.BytesIO(base64.b64decode(data["image/png"]))).format == "PNG"
    finally:
        w.close()

    w = nbexplain.explain(gru_classifier(), torch.rand(1, 5, 3))
    try:
        p = str(tmp_path / "seq.png")
        w.export(p)
        assert nbexplain.read_provenance(p)["view"] == "sequence"
    finally:
        w.close()


def test_the_data_set_view_exports_and_carries_a_static_picture(tmp_path):
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    d = load_breast_cancer(as_frame=True)
    X, y = d.data.iloc[:150, :5], d.target[:150]
    clf = LogisticRegression(max_iter=3000).fit(X, y)
    w = nbexplain.explain_global(clf.predict_proba, X, y, repeats=2, seed=0, target=1)
    try:
        data, _ = w._repr_mimebundle_()
        assert base64.b64decode(data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
        for ext in ("png", "svg", "pdf"):
            prov = nbexplain.read_provenance(w.export(str(tmp_path / f"pi.{ext}")))
            assert prov["view"] == "global" and prov["kind"] == "permutation_importance"
    finally:
        w.close()
