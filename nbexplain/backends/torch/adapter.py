"""PyTorch adapter: an ``nn.Module`` or any callable on torch tensors.

Everything runs on the device that holds the model's parameters. The model is never changed:
no ``.eval()``/``.train()`` flips, no ``requires_grad`` flips on parameters, no ``.grad`` writes
(input gradients come from ``torch.autograd.grad``, or the engine call it wraps, on our own leaf),
and hooks only live inside context managers that remove them in ``finally``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np
import torch

from ..._errors import NBExplainError, user_stacklevel
from ..base import (Adapter, check_finite, check_float_input, check_rows,
                    check_target_width, host_array, not_a_tensor, resolve_target,
                    select_output)
from .engine import _engine_grad, _has_torch_function
from .hooks import despite_training, recover
from .layers import _LayerCapture
from .memory_format import _MemoryFormatTuning
from .scan import _SEQUENCE_LAYERS, _scan_model

_INPLACE_INPUT = (
    "the model modifies its input tensor in place (e.g. x.mul_(...), x += ..., x[...] = ..., "
    "or ReLU(inplace=True) applied to the input): attributions need the input unchanged "
    "between the passes that reuse it. Start the model's forward with `x = x.clone()`, or "
    "use the out-of-place op (x = x * 2, ReLU(inplace=False)) on the input.")


class TorchAdapter(_LayerCapture, _MemoryFormatTuning, Adapter):
    framework = "torch"
    supports_gradients = True
    channels_first = True

    def __init__(self, model: Any, *, output: Any = None, score: str = "logit",
                 device: Any = None):
        self._bind(model, output, score, "an nn.Module or a function of torch tensors")
        dev, dtype, self._training = _scan_model(model)
        self._device = torch.device(device) if device is not None else dev
        self._device_name = str(self._device)
        self._borrowed: set[int] = set()   # storages of the caller's memory (as_tensor)
        self.dtype = dtype
        if self._training:
            warnings.warn(
                "the model is in training mode: dropout makes attributions random and "
                "BatchNorm updates its running statistics on every forward pass. nbexplain does "
                "not change your model; call model.eval() yourself if that is not intended.",
                stacklevel=user_stacklevel(),
            )

    def input_count(self) -> int | None:
        """The required positional arguments of ``forward`` (or of the callable)."""
        import inspect

        fn = self.model.forward if isinstance(self.model, torch.nn.Module) else self.model
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            return None
        return sum(1 for p in params if p.default is p.empty
                   and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))

    def output_activation(self) -> str | None:
        """'softmax'/'sigmoid' for an nn.Sequential ending in nn.Softmax/nn.Sigmoid (the
        selected output of any other model is told by its rows, see base)."""
        m = self.model
        if isinstance(m, torch.nn.Sequential) and len(m) and self.output is None:
            last = m[-1]
            if isinstance(last, torch.nn.Softmax):
                return "softmax"
            if isinstance(last, torch.nn.Sigmoid):
                return "sigmoid"
        return None

    def single_example_ranks(self) -> frozenset:
        """Input ranks that are one example whatever the model answers to them.

        torch layers also run unbatched inputs: an (N)-d convolution takes (N, C, *spatial)
        batches or one (C, *spatial) example, and recurrent and attention layers take
        (N, T, D) batches or one (T, D) sequence. A one-row probe cannot tell these apart
        (an LSTM answers a (1, D) slice as a sequence of one step), so the model's layers
        decide. Not for a model that starts from token ids (an embedding): its batches are
        (N, T) integers."""
        if not isinstance(self.model, torch.nn.Module):
            return frozenset()
        dims, sequence = set(), False
        for m in self.model.modules():
            if isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag)):
                return frozenset()
            if isinstance(m, torch.nn.modules.conv._ConvNd):
                dims.add(len(m.kernel_size))
            elif isinstance(m, _SEQUENCE_LAYERS):
                sequence = True
        if dims:
            return frozenset(d + 1 for d in dims) if len(dims) == 1 else frozenset()
        return frozenset({2}) if sequence else frozenset()

    # --- conversion ---------------------------------------------------------------------
    @property
    def device(self) -> str:
        return self._device_name

    @property
    def pass_elements(self) -> int:  # type: ignore[override]
        # On a CPU, passes of ~1 MiB of float32 input keep activations in cache: IG with 50
        # steps ran 0.6x (small CNN, 400 points in passes of 64-170) and 0.7x (ResNet-18-like,
        # passes of 10) the time of one pass over all points, with a third of the peak memory;
        # forward-only passes of the small CNN over 2048 rows ran 330 ms in passes of 64-128
        # rows, 464 ms in passes of 170 and 748 ms in one pass. Accelerators want large batches.
        return 2 ** 18 if self._device.type == "cpu" else 2 ** 24

    def as_tensor(self, x: Any) -> torch.Tensor:
        """On the model's device, in the model's float dtype. Where no conversion is needed
        the caller's memory is borrowed, not copied (an input the size of a ResNet image
        would add its size to the peak memory); ``_call`` hands the model a copy of
        borrowed memory whenever it could write into it, so the caller's array or tensor is
        never written to."""
        if self._device.type == "meta":
            raise NBExplainError(
                "the model's parameters are on the 'meta' device: they hold no values (a "
                "model built under torch.device('meta'), or loaded lazily and never filled). "
                "Materialize it first, e.g. model.to_empty(device='cpu') and then "
                "model.load_state_dict(weights).")
        if isinstance(x, torch.Tensor):
            if x.is_meta:
                raise NBExplainError("the inputs are a tensor on the 'meta' device, which "
                                     "holds no values; pass the real data.")
            # a tensor made under torch.inference_mode() cannot join autograd: a normal copy
            src = x.clone() if x.is_inference() else x.detach()
        else:
            a = host_array(x)
            if not a.flags.writeable:   # e.g. a copy-on-write DataFrame's values: torch
                a = a.copy()            # warns about (and cannot protect) read-only memory
            src = torch.as_tensor(a)
        dtype = self.dtype if src.is_floating_point() and self.dtype is not None else src.dtype
        # (.to() of a tensor already on the device in the dtype returns it, after a dispatch)
        t = src if src.dtype == dtype and src.device == self._device else src.to(
            self._device, dtype)
        ptr = t.untyped_storage().data_ptr()
        if ptr == src.untyped_storage().data_ptr():
            self._borrowed.add(ptr)
        return t

    def to_numpy(self, t: Any) -> np.ndarray:
        if isinstance(t, torch.Tensor):
            t = t.detach()
            if t.device.type != "cpu":
                t = t.cpu()
            if t.dtype == torch.bfloat16:   # numpy has no bfloat16
                t = t.float()
            # a channels_last result comes back C-ordered like any other
            return t.numpy() if t.is_contiguous() else np.ascontiguousarray(t.numpy())
        return np.asarray(t)

    def check_input(self, x: torch.Tensor, needs_gradients: bool) -> None:
        if x.is_complex():
            check_float_input(np.zeros(0, dtype=np.complex64), needs_gradients)
        if x.is_floating_point():
            # one reduction: a finite sum means every value is finite (NaN and ±inf
            # propagate); only a non-finite sum (or an overflow) pays for the full check
            if not math.isfinite(float(x.sum())):
                check_finite(self.to_numpy(x))
        else:
            check_float_input(self.to_numpy(x.flatten()[:0]), needs_gradients)

    # --- evaluation ---------------------------------------------------------------------
    def _select_output(self, out: Any, score: str | None = None) -> torch.Tensor:
        out = select_output(out, self.output)
        if not isinstance(out, torch.Tensor):
            raise not_a_tensor(out, self.output)
        if (score or self.score) == "probability":
            # one logit per example (a binary classifier trained with BCEWithLogits): the
            # sigmoid; a softmax over one column is always 1, over an (N,) output it would
            # mix the examples of the batch
            out = (torch.sigmoid(out) if out.dim() <= 1 or out.shape[-1] == 1
                   else torch.softmax(out, dim=-1))
        return out

    def forward(self, x: torch.Tensor, score: str | None = None) -> torch.Tensor:
        return self._select_output(self._call(x), score)

    def _call(self, x: torch.Tensor) -> Any:
        """``model(x)``, refusing a model that writes into its input.

        nbexplain reuses its input tensors across passes (the example, the baseline, the
        batch the target was read from), so a model that modifies its input in place (e.g.
        ``x.mul_(2)`` or ``ReLU(inplace=True)`` applied to the input) would silently corrupt
        every later pass. The tensor's version counter, which every in-place op bumps, tells;
        on a leaf that requires grad torch refuses the write itself. Either way the run stops
        with an NBExplainError naming the fix, before a wrong number is returned. Memory
        borrowed from the caller (``as_tensor``) reaches the model only as a leaf that
        requires grad (written to: refused before the write) or as a copy, so the caller's
        arrays are never written to."""
        if (self._borrowed and not x.requires_grad
                and x.untyped_storage().data_ptr() in self._borrowed):
            x = x.clone()
        if x.is_inference():            # inference tensors keep no version counter
            return self.model(x)
        v = x._version
        try:
            out = self.model(x)
        except RuntimeError as e:
            # torch's refusal of a write into x itself (a leaf that requires grad); one about
            # another leaf (Grad-CAM's layer output) is for the caller to handle
            if x.requires_grad and "in-place operation" in str(e) and "leaf" in str(e):
                raise NBExplainError(_INPLACE_INPUT) from e
            raise
        if x._version != v:
            raise NBExplainError(_INPLACE_INPUT)
        return out

    def predict(self, x: Any, batch_size: int | None = None,
                score: str | None = None) -> np.ndarray:
        x = self.as_tensor(x)
        n = x.shape[0]
        bs = n if not batch_size else batch_size
        outs = []
        with torch.no_grad():
            for i in range(0, n, bs):
                outs.append(self.forward(x[i:i + bs], score))
        return self.to_numpy(torch.cat(outs, 0))

    def resolve_target(self, target: Any, x: torch.Tensor) -> np.ndarray | Callable:
        if callable(target) and not isinstance(target, str):
            return target
        with torch.no_grad():
            out = self.forward(x)
        return resolve_target(target, self.to_numpy(out), x.shape[0])

    def _scores(self, out: torch.Tensor, target: Any, grad: bool = False) -> torch.Tensor:
        """(N,) target scores. A callable target's numpy result is taken where no gradient
        flows through it (``grad`` False: Shapley, occlusion, LIME); gradient methods need a
        tensor computed from the output."""
        if callable(target):
            s = target(out)
            if not isinstance(s, torch.Tensor) and not grad:
                a = np.asarray(s)
                if a.dtype.kind in "fiub" and a.shape == (out.shape[0],):
                    s = torch.as_tensor(a, device=out.device)
            if not isinstance(s, torch.Tensor):
                raise NBExplainError(
                    f"a callable target must return a torch tensor computed from the output "
                    f"(one score per row of the output it is given, here shape "
                    f"({out.shape[0]},)); it returned "
                    f"{type(s).__name__}. Keep it in torch (no .detach(), .numpy() or "
                    "float()), e.g. target=lambda out: out[:, 1] - out[:, 0].")
            if s.shape != (out.shape[0],):
                raise NBExplainError(
                    "a callable target must return one score per example (a tensor of shape "
                    f"({out.shape[0]},)); it returned {getattr(s, 'shape', type(s))}.")
            return s
        flat = out if out.dim() == 2 else out.reshape(out.shape[0], -1)
        if flat.shape[1] == 1:
            return flat[:, 0]
        return flat.gather(1, self._target_column(target, flat)).squeeze(1)

    def _target_column(self, target: Any, flat: torch.Tensor,
                       check: bool = True) -> torch.Tensor:
        """Integer targets as an (N, 1) index tensor on ``flat``'s device, checked against the
        width of the (N, K) output actually computed (a remembered shape can be stale)
        unless the caller lets the indexing op refuse it (``check=False``)."""
        tn = np.asarray(target, dtype=np.int64)
        if tn.shape[0] != flat.shape[0]:
            check_rows(flat.shape[0], tn.shape[0])
        if check:
            check_target_width(tn, flat.shape[1])
        idx = torch.from_numpy(tn).view(-1, 1)
        return idx if flat.device.type == "cpu" else idx.to(flat.device)

    def _score_gradient(self, out: torch.Tensor, target: Any, wrt: torch.Tensor,
                        want_scores: bool, what: str):
        """``(scores, d Σ scores / d wrt)``: the (N,) detached target scores (None for integer
        targets when not ``want_scores``) and the gradient.

        Integer targets seed the backward pass with the one-hot of the targets on the
        (N, K) output itself, which gives the same numbers as differentiating the sum of the
        gathered column (the gather's backward scatters the ones of the sum's into zeros) with
        two fewer nodes recorded and run: measured ~15 µs of a ~160 µs MLP call."""
        if callable(target):
            s = self._scores(out, target, grad=True)
            if not (s.is_floating_point() or s.is_complex()):
                raise NBExplainError(
                    f"the callable target returned dtype {s.dtype}, which is not "
                    "differentiable (an argmax, a comparison, a cast to an integer type); "
                    "gradient methods need float scores computed from the output, e.g. "
                    "target=lambda out: out[:, 1] - out[:, 0].")
            seed_of, seed = s, None
            if s.requires_grad:
                seed_of = s.sum()
        else:
            flat = out if out.dim() == 2 else out.reshape(out.shape[0], -1)
            # on the CPU scatter_ itself refuses an index past the output's width and the
            # clear message is built only then; elsewhere a bad index is a device-side
            # assert, so it is checked first
            on_cpu = flat.device.type == "cpu"
            col = self._target_column(target, flat, check=not on_cpu)
            try:
                seed = torch.zeros_like(flat).scatter_(1, col, 1.0)
            except (RuntimeError, IndexError):
                if on_cpu:
                    check_target_width(col.numpy().ravel(), flat.shape[1])
                raise
            s = flat.detach().gather(1, col).squeeze(1) if want_scores else None  # type: ignore[assignment]
            seed_of = flat
        if not seed_of.requires_grad:
            raise NBExplainError(what)
        engine = _engine_grad() if seed is not None else None
        if engine is not None and not _has_torch_function((seed_of, wrt, seed)):
            # what torch.autograd.grad(seed_of, wrt, seed, allow_unused=True) runs once it
            # has checked its arguments (our own one-hot seed, of the output's shape and
            # dtype): ~25 µs of a ~270 µs MLP saliency call
            (g,) = engine((seed_of,), (seed,), False, False, (wrt,), True, accumulate_grad=False)
        else:
            (g,) = torch.autograd.grad(seed_of, wrt, seed, allow_unused=True)
        return (None if s is None else s.detach()), g

    def thread_state(self) -> bool:
        return torch.is_grad_enabled()

    def recover(self, state: bool) -> None:
        # a C call: a KeyboardInterrupt cannot land inside it
        torch._C._set_grad_enabled(state)
        if isinstance(self.model, torch.nn.Module):
            recover(self.model.modules())

    def _check_not_inference_mode(self) -> None:
        if torch.is_inference_mode_enabled():
            raise NBExplainError(
                "gradient methods cannot run inside torch.inference_mode(): it turns autograd "
                "off for good. Call nbexplain outside the inference_mode block (no_grad is "
                "fine), or use a perturbation method such as method='occlusion' or "
                "method='shapley'.")

    def input_gradients(self, x: torch.Tensor, target: Any) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_not_inference_mode()
        return despite_training(self.model, lambda: self._tuned(
            x, lambda xf: self._input_gradients(xf, target, True)))

    def input_gradient(self, x: torch.Tensor, target: Any) -> torch.Tensor:
        self._check_not_inference_mode()
        if x.dim() != 4:   # nothing for _tuned to decide (tabular rows, sequences)
            return despite_training(self.model,
                                    lambda: self._input_gradients(x, target, False))[1]
        return despite_training(self.model, lambda: self._tuned(
            x, lambda xf: self._input_gradients(xf, target, False)))[1]

    def _input_gradients(self, x: torch.Tensor, target: Any, want_scores: bool):
        if torch.is_grad_enabled():   # entering enable_grad() costs ~15 µs a call
            return self._input_gradients_on(x, target, want_scores)
        with torch.enable_grad():
            return self._input_gradients_on(x, target, want_scores)

    def _input_gradients_on(self, x: torch.Tensor, target: Any, want_scores: bool):
        xg = x.detach().requires_grad_(True)  # our own leaf, never the user's tensor
        out = self._select_output(self._call(xg))
        s, g = self._score_gradient(
            out, target, xg, want_scores,
            "the model output does not require gradients (it was computed under "
            "torch.no_grad(), detached, or converted to numpy); gradient methods need "
            "a differentiable model. Remove the no_grad/detach, or use a perturbation "
            "method such as method='occlusion' or method='shapley'.")
        if g is None:
            raise NBExplainError(
                "the gradient of the output with respect to the inputs is None: the output "
                "does not depend on the inputs through differentiable operations.")
        return s, g.detach()

    def scores(self, x: torch.Tensor, target: Any, batch_size: int | None = None):
        n = x.shape[0]
        bs = batch_size or n
        out = []
        with torch.no_grad():
            for i in range(0, n, bs):
                t = target if callable(target) else target[i:i + bs]
                out.append(self._tuned(x[i:i + bs],
                                       lambda xf: self._scores(self.forward(xf), t),
                                       grad=False))
        return self.concat(out)

    # --- small array ops for framework-free methods --------------------------------------
    def concat(self, ts: list, axis: int = 0) -> torch.Tensor:
        return ts[0] if len(ts) == 1 else torch.cat(ts, axis)

    def stack(self, ts: list, axis: int = 0) -> torch.Tensor:
        return torch.stack(ts, axis)

    def reshape(self, t: torch.Tensor, shape: tuple) -> torch.Tensor:
        return t.reshape(shape)

    def repeat(self, t: torch.Tensor, n: int) -> torch.Tensor:
        return t.repeat_interleave(n, dim=0)

    def take(self, t: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        return t[torch.as_tensor(np.asarray(idx), device=t.device, dtype=torch.long)]

    def abs(self, t: torch.Tensor) -> torch.Tensor:
        return t.abs()

    def relu(self, t: torch.Tensor) -> torch.Tensor:
        return torch.relu(t)

    def reduce(self, t: torch.Tensor, op: str, axis: Any, keepdims: bool = False):
        if op == "sum":
            return t.sum(dim=axis, keepdim=keepdims)
        if op == "max":
            return t.amax(dim=axis, keepdim=keepdims)
        if op == "mean":
            return t.mean(dim=axis, keepdim=keepdims)
        raise ValueError(op)

    def broadcast_to(self, t: torch.Tensor, shape: tuple) -> torch.Tensor:
        """A read-only broadcast view (no copy)."""
        return t.expand(shape)

    def zeros_like(self, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(t)

    def where(self, mask: Any, a: Any, b: Any) -> torch.Tensor:
        return torch.where(torch.as_tensor(mask, device=self._device, dtype=torch.bool), a, b)

    def linspace(self, start: float, end: float, n: int) -> np.ndarray | None:
        """torch's linspace in the model's float dtype, as Captum builds its path points
        (``torch.linspace(0, 1, n).tolist()``, float32, on the CPU): IG's Riemann rules on a
        float32 model then run on the very points Captum's do, which matters where the
        gradient jumps (a ReLU kink between two points 6e-8 apart); a float64 model gets
        float64 points."""
        if self.dtype not in (torch.float32, torch.float64):
            return None      # no float parameters (a function, fp16): numpy's float64 points
        return torch.linspace(start, end, int(n), dtype=self.dtype).numpy().astype(np.float64)

    def weights(self, w: Any, ndim: int, like: Any = None) -> torch.Tensor:
        dtype = like.dtype if like is not None else (self.dtype or torch.get_default_dtype())
        w = torch.as_tensor(np.asarray(w), device=self._device, dtype=dtype)
        return w.reshape((-1,) + (1,) * (ndim - 1))

    def resize(self, t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return torch.nn.functional.interpolate(t, size=tuple(size), mode="bilinear",
                                               align_corners=False)

    def channel_axis(self, ndim: int) -> int:
        return 1 if ndim == 4 else ndim - 1
