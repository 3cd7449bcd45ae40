"""The image view as a figure: ``w.export()`` and the static picture of a saved notebook draw
the view as the browser does (``display.shown_map`` mirrors js/lib/display.ts), with its
provenance. A mixin of :class:`~nbexplain.widgets.explainer.Explainer`."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._attribution import Attribution
from ..export import display_image, heatmap_2d
from .display import shown_map


class _ImageFigure:
    """``Explainer``'s figure (uses its ``_last``, display traits and top classes)."""

    # provided by the widget this mixin is part of (declared for the type checker)
    _last: Any
    sign: Any
    top_k: Any
    clip: Any
    colormap: Any
    opacity: Any
    top_classes: Any
    target: Any
    method: Any

    def _figure(self):
        """The view as matplotlib draws it: the image, the overlay as the browser draws it
        (the colour map, the opacity, the sign, the top-k% area and the percentile clip;
        ``display.shown_map``), its colour bar, and the top classes."""
        from matplotlib.figure import Figure

        from ..export import plain

        a = self._last
        if a is None:
            return None
        hm = heatmap_2d(np.asarray(a.values)[0], a.channels_first)
        shown, vmin, vmax, signed = shown_map(hm, self.sign, float(self.top_k),
                                              float(self.clip))
        cmap = self.colormap if self.colormap != "auto" else (
            "RdBu_r" if signed or vmin < 0 else "inferno")
        fig = Figure(figsize=(7.2, 4))
        ax = fig.add_axes((0.01, 0.06, 0.56, 0.8))
        img = display_image(np.asarray(a.inputs)[0], a.channels_first)
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray",
                  interpolation="nearest")
        h, w = img.shape[:2]
        extent = None if shown.shape == (h, w) else (-0.5, w - 0.5, h - 0.5, -0.5)
        im = ax.imshow(np.ma.masked_invalid(shown), cmap=cmap, vmin=vmin, vmax=vmax,
                       alpha=float(self.opacity), extent=extent,
                       interpolation="nearest" if extent is None else "bilinear")
        ax.set_axis_off()
        cax = fig.add_axes((0.585, 0.1, 0.02, 0.72))
        fig.colorbar(im, cax=cax)
        fig.text(0.01, 0.95, plain(self._caption(a)), va="top", fontsize=9, usetex=False,
                 parse_math=False)
        classes = "\n".join(f"{plain(c['label'])[:28]}  {c['prob']:.1%}"
                            if c.get("prob") is not None else plain(c["label"])[:28]
                            for c in self.top_classes[:5])
        fig.text(0.69, 0.82, "top classes", va="top", fontsize=9, usetex=False,
                 parse_math=False)
        fig.text(0.69, 0.75, classes, va="top", fontsize=8, family="monospace",
                 usetex=False, parse_math=False)
        return fig

    def _caption(self, a: Attribution) -> str:
        label = next((c["label"] for c in self.top_classes if c["index"] == self.target),
                     str(self.target))
        shown = [] if self.sign == "both" else [f"sign {self.sign}"]
        if self.top_k < 100:
            shown.append(f"top {self.top_k:g}%")
        return " · ".join([a.method, f"{label} (class {self.target})"] + shown)

    def _provenance(self) -> dict:
        a = self._last
        prov = dict(a.provenance) if a is not None else {}
        prov.update({"view": "image", "method": self.method, "target": int(self.target),
                     "colormap": self.colormap, "clip": float(self.clip),
                     "sign": self.sign, "opacity": float(self.opacity)})
        return prov

