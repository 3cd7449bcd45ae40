"""A Keras model in the widget, in real JupyterLab and Chromium: the method picker and the IG
steps slider reach the kernel and change the drawing, and each map drawn is ``attribute()``'s
for the Keras model (its compiled paths, called from the widget's worker thread); the IG
caption carries the completeness error; the page shows no errors."""

from __future__ import annotations

import pytest

from lab_notebook import ROOT, canvas_pixels, changed, kernel_exec, notebook_of, open_and_run

pytestmark = pytest.mark.browser

SOURCE = '''\
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np, keras, nbexplain
from sklearn.datasets import load_digits
keras.utils.set_random_seed(0)
bias = keras.initializers.RandomNormal(stddev=0.5, seed=1)  # zero biases: IG exact at any steps
inp = keras.Input((8, 8, 1))
h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", bias_initializer=bias)(inp)
h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", bias_initializer=bias,
                        name="conv2")(h)
model = keras.Model(inp, keras.layers.Dense(10)(keras.layers.Flatten()(h)))
X = (load_digits().images[:4] / 16.0).astype("float32")[..., None]
w = nbexplain.explain(model, X, top_k=10)
w'''

SAME_AS_ATTRIBUTE = '''\
a = w.attribution
r = nbexplain.attribute(model, a.inputs, method=a.method, target=int(np.ravel(a.target)[0]),
                        **a.options)
print(bool(np.allclose(a.values, r.values, rtol=1e-5, atol=1e-6)), a.method)'''

STEPS = [
    ("method: integrated_gradients", "select.nbx-method", "integrated_gradients", "w.method",
     "integrated_gradients"),
    ("IG steps slider", "input.nbx-steps", 12, "w.steps", "12"),
    ("method: grad_cam", "select.nbx-method", "grad_cam", "w.method", "grad_cam"),
    ("method: smoothgrad", "select.nbx-method", "smoothgrad", "w.method", "smoothgrad"),
]


@pytest.fixture(scope="module")
def lab(lab_server, page_and_log, tmp_path_factory):
    path = notebook_of(tmp_path_factory.mktemp("nb") / "keras.ipynb", SOURCE)
    return open_and_run(lab_server, page_and_log, path)


def maps(q) -> int:
    return int(q.page.locator(ROOT).evaluate("(r) => r.dataset.mapsReceived || '0'"))


def act(q, selector: str, value) -> None:
    el = q.page.locator(f"{ROOT} {selector}")
    if selector.startswith("select"):
        el.select_option(str(value))
        return
    el.evaluate("""(el, v) => { el.value = String(v);
                                el.dispatchEvent(new Event('input', {bubbles: true}));
                                el.dispatchEvent(new Event('change', {bubbles: true})); }""",
                value)


def settled(q, before: int) -> None:
    from playwright.sync_api import TimeoutError as PWTimeout

    try:
        q.page.wait_for_function(
            """([sel, n]) => { const r = document.querySelector(sel);
                 return !!r && Number(r.dataset.mapsReceived || 0) > n
                        && r.dataset.status === 'idle'; }""",
            arg=[ROOT, before], timeout=90_000, polling=100)
    except PWTimeout:
        pytest.fail(q.diag("no new map after the control changed"), pytrace=False)
    assert kernel_exec(q.page, "print(w.wait(60))").strip() == "True"
    q.page.wait_for_timeout(150)


def test_keras_controls_reach_the_kernel_and_draw_attributes_maps(lab):
    q = lab
    for what, selector, value, expr, want in STEPS:
        before, pixels = maps(q), canvas_pixels(q.page)
        act(q, selector, value)
        settled(q, before)
        got = kernel_exec(q.page, f"print({expr})").strip()
        assert got == want, q.diag(f"{what}: the kernel holds {expr} = {got!r}, not {want!r}")
        frac, _ = changed(pixels, canvas_pixels(q.page))
        assert frac > 0.05, q.diag(f"{what}: the canvas barely changed ({frac:.1%} of pixels)")
        out = kernel_exec(q.page, SAME_AS_ATTRIBUTE).strip()
        assert out.startswith("True"), q.diag(f"{what}: the map is not attribute()'s: {out}")
        if value == 12:     # IG: the caption shows its completeness error
            caption = q.page.locator(ROOT).inner_text()
            assert "Δ" in caption, q.diag(f"no completeness error in the caption: {caption!r}")
    assert not q.log.page_errors, q.diag("uncaught errors in the page")
