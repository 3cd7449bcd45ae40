"""Review fixes for the Explainer widget's kernel side.

The widget is driven the way the front end drives it: requests go to its comm message
handler (``_on_msg``) as the dicts the browser sends, and what the kernel sends back is
captured from ``send``.
"""

import json
import threading
import warnings

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError
from nbexplain.export import heatmap_2d
from nbexplain.widgets import Explainer
from nbexplain.live.runner import JobRunner
from nbexplain.widgets.serialize import decode_array, encode_array


def cnn():
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 10)).eval()


class Replies:
    """Captures ``widget.send``; every reply must be JSON (no NaN/inf, no Python objects)."""

    def __init__(self, w, monkeypatch):
        self.items = []
        self.lock = threading.Lock()
        monkeypatch.setattr(w, "send", self)

    def __call__(self, content, buffers=None):
        json.dumps(content, allow_nan=False)
        with self.lock:
            self.items.append((content, buffers))

    @property
    def contents(self):
        with self.lock:
            return [c for c, _ in self.items]


def request(w, **fields):
    w._on_msg(w, {"kind": "attribute", **fields}, [])


# --- 1. cancellation -----------------------------------------------------------------------
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
    a, b = w.top_classes[1]["index"], w.top_classes[2]["index"]

    # one uncancelled request: how many model calls a whole map costs
    m.calls = 0
    request(w, id=1, target=a, method=method)
    assert w.wait(60)
    full = m.calls
    assert full >= 16, "the test needs a method that calls the model many times"

    # request 2 is superseded by request 3 while it is inside its 3rd model call
    m.calls, m.stop_at, m.armed = 0, 3, True
    request(w, id=2, target=a, method=method)
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


# --- 2. message validation -----------------------------------------------------------------
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


def test_whole_float_target_is_a_class_index(monkeypatch):
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8))
    replies = Replies(w, monkeypatch)
    request(w, id=2, target=3.0, method="saliency")
    assert w.wait(20)
    assert replies.contents[-1]["kind"] == "attribution" and replies.contents[-1]["target"] == 3
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


@pytest.mark.parametrize("top_k", [-1, 0, 2.5, True, "3", None])
def test_bad_top_k_is_refused_at_construction(top_k):
    with pytest.raises(NBExplainError, match="top_k"):
        nbexplain.explain(cnn(), torch.rand(1, 8, 8), top_k=top_k)


def test_top_k_larger_than_the_classes_lists_them_all():
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8), top_k=50)
    assert sorted(c["index"] for c in w.top_classes) == list(range(10))


@pytest.mark.parametrize("index", [1.5, True, "0"])
def test_bad_index_is_refused_at_construction(index):
    with pytest.raises(NBExplainError, match="index"):
        nbexplain.explain(cnn(), torch.rand(2, 1, 8, 8), index=index)


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


# --- 3. finite values beyond float32 ---------------------------------------------------------
class HugeGrad(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.linspace(1.0, 64.0, 64, dtype=torch.float64) * 1e300

    def forward(self, x):
        z = x.flatten(1)
        # at x = 0 the logits are 0 and the gradient of class 0 is w (finite, > float32 max)
        return torch.stack([(z * self.w).sum(1), z.sum(1)], 1)


def test_huge_finite_values_are_not_masked_in_explain():
    x = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # nothing is NaN or infinite
        w = nbexplain.explain(HugeGrad(), x, target=0)
    meta = w.heatmap_meta
    assert meta["masked"] is False and w.heatmap_mask == b""
    assert "NaN or infinite" not in w.warning and "float32" in w.warning
    hm = decode_array(meta, w.heatmap).astype(np.float64)
    assert np.all(np.isfinite(hm)) and hm.min() > 0
    expected = np.linspace(1.0, 64.0, 64).reshape(8, 8) * 1e300
    # the picture is kept: values are scaled by a power of two, not clipped to one value
    np.testing.assert_allclose(hm / hm.max(), expected / expected.max(), rtol=1e-6)
    np.testing.assert_allclose(hm * meta["scale"], expected, rtol=1e-6)


def test_huge_finite_values_in_a_reply_are_not_masked(monkeypatch):
    w = nbexplain.explain(HugeGrad(), torch.zeros(1, 1, 8, 8, dtype=torch.float64), target=1)
    replies = Replies(w, monkeypatch)
    request(w, id=1, target=0, method="saliency")
    assert w.wait(20)
    (content, buffers) = replies.items[-1]
    assert content["kind"] == "attribution" and content["meta"]["masked"] is False
    assert len(buffers) == 1
    hm = decode_array(content["meta"], buffers[0])
    assert np.all(np.isfinite(hm)) and len(np.unique(hm)) == 64


def test_real_nonfinite_values_are_still_masked_next_to_huge_ones():
    hm = np.array([[1e300, np.nan], [-np.inf, 2e300]])
    with pytest.warns(RuntimeWarning, match="2 of 4"):
        meta, data, mask, warning = encode_array(hm, overflow="scale")
    vals = decode_array(meta, data)
    assert np.all(np.isfinite(vals))
    np.testing.assert_array_equal(np.frombuffer(mask, np.uint8), [0, 1, 1, 0])
    assert vals[1, 1] == 2 * vals[0, 0] and "NaN or infinite" in warning and "float32" in warning


def test_values_in_range_are_not_scaled():
    meta, data, _, warning = encode_array(np.array([1.0, -3e38]), overflow="scale")
    assert "scale" not in meta and warning == ""
    np.testing.assert_allclose(decode_array(meta, data), [1.0, -3e38], rtol=1e-6)


# --- 4. show(): the values' own layout, labels ----------------------------------------------
def test_show_hwc_values_with_a_chw_image():
    rng = np.random.default_rng(0)
    x = rng.random((3, 32, 24))                       # C×H×W image
    v = rng.random((32, 24, 3))                       # H×W×C values
    w = nbexplain.show(v, x)
    hm = decode_array(w.heatmap_meta, w.heatmap)
    assert hm.shape == (32, 24)
    np.testing.assert_allclose(hm, heatmap_2d(v, False), rtol=1e-6)
    assert w.image_meta["shape"] == [32, 24, 3]


def test_show_chw_values_with_an_hwc_image():
    rng = np.random.default_rng(1)
    x = rng.random((1, 16, 20, 3))                    # batch of one H×W×C image
    v = rng.normal(size=(1, 3, 16, 20))               # batch of one C×H×W map
    w = nbexplain.show(v, x)
    np.testing.assert_allclose(decode_array(w.heatmap_meta, w.heatmap), heatmap_2d(v[0], True),
                               rtol=1e-6)


def test_show_coarse_map_is_still_accepted():
    """Grad-CAM style maps are coarser than the image; the front end resamples them."""
    x = np.random.default_rng(2).random((3, 32, 32))
    v = np.random.default_rng(3).random((1, 4, 4))
    w = nbexplain.show(v, x)
    assert w.heatmap_meta["shape"] == [4, 4]


@pytest.mark.parametrize("shape", [(32, 3), (3, 32, 7), (5, 16, 16), (32, 32, 32, 2)])
def test_show_rejects_values_that_do_not_fit_the_image(shape):
    x = np.random.default_rng(0).random((3, 32, 32))
    with pytest.raises(NBExplainError, match="does not fit|cannot draw"):
        nbexplain.show(np.ones(shape), x)


def test_show_labels_name_the_target(monkeypatch):
    x = np.random.default_rng(0).random((3, 8, 8))
    labels = [f"<i>class {i}</i>" for i in range(5)]
    w = nbexplain.show(np.ones((3, 8, 8)), x, target=2, labels=labels)
    assert w.top_classes == [{"index": 2, "label": "<i>class 2</i>", "prob": None}]
    json.dumps(w.top_classes, allow_nan=False)
    with pytest.raises(NBExplainError, match="label"):
        nbexplain.show(np.ones((3, 8, 8)), x, target=7, labels=labels)


@pytest.mark.parametrize("target", [-1, 1.5, True, "predicted"])
def test_show_rejects_bad_targets(target):
    with pytest.raises(NBExplainError, match="target"):
        nbexplain.show(np.ones((8, 8)), np.ones((8, 8)), target=target)


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


# --- 5. the request's method -----------------------------------------------------------------
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



# --- streaming: Shapley maps refine live -------------------------------------------------------
def test_shapley_requests_stream_partial_maps_and_end_with_the_full_result(monkeypatch):
    torch.manual_seed(0)
    net = cnn()
    x = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(3))
    opts = {"features": ("grid", 2), "estimator": "permutation", "samples": 256, "batch_size": 8,
            "seed": 0}
    w = nbexplain.explain(net, x, method="shapley", **opts)
    replies = Replies(w, monkeypatch)
    target = w.top_classes[1]["index"]
    request(w, id=1, target=target, method="shapley")
    assert w.wait(60)
    kinds = [(c["kind"], c.get("final")) for c in replies.contents]
    partial = [i for i, k in enumerate(kinds) if k == ("attribution", False)]
    assert partial, kinds                                  # at least one partial map
    assert kinds[-1] == ("attribution", True)
    assert ("progress", None) in kinds
    prog = [c for c in replies.contents if c["kind"] == "progress"]
    assert all(0 < p["done"] <= p["total"] for p in prog), prog
    # the final map is the registered method's result: the same as attribute() gives
    a = nbexplain.attribute(net, x, "shapley", target=target, **opts)
    final_content, final_buffers = replies.items[-1]
    got = np.frombuffer(bytes(final_buffers[0]), dtype=final_content["meta"]["dtype"])
    want = heatmap_2d(a.values, True).astype(np.float32).ravel()
    scale = final_content["meta"].get("scale", 1.0)
    np.testing.assert_allclose(got * scale, want, rtol=1e-6, atol=1e-7)
    w.close()


@pytest.mark.parametrize("rule, steps, seen", [
    ("riemann_trapezoid", 33, [5, 9, 17]),        # points 5 → 9 → 17 → 33
    ("riemann_right", 32, [4, 8, 16]),
])
def test_ig_with_a_nested_rule_streams_refinements_with_their_delta(monkeypatch, rule, steps,
                                                                    seen):
    net = cnn()
    x = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(4))
    w = nbexplain.explain(net, x, method="integrated_gradients", rule=rule, steps=steps)
    replies = Replies(w, monkeypatch)
    # no rate limit on partials here: which of them are sent must not depend on timing
    w._runner = JobRunner(lambda c, b: w.send(c, b), max_rate=1e12)
    target = w.top_classes[0]["index"]
    request(w, id=1, target=target, method="integrated_gradients")
    assert w.wait(60)
    atts = [(c, b) for c, b in replies.items if c["kind"] == "attribution"]
    partial = [c for c, _ in atts if not c["final"]]
    prog = [c["done"] for c in replies.contents if c["kind"] == "progress"]
    assert prog == seen and len(partial) == len(seen), (prog, len(partial))
    # each partial carries the completeness error of its own step count
    for c, n in zip(partial, seen):
        ref = nbexplain.attribute(net, x, "integrated_gradients", target=target, steps=n,
                                  rule=rule)
        assert c["delta"] == pytest.approx(float(ref.delta), rel=1e-5, abs=1e-7)
    # the final map and delta are the registered method's at the requested steps
    final, buffers = atts[-1]
    assert final["final"]
    ref = nbexplain.attribute(net, x, "integrated_gradients", target=target, steps=steps,
                              rule=rule)
    assert final["delta"] == pytest.approx(float(ref.delta), rel=1e-5, abs=1e-7)
    got = np.frombuffer(bytes(buffers[0]), dtype=final["meta"]["dtype"])
    want = heatmap_2d(ref.values, True).astype(np.float32).ravel()
    np.testing.assert_allclose(got * final["meta"].get("scale", 1.0), want, rtol=1e-5,
                               atol=1e-7)
    assert "_delta" not in w.heatmap_meta
    w.close()


def test_ig_with_its_default_options_streams_partial_maps(monkeypatch):
    # the default rule (Gauss-Legendre, 50 steps) cannot refine by doubling: the partial maps
    # are IG at 50//16, 50//8 and 50//4 steps, then the final map is attribute()'s
    net = cnn()
    x = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(4))
    w = nbexplain.explain(net, x, method="integrated_gradients")
    replies = Replies(w, monkeypatch)
    w._runner = JobRunner(lambda c, b: w.send(c, b), max_rate=1e12)   # every partial goes out
    request(w, id=1, target=2, method="integrated_gradients")
    assert w.wait(60)
    atts = [c for c in replies.contents if c["kind"] == "attribution"]
    partial = [c for c in atts if not c["final"]]
    prog = [(c["done"], c["total"]) for c in replies.contents if c["kind"] == "progress"]
    assert len(partial) == 3 and prog == [(3, 50), (6, 50), (12, 50)], (len(partial), prog)
    for c, n in zip(partial, (3, 6, 12)):
        ref = nbexplain.attribute(net, x, "integrated_gradients", target=2, steps=n)
        assert c["delta"] == pytest.approx(float(ref.delta), rel=1e-5, abs=1e-7)
    assert atts[-1]["final"] and atts[-1] is replies.contents[-1]
    ref = nbexplain.attribute(net, x, "integrated_gradients", target=2)
    assert atts[-1]["delta"] == pytest.approx(float(ref.delta), rel=1e-5, abs=1e-7)
    w.close()
