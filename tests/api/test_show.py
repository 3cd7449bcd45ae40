"""show(): attributions computed elsewhere, drawn over their image in the Explainer widget.

The values may come in their own layout (H×W×C values with a C×H×W image or the reverse, or a
map coarser than the image, which the front end resamples); values that fit no image, tables
and bad targets are refused; labels name the target.

Truths: heatmap_2d of the values themselves, and Captum's saliency map.
"""

import json

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError
from nbexplain.export import heatmap_2d
from nbexplain.widgets import Explainer

from widget_helpers import cnn, trait_map


def test_show_values_computed_elsewhere():
    from captum.attr import Saliency

    m = cnn()
    x = torch.rand(1, 1, 8, 8)
    vals = Saliency(m).attribute(x, target=4)
    w = nbexplain.show(vals, x, target=4)
    assert isinstance(w, Explainer) and w.target == 4
    hm, tol = trait_map(w)
    np.testing.assert_allclose(hm, vals[0, 0].numpy(), rtol=0, atol=tol)


def test_show_hwc_values_with_a_chw_image():
    rng = np.random.default_rng(0)
    x = rng.random((3, 32, 24))                       # C×H×W image
    v = rng.random((32, 24, 3))                       # H×W×C values
    w = nbexplain.show(v, x)
    hm, tol = trait_map(w)
    assert hm.shape == (32, 24)
    np.testing.assert_allclose(hm, heatmap_2d(v, False), rtol=0, atol=tol)
    assert w.image_meta["shape"] == [32, 24, 3]


def test_show_chw_values_with_an_hwc_image():
    rng = np.random.default_rng(1)
    x = rng.random((1, 16, 20, 3))                    # batch of one H×W×C image
    v = rng.normal(size=(1, 3, 16, 20))               # batch of one C×H×W map
    w = nbexplain.show(v, x)
    hm, tol = trait_map(w)
    np.testing.assert_allclose(hm, heatmap_2d(v[0], True), rtol=0, atol=tol)


def test_show_coarse_map_is_still_accepted():
    """Grad-CAM style maps are coarser than the image; the front end resamples them."""
    x = np.random.default_rng(2).random((3, 32, 32))
    v = np.random.default_rng(3).random((1, 4, 4))
    w = nbexplain.show(v, x)
    assert w.heatmap_meta["shape"] == [4, 4]


@pytest.mark.parametrize("shape", [(32, 3), (3, 32, 7), (5, 16, 16), (32, 32, 32, 2)])
def test_show_rejects_values_that_do_not_fit_the_image(shape):
    x = np.random.default_rng(0).random((3, 32, 32))
    with pytest.raises(NBExplainError, match="does not fit|cannot draw"):
        nbexplain.show(np.ones(shape), x)


def test_show_draws_tables_as_feature_bars():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(3, 4)), columns=list("abcd"))
    vals = np.random.default_rng(1).normal(size=(3, 4))
    for values, inputs, names in [(vals, df, list("abcd")), (vals[0], df.to_numpy()[0], None)]:
        w = nbexplain.show(values, inputs, index=None)
        try:
            assert w.view == "table" and w.bars["values"] == pytest.approx(
                np.atleast_2d(values)[0])
            if names:
                assert w.feature_names == names
        finally:
            w.close()


def test_show_labels_name_the_target(monkeypatch):
    x = np.random.default_rng(0).random((3, 8, 8))
    labels = [f"<i>class {i}</i>" for i in range(5)]
    w = nbexplain.show(np.ones((3, 8, 8)), x, target=2, labels=labels)
    assert w.top_classes == [{"index": 2, "label": "<i>class 2</i>", "prob": None}]
    json.dumps(w.top_classes, allow_nan=False)
    with pytest.raises(NBExplainError, match="label"):
        nbexplain.show(np.ones((3, 8, 8)), x, target=7, labels=labels)


@pytest.mark.parametrize("target", [-1, 1.5, True, "predicted"])
def test_show_rejects_bad_targets(target):
    with pytest.raises(NBExplainError, match="target"):
        nbexplain.show(np.ones((8, 8)), np.ones((8, 8)), target=target)


def test_shown_image_values_export_and_carry_a_static_picture(tmp_path):
    import base64
    import io

    from PIL import Image

    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    v = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    w = nbexplain.show(v, x, index=1, method="captum saliency", target=3,
                       labels=[f"class {i}" for i in range(5)])
    try:
        a = w.attribution
        assert a is not None and a.method == "captum saliency" and int(a.target[0]) == 3
        np.testing.assert_allclose(np.asarray(a.inputs)[0], x[1].numpy(), rtol=1e-6)
        path = w.export(str(tmp_path / "shown.png"))
        prov = nbexplain.read_provenance(path)
        assert prov["source"] == "nbexplain.show" and prov["method"] == "captum saliency"
        data, _ = w._repr_mimebundle_()
        with Image.open(io.BytesIO(base64.b64decode(data["image/png"]))) as im:
            assert im.size[0] > 100
    finally:
        w.close()
