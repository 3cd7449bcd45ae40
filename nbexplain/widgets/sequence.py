"""The sequence view (a time × feature map of N×T×D inputs, with a cursor) and the text view
(token ids highlighted through the model's embedding layer). Both send the image view's
``attribution`` message (float32 values, NaN/inf masked) and keep the last map in ``map`` for
reloads; the method, the target and the example are traits like everywhere else."""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets as t

from .._errors import NBExplainError
from .._inputs import prepare_inputs, resolve_target
from ..backends import get_adapter, guess_layout
from ..backends.base import host_array
from ..live.runner import JobContext
from ..methods import get_method, iterate
from ..methods._common import as_whole
from .live import LiveWidget, _probabilities, quiet, quieted
from .serialize import encode_array
from .table import _finite_list

SEQUENCE_METHODS = (("saliency", "Saliency"), ("input_x_gradient", "Input × gradient"),
                    ("integrated_gradients", "Integrated Gradients"),
                    ("occlusion", "Occlusion"), ("shapley", "Shapley"))
TEXT_METHODS = (("integrated_gradients", "Integrated Gradients"),
                ("input_x_gradient", "Input × gradient"), ("saliency", "Saliency"))


class _MapView(LiveWidget):
    """A map of values over the explained example's positions, recomputed on every change of
    ``method``, ``target`` or ``index``."""

    method = t.Unicode("saliency").tag(sync=True)
    method_choices: "t.List[Any]" = t.List().tag(sync=True)
    target = t.Int(0).tag(sync=True)
    index = t.Int(0, min=0).tag(sync=True)
    top_classes: "t.List[Any]" = t.List().tag(sync=True)
    map = t.Dict().tag(sync=True)        # {shape, values, method, target}: the last final map
    #: one preview per example (the browser's example picker; empty for one example)
    row_labels = t.List(t.Unicode()).tag(sync=True)

    _COMPUTE = ("method", "target", "index")

    def _on_index(self, i: int) -> None:
        """What follows the example shown, before its job (the text view: its tokens)."""

    def _setup(self, model, inputs, *, method, target, labels, index, top_k, framework,
               output, score, batched, choices, needs_float, options) -> None:
        self._adapter = get_adapter(model, framework, output=output, score=score)
        x, _ = prepare_inputs(self._adapter, inputs, batched, needs_float)
        self._x = x
        if method not in dict(choices):
            raise NBExplainError(f"method={method!r} has no {self.view} view; use one of "
                                 f"{', '.join(n for n, _ in choices)}.")
        i = as_whole(index)
        if i is None or not 0 <= i < int(x.shape[0]):
            raise NBExplainError(f"index={index!r}; use 0..{int(x.shape[0]) - 1}.")
        k = as_whole(top_k)
        self._top_k = 5 if k is None or k < 1 else k
        self._already = (self._adapter.score == "probability"
                         or self._adapter.output_activation() is not None)
        row = np.asarray(self._adapter.predict(x[:1]))[0]
        self._n_classes = int(np.size(row))
        if labels is not None and len(labels) != self._n_classes:
            raise NBExplainError(f"labels has {len(labels)} names but the model has "
                                 f"{self._n_classes} outputs; pass one label per class.")
        self._labels = ([str(s) for s in labels] if labels is not None
                        else [str(c) for c in range(self._n_classes)])
        self._extra = {"progress_bar": False, **options}
        with quiet():
            self.method_choices = [{"name": n, "label": lab, "options": []}
                                   for n, lab in choices]
            self.method = method
            self.index = i
        #: target="predicted": each example shown explains its own predicted class
        self._follows = isinstance(target, str) and target == "predicted"
        tgt = resolve_target(self._adapter, target, x[i:i + 1])
        if callable(tgt):
            raise NBExplainError("this view needs a class index target ('predicted' or an "
                                 "int).")
        with quiet():
            self.target = int(tgt[0])
            self._show_classes(i)
        meta, data, mask, warning, delta = self._compute(None)
        self._store(meta, data, warning)
        self._ready = True
        self.on_msg(lambda _w, content, _b: self._settle(content))
        self.observe(self._on_control, names=list(self._COMPUTE))

    def options_for(self, method: str | None = None) -> dict:
        """The options of ``attribute(model, x[index], method=..., **options)`` behind the
        map on screen."""
        spec = get_method(method or self.method)
        return {k: v for k, v in self._extra.items() if k in spec.accepts}

    def _show_classes(self, i: int, follow: bool = False) -> None:
        """The example's top classes; with ``follow``, its predicted class becomes the target
        (target="predicted" until the user picks a class)."""
        row = np.asarray(self._adapter.predict(self._x[i:i + 1]))[0]
        probs = _probabilities(row, already=self._already)
        order = np.argsort(-probs)[:self._top_k]
        if follow and row.size > 1:
            self.target = int(np.argmax(row))
        self.top_classes = [{"index": int(c), "label": self._labels[c], "prob": float(probs[c])}
                            for c in order]

    def _compute(self, ctx: JobContext | None):
        name, target, i = self.method, self.target, self.index
        if not 0 <= target < self._n_classes:
            raise NBExplainError(f"target {target} is out of range: the model has "
                                 f"{self._n_classes} classes (0..{self._n_classes - 1}).")
        if not 0 <= i < int(self._x.shape[0]):
            raise NBExplainError(f"index={i} but the batch has {int(self._x.shape[0])} "
                                 f"examples; use 0..{int(self._x.shape[0]) - 1}.")
        spec = get_method(name)
        options = self.options_for(name)
        if ctx is not None and "check" in spec.accepts:
            options["check"] = ctx.check
        tgt = np.array([target], dtype=np.int64)
        state = self._adapter.thread_state()
        res: Any = None
        try:
            for res in iterate(spec, self._adapter, self._x[i:i + 1], tgt, **options):
                if res.done or ctx is None:
                    continue
                ctx.check()
                meta, data, mask, _ = self._encode(res.values)
                ctx.emit(self._message(meta, False, None), [data] + ([mask] if mask else []),
                         final=False)
        except BaseException:
            self._adapter.recover(state)
            raise
        self._last_values = np.asarray(self._adapter.to_numpy(res.values), np.float64)[0]
        delta = (None if res.delta is None else
                 float(np.ravel(self._adapter.to_numpy(res.delta))[0]))
        meta, data, mask, warning = self._encode(res.values)
        return meta, data, mask, warning, delta

    def _encode(self, values) -> tuple:
        v = np.asarray(self._adapter.to_numpy(values), np.float64)[0]
        v = self._reduce(v)
        meta, data, mask, warning = encode_array(v, overflow="scale")
        finite = v[np.isfinite(v)]
        meta["signed"] = bool(finite.size and finite.min() < 0)
        return meta, data, mask, warning

    def _reduce(self, v: np.ndarray) -> np.ndarray:
        return v

    def _message(self, meta: dict, final: bool, delta: float | None) -> dict:
        content = {"kind": "attribution", "target": int(self.target), "method": self.method,
                   "index": int(self.index), "meta": meta, "final": final}
        if delta is not None and np.isfinite(delta):
            content["delta"] = delta
        return content

    def _store(self, meta: dict, data: bytes, warning: str) -> None:
        values = np.frombuffer(data, dtype="<f4").astype(np.float64) * meta.get("scale", 1.0)
        with quiet():
            self.map = {"shape": meta["shape"], "values": _finite_list(values),
                        "signed": meta["signed"], "method": self.method,
                        "target": int(self.target)}
            self.warning = warning
            self.error = ""

    def _on_control(self, change: dict) -> None:
        if not self._ready or self._closed or quieted():
            return
        if change["name"] == "target":
            self._follows = False
        if change["name"] == "index":
            with quiet():
                try:
                    self._on_index(int(self.index))
                    self._show_classes(self.index, follow=self._follows)
                except Exception:   # noqa: BLE001 - the job reports a bad index
                    pass

        def body(ctx: JobContext) -> None:
            meta, data, mask, warning, delta = self._compute(ctx)
            ctx.check()
            ctx.emit(self._message(meta, True, delta), [data] + ([mask] if mask else []),
                     final=True)
            if not ctx.cancelled:
                self._store(meta, data, warning)

        self._submit_view_job(body, not self._from_browser(change["name"]))

    @property
    def values(self) -> np.ndarray:
        """The values on screen (T×D for a sequence, one per token for text)."""
        return self._reduce(self._last_values)

    def _provenance(self) -> dict:
        from ..provenance import record

        prov = record(self.method, [int(self.target)], self.options_for(),
                      self._adapter.model, self._adapter.framework,
                      tuple(self._x[int(self.index):int(self.index) + 1].shape))
        prov.update({"view": self.view, "index": int(self.index)})
        return prov

    def _title(self) -> str:
        from ..export import plain

        label = next((c["label"] for c in self.top_classes if c["index"] == self.target),
                     str(self.target))
        return plain(f"{self.method} · {label}")


class SequenceExplainer(_MapView):
    """A T×D map of one sequence, with a time cursor (``cursor``, display only)."""

    feature_names = t.List(t.Unicode()).tag(sync=True)
    steps_labels = t.List(t.Unicode()).tag(sync=True)
    cursor = t.Int(0, min=0).tag(sync=True)

    def __init__(self, model: Any, inputs: Any, *, method: str = "saliency",
                 target: Any = "predicted", labels: list[str] | None = None, index: int = 0,
                 top_k: int = 5, framework: str | None = None, output: Any = None,
                 score: str = "logit", batched: bool | None = None,
                 feature_names: list[str] | None = None, **options: Any):
        super().__init__()
        self._ready = False
        with quiet():
            self.view = "sequence"
        self._setup(model, inputs, method=method, target=target, labels=labels, index=index,
                    top_k=top_k, framework=framework, output=output, score=score,
                    batched=batched, choices=SEQUENCE_METHODS,
                    needs_float=get_method(method).needs_gradients, options=options)
        if guess_layout(tuple(self._x.shape), False).kind != "sequence":
            raise NBExplainError(f"the sequence view takes N×T×D inputs; these have shape "
                                 f"{tuple(self._x.shape)}.")
        t_, d = int(self._x.shape[1]), int(self._x.shape[2])
        with quiet():
            self.feature_names = ([str(s) for s in feature_names] if feature_names is not None
                                  else [f"x{j}" for j in range(d)])
            self.steps_labels = [str(s) for s in range(t_)]
            n = int(self._x.shape[0])
            self.row_labels = [f"example {i}" for i in range(n)] if n > 1 else []

    def _figure(self):
        """The time × feature map (the diverging map, symmetric range), as the view draws it."""
        from matplotlib.figure import Figure

        from ..export import LITERAL, plain

        v = np.asarray(self.values, np.float64)
        fig = Figure(figsize=(6, 3))
        ax = fig.add_subplot()
        m = _signed_range(v)
        im = ax.imshow(v.T, aspect="auto", cmap="RdBu_r", vmin=-m, vmax=m)
        ax.set_yticks(range(len(self.feature_names)),
                      [plain(n) for n in self.feature_names], **LITERAL)
        ax.set_xlabel("time step")
        ax.set_title(self._title(), **LITERAL)
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        return fig


def _signed_range(v: np.ndarray) -> float:
    finite = np.abs(v[np.isfinite(v)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


class TextExplainer(_MapView):
    """Token ids highlighted by their attribution through the model's embedding layer."""

    tokens = t.List(t.Unicode()).tag(sync=True)
    token_ids: "t.List[Any]" = t.List().tag(sync=True)

    def __init__(self, model: Any, inputs: Any, *, tokens: list,
                 method: str = "integrated_gradients", target: Any = "predicted",
                 labels: list[str] | None = None, index: int = 0, top_k: int = 5,
                 framework: str | None = None, output: Any = None, score: str = "logit",
                 layer: Any = None, **options: Any):
        super().__init__()
        self._ready = False
        with quiet():
            self.view = "text"
        ids = np.asarray(host_array(inputs))
        if ids.ndim == 1:
            ids = ids[None]
        if ids.ndim != 2 or ids.dtype.kind not in "iu":
            raise NBExplainError(f"the text view takes token ids (integers, T or N×T); got "
                                 f"{ids.dtype} of shape {ids.shape}.")
        self._token_rows = _token_rows(tokens, ids)
        adapter = get_adapter(model, framework, output=output, score=score)
        layer = layer if layer is not None else _embedding_layer(adapter)
        self._setup(model, ids, method=method, target=target, labels=labels, index=index,
                    top_k=top_k, framework=framework, output=output, score=score,
                    batched=True, choices=TEXT_METHODS, needs_float=False,
                    options={**options, "layer": layer})
        with quiet():
            self._on_index(int(self.index))
            self.row_labels = ([_preview(r) for r in self._token_rows]
                               if len(self._token_rows) > 1 else [])

    def _on_index(self, i: int) -> None:
        if 0 <= i < len(self._token_rows):
            with self.hold_sync():
                self.tokens = self._token_rows[i]
                self.token_ids = [int(v) for v in np.asarray(host_array(self._x))[i]]

    def _reduce(self, v: np.ndarray) -> np.ndarray:
        return v.reshape(-1)

    def _figure(self):
        """The tokens as text on their signed colours (subwords joined as the view joins
        them), with the method and the class."""
        from matplotlib import colormaps
        from matplotlib.figure import Figure

        from ..export import plain

        from matplotlib.backends.backend_agg import FigureCanvasAgg

        v = np.asarray(self.values, np.float64)
        m = _signed_range(v)
        cmap = colormaps["RdBu_r"]
        fig = Figure(figsize=(7, 1.8))
        FigureCanvasAgg(fig)
        renderer = fig.canvas.get_renderer()   # type: ignore[attr-defined]
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        ax.text(0.01, 0.95, self._title(), fontsize=10, va="top", parse_math=False)
        markers = any(t.startswith(("Ġ", "▁")) for t in self.tokens)
        width = fig.bbox.width
        x, y, line = 0.01, 0.68, 0.2
        for i, (tok, val) in enumerate(zip(self.tokens, v)):
            if tok.startswith("##") and len(tok) > 2:
                tok, space = tok[2:], False
            elif tok.startswith(("Ġ", "▁")):
                tok, space = tok[1:], i > 0
            else:
                space = i > 0 and not markers
            if space:
                x += 0.008
            c = 0.5 + 0.5 * (val / m if np.isfinite(val) else 0.0)
            colour = cmap(c)
            dark = abs(c - 0.5) > 0.3        # white text on the darkest reds and blues
            label = ax.text(x, y, plain(tok), fontsize=11, va="center", parse_math=False,
                            color="white" if dark else "black",
                            bbox={"facecolor": colour, "edgecolor": "none", "pad": 1.5})
            w = label.get_window_extent(renderer).width / width + 0.004
            if x + w > 0.99 and x > 0.02:    # wrap: the token starts the next line
                x, y = 0.01, y - line
                label.set_position((x, y))
            x += w
        if y < 0.1:       # more lines than the figure holds: make it taller
            fig.set_size_inches(7, 1.8 + (0.1 - y) * 1.8 / line * 0.36)
        return fig


def _token_rows(tokens: Any, ids: np.ndarray) -> list[list[str]]:
    """One list of T strings per row of ids: ``tokens`` is that list (one row) or a list of
    them (one per row)."""
    n, t_ = ids.shape
    rows = list(tokens) if isinstance(tokens, (list, tuple)) else None
    if rows and all(isinstance(r, (list, tuple)) for r in rows):
        if len(rows) != n:
            raise NBExplainError(f"tokens has {len(rows)} lists for {n} rows of token ids; pass "
                                 "one list of strings per row.")
    elif rows is not None and n == 1:
        rows = [rows]
    elif rows is not None:
        raise NBExplainError(f"tokens is one list of strings for {n} rows of token ids; pass "
                             "one list per row (tokens=[[...], [...]]), or one row of ids.")
    else:
        raise NBExplainError("tokens= takes the strings of the token ids: a list of T strings, "
                             "or one such list per row.")
    for k, r in enumerate(rows):
        if len(r) != t_:
            raise NBExplainError(f"tokens for row {k} has {len(r)} strings for {t_} token ids; "
                                 "pass one string per id.")
    return [[str(s) for s in r] for r in rows]


def _preview(tokens: list[str], words: int = 8) -> str:
    """A row's first words, for the example picker (text, shown as text)."""
    text = " ".join(tokens[:words])
    return text + (" …" if len(tokens) > words else "")


def _embedding_layer(adapter) -> Any:
    """The model's (first) embedding layer: torch ``nn.Embedding`` or Keras ``Embedding``."""
    model = adapter.model
    if hasattr(model, "named_modules"):
        import torch
        for _, m in model.named_modules():
            if isinstance(m, torch.nn.Embedding):
                return m
    for name, layer in getattr(adapter, "_named_layers", lambda: [])():
        if type(layer).__name__ == "Embedding":
            return layer
    raise NBExplainError("the text view attributes token ids through the model's embedding "
                         "layer, and none was found; pass layer= (e.g. layer=model.embed).")
