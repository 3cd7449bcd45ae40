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
    #: what was computed, how, on what, with which versions (written into saved figures)
    provenance: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        def short(a: Any) -> str:     # a batch's arrays summarised, not printed whole
            arr = np.asarray(a) if not callable(a) else None
            if arr is None or arr.dtype == object or arr.size <= 8:
                return repr(a if arr is None or arr.dtype == object else arr)
            with np.printoptions(threshold=8, edgeitems=3, precision=4):
                return repr(arr)

        d = "" if self.delta is None else f", delta={short(self.delta)}"
        return (f"Attribution(method={self.method!r}, shape={tuple(self.values.shape)}, "
                f"target={short(self.target)}{d})")

    def plot(self, index: int = 0, ax: Any = None, **kwargs: Any):
        """Draw the attribution with matplotlib: an overlay for images, bars for tabular data."""
        from .export import plot_attribution

        return plot_attribution(self, index=index, ax=ax, **kwargs)

    def save(self, path: str, index: int = 0, **kwargs: Any) -> str:
        """Save the figure as PNG, SVG or PDF (chosen by the file extension), with the
        provenance as file metadata (:func:`nbexplain.read_provenance` reads it back)."""
        from .export import save_attribution

        return save_attribution(self, path, index=index, **kwargs)

    # --- interop --------------------------------------------------------------------------
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """``np.asarray(a)`` is the values."""
        v = np.asarray(self.values)
        return v.astype(dtype) if dtype is not None else v

    def to_torch(self, device: Any = None):
        """The values as a torch tensor, on the model's device (or ``device``)."""
        import torch

        return torch.as_tensor(np.asarray(self.values),
                               device=device or self.extras.get("device", "cpu"))

    def to_tensorflow(self, device: Any = None):
        """The values as a TensorFlow tensor, on the model's device (or ``device``)."""
        import tensorflow as tf

        dev = device or self.extras.get("device")
        if dev and str(dev) != "cpu":
            with tf.device(str(dev)):
                return tf.convert_to_tensor(np.asarray(self.values))
        return tf.convert_to_tensor(np.asarray(self.values))

    def _feature_names(self, f: int) -> list[str]:
        names = self.extras.get("feature_names")
        return [str(n) for n in names] if names is not None and len(names) == f else [
            f"x{i}" for i in range(f)]

    def to_pandas(self):
        """A table's values as a DataFrame, one column per feature (its name)."""
        import pandas as pd

        v = np.asarray(self.values)
        if self.layout != "tabular" or v.ndim not in (1, 2):
            from ._errors import NBExplainError
            raise NBExplainError(f"to_pandas() is for tables (N×F values); these are "
                                 f"{self.layout} values of shape {v.shape}. Use np.asarray(a).")
        v2 = v[None] if v.ndim == 1 else v
        return pd.DataFrame(v2, columns=self._feature_names(v2.shape[1]))

    def to_shap(self):
        """A ``shap.Explanation``: the values, the base values (Shapley's, where known), the
        inputs as ``data`` and the feature names, so ``shap.plots.bar`` and
        ``shap.plots.waterfall`` draw nbexplain's results."""
        import shap

        v = np.asarray(self.values)
        base = self.extras.get("base_value")
        base = None if base is None else np.asarray(base, dtype=np.float64)
        f = v.shape[-1] if v.ndim else 0
        return shap.Explanation(values=v, base_values=base, data=self.inputs,
                                feature_names=self._feature_names(f)
                                if self.layout == "tabular" else None)
