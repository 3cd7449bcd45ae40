"""The table and text views in real JupyterLab and Chromium: dragging a baseline handle moves
the bars and reaches the kernel; the budget slider narrows Shapley's error bars; the summary
draws one dot per row per feature; hostile tokens and feature names render as text; a reload
re-renders both views."""

from __future__ import annotations

import pytest

from lab_notebook import kernel_exec, notebook_of, open_and_run
from nbx_browser import JS_KERNEL_IDLE

pytestmark = pytest.mark.browser

TABLE = ".nbx-root[data-view=table]"
TEXT = ".nbx-root[data-view=text]"

SOURCE = '''\
import numpy as np, torch, nbexplain
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
d = load_breast_cancer(as_frame=True)
X = d.data.iloc[:, :5].copy()
X.columns = ["<img src=x onerror=window.__p=1>"] + list(X.columns[1:])
clf = LogisticRegression(max_iter=5000).fit(X, d.target)
wt = nbexplain.explain(clf.predict_proba, X.iloc[:6], background=X.iloc[:80],
                       estimator="permutation", samples=64)
wt'''

TEXT_SOURCE = '''\
class Txt(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(30, 4)
        self.fc = torch.nn.Linear(4, 2)
    def forward(self, ids):
        return self.fc(torch.tanh(self.embed(ids)).mean(1))
tm = Txt().eval()
tokens = ["the", "<script>window.__p=1</script>", "walk", "##ing", "</span>", "Ġend"]
wx = nbexplain.explain(tm, torch.tensor([[3, 5, 7, 9, 2, 4]]), tokens=tokens)
wx'''


@pytest.fixture(scope="module")
def views(lab_server, page_and_log, tmp_path_factory):
    path = notebook_of(tmp_path_factory.mktemp("nb") / "views.ipynb", SOURCE, TEXT_SOURCE)
    return open_and_run(lab_server, page_and_log, path, roots=2,
                        ready="(r) => Number(r.dataset.barsReceived || 0) >= 1 "
                              "|| r.dataset.view === 'text'")


def kprint(page, code: str) -> str:
    return kernel_exec(page, code).strip()


def bars(page) -> dict:
    return page.locator(f"{TABLE} .nbx-bar").evaluate_all(
        "(els) => Object.fromEntries(els.map((e) => [e.dataset.feature, Number(e.dataset.value)]))")


def wait_bars(q, before: int, timeout=60_000) -> None:
    q.page.wait_for_function(
        """([sel, n]) => { const r = document.querySelector(sel);
             return !!r && Number(r.dataset.barsReceived || 0) > n && r.dataset.status === 'idle'; }""",
        arg=[TABLE, before], timeout=timeout, polling=100)
    assert kprint(q.page, "print(wt.wait(60))") == "True"
    q.page.wait_for_timeout(150)


def count(q, attr="barsReceived") -> int:
    return int(q.page.locator(TABLE).evaluate(f"(r) => r.dataset.{attr} || '0'"))


def test_hostile_names_and_tokens_render_as_text(views):
    q, page = views, views.page
    names = page.locator(f"{TABLE}").inner_text()
    assert "<img src=x onerror=" in names, q.diag("the hostile feature name, shown as text")
    titles = page.locator(f"{TABLE} text.nbx-bar-label title").all_text_contents()
    assert any(t.startswith("<img src=x onerror=window.__p=1> = ") for t in titles), q.diag(
        f"the label's full text: {titles}")
    text = page.locator(TEXT).inner_text()
    assert "<script>window.__p=1</script>" in text and "</span>" in text, q.diag(text)
    assert "walking" in text.replace(" ", "") and "walk ing" not in text, q.diag(text)
    assert page.evaluate("() => window.__p") is None
    assert page.locator(f"{TABLE} img, {TEXT} img, {TEXT} script").count() == 0
    n_tokens = page.locator(f"{TEXT} .nbx-token").count()
    assert n_tokens == 6, q.diag(f"{n_tokens} token spans")


def test_dragging_a_baseline_handle_moves_the_bars_and_reaches_the_kernel(views):
    q, page = views, views.page
    before, old = count(q), bars(page)
    handle = page.locator(f"{TABLE} .nbx-baseline-handle").nth(1)
    feature = handle.get_attribute("data-feature")
    box = handle.bounding_box()
    x0, y0 = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x0, y0)
    page.mouse.down()
    for k in range(1, 8):
        page.mouse.move(x0 + 6 * k, y0)
    page.mouse.up()
    wait_bars(q, before)
    got = kprint(page, "print(list(wt.baseline))")
    assert feature in got, q.diag(f"the kernel's baseline is {got}, the handle was {feature}")
    new = bars(page)
    assert new != old, q.diag("the bars did not move")
    ok = kprint(page, "a = nbexplain.attribute(clf.predict_proba, X.iloc[wt.row:wt.row + 1], "
                      "method=wt.method, target=wt.target, **wt.options_for()); "
                      "print(bool(np.allclose(a.values.ravel(), wt.bars['values'])))")
    assert ok == "True", q.diag("the bars are not attribute()'s")
    assert page.locator(f"{TABLE} .nbx-chip[data-feature]").count() >= 1


def test_the_budget_slider_narrows_the_error_bars(views):
    q, page = views, views.page

    def width() -> float:
        return page.locator(f"{TABLE} .nbx-errbar").evaluate_all(
            "(els) => els.reduce((s, e) => s + Number(e.dataset.high) - Number(e.dataset.low), 0)"
            " / Math.max(1, els.length)")

    w0 = width()
    assert w0 > 0, q.diag("no error bars")
    before = count(q)
    page.locator(f"{TABLE} input.nbx-budget").evaluate(
        """(el) => { el.value = el.max; el.dispatchEvent(new Event('input', {bubbles: true}));
                     el.dispatchEvent(new Event('change', {bubbles: true})); }""")
    wait_bars(q, before, timeout=120_000)
    assert int(kprint(page, "print(wt.budget)")) >= 4096
    w1 = width()
    assert w1 < w0 / 3, q.diag(f"error bars {w0:.4g} -> {w1:.4g}")


def test_the_summary_draws_one_dot_per_row_per_feature(views):
    q, page = views, views.page
    before = count(q, "summaryReceived")
    page.locator(f"{TABLE} input.nbx-summary").check()
    page.wait_for_function(
        "([sel, n]) => Number(document.querySelector(sel).dataset.summaryReceived || 0) > n",
        arg=[TABLE, before], timeout=60_000)
    dots = page.locator(f"{TABLE} circle.nbx-dot").count()
    assert dots == 6 * 5, q.diag(f"{dots} dots for 6 rows × 5 features")


def test_the_bars_save_as_svg(views):
    import xml.etree.ElementTree as ET

    q, page = views, views.page
    with page.expect_download() as dl:
        page.locator(f"{TABLE} .nbx-export-svg").click()
    tree = ET.parse(dl.value.path())
    bars = [el for el in tree.iter() if "nbx-bar" in (el.get("class") or "").split()]
    assert len(bars) >= 5, q.diag(f"{len(bars)} bars in the saved SVG")
    text = "".join(el.text or "" for el in tree.iter())
    assert "<img src=x onerror=" in text and not [el for el in tree.iter()
                                                  if el.tag.endswith(("img", "script"))]


def test_a_reload_re_renders_the_views(views):
    q, page = views, views.page
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_timeout(1000)
    page.reload(wait_until="domcontentloaded")
    page.wait_for_function(JS_KERNEL_IDLE, arg=q.path, timeout=90_000, polling=250)
    page.wait_for_function(
        f"() => document.querySelectorAll('{TABLE} .nbx-bar').length >= 5 && "
        f"document.querySelectorAll('{TEXT} .nbx-token').length === 6", timeout=60_000)
