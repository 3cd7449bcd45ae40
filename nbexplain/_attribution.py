"""The result type returned by :func:`nbexplain.attribute`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Attribution:
    """Attributions for a batch (or a single example) plus what produced them.

    ``values`` has the inputs' shape (a single example in gives a single example out).
    ``delta`` is the per-example completeness error for methods that have one, else ``None``.
    ``timings`` holds wall-clock seconds per phase.
    """

    values: np.ndarray
    method: str
    target: Any
    options: dict = field(default_factory=dict)
    delta: np.ndarray | None = None
    timings: dict = field(default_factory=dict)
    inputs: np.ndarray | None = None
    layout: str = "image"
    channels_first: bool = True
    extras: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        d = "" if self.delta is None else f", delta={np.asarray(self.delta)!r}"
        return (f"Attribution(method={self.method!r}, shape={tuple(self.values.shape)}, "
                f"target={self.target!r}{d})")

    def plot(self, index: int = 0, ax: Any = None, **kwargs: Any):
        """Draw the attribution with matplotlib: an overlay for images, bars for tabular data."""
        from .export import plot_attribution

        return plot_attribution(self, index=index, ax=ax, **kwargs)

    def save(self, path: str, index: int = 0, **kwargs: Any) -> str:
        """Save the figure as PNG, SVG or PDF (chosen by the file extension)."""
        from .export import save_attribution

        return save_attribution(self, path, index=index, **kwargs)
