"""The widget as an instrument, in real JupyterLab and Chromium: every control reaches the
kernel and changes the drawing, and the map then is ``attribute()``'s for the options the
controls make; a storm of slider moves stays cheap; hostile labels stay text; a thumbnail
click explains its example; the widget answers while another cell trains the model (which
sees no hook and no mode change); a page reload re-renders the widget."""

from __future__ import annotations

import time

import pytest

from lab_notebook import (ROOT, canvas_pixels, changed, kernel_exec, notebook_of,
                          open_and_run, root_state)
from nbx_browser import JS_KERNEL_IDLE

pytestmark = pytest.mark.browser

SOURCE = '''\
import numpy as np, torch, nbexplain
from sklearn.datasets import load_digits
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(),
    torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(),
    torch.nn.Flatten(), torch.nn.Linear(512, 10)).eval()
X = torch.tensor(load_digits().images[:4] / 16.0, dtype=torch.float32)[:, None]
labels = ["<img src=x onerror=window.__p=1>", "</script><script>window.__p=1</script>"] + [
    f"digit {i}" for i in range(2, 10)]
w = nbexplain.explain(model, X, labels=labels, top_k=10)
w'''

SAME_AS_ATTRIBUTE = '''\
a = w.attribution
r = nbexplain.attribute(model, torch.as_tensor(a.inputs), method=a.method,
                        target=int(a.target[0]), **a.options)
print(bool(np.allclose(a.values, r.values, rtol=1e-5, atol=1e-7)), a.method)'''

MAP_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def lab(lab_server, page_and_log, tmp_path_factory):
    path = notebook_of(tmp_path_factory.mktemp("nb") / "instrument.ipynb", SOURCE)
    return open_and_run(lab_server, page_and_log, path)


def kprint(page, code: str) -> str:
    return kernel_exec(page, code).strip()


def settled(q, before: int, what: str = "mapsReceived", timeout_ms: int = MAP_TIMEOUT_MS):
    """Wait until the widget drew a new map (``data-maps-received`` above ``before``) and is
    idle, and the kernel's jobs are done."""
    from playwright.sync_api import TimeoutError as PWTimeout

    attr = {"mapsReceived": "mapsReceived", "paths": "pathsReceived",
            "compare": "compareReceived"}[what]
    try:
        q.page.wait_for_function(
            """([sel, attr, n]) => {
              const r = document.querySelector(sel);
              return !!r && Number(r.dataset[attr] || 0) > n && r.dataset.status === 'idle';
            }""", arg=[ROOT, attr, before], timeout=timeout_ms, polling=100)
    except PWTimeout:
        pytest.fail(q.diag(f"no new {what} after the control changed"), pytrace=False)
    assert kprint(q.page, "print(w.wait(60))") == "True"
    q.page.wait_for_timeout(150)


def count(q, attr: str = "mapsReceived") -> int:
    return int(q.page.locator(ROOT).evaluate(f"(r) => r.dataset.{attr} || '0'"))


def set_range(q, selector: str, value) -> None:
    q.page.locator(f"{ROOT} {selector}").evaluate(
        """(el, v) => { el.value = String(v);
                        el.dispatchEvent(new Event('input', {bubbles: true}));
                        el.dispatchEvent(new Event('change', {bubbles: true})); }""", value)


def choose(q, selector: str, value: str) -> None:
    q.page.locator(f"{ROOT} {selector}").select_option(value)


def same_as_attribute(q) -> None:
    out = kprint(q.page, SAME_AS_ATTRIBUTE)
    assert out.startswith("True"), q.diag(f"the map shown is not attribute()'s: {out}")


STEPS = [
    # (what the user does, kernel expression, expected value)
    ("method: integrated_gradients", lambda q: choose(q, "select.nbx-method",
                                                      "integrated_gradients"),
     "w.method", "integrated_gradients"),
    ("IG steps slider", lambda q: set_range(q, "input.nbx-steps", 12), "w.steps", "12"),
    ("method: smoothgrad", lambda q: choose(q, "select.nbx-method", "smoothgrad"),
     "w.method", "smoothgrad"),
    ("SmoothGrad samples slider", lambda q: set_range(q, "input.nbx-samples", 7),
     "w.samples", "7"),
    ("method: shapley", lambda q: choose(q, "select.nbx-method", "shapley"),
     "w.method", "shapley"),
    # the budget slider is logarithmic (data-scale="log"): position 625 of 1000 is 512
    ("Shapley budget slider", lambda q: set_range(q, "input.nbx-budget", 625), "w.budget",
     "512"),
    ("method: IG again", lambda q: choose(q, "select.nbx-method", "integrated_gradients"),
     "w.method", "integrated_gradients"),
    ("baseline: blur", lambda q: choose(q, "select.nbx-baseline", "blur"), "w.baseline",
     "blur"),
    ("blur sigma slider", lambda q: set_range(q, "input.nbx-blur-sigma", 2.5),
     "w.blur_sigma", "2.5"),
]


def test_each_control_reaches_the_kernel_changes_the_drawing_and_is_attribute(lab):
    q = lab
    for what, act, expr, want in STEPS:
        before, pixels = count(q), canvas_pixels(q.page)
        act(q)
        settled(q, before)
        got = kprint(q.page, f"print({expr})")
        assert got == want, q.diag(f"{what}: the kernel holds {expr} = {got!r}, not {want!r}")
        frac, mad = changed(pixels, canvas_pixels(q.page))
        assert frac > 0.05, q.diag(f"{what}: the canvas barely changed ({frac:.1%} of pixels)")
        same_as_attribute(q)
    assert not q.log.page_errors, q.diag("uncaught errors in the page")


DISPLAY = [
    ("clip", lambda q: set_range(q, "input.nbx-clip", 90), "w.clip", "90.0"),
    ("sign", lambda q: choose(q, "select.nbx-sign", "negative"), "w.sign", "negative"),
    ("top-k area", lambda q: set_range(q, "input.nbx-top-k", 10), "w.top_k", "10.0"),
    ("colour map", lambda q: choose(q, "select.nbx-colormap", "viridis"), "w.colormap",
     "viridis"),
    ("opacity", lambda q: set_range(q, "input.nbx-opacity", 0.95), "w.opacity", "0.95"),
]


def test_display_controls_redraw_in_the_browser_alone(lab):
    q, page = lab, lab.page
    choose(q, "select.nbx-method", "integrated_gradients")   # a signed map
    kprint(page, "w.wait(60)")
    page.wait_for_timeout(300)
    for what, act, expr, want in DISPLAY:
        maps, pixels = count(q), canvas_pixels(page)
        act(q)
        page.wait_for_timeout(100)
        frac, _ = changed(pixels, canvas_pixels(page))
        assert frac > 0.02, q.diag(f"{what}: the canvas barely changed ({frac:.1%})")
        assert count(q) == maps, q.diag(f"{what}: the kernel sent a new map")
        deadline = time.monotonic() + 10
        while (got := kprint(page, f"print({expr})")) != want and time.monotonic() < deadline:
            time.sleep(0.2)
        assert got == want, q.diag(f"{what}: the kernel holds {expr} = {got!r}")
    kprint(page, "w.clip, w.sign, w.top_k, w.colormap, w.opacity = 99.5, 'both', 100.0, "
                 "'auto', 0.6")


def test_a_brush_stroke_paints_the_baseline_and_recomputes(lab):
    q, page = lab, lab.page
    before, pixels = count(q), canvas_pixels(page)
    page.locator(f"{ROOT} .nbx-brush").click()
    box = page.locator(f"{ROOT} canvas.nbx-heatmap").bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.2
    page.mouse.move(x0, y0)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(x0 + box["width"] * 0.08 * k, y0 + box["height"] * 0.05 * k)
    page.mouse.up()
    settled(q, before)
    painted = kprint(page, "import numpy as np; print(int(np.frombuffer(w.paint, np.uint8).sum()))")
    assert int(painted) > 0, q.diag("the brush stroke painted nothing in the kernel's w.paint")
    frac, _ = changed(pixels, canvas_pixels(page))
    assert frac > 0.05, q.diag(f"the stroke barely changed the canvas ({frac:.1%})")
    same_as_attribute(q)
    # the painted cells of the explained input hold the baseline (IG's blur, from above)
    ok = kprint(page, "a = w.attribution; m = np.frombuffer(w.paint, np.uint8).reshape(8, 8) > 0;"
                      " b = np.asarray(a.options['baseline'])[0, 0];"
                      " print(bool(np.allclose(a.inputs[0, 0][m], b[m])), a.method)")
    assert ok == "True integrated_gradients", q.diag(f"painted cells: {ok}")
    before = count(q)
    page.locator(f"{ROOT} .nbx-paint-reset").click()
    settled(q, before)
    assert kprint(page, "print(len(w.paint))") == "0"


def test_the_path_scrubber_and_a_comparison_tick(lab):
    q, page = lab, lab.page
    choose(q, "select.nbx-method", "integrated_gradients")
    kprint(page, "w.wait(60)")
    before = count(q, "pathsReceived")
    set_range(q, "input.nbx-alpha", 0.5)
    settled(q, before, "paths")
    assert kprint(page, "print(w.alpha)") == "0.5"
    for cls in ("nbx-path-input", "nbx-path-grad", "nbx-path-accum"):
        px = page.locator(f"{ROOT} canvas.{cls}").evaluate(
            "(c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data"
            ".filter((v, i) => i % 4 === 3 && v > 0)).length")
        assert px > 0, q.diag(f"the path canvas {cls} is blank")

    before = count(q, "compareReceived")
    page.locator(f"{ROOT} input.nbx-compare-option[data-method=saliency]").check()
    page.locator(f"{ROOT} input.nbx-compare-option[data-method=occlusion]").check()
    settled(q, before, "compare")
    page.wait_for_function(
        "(sel) => document.querySelectorAll(sel + ' canvas.nbx-compare-map').length >= 2",
        arg=ROOT, timeout=MAP_TIMEOUT_MS)
    assert kprint(page, "print(sorted(w.compare))") == "['occlusion', 'saliency']"
    page.wait_for_function(
        "(sel) => document.querySelectorAll(sel + ' table.nbx-correlations td').length >= 4",
        arg=ROOT, timeout=MAP_TIMEOUT_MS)
    page.locator(f"{ROOT} input.nbx-compare-option[data-method=saliency]").uncheck()
    page.locator(f"{ROOT} input.nbx-compare-option[data-method=occlusion]").uncheck()


def test_a_storm_of_slider_moves_runs_few_jobs_and_shows_the_last(lab):
    q, page = lab, lab.page
    choose(q, "select.nbx-method", "integrated_gradients")
    kprint(page, "w.wait(60)")
    started = int(kprint(page, "print(w._runners['map'].started)"))
    page.locator(f"{ROOT} input.nbx-steps").evaluate(
        """async (el) => {
          for (let i = 0; i < 200; i++) {
            el.value = String(2 + (i * 7) % 250);
            el.dispatchEvent(new Event('input', {bubbles: true}));
            await new Promise((r) => setTimeout(r, 9));
          }
          el.value = '77';
          el.dispatchEvent(new Event('input', {bubbles: true}));
          el.dispatchEvent(new Event('change', {bubbles: true}));
        }""")
    deadline = time.monotonic() + 30
    while kprint(page, "print(w.steps)") != "77" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert kprint(page, "print(w.wait(60), w.steps)") == "True 77"
    ran = int(kprint(page, "print(w._runners['map'].started)")) - started
    assert ran <= 5, q.diag(f"{ran} jobs ran for 200 slider moves")
    page.wait_for_timeout(300)
    shown = kprint(page, "print(w.heatmap_meta['request_id'], w.attribution.options['steps'])")
    assert shown.split()[1] == "77", q.diag(f"the last map is for steps {shown}")
    same_as_attribute(q)


def test_hostile_labels_render_as_text(lab):
    q, page = lab, lab.page
    texts = page.locator(f"{ROOT} .nbx-class").all_inner_texts()
    joined = " ".join(texts)
    assert "<img src=x onerror=window.__p=1>" in joined, q.diag(f"labels: {texts}")
    assert "</script><script>window.__p=1</script>" in joined, q.diag(f"labels: {texts}")
    assert page.evaluate("() => window.__p") is None
    assert page.locator(f"{ROOT} img[src=x]").count() == 0


def test_a_thumbnail_click_explains_that_example(lab):
    q, page = lab, lab.page
    assert page.locator(f"{ROOT} button.nbx-thumb").count() == 4, q.diag("no thumbnail strip")
    before, pixels = count(q), canvas_pixels(page)
    page.locator(f"{ROOT} button.nbx-thumb[data-index='2']").click()
    settled(q, before)
    assert kprint(page, "print(w.index)") == "2"
    assert page.locator(f"{ROOT} button.nbx-thumb[data-index='2']").get_attribute(
        "aria-pressed") == "true"
    frac, _ = changed(pixels, canvas_pixels(page))
    assert frac > 0.05, q.diag(f"the canvas barely changed ({frac:.1%})")
    same_as_attribute(q)


def test_the_widget_answers_while_a_cell_trains_the_model(lab):
    q, page = lab, lab.page
    loop = '''\
import time
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
model.train()
seen = {"steps": 0, "hooks": 0, "eval": 0}
end = time.time() + 10
while time.time() < end:
    for mod in model.modules():
        seen["hooks"] += len(mod._forward_hooks) + len(mod._backward_hooks)
    seen["eval"] += not model.training
    loss = model(X).logsumexp(1).mean()
    opt.zero_grad(); loss.backward(); opt.step()
    seen["steps"] += 1
model.eval()
print(seen)'''
    page.evaluate("""(code) => {
      const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
      window.__loop = null;
      let out = '';
      const f = k.requestExecute({code, store_history: false});
      f.onIOPub = (m) => { if (m.header.msg_type === 'stream') out += m.content.text; };
      f.done.then((r) => { window.__loop = {status: r.content.status, out}; });
    }""", loop)
    page.wait_for_timeout(1500)                     # the loop is running
    assert page.evaluate("() => window.__loop") is None
    answered = 0
    for idx in ("3", "1"):
        before = count(q)
        page.locator(f"{ROOT} .nbx-class[data-index='{idx}']").click()
        page.wait_for_function(
            "([sel, n]) => Number(document.querySelector(sel).dataset.mapsReceived) > n",
            arg=[ROOT, before], timeout=8_000)
        answered += page.evaluate("() => window.__loop") is None   # still training
    assert answered == 2, q.diag("the widget did not answer while the cell ran")
    page.wait_for_function("() => window.__loop !== null", timeout=60_000)
    res = page.evaluate("() => window.__loop")
    assert res["status"] == "ok", q.diag(f"the training cell failed: {res}")
    seen = eval(res["out"].strip().splitlines()[-1])
    assert seen["steps"] > 10 and seen["hooks"] == 0 and seen["eval"] == 0, q.diag(
        f"the loop saw {seen}")


def test_an_error_shows_inside_the_widget_as_text(lab):
    q, page = lab, lab.page
    kprint(page, "w.method = 'grad_cam'; w.wait(60); w.layer = '<b>nope</b>'; w.wait(60)")
    page.wait_for_function(
        "(sel) => (document.querySelector(sel + ' .nbx-error') || {}).textContent"
        " && document.querySelector(sel + ' .nbx-error').textContent.includes('nope')",
        arg=ROOT, timeout=30_000)
    alert = page.locator(f"{ROOT} .nbx-error[role=alert]")
    text = alert.inner_text()
    assert "no layer named '<b>nope</b>'" in text, q.diag(f"the error reads {text!r}")
    assert alert.locator("b").count() == 0, "the error's text was parsed as HTML"
    kprint(page, "w.layer = ''; w.method = 'saliency'; w.wait(60)")
    page.wait_for_function(
        "(sel) => !(document.querySelector(sel + ' .nbx-error') || {}).textContent",
        arg=ROOT, timeout=30_000)


def test_the_view_and_the_chart_save_as_png_and_svg(lab):
    import xml.etree.ElementTree as ET

    from PIL import Image

    q, page = lab, lab.page
    choose(q, "select.nbx-method", "integrated_gradients")
    kprint(page, "w.wait(60)")
    with page.expect_download() as dl:
        page.locator(f"{ROOT} .nbx-export-png").click()
    png = dl.value.path()
    canvas_w = page.locator(f"{ROOT} canvas.nbx-heatmap").evaluate("(c) => c.width")
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] >= canvas_w, q.diag(f"png {im.size}")
    with page.expect_download() as dl:
        page.locator(f"{ROOT} .nbx-export-svg").click()
    tree = ET.parse(dl.value.path())
    assert tree.getroot().tag.endswith("svg")
    assert not [el for el in tree.iter() if el.tag.endswith("script")]


def test_a_page_reload_re_renders_the_widget(lab):
    q, page = lab, lab.page
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_timeout(1000)
    page.reload(wait_until="domcontentloaded")
    page.wait_for_function(JS_KERNEL_IDLE, arg=q.path, timeout=90_000, polling=250)
    page.wait_for_function(
        """(sel) => { const r = document.querySelector(sel);
                      return !!r && Number(r.dataset.mapsReceived) >= 1; }""",
        arg=ROOT, timeout=60_000)
    px = canvas_pixels(page)
    assert (px[..., 3] > 0).mean() > 0.5, q.diag("the reloaded widget's canvas is blank")
    st = root_state(page)
    assert len(st["classes"]) == 10, q.diag(f"after the reload: {st}")
