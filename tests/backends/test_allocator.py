"""The once-per-process allocator warm-up (backends._settle_allocator).

Counted in minor page faults, not time: a fresh process explains an image batch with
perturbation passes of a few MiB of activations; with the warm-up glibc reuses the freed
activation memory, without it every pass faults its pages in anew.
"""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import resource, numpy as np, torch, nbexplain
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(16 * 32 * 32, 4)).eval()
    x = np.random.default_rng(0).random((1, 3, 32, 32)).astype(np.float32)
    run = lambda: nbexplain.attribute(net, x, "occlusion", target=1, window=4, stride=2,
                                      batch_size=64)
    run()
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        run()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) // 3)
""")


def _faults(warmup: bool) -> int:
    env = dict(os.environ, NBEXPLAIN_MALLOC_WARMUP="1" if warmup else "0",
               OMP_NUM_THREADS="1")
    for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        env.pop(k, None)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc thresholds")
def test_warmup_stops_page_faults_on_every_pass():
    without, with_ = _faults(False), _faults(True)
    # 169 windows in passes of 64 rows: ~4 MiB of activations per pass faulted in anew
    # without the warm-up; reused with it
    assert without > 5000, without
    assert with_ < without / 10, (with_, without)
