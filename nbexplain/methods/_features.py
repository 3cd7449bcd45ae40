"""Feature groupings for perturbation methods (Shapley values, LIME).

A *feature* of a perturbation method is a group of input elements that is switched on (kept at
the input's value) or off (replaced by the baseline / background value) together. A grouping is
an integer map with one entry per input element: ``index[e] = g`` puts element ``e`` in group
``g`` (0..M-1), ``-1`` keeps the element at the input's value in every coalition.

``features=`` accepts (``layout`` is the batch layout: tabular N×F, sequence N×T×D, image):

* ``None`` — the default for the layout: tabular → each column; sequence → each position
  (all D channels of a time step together); image → an 8×8 grid of patches (all channels of a
  patch together).
* ``"columns"`` / ``"elements"`` — every input element on its own (columns of tabular data).
* ``"positions"`` / ``"tokens"`` — each position along the first example axis (tokens of a
  sequence; columns of N×T integer token ids).
* ``"grid"`` or ``("grid", patch)`` — image patches of ``patch`` pixels (an int or (ph, pw));
  ``"grid"`` alone makes an 8×8 grid (patch = ceil(H/8) × ceil(W/8)).
* ``"slic"`` or ``("slic", n_segments)`` or ``("slic", {slic kwargs})`` — SLIC superpixels per
  image through scikit-image (optional: ``pip install scikit-image``).
* ``{name: indices}`` — named groups of columns (tabular) or positions (sequences); indices
  are ints, or names from ``feature_names``. Columns in no group become groups of their own.
* a list of lists of indices — unnamed groups, same rules.
* an integer numpy array (or tensor) — explicit group ids (like Captum's ``feature_mask``):
  one example's shape, the batch's shape (per-example groupings), a leading part of the
  example's shape (T for T×D sequences, shared by the dimensions) or for images the spatial
  H×W shape (shared by all channels), and those with the batch axis in front (N×T word ids
  that differ per sentence, N×H×W segments); ``-1`` marks elements that are never
  perturbed. Ids are renumbered 0..M-1 in increasing order.

When groupings differ between examples (per-example ids, SLIC), M is the largest group count;
examples with fewer groups get empty groups, whose Shapley value is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .._errors import NBExplainError


@dataclass
class FeatureGroups:
    """An element → group map shared by the batch (``index.shape[0] == 1``) or per example."""

    index: np.ndarray          # int64, (1 or N, *example_shape); -1 = never perturbed
    names: list[str]
    kind: str

    @property
    def m(self) -> int:
        return len(self.names)

    @property
    def per_example(self) -> bool:
        return self.index.shape[0] > 1

    def element_masks(self, z: np.ndarray) -> np.ndarray:
        """Coalitions (C, M) bool -> element masks (G, C, *example_shape), G = 1 or N.

        An element is True (kept at the input) when its group is in the coalition, and
        always True when it belongs to no group.
        """
        z = np.asarray(z, dtype=bool)
        if self._identity():
            return z[None]
        ext = np.concatenate([z, np.ones((z.shape[0], 1), dtype=bool)], axis=1)  # id -1 -> M
        idx = np.where(self.index < 0, self.m, self.index)
        out = ext[:, idx]                                      # C, G, *ex
        return np.moveaxis(out, 0, 1)

    def _identity(self) -> bool:
        """True when group j is exactly element j of a 1-axis example (tabular columns)."""
        ident = getattr(self, "_ident", None)
        if ident is None:
            ident = (self.index.shape[0] == 1 and self.index.ndim == 2
                     and self.index.shape[1] == self.m
                     and bool(np.array_equal(self.index[0], np.arange(self.m))))
            self._ident = ident
        return ident

    def spread(self, group_values: np.ndarray) -> np.ndarray:
        """Per-group values (N, M) -> per-element values (N, *example_shape).

        Every element of a group gets the group's whole value (not a share of it), as Captum
        does with a ``feature_mask``; elements in no group get 0. Sums over elements therefore
        count a group once per element; sum ``group_values`` for efficiency checks.
        """
        gv = np.asarray(group_values, dtype=np.float64)
        n = gv.shape[0]
        ext = np.concatenate([gv, np.zeros((n, 1))], axis=1)
        idx = np.where(self.index < 0, self.m, self.index)
        if idx.shape[0] == 1:
            return ext[:, idx[0]]
        return np.stack([ext[i, idx[i]] for i in range(n)])

    def sizes(self) -> np.ndarray:
        """Number of elements per group, (G, M)."""
        return np.stack([np.bincount(r[r >= 0].ravel(), minlength=self.m)[:self.m]
                         for r in self.index.reshape(self.index.shape[0], -1)])


def _spatial(ex_shape: tuple, channels_first: bool) -> tuple[int, int]:
    """Example-axis indices of H and W for a 3-axis image example."""
    return (1, 2) if channels_first else (0, 1)


def _expand_to_example(ids: np.ndarray, ex_shape: tuple, kind: str,
                       channels_first: bool) -> np.ndarray:
    """A group-id array of a sub-shape (H×W for images, T for sequences) -> example shape."""
    if ids.shape == ex_shape:
        return ids
    if kind == "image" and len(ex_shape) == 3:
        h, w = _spatial(ex_shape, channels_first)
        if ids.shape == (ex_shape[h], ex_shape[w]):
            ch = 0 if channels_first else 2
            return np.broadcast_to(np.expand_dims(ids, ch), ex_shape)
    if ids.ndim < len(ex_shape) and ids.shape == ex_shape[:ids.ndim]:
        return np.broadcast_to(ids.reshape(ids.shape + (1,) * (len(ex_shape) - ids.ndim)),
                               ex_shape)
    raise NBExplainError(
        f"features has shape {ids.shape}, which does not match the examples' shape {ex_shape}"
        + (" (or their H×W)" if kind == "image" else "")
        + ": pass one group id per element, per example (batch shape), or a named spec such "
        "as 'columns', 'positions', 'grid'.")


def _renumber(ids: np.ndarray) -> tuple[np.ndarray, list]:
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        if ids.dtype.kind == "f" and np.all(np.isfinite(ids)) and np.all(ids == np.round(ids)):
            ids = ids.astype(np.int64)
        elif ids.dtype.kind == "b":
            ids = ids.astype(np.int64)
        else:
            raise NBExplainError(f"features array has dtype {ids.dtype}; group ids must be "
                                 "integers (-1 for elements that are never perturbed).")
    ids = ids.astype(np.int64)
    if np.any(ids < -1):
        raise NBExplainError("features array has ids below -1; use 0.. for groups and -1 for "
                             "elements that are never perturbed.")
    uniq = np.unique(ids[ids >= 0])
    lut = {int(u): i for i, u in enumerate(uniq)}
    out = np.full(ids.shape, -1, dtype=np.int64)
    for u, i in lut.items():
        out[ids == u] = i
    return out, [int(u) for u in uniq]


def _grid(ex_shape: tuple, channels_first: bool, patch: Any) -> tuple[np.ndarray, list[str]]:
    h_ax, w_ax = _spatial(ex_shape, channels_first)
    H, W = ex_shape[h_ax], ex_shape[w_ax]
    if patch is None:
        ph, pw = max(1, math.ceil(H / 8)), max(1, math.ceil(W / 8))
    elif isinstance(patch, (int, np.integer)):
        ph = pw = int(patch)
    else:
        ph, pw = (int(p) for p in patch)
    if ph < 1 or pw < 1 or ph > H or pw > W:
        raise NBExplainError(f"grid patch {(ph, pw)} does not fit images of {H}×{W} pixels; "
                             "use a patch between 1 and the image size.")
    rows, cols = math.ceil(H / ph), math.ceil(W / pw)
    cell = (np.arange(H)[:, None] // ph) * cols + (np.arange(W)[None, :] // pw)
    ch = 0 if channels_first else 2
    ids = np.broadcast_to(np.expand_dims(cell, ch), ex_shape)
    names = [f"patch r{r} c{c}" for r in range(rows) for c in range(cols)]
    return ids.astype(np.int64), names


def names_columns(spec: Any) -> bool:
    """Whether a ``features=`` spec refers to columns by index or name (None, 'columns', a
    dict of groups, a list of index lists), so a DataFrame's column names are the names
    ``feature_names`` gives; not an integer array of group ids, whose names are the
    groups'."""
    if spec is None:
        return True
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        spec = spec[0]
    if isinstance(spec, str):
        return spec.lower() in ("columns", "elements", "pixels")
    if isinstance(spec, dict):
        return True
    return isinstance(spec, (list, tuple)) and len(spec) > 0 and all(
        isinstance(g, (list, tuple, range, np.ndarray)) for g in spec)


def _slic_options(arg: Any) -> dict:
    """skimage ``slic`` keyword arguments from ``features=('slic', arg)``, checked."""
    kw: dict = {"n_segments": 64, "compactness": 10.0, "start_label": 0}
    if isinstance(arg, dict):
        fixed = {"channel_axis", "start_label", "image"} & set(arg)
        if fixed:
            raise NBExplainError(
                f"features=('slic', {{...}}) cannot set {sorted(fixed)}: nbexplain passes "
                "the image with its channels last and numbers segments from 0. Leave them "
                "out.")
        kw.update(arg)
    elif arg is not None:
        kw["n_segments"] = arg
    n = kw["n_segments"]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise NBExplainError(
            f"SLIC n_segments={n!r}; it must be a whole number >= 1 (the approximate number "
            "of superpixels), e.g. features=('slic', 50).")
    c = kw["compactness"]
    if isinstance(c, bool) or not isinstance(c, (int, float, np.number)) or not c > 0:
        raise NBExplainError(
            f"SLIC compactness={c!r}; it must be a number > 0 (10 is the default; larger "
            "gives squarer superpixels).")
    return kw


def _slic(x: np.ndarray, channels_first: bool, arg: Any) -> tuple[np.ndarray, list[str]]:
    try:
        from skimage.segmentation import slic
    except ImportError as e:
        raise NBExplainError(
            "features='slic' needs scikit-image, which is not installed: `pip install "
            "scikit-image`, or use features='grid' (square patches) or an integer array of "
            "segment ids from your own segmentation.") from e
    kw = _slic_options(arg)
    maps = []
    for img in x:
        a = np.moveaxis(img, 0, -1) if channels_first else img
        a = a.astype(np.float64)
        lo, hi = a.min(), a.max()
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        try:
            seg = slic(a, channel_axis=-1, **kw)
        except (TypeError, ValueError, ZeroDivisionError) as e:
            raise NBExplainError(
                f"SLIC failed with the options {kw}: {type(e).__name__}: {e}. Pass "
                "features=('slic', n_segments) or ('slic', {...}) with keyword arguments of "
                "skimage.segmentation.slic (n_segments, compactness, sigma, mask, ...).") from e
        if seg.max() < 0:
            raise NBExplainError(
                f"SLIC found no segments in an image with the options {kw}; raise "
                "n_segments or max_num_iter, or check the mask.")
        seg, _ = _renumber(seg)
        ch = 0 if channels_first else 2
        maps.append(np.broadcast_to(np.expand_dims(seg, ch), img.shape))
    ids = np.stack(maps).astype(np.int64)
    m = int(ids.max()) + 1
    return ids, [f"segment {i}" for i in range(m)]


def _named_groups(spec: Any, n_units: int, feature_names: Sequence[str] | None,
                  what: str) -> tuple[np.ndarray, list[str]]:
    """Groups over ``n_units`` columns/positions -> (ids (n_units,), names)."""
    if isinstance(spec, dict):
        items = list(spec.items())
    else:
        items = [(None, g) for g in spec]
    if feature_names is not None and len(feature_names) != n_units:
        raise NBExplainError(
            f"feature_names has {len(feature_names)} names but there are {n_units} {what}s; "
            f"give one name per {what} (the groups are named by the keys of features=).")
    unit_names = list(feature_names) if feature_names is not None else [
        f"{'x' if what == 'column' else 't'}{i}" for i in range(n_units)]
    ids = np.full(n_units, -1, dtype=np.int64)
    names: list[str] = []
    for gi, (name, members) in enumerate(items):
        if isinstance(members, (int, np.integer, str)):
            members = [members]
        cols = []
        for c in members:
            if isinstance(c, str):
                if c not in unit_names:
                    raise NBExplainError(f"feature group {name!r} names {c!r}, which is not "
                                         f"one of the feature names {unit_names[:10]}...")
                c = unit_names.index(c)
            c = int(c)
            if not -n_units <= c < n_units:
                raise NBExplainError(f"feature group {name if name is not None else gi!r} "
                                     f"has {what} {c}, but there are {n_units} {what}s.")
            c %= n_units
            if ids[c] >= 0:
                raise NBExplainError(f"{what} {c} is in two feature groups; each {what} may "
                                     "belong to one group only.")
            cols.append(c)
        if not cols:
            raise NBExplainError(f"feature group {name if name is not None else gi!r} is "
                                 "empty; give it at least one index.")
        ids[cols] = len(names)
        names.append(str(name) if name is not None else "+".join(unit_names[c] for c in cols))
    for c in range(n_units):  # leftovers: groups of their own
        if ids[c] < 0:
            ids[c] = len(names)
            names.append(unit_names[c])
    return ids, names


def resolve_features(spec: Any, x: np.ndarray, layout: str, channels_first: bool,
                     feature_names: Sequence[str] | None = None) -> FeatureGroups:
    """Turn a ``features=`` spec into a :class:`FeatureGroups` for the batch ``x`` (numpy).

    ``feature_names`` name the features: the columns or positions (also those that named
    groups refer to), or one name per group of an id array, a grid or a segmentation. Every
    feature ends with a name of its own."""
    fg = _resolve_features(spec, x, layout, channels_first, feature_names)
    if feature_names is not None and fg.kind != "groups":
        given = [str(f) for f in feature_names]
        if given != list(fg.names):      # grids, segmentations, per-example id arrays
            if len(given) != len(fg.names):
                raise NBExplainError(
                    f"feature_names has {len(given)} names but features={_short(spec)} "
                    f"defines {len(fg.names)} features; give one name per feature.")
            fg = FeatureGroups(fg.index, given, fg.kind)
    seen: dict[str, int] = {}
    for nm in fg.names:
        seen[nm] = seen.get(nm, 0) + 1
    dup = [nm for nm, c in seen.items() if c > 1]
    if dup:
        raise NBExplainError(
            f"two features are both named {dup[0]!r} (names: {list(fg.names)[:12]}); give "
            "each feature or group a name of its own.")
    return fg


def _short(spec: Any) -> str:
    r = repr(spec)
    return r if len(r) <= 40 else type(spec).__name__


def _resolve_features(spec: Any, x: np.ndarray, layout: str, channels_first: bool,
                      feature_names: Sequence[str] | None = None) -> FeatureGroups:
    ex_shape = tuple(int(s) for s in x.shape[1:])
    n = int(x.shape[0])
    n_el = int(np.prod(ex_shape)) if ex_shape else 1
    if feature_names is not None:
        feature_names = [str(f) for f in feature_names]

    def with_names(ids, default_names, kind):
        names = default_names
        if feature_names is not None and kind in ("columns", "positions", "custom"):
            if len(feature_names) != len(default_names):
                raise NBExplainError(
                    f"feature_names has {len(feature_names)} names but there are "
                    f"{len(default_names)} features; give one name per feature.")
            names = list(feature_names)
        return FeatureGroups(np.asarray(ids, dtype=np.int64).reshape((-1,) + ex_shape),
                             names, kind)

    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        name, arg = spec
    else:
        name, arg = spec, None
    if name is None:
        name = {"tabular": "columns", "sequence": "positions", "image": "grid"}.get(layout,
                                                                                "columns")
    if isinstance(name, str):
        key = name.lower()
        if key in ("columns", "elements", "pixels"):
            ids = np.arange(n_el).reshape(ex_shape)
            if len(ex_shape) == 1:
                default = [f"x{i}" for i in range(n_el)]
            else:
                default = [",".join(map(str, ix)) for ix in np.ndindex(*ex_shape)]
            return with_names(ids, default, "columns")
        if key in ("positions", "tokens"):
            t = ex_shape[0]
            ids = np.broadcast_to(np.arange(t).reshape((t,) + (1,) * (len(ex_shape) - 1)),
                                  ex_shape)
            return with_names(ids, [f"t{i}" for i in range(t)], "positions")
        if key in ("grid", "patches", "slic"):
            if layout != "image" or len(ex_shape) != 3:
                raise NBExplainError(
                    f"features={name!r} needs image inputs (N×C×H×W or N×H×W×C); these "
                    f"inputs are {layout} with examples of shape {ex_shape}. Use 'columns' or "
                    "'positions', or an integer array of group ids.")
            if key == "slic":
                ids, names = _slic(x, channels_first, arg)
                return FeatureGroups(ids, names, "slic")
            ids, names = _grid(ex_shape, channels_first, arg)
            return FeatureGroups(ids[None], names, "grid")
        raise NBExplainError(
            f"unknown features={name!r}; use None, 'columns', 'positions', 'grid', "
            "('grid', patch), 'slic', a dict of named groups, a list of index lists, or an "
            "integer array of group ids.")
    if isinstance(spec, dict) or (isinstance(spec, (list, tuple)) and len(spec) > 0 and all(
            isinstance(g, (list, tuple, range, np.ndarray)) for g in spec)):
        if layout == "image":
            raise NBExplainError(
                "named/list feature groups index columns or positions; for images pass an "
                "integer array of segment ids (H×W or the example's shape), 'grid' or 'slic'.")
        n_units = ex_shape[0] if ex_shape else 1
        what = "column" if len(ex_shape) == 1 else "position"
        ids1, names = _named_groups(spec, n_units, feature_names, what)
        ids = np.broadcast_to(ids1.reshape((n_units,) + (1,) * (len(ex_shape) - 1)), ex_shape)
        return FeatureGroups(np.asarray(ids, dtype=np.int64)[None], names, "groups")
    # an explicit integer array of group ids
    if hasattr(spec, "detach"):
        spec = spec.detach().cpu().numpy()
    elif hasattr(spec, "numpy") and not isinstance(spec, np.ndarray):
        spec = spec.numpy()
    ids = np.asarray(spec)
    per_example = ids.ndim == len(ex_shape) + 1 and ids.shape[0] == n and ids.shape[1:] == ex_shape
    if (not per_example and ids.ndim >= 2 and ids.shape[0] == n and ids.shape != ex_shape
            and ids.ndim <= len(ex_shape)):
        # per example, of a sub-shape: (N, T) word ids of (T, D) sequences, (N, H, W)
        # segments of images; a whole example's shape stays one grouping for the batch
        try:
            ids = np.stack([_expand_to_example(r, ex_shape, layout, channels_first)
                            for r in ids])
            per_example = True
        except NBExplainError:
            pass
    if per_example:
        per = []
        for r in ids:
            rr, _ = _renumber(r)
            per.append(rr)
        ids2 = np.stack(per)
        m = int(ids2.max()) + 1 if ids2.size and ids2.max() >= 0 else 0
        if m == 0:
            raise NBExplainError("features marks every element -1 (never perturbed); give at "
                                 "least one group id >= 0.")
        return FeatureGroups(ids2, [f"group {i}" for i in range(m)], "custom")
    ids = _expand_to_example(ids, ex_shape, layout, channels_first)
    ids, orig = _renumber(ids)
    if not orig:
        raise NBExplainError("features marks every element -1 (never perturbed); give at "
                             "least one group id >= 0.")
    names = [f"group {u}" for u in orig]
    if feature_names is not None:
        if len(feature_names) != len(orig):
            raise NBExplainError(f"feature_names has {len(feature_names)} names but features "
                                 f"defines {len(orig)} groups; give one name per group.")
        names = list(feature_names)
    return FeatureGroups(ids[None], names, "custom")
