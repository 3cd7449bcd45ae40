"""PyTorch adapter: an ``nn.Module`` or any callable on torch tensors.

Everything runs on the device that holds the model's parameters. The model is never changed:
no ``.eval()``/``.train()`` flips, no ``requires_grad`` flips on parameters, no ``.grad`` writes
(input gradients come from ``torch.autograd.grad``, or the engine call it wraps, on our own leaf),
and hooks only live inside context managers that remove them in ``finally``.
"""

from __future__ import annotations

import math
import os
import time
import warnings
import weakref
from typing import Any, Callable

import numpy as np
import torch

from .._errors import NBExplainError, user_stacklevel
from .base import (Adapter, check_finite, check_float_input, check_rows,
                   check_target_width, host_array, not_a_tensor, resolve_target,
                   select_output)


def _scan_model(model: Any) -> tuple[torch.device, torch.dtype | None, bool]:
    """``(device, float dtype, training)`` of a model in one walk over its modules.

    The device and dtype are those of the first parameter (else the first float buffer;
    a parameterless callable runs on the CPU and keeps the inputs' float dtype). ``training``
    is True if some module in training mode behaves differently from eval mode (dropout,
    batch norm). Walked afresh on every call: layers can be added, moved or flipped between
    calls."""
    if not isinstance(model, torch.nn.Module):
        return torch.device("cpu"), None, False
    first = None
    training = False
    # model.modules() in the same pre-order, walked with a list instead of nested
    # generators (a third of the time on an MLP, where this runs on every call)
    stack, seen = [model], set()
    while stack:
        m = stack.pop()
        if id(m) in seen:
            continue
        seen.add(id(m))
        if first is None:
            for p in m._parameters.values():
                if p is not None:
                    first = p
                    break
        if m.training and not training and (
                isinstance(m, _DropoutNd) or getattr(m, "track_running_stats", False)):
            training = True
        if m._modules:
            stack.extend(c for c in reversed(m._modules.values()) if c is not None)
    if first is None:
        first = next((b for b in model.buffers() if b.is_floating_point()), None)
        if first is None:
            return torch.device("cpu"), None, training
    return first.device, (first.dtype if first.is_floating_point() else torch.float32), training


_DropoutNd = torch.nn.modules.dropout._DropoutNd

_has_torch_function = torch.overrides.has_torch_function

#: the engine call behind torch.autograd.grad: unchecked (None), not usable (False) or the
#: function
_ENGINE: Any = None


def _engine_grad() -> Callable | None:
    """``torch.autograd.graph._engine_run_backward``, the call that ``torch.autograd.grad``
    makes after checking and normalizing its arguments, if it is there and answers a
    two-element check exactly as ``grad`` does (a private function: a torch version that
    changes or removes it leaves the public ``torch.autograd.grad`` in use). Checked once."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = False
        fn = getattr(getattr(torch.autograd, "graph", None), "_engine_run_backward", None)
        if callable(fn):
            try:
                with torch.enable_grad():
                    a = torch.ones(2, requires_grad=True)
                    y = a * torch.tensor([2.0, 3.0])
                    (g,) = fn((y,), (torch.tensor([1.0, -1.0]),), False, False, (a,), True,
                              accumulate_grad=False)
                if (a.grad is None and isinstance(g, torch.Tensor)
                        and g.tolist() == [2.0, -3.0]):
                    _ENGINE = fn
            except Exception:  # a changed signature or behaviour: the public function
                pass
    return _ENGINE or None

#: layers that take (N, T, D) batches or one unbatched (T, D) sequence
_SEQUENCE_LAYERS = (torch.nn.RNNBase, torch.nn.MultiheadAttention,
                    torch.nn.TransformerEncoderLayer, torch.nn.TransformerDecoderLayer)

#: layers whose output the model later changes in place: Grad-CAM passes a clone of it on
_CLONE_LAYER_OUTPUT: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()

_INPLACE_INPUT = (
    "the model modifies its input tensor in place (e.g. x.mul_(...), x += ..., x[...] = ..., "
    "or ReLU(inplace=True) applied to the input): attributions need the input unchanged "
    "between the passes that reuse it. Start the model's forward with `x = x.clone()`, or "
    "use the out-of-place op (x = x * 2, ReLU(inplace=False)) on the input.")


#: per model: {input shape: True for channels_last}, or False once channels_last has failed
_FORMATS: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def _autotune() -> bool:
    """NBEXPLAIN_TORCH_AUTOTUNE=0/false/no/off (any case) turns the format probe off; read on
    every call, so setting it in a running notebook takes effect."""
    v = os.environ.get("NBEXPLAIN_TORCH_AUTOTUNE", "1").strip().lower()
    return v not in ("0", "false", "no", "off")


#: the probe times at most this many rows of the batch, so it stays cheap next to the work
_PROBE_ROWS = 16


def _probe_format(model: torch.nn.Module, x: torch.Tensor) -> bool | None:
    """True if ``model`` runs the batch ``x`` clearly faster in channels_last than in NCHW,
    False if not, None if it fails in channels_last.

    Forward passes without a graph, on the batch itself: one warm-up in each format, then
    rounds of one NCHW and one channels_last pass back to back, whose time ratio cancels slow
    drifts of the machine's load. A clear first round (≤ 0.75 or ≥ 1.25) decides at once;
    otherwise the median ratio of three rounds must be under 0.9 for channels_last.
    """
    # NCHW copies: the probe's passes never see the caller's tensor, and an input that is
    # already channels_last is still timed against NCHW
    x = x.clone(memory_format=torch.contiguous_format)
    xc = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        try:
            model(xc)       # warm-up, and the check that the model takes channels_last
        except Exception:   # e.g. ``x.view(n, -1)`` after a conv
            return None
        model(x)
        ratios = []
        for _ in range(3):
            t0 = time.perf_counter()
            model(x)
            t1 = time.perf_counter()
            model(xc)
            t2 = time.perf_counter()
            ratios.append((t2 - t1) / max(t1 - t0, 1e-12))
            if len(ratios) == 1 and not 0.75 < ratios[0] < 1.25:
                return ratios[0] <= 0.75
    return float(np.median(ratios)) < 0.9


def _channels_last_grad(g: torch.Tensor) -> torch.Tensor:
    return g if g.is_contiguous(memory_format=torch.channels_last) else g.contiguous(
        memory_format=torch.channels_last)


#: the autograd node of a custom ``torch.autograd.Function`` (a Python backward)
_CUSTOM_BACKWARD = torch.autograd.function.BackwardCFunction


def _flatten_grad_pre_hook(module: Any, args: tuple) -> tuple | None:
    a = args[0] if args else None
    # only a map computed in this pass by torch's own kernels, which take a gradient of any
    # layout: not a leaf (a parameter of the model), not the output of a custom
    # autograd.Function (its backward may .view() the gradient) and not a map that carries
    # the user's own gradient hooks
    if not (isinstance(a, torch.Tensor) and a.dim() == 4 and a.grad_fn is not None
            and not a.is_contiguous()
            and a.is_contiguous(memory_format=torch.channels_last)):
        return None
    if isinstance(a.grad_fn, _CUSTOM_BACKWARD) or a._backward_hooks:
        return None
    # the hook goes on an alias made for this pass, so a map the model keeps across calls
    # does not collect one hook per call
    alias = a.view_as(a)
    alias.register_hook(_channels_last_grad)
    return (alias, *args[1:])


def _flatten_grad_hooks(model: torch.nn.Module) -> list:
    """Forward pre-hooks (the caller removes them in ``finally``) on the model's
    ``nn.Flatten`` layers that hand the gradient of a channels_last input back in
    channels_last.

    Flattening a channels_last map copies it into NCHW order, so its gradient comes back
    NCHW, and the layer before (a max-pool, a ReLU) then runs its backward on mixed memory
    formats: torch converts inside the kernel, with transient copies of the map. On the
    small benchmark CNN (pool → Flatten → Linear) a saliency pass peaked at 4.2–4.5 MiB
    (Captum 3.0–3.7 MiB); with the gradient made channels_last it peaks at 3.4–3.7 MiB and
    runs ~1% faster. The values are the same numbers; only the gradient's memory layout
    changes. A ``torch.flatten`` call inside ``forward`` is not a layer and is left alone, as
    are maps that come from a custom ``autograd.Function`` or carry the user's own gradient
    hooks (their code may ``.view()`` the gradient, which a channels_last one refuses)."""
    return [m.register_forward_pre_hook(_flatten_grad_pre_hook)
            for m in model.modules() if isinstance(m, torch.nn.Flatten)]


class TorchAdapter(Adapter):
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
        t = src.to(self._device, dtype)
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

    def _tuned(self, x: torch.Tensor, fn: Callable[[torch.Tensor], Any],
               grad: bool = True) -> Any:
        """``fn(x)``, with image batches on a CPU given in the memory format that runs this
        model fastest. The first pass of a new input shape times forward passes in NCHW and
        channels_last (``_probe_format``; a few extra passes, once per model and shape); every
        later pass of that shape uses the faster format, so repeated calls give identical
        values. CNNs with max-pooling ran their gradient passes 0.73–0.84x as long in
        channels_last (torch's NCHW CPU max-pool is ~14x slower), while a ResNet on one image
        ran 1.2x as long: measured per model and shape, never assumed. Not for models whose
        training-mode layers would update state on the extra passes, not on accelerators,
        and not with NBEXPLAIN_TORCH_AUTOTUNE=0. The probe times the first 16 rows.

        A gradient pass (``grad``) in channels_last also has the gradients that reach an
        ``nn.Flatten`` handed on in channels_last (``_flatten_grad_hooks``)."""
        if (len(x.shape) != 4 or self._training or x.device.type != "cpu"
                or not x.is_floating_point() or not isinstance(self.model, torch.nn.Module)
                or not _autotune()):
            return fn(x)
        per_model = _FORMATS.get(self.model)
        if per_model is False:
            return fn(x)
        if per_model is None:
            try:
                per_model = _FORMATS[self.model] = {}
            except TypeError:  # pragma: no cover - not weak-referenceable
                return fn(x)
        key = tuple(x.shape)
        cl = per_model.get(key)
        if cl is None:
            # the probe's extra passes must not change anything: not on a model with any
            # module in training mode (BatchNorm statistics, F.dropout(..., self.training))
            if any(m.training for m in self.model.modules()):
                return fn(x)
            cl = _probe_format(self.model, x[:_PROBE_ROWS])
            if cl is None:          # the model cannot take channels_last: NCHW for good
                _FORMATS[self.model] = False
                return fn(x)
            per_model[key] = cl
        if not cl:
            return fn(x)
        xc = x.contiguous(memory_format=torch.channels_last)
        if not grad:
            return fn(xc)
        handles = _flatten_grad_hooks(self.model)
        try:
            return fn(xc)
        finally:
            for h in handles:
                h.remove()

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
            s = flat.detach().gather(1, col).squeeze(1) if want_scores else None
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

    def _check_not_inference_mode(self) -> None:
        if torch.is_inference_mode_enabled():
            raise NBExplainError(
                "gradient methods cannot run inside torch.inference_mode(): it turns autograd "
                "off for good. Call nbexplain outside the inference_mode block (no_grad is "
                "fine), or use a perturbation method such as method='occlusion' or "
                "method='shapley'.")

    def input_gradients(self, x: torch.Tensor, target: Any) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_not_inference_mode()
        return self._tuned(x, lambda xf: self._input_gradients(xf, target, True))

    def input_gradient(self, x: torch.Tensor, target: Any) -> torch.Tensor:
        self._check_not_inference_mode()
        if x.dim() != 4:   # nothing for _tuned to decide (tabular rows, sequences)
            return self._input_gradients(x, target, False)[1]
        return self._tuned(x, lambda xf: self._input_gradients(xf, target, False))[1]

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

    # --- layers -----------------------------------------------------------------------
    def find_layer(self, layer: Any, example: torch.Tensor | None = None):
        if not isinstance(self.model, torch.nn.Module):
            raise NBExplainError("layer methods need an nn.Module, not a plain function.")
        if isinstance(self.model, torch.jit.ScriptModule):
            raise NBExplainError(
                "layer methods (Grad-CAM) read the layer's output with a forward hook, and "
                "TorchScript modules (torch.jit.script / torch.jit.trace) run no Python hooks: "
                "pass the eager nn.Module the script was made from. The other methods work "
                "on TorchScript modules.")
        if isinstance(layer, str) and layer:
            try:  # a direct walk down the dotted name, without listing every module
                return self.model.get_submodule(layer), layer
            except AttributeError:
                pass
        named = dict(self.model.named_modules())
        if isinstance(layer, str):
            if layer not in named:
                convs = [n for n, m in named.items() if isinstance(m, torch.nn.modules.conv._ConvNd)]
                raise NBExplainError(
                    f"the model has no layer named {layer!r}. Conv layers: {convs[-8:]}; "
                    "pass one of these names, or the module object itself.")
            return named[layer], layer
        if isinstance(layer, torch.nn.Module):
            for n, m in named.items():
                if m is layer:
                    return m, n
            raise NBExplainError("the layer object passed is not a submodule of the model.")
        if layer is not None:
            raise NBExplainError(f"layer={layer!r}: pass a module name, a module, or None.")
        if example is None:
            raise NBExplainError("automatic layer choice needs an example input.")
        return self._last_spatial_layer(example)

    def _last_spatial_layer(self, example: torch.Tensor):
        seen: list[tuple[str, torch.nn.Module]] = []
        handles = []

        def make_hook(name):
            def hook(mod, inp, out):
                o = out[0] if isinstance(out, (tuple, list)) else out
                if isinstance(o, torch.Tensor) and o.dim() == 4 and o.shape[2] * o.shape[3] > 1:
                    seen.append((name, mod))
            return hook

        try:
            for name, mod in self.model.named_modules():
                if name and not list(mod.children()):
                    handles.append(mod.register_forward_hook(make_hook(name)))
            with torch.no_grad():
                self._call(example[:1])
        finally:
            for h in handles:
                h.remove()
        if not seen:
            raise NBExplainError(
                "found no layer with a spatial (N, C, H, W) output; Grad-CAM needs a "
                "convolutional layer. Pass layer=<name or module> explicitly.")
        convs = [(n, m) for n, m in seen if isinstance(m, torch.nn.modules.conv._ConvNd)]
        name, mod = (convs or seen)[-1]
        return mod, name

    def layer_gradients(self, x: torch.Tensor, target: Any, layer: Any):
        self._check_not_inference_mode()
        return self._tuned(x, lambda xf: self._layer_gradients(xf, target, layer))

    def _layer_gradients(self, x: torch.Tensor, target: Any, layer: Any):
        """(scores, A, dS/dA) for the layer's output A.

        The layers before ``layer`` run without recording a graph (nothing before A needs a
        gradient): the forward pass runs under ``no_grad`` and the layer's forward hook turns
        recording on from A onwards, A being a fresh leaf. That skips saving the early
        activations: Grad-CAM ran 0.84× the time of a fully recorded pass (small CNN and
        ResNet-18-like, same values). The ``no_grad`` context restores the caller's grad mode
        on exit, also on errors.

        A itself goes on through the model. A layer whose output is later changed in place
        (``ReLU(inplace=True)`` after it, ``out += identity``) makes torch refuse the write
        on the leaf, or (under a ``no_grad`` inside the model) bumps A's version counter;
        then the pass is re-run with a clone of A going on instead, and that layer gets the
        clone from then on. The copy is saved everywhere else (a 128 KiB tensor a call on
        the small CNN).
        """
        # (a model in training mode updates its statistics on every pass: no second pass)
        clone = self._training or _CLONE_LAYER_OUTPUT.get(layer, False)
        store: dict[str, Any] = {}

        def hook(mod, inp, out):
            first = out[0] if isinstance(out, (tuple, list)) else out
            if not isinstance(first, torch.Tensor) or not first.is_floating_point():
                raise NBExplainError(
                    f"the chosen layer returns {type(first).__name__}, not a float tensor; "
                    "pick a layer whose output is the feature map (e.g. a conv layer).")
            torch.set_grad_enabled(True)  # from here on the forward pass is recorded
            leaf = first.detach().requires_grad_(True)
            store["a"], store["version"] = leaf, leaf._version
            nxt = leaf.clone() if clone else leaf
            if isinstance(out, (tuple, list)):
                return type(out)([nxt, *out[1:]]) if type(out) in (tuple, list) else out
            return nxt

        h = layer.register_forward_hook(hook)
        try:
            with torch.no_grad():
                try:
                    out = self.forward(x)
                except RuntimeError as e:
                    if (clone or "a" not in store
                            or "leaf Variable that requires grad" not in str(e)):
                        raise
                    out = None   # the model writes into A: again, with a clone going on
                a = store.get("a")
                if a is None:
                    raise NBExplainError("the chosen layer was not called during the forward "
                                         "pass; pick a layer the model actually uses.")
            if not clone and (out is None or a._version != store["version"]):
                _CLONE_LAYER_OUTPUT[layer] = True
                h.remove()
                return self._layer_gradients(x, target, layer)
            with torch.enable_grad():
                s, g = self._score_gradient(
                    out, target, a, True,
                    "the target score does not depend on the chosen layer through "
                    "differentiable operations (the model runs it under no_grad, or "
                    "detaches its output).")
            if g is None:
                raise NBExplainError("the target score does not depend on the chosen layer.")
            return s, a.detach(), g
        finally:
            h.remove()

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

    def weights(self, w: Any, ndim: int, like: Any = None) -> torch.Tensor:
        dtype = like.dtype if like is not None else (self.dtype or torch.get_default_dtype())
        w = torch.as_tensor(np.asarray(w), device=self._device, dtype=dtype)
        return w.reshape((-1,) + (1,) * (ndim - 1))

    def resize(self, t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return torch.nn.functional.interpolate(t, size=tuple(size), mode="bilinear",
                                               align_corners=False)

    def channel_axis(self, ndim: int) -> int:
        return 1 if ndim == 4 else ndim - 1
