"""What every host needs of the widget: the front end as files on the class (anywidget's hot
reload), the styles through ``_css`` (marimo's shadow root never sees ``document.head``), one
default export (a named ``render`` makes anywidget log a deprecation warning on every
display), and a saved state with no array over 1 MB whatever the input's size or count."""

from __future__ import annotations

import base64
import re

import numpy as np
import torch

import nbexplain
from nbexplain.widgets.explainer import Explainer
from nbexplain.widgets.live import _BUNDLE, _CSS

from widget_helpers import cnn


def _class_file(key):
    return next(k.__dict__[key] for k in Explainer.__mro__ if key in k.__dict__)


def test_the_front_end_and_its_styles_are_files_on_the_class():
    esm, css = _class_file("_esm"), _class_file("_css")
    assert esm.__class__.__name__ == "FileContents" and str(esm) == _BUNDLE.read_text()
    assert css.__class__.__name__ == "FileContents" and str(css) == _CSS.read_text()
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8))
    try:
        assert w._esm == _BUNDLE.read_text() and w._css == _CSS.read_text()
        assert ".nbx-root" in w._css
    finally:
        w.close()


def test_the_bundle_exports_only_a_default_and_injects_no_styles():
    text = _BUNDLE.read_text()
    exports = re.findall(r"export\s*\{([^}]*)\}", text)
    assert exports, "the bundle exports nothing"
    names = [part.split(" as ")[-1].strip() for e in exports for part in e.split(",")]
    assert names == ["default"], names
    assert "document.head" not in text


def _saved_arrays(w):
    from ipywidgets.embed import dependency_state, embed_data

    state = embed_data(views=[w], state=dependency_state([w]))["manager_state"]["state"]
    ours = state[w.model_id]
    return [len(base64.b64decode(b["data"])) for b in ours.get("buffers", [])]


def test_no_saved_array_is_over_1_mb_for_a_large_image_or_a_large_batch():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                            torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(),
                            torch.nn.Linear(16, 10)).eval()
    big = torch.rand(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(1))
    many = torch.rand(300, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    for x in (big, many):
        w = nbexplain.explain(m, x)
        try:
            sizes = _saved_arrays(w)
            assert sizes and max(sizes) < 1_000_000, sizes
            assert max(w.image_meta["shape"][:2]) <= 256
        finally:
            w.close()
    w = nbexplain.explain(m, many)
    try:
        assert w.thumbnails_meta["n"] == 64 and w.thumbnails_meta["total"] == 300
        w.index = 250                      # beyond the strip: Python still reaches it
        assert w.wait(60)
        np.testing.assert_array_equal(w.attribution.inputs, many[250:251].numpy())
    finally:
        w.close()
