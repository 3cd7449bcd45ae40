"""The widget's compressed pictures (a 224² photograph: WebP image and map in the traits)
decode and draw in real Chromium, with no colour shift: at opacity 0 the canvas is the input."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from lab_notebook import (ROOT, canvas_pixels, kernel_exec, notebook_of, open_and_run,
                          root_state)

pytestmark = pytest.mark.browser

SOURCE = '''\
import numpy as np, torch
from sklearn.datasets import load_sample_image
import nbexplain
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(4),
    torch.nn.Flatten(), torch.nn.Linear(256, 10)).eval()
img = load_sample_image("china.jpg")[100:324, 200:424]
x = torch.tensor(img / 255.0, dtype=torch.float32).permute(2, 0, 1)[None]
w = nbexplain.explain(model, x)
w'''


@pytest.fixture(scope="module")
def photo_widget(lab_server, page_and_log, tmp_path_factory):
    path = notebook_of(tmp_path_factory.mktemp("nb") / "photo.ipynb", SOURCE)
    return open_and_run(lab_server, page_and_log, path)


def test_webp_pictures_draw_the_input_and_the_map(photo_widget):
    q, page = photo_widget, photo_widget.page
    enc = kernel_exec(page, "print(w.image_meta['encoding'], w.heatmap_meta['encoding'])")
    assert enc.split() == ["webp", "webp"], q.diag(f"expected WebP pictures, got {enc!r}")
    st = root_state(page)
    assert st["checksum"] and int(st["mapsReceived"]) >= 1, q.diag("no map drawn")
    with_map = canvas_pixels(page)

    kernel_exec(page, "w.opacity = 0.0")
    page.wait_for_function(
        "(sel) => document.querySelector(sel + ' input.nbx-opacity').value === '0'",
        arg=ROOT, timeout=10_000)
    page.wait_for_timeout(200)
    bare = canvas_pixels(page)
    # the canvas at opacity 0, brought back to 224², is the kernel's input image
    shown = np.asarray(Image.fromarray(bare[..., :3]).resize((224, 224), Image.BOX),
                       dtype=np.float64)
    b64 = kernel_exec(page, "import base64; print(base64.b64encode(bytes(w.image)).decode())")
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"),
                     dtype=np.float64)
    raw = load_sample_image("china.jpg")[100:324, 200:424].astype(np.float64)
    err_trait = np.abs(shown - img).mean()
    err_input = np.abs(shown - raw).mean()
    assert err_trait < 4 and err_input < 6, q.diag(
        f"the drawn input differs from the stored picture by {err_trait:.1f} and from the "
        f"input by {err_input:.1f} grey levels on average")
    # and the map was drawn over it: at the default opacity most pixels differ
    frac = float((np.abs(with_map.astype(int) - bare.astype(int)).max(axis=2) > 8).mean())
    assert frac > 0.3, q.diag(f"the map changed only {frac:.0%} of the canvas pixels")
    assert not q.log.page_errors, q.diag("uncaught errors in the page")
