"""The direct call of the autograd engine: the call ``torch.autograd.grad`` makes after checking
its arguments, checked once per process (``_ENGINE`` holds the decision: assign to it here)."""

from __future__ import annotations

from typing import Any, Callable

import torch

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
