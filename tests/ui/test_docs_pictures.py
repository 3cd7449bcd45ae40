"""The README's pictures come from this browser test: the widget in real JupyterLab, Integrated
Gradients picked in the method menu, then the steps slider moved up; every stop is a frame.

What it checks on the way is what the pictures claim: each move of the slider draws a new map,
and IG's completeness error shrinks as the steps grow. The frames go to tests/ui/artifacts/
(git-ignored); with ``NBEXPLAIN_DOCS_ASSETS=docs/assets`` (``make docs-assets``) the
screenshot and the animation are written there too, for the README.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from lab_notebook import ROOT, canvas_pixels, changed, kernel_exec, notebook_of, open_and_run

pytestmark = pytest.mark.browser

SOURCE = '''\
import numpy as np, torch, nbexplain
from sklearn.datasets import load_digits
torch.manual_seed(0)
d = load_digits()
X = torch.tensor(d.images / 16.0, dtype=torch.float32)[:, None]
y = torch.tensor(d.target)
model = torch.nn.Sequential(
    torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(),
    torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Flatten(), torch.nn.Linear(32 * 4 * 4, 10))
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for epoch in range(8):
    for i in range(0, 1500, 100):
        loss = torch.nn.functional.cross_entropy(model(X[i:i + 100]), y[i:i + 100])
        opt.zero_grad(); loss.backward(); opt.step()
model.eval()
w = nbexplain.explain(model, X[1500:1504], labels=[f"digit {i}" for i in range(10)])
w'''

STEPS = [2, 4, 8, 16, 32, 64]


@pytest.fixture(scope="module")
def lab(lab_server, page_and_log, tmp_path_factory):
    path = notebook_of(tmp_path_factory.mktemp("nb") / "pictures.ipynb", SOURCE)
    return open_and_run(lab_server, page_and_log, path)


def _settle(q, before: int) -> None:
    q.page.wait_for_function(
        """([sel, n]) => { const r = document.querySelector(sel);
             return Number(r.dataset.mapsReceived || 0) > n && r.dataset.status === 'idle'; }""",
        arg=[ROOT, before], timeout=60_000, polling=100)
    assert kernel_exec(q.page, "print(w.wait(60))").strip() == "True"
    q.page.wait_for_timeout(300)


def _maps(q) -> int:
    return int(q.page.locator(ROOT).evaluate("(r) => r.dataset.mapsReceived || '0'"))


def _shot(q):
    from PIL import Image

    return Image.open(io.BytesIO(q.page.locator(ROOT).screenshot())).convert("RGB")


def test_moving_the_ig_steps_slider_refines_the_map_frame_by_frame(lab, artifacts_dir):
    q = lab
    before = _maps(q)
    q.page.locator(f"{ROOT} select.nbx-method").select_option("integrated_gradients")
    _settle(q, before)
    frames, pixels, deltas = [], [], []
    for steps in STEPS:
        before = _maps(q)
        q.page.locator(f"{ROOT} input.nbx-steps").evaluate(
            """(el, v) => { el.value = String(v);
                            el.dispatchEvent(new Event('input', {bubbles: true}));
                            el.dispatchEvent(new Event('change', {bubbles: true})); }""", steps)
        _settle(q, before)
        got = kernel_exec(q.page, "print(w.steps, float(np.abs(w.attribution.delta).max()))")
        s, d = got.split()
        assert int(s) == steps, q.diag(f"the slider set steps={s}, not {steps}")
        deltas.append(float(d))
        pixels.append(canvas_pixels(q.page))
        frames.append(_shot(q))
    for a, b, s in zip(pixels, pixels[1:], STEPS[1:]):
        frac, _ = changed(a, b)
        assert frac > 0.01, q.diag(f"steps={s} drew the same map as the stop before")
    assert deltas[-1] < deltas[0] / 10, q.diag(
        f"IG's completeness error did not shrink with the steps: {dict(zip(STEPS, deltas))}")
    assert not q.log.page_errors, q.diag("uncaught errors in the page")

    still, anim = artifacts_dir / "widget.png", artifacts_dir / "widget-ig-steps.gif"
    _write(frames, still, anim)
    out = os.environ.get("NBEXPLAIN_DOCS_ASSETS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        _write(frames, Path(out) / still.name, Path(out) / anim.name)
    assert anim.stat().st_size < 600_000 and still.stat().st_size < 300_000


def _write(frames, still: Path, anim: Path) -> None:
    frames[-1].save(still, optimize=True)
    small = [f.resize((f.width * 3 // 4, f.height * 3 // 4)) for f in frames]
    pal = [f.quantize(colors=96, method=2) for f in small]
    pal[0].save(anim, save_all=True, append_images=pal[1:], duration=[900] * (len(pal) - 1)
                + [2200], loop=0, optimize=True)
    from PIL import Image

    with Image.open(anim) as im:
        assert im.n_frames == len(frames)
    assert np.asarray(frames[0]).shape == np.asarray(frames[-1]).shape
