"""A widget's worker thread lives only while it has work: clicked widgets that are deleted (or
closed) leave no thread behind, and none holds their model.

Truths: ``threading.enumerate()`` and a weak reference to the model.
"""

import gc
import threading
import time
import weakref

import torch

import nbexplain

from widget_helpers import cnn, request


def _workers() -> list:
    return [t for t in threading.enumerate() if t.name == "nbexplain-worker" and t.is_alive()]


def _wait_for_no_workers(seconds: float) -> list:
    deadline = time.monotonic() + seconds
    while _workers() and time.monotonic() < deadline:
        time.sleep(0.05)
    return _workers()


def test_clicked_and_deleted_widgets_leave_no_worker_thread():
    net = cnn()
    x = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(0))
    ws = [nbexplain.explain(net, x) for _ in range(100)]
    for i, w in enumerate(ws):
        request(w, id=1, target=w.top_classes[1]["index"], method="saliency")
    for w in ws:
        assert w.wait(30)
    assert _workers(), "the clicks must have started worker threads"
    del ws, w
    gc.collect()
    # each worker ends once idle (JobRunner.linger, 2 s by default)
    assert _wait_for_no_workers(10) == []


def test_a_closed_widget_ends_its_worker_and_frees_the_model():
    net = cnn()
    ref = weakref.ref(net)
    x = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(1))
    w = nbexplain.explain(net, x)
    request(w, id=1, target=w.top_classes[1]["index"], method="saliency")
    assert w.wait(30)
    w.close()
    assert _wait_for_no_workers(5) == []
    del w, net
    gc.collect()
    assert ref() is None, "nothing of nbexplain may keep the model alive"
