"""The live ``Explainer`` widget (anywidget). The protocol is in docs/ARCHITECTURE.md."""

from __future__ import annotations

import pathlib
from typing import Any

import anywidget
import numpy as np
import traitlets as t

from .._api import prepare_inputs, resolve_target
from .._errors import NBExplainError
from ..backends import get_adapter, guess_layout
from ..export import display_image, heatmap_2d
from ..live.runner import JobContext, JobRunner
from ..methods import get_method
from .serialize import encode_array

STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"
_BUNDLE = STATIC / "widget.js"


def _bundle() -> pathlib.Path:
    if not _BUNDLE.exists():
        raise NBExplainError(
            f"the widget's front end is not built ({_BUNDLE} is missing). Run `make demo` or "
            "`npm ci && npm run build` in the nbexplain checkout, or install a released wheel.")
    return _BUNDLE


def _probabilities(row: np.ndarray) -> np.ndarray:
    """Softmax of a logit row, unless it already is a probability vector."""
    row = np.asarray(row, dtype=np.float64).ravel()
    if row.size > 1 and row.min() >= 0 and abs(row.sum() - 1) < 1e-3:
        return row
    z = row - row.max()
    e = np.exp(z)
    return e / e.sum()


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
        super().__init__(_esm=_bundle().read_text(encoding="utf-8"))
        self._options = {"progress_bar": False, **options}  # no tqdm bars from the worker
        self.method = method
        if model is None:  # show(): values computed elsewhere
            self._init_static(_values, inputs, _channels_first, target)
            return
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
        probs = _probabilities(row)
        self._n_classes = probs.size
        if labels is not None and len(labels) != probs.size:
            raise NBExplainError(f"labels has {len(labels)} names but the model has "
                                 f"{probs.size} outputs; pass one label per class.")
        self._labels = [str(s) for s in labels] if labels is not None else [
            str(i) for i in range(probs.size)]
        order = np.argsort(-probs)[:top_k]
        self.top_classes = [{"index": int(i), "label": self._labels[i], "prob": float(probs[i])}
                            for i in order]
        tgt = resolve_target(self._adapter, target, self._x)
        if callable(tgt):
            raise NBExplainError("explain() needs a class index target ('predicted' or an int).")
        self._set_image(self._adapter.to_numpy(self._x)[0], self._layout.channels_first)
        meta, data, mask, warning = self._compute(int(tgt[0]))
        self._store(int(tgt[0]), meta, data, mask, warning, request_id=0)
        self.on_msg(self._on_msg)

    # --- construction helpers ------------------------------------------------------------
    @classmethod
    def from_values(cls, values: Any, inputs: Any, *, channels_first: bool | None = None,
                    method: str = "external", target: int = 0) -> "Explainer":
        return cls(None, inputs, method=method, target=target, _values=values,
                   _channels_first=channels_first)

    def _init_static(self, values: Any, inputs: Any, channels_first: bool | None,
                     target: Any) -> None:
        v = np.asarray(getattr(values, "detach", lambda: values)(), dtype=np.float64)
        x = np.asarray(getattr(inputs, "detach", lambda: inputs)(), dtype=np.float64)
        while v.ndim > 3 and v.shape[0] == 1:
            v = v[0]
        while x.ndim > 3 and x.shape[0] == 1:
            x = x[0]
        if channels_first is None:
            channels_first = x.ndim == 3 and x.shape[0] in (1, 3, 4) and x.shape[-1] not in (1, 3, 4)
        self._set_image(x, channels_first)
        hm = heatmap_2d(v, channels_first)
        meta, data, mask, warning = encode_array(hm)
        meta.update(signed=bool(np.nanmin(hm) < 0) if hm.size else False)
        self._store(int(target) if isinstance(target, (int, np.integer)) else 0, meta, data,
                    mask, warning, request_id=0)

    def _set_image(self, x_single: np.ndarray, channels_first: bool) -> None:
        img = display_image(x_single, channels_first)
        u8 = np.round(img * 255).astype(np.uint8)
        self.image_meta = {"dtype": "uint8", "shape": list(u8.shape)}
        self.image = np.ascontiguousarray(u8).tobytes()

    # --- computation -----------------------------------------------------------------------
    def _compute(self, target: int, ctx: JobContext | None = None):
        if not 0 <= target < self._n_classes:
            raise NBExplainError(f"target {target} is out of range: the model has "
                                 f"{self._n_classes} classes (0..{self._n_classes - 1}).")
        res = self._spec.fn(self._adapter, self._x, np.array([target], dtype=np.int64),
                            **self._options)
        if ctx is not None:
            ctx.check()
        values = self._adapter.to_numpy(res.values)[0]
        hm = heatmap_2d(values, self._layout.channels_first).astype(np.float32)
        meta, data, mask, warning = encode_array(hm)
        finite = hm[np.isfinite(hm)]
        meta["signed"] = bool(finite.size and finite.min() < 0)
        return meta, data, mask, warning

    def _store(self, target: int, meta: dict, data: bytes, mask: bytes, warning: str,
               request_id: int) -> None:
        with self.hold_sync():
            self.heatmap = data
            self.heatmap_mask = mask
            self.heatmap_meta = {**meta, "target": target, "method": self.method,
                                 "request_id": request_id}
            self.target = target
            self.warning = warning
            self.error = ""

    # --- requests from the browser -------------------------------------------------------
    def _on_msg(self, _widget: Any, content: dict, _buffers: list) -> None:
        if not isinstance(content, dict) or content.get("kind") != "attribute":
            return
        req_id = int(content.get("id", 0))
        try:
            target = int(content.get("target"))
        except (TypeError, ValueError):
            self.send({"kind": "error", "id": req_id,
                       "error": f"target {content.get('target')!r} is not a class index"})
            return
        if self._runner is None:
            self._runner = JobRunner(lambda c, b: self.send(c, b))
        self.status = "computing"
        self._runner.submit(req_id, lambda ctx: self._job(ctx, target))

    def _job(self, ctx: JobContext, target: int) -> None:
        try:
            meta, data, mask, warning = self._compute(target, ctx)
            buffers = [data] + ([mask] if mask else [])
            ctx.emit({"kind": "attribution", "target": target, "method": self.method,
                      "meta": meta, "final": True}, buffers, final=True)
            if not ctx.cancelled:
                self._store(target, meta, data, mask, warning, request_id=ctx.id)
        except Exception as e:
            if not ctx.cancelled:
                self.error = f"{type(e).__name__}: {e}"
            raise
        finally:
            if not ctx.cancelled:
                self.status = "idle"

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until the widget's pending requests are done (scripts and tests)."""
        return True if self._runner is None else self._runner.wait_idle(timeout)

    def close(self) -> None:
        runner = getattr(self, "_runner", None)
        if runner is not None:
            runner.stop()
        super().close()
