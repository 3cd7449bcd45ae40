"""The data-set methods as a view: permutation importance (bars with their spread) and
partial dependence with ICE curves for a chosen feature, drawn by the same code as their
``.plot()`` (a PNG in the ``figure`` trait); the feature picker is a trait."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import traitlets as t

from .._errors import NBExplainError
from ..backends.base import frame_columns
from ..live.runner import JobContext
from .live import LiveWidget, quiet, quieted


def _plot(result: Any, **plot_kwargs: Any):
    """A matplotlib Figure of ``result.plot()`` (no pyplot: nothing shows by itself)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=96)
    ax = fig.add_subplot()
    result.plot(ax=ax, **plot_kwargs)
    fig.tight_layout()
    return fig


def _png(result: Any, **plot_kwargs: Any) -> bytes:
    """The PNG of ``result.plot()`` (Agg, never the notebook's backend)."""
    fig = _plot(result, **plot_kwargs)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


class GlobalExplainer(LiveWidget):
    """A data-set view: ``kind`` is ``permutation_importance`` or ``partial_dependence``."""

    kind = t.Unicode("permutation_importance").tag(sync=True)
    feature = t.Unicode("").tag(sync=True)
    feature_names = t.List(t.Unicode()).tag(sync=True)
    figure = t.Bytes(b"").tag(sync=True)
    figure_meta = t.Dict().tag(sync=True)

    def __init__(self, model: Any, X: Any, y: Any = None, *,
                 kind: str = "permutation_importance", feature: Any = None,
                 feature_names: list[str] | None = None, **options: Any):
        super().__init__()
        self._ready = False
        if kind not in ("permutation_importance", "partial_dependence"):
            raise NBExplainError(f"kind={kind!r}; use 'permutation_importance' or "
                                 "'partial_dependence'.")
        if kind == "permutation_importance" and y is None:
            raise NBExplainError("permutation importance scores the model against the "
                                 "labels: pass y=.")
        self._model, self._X, self._y, self._options = model, X, y, options
        cols = frame_columns(X)
        f = int(np.shape(X)[1])
        names = ([str(s) for s in feature_names] if feature_names is not None
                 else cols if cols is not None else [f"x{i}" for i in range(f)])
        with quiet():
            self.view = "global"
            self.kind = kind
            self.feature_names = names
            if feature is None:
                feature = names[0]
            self.feature = names[feature] if isinstance(feature, (int, np.integer)) \
                else str(feature)
        self.result: Any = None
        self._draw(None)
        self._ready = True
        self.on_msg(lambda _w, content, _b: self._settle(content))
        self.observe(self._on_feature, names=["feature"])

    def _draw(self, ctx: JobContext | None) -> None:
        from ..methods.partial_dependence import partial_dependence
        from ..methods.permutation_importance import permutation_importance

        if self.kind == "permutation_importance":
            res: Any = self.result or permutation_importance(self._model, self._X, self._y,
                                                        feature_names=self.feature_names,
                                                        **self._options)
        else:
            if self.feature not in self.feature_names:
                raise NBExplainError(f"feature {self.feature!r} is not one of "
                                     f"{', '.join(self.feature_names)}.")
            res = partial_dependence(self._model, self._X,
                                     [self.feature_names.index(self.feature)],
                                     feature_names=self.feature_names, **self._options)
        if ctx is not None:
            ctx.check()
        png = _png(res)
        self.result = res
        with quiet(), self.hold_sync():
            self.figure = png
            self.figure_meta = {"width": 576, "height": 384, "kind": self.kind,
                                "feature": self.feature}
            self.error = ""

    def _figure(self):
        """The view as drawn (``w.export()``, the static picture of a saved notebook)."""
        return None if self.result is None else _plot(self.result)

    def _provenance(self) -> dict:
        from ..provenance import versions

        opts = {k: repr(v)[:80] for k, v in self._options.items()}
        return {"view": "global", "kind": self.kind, "feature": self.feature,
                "model": f"{type(self._model).__module__}.{type(self._model).__qualname__}",
                "input_shape": [int(s) for s in np.shape(self._X)], "options": opts,
                "versions": versions()}

    def _on_feature(self, change: dict) -> None:
        if not self._ready or self._closed or quieted() or self.kind != "partial_dependence":
            return

        self._submit_view_job(self._draw, not self._from_browser(change["name"]))
