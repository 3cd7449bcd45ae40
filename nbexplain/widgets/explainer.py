"""The live ``Explainer`` widget (anywidget). The protocol is in docs/ARCHITECTURE.md."""

from __future__ import annotations

import pathlib
import threading
from typing import Any, Callable

import anywidget
import numpy as np
import traitlets as t

from .._errors import NBExplainError
from .._inputs import prepare_inputs, resolve_target
from ..backends import get_adapter, guess_layout
from ..backends.base import host_array, probability_rows
from ..export import display_image, heatmap_2d
from ..live.runner import JobContext, JobRunner
from ..methods import MethodSpec, available_methods, get_method, iterate
from ..methods._common import as_whole
from .display import downsample, state_image, state_map
from .serialize import decode_array, encode_array

STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"
_BUNDLE = STATIC / "widget.js"


def _bundle() -> pathlib.Path:
    if not _BUNDLE.exists():
        raise NBExplainError(
            f"the widget's front end is not built ({_BUNDLE} is missing). Run `make demo` or "
            "`npm ci && npm run build` in the nbexplain checkout, or install a released wheel.")
    return _BUNDLE


def _fits(map_hw: tuple, image_hw: tuple) -> bool:
    """Whether an H'×W' map can be drawn over an H×W image: the same size, or a coarser (or
    finer) grid of about the same aspect ratio (Grad-CAM maps; the front end resamples)."""
    (h, w), (ih, iw) = map_hw, image_hw
    if h < 1 or w < 1:
        return False
    if (h, w) == (ih, iw):
        return True
    cell_h, cell_w = ih / h, iw / w
    return max(cell_h, cell_w) / min(cell_h, cell_w) <= 1.5


def _static_map(values: np.ndarray, image: np.ndarray, image_cf: bool) -> np.ndarray:
    """The H×W map of show()'s values, read in their own layout (C×H×W, H×W×C or H×W, not
    necessarily the image's); an NBExplainError when they do not fit the image."""
    v = values
    if image.ndim == 2:
        hw, channels = tuple(image.shape), 1
    else:
        hw = tuple(image.shape[1:] if image_cf else image.shape[:2])
        channels = image.shape[0] if image_cf else image.shape[-1]

    def mismatch() -> NBExplainError:
        return NBExplainError(
            f"the values' shape {tuple(v.shape)} does not fit the image of shape "
            f"{tuple(image.shape)} ({hw[0]}×{hw[1]}, {channels} channel"
            f"{'s' if channels != 1 else ''}): pass one map of the image's size as H×W, "
            f"C×H×W or H×W×C with C = 1{f' or {channels}' if channels != 1 else ''} (a "
            "coarser map of the same aspect ratio is drawn stretched).")

    if v.ndim == 2:
        if not _fits(tuple(v.shape), hw):
            raise mismatch()
        return heatmap_2d(v, image_cf)
    if v.ndim != 3:
        return heatmap_2d(v, image_cf)  # raises its own "cannot draw" error
    # (channels_first, the spatial shape) for each reading whose channel axis fits the image
    readings = [(cf, tuple(v.shape[1:] if cf else v.shape[:2])) for cf in (image_cf, not image_cf)
                if v.shape[0 if cf else 2] in (1, channels)]
    exact = [cf for cf, s in readings if s == hw]
    close = [cf for cf, s in readings if _fits(s, hw)]
    if exact:
        return heatmap_2d(v, exact[0])   # the image's own layout first when both read
    if close:
        return heatmap_2d(v, close[0])
    raise mismatch()


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


def _first_delta(adapter, delta: Any) -> float | None:
    """The first example's completeness error as a finite float, or None."""
    if delta is None:
        return None
    d = float(np.ravel(adapter.to_numpy(delta))[0])
    return d if np.isfinite(d) else None


class Explainer(anywidget.AnyWidget):
    """Input image with a heatmap overlay, the model's top classes, and live controls."""

    image = t.Bytes(b"").tag(sync=True)
    image_meta = t.Dict().tag(sync=True)
    heatmap = t.Bytes(b"").tag(sync=True)
    heatmap_meta = t.Dict().tag(sync=True)
    heatmap_mask = t.Bytes(b"").tag(sync=True)
    top_classes = t.List().tag(sync=True)
    target = t.Int(0).tag(sync=True)
    method = t.Unicode("saliency").tag(sync=True)
    opacity = t.Float(0.6, min=0.0, max=1.0).tag(sync=True)
    colormap = t.Unicode("auto").tag(sync=True)
    status = t.Unicode("idle").tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    warning = t.Unicode("").tag(sync=True)

    def __init__(self, model: Any = None, inputs: Any = None, *, method: str = "saliency",
                 target: Any = "predicted", labels: list[str] | None = None, index: int = 0,
                 top_k: int = 5, framework: str | None = None, output: Any = None,
                 score: str = "logit", batched: bool | None = None, _values: Any = None,
                 _channels_first: bool | None = None, **options: Any):
        self._runner: JobRunner | None = None
        # the latest job, and a lock around status changes: a job that ends while a newer
        # one is being submitted must not set "idle" over the newer one's "computing"
        self._job_seq = 0
        self._status_lock = threading.RLock()
        super().__init__(_esm=_bundle().read_text(encoding="utf-8"))
        self._options = {"progress_bar": False, **options}  # no tqdm bars from the worker
        self.method = method
        self._static = model is None
        if self._static:  # show(): values computed elsewhere
            self._init_static(_values, inputs, _channels_first, target, labels)
            self.on_msg(self._on_msg)
            return
        k = as_whole(top_k)
        if k is None or k < 1:
            raise NBExplainError(f"top_k={top_k!r}; pass how many of the model's classes to "
                                 "list (an int >= 1).")
        i = as_whole(index)
        if i is None:
            raise NBExplainError(f"index={index!r}; pass the int position of the example in "
                                 "the batch.")
        index = i
        self._spec = get_method(method)
        self._adapter = get_adapter(model, framework, output=output, score=score,
                                    channels_first=_channels_first)
        x, _ = prepare_inputs(self._adapter, inputs, batched, self._spec.needs_gradients)
        n = int(x.shape[0])
        if not 0 <= index < n:
            raise NBExplainError(f"index={index} but the batch has {n} examples; use 0..{n - 1}.")
        self._x = x[index:index + 1]
        self._layout = guess_layout(tuple(self._x.shape), self._adapter.channels_first)
        if self._layout.kind != "image":
            raise NBExplainError(
                "explain() shows images for now: inputs of shape "
                f"{tuple(x.shape)} are {self._layout.kind}. Use nbexplain.attribute(...).plot()"
                " for tabular or sequence data.")
        row = self._adapter.predict(self._x)[0]
        probs = _probabilities(row, already=self._adapter.score == "probability"
                               or self._adapter.output_activation() is not None)
        self._n_classes = probs.size
        if labels is not None and len(labels) != probs.size:
            raise NBExplainError(f"labels has {len(labels)} names but the model has "
                                 f"{probs.size} outputs; pass one label per class.")
        self._labels = [str(s) for s in labels] if labels is not None else [
            str(i) for i in range(probs.size)]
        order = np.argsort(-probs)[:k]
        self.top_classes = [{"index": int(i), "label": self._labels[i], "prob": float(probs[i])}
                            for i in order]
        tgt = resolve_target(self._adapter, target, self._x)
        if callable(tgt):
            raise NBExplainError("explain() needs a class index target ('predicted' or an int).")
        self._set_image(self._adapter.to_numpy(self._x)[0], self._layout.channels_first)
        self._store(*self._compute(int(tgt[0]), self._spec)[:6], request_id=0)
        self.on_msg(self._on_msg)

    # --- construction helpers ------------------------------------------------------------
    @classmethod
    def from_values(cls, values: Any, inputs: Any, *, channels_first: bool | None = None,
                    method: str = "external", target: int = 0,
                    labels: list[str] | None = None) -> "Explainer":
        return cls(None, inputs, method=method, target=target, labels=labels, _values=values,
                   _channels_first=channels_first)

    def _init_static(self, values: Any, inputs: Any, channels_first: bool | None,
                     target: Any, labels: list[str] | None) -> None:
        tgt = as_whole(target)
        if tgt is None or tgt < 0:
            raise NBExplainError(f"target={target!r}; show() needs the index of the class the "
                                 "values explain (an int >= 0).")
        if labels is not None:
            if isinstance(labels, str) or not hasattr(labels, "__len__"):
                raise NBExplainError("labels must be a list of class names, one per class.")
            if tgt >= len(labels):
                raise NBExplainError(f"target={tgt} but labels has {len(labels)} names "
                                     f"(classes 0..{len(labels) - 1}); pass one label per "
                                     "class.")
        v, x = (np.asarray(host_array(a), dtype=np.float64) for a in (values, inputs))
        if hasattr(inputs, "to_numpy") or x.ndim == 1:   # a DataFrame, a Series, one row
            raise NBExplainError(
                f"show() displays attributions of images; these inputs (shape {x.shape}) are "
                "a table. For tabular values (e.g. SHAP's), draw feature bars with "
                "matplotlib, or compute them with nbexplain.attribute(...) and call .plot() "
                "on the result.")
        while v.ndim > 3 and v.shape[0] == 1:
            v = v[0]
        while x.ndim > 3 and x.shape[0] == 1:
            x = x[0]
        if channels_first is None:
            channels_first = (x.ndim == 3 and x.shape[0] in (1, 3, 4)
                              and x.shape[-1] not in (1, 3, 4))
        self._set_image(x, channels_first)
        hm = downsample(_static_map(v, x, bool(channels_first)))
        meta, data, mask, warning = encode_array(hm, overflow="scale")
        finite = hm[np.isfinite(hm)]
        meta["signed"] = bool(finite.size and finite.min() < 0)
        # the static view has no scores: the target's label only (prob unknown: null)
        self.top_classes = [] if labels is None else [
            {"index": tgt, "label": str(labels[tgt]), "prob": None}]
        self._store(tgt, self.method, meta, data, mask, warning, request_id=0)
        self._stored = (meta, data, mask, warning)

    def _set_image(self, x_single: np.ndarray, channels_first: bool) -> None:
        meta, data = state_image(display_image(x_single, channels_first))
        with self.hold_sync():
            self.image_meta = meta
            self.image = data

    # --- computation -----------------------------------------------------------------------
    def _compute(self, target: int, spec: MethodSpec, ctx: JobContext | None = None):
        """``(target, method, meta, data, mask, warning, delta)`` of ``spec``'s map for
        ``target``; ``delta`` is IG's completeness error (None for other methods)."""
        if not 0 <= target < self._n_classes:
            raise NBExplainError(f"target {target} is out of range: the model has "
                                 f"{self._n_classes} classes (0..{self._n_classes - 1}).")
        if spec.name == self._spec.name:
            options = dict(self._options)
        else:
            # another method than explain()'s: its options are those of explain()'s options
            # it takes (e.g. batch_size=), and its inputs must suit it
            if spec.needs_gradients and not self._spec.needs_gradients:
                self._adapter.check_input(self._x, True)
            options = {k: v for k, v in self._options.items() if k in spec.accepts}
        if ctx is not None and "check" in spec.accepts:
            options["check"] = ctx.check  # a newer request stops this one between chunks
        tgt = np.array([target], dtype=np.int64)
        state = self._adapter.thread_state()
        try:
            res = self._run(spec, tgt, target, options, ctx)
        except BaseException:   # nothing of an interrupted pass is left on the model
            self._adapter.recover(state)
            raise
        values = self._adapter.to_numpy(res.values)[0]
        delta = _first_delta(self._adapter, res.delta)
        return (target, spec.name) + self._encode(values) + (delta,)

    def _run(self, spec: MethodSpec, tgt: np.ndarray, target: int, options: dict,
             ctx: JobContext | None):
        """The method's result; with ``ctx`` (a job) its partial results go out on the way."""
        if ctx is None:   # explain()'s first map, before the widget is shown: no partials
            res = spec.fn(self._adapter, self._x, tgt, **options)
        else:
            # the method's progressive form (once, for a method without one): every
            # result but the last goes out as a partial map with its progress
            for res in iterate(spec, self._adapter, self._x, tgt, **options):
                if res.done:
                    break
                ctx.check()
                done, total = res.progress or (0, 0)
                self._emit_partial(ctx, target, spec.name,
                                   self._adapter.to_numpy(res.values)[0], done, total,
                                   _first_delta(self._adapter, res.delta))
            ctx.check()
        return res

    def _emit_partial(self, ctx: JobContext, target: int, method: str, values: np.ndarray,
                      done: int, total: int, delta: float | None = None) -> None:
        """Send one partial map (``final: false``, rate-limited by ``ctx.emit``) and, when it
        went out, the ``progress`` message that goes with it."""
        meta, data, mask, _ = self._encode(values)
        content = {"kind": "attribution", "target": target, "method": method, "meta": meta,
                   "final": False}
        if delta is not None and np.isfinite(delta):
            content["delta"] = delta
        if ctx.emit(content, [data] + ([mask] if mask else []), final=False):
            ctx.runner.send({"kind": "progress", "id": ctx.id, "done": int(done),
                             "total": int(total)}, [])

    def _encode(self, values: np.ndarray) -> tuple:
        """``(meta, data, mask, warning)`` of one example's attribution map."""
        # float64 until encode_array: finite values beyond float32 are scaled there, not
        # turned into inf by a cast (and then masked as if they were not finite)
        hm = downsample(heatmap_2d(values, self._layout.channels_first))  # the image's size
        meta, data, mask, warning = encode_array(hm, overflow="scale")
        finite = hm[np.isfinite(hm)]
        meta["signed"] = bool(finite.size and finite.min() < 0)
        return meta, data, mask, warning

    def _store(self, target: int, method: str, meta: dict, data: bytes, mask: bytes,
               warning: str, request_id: int) -> None:
        """Keep the final map in the traits, compressed (``display.state_map``): they serve
        a page reload and the saved notebook; the exact map went out as a message."""
        hm = decode_array(meta, data).astype(np.float64) * meta.get("scale", 1.0)
        if mask:
            hm[np.frombuffer(mask, np.uint8).reshape(hm.shape) != 0] = np.nan
        state_meta, state_data, state_mask = state_map(hm)
        with self.hold_sync():
            self.heatmap = state_data
            self.heatmap_mask = state_mask
            self.heatmap_meta = {**state_meta, "signed": meta["signed"], "target": target,
                                 "method": method, "request_id": request_id}
            self.target = target
            self.method = method
            self.warning = warning
            self.error = ""

    # --- requests from the browser -------------------------------------------------------
    def _on_msg(self, _widget: Any, content: Any, _buffers: list) -> None:
        """The comm's message handler: every message is answered (a map or an error reply);
        no exception escapes into the comm, where the browser would never hear of it."""
        try:
            self._handle(content)
        except Exception as e:  # not a bad request but a failure here: still answer
            try:
                rid = as_whole(content.get("id")) if isinstance(content, dict) else None
                text = f"{type(e).__name__}: {e}"
                self.error = text
                self.send({"kind": "error", "id": rid, "error": text})
            except Exception:  # the comm itself is gone
                self.log.exception("nbexplain: could not answer a widget message")

    def _handle(self, content: Any) -> None:
        if not isinstance(content, dict):
            return self._refuse(None, "a request must be an object {kind: 'attribute', id, "
                                      f"target, method}}, not {type(content).__name__}.")
        req_id = as_whole(content.get("id"))
        if req_id is None:
            return self._refuse(None, f"the request's id {content.get('id')!r} is not an "
                                      "integer.")
        kind = content.get("kind")
        if kind != "attribute":
            return self._refuse(req_id, f"unknown request kind {kind!r}; the widget answers "
                                        "{kind: 'attribute', id, target, method}.")
        target = as_whole(content.get("target"))
        if target is None or target < 0:
            return self._refuse(req_id, f"target {content.get('target')!r} is not a class "
                                        "index (an int >= 0).")
        method = content.get("method")
        if method is None:  # not given: the widget's current method
            method = self.method
        if self._static:
            if target != self.target or method != self.method:
                return self._refuse(req_id, (
                    f"this view shows the values given to nbexplain.show() for class "
                    f"{self.target} (method {self.method!r}) only; for class {target} "
                    f"{'' if method == self.method else f'with {method!r} '}call "
                    "nbexplain.show() with those values, or use nbexplain.explain(model, ...)."))
            meta, data, mask, warning = self._stored
            return self._submit(req_id,
                                lambda ctx: (target, method, meta, data, mask, warning, None))
        if not isinstance(method, str) or method not in available_methods():
            return self._refuse(req_id, f"unknown method {method!r}; available: "
                                        f"{', '.join(available_methods())}.")
        spec = get_method(method)
        self._submit(req_id, lambda ctx: self._compute(target, spec, ctx))

    def _refuse(self, req_id: int | None, text: str) -> None:
        """Answer a malformed request with the protocol's error reply. With a usable id it
        goes through the runner like any request (latest wins: it supersedes older jobs, whose
        replies the browser would ignore); without one the reply has ``id: null``."""
        if req_id is None:
            self.error = f"NBExplainError: {text}"
            self.send({"kind": "error", "id": None, "error": self.error})
            return

        def fail(_ctx: JobContext):
            raise NBExplainError(text)

        self._submit(req_id, fail)

    def _submit(self, req_id: int, work: Callable[[JobContext], tuple]) -> None:
        if self._runner is None:
            self._runner = JobRunner(lambda c, b: self.send(c, b))
        with self._status_lock:
            self._job_seq += 1
            seq = self._job_seq
            self.status = "computing"
        self._runner.submit(req_id, lambda ctx: self._job(ctx, work, seq))

    def _job(self, ctx: JobContext, work: Callable[[JobContext], tuple], seq: int) -> None:
        try:
            target, method, meta, data, mask, warning, delta = work(ctx)
            ctx.check()
            buffers = [data] + ([mask] if mask else [])
            content = {"kind": "attribution", "target": target, "method": method,
                       "meta": meta, "final": True}
            if delta is not None:
                content["delta"] = delta
            ctx.emit(content, buffers, final=True)
            if not ctx.cancelled:
                self._store(target, method, meta, data, mask, warning, request_id=ctx.id)
        except Exception as e:
            if not ctx.cancelled:
                self.error = f"{type(e).__name__}: {e}"
            raise
        finally:
            with self._status_lock:
                if not ctx.cancelled and seq == self._job_seq:
                    self.status = "idle"

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until the widget's pending requests are done (scripts and tests)."""
        return True if self._runner is None else self._runner.wait_idle(timeout)

    def close(self) -> None:
        runner = getattr(self, "_runner", None)
        if runner is not None:
            runner.stop()
        super().close()
