"""The live ``Explainer`` widget (anywidget). The protocol is in docs/ARCHITECTURE.md."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import traitlets as t

from .._attribution import Attribution
from .._errors import NBExplainError
from ..provenance import record
from .._inputs import prepare_inputs, resolve_target
from ..backends import get_adapter, guess_layout
from ..backends.base import host_array
from ..export import display_image, heatmap_2d
from ..live.runner import JobContext
from ..methods import MethodSpec, available_methods, get_method, iterate
from ..methods._common import as_whole
from ..methods._path_cache import PathCache
from ..methods.integrated_gradients import make_baseline
from .controls import (BASELINES, CHOICES, COMPUTE_TRAITS, METHOD_CHOICES, OPTION_TRAITS,
                       RULE_CHOICES, SMOOTH_BASES, baseline_spec, method_options, option_trait)
from .display import (display_shape, downsample, state_image, state_map,
                      static_map)
from .serialize import decode_array, encode_array
from .companions import _Companions
from .image_figure import _ImageFigure
from .live import _BYTES_IN, MAX_THUMBS, LiveWidget, _probabilities, quiet, quieted
from .views import (COLORMAPS, as_channels, colormap_lut, paint_mask, thumbnail_strip,
                    uncertainty_map)

def _first_delta(adapter, delta: Any) -> float | None:
    """The first example's completeness error as a finite float, or None."""
    if delta is None:
        return None
    d = float(np.ravel(adapter.to_numpy(delta))[0])
    return d if np.isfinite(d) else None


class Explainer(_ImageFigure, _Companions, LiveWidget):
    """The live explanation instrument: the input with its attribution map, the model's top
    classes, and every control of docs/ARCHITECTURE.md ("The widget protocol") as a synced
    trait: a change from the browser or from Python recomputes on a worker thread."""

    # --- what is shown (the kernel sets these) --------------------------------------------
    image = t.Bytes(b"").tag(sync=True)
    image_meta = t.Dict().tag(sync=True)
    heatmap = t.Bytes(b"").tag(sync=True)
    heatmap_meta = t.Dict().tag(sync=True)
    heatmap_mask = t.Bytes(b"").tag(sync=True)
    top_classes: "t.List[Any]" = t.List().tag(sync=True)
    method_choices: "t.List[Any]" = t.List().tag(sync=True)
    rule_choices = t.List(t.Unicode(), list(RULE_CHOICES)).tag(sync=True)
    smooth_base_choices = t.List(t.Unicode(), list(SMOOTH_BASES)).tag(sync=True)
    layer_choices = t.List(t.Unicode()).tag(sync=True)
    baseline_choices = t.List(t.Unicode(), list(BASELINES)).tag(sync=True)
    thumbnails = t.Bytes(b"").tag(sync=True)
    thumbnails_meta = t.Dict().tag(sync=True)
    delta_curve: "t.List[Any]" = t.List().tag(sync=True)

    # --- compute controls (a change recomputes; widgets/controls.py) ----------------------
    method = t.Unicode("saliency").tag(sync=True)
    target = t.Int(0).tag(sync=True)
    index = t.Int(0, min=0).tag(sync=True)
    steps = t.Int(50, min=1, max=200_000).tag(sync=True)     # the slider: 1..300
    rule = t.Enum(RULE_CHOICES, "gausslegendre").tag(sync=True)
    samples = t.Int(25, min=1, max=100_000).tag(sync=True)   # the slider: 1..200
    noise = t.CFloat(0.15, min=0.0, max=1.0).tag(sync=True)
    smooth_base = t.Enum(SMOOTH_BASES, "saliency").tag(sync=True)
    budget = t.Int(0, min=0, max=10**8).tag(sync=True)      # 0: the method's default
    grid = t.Int(8, min=1, max=256).tag(sync=True)          # the slider: 2..16
    window = t.Int(0, min=0, max=4096).tag(sync=True)       # 0: the method's choice
    stride = t.Int(0, min=0, max=4096).tag(sync=True)       # 0: the window
    layer = t.Unicode("").tag(sync=True)
    baseline = t.Unicode("zero").tag(sync=True)
    blur_sigma = t.CFloat(5.0, min=0.5, max=20.0).tag(sync=True)
    mix = t.CFloat(0.0, min=0.0, max=1.0).tag(sync=True)
    paint = t.Bytes(b"").tag(sync=True, **_BYTES_IN)
    alpha = t.CFloat(1.0, min=0.0, max=1.0).tag(sync=True)
    compare = t.List(t.Unicode()).tag(sync=True)

    # --- display only (the browser redraws; js/ui/display-controls.ts) ---------------------
    opacity = t.CFloat(0.6, min=0.0, max=1.0).tag(sync=True)
    colormap = t.Unicode("auto").tag(sync=True)

    @t.validate("colormap")
    def _check_colormap(self, proposal: dict) -> str:
        name = proposal["value"]
        if name != "auto" and name not in COLORMAPS:
            raise t.TraitError(f"colormap={name!r}; use 'auto' or one of "
                               f"{', '.join(COLORMAPS)}.")
        return name
    clip = t.CFloat(99.5, min=90.0, max=100.0).tag(sync=True)
    sign = t.Enum(("both", "positive", "negative", "absolute"), "both").tag(sync=True)
    top_k = t.CFloat(100.0, min=1.0, max=100.0).tag(sync=True)
    show_uncertainty = t.Bool(False).tag(sync=True)

    def __init__(self, model: Any = None, inputs: Any = None, *, method: str = "saliency",
                 target: Any = "predicted", labels: list[str] | None = None, index: int = 0,
                 top_k: int = 5, framework: str | None = None, output: Any = None,
                 score: str = "logit", batched: bool | None = None, _values: Any = None,
                 _channels_first: bool | None = None, **options: Any):
        self._standing = ""        # a warning about the model itself (training mode)
        # the latest map job, and a lock around status changes: a job that ends while a newer
        # one is being submitted must not set "idle" over the newer one's "computing"
        self._job_seq = 0
        self._ready = False
        self._last: Attribution | None = None
        self._path_cache = PathCache()
        super().__init__()
        self._static = model is None
        if self._static:  # show(): values computed elsewhere
            with quiet():
                self.method = method
                self._init_static(_values, inputs, _channels_first, target, labels)
            self.on_msg(self._on_msg)
            return
        k = as_whole(top_k)
        if k is None or k < 1:
            raise NBExplainError(f"top_k={top_k!r}; pass how many of the model's classes to "
                                 "list (an int >= 1).")
        self._top_k = k
        i = as_whole(index)
        if i is None:
            raise NBExplainError(f"index={index!r}; pass the int position of the example in "
                                 "the batch.")
        if method not in CHOICES:
            get_method(method)   # an unknown name: the registry's error lists them all
            raise NBExplainError(f"method={method!r} has no image view in the widget; use one "
                                 f"of {', '.join(CHOICES)}.")
        spec = get_method(method)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self._adapter = get_adapter(model, framework, output=output, score=score,
                                        channels_first=_channels_first)
        for w in caught:        # still the user's warnings, and shown in the widget too
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self._standing = " ".join(str(w.message) for w in caught)
        x, _ = prepare_inputs(self._adapter, inputs, batched, spec.needs_gradients)
        n = int(x.shape[0])
        if not 0 <= i < n:
            raise NBExplainError(f"index={i} but the batch has {n} examples; use 0..{n - 1}.")
        self._x_all = x
        self._layout = guess_layout(tuple(x[:1].shape), self._adapter.channels_first)
        if self._layout.kind != "image":
            gray = ("; if they are a batch of single-channel images (N×H×W), add the channel "
                    "axis: x[:, None] for torch, x[..., None] for Keras") if len(x.shape) == 3 else ""
            raise NBExplainError(
                "explain() shows images for now: inputs of shape "
                f"{tuple(x.shape)} are {self._layout.kind}{gray}. Use "
                "nbexplain.attribute(...).plot() for tabular or sequence data.")
        self._cf = self._layout.channels_first
        self._already_probs = (self._adapter.score == "probability"
                               or self._adapter.output_activation() is not None)
        rows = self._adapter.predict(x)
        probs_all = [_probabilities(r, already=self._already_probs) for r in rows]
        self._n_classes = probs_all[0].size
        if labels is not None and len(labels) != self._n_classes:
            raise NBExplainError(f"labels has {len(labels)} names but the model has "
                                 f"{self._n_classes} outputs; pass one label per class.")
        self._labels = [str(s) for s in labels] if labels is not None else [
            str(c) for c in range(self._n_classes)]
        self._data = options.pop("data", None)
        self._baseline_array = None
        self._layer_obj = None
        self._layer_obj_name = ""
        self._pinned: dict[str, tuple] = {}     # trait -> (method, option, value)
        self._extra = self._take_options(options, method)
        xn = self._adapter.to_numpy(x)
        with quiet():
            self.method = method
            self.index = i
            self.method_choices = [{"name": c.name, "label": c.label, "options": list(c.options)}
                                   for c in METHOD_CHOICES]
            self.layer_choices = self._adapter.layer_names()
            self.baseline_choices = list(BASELINES) + (["mean"] if self._data is not None
                                                       else []) + (
                ["custom"] if self._baseline_array is not None else [])
            if n > 1:   # the first MAX_THUMBS examples (w.index reaches every one)
                shown = min(n, MAX_THUMBS)
                meta, data = thumbnail_strip(
                    [display_image(xn[j], self._cf) for j in range(shown)],
                    [self._labels[int(np.argmax(p))] for p in probs_all[:shown]])
                self.thumbnails_meta, self.thumbnails = {**meta, "total": n}, data
            else:
                self.thumbnails_meta = {"n": 1}
        self._inputs_key: Any = None
        self._inputs_now: Any = None
        snap = self._snapshot()
        inp = self._inputs(snap)
        tgt = resolve_target(self._adapter, target, inp.x)
        if callable(tgt):
            raise NBExplainError("explain() needs a class index target ('predicted' or an int).")
        with quiet():
            self.target = int(tgt[0])
        snap["target"] = int(tgt[0])
        self._store(*self._compute(snap, ctx=None), request_id=0)
        self._ready = True
        self.on_msg(self._on_msg)
        self.observe(self._on_control, names=list(COMPUTE_TRAITS))
        self.observe(self._on_alpha, names=["alpha"])
        self.observe(self._on_compare, names=["compare"])

    # --- construction helpers ------------------------------------------------------------
    @classmethod
    def from_values(cls, values: Any, inputs: Any, *, channels_first: bool | None = None,
                    method: str = "external", target: int = 0,
                    labels: list[str] | None = None) -> "Explainer":
        return cls(None, inputs, method=method, target=target, labels=labels, _values=values,
                   _channels_first=channels_first)

    def _take_options(self, options: dict, method: str) -> dict:
        """Set the controls that explain()'s options name (steps=, rule=, samples=, grid=,
        ...); return the others (batch_size=, estimator=, ...), which go to every method that
        takes them. An option no control shows and no image method takes is refused, as
        attribute() refuses it; one that a control cannot hold (window=(1, 4, 4)) stays with
        explain()'s method until that control is moved."""
        extra = {"progress_bar": False}   # no tqdm bars from the worker
        accepted = set().union(*(get_method(c.name).accepts for c in METHOD_CHOICES))
        known = sorted((accepted | set(OPTION_TRAITS) | set(COMPUTE_TRAITS)
                        | set(DISPLAY_OPTIONS))
                       - {"adapter", "x", "target", "check", "progress_bar"})
        with quiet():
            for k, v in options.items():
                trait = option_trait(k, method)
                if k in DISPLAY_OPTIONS:         # display settings: set as the UI sets them
                    try:
                        setattr(self, k, v)
                    except t.TraitError as e:
                        raise NBExplainError(f"explain({k}={v!r}): {e}") from None
                elif k == "layer" and not isinstance(v, str) and v is not None:
                    self._layer_obj = v           # a module object: its name is shown
                    self._layer_obj_name = self.layer = str(self._adapter.find_layer(v)[1])
                elif k == "baseline":
                    self._set_baseline_option(v)
                elif trait is not None and v is not None:
                    try:
                        setattr(self, trait, v)
                    except t.TraitError:   # not a control's value: explain()'s method's own
                        self._pinned[trait] = (method, k, v)
                elif k in accepted:
                    extra[k] = v
                else:
                    raise NBExplainError(
                        f"explain() got an unknown option {k!r}; the widget's methods and "
                        f"controls take: {', '.join(known)}.")
        return extra

    def _set_baseline_option(self, v: Any) -> None:
        preset = {"uniform": "noise"}.get(v, v) if isinstance(v, str) else None
        if not isinstance(v, (str, tuple)) and np.ndim(v) == 0 and float(v) == 0.0:
            self.baseline = "zero"
        elif isinstance(v, tuple) and len(v) == 2 and v[0] == "blur":
            self.baseline, self.blur_sigma = "blur", float(v[1])
        elif preset in BASELINES or preset == "mean":
            self.baseline = preset
        else:   # a number or an array: the "custom" baseline
            self._baseline_array = v
            self.baseline = "custom"

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
        full = static_map(v, x, bool(channels_first))
        # what w.attribution, w.export() and the static picture show: the values given
        self._last = Attribution(
            values=full[None], method=self.method, target=np.array([tgt]), inputs=x[None],
            channels_first=bool(channels_first),
            provenance={"method": self.method, "target": [tgt], "source": "nbexplain.show",
                        "input_shape": [1, *map(int, x.shape)]})
        hm = downsample(full)
        meta, data, mask, warning = encode_array(hm, overflow="scale")
        finite = hm[np.isfinite(hm)]
        meta["signed"] = bool(finite.size and finite.min() < 0)
        # the static view has no scores: the target's label only (prob unknown: null)
        self.top_classes = [] if labels is None else [
            {"index": tgt, "label": str(labels[tgt]), "prob": None}]
        self.colormap_lut = colormap_lut()
        self._store(tgt, self.method, meta, data, mask, warning, None, request_id=0)
        self._stored = (meta, data, mask, warning)

    def _set_image(self, x_single: np.ndarray, channels_first: bool) -> None:
        meta, data = state_image(display_image(x_single, channels_first))
        with self.hold_sync():
            self.image_meta = meta
            self.image = data

    # --- the explained input ---------------------------------------------------------------
    def _snapshot(self) -> dict:
        """The controls' values now (a job reads them once, at its start)."""
        return {name: getattr(self, name) for name in COMPUTE_TRAITS}

    def _baseline_for(self, snap: dict, x0: Any) -> Any:
        if snap["baseline"] == "custom":
            spec = self._baseline_array
        elif snap["baseline"] == "mean" and self._data is None:
            raise NBExplainError("baseline='mean' averages the examples given as "
                                 "explain(..., data=X); pass data= to explain(), or pick "
                                 f"another baseline: {', '.join(self.baseline_choices)}.")
        elif snap["baseline"] not in self.baseline_choices:
            raise NBExplainError(f"baseline={snap['baseline']!r}; use one of "
                                 f"{', '.join(self.baseline_choices)}.")
        else:
            spec = baseline_spec(snap["baseline"], snap["blur_sigma"])
        b = make_baseline(self._adapter, x0, spec,
                          data=self._data if snap["baseline"] == "mean" else None,
                          seed=0 if snap["baseline"] == "noise" else None)
        mix = float(snap["mix"])
        if mix == 0.0:
            return b
        xn, bn = self._adapter.to_numpy(x0), self._adapter.to_numpy(b)
        return self._adapter.as_tensor(((1.0 - mix) * bn + mix * xn).astype(xn.dtype))

    def _inputs(self, snap: dict) -> "_Inputs":
        """The example explained (the painted one) and the baseline, for ``snap``; when they
        changed, the picture and the top classes shown follow."""
        key = (snap["index"], snap["baseline"], snap["blur_sigma"], snap["mix"],
               bytes(snap["paint"]))
        if self._inputs_key == key:
            return self._inputs_now
        i = snap["index"]
        if not 0 <= i < int(self._x_all.shape[0]):
            n = int(self._x_all.shape[0])
            raise NBExplainError(f"index={i} but the batch has {n} examples; use 0..{n - 1}.")
        x0 = self._x_all[i:i + 1]
        b = self._baseline_for(snap, x0)
        hw2 = x0.shape[-2:] if self._cf or len(x0.shape) == 3 else x0.shape[1:3]
        hw = (int(hw2[0]), int(hw2[1]))
        x = x0
        shown = display_shape(*hw)
        painted = None
        if snap["paint"]:
            try:
                painted = paint_mask(snap["paint"], shown, hw)
            except ValueError as e:
                raise NBExplainError(str(e)) from None
        if painted is not None:
            m = as_channels(painted, tuple(x0.shape), self._cf)
            xn, bn = self._adapter.to_numpy(x0), self._adapter.to_numpy(b)
            x = self._adapter.as_tensor(np.where(m, bn, xn).astype(xn.dtype))
        inp = _Inputs(x=x, b=b, hw=hw)
        probs = _probabilities(self._adapter.predict(x)[0], already=self._already_probs)
        order = np.argsort(-probs)[:self._top_k]
        top = [{"index": int(c), "label": self._labels[c], "prob": float(probs[c])}
               for c in order]
        with quiet(), self.hold_sync():
            self._set_image(self._adapter.to_numpy(x)[0], self._cf)
            self.top_classes = top
        self._inputs_key, self._inputs_now = key, inp
        return inp

    def _options(self, spec: MethodSpec, snap: dict, inp: "_Inputs") -> dict:
        if spec.needs_gradients:
            self._adapter.check_input(inp.x, True)
        layer = (self._layer_obj if self._layer_obj is not None
                 and snap["layer"] == self._layer_obj_name else (snap["layer"] or None))
        extra = {k: v for k, v in self._extra.items() if k in spec.accepts}
        for m, k, v in self._pinned.values():
            if m == spec.name:
                extra[k] = v
        return method_options(spec.name, _Snap(snap), inp.hw, inp.b, layer, extra)

    # --- computation -----------------------------------------------------------------------
    def _compute(self, snap: dict, ctx: JobContext | None = None):
        """``(target, method, meta, data, mask, warning, delta, extra_content, buffers)`` of
        the map for the controls in ``snap``; keeps the result as ``self.attribution``."""
        target = snap["target"]
        if not 0 <= target < self._n_classes:
            raise NBExplainError(f"target {target} is out of range: the model has "
                                 f"{self._n_classes} classes (0..{self._n_classes - 1}).")
        name = snap["method"]
        if name not in CHOICES:
            raise NBExplainError(f"unknown method {name!r}; the widget offers "
                                 f"{', '.join(CHOICES)}.")
        spec = get_method(name)
        inp = self._inputs(snap)
        options = self._options(spec, snap, inp)
        run_options = dict(options)
        if ctx is not None and "check" in spec.accepts:
            run_options["check"] = ctx.check   # a newer request stops this one between chunks
        if ctx is not None and "path_cache" in spec.progressive_accepts:
            # IG keeps its path gradients: another step count evaluates only new points
            run_options["path_cache"] = self._path_cache
        tgt = np.array([target], dtype=np.int64)
        state = self._adapter.thread_state()
        curve: list = []
        try:
            res = self._run(spec, inp.x, tgt, target, run_options, ctx, curve)
        except BaseException:   # nothing of an interrupted pass is left on the model
            self._adapter.recover(state)
            raise
        values = self._adapter.to_numpy(res.values)
        delta = _first_delta(self._adapter, res.delta)
        if delta is not None:
            curve.append([int((res.progress or (options.get("steps", 0),))[0]), delta])
        self._last = Attribution(
            values=values, method=name, target=tgt, options={
                k: v for k, v in options.items() if k != "progress_bar"},
            delta=None if res.delta is None else self._adapter.to_numpy(res.delta),
            inputs=self._adapter.to_numpy(inp.x), layout="image", channels_first=self._cf,
            extras=dict(res.extras),
            provenance=record(name, [int(target)], options, self._adapter.model,
                              self._adapter.framework, tuple(inp.x.shape)))
        unc = uncertainty_map(res.extras, tuple(values.shape[1:])) if name == "shapley" else None
        if name == "integrated_gradients":
            with quiet():
                self.delta_curve = curve
        return (target, name) + self._encode(values[0]) + (delta, unc)

    def _run(self, spec: MethodSpec, x: Any, tgt: np.ndarray, target: int, options: dict,
             ctx: JobContext | None, curve: list):
        """The method's result; with ``ctx`` (a job) its partial results go out on the way."""
        if ctx is None:   # explain()'s first map, before the widget is shown: no partials
            return spec.fn(self._adapter, x, tgt, **options)
        for res in iterate(spec, self._adapter, x, tgt, **options):
            if res.done:
                break
            ctx.check()
            done, total = res.progress or (0, 0)
            delta = _first_delta(self._adapter, res.delta)
            if delta is not None and spec.name == "integrated_gradients":
                curve.append([int(done), delta])
                with quiet():
                    self.delta_curve = list(curve)
            values = self._adapter.to_numpy(res.values)
            unc = (uncertainty_map(res.extras, tuple(values.shape[1:]))
                   if spec.name == "shapley" else None)
            self._emit_partial(ctx, target, spec.name, values[0], done, total, delta, unc)
        ctx.check()
        return res

    def _emit_partial(self, ctx: JobContext, target: int, method: str, values: np.ndarray,
                      done: int, total: int, delta: float | None = None,
                      unc: np.ndarray | None = None) -> None:
        """Send one partial map (``final: false``, rate-limited by ``ctx.emit``) and, when it
        went out, the ``progress`` message that goes with it."""
        meta, data, mask, _ = self._encode(values)
        content, buffers = self._message(target, method, meta, data, mask, delta, unc, False)
        if ctx.emit(content, buffers, final=False):
            ctx.runner.send({"kind": "progress", "id": ctx.id, "done": int(done),
                             "total": int(total)}, [])

    def _message(self, target: int, method: str, meta: dict, data: bytes, mask: bytes,
                 delta: float | None, unc: np.ndarray | None, final: bool) -> tuple:
        content = {"kind": "attribution", "target": target, "method": method, "meta": meta,
                   "final": final, "index": int(self.index) if not self._static else 0}
        if delta is not None and np.isfinite(delta):
            content["delta"] = delta
        buffers = [data] + ([mask] if mask else [])
        if unc is not None:
            u = downsample(heatmap_2d(unc, self._cf))
            if u.shape == tuple(meta["shape"]):
                # a patch whose interval is unbounded (too few samples) is masked, not 0
                bad = ~np.isfinite(u)
                content["uncertainty"] = True
                buffers.append(np.where(bad, 0.0, u).astype("<f4").tobytes())
                if bad.any():
                    content["uncertainty_masked"] = True
                    buffers.append(bad.astype(np.uint8).tobytes())
        return content, buffers

    def _encode(self, values: np.ndarray) -> tuple:
        """``(meta, data, mask, warning)`` of one example's attribution map."""
        # float64 until encode_array: finite values beyond float32 are scaled there, not
        # turned into inf by a cast (and then masked as if they were not finite)
        hm = downsample(heatmap_2d(values, self._cf))  # at most the image's display size
        meta, data, mask, warning = encode_array(hm, overflow="scale")
        finite = hm[np.isfinite(hm)]
        meta["signed"] = bool(finite.size and finite.min() < 0)
        return meta, data, mask, warning

    def _store(self, target: int, method: str, meta: dict, data: bytes, mask: bytes,
               warning: str, _delta: Any = None, _unc: Any = None, *, request_id: int) -> None:
        """Keep the final map in the traits, compressed (``display.state_map``): they serve
        a page reload and the saved notebook; the exact map went out as a message."""
        hm = decode_array(meta, data).astype(np.float64) * meta.get("scale", 1.0)
        if mask:
            hm[np.frombuffer(mask, np.uint8).reshape(hm.shape) != 0] = np.nan
        state_meta, state_data, state_mask = state_map(hm)
        with quiet(), self.hold_sync():
            self.heatmap = state_data
            self.heatmap_mask = state_mask
            self.heatmap_meta = {**state_meta, "signed": meta["signed"], "target": target,
                                 "method": method, "request_id": request_id}
            self.target = target
            self.method = method
            self.warning = " ".join(filter(None, [self._standing, warning]))
            self.error = ""

    @property
    def attribution(self) -> Attribution | None:
        """The :class:`~nbexplain.Attribution` on screen: its values, the method, the target,
        the options given to the method (``.options``) and the explained input (``.inputs``,
        painted where the user painted): ``attribute(model, a.inputs, method=a.method,
        target=a.target, **a.options)`` computes the same values."""
        return self._last

    # --- controls --------------------------------------------------------------------------
    def _on_control(self, change: dict) -> None:
        if not self._ready or self._closed or quieted():
            return
        self._pinned.pop(change["name"], None)    # the control now says what it is
        if change["name"] == "index":
            if self.paint:
                with quiet():                      # a painting belongs to its example
                    self.paint = b""
            # a new example: its predicted class, set now (one forward pass of one example),
            # so every job submitted from here on, whatever control changes next before this
            # one finishes, and the comparison and path jobs, explain that class
            self._follow_index()
        self._submit_map(self._next_id(), {}, at_once=not self._from_browser(change["name"]))
        if self.compare:
            self._submit_compare()
        if self.method == "integrated_gradients" and self.alpha < 1.0:
            self._submit_path()

    def _follow_index(self) -> None:
        i = int(self.index)
        if not 0 <= i < int(self._x_all.shape[0]):
            return            # the job reports the bad index
        try:
            scores = self._adapter.predict(self._x_all[i:i + 1])
        except Exception:     # noqa: BLE001 - the job reports the failure
            return
        with quiet():
            self.target = int(np.argmax(np.asarray(scores)[0]))

    def _on_alpha(self, _change: dict) -> None:
        # the path is IG's: the scrubber is shown (and computes) for IG only
        if (self._ready and not self._closed and not quieted()
                and self.method == "integrated_gradients"):
            self._submit_path()

    def _on_compare(self, _change: dict) -> None:
        if self._ready and not self._closed and not quieted():
            self._submit_compare()

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
        if self._settle(content):
            return
        if isinstance(content, dict) and content.get("kind") == "refresh":
            # a new view (a reload) asks for what only messages carried: the comparison
            if content.get("what") == "compare" and self.compare and not self._static:
                self._submit_compare()
            return
        if not isinstance(content, dict):
            return self._refuse(None, "a request must be an object {kind: 'attribute', id, "
                                      f"target, method}}, not {type(content).__name__}.")
        req_id = as_whole(content.get("id"))
        if req_id is None:
            return self._refuse(None, f"the request's id {content.get('id')!r} is not an "
                                      "integer.")
        with self._status_lock:
            self._ids = max(self._ids, req_id)
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
            return self._submit(req_id, lambda ctx: (target, method, meta, data, mask,
                                                     warning, None, None))
        if not isinstance(method, str) or method not in available_methods():
            return self._refuse(req_id, f"unknown method {method!r}; available: "
                                        f"{', '.join(available_methods())}.")
        self._submit_map(req_id, {"target": target, "method": method})

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

    def _submit_map(self, req_id: int, overrides: dict, at_once: bool = True) -> None:
        def work(ctx: JobContext):
            return self._compute({**self._snapshot(), **overrides}, ctx)

        self._submit(req_id, work, at_once)

    def _submit(self, req_id: int, work: Callable[[JobContext], tuple],
                at_once: bool = True) -> None:
        with self._status_lock:
            self._job_seq += 1
            seq = self._job_seq
            self.status = "computing"
        self._runner("map").submit(req_id, lambda ctx: self._job(ctx, work, seq), at_once)

    def _job(self, ctx: JobContext, work: Callable[[JobContext], tuple], seq: int) -> None:
        try:
            target, method, meta, data, mask, warning, delta, unc = work(ctx)
            ctx.check()
            content, buffers = self._message(target, method, meta, data, mask, delta, unc, True)
            ctx.emit(content, buffers, final=True)
            if not ctx.cancelled:
                self._store(target, method, meta, data, mask, warning, delta,
                            request_id=ctx.id)
        except Exception as e:
            if not ctx.cancelled:
                self.error = f"{type(e).__name__}: {e}"
            raise
        finally:
            with self._status_lock:
                if not ctx.cancelled and seq == self._job_seq:
                    self.status = "idle"


#: the display settings explain() also takes (``top_k`` there is the number of classes
#: listed; the display's top-k% area is the trait ``w.top_k``)
DISPLAY_OPTIONS = ("opacity", "colormap", "clip", "sign", "show_uncertainty")


class _Snap:
    """A snapshot dict read as attributes (for ``controls.method_options``)."""

    def __init__(self, d: dict):
        self.__dict__.update(d)


@dataclass
class _Inputs:
    x: Any            # the explained example (painted), a batch of one
    b: Any            # the baseline, the same shape
    hw: tuple         # the input's H×W
