"""The quickstart notebook in real JupyterLab + headless Chromium.

Opens a copy of notebooks/quickstart.ipynb, runs all cells, and checks the live widget the way a
user sees it: the heatmap canvas is painted, the opacity slider redraws in the browser alone,
and clicking another class in the top-5 list fetches and draws that class's map. Screenshots go
to tests/ui/artifacts/ (git-ignored).

Run: .venv/bin/python -m pytest tests/ui -v --basetemp=.pytest_tmp
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from lab_notebook import (MAP_TIMEOUT_MS, REDRAW_TIMEOUT_S, ROOT, SLIDER, LabNotebook,
                          canvas_pixels, changed, open_and_run, root_state, wait_kernel_value)
from nbx_browser import JS_NOTEBOOK_OUTPUTS

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"
Quickstart = LabNotebook


@pytest.fixture(scope="module")
def quickstart(lab_server, page_and_log) -> Quickstart:
    return open_and_run(lab_server, page_and_log, NOTEBOOK)


def test_quickstart_runs_and_draws_heatmap(quickstart: Quickstart, artifacts_dir: Path):
    q, page = quickstart, quickstart.page

    outputs = page.evaluate(JS_NOTEBOOK_OUTPUTS)
    errors = [o for c in outputs for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, q.diag("a notebook cell raised an error")
    assert all(c["execution_count"] for c in outputs), q.diag("not every code cell ran")
    stdout = "".join(o["text"] or "" for c in outputs for o in c["outputs"]
                     if o["output_type"] == "stream")
    assert "test accuracy" in stdout, q.diag("the training cell printed no accuracy")
    assert any("image/png" in (o["mime"] or []) for o in outputs[-1]["outputs"]), q.diag(
        "the last cell (attr.plot) shows no image")

    st = q.first_state
    assert st["alerts"] in ([], [""]), q.diag(f"the widget shows an error: {st['alerts']}")
    assert len(st["classes"]) == 5, q.diag(f"expected 5 top classes, got {st['classes']}")
    assert st["target"] == st["classes"][0]["index"], q.diag(
        f"target='predicted' should show the top class {st['classes'][0]}, "
        f"data-target is {st['target']!r}")
    assert st["checksum"], q.diag("data-map-checksum is empty after the first map")

    px = q.first_pixels
    h, w, _ = px.shape
    assert h >= 50 and w >= 50, q.diag(f"the heatmap canvas is only {w}×{h} pixels")
    opaque = px[..., 3] > 0
    colours, counts = np.unique(px.reshape(-1, 4), axis=0, return_counts=True)
    background_share = counts.max() / counts.sum()
    assert opaque.mean() > 0.5, q.diag(
        f"only {opaque.mean():.0%} of the {w}×{h} canvas pixels are painted")
    assert len(colours) >= 20, q.diag(
        f"the canvas has only {len(colours)} distinct colours: {colours[:25].tolist()}")
    assert background_share < 0.5, q.diag(
        f"{background_share:.0%} of the canvas is one colour {colours[counts.argmax()].tolist()}")

    page.locator(ROOT).screenshot(path=str(artifacts_dir / "widget.png"))
    page.screenshot(path=str(artifacts_dir / "page.png"), full_page=True)

    assert not q.log.page_errors, q.diag("uncaught errors in the page")


def test_opacity_slider_and_class_click(quickstart: Quickstart, artifacts_dir: Path):
    q, page = quickstart, quickstart.page
    root = page.locator(ROOT)

    # --- opacity: redrawn in the browser, no new map ---------------------------------------
    before_state = root_state(page)
    before = canvas_pixels(page)
    old = float(before_state["opacity"])
    new = 0.1 if old >= 0.5 else 0.9
    set_to = root.locator(SLIDER).evaluate(
        """(el, v) => {
          el.focus();
          el.value = String(v);
          el.dispatchEvent(new Event('input', {bubbles: true}));
          el.dispatchEvent(new Event('change', {bubbles: true}));
          return el.value;
        }""", new)
    assert float(set_to) == pytest.approx(new), f"the slider refused {new}: value {set_to}"

    deadline = time.monotonic() + REDRAW_TIMEOUT_S
    while True:
        after = canvas_pixels(page)
        frac, mad = changed(before, after)
        if (frac > 0.25 and mad > 2.0) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(100)
    assert frac > 0.25 and mad > 2.0, q.diag(
        f"moving the opacity slider {old} -> {new} barely changed the canvas: "
        f"{frac:.1%} of pixels changed, mean |diff| {mad:.2f}")
    after_state = root_state(page)
    assert after_state["mapsReceived"] == before_state["mapsReceived"], q.diag(
        "changing the opacity made the front end receive a new map (it must redraw locally)")
    assert after_state["checksum"] == before_state["checksum"], q.diag(
        "changing the opacity changed data-map-checksum")
    got = wait_kernel_value(page, "print(round(w.opacity, 4))", str(round(new, 4)))
    assert got == str(round(new, 4)), q.diag(
        f"the kernel's w.opacity is {got}, expected the slider's final value {new}")

    # --- another class: the kernel computes and sends that map ------------------------------
    st = root_state(page)
    others = [c for c in st["classes"] if c["index"] != st["target"]]
    assert others, q.diag(f"no class other than the target {st['target']} to click")
    pick = others[0]["index"]
    maps_before = int(st["mapsReceived"])
    pixels_before = canvas_pixels(page)
    root.locator(f'.nbx-class[data-index="{pick}"]').click()

    from playwright.sync_api import TimeoutError as PWTimeout

    try:
        page.wait_for_function(
            """([sel, idx, n]) => {
              const r = document.querySelector(sel);
              return !!r && r.dataset.target === idx && Number(r.dataset.mapsReceived) > n
                && r.dataset.status === 'idle';
            }""", arg=[ROOT, pick, maps_before], timeout=MAP_TIMEOUT_MS, polling=100)
    except PWTimeout:
        pytest.fail(q.diag(f"after clicking class {pick} the widget never showed its map "
                           f"(data-target == {pick}, data-maps-received > {maps_before}, "
                           "data-status == 'idle')"), pytrace=False)
    page.wait_for_timeout(300)  # a trailing trait update may redraw the same map once more

    clicked = root_state(page)
    assert clicked["checksum"] and clicked["checksum"] != q.first_state["checksum"], q.diag(
        f"class {pick}'s map has the same checksum as the first map "
        f"({clicked['checksum']!r})")
    frac, mad = changed(pixels_before, canvas_pixels(page))
    assert frac > 0.1 and mad > 1.0, q.diag(
        f"the canvas barely changed after switching to class {pick}: {frac:.1%} of pixels "
        f"changed, mean |diff| {mad:.2f}")
    pressed = [c["index"] for c in clicked["classes"] if c["pressed"] == "true"]
    assert pressed == [pick], q.diag(f"aria-pressed marks {pressed}, expected [{pick!r}]")
    assert all(a == "" for a in clicked["alerts"]), q.diag(
        f"the widget shows an error: {clicked['alerts']}")
    assert root.locator(SLIDER).input_value() == set_to, q.diag(
        "the opacity slider lost its value when the map changed")
    got = wait_kernel_value(page, "print(w.target)", pick)
    assert got == pick, q.diag(f"the kernel's w.target is {got}, expected {pick}")

    root.screenshot(path=str(artifacts_dir / "widget_after_click.png"))
    assert not q.log.page_errors, q.diag("uncaught errors in the page")
