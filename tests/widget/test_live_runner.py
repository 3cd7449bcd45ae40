"""The JobRunner behind the widget: the latest request wins and cancels the running job,
partial results are coalesced to a rate while the final one is always sent, and an error is
reported with its request's id while the worker survives."""

import threading
import time

from nbexplain.live import JobRunner


class Sink:
    def __init__(self):
        self.msgs = []
        self.lock = threading.Lock()

    def __call__(self, content, buffers):
        with self.lock:
            self.msgs.append((content, buffers))


def test_latest_request_wins_and_cancels_running_job():
    sink = Sink()
    r = JobRunner(sink)
    started = threading.Event()

    def slow(ctx):
        started.set()
        for _ in range(500):
            ctx.check()
            time.sleep(0.01)
        ctx.emit({"kind": "attribution", "v": "slow"}, final=True)

    def fast(ctx):
        ctx.emit({"kind": "attribution", "v": "fast"}, final=True)

    r.submit(1, slow)
    assert started.wait(5)
    r.submit(2, fast)
    r.submit(3, fast)  # replaces 2 if 2 has not started yet
    assert r.wait_idle(10)
    ids = [m["id"] for m, _ in sink.msgs]
    assert 1 not in ids, "the superseded job must not answer"
    assert ids[-1] == 3 and sink.msgs[-1][0]["v"] == "fast"
    r.stop()


def test_partial_results_are_coalesced_and_final_always_sent():
    sink = Sink()
    r = JobRunner(sink, max_rate=30)
    emitted = []

    def chatty(ctx):
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < 0.3:
            emitted.append(ctx.emit({"kind": "partial", "i": i}, final=False))
            i += 1
        ctx.emit({"kind": "final", "i": i}, [b"\x00\x01"], final=True)

    r.submit(7, chatty)
    assert r.wait_idle(10)
    partials = [m for m, _ in sink.msgs if m["kind"] == "partial"]
    assert len(emitted) > 100, "the job must have tried to send many partials"
    assert 1 <= len(partials) <= 0.3 * 30 + 2
    last, bufs = sink.msgs[-1]
    assert last["kind"] == "final" and last["id"] == 7 and bufs == [b"\x00\x01"]
    r.stop()


def test_errors_are_reported_with_the_request_id_and_worker_survives():
    sink = Sink()
    r = JobRunner(sink)

    def boom(ctx):
        raise ValueError("bad target 12")

    r.submit(4, boom)
    assert r.wait_idle(10)
    r.submit(5, lambda ctx: ctx.emit({"kind": "ok"}, final=True))
    assert r.wait_idle(10)
    assert sink.msgs[0][0] == {"kind": "error", "id": 4, "error": "ValueError: bad target 12"}
    assert sink.msgs[1][0] == {"kind": "ok", "id": 5}
    r.stop()


def test_the_worker_ends_when_idle_and_starts_again_on_the_next_request():
    sink = Sink()
    r = JobRunner(sink, linger=0.05)
    r.submit(1, lambda ctx: ctx.emit({"kind": "ok"}, final=True))
    assert r.wait_idle(10)
    deadline = time.monotonic() + 5
    while any(t.name == "nbexplain-worker" and t.is_alive() for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the idle worker thread did not end"
        time.sleep(0.01)
    r.submit(2, lambda ctx: ctx.emit({"kind": "ok"}, final=True))
    assert r.wait_idle(10)
    assert [m["id"] for m, _ in sink.msgs] == [1, 2]
    r.stop()
