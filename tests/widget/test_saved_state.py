"""What a saved notebook keeps of a widget: display-resolution pictures (at most 256 px a side),
compressed, so three 224² widgets fit in 150 KB (raw arrays took ~514 KB each); and what the
traits hold still draws the same map, to within the stated tolerance.

The pictures are crops of a photograph that ships inside scikit-learn, so the codecs see what a
user's notebook holds (random noise would be no one's input)."""

import io
import json

import nbformat
import numpy as np
import pytest
import torch
from PIL import Image

import nbexplain
from nbexplain.export import display_image, heatmap_2d
from nbexplain.widgets.display import MAX_SIDE, decode_state_map, downsample

from widget_helpers import trait_map

sklearn_datasets = pytest.importorskip("sklearn.datasets")


def photo_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(256, 10)).eval()


def photo(top, left, h=224, w=224):
    img = sklearn_datasets.load_sample_image("china.jpg")[top:top + h, left:left + w]
    return torch.tensor(img / 255.0, dtype=torch.float32).permute(2, 0, 1)[None]


def saved_notebook(widgets) -> bytes:
    """The .ipynb bytes JupyterLab writes with "save widget state": each widget's output and the
    widget-state metadata (buffers base64), minus the front-end bundle (``_esm``, ``_css``)."""
    from ipywidgets.embed import dependency_state, embed_data

    data = embed_data(views=widgets, state=dependency_state(widgets))  # these widgets only
    for entry in data["manager_state"]["state"].values():
        for key in ("_esm", "_css"):
            entry["state"].pop(key, None)
    nb = nbformat.v4.new_notebook()
    for w in widgets:
        cell = nbformat.v4.new_code_cell("nbexplain.explain(model, x)")
        cell.outputs = [nbformat.v4.new_output(
            "display_data", data={"application/vnd.jupyter.widget-view+json": {
                "version_major": 2, "version_minor": 0, "model_id": w.model_id},
                "text/plain": repr(w)})]
        nb.cells.append(cell)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": data["manager_state"]}
    return nbformat.writes(nb).encode()


def test_three_224px_widgets_save_under_150_kb():
    m = photo_cnn()
    widgets = [nbexplain.explain(m, photo(100, 200), method="saliency"),
               nbexplain.explain(m, photo(150, 350), method="integrated_gradients"),
               nbexplain.explain(m, photo(20, 40), method="smoothgrad")]
    try:
        size = len(saved_notebook(widgets))
        # each widget's state carries its picture and its map, not raw arrays
        assert size < 150_000, f"the saved notebook is {size / 1000:.0f} KB"
        print(f"three 224² widgets: {size / 1000:.1f} KB saved")
        state = json.loads(saved_notebook(widgets))["metadata"]["widgets"]
        ours = [s["state"] for s in state["application/vnd.jupyter.widget-state+json"]["state"]
                .values() if "heatmap_meta" in s["state"]]
        assert len(ours) == 3 and all(s["image_meta"]["shape"] == [224, 224, 3] for s in ours)
    finally:
        for w in widgets:
            w.close()


@pytest.mark.parametrize("method", ["saliency", "smoothgrad", "grad_cam"])
def test_the_stored_map_draws_the_attribution(method):
    """Lossy or not, the traits' map is the method's map: 99% of the cells within six of the
    256 levels (2% of the range), every one within twelve. WebP at its best quality errs by
    about five levels at the 99th percentile on these maps; PNG by half a level."""
    m, x = photo_cnn(), photo(100, 200)
    opts = {"layer": m[2]} if method == "grad_cam" else {}
    w = nbexplain.explain(m, x, method=method, **opts)
    try:
        got, _ = trait_map(w)
        exact = heatmap_2d(nbexplain.attribute(m, x, method=method, target=w.target,
                                               **opts).values[0], True)
        level = (w.heatmap_meta["hi"] - w.heatmap_meta["lo"]) / 255
        err = np.abs(got - exact) / level
        assert np.percentile(err, 99) <= 6 and err.max() <= 12, (
            f"{w.heatmap_meta['encoding']}: error p99 {np.percentile(err, 99):.1f}, "
            f"max {err.max():.1f} levels")
        assert len(w.heatmap) <= 20_000
    finally:
        w.close()


def test_large_inputs_are_stored_at_most_256_px_a_side():
    m, x = photo_cnn(), photo(0, 0, h=384, w=512)
    w = nbexplain.explain(m, x)
    try:
        assert w.image_meta["shape"] == [192, 256, 3]
        assert np.asarray(Image.open(io.BytesIO(w.image))).shape == (192, 256, 3)
        assert w.heatmap_meta["shape"] == [192, 256]
        got = decode_state_map(w.heatmap_meta, bytes(w.heatmap))
        assert got.shape == (192, 256)
        exact = heatmap_2d(nbexplain.attribute(m, x, target=w.target).values[0], True)
        # the stored map is the exact map averaged over each display cell (2×2 here)
        pooled = exact.reshape(192, 2, 256, 2).mean(axis=(1, 3))
        assert np.corrcoef(got.ravel(), pooled.ravel())[0, 1] > 0.99
    finally:
        w.close()


def test_downsampling_averages_areas_and_leaves_nan_cells_out():
    a = np.arange(600 * 300, dtype=np.float64).reshape(600, 300)
    small = downsample(a)
    assert small.shape == (256, 128) and max(small.shape) == MAX_SIDE
    # area averages of a linear ramp keep its mean, and a row-major ramp stays monotone
    assert small.mean() == pytest.approx(a.mean(), rel=1e-9)
    assert np.all(np.diff(small.ravel()) > 0)
    b = np.ones((512, 512))
    b[:2, :2] = np.nan          # one display cell, wholly NaN
    b[2:4, 2:3] = np.nan        # half of another
    s = downsample(b)
    assert np.isnan(s[0, 0]) and s[1, 1] == 1.0 and np.isfinite(s).sum() == s.size - 1


def test_a_small_image_is_stored_exactly():
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    w = nbexplain.explain(photo_cnn(), x)
    try:
        assert w.image_meta["encoding"] == "png"
        shown = np.asarray(Image.open(io.BytesIO(w.image)))
        np.testing.assert_array_equal(shown, np.round(display_image(x[0].numpy(), True) * 255))
    finally:
        w.close()
