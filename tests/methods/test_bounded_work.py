"""Work is bounded before it starts: Gauss-Legendre rules in O(n) memory (numpy's leggauss
holds an n×n matrix), counts refused with a memory or time estimate that names the option
to lower, and a long Integrated Gradients run that stops at the next pass after Ctrl-C.

Truths: numpy's leggauss, exact integrals of polynomials, tracemalloc, and a counting model.
"""

import json
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError
from nbexplain.methods.integrated_gradients import gauss_legendre, rule_points


@pytest.mark.parametrize("n", [101, 257, 1000])
def test_gauss_legendre_beyond_leggauss_sizes_matches_it(n):
    x, w = gauss_legendre(n)
    ref_x, ref_w = np.polynomial.legendre.leggauss(n)
    np.testing.assert_allclose(x, ref_x, rtol=0, atol=1e-14)
    np.testing.assert_allclose(w, ref_w, rtol=0, atol=1e-12)
    # exact for every polynomial of degree < 2n: ∫_{-1}^{1} x^k = 2/(k+1) for even k
    for k in (0, 2, 10, 2 * n - 2):
        assert np.sum(w * x ** k) == pytest.approx(2 / (k + 1), rel=1e-10)


@pytest.mark.parametrize("n", [2001, 5000])
def test_the_asymptotic_rule_matches_leggauss_and_the_recurrence(n):
    from nbexplain.methods import _quadrature as ig

    x, w = ig._gauss_legendre_asymptotic(n)
    ref_x, ref_w = np.polynomial.legendre.leggauss(n)
    np.testing.assert_allclose(x, ref_x, rtol=0, atol=1e-14)
    # leggauss's own weights next to ±1 are off by up to ~1e-6 (relative) at these sizes
    np.testing.assert_allclose(w, ref_w, rtol=2e-6, atol=0)
    # so the weights next to the ends are checked against the recurrence in long double
    xl = x[:3].astype(np.longdouble)
    for _ in range(3):
        p0, p1 = np.ones_like(xl), xl.copy()
        for j in range(2, n + 1):
            p0, p1 = p1, ((2 * j - 1) * xl * p1 - (j - 1) * p0) / j
        dp = n * (xl * p1 - p0) / (xl * xl - 1)
        xl = xl - p1 / dp
    p0, p1 = np.ones_like(xl), xl.copy()
    for j in range(2, n + 1):
        p0, p1 = p1, ((2 * j - 1) * xl * p1 - (j - 1) * p0) / j
    dp = n * (xl * p1 - p0) / (xl * xl - 1)
    exact = (2 / ((1 - xl * xl) * dp * dp)).astype(np.float64)
    np.testing.assert_allclose(w[:3], exact, rtol=1e-9, atol=0)


def test_a_rule_of_a_hundred_thousand_steps_is_built_and_exact():
    x, w = gauss_legendre(10 ** 5)       # O(n): well under a second (benchmarks, not here)
    assert x.shape == w.shape == (10 ** 5,) and np.all(np.diff(x) > 0) and np.all(w > 0)
    for k in (0, 2, 10, 100):
        assert np.sum(w * x ** k) == pytest.approx(2 / (k + 1), rel=1e-12)


def test_gauss_legendre_memory_is_linear_in_the_nodes():
    n = 4000                                   # leggauss: a 4000×4000 matrix, 122 MiB
    tracemalloc.start()
    try:
        gauss_legendre(n)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 128 * n * 8, peak          # O(n): ~4 MiB at most here


def test_a_huge_step_count_is_refused_before_any_work():
    with pytest.raises(NBExplainError, match=r"steps=10,000,000 with the Gauss-Legendre rule.*"
                                             r"riemann_trapezoid"):
        rule_points("gausslegendre", 10 ** 7)
    # the progressive form refuses before its first estimate, as attribute() does
    m = torch.nn.Linear(3, 2)
    with pytest.raises(NBExplainError, match=r"steps=400,000 with the Gauss-Legendre rule"):
        next(nbexplain.attribute_progressive(m, np.ones((1, 3), np.float32), target=0,
                                             steps=400_000))
    with pytest.raises(NBExplainError, match=r"steps=10,000,000 with the Gauss-Legendre rule.*"
                                             r"riemann_trapezoid"):
        rule_points("gausslegendre", 10 ** 7)
    with pytest.raises(NBExplainError, match=r"steps=1,000,000,000,000 needs about .* TiB.*"
                                             r"[Ll]ower steps="):
        rule_points("riemann_left", 10 ** 12)


def test_sample_counts_are_refused_with_their_memory_estimate():
    f = lambda z: np.asarray(z)[:, :2] * 1.0   # noqa: E731
    x = np.ones((1, 8))
    with pytest.raises(NBExplainError, match=r"LIME with samples=100,000,000 and 8 features "
                                             r"needs about .* GiB.*[Ll]ower samples="):
        nbexplain.attribute(f, x, "lime", target=0, baseline=0.0, samples=10 ** 8)
    with pytest.raises(NBExplainError, match=r"samples=1,000,000,000 with 8 features needs "
                                             r"about .* GiB.*[Ll]ower samples="):
        nbexplain.attribute(f, x, "shapley", target=0, baseline=0.0, estimator="kernel",
                            samples=10 ** 9)
    # a budget the exact enumeration of 8 features does not use is not refused
    a = nbexplain.attribute(f, x, "shapley", target=0, baseline=0.0, samples=10 ** 9)
    assert a.extras["estimator"] == "exact"


CTRL_C = r"""
import json, os, signal, sys, threading
import numpy as np, torch
import nbexplain

class Counting(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.Tanh(),
                                       torch.nn.Linear(256, 3))
        self.calls = self.after_signal = 0
        self.signalled = threading.Event()

    def forward(self, x):
        self.calls += 1
        if self.signalled.is_set():
            self.after_signal += 1
        return self.net(x)

m = Counting()
x = np.random.default_rng(0).normal(size=(1, 256)).astype(np.float32)

# as a Jupyter kernel does: Python leaves SIGINT ignored when it starts with it ignored, as a
# command put in the background (`&`) by a non-interactive shell does
signal.signal(signal.SIGINT, signal.default_int_handler)


def ctrl_c():
    m.signalled.set()
    os.kill(os.getpid(), signal.SIGINT)      # what the notebook's interrupt button sends

threading.Timer(0.5, ctrl_c).start()
try:
    # a million path points in passes of batch_size rows: minutes of work
    nbexplain.attribute(m, x, "integrated_gradients", target=0, steps=10 ** 6,
                        rule="riemann_left", batch_size=64, progress_bar=False)
    stopped = False
except KeyboardInterrupt:
    stopped = True
print(json.dumps({"stopped": stopped, "signalled": m.signalled.is_set(), "calls": m.calls,
                  "after_signal": m.after_signal}))
"""


def test_ctrl_c_stops_a_long_integrated_gradients_run_at_the_next_pass():
    """A real SIGINT, as the notebook's interrupt button sends to the kernel, stops a long run
    at the pass under way. In a process of its own with Python's SIGINT handler, as a
    kernel has: a test suite started in the background by a non-interactive shell (`make
    test &`) runs with SIGINT ignored, and there `_thread.interrupt_main()` does nothing."""
    r = subprocess.run([sys.executable, "-c", CTRL_C], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["stopped"], got
    assert got["signalled"] and got["calls"] > 1, got
    assert got["after_signal"] <= 1, got      # the pass under way, and no other
