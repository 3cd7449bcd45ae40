"""One worker thread that runs attribution jobs for a widget.

* request ids: every job answers with the id of the request it serves;
* latest wins: a new request cancels the running job (checked between chunks) and replaces a
  pending one that never started;
* progressive results: a job may emit partial results; they are coalesced to at most
  ``max_rate`` messages per second, and the final result is always sent;
* no idle thread: the worker starts with the first request and ends ``linger`` seconds after
  the last job (a slider storm keeps one thread; a widget nobody touches holds none, nor its
  model through one);
* settling (``settle``, ``max_wait``): a job starts once no newer request came for ``settle``
  seconds, or ``max_wait`` seconds after the first request it replaced: a storm of slider
  moves runs a job every ``max_wait`` seconds and one at its end, not one per move. A request
  submitted with ``at_once=True``, or :meth:`kick` (the browser's "this change is final": a
  slider released), starts the pending job without waiting.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any, Callable


class Cancelled(Exception):
    """Raised inside a job when a newer request superseded it."""


class JobContext:
    def __init__(self, runner: "JobRunner", job_id: int):
        self.runner = runner
        self.id = job_id
        self._cancel = threading.Event()
        self._last_sent = 0.0

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def emit(self, content: dict, buffers: list | None = None, *, final: bool) -> bool:
        """Send a (partial or final) result; partials may be dropped to respect the rate."""
        if self.cancelled:
            return False
        now = time.monotonic()
        if not final and now - self._last_sent < 1.0 / self.runner.max_rate:
            return False
        self._last_sent = now
        self.runner.send({**content, "id": self.id}, buffers or [])
        return True


class JobRunner:
    def __init__(self, send: Callable[[dict, list], None], max_rate: float = 30.0,
                 linger: float = 2.0, settle: float = 0.0, max_wait: float = 0.5):
        self.send = send
        self.max_rate = max_rate
        self.linger = linger
        self.settle = settle
        self.max_wait = max_wait
        self.started = 0                     # jobs started so far (tests, benchmarks)
        self._submitted_at = 0.0             # the newest request's time
        self._waiting_since: float | None = None   # the oldest unstarted request's time
        self._at_once = False                      # start the pending job without settling
        self._cv = threading.Condition()
        self._pending: tuple[int, Callable[[JobContext], Any]] | None = None
        self._current: JobContext | None = None
        self._stopped = False
        self._thread: threading.Thread | None = None   # None when no worker runs

    def submit(self, job_id: int, fn: Callable[[JobContext], Any], at_once: bool = False) -> None:
        with self._cv:
            if self._current is not None:
                self._current._cancel.set()
            self._pending = (job_id, fn)
            self._submitted_at = time.monotonic()
            self._at_once = at_once
            if self._waiting_since is None:
                self._waiting_since = self._submitted_at
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._loop, name="nbexplain-worker",
                                                daemon=True)
                self._thread.start()
            self._cv.notify()

    def kick(self) -> None:
        """The newest request is final: start it now, without waiting for more."""
        with self._cv:
            self._at_once = True
            self._cv.notify_all()

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            if self._current is not None:
                self._current._cancel.set()
            self._cv.notify()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no job is pending or running (for tests and scripts)."""
        end = time.monotonic() + timeout
        with self._cv:
            while self._pending is not None or self._current is not None:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def _loop(self) -> None:
        while True:
            with self._cv:
                until = time.monotonic() + self.linger
                while self._pending is None and not self._stopped:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._cv.wait(left)
                if self._stopped or self._pending is None:   # stopped, or idle: end
                    self._thread = None
                    self._pending = None
                    self._cv.notify_all()
                    return
                while self.settle > 0 and not self._stopped and not self._at_once:
                    now = time.monotonic()       # let a storm of requests settle
                    start_at = min(self._submitted_at + self.settle,
                                   (self._waiting_since or now) + self.max_wait)
                    if now >= start_at:
                        break
                    self._cv.wait(start_at - now)
                if self._stopped:
                    continue
                if self._pending is None:
                    continue
                job_id, fn = self._pending
                self._pending = None
                self._waiting_since = None
                self._at_once = False
                self.started += 1
                ctx = self._current = JobContext(self, job_id)
            try:
                fn(ctx)
            except Cancelled:
                pass
            except Exception as e:  # report, never kill the worker
                msg = str(e) if e.args else type(e).__name__
                if not ctx.cancelled:
                    self.send({"kind": "error", "id": job_id,
                               "error": f"{type(e).__name__}: {msg}"}, [])
                    self.last_traceback = traceback.format_exc()
            finally:
                with self._cv:
                    self._current = None
                    self._cv.notify_all()
            del fn, ctx   # while idle, hold nothing of the job (its model)
