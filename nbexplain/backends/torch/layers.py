"""Layer methods of the torch adapter (Grad-CAM): finding a layer by name, by object or
automatically, and capturing its output and the gradient of the target score with respect to
it."""

from __future__ import annotations

import weakref
from typing import Any

import torch

from ..._errors import NBExplainError
from .hooks import confined, despite_training, own_pass, remove_all

#: layers whose output the model later changes in place: Grad-CAM passes a clone of it on
_CLONE_LAYER_OUTPUT: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()


class _LayerCapture:
    """``TorchAdapter``'s layer methods (a mixin: uses the adapter's ``model``, ``_call``,
    ``forward``, ``_tuned``, ``_score_gradient`` and ``_check_not_inference_mode``)."""

    # provided by the adapter this mixin is part of (declared for the type checker)
    model: Any
    _call: Any
    forward: Any
    _tuned: Any
    _score_gradient: Any
    _check_not_inference_mode: Any
    _training: Any
    _select_output: Any
    _scores: Any
    as_tensor: Any

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

    def layer_output(self, x: torch.Tensor, layer: Any) -> torch.Tensor:
        """The output of ``layer`` (a module of the model) for ``x``, without a graph."""
        store: dict[str, Any] = {}

        def hook(mod, inp, out):
            first = out[0] if isinstance(out, (tuple, list)) else out
            store["a"] = first.detach() if isinstance(first, torch.Tensor) else first

        handles: list = []
        with own_pass() as token:
            try:
                handles.append(layer.register_forward_hook(confined(token, hook)))
                with torch.no_grad():
                    self.forward(x)
            finally:
                remove_all(handles)
        a = store.get("a")
        if not isinstance(a, torch.Tensor) or not a.is_floating_point():
            raise NBExplainError(
                "the chosen layer was not called during the forward pass, or its output is "
                "not a float tensor; pick the layer whose output the attribution is about "
                "(e.g. the embedding layer, model.embed).")
        return a

    def replaced_layer_gradients(self, x: torch.Tensor, layer: Any, replacement: torch.Tensor,
                                 target: Any):
        """``(scores, d scores / d R)``: the model run on ``x`` with ``layer``'s output
        replaced by ``R`` (a batch of that output's shape, one per row of ``x``)."""
        self._check_not_inference_mode()
        return despite_training(self.model, lambda: self._replaced(x, layer, replacement,
                                                                   target))

    def _replaced(self, x, layer, replacement, target):
        leaf = replacement.detach().requires_grad_(True)

        def hook(mod, inp, out):
            if isinstance(out, (tuple, list)):
                return type(out)([leaf, *out[1:]])
            return leaf

        handles: list = []
        with own_pass() as token:
            try:
                handles.append(layer.register_forward_hook(confined(token, hook)))
                with torch.enable_grad():
                    out = self.forward(x)
                    s, g = self._score_gradient(
                        out, target, leaf, True,
                        "the target score does not depend on the chosen layer's output "
                        "through differentiable operations.")
            finally:
                remove_all(handles)
        if g is None:
            raise NBExplainError("the target score does not depend on the chosen layer.")
        return s, g

    def layer_names(self) -> list[str]:
        if not isinstance(self.model, torch.nn.Module):
            return []
        return [n for n, m in self.model.named_modules()
                if n and isinstance(m, torch.nn.modules.conv._ConvNd)]

    def _last_spatial_layer(self, example: torch.Tensor):
        seen: list[tuple[str, torch.nn.Module]] = []
        handles = []

        def make_hook(name):
            def hook(mod, inp, out):
                o = out[0] if isinstance(out, (tuple, list)) else out
                if isinstance(o, torch.Tensor) and o.dim() == 4 and o.shape[2] * o.shape[3] > 1:
                    seen.append((name, mod))
            return hook

        with own_pass() as token:
            try:
                for name, mod in self.model.named_modules():
                    if name and not list(mod.children()):
                        handles.append(mod.register_forward_hook(
                            confined(token, make_hook(name))))
                with torch.no_grad():
                    self._call(example[:1])
            finally:
                remove_all(handles)
        if not seen:
            raise NBExplainError(
                "found no layer with a spatial (N, C, H, W) output; Grad-CAM needs a "
                "convolutional layer. Pass layer=<name or module> explicitly.")
        convs = [(n, m) for n, m in seen if isinstance(m, torch.nn.modules.conv._ConvNd)]
        name, mod = (convs or seen)[-1]
        return mod, name

    def layer_gradients(self, x: torch.Tensor, target: Any, layer: Any):
        self._check_not_inference_mode()
        return despite_training(self.model, lambda: self._tuned(
            x, lambda xf: self._layer_gradients(xf, target, layer)))

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

        handles: list = []
        with own_pass() as token:
            try:
                handles.append(layer.register_forward_hook(confined(token, hook)))
                return self._layer_pass(x, target, layer, clone, store, handles)
            finally:
                remove_all(handles)

    def _layer_pass(self, x: torch.Tensor, target: Any, layer: Any, clone: bool, store: dict,
                    handles: list):
        """The pass of :meth:`_layer_gradients`, its (confined) hook registered in
        ``handles``."""
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
            remove_all(handles)
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
