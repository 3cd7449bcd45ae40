"""Defects a new-user review of the widget's kernel side found, driven as the browser drives
it (the custom-message handler, replies captured from ``send``), each against an independent
truth: ``nbexplain.attribute`` with the same options, the sigmoid of the logit, strict JSON."""

import json
import threading
import time

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain.live.runner import JobRunner
from nbexplain.widgets.serialize import decode_array


class Capture:
    def __init__(self, w):
        self.items, self.lock = [], threading.Lock()
        w.send = self

    def __call__(self, content, buffers=None):
        json.dumps(content, allow_nan=False)      # every reply is strict JSON
        with self.lock:
            self.items.append((content, buffers))

    def final(self, rid):
        done = [(c, b) for c, b in self.items if c.get("id") == rid
                and c.get("kind") in ("attribution", "error") and c.get("final", True)]
        return done[-1]


def _ask(w, rid, target, method):
    w._on_msg(w, {"kind": "attribute", "id": rid, "target": target, "method": method}, [])


def _digit_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(256, 3)).eval()


@pytest.mark.parametrize("method, options", [
    ("integrated_gradients", {"rule": "riemann_trapezoid", "steps": 17, "batch_size": 4.0}),
    ("shapley", {"samples": 256, "batch_size": 4.0}),
])
def test_a_float_batch_size_works_for_every_click(method, options):
    m = _digit_model()
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    w = nbexplain.explain(m, x, method=method, **options)
    cap = Capture(w)
    _ask(w, 1, 2, method)
    assert w.wait(60)
    content, buffers = cap.final(1)
    # before: "TypeError: 'float' object cannot be interpreted as an integer" (IG) or a
    # refusal (Shapley) on every click, while the first map (not streamed) worked
    assert content["kind"] == "attribution", content
    got = decode_array(content["meta"], buffers[0]).astype(np.float64)
    if "scale" in content["meta"]:
        got = got * content["meta"]["scale"]
    # one channel: the map is the values themselves
    truth = nbexplain.attribute(m, x, method, target=2, **options).values[0, 0]
    np.testing.assert_allclose(got, truth, rtol=1e-5, atol=1e-6 * np.abs(truth).max())
    w.close()


def test_an_overflowed_logit_gives_finite_probabilities():
    class Overflow(torch.nn.Module):
        def forward(self, x):
            z = x.flatten(1)[:, :3] * 0.0
            return z + torch.tensor([0.0, 1.0, float("inf")])

    w = nbexplain.explain(Overflow(), torch.rand(1, 1, 8, 8), method="occlusion")
    probs = {c["index"]: c["prob"] for c in w.top_classes}
    # before: every probability was NaN, and the saved widget state was not valid JSON
    assert probs == {2: 1.0, 0: 0.0, 1: 0.0}
    json.dumps(w.top_classes, allow_nan=False)
    w.close()


@pytest.mark.parametrize("score", ["logit", "probability"])
def test_a_one_logit_binary_classifier_shows_its_sigmoid(score):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1)).eval()
    x = torch.rand(1, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    w = nbexplain.explain(m, x, score=score)
    with torch.no_grad():
        p = float(torch.sigmoid(m(x))[0, 0])
    # before: 1.0 whatever the input (the softmax of one value)
    assert w.top_classes[0]["prob"] == pytest.approx(p, rel=1e-6)
    w.close()


def test_status_stays_computing_while_the_newest_job_runs(monkeypatch):
    class Slow(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.lin = torch.nn.Linear(64, 5)

        def forward(self, x):
            time.sleep(0.03)
            return self.lin(x.flatten(1))

    w = nbexplain.explain(Slow().eval(), torch.rand(1, 1, 8, 8))
    Capture(w)
    orig = JobRunner.submit

    def late_submit(self, job_id, fn):   # the kernel thread descheduled between the two
        time.sleep(0.08)
        orig(self, job_id, fn)

    try:
        _ask(w, 1, 0, "saliency")               # ~30 ms: it ends inside the window
        monkeypatch.setattr(JobRunner, "submit", late_submit)
        _ask(w, 2, 1, "occlusion")              # long (many 30 ms passes)
        monkeypatch.setattr(JobRunner, "submit", orig)
        deadline = time.monotonic() + 10
        while not (w._runner._current is not None and w._runner._current.id == 2):
            assert time.monotonic() < deadline, "job 2 never started"
            time.sleep(0.01)
        # before: job 1's end set "idle" after job 2 had set "computing"
        assert w.status == "computing"
        assert w.wait(60) and w.status == "idle"
    finally:
        w.wait(60)
        w.close()
