"""The widget in marimo (``marimo run``): marimo puts each widget in a shadow root, where
styles added to ``document.head`` never arrive; the widget's CSS goes through anywidget's
``_css``, so the widget is styled there, and it answers a click."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nbx_browser import free_port, stop_process, tail_of

pytestmark = pytest.mark.browser
marimo = pytest.importorskip("marimo")   # a dev requirement: absent only outside `make test`

ROOT = ".nbx-root"
CSS = Path(__file__).resolve().parents[2] / "js" / "widget.css"

APP = '''\
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    import torch
    import nbexplain
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 10)).eval()
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    widget = mo.ui.anywidget(nbexplain.explain(model, x))
    widget
    return


if __name__ == "__main__":
    app.run()
'''


@pytest.fixture(scope="module")
def marimo_url(tmp_path_factory):
    d = tmp_path_factory.mktemp("marimo")
    app = d / "app.py"
    app.write_text(APP)
    port = free_port()
    log = d / "marimo.log"
    env = dict(os.environ, MARIMO_SKIP_UPDATE_CHECK="1", HOME=str(d))
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "marimo", "run", str(app), "--headless", "--host",
             "127.0.0.1", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT,
            env=env, cwd=d)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process(proc)
            pytest.fail(f"marimo run did not answer at {url}:\n{tail_of(log)}",
                        pytrace=False)
        time.sleep(0.3)
    yield url, log
    stop_process(proc)


def test_marimo_shows_a_styled_widget_that_answers_a_click(marimo_url, page_and_log):
    url, log = marimo_url
    page, blog = page_and_log
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)

    def fail(msg):
        pytest.fail(f"{msg}\n--- marimo log ---\n{tail_of(log)}\n--- browser ---\n"
                    f"{blog.summary()}", pytrace=False)

    try:
        page.wait_for_function(
            """(sel) => {
              const find = (root) => {
                const r = root.querySelector(sel);
                if (r) return r;
                for (const el of root.querySelectorAll('*')) {
                  if (el.shadowRoot) { const f = find(el.shadowRoot); if (f) return f; }
                }
                return null;
              };
              const r = find(document);
              return !!r && Number(r.dataset.mapsReceived) >= 1;
            }""", arg=ROOT, timeout=120_000, polling=250)
    except Exception:
        fail("the widget never drew its first map in marimo")
    root = page.locator(ROOT).first   # Playwright's CSS engine pierces open shadow roots
    in_shadow = root.evaluate("(r) => r.getRootNode() instanceof ShadowRoot")
    assert in_shadow, "marimo is expected to put the widget in a shadow root"
    want = re.search(r"\.nbx-root\s*\{[^}]*?max-width:\s*([^;]+);", CSS.read_text())
    assert want, "js/widget.css sets no max-width on .nbx-root"
    style = root.evaluate("(r) => ({maxWidth: getComputedStyle(r).maxWidth,"
                          " display: getComputedStyle(r).display})")
    assert style["maxWidth"] == want.group(1).strip(), (
        f"the widget is unstyled in marimo: computed {style}, the CSS says "
        f"max-width {want.group(1)}")
    before = int(root.get_attribute("data-maps-received"))
    buttons = root.locator(".nbx-class")
    assert buttons.count() >= 2
    target = buttons.nth(1).get_attribute("data-index")
    buttons.nth(1).click()
    page.wait_for_function(
        """([sel, n]) => {
          const find = (root) => {
            const r = root.querySelector(sel);
            if (r) return r;
            for (const el of root.querySelectorAll('*')) {
              if (el.shadowRoot) { const f = find(el.shadowRoot); if (f) return f; }
            }
            return null;
          };
          const r = find(document);
          return !!r && Number(r.dataset.mapsReceived) > n;
        }""", arg=[ROOT, before], timeout=60_000, polling=200)
    assert root.get_attribute("data-target") == target
