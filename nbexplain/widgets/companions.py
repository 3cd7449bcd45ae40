"""The image view's companions to the map: the IG path at α (the scrubber) and the
comparison of methods with their rank correlations. Each runs on its own runner, so a
scrubber move never cancels the map; a failure shows in the widget like the map's."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..export import heatmap_2d
from ..live.runner import Cancelled, JobContext
from ..methods import get_method
from .controls import CHOICES
from .display import downsample
from .serialize import decode_array, encode_array
from .views import display_u8, path_at, spearman


class _Companions:
    """A mixin of ``Explainer`` (uses its controls, ``_snapshot``, ``_inputs``, ``_options``,
    ``_encode``, ``_adapter``, ``_cf``, ``_extra`` and the runners of ``LiveWidget``)."""

    # provided by the widget this mixin is part of (declared for the type checker)
    _adapter: Any
    _cf: Any
    _extra: Any
    _closed: Any
    _snapshot: Any
    _inputs: Any
    _options: Any
    _encode: Any
    _runner: Any
    _next_id: Any
    alpha: Any
    compare: Any
    error: Any

    def _side_job(self, what: str, work: Callable[[JobContext], None]):
        """A path or comparison job whose failure shows in the widget like the map's."""
        def run(ctx: JobContext) -> None:
            try:
                work(ctx)
            except Exception as e:
                if not ctx.cancelled:
                    self.error = f"{what}: {type(e).__name__}: {e}"
                raise
        return run

    def _submit_path(self) -> None:
        def work(ctx: JobContext) -> None:
            snap = self._snapshot()
            inp = self._inputs(snap)
            state = self._adapter.thread_state()
            try:
                p = path_at(self._adapter, inp.x, inp.b, np.array([snap["target"]]),
                            float(self.alpha), int(snap["steps"]),
                            self._extra.get("batch_size"))
            except BaseException:
                self._adapter.recover(state)
                raise
            ctx.check()
            img = display_u8(p["input"], self._cf)
            g_meta, g_data, _, _ = encode_array(
                np.nan_to_num(downsample(heatmap_2d(p["gradient"], self._cf))), overflow="scale")
            a_meta, a_data, _, _ = encode_array(
                np.nan_to_num(downsample(heatmap_2d(p["accumulated"], self._cf))),
                overflow="scale")
            ctx.emit({"kind": "path", "alpha": float(self.alpha),
                      "image_meta": {"dtype": "uint8", "shape": list(img.shape)},
                      "grad_meta": g_meta, "accum_meta": a_meta},
                     [img.tobytes(), g_data, a_data], final=True)
            self._last_path = p

        if not self._closed:
            self._runner("path").submit(self._next_id(), self._side_job("the IG path", work))

    def _submit_compare(self) -> None:
        def work(ctx: JobContext) -> None:
            snap = self._snapshot()
            asked = list(dict.fromkeys(self.compare))      # in order, once each
            unknown = [m for m in asked if m not in CHOICES]
            names = [m for m in asked if m in CHOICES]
            inp = self._inputs(snap)
            tgt = np.array([snap["target"]], dtype=np.int64)
            maps, done, failed = [], [], []
            for name in names:
                spec = get_method(name)
                state = self._adapter.thread_state()
                try:
                    options = self._options(spec, snap, inp)
                    if "check" in spec.accepts:
                        options["check"] = ctx.check
                    res = spec.fn(self._adapter, inp.x, tgt, **options)
                except Cancelled:
                    raise
                except Exception as e:   # this method fails; the others still compare
                    self._adapter.recover(state)
                    failed.append(f"{name}: {type(e).__name__}: {e}")
                    ctx.emit({"kind": "compare", "method": name, "final": True,
                              "error": failed[-1]}, [], final=True)
                    continue
                except BaseException:
                    self._adapter.recover(state)
                    raise
                ctx.check()
                meta, data, mask, _ = self._encode(self._adapter.to_numpy(res.values)[0])
                maps.append(decode_array(meta, data).astype(np.float64))
                done.append(name)
                ctx.emit({"kind": "compare", "method": name, "meta": meta, "final": True},
                         [data] + ([mask] if mask else []), final=True)
            if maps:
                ctx.emit({"kind": "correlations", "methods": done, "matrix": spearman(maps)},
                         [], final=True)
            self._compared = dict(zip(done, maps))
            problems = ([f"unknown method(s) {', '.join(map(repr, unknown))}; the widget "
                         f"offers {', '.join(CHOICES)}"] if unknown else []) + failed
            if problems:
                self.error = "comparison: " + "; ".join(problems)

        if not self._closed:
            self._runner("compare").submit(self._next_id(),
                                           self._side_job("comparison", work))
