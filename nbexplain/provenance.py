"""Provenance in every figure nbexplain writes: what was computed, how, on what, with which
versions, as file metadata a reader can get back (:func:`read_provenance`):

* PNG: a ``nbexplain`` text chunk;
* SVG: the Dublin Core description inside ``<metadata>`` (``nbexplain provenance: {...}``);
* PDF: the document information's ``Subject``.

The record is JSON: ``method``, ``target``, ``options`` (arrays as their shape), ``baseline``,
``model`` (its class), ``framework``, ``input_shape``, ``versions`` (nbexplain, numpy,
python, and torch / tensorflow / keras when loaded).
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from typing import Any

import numpy as np

from ._errors import NBExplainError
from ._version import __version__

_SVG_PREFIX = "nbexplain provenance: "


def summary(v: Any) -> Any:
    """A JSON-safe summary of an option's value (arrays by shape and dtype)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v if not isinstance(v, float) or np.isfinite(v) else repr(v)
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item()
    if isinstance(v, (list, tuple)) and len(v) <= 16 and all(
            isinstance(e, (bool, int, float, str, type(None))) for e in v):
        return [summary(e) for e in v]
    shape = getattr(v, "shape", None)
    if shape is not None:
        return f"array{tuple(int(s) for s in shape)} {getattr(v, 'dtype', '')}".strip()
    if callable(v):
        return f"callable {getattr(v, '__qualname__', type(v).__name__)}"
    return f"<{type(v).__name__}>"


_OPTIONAL = ("torch", "tensorflow", "jax", "keras", "matplotlib")
#: the versions, per set of the optional modules loaded (they are read on every call)
_VERSIONS: dict[tuple, dict] = {}


def versions() -> dict:
    """nbexplain's, numpy's and Python's versions, and those of the frameworks loaded."""
    loaded = tuple(name in sys.modules for name in _OPTIONAL)
    hit = _VERSIONS.get(loaded)
    if hit is None:
        hit = {"nbexplain": __version__, "numpy": np.__version__,
               "python": platform.python_version()}
        for name in _OPTIONAL:
            mod = sys.modules.get(name)
            if mod is not None and getattr(mod, "__version__", None):
                hit[name] = str(mod.__version__)
        _VERSIONS[loaded] = hit
    return dict(hit)


def record(method: str, target: Any, options: dict, model: Any, framework: str,
           input_shape: tuple) -> dict:
    """The provenance of one result."""
    opts = {k: summary(v) for k, v in options.items() if k not in ("check", "progress_bar")}
    t = target
    if isinstance(t, np.ndarray):
        t = t.tolist() if t.size <= 64 else f"array{t.shape}"
    elif callable(t):
        t = summary(t)
    cls = type(model)
    return {"method": method, "target": summary(t) if not isinstance(t, list) else t,
            "options": opts, "baseline": opts.get("baseline"),
            "model": f"{cls.__module__}.{cls.__qualname__}", "framework": framework,
            "input_shape": [int(s) for s in input_shape], "versions": versions()}


def savefig_metadata(prov: dict, ext: str) -> dict:
    """``fig.savefig(..., metadata=...)`` for the file type."""
    text = json.dumps(prov, ensure_ascii=True, sort_keys=True)
    if ext == ".png":
        return {"nbexplain": text, "Software": f"nbexplain {__version__}"}
    if ext == ".svg":
        return {"Description": _SVG_PREFIX + text, "Creator": f"nbexplain {__version__}"}
    if ext == ".pdf":
        return {"Subject": text, "Creator": f"nbexplain {__version__}"}
    raise NBExplainError(f"no provenance for {ext!r} files; use .png, .svg or .pdf.")


def read_provenance(path: str | os.PathLike) -> dict:
    """The provenance record nbexplain wrote into a PNG, SVG or PDF figure."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".png":
            from PIL import Image

            with Image.open(path) as im:
                text = im.text.get("nbexplain") if hasattr(im, "text") else None
        elif ext == ".svg":
            import xml.etree.ElementTree as ET

            text = None
            for el in ET.parse(path).iter():
                body = el.text or ""
                if el.tag.endswith("description") and body.startswith(_SVG_PREFIX):
                    text = body[len(_SVG_PREFIX):]
        elif ext == ".pdf":
            text = _pdf_subject(open(path, "rb").read())
        else:
            raise NBExplainError(f"cannot read provenance from {path!r}: nbexplain writes it "
                                 "into .png, .svg and .pdf files.")
    except OSError as e:
        raise NBExplainError(f"cannot read {path!r}: {e}") from e
    if not text:
        raise NBExplainError(f"{path!r} holds no nbexplain provenance (it was not written by "
                             "nbexplain's .save() or w.export()).")
    return json.loads(text)


def _pdf_subject(data: bytes) -> str | None:
    """The ``/Subject`` string of a PDF's information dictionary (a literal string, as
    matplotlib writes ASCII text: backslash escapes for ``\\``, ``(`` and ``)``)."""
    m = re.search(rb"/Subject\s*\(", data)
    if not m:
        return None
    out, i, depth = bytearray(), m.end(), 1
    while i < len(data):
        c = data[i:i + 1]
        if c == b"\\":
            nxt = data[i + 1:i + 2]
            out += {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(nxt, nxt)
            i += 2
            continue
        if c == b"(":
            depth += 1
        elif c == b")":
            depth -= 1
            if depth == 0:
                break
        out += c
        i += 1
    return out.decode("latin-1")
