"""The Explainer's request/reply protocol, driven as the front end drives it: requests go to
the comm message handler (``_on_msg``) as the dicts the browser sends, and what the kernel
sends back is captured from ``send`` (every reply strict JSON).

A request is answered with the map of the class and method it names (with the options
explain() was given that the method takes); malformed requests and unforeseen failures are
answered with an error, never raised; the latest request wins (a superseded job stops at its
next check, and the status stays 'computing' while the newest job runs); show() widgets
answer requests for their one map.

Truths: nbexplain.attribute with the same options, counts of the model's calls, and the ids of
the replies.
"""

import json
import threading
import time

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain.export import heatmap_2d
from nbexplain.live.runner import JobRunner
from nbexplain.widgets.serialize import decode_array

from widget_helpers import Replies, cnn, request


def sent_messages(w, monkeypatch):
    box = []
    monkeypatch.setattr(w, "send", lambda content, buffers=None: box.append((content, buffers)))
    return box


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


# --- answers ----------------------------------------------------------------------------------
def test_request_for_another_class_answers_with_a_binary_map(monkeypatch):
    m = cnn()
    x = torch.rand(1, 8, 8)
    w = nbexplain.explain(m, x)
    first = bytes(w.heatmap)
    other = w.top_classes[2]["index"]
    box = sent_messages(w, monkeypatch)
    w._on_msg(w, {"kind": "attribute", "id": 5, "target": other, "method": "saliency"}, [])
    assert w.wait(20)
    content, buffers = box[-1]
    assert content["kind"] == "attribution" and content["id"] == 5
    assert content["target"] == other and content["final"] is True
    assert isinstance(buffers[0], (bytes, memoryview)) and len(buffers[0]) == 64 * 4
    got = decode_array(content["meta"], buffers[0])
    expected = heatmap_2d(nbexplain.attribute(m, x, target=other).values, True)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # the traits follow so that a reload shows the latest map
    assert w.target == other and bytes(w.heatmap) != first
    assert w.heatmap_meta["request_id"] == 5 and w.status == "idle"
    w.close()


def test_request_method_is_honoured(monkeypatch):
    m = cnn()
    x = torch.rand(1, 8, 8)
    w = nbexplain.explain(m, x, method="saliency")
    replies = Replies(w, monkeypatch)
    request(w, id=1, target=3, method="integrated_gradients")
    assert w.wait(30)
    content, buffers = replies.items[-1]
    assert content["kind"] == "attribution" and content["method"] == "integrated_gradients"
    expected = heatmap_2d(nbexplain.attribute(m, x, method="integrated_gradients",
                                              target=3).values, True)
    np.testing.assert_allclose(decode_array(content["meta"], buffers[0]), expected,
                               rtol=1e-5, atol=1e-7)
    saliency = heatmap_2d(nbexplain.attribute(m, x, target=3).values, True)
    assert not np.allclose(expected, saliency)
    # the traits follow, so a reload (and the next click) shows/asks for the same method
    assert w.method == "integrated_gradients"
    assert w.heatmap_meta["method"] == "integrated_gradients"
    w.close()


def test_request_method_keeps_the_options_it_accepts(monkeypatch):
    """Options given to explain() go to every requested method that takes them."""
    m = cnn()
    x = torch.rand(1, 8, 8)
    w = nbexplain.explain(m, x, method="occlusion", window=4)   # saliency takes no window
    replies = Replies(w, monkeypatch)
    request(w, id=1, target=3, method="saliency")
    request(w, id=2, target=3, method="occlusion")
    assert w.wait(30)
    content, buffers = replies.items[-1]
    assert content["id"] == 2 and content["method"] == "occlusion"
    expected = heatmap_2d(nbexplain.attribute(m, x, method="occlusion", window=4,
                                              target=3).values, True)
    np.testing.assert_allclose(decode_array(content["meta"], buffers[0]), expected, rtol=1e-5)
    w.close()


def test_missing_method_means_the_current_one(monkeypatch):
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8), method="input_x_gradient")
    replies = Replies(w, monkeypatch)
    request(w, id=1, target=3)
    assert w.wait(30)
    assert replies.contents[-1]["method"] == "input_x_gradient"
    w.close()


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


def test_whole_float_target_is_a_class_index(monkeypatch):
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8))
    replies = Replies(w, monkeypatch)
    request(w, id=2, target=3.0, method="saliency")
    assert w.wait(20)
    assert replies.contents[-1]["kind"] == "attribution" and replies.contents[-1]["target"] == 3
    w.close()


def test_static_widget_answers_requests(monkeypatch):
    """show() widgets hold one map: a request for it is answered with it, others with an
    error (the front end marks itself 'computing' on a click and waits for a reply)."""
    x = np.random.default_rng(0).random((3, 8, 8))
    w = nbexplain.show(np.arange(64.0).reshape(8, 8), x, target=2, labels=list("abcde"))
    replies = Replies(w, monkeypatch)
    request(w, id=1, target=2, method="external")
    request(w, id=2, target=2)
    assert w.wait(20)
    for c, buffers in replies.items:
        assert c["kind"] == "attribution" and c["target"] == 2 and c["final"] is True
        np.testing.assert_array_equal(decode_array(c["meta"], buffers[0]),
                                      np.arange(64.0).reshape(8, 8))
    request(w, id=3, target=4, method="external")
    assert w.wait(20)
    assert replies.contents[-1]["kind"] == "error" and replies.contents[-1]["id"] == 3
    assert "class 2" in replies.contents[-1]["error"]
    request(w, id=4, target="x")
    assert w.wait(20)
    assert replies.contents[-1]["kind"] == "error" and replies.contents[-1]["id"] == 4
    w.close()


# --- errors -----------------------------------------------------------------------------------
def test_bad_request_answers_with_error_not_exception(monkeypatch):
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8))
    box = sent_messages(w, monkeypatch)
    w._on_msg(w, {"kind": "attribute", "id": 9, "target": 42}, [])
    assert w.wait(20)
    content, _ = box[-1]
    assert content["kind"] == "error" and content["id"] == 9
    assert "out of range" in content["error"] and "0..9" in content["error"]
    assert "out of range" in w.error
    w.close()


BAD_IDS = ["abc", None, 1.5, True, [1], {"a": 1}, float("nan")]


@pytest.mark.parametrize("bad_id", BAD_IDS, ids=repr)
def test_malformed_id_answers_with_an_error(monkeypatch, bad_id):
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8))
    replies = Replies(w, monkeypatch)
    w._on_msg(w, {"kind": "attribute", "id": bad_id, "target": 1, "method": "saliency"}, [])
    assert w.wait(20)
    (reply,) = replies.contents
    assert reply["kind"] == "error" and reply["id"] is None
    assert "id" in reply["error"]
    assert w.error and w.status == "idle"
    w.close()


@pytest.mark.parametrize("bad_target", [2.7, True, False, "2", None, [2], -1, float("inf")],
                         ids=repr)
def test_malformed_target_answers_with_an_error(monkeypatch, bad_target):
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8))
    before = bytes(w.heatmap)
    replies = Replies(w, monkeypatch)
    request(w, id=4, target=bad_target, method="saliency")
    assert w.wait(20)
    (reply,) = replies.contents
    assert reply["kind"] == "error" and reply["id"] == 4, reply
    assert "target" in reply["error"]
    assert bytes(w.heatmap) == before and w.status == "idle" and "target" in w.error
    w.close()


@pytest.mark.parametrize("content", [
    ["attribute", 1, 2],
    "attribute",
    {"id": 3, "target": 1},
    {"kind": "explode", "id": 3, "target": 1},
], ids=repr)
def test_other_malformed_messages_answer_with_an_error(monkeypatch, content):
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8))
    replies = Replies(w, monkeypatch)
    w._on_msg(w, content, [])
    assert w.wait(20)
    (reply,) = replies.contents
    assert reply["kind"] == "error"
    assert reply["id"] == (3 if isinstance(content, dict) else None)
    w.close()


@pytest.mark.parametrize("method", ["nope", "", 3, ["saliency"], "external"])
def test_unknown_method_answers_with_an_error(monkeypatch, method):
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8))
    replies = Replies(w, monkeypatch)
    request(w, id=6, target=3, method=method)
    assert w.wait(30)
    (reply,) = replies.contents
    assert reply["kind"] == "error" and reply["id"] == 6 and "method" in reply["error"]
    assert "saliency" in reply["error"]  # lists what is available
    assert w.method == "saliency"
    w.close()


def test_handler_never_raises(monkeypatch):
    """Even a failure the handler does not foresee becomes an error reply."""
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8))
    replies = Replies(w, monkeypatch)

    def boom(*a, **k):
        raise RuntimeError("kaput")

    monkeypatch.setattr(w, "_submit", boom)
    request(w, id=5, target=1, method="saliency")
    (reply,) = replies.contents
    assert reply["kind"] == "error" and reply["id"] == 5 and "kaput" in reply["error"]
    w.close()


# --- the latest request wins ------------------------------------------------------------------
class Counting(torch.nn.Module):
    """Counts forward calls; once armed, the ``stop_at``-th call waits until the test has
    sent the next request (no timing involved: the second request is sent while the first
    is known to be inside the model)."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.calls = 0
        self.armed = False
        self.stop_at = 0
        self.reached = threading.Event()
        self.go = threading.Event()

    def forward(self, x):
        self.calls += 1
        if self.armed and self.calls == self.stop_at:
            self.reached.set()
            self.go.wait(30)
        return self.net(x)


@pytest.mark.parametrize("method, options", [
    ("occlusion", {"batch_size": 1}),
    ("shapley", {"samples": 64, "batch_size": 2, "features": ("grid", 2)}),
    ("lime", {"samples": 64, "batch_size": 2, "features": ("grid", 2)}),
    ("integrated_gradients", {"steps": 32, "batch_size": 2}),
    ("smoothgrad", {"samples": 16, "batch_samples": 1}),
])
def test_superseded_request_stops_early(monkeypatch, method, options):
    m = Counting(cnn())
    x = torch.rand(1, 8, 8)
    w = nbexplain.explain(m, x, method=method, **options)
    replies = Replies(w, monkeypatch)
    a, b, c = (w.top_classes[k]["index"] for k in (1, 2, 3))

    # one uncancelled request: how many model calls a whole map costs
    m.calls = 0
    request(w, id=1, target=a, method=method)
    assert w.wait(60)
    full = m.calls
    assert full >= 16, "the test needs a method that calls the model many times"

    # request 2 is superseded by request 3 while it is inside its 3rd model call
    # (another class than request 1's: IG keeps the path gradients of a class it explained)
    m.calls, m.stop_at, m.armed = 0, 3, True
    request(w, id=2, target=c, method=method)
    assert m.reached.wait(30)
    request(w, id=3, target=b, method=method)
    m.go.set()
    assert w.wait(60)
    m.armed = False
    calls = m.calls
    # request 2 made its 3 calls and stopped at the next check; request 3 ran in full
    # (without the cancel hook request 2 also runs in full: 2 * full calls)
    assert calls <= full + 3, (calls, full)
    ids = [c["id"] for c in replies.contents]
    # request 2 may have streamed partial maps before it was superseded, never a result
    assert not [c for c in replies.contents if c["id"] == 2 and (
        c["kind"] == "error" or c.get("final"))] and ids[-1] == 3
    assert replies.contents[-1]["kind"] == "attribution" and w.target == b
    w.close()


def test_methods_without_a_cancel_hook_still_run(monkeypatch):
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8), method="grad_cam")
    replies = Replies(w, monkeypatch)
    request(w, id=1, target=3, method="grad_cam")
    assert w.wait(30)
    assert replies.contents[-1]["kind"] == "attribution", replies.contents


def test_malformed_request_supersedes_the_running_one(monkeypatch):
    """Latest wins for bad requests too: the front end ignores replies older than its newest
    request, so the kernel stops the older job instead of finishing it."""
    m = Counting(cnn())
    w = nbexplain.explain(m, torch.rand(1, 8, 8), method="occlusion", batch_size=1)
    replies = Replies(w, monkeypatch)
    m.calls, m.stop_at, m.armed = 0, 2, True
    request(w, id=1, target=1, method="occlusion")
    assert m.reached.wait(30)
    request(w, id=2, target="one", method="occlusion")
    m.go.set()
    assert w.wait(30)
    calls = m.calls
    assert calls <= 3, calls
    assert [(c["kind"], c["id"]) for c in replies.contents] == [("error", 2)]
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

    def late_submit(self, job_id, fn, *args):   # the kernel thread descheduled between the two
        time.sleep(0.08)
        orig(self, job_id, fn, *args)

    try:
        _ask(w, 1, 0, "saliency")               # ~30 ms: it ends inside the window
        monkeypatch.setattr(JobRunner, "submit", late_submit)
        _ask(w, 2, 1, "occlusion")              # long (many 30 ms passes)
        monkeypatch.setattr(JobRunner, "submit", orig)
        deadline = time.monotonic() + 10
        while not (w._runners["map"]._current is not None and w._runners["map"]._current.id == 2):
            assert time.monotonic() < deadline, "job 2 never started"
            time.sleep(0.01)
        # before: job 1's end set "idle" after job 2 had set "computing"
        assert w.status == "computing"
        assert w.wait(60) and w.status == "idle"
    finally:
        w.wait(60)
        w.close()
