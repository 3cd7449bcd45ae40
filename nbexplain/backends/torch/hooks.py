"""Hooks that act only on nbexplain's own passes, and cleanup that an interrupt cannot stop.

A hook sits on a module the whole process shares: the user's training loop in the main
thread runs the same ``forward`` while the widget computes on its worker thread. Every hook
nbexplain installs is wrapped by :func:`confined`: it runs only inside the :func:`own_pass`
that registered it, in that thread (the active passes are thread-local), and is a no-op for
any other thread's pass, or for a later pass of the same thread.

:func:`remove_all` takes every handle off even when a KeyboardInterrupt arrives while it
works (the interrupt is raised again once all are off); callers register each hook inside
the ``try`` whose ``finally`` removes them, into a list they own.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any, Callable, Iterator

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_map

_LOCAL = threading.local()


def _active() -> set:
    s = getattr(_LOCAL, "tokens", None)
    if s is None:
        s = _LOCAL.tokens = set()
    return s


@contextlib.contextmanager
def own_pass() -> Iterator[object]:
    """A token for the passes run inside this block, in this thread only. It is retired when
    the block ends normally; after an exception it stays until :func:`recover` has taken
    its hooks off (an interrupt may have kept them from being removed)."""
    token = object()
    _active().add(token)
    yield token
    _active().discard(token)


def ours(token: object) -> bool:
    """Whether the current thread is inside the pass that owns ``token``."""
    return token in _active()


def confined(token: object, hook: Callable[..., Any]) -> Callable[..., Any]:
    """``hook`` for the pass of ``token`` only; None (no change) for every other pass."""
    @functools.wraps(hook)
    def run(*args: Any) -> Any:
        if token in _active():
            return hook(*args)
        return None
    run._nbexplain_token = token    # type: ignore[attr-defined]  # for recover()
    return run


def recover(modules: Any) -> None:
    """After a pass of this thread ended with an exception (a KeyboardInterrupt can land
    between a hook's registration and its handle reaching the caller's list, or on the call
    of the cleanup itself): take every hook of this thread's unfinished passes off
    ``modules`` and retire their tokens. Other threads' hooks are left alone. Finishes
    despite a KeyboardInterrupt."""
    active = _active()

    def clean() -> None:
        for m in modules:
            for name in ("_forward_hooks", "_forward_pre_hooks"):
                table = getattr(m, name, None)
                if not table:
                    continue
                for key, h in list(table.items()):
                    if getattr(h, "_nbexplain_token", None) in active:
                        table.pop(key, None)
                        for extra in ("_forward_hooks_with_kwargs",
                                      "_forward_hooks_always_called",
                                      "_forward_pre_hooks_with_kwargs"):
                            getattr(m, extra, {}).pop(key, None)
        active.clear()
    _uninterrupted(clean)


def _uninterrupted(job: Callable[[], None]) -> None:
    """Run the idempotent ``job`` to its end, again after each KeyboardInterrupt, which is
    re-raised once it is done."""
    interrupt: BaseException | None = None
    while True:
        try:
            job()
            break
        except KeyboardInterrupt as e:
            interrupt = e
    if interrupt is not None:
        raise interrupt


def remove_all(handles: list) -> None:
    """Remove every handle (``RemovableHandle.remove`` is idempotent), finishing the job when
    a KeyboardInterrupt arrives part way; the interrupt is re-raised afterwards."""
    def remove() -> None:
        while handles:
            handles[-1].remove()
            handles.pop()
    _uninterrupted(remove)


#: how often a gradient pass is re-run when another thread's in-place update (an optimizer
#: step) changed a parameter it saved, before it runs on a snapshot of the parameters
RACE_RETRIES = 2


def _raced(e: BaseException) -> bool:
    return isinstance(e, RuntimeError) and "modified by an inplace operation" in str(e)


def despite_training(model: Any, run: Callable[[], Any]) -> Any:
    """``run()``, a gradient pass on ``model``. When another thread (the user's training loop)
    updates a parameter in place between this pass's forward and backward, autograd refuses
    the stale saved tensor ("modified by an inplace operation"): the pass is run again, and
    after :data:`RACE_RETRIES` such refusals once more on a snapshot of the parameters and
    buffers taken at its start (in this thread only: :class:`_Snapshot`), which no update
    can reach. The answer is then the model as it was at that instant."""
    for _ in range(RACE_RETRIES):
        try:
            return run()
        except RuntimeError as e:
            if not _raced(e):
                raise
    if not hasattr(model, "parameters"):
        return run()
    with _Snapshot(model):
        return run()


class _Snapshot(TorchFunctionMode):
    """Every parameter or buffer of the model that reaches a torch function inside this mode
    is replaced by a copy taken on entry (a torch function mode is thread-local: other
    threads run on the live tensors)."""

    def __init__(self, model: Any):
        super().__init__()
        tensors = [*model.parameters(), *model.buffers()]
        self._copies = {id(t): t.detach().clone() for t in tensors}
        self._live = tensors     # keeps the ids those of live tensors

    def __torch_function__(self, func, types, args=(), kwargs=None):
        copies = self._copies

        def swap(a: Any) -> Any:
            return copies.get(id(a), a) if isinstance(a, torch.Tensor) else a

        return func(*tree_map(swap, tuple(args)), **tree_map(swap, dict(kwargs or {})))
