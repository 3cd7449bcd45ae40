"""nbexplain beside the user's own work on the same torch model: a training loop in the main
thread while another thread explains (the live widget's case), several explaining threads at
once, and a KeyboardInterrupt at any point of a call.

Truths: the training loop's own bookkeeping (every parameter gets a gradient each step, a
``no_grad`` output never requires grad), the hook tables of every module, and torch's grad
mode, before and after.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
import torch
from torch import nn

import nbexplain


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 8 * 8, 5))


def hook_counts(model: nn.Module) -> list:
    return [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks),
             len(m._backward_pre_hooks)) for m in model.modules()]


METHODS = [("grad_cam", {}), ("saliency", {}), ("integrated_gradients", {"steps": 8})]


def test_a_training_loop_is_untouched_by_attributions_in_another_thread():
    model = small_cnn()          # in training mode, as a training loop leaves it
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    stop = threading.Event()
    worker_errors: list = []
    done = [0]

    def explain_forever():
        x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
        i = 0
        while not stop.is_set():
            name, opts = METHODS[i % len(METHODS)]
            i += 1
            try:
                nbexplain.attribute(model, x, name, target=1, **opts)
                done[0] += 1
            except Exception as e:   # noqa: BLE001 - every error counts
                worker_errors.append(f"{name}: {type(e).__name__}: {e}")

    t = threading.Thread(target=explain_forever, daemon=True)
    t.start()
    no_gradient_steps, leaking_no_grad, loop_errors = 0, 0, []
    g = torch.Generator().manual_seed(2)
    try:
        for _ in range(300):
            xb = torch.rand(8, 3, 16, 16, generator=g)
            yb = torch.randint(0, 5, (8,), generator=g)
            try:
                opt.zero_grad(set_to_none=True)
                loss = nn.functional.cross_entropy(model(xb), yb)
                loss.backward()
                if any(p.grad is None for p in model.parameters()):
                    no_gradient_steps += 1
                opt.step()
                with torch.no_grad():
                    if model(xb).requires_grad:
                        leaking_no_grad += 1
            except Exception as e:   # noqa: BLE001
                loop_errors.append(f"{type(e).__name__}: {e}")
    finally:
        stop.set()
        t.join(60)
    assert done[0] >= 3, "the explaining thread must have run alongside"
    assert no_gradient_steps == 0
    assert leaking_no_grad == 0
    assert loop_errors == []
    assert worker_errors == []
    assert hook_counts(model) == hook_counts(small_cnn())


def test_four_threads_of_grad_cam_at_once():
    model = small_cnn().eval()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    ref = nbexplain.attribute(model, x, "grad_cam", target=2).values
    errors: list = []
    wrong = [0]

    def run():
        for _ in range(15):
            try:
                v = nbexplain.attribute(model, x, "grad_cam", target=2).values
                if not np.allclose(v, ref, rtol=1e-5, atol=1e-7):
                    wrong[0] += 1
            except Exception as e:   # noqa: BLE001
                errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=run) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert errors == [] and wrong[0] == 0
    assert hook_counts(model) == hook_counts(small_cnn())


class _InterruptAt:
    """A trace function that raises KeyboardInterrupt at the k-th call or return event."""

    def __init__(self, k: int):
        self.k, self.n = k, 0

    def __call__(self, frame, event, arg):
        if event in ("call", "return"):
            self.n += 1
            if self.n == self.k:
                raise KeyboardInterrupt
        return self


def _events(fn) -> int:
    counter = _InterruptAt(-1)
    sys.settrace(counter)
    try:
        fn()
    finally:
        sys.settrace(None)
    return counter.n


@pytest.mark.parametrize("name, opts", [
    ("saliency", {}), ("grad_cam", {}), ("integrated_gradients", {"steps": 4}),
    ("smoothgrad", {"samples": 2}), ("occlusion", {"window": 8, "stride": 8}),
])
def test_an_interrupt_anywhere_leaves_no_hook_and_the_grad_mode(name, opts):
    torch.set_grad_enabled(True)   # (whatever an earlier test left)
    model = small_cnn().eval()
    clean = hook_counts(model)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(4))

    def call():
        nbexplain.attribute(model, x, name, target=1, **opts)

    call()                               # probes (layout, memory format) done once
    n = _events(call)
    assert n > 50
    stride = max(7, n // 250)            # sampled: every point of a call in well under a minute
    interrupted = 0
    for k in range(1, n + 1, stride):
        sys.settrace(_InterruptAt(k))
        try:
            call()
        except KeyboardInterrupt:
            interrupted += 1
        finally:
            sys.settrace(None)
        assert hook_counts(model) == clean, f"hooks left after an interrupt at event {k}/{n}"
        assert torch.is_grad_enabled(), f"grad mode off after an interrupt at event {k}/{n}"
    assert interrupted > 0


def test_a_pass_that_keeps_racing_an_update_runs_on_a_snapshot_of_the_parameters():
    from nbexplain.backends.torch.hooks import RACE_RETRIES, despite_training

    torch.manual_seed(0)
    m = nn.Linear(3, 2)
    x = torch.ones(1, 3)
    with torch.no_grad():
        want = m(x).clone()          # the model as it is when the last attempt starts
    tries = [0]

    def step():                      # the training thread's optimizer step, in place
        with torch.no_grad():
            m.weight.add_(1.0)

    def run():
        tries[0] += 1
        if tries[0] <= RACE_RETRIES:
            raise RuntimeError("one of the variables needed for gradient computation has "
                               "been modified by an inplace operation")
        t = threading.Thread(target=step)     # lands in the middle of the last attempt
        t.start()
        t.join()
        return m(x).detach()

    got = despite_training(m, run)
    assert tries[0] == RACE_RETRIES + 1
    torch.testing.assert_close(got, want)                 # the snapshot, not the live weights
    with torch.no_grad():
        assert not torch.allclose(m(x), want)             # the step did land on the model
    with pytest.raises(RuntimeError, match="something else"):   # other errors are raised
        despite_training(m, lambda: (_ for _ in ()).throw(RuntimeError("something else")))
