"""Streamed requests: Shapley maps refine live, and Integrated Gradients streams its refinements
(doubling the steps for a nested rule; 50//16, 50//8 and 50//4 steps before the default
Gauss-Legendre's 50), each partial map with its own completeness delta and progress, ending
with the registered method's full result.

Truths: nbexplain.attribute at each partial's step count and with the requested options.
"""

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain.export import heatmap_2d
from nbexplain.live.runner import JobRunner

from widget_helpers import Replies, cnn, request


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
    w._runners["map"] = JobRunner(lambda c, b: w.send(c, b), max_rate=1e12)
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
    w._runners["map"] = JobRunner(lambda c, b: w.send(c, b), max_rate=1e12)   # every partial goes out
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
