"""The quickstart notebook in real JupyterLab + headless Chromium.

Opens a copy of notebooks/quickstart.ipynb, runs all cells, and checks the live widget the way a
user sees it: the heatmap canvas is painted, the opacity slider redraws in the browser alone,
and clicking another class in the top-5 list fetches and draws that class's map. Screenshots go
to tests/ui/artifacts/ (git-ignored).

Run: .venv/bin/python -m pytest tests/ui -v --basetemp=.pytest_tmp
"""

from __future__ import annotations

import base64
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from nbx_browser import (BUNDLE, JS_CANVAS_PIXELS, JS_KERNEL_EXEC, JS_KERNEL_IDLE, JS_LAB_STATE,
                         JS_NOTEBOOK_OUTPUTS, JS_ROOT_STATE, BrowserLog, LabServer, copy_into,
                         diagnostics, format_outputs)

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"
ROOT = ".nbx-root"
CANVAS = "canvas.nbx-heatmap"
SLIDER = "input.nbx-opacity"

PAGE_LOAD_TIMEOUT_MS = 60_000
KERNEL_IDLE_TIMEOUT_MS = 90_000
WIDGET_TIMEOUT_MS = 120_000  # run-all trains a CNN first (a few seconds on a CPU)
RUN_ALL_TIMEOUT_MS = 120_000
MAP_TIMEOUT_MS = 30_000
REDRAW_TIMEOUT_S = 10.0
KERNEL_SYNC_TIMEOUT_S = 15.0


@dataclass
class Quickstart:
    server: LabServer
    page: object  # playwright Page
    log: BrowserLog
    path: str  # notebook path relative to the server root
    first_state: dict  # .nbx-root state right after the first map was drawn
    first_pixels: np.ndarray  # canvas RGBA (H, W, 4) right after the first map was drawn

    def diag(self, extra: str = "") -> str:
        return full_diagnostics(self.server, self.page, self.log, extra)


def full_diagnostics(server: LabServer, page, log: BrowserLog, extra: str = "") -> str:
    """Everything useful for a failure: lab state, cell outputs, widget state, logs."""
    parts = [extra] if extra else []
    for title, js, fmt in (("JupyterLab state", JS_LAB_STATE, repr),
                           ("notebook outputs", JS_NOTEBOOK_OUTPUTS, format_outputs)):
        try:
            parts.append(f"--- {title} ---\n{fmt(page.evaluate(js))}")
        except Exception as e:  # the page itself may be the problem
            parts.append(f"--- {title}: could not read ({e!r}) ---")
    try:
        roots = page.locator(ROOT)
        if roots.count():
            parts.append(f"--- widget state ---\n{roots.first.evaluate(JS_ROOT_STATE)!r}")
        else:
            outs = page.locator(".jp-OutputArea-output").all_inner_texts()
            parts.append("--- no .nbx-root in the page; output areas show ---\n"
                         + "\n".join(t.strip()[:500] for t in outs if t.strip()))
    except Exception as e:
        parts.append(f"--- widget state: could not read ({e!r}) ---")
    return diagnostics(server, log, "\n".join(parts))


def canvas_pixels(page) -> np.ndarray:
    info = page.locator(f"{ROOT} {CANVAS}").evaluate(JS_CANVAS_PIXELS)
    data = np.frombuffer(base64.b64decode(info["b64"]), dtype=np.uint8)
    return data.reshape(info["h"], info["w"], 4)


def root_state(page) -> dict:
    return page.locator(ROOT).evaluate(JS_ROOT_STATE)


def changed(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(fraction of pixels whose RGBA changed, mean absolute difference per channel)."""
    if a.shape != b.shape:
        return 1.0, 255.0
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float((diff.max(axis=2) > 0).mean()), float(diff.mean())


def kernel_exec(page, code: str) -> str:
    res = page.evaluate(JS_KERNEL_EXEC, code)
    assert res["status"] == "ok", f"kernel code {code!r} failed: {res}"
    return res["stdout"]


def wait_kernel_value(page, code: str, expected: str) -> str:
    """Poll `print(...)` in the kernel until it prints `expected` (widget traits sync lazily)."""
    deadline = time.monotonic() + KERNEL_SYNC_TIMEOUT_S
    while True:
        got = kernel_exec(page, code).strip()
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.25)


@pytest.fixture(scope="module")
def quickstart(lab_server, page_and_log) -> Quickstart:
    from playwright.sync_api import TimeoutError as PWTimeout

    if not BUNDLE.exists():
        pytest.fail(f"the widget bundle {BUNDLE} is missing: run `npm ci && npm run build` "
                    "(or `make setup`) before the browser tests", pytrace=False)
    page, log = page_and_log
    rel = copy_into(lab_server, NOTEBOOK)

    def fail(msg: str):
        pytest.fail(full_diagnostics(lab_server, page, log, msg), pytrace=False)

    try:
        page.goto(lab_server.lab_url(rel), wait_until="domcontentloaded",
                  timeout=PAGE_LOAD_TIMEOUT_MS)
    except PWTimeout:
        fail(f"JupyterLab page {lab_server.lab_url(rel)} did not load")

    # The DOM's idle indicator can be true while the kernel still starts: ask the session.
    try:
        page.wait_for_function(JS_KERNEL_IDLE, arg=rel, timeout=KERNEL_IDLE_TIMEOUT_MS,
                               polling=250)
    except PWTimeout:
        fail(f"the notebook {rel} never got an idle, connected kernel")

    # The kernel must be this venv's interpreter.
    out = kernel_exec(page, "import sys; print(sys.prefix); print(sys.executable)")
    lines = out.strip().splitlines()
    assert lines and lines[0] == sys.prefix, (
        f"the notebook kernel runs {out.strip()!r}, not the test's venv {sys.prefix!r}")

    page.evaluate("""() => {
      window.__nbxRunAll = null;
      window.jupyterapp.commands.execute('notebook:run-all-cells').then(
        (r) => { window.__nbxRunAll = {ok: true, result: r === undefined ? null : r}; },
        (e) => { window.__nbxRunAll = {ok: false, error: String(e && e.stack || e)}; });
    }""")

    try:
        page.wait_for_function(
            """(sel) => {
              const r = document.querySelector(sel);
              return !!r && Number(r.dataset.mapsReceived) >= 1 && r.dataset.status === 'idle';
            }""", arg=ROOT, timeout=WIDGET_TIMEOUT_MS, polling=250)
    except PWTimeout:
        fail("the nbexplain widget (.nbx-root with data-maps-received >= 1 and "
             "data-status='idle') never appeared after running all cells")

    try:
        handle = page.wait_for_function("() => window.__nbxRunAll", timeout=RUN_ALL_TIMEOUT_MS,
                                        polling=250)
        run_all = handle.json_value()
    except PWTimeout:
        fail("'Run All Cells' did not finish")
    if not run_all.get("ok"):
        fail(f"'Run All Cells' failed: {run_all}")
    page.wait_for_function(JS_KERNEL_IDLE, arg=rel, timeout=KERNEL_IDLE_TIMEOUT_MS, polling=250)

    n_roots = page.locator(ROOT).count()
    if n_roots != 1:
        fail(f"expected exactly one .nbx-root in the page, found {n_roots}")
    # Let any trailing trait update (the kernel also writes the heatmap traits) settle.
    page.wait_for_timeout(500)
    return Quickstart(server=lab_server, page=page, log=log, path=rel,
                      first_state=root_state(page), first_pixels=canvas_pixels(page))


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
