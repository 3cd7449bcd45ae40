"""Driving a notebook in the real JupyterLab of these tests: open a copy, run all its cells,
wait for the nbexplain widget, and read what the user sees (the canvas pixels, the widget's
``data-*`` state) and what the kernel holds. Shared by the browser tests."""

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
class LabNotebook:
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
    return page.locator(ROOT).first.evaluate(JS_ROOT_STATE)


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


def notebook_of(path: Path, *sources: str) -> Path:
    """Write a notebook of these code cells (python3 kernel) at ``path``; return the path."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells += [nbformat.v4.new_code_cell(src) for src in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def open_and_run(lab_server: LabServer, page_and_log, notebook: Path,
                 roots: int = 1, ready: str | None = None,
                 notebook7: bool = False) -> LabNotebook:
    """Open a copy of ``notebook``, run all its cells, and wait until ``roots`` widgets are
    shown, each ready (``ready``: a JS predicate on a root; by default a first map drawn),
    and the kernel idle. ``notebook7``: in Notebook 7's page instead of JupyterLab's."""
    from playwright.sync_api import TimeoutError as PWTimeout

    if not BUNDLE.exists():
        pytest.fail(f"the widget bundle {BUNDLE} is missing: run `npm ci && npm run build` "
                    "(or `make setup`) before the browser tests", pytrace=False)
    page, log = page_and_log
    rel = copy_into(lab_server, notebook)

    def fail(msg: str):
        pytest.fail(full_diagnostics(lab_server, page, log, msg), pytrace=False)

    url = lab_server.notebook7_url(rel) if notebook7 else lab_server.lab_url(rel)
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=PAGE_LOAD_TIMEOUT_MS)
    except PWTimeout:
        fail(f"the notebook page {url} did not load")

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
            """([sel, n, ready]) => {
              const isReady = ready ? eval(ready)
                : (r) => Number(r.dataset.mapsReceived) >= 1;
              const rs = Array.from(document.querySelectorAll(sel));
              return rs.length >= n && rs.every((r) => isReady(r) && r.dataset.status === 'idle');
            }""", arg=[ROOT, roots, ready], timeout=WIDGET_TIMEOUT_MS, polling=250)
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
    if n_roots != roots:
        fail(f"expected exactly {roots} .nbx-root in the page, found {n_roots}")
    # Let any trailing trait update (the kernel also writes the heatmap traits) settle.
    page.wait_for_timeout(500)
    return LabNotebook(server=lab_server, page=page, log=log, path=rel,
                      first_state=root_state(page),
                      first_pixels=canvas_pixels(page) if page.locator(
                          f"{ROOT} {CANVAS}").count() else np.zeros((0, 0, 4), np.uint8))
