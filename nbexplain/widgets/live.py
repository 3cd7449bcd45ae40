"""What every view of the widget shares: the front end's files on the class, the status
traits, the job runners (latest wins, storms settle, ``settle`` from the browser starts a job
at once), a kernel that sets traits without recomputing (``quiet``), and a lifecycle in which
nothing keeps the model alive (see ``_weak_hot_reload``) and a closed widget does nothing."""

from __future__ import annotations

import pathlib
import threading
import time
from typing import Any, Callable

import anywidget
import numpy as np
import traitlets as t

from .._errors import NBExplainError
from ..backends.base import probability_rows
from ..live.runner import JobContext, JobRunner
from .views import COLORMAPS, colormap_lut

STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"
_BUNDLE = STATIC / "widget.js"
_CSS = STATIC / "widget.css"
MAX_THUMBS = 64


def _bundle() -> pathlib.Path:
    if not _BUNDLE.exists():
        raise NBExplainError(
            f"the widget's front end is not built ({_BUNDLE} is missing). Run `make demo` or "
            "`npm ci && npm run build` in the nbexplain checkout, or install a released wheel.")
    return _BUNDLE


def _probabilities(row: np.ndarray, already: bool = False) -> np.ndarray:
    """The class probabilities of one output row, always finite (they go to the browser
    and into the saved notebook as JSON): the row itself where it already is probabilities
    (``already``: score='probability' or a softmax/sigmoid head; or a row that sums to 1),
    else the softmax of the logits, or the sigmoid of a single logit (a binary classifier:
    a softmax of one value is always 1). A NaN logit counts as -inf, +inf logits share the
    probability between them (an overflowed logit gave NaN for every class)."""
    row = np.asarray(row, dtype=np.float64).ravel()
    if already or probability_rows(row[None]):
        return np.clip(np.nan_to_num(row, nan=0.0), 0.0, 1.0)
    row = np.where(np.isnan(row), -np.inf, row)
    if row.size == 1:
        return 0.5 * (1.0 + np.tanh(row / 2.0))       # the sigmoid, without overflow
    top = np.isposinf(row)
    if top.any():
        return top / top.sum()
    if np.isneginf(row).all():
        return np.full(row.size, 1.0 / row.size)
    e = np.exp(row - row.max())
    return e / e.sum()


def _bytes_from_json(js: Any, _widget: Any) -> bytes:
    """A Bytes trait set by the browser arrives as a memoryview (a binary buffer)."""
    return b"" if js is None else bytes(js)


_BYTES_IN = {"from_json": _bytes_from_json}
_LOCAL = threading.local()   # .quiet: the kernel itself sets traits; no observer recomputes



def _check_kernel() -> None:
    """ipykernel 7.0.0 and 7.0.1 lose comm messages sent from threads (the widget's worker):
    say so, with the fix (it is no dependency of nbexplain: any kernel may host the widget)."""
    import sys
    import warnings

    mod = sys.modules.get("ipykernel")
    version = str(getattr(mod, "__version__", ""))
    if version.startswith("7.0."):
        warnings.warn(f"ipykernel {version} cannot send the widget's results from its worker "
                      "thread (fixed in 7.1): pip install 'ipykernel>=7.1', then restart the "
                      "kernel.", RuntimeWarning, stacklevel=3)


class LiveWidget(anywidget.AnyWidget):
    """The base of every nbexplain view (``view``: image, table, sequence, text, global)."""

    _esm = _BUNDLE if _BUNDLE.is_file() else "export default { render() {} };"
    _css = _CSS if _CSS.is_file() else ""

    view = t.Unicode("image").tag(sync=True)
    status = t.Unicode("idle").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    warning = t.Unicode("").tag(sync=True)
    colormap_names = t.List(t.Unicode(), list(COLORMAPS)).tag(sync=True)
    colormap_lut = t.Bytes(b"").tag(sync=True)

    def __init__(self, **kwargs: Any):
        _bundle()   # a clear error when the front end is not built
        _check_kernel()
        self._runners: dict[str, JobRunner] = {}
        self._ids = 0                      # the newest request id, browser's or ours
        self._status_lock = threading.RLock()
        self._closed = False
        super().__init__(**kwargs)
        self._weak_hot_reload()
        with quiet():
            self.colormap_lut = colormap_lut()

    # --- figures: the static fallback and export ------------------------------------------
    def _figure(self):
        """A matplotlib Figure of the current view (None when the view has none); no pyplot,
        so nothing shows up in the notebook by itself."""
        return None

    def _fallback_png(self, limit: int = 256_000) -> bytes | None:
        """The current view as a PNG of at most ``limit`` bytes (smaller dpi until it fits),
        for hosts that cannot run the widget (nbconvert, GitHub)."""
        import io

        try:
            fig = self._figure()
        except Exception:   # noqa: BLE001 - a fallback never breaks the display
            return None
        if fig is None:
            return None
        for dpi in (96, 72, 54, 40):
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
            if buf.tell() <= limit:
                return buf.getvalue()
        return None

    def _repr_mimebundle_(self, **kwargs: Any):
        """The widget, plus an ``image/png`` of its view as displayed: nbconvert and GitHub,
        which cannot run the widget, show the picture."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:      # no view to show
            return None
        data, meta = bundle
        png = self._fallback_png()
        if png is not None:
            import base64

            data = {**data, "image/png": base64.b64encode(png).decode("ascii")}
        return data, meta

    def export(self, path: str) -> str:
        """Save the current view as PNG, SVG or PDF (by the file's extension), redrawn with
        matplotlib, with its provenance as file metadata (:func:`nbexplain.read_provenance`)."""
        import os

        from ..provenance import savefig_metadata

        ext = os.path.splitext(str(path))[1].lower()
        if ext not in (".png", ".svg", ".pdf"):
            raise NBExplainError(f"cannot export to {path!r}: use a .png, .svg or .pdf file "
                                 "name.")
        fig = self._figure()
        if fig is None:
            raise NBExplainError("this view has nothing to export yet.")
        fig.savefig(path, dpi=150, bbox_inches="tight",
                    metadata=savefig_metadata(self._provenance(), ext))
        return str(path)

    def _provenance(self) -> dict:
        return {}

    def _submit_view_job(self, body: Callable[[JobContext], None], at_once: bool = True) -> None:
        """Run ``body`` as the view's map job: ``status`` is computing until the newest job
        ends, and its failure is the ``error`` trait (a superseded job reports nothing)."""
        def work(ctx: JobContext) -> None:
            try:
                body(ctx)
            except Exception as e:
                if not ctx.cancelled:
                    self.error = f"{type(e).__name__}: {e}"
                raise
            finally:
                if not ctx.cancelled:
                    self.status = "idle"

        self.status = "computing"
        self._runner("map").submit(self._next_id(), work, at_once)

    def _from_browser(self, name: str) -> bool:
        """Whether a trait change is the browser's (a comm update in progress) rather than
        Python's: the browser's may be one of a storm (a slider dragged), Python's is final."""
        return name in getattr(self, "_property_lock", {})

    def _settle(self, content: Any) -> bool:
        """Handle the browser's ``{kind: "settle"}`` (the user's change is final: start the
        pending jobs now); True when ``content`` was one."""
        if isinstance(content, dict) and content.get("kind") == "settle":
            for runner in list(self._runners.values()):
                runner.kick()
            return True
        return False

    def _next_id(self) -> int:
        with self._status_lock:
            self._ids += 1
            return self._ids

    def _runner(self, kind: str) -> JobRunner:
        r = self._runners.get(kind)
        if r is None:
            # a browser change waits for the storm to settle (a drag writes every 150 ms)
            # unless the browser says it is final; Python's changes start at once
            r = self._runners[kind] = JobRunner(lambda c, b: self.send(c, b),
                                                settle=0.3 if kind == "map" else 0.02,
                                                max_wait=0.6)
        return r

    # --- lifecycle ---------------------------------------------------------------------------
    def _weak_hot_reload(self) -> None:
        """anywidget reloads ``_esm``/``_css`` from their files through a closure over the
        widget, connected to the class's file signal: it would keep every widget (and its
        model) alive for ever. Hold the widget weakly instead (psygnal keeps bound methods
        by weak reference)."""
        for key in ("_esm", "_css"):
            # the class attribute (add_traits put a subclass with a trait of that name first)
            files = [k.__dict__[key] for k in type(self).__mro__ if key in k.__dict__
                     and hasattr(k.__dict__[key], "changed")]
            if not files:
                continue
            signal = files[0].changed
            try:
                for slot in list(getattr(signal, "_slots", ())):
                    fn = slot.dereference()
                    if any(c.cell_contents is self for c in getattr(fn, "__closure__", None) or ()):
                        signal.disconnect(fn)
                signal.connect(self._reload_esm if key == "_esm" else self._reload_css)
            except Exception:   # another psygnal: keep anywidget's own connection
                pass

    def _reload_esm(self, contents: str) -> None:
        self._esm = contents

    def _reload_css(self, contents: str) -> None:
        self._css = contents

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until the widget's pending requests are done (scripts and tests)."""
        if self._closed:
            return True
        end = time.monotonic() + timeout
        for r in list(self._runners.values()):
            if not r.wait_idle(max(0.0, end - time.monotonic())):
                return False
        return True

    def close(self) -> None:
        self._closed = True     # later control changes do nothing; wait() returns at once
        for runner in list(getattr(self, "_runners", {}).values()):
            runner.stop()
        with self._status_lock:
            self.status = "idle"
        super().close()


def quieted() -> bool:
    """Whether the kernel itself is setting traits in this thread (see :class:`quiet`)."""
    return getattr(_LOCAL, "quiet", False)


class quiet:
    """The kernel sets traits without recomputing (its own results and echoes)."""

    def __enter__(self):
        self._was = getattr(_LOCAL, "quiet", False)
        _LOCAL.quiet = True

    def __exit__(self, *exc):
        _LOCAL.quiet = self._was
