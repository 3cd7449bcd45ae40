"""Every figure nbexplain writes carries its provenance as file metadata, read with real
readers (Pillow's PNG text chunks, an XML parser for SVG, pypdf for PDF) and with
nbexplain.read_provenance; a hostile label stays text."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError

FIELDS = {"method", "target", "options", "baseline", "model", "framework", "input_shape",
          "versions"}


@pytest.fixture(scope="module")
def attr():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    x = torch.rand(2, 3, generator=torch.Generator().manual_seed(1))
    return nbexplain.attribute(m, x, method="integrated_gradients", target=1, steps=16,
                               baseline=0.25)


def check(prov: dict) -> None:
    assert FIELDS <= set(prov), set(prov)
    assert prov["method"] == "integrated_gradients" and prov["target"] == [1, 1]
    assert prov["options"]["steps"] == 16 and prov["baseline"] == 0.25
    assert prov["model"] == "torch.nn.modules.container.Sequential"
    assert prov["input_shape"] == [2, 3] and prov["framework"] == "torch"
    assert prov["versions"]["torch"] == torch.__version__
    assert prov["versions"]["numpy"] == np.__version__
    assert prov["versions"]["nbexplain"] == nbexplain.__version__


def test_png_svg_and_pdf_carry_the_provenance(attr, tmp_path):
    from PIL import Image
    from pypdf import PdfReader

    png, svg, pdf = (str(tmp_path / f"fig.{e}") for e in ("png", "svg", "pdf"))
    for p in (png, svg, pdf):
        attr.save(p)
        check(nbexplain.read_provenance(p))
    with Image.open(png) as im:
        check(json.loads(im.text["nbexplain"]))
    desc = [el.text for el in ET.parse(svg).iter() if el.tag.endswith("description")]
    assert desc and desc[0].startswith("nbexplain provenance: ")
    check(json.loads(desc[0][len("nbexplain provenance: "):]))
    check(json.loads(PdfReader(pdf).metadata["/Subject"]))


def test_a_hostile_feature_name_stays_text_in_the_figures(tmp_path):
    pd = pytest.importorskip("pandas")
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(2, 2))
    X = pd.DataFrame(np.random.default_rng(0).random((2, 2)).astype("float32"),
                     columns=["<script>alert(1)</script>", "ok"])
    a = nbexplain.attribute(m, X, method="saliency", target=0)
    svg = str(tmp_path / "bars.svg")
    a.save(svg)
    tree = ET.parse(svg)                       # well-formed
    assert not [el for el in tree.iter() if el.tag.endswith("script")]
    assert nbexplain.read_provenance(svg)["method"] == "saliency"


def test_a_file_without_provenance_is_named(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = str(tmp_path / "plain.png")
    plt.figure().savefig(p)
    plt.close("all")
    with pytest.raises(NBExplainError, match="no nbexplain provenance"):
        nbexplain.read_provenance(p)
