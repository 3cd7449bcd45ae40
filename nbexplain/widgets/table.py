"""The table view: feature bars for tabular rows (torch, Keras, or a numpy callable such as
scikit-learn's ``predict_proba``), Shapley's intervals as error bars that narrow as the budget
grows, a draggable baseline per feature, a row picker and a beeswarm summary over the rows.
The protocol is in docs/ARCHITECTURE.md ("Tables, sequences, text")."""

from __future__ import annotations

from typing import Any

import numpy as np
import traitlets as t

from .._errors import NBExplainError
from .._inputs import prepare_inputs, resolve_target
from ..backends import get_adapter, guess_layout
from ..backends.base import frame_columns, host_array, series_names
from ..live.runner import JobContext
from ..methods import get_method, iterate
from ..methods._common import as_whole
from .live import LiveWidget, _probabilities, quiet, quieted

#: the methods that apply to a table, in the picker's order
TABLE_METHODS = (("shapley", "Shapley"), ("lime", "LIME"),
                 ("integrated_gradients", "Integrated Gradients"), ("saliency", "Saliency"),
                 ("input_x_gradient", "Input × gradient"), ("occlusion", "Occlusion"))
#: the controls whose change recomputes the bars
TABLE_COMPUTE = ("row", "method", "target", "budget", "estimator", "baseline", "baseline_kind")


def _finite_list(a: Any) -> list:
    """JSON numbers (None where not finite)."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(a, np.float64).ravel()]


class TableExplainer(LiveWidget):
    """Feature bars for one row of a table, with live controls (every one a trait)."""

    feature_names = t.List(t.Unicode()).tag(sync=True)
    rows: "t.List[Any]" = t.List().tag(sync=True)
    row = t.Int(0, min=0).tag(sync=True)
    method = t.Unicode("shapley").tag(sync=True)
    method_choices: "t.List[Any]" = t.List().tag(sync=True)
    target = t.Int(0).tag(sync=True)
    top_classes: "t.List[Any]" = t.List().tag(sync=True)
    budget = t.Int(0, min=0, max=10**8).tag(sync=True)       # 0: the method's default
    estimator = t.Enum(("auto", "exact", "kernel", "permutation"), "auto").tag(sync=True)
    top_k = t.Int(10, min=1, max=100_000).tag(sync=True)
    waterfall = t.Bool(False).tag(sync=True)
    summary = t.Bool(False).tag(sync=True)
    baseline = t.Dict().tag(sync=True)
    baseline_kind = t.Enum(("mean", "median"), "mean").tag(sync=True)
    background_stats = t.Dict().tag(sync=True)
    bars = t.Dict().tag(sync=True)          # the last final bars (reloads, saved notebooks)

    def __init__(self, model: Any, inputs: Any, *, method: str = "shapley",
                 target: Any = "predicted", feature_names: list[str] | None = None,
                 background: Any = None, labels: list[str] | None = None, top_k: int = 5,
                 framework: str | None = None, output: Any = None, score: str = "logit",
                 **options: Any):
        super().__init__()
        self._ready = False
        with quiet():
            self.view = "table"
        self._adapter = get_adapter(model, framework, output=output, score=score)
        names = frame_columns(inputs) or series_names(inputs)
        x, _ = prepare_inputs(self._adapter, inputs, None, False)
        if guess_layout(tuple(x.shape), self._adapter.channels_first).kind != "tabular":
            raise NBExplainError(f"the table view takes rows of features (N×F); these inputs "
                                 f"have shape {tuple(x.shape)}. Use nbexplain.explain() for "
                                 "images, sequences and text.")
        self._x = x
        xn = np.asarray(host_array(self._adapter.to_numpy(x)), dtype=np.float64)
        f = xn.shape[1]
        names = list(feature_names) if feature_names is not None else (
            list(names) if names is not None else [f"x{i}" for i in range(f)])
        if len(names) != f:
            raise NBExplainError(f"feature_names has {len(names)} names for {f} features; "
                                 "pass one name per column.")
        bg = xn if background is None else np.asarray(host_array(background), np.float64)
        if bg.ndim != 2 or bg.shape[1] != f:
            raise NBExplainError(f"background has shape {bg.shape}; pass rows of the same {f} "
                                 "features as the inputs.")
        self._bg = bg
        k = as_whole(top_k)
        self._top_k = 5 if k is None or k < 1 else k
        gradients = self._adapter.framework != "numpy"
        offered = [(n, lab) for n, lab in TABLE_METHODS
                   if gradients or not get_method(n).needs_gradients]
        if method not in dict(offered):
            raise NBExplainError(f"method={method!r} has no table view here; use one of "
                                 f"{', '.join(n for n, _ in offered)}.")
        probs = self._adapter.predict(x)
        self._already = (self._adapter.score == "probability"
                         or self._adapter.output_activation() is not None)
        self._n_classes = int(np.asarray(probs).shape[1]) if np.ndim(probs) == 2 else 1
        if labels is not None and len(labels) != self._n_classes:
            raise NBExplainError(f"labels has {len(labels)} names but the model has "
                                 f"{self._n_classes} outputs; pass one label per class.")
        self._labels = ([str(s) for s in labels] if labels is not None
                        else [str(c) for c in range(self._n_classes)])
        self._extra = {"progress_bar": False}
        accepted = set().union(*(get_method(n).accepts for n, _ in offered))
        with quiet():
            for key, v in options.items():
                if key == "samples":
                    self.budget = 0 if v is None else int(v)
                elif key == "estimator":
                    self.estimator = v
                elif key in accepted and key not in ("adapter", "x", "target", "check"):
                    self._extra[key] = v
                else:
                    raise NBExplainError(f"explain() got an unknown option {key!r} for a "
                                         f"table; it takes samples=, estimator=, "
                                         f"{', '.join(sorted(accepted - {'adapter', 'x', 'target', 'check', 'progress_bar'}))}.")
            self.feature_names = [str(s) for s in names]
            self.rows = [_finite_list(r) for r in xn]
            self.method_choices = [{"name": n, "label": lab, "options": ["budget", "estimator"]
                                    if n == "shapley" else (["budget"] if n == "lime" else [])}
                                   for n, lab in offered]
            self.method = method
            self.background_stats = {"mean": _finite_list(bg.mean(0)),
                                     "median": _finite_list(np.median(bg, 0)),
                                     "min": _finite_list(bg.min(0)),
                                     "max": _finite_list(bg.max(0))}
        #: target="predicted": a new row explains its own predicted class (until a target is
        #: chosen)
        self._follows = isinstance(target, str) and target == "predicted"
        tgt = resolve_target(self._adapter, target, x[:1])
        if callable(tgt):
            raise NBExplainError("the table view needs a class index target ('predicted' or "
                                 "an int).")
        with quiet():
            self.target = int(tgt[0])
            self._show_classes(0)
        content = self._bars(self._snapshot(), None)
        with quiet():
            self.bars = content
        self._ready = True
        self.on_msg(self._on_msg)
        self.observe(self._on_control, names=list(TABLE_COMPUTE))
        self.observe(self._on_summary, names=["summary"])

    @classmethod
    def from_values(cls, values: Any, rows: Any, *, feature_names: list[str] | None = None,
                    base_value: Any = None, method: str = "external", target: int = 0,
                    labels: list[str] | None = None) -> "TableExplainer":
        """The bars of attributions computed elsewhere (SHAP, Captum): one row of values and
        of inputs (F,), or several (the first shown; ``row`` picks); nothing is recomputed."""
        v = np.atleast_2d(np.asarray(values, np.float64))
        x = np.atleast_2d(np.asarray(rows, np.float64))
        if v.shape != x.shape:
            raise NBExplainError(f"the values have shape {v.shape} and the inputs "
                                 f"{x.shape}; pass one value per feature of each row.")
        f = v.shape[1]
        names = [str(n) for n in feature_names] if feature_names is not None else [
            f"x{i}" for i in range(f)]
        if len(names) != f:
            raise NBExplainError(f"feature_names has {len(names)} names for {f} features.")
        w = cls.__new__(cls)
        LiveWidget.__init__(w)
        w._ready, w._static_values = False, v
        base = None if base_value is None else np.ravel(np.asarray(base_value, np.float64))
        with quiet():
            w.view = "table"
            w.feature_names = names
            w.rows = [_finite_list(r) for r in x]
            w.method = method
            w.method_choices = []
            w.target = int(target)
            w.top_classes = ([] if labels is None or not 0 <= int(target) < len(labels)
                             else [{"index": int(target), "label": str(labels[int(target)]),
                                    "prob": None}])
            b = None if base is None else float(base[0])
            w.bars = {"kind": "bars", "row": 0, "method": method, "target": int(target),
                      "final": True, "values": _finite_list(v[0]), "base_value": b,
                      "prediction": None if b is None else b + float(np.nansum(v[0])),
                      "baseline": None, "ci_low": None, "ci_high": None}
        return w

    def _figure(self):
        """The bars as the view draws them (sorted by size, the top ``top_k`` and the rest
        folded into one, Shapley's intervals as error bars), with matplotlib."""
        from matplotlib.figure import Figure

        from ..export import LITERAL, plain

        b = self.bars
        if not b or not b.get("values"):
            return None
        v = np.array([np.nan if x is None else x for x in b["values"]], np.float64)
        order = [int(i) for i in np.argsort(-np.nan_to_num(np.abs(v)))]
        k = min(int(self.top_k), len(order))
        shown, rest = order[:k], order[k:]
        row = self.rows[int(b.get("row", 0))] if self.rows else [None] * len(v)
        labels = [plain(f"{self.feature_names[i]} = {row[i]:.4g}" if row[i] is not None
                        else self.feature_names[i]) for i in shown]
        vals = [v[i] for i in shown]
        err = None
        if b.get("ci_low") and b.get("ci_high"):
            lo = np.array([np.nan if x is None else x for x in b["ci_low"]])
            hi = np.array([np.nan if x is None else x for x in b["ci_high"]])
            err = np.array([[v[i] - lo[i] for i in shown], [hi[i] - v[i] for i in shown]])
        if rest:
            labels.append(f"{len(rest)} others")
            vals.append(float(np.nansum(v[rest])))
            if err is not None:
                err = np.concatenate([err, [[0.0], [0.0]]], axis=1)
        fig = Figure(figsize=(6, 0.3 * len(vals) + 1.4))
        ax = fig.add_subplot()
        y = np.arange(len(vals))[::-1]
        ax.barh(y, vals, xerr=err, color=["#d6604d" if x >= 0 else "#4393c3" for x in vals])
        ax.set_yticks(y, labels, **LITERAL)
        ax.axvline(0, color="k", lw=0.5)
        ax.set_xlabel(plain(f"{b.get('method', self.method)} · target {b.get('target')}"),
                      **LITERAL)
        fig.tight_layout()
        return fig

    def _provenance(self) -> dict:
        from ..provenance import record, summary

        prov = record(self.method, [int(self.target)], getattr(self, "_extra", {}),
                      getattr(self, "_adapter", None) and self._adapter.model, getattr(
                          getattr(self, "_adapter", None), "framework", "external"),
                      (len(self.rows), len(self.feature_names)))
        prov.update({"view": "table", "row": int(self.row), "baseline": summary(
            self.bars.get("baseline")), "top_k": int(self.top_k)})
        return prov

    # --- what is computed ----------------------------------------------------------------
    def _snapshot(self) -> dict:
        return {n: getattr(self, n) for n in TABLE_COMPUTE}

    def baseline_row(self, snap: dict | None = None) -> np.ndarray:
        """The baseline row in use: the background's mean (or median) per feature, with the
        dragged values of ``baseline`` (feature name -> value) in their place."""
        snap = snap or self._snapshot()
        stats = self.background_stats[snap["baseline_kind"]]
        b = np.array([np.nan if v is None else v for v in stats], dtype=np.float64)
        for name, v in dict(snap["baseline"]).items():
            if name not in self.feature_names:
                raise NBExplainError(f"baseline names {name!r}, which is not a feature; the "
                                     f"features are {', '.join(self.feature_names)}.")
            b[self.feature_names.index(name)] = float(v)
        return b

    def options_for(self, snap: dict | None = None) -> dict:
        """The options of ``attribute(model, row, method=..., **options)`` the controls make."""
        snap = snap or self._snapshot()
        spec = get_method(snap["method"])
        o: dict[str, Any] = {k: v for k, v in self._extra.items() if k in spec.accepts}
        if "baseline" in spec.accepts:
            o["baseline"] = self.baseline_row(snap)[None].astype(
                self._adapter.to_numpy(self._x).dtype)
        if snap["method"] in ("shapley", "lime") and int(snap["budget"]):
            o["samples"] = int(snap["budget"])
        if snap["method"] == "shapley":
            o["estimator"] = snap["estimator"]
        return o

    def _row_x(self, snap: dict):
        i = snap["row"]
        n = int(self._x.shape[0])
        if not 0 <= i < n:
            raise NBExplainError(f"row={i} but there are {n} rows; use 0..{n - 1}.")
        return self._x[i:i + 1]

    def _show_classes(self, i: int) -> None:
        row = self._adapter.predict(self._x[i:i + 1])[0]
        probs = _probabilities(row, already=self._already)
        order = np.argsort(-probs)[:self._top_k]
        self.top_classes = [{"index": int(c), "label": self._labels[c], "prob": float(probs[c])}
                            for c in order]

    def _bars(self, snap: dict, ctx: JobContext | None) -> dict:
        """The bars of the row in ``snap`` (partial ones go out on the way with ``ctx``)."""
        target = snap["target"]
        if not 0 <= target < self._n_classes:
            raise NBExplainError(f"target {target} is out of range: the model has "
                                 f"{self._n_classes} classes (0..{self._n_classes - 1}).")
        x = self._row_x(snap)
        spec = get_method(snap["method"])
        options = self.options_for(snap)
        if ctx is not None and "check" in spec.accepts:
            options["check"] = ctx.check
        tgt = np.array([target], dtype=np.int64)
        state = self._adapter.thread_state()
        try:
            res = None
            for res in iterate(spec, self._adapter, x, tgt, **options):
                if res.done or ctx is None:
                    continue
                ctx.check()
                ctx.emit(self._content(snap, res, x, False), [], final=False)
            if ctx is not None:
                ctx.check()
        except BaseException:
            self._adapter.recover(state)
            raise
        return self._content(snap, res, x, True)

    def _content(self, snap: dict, res, x, final: bool) -> dict:
        values = np.asarray(self._adapter.to_numpy(res.values), np.float64).reshape(-1)
        ex = res.extras or {}
        if "base_value" in ex and "fx" in ex:
            base = float(np.ravel(ex["base_value"])[0])
            pred = float(np.ravel(ex["fx"])[0])
        else:
            tgt = np.array([snap["target"]], dtype=np.int64)
            b = self.baseline_row(snap)[None].astype(self._adapter.to_numpy(x).dtype)
            pred = float(np.ravel(self._adapter.to_numpy(self._adapter.scores(x, tgt)))[0])
            base = float(np.ravel(self._adapter.to_numpy(
                self._adapter.scores(self._adapter.as_tensor(b), tgt)))[0])
        content = {"kind": "bars", "row": int(snap["row"]), "method": snap["method"],
                   "target": int(snap["target"]), "final": final,
                   "values": _finite_list(values),
                   "base_value": base if np.isfinite(base) else None,
                   "prediction": pred if np.isfinite(pred) else None,
                   "baseline": _finite_list(self.baseline_row(snap)),
                   "ci_low": None, "ci_high": None}
        if ex.get("ci_low") is not None and ex.get("ci_high") is not None:
            lo, hi = (np.asarray(ex[k], np.float64).reshape(-1) for k in ("ci_low", "ci_high"))
            if lo.size == values.size:
                content["ci_low"], content["ci_high"] = _finite_list(lo), _finite_list(hi)
        if res.progress:
            content["progress"] = [int(res.progress[0]), int(res.progress[1])]
        return content

    # --- jobs ----------------------------------------------------------------------------
    def _on_control(self, change: dict) -> None:
        if not self._ready or self._closed or quieted():
            return
        if change["name"] == "target":
            self._follows = False
        if change["name"] == "row":
            self._show_classes_safe()
            if self._follows:
                self._follow_row()
        self._submit_bars(at_once=not self._from_browser(change["name"]))
        if self.summary:
            self._submit_summary()

    def _follow_row(self) -> None:
        """The new row's predicted class (a model with one output column: its target 0)."""
        try:
            x = self._row_x(self._snapshot())
            scores = np.asarray(self._adapter.predict(x)).reshape(1, -1)[0]
        except Exception:   # noqa: BLE001 - the bars job reports it
            return
        if scores.size > 1:
            with quiet():
                self.target = int(np.argmax(scores))

    def _show_classes_safe(self) -> None:
        try:
            self._row_x(self._snapshot())
            with quiet():
                self._show_classes(self.row)
        except NBExplainError:
            pass        # the bars job reports it

    def _on_summary(self, change: dict) -> None:
        if self._ready and not self._closed and not quieted() and change["new"]:
            self._submit_summary()

    def _submit_bars(self, at_once: bool = True) -> None:
        def body(ctx: JobContext) -> None:
            content = self._bars(self._snapshot(), ctx)
            ctx.check()
            ctx.emit(content, [], final=True)
            if not ctx.cancelled:
                with quiet():
                    self.bars = content
                    self.error = ""

        self._submit_view_job(body, at_once)

    def _submit_summary(self) -> None:
        def work(ctx: JobContext) -> None:
            snap = self._snapshot()
            spec = get_method(snap["method"])
            options = self.options_for(snap)
            if "check" in spec.accepts:
                options["check"] = ctx.check
            n = int(self._x.shape[0])
            tgt = np.full(n, snap["target"], dtype=np.int64)
            state = self._adapter.thread_state()
            try:
                res = spec.fn(self._adapter, self._x, tgt, **options)
            except BaseException:
                self._adapter.recover(state)
                raise
            values = np.asarray(self._adapter.to_numpy(res.values), np.float64)
            ctx.emit({"kind": "summary",
                      "values": [_finite_list(r) for r in values.reshape(n, -1)],
                      "feature_values": list(self.rows)}, [], final=True)
            self._summary_values = values

        if not self._closed:
            self._runner("summary").submit(self._next_id(), work)

    def _on_msg(self, _widget: Any, content: Any, _buffers: list) -> None:
        self._settle(content)

    @property
    def attribution_options(self) -> dict:
        """What ``attribute(model, rows[row], method=w.method, target=w.target, **...)``
        takes to compute the bars on screen."""
        return self.options_for()
