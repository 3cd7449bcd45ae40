"""A clean virtual environment installs nbexplain like a user would: the built wheel with
the torch extra, and separately the sdist with npm hidden from PATH (the sdist ships the
built front end); then attribute() runs on a torch model and shows a tqdm bar when asked.
Packages come from the machine's package index and wheel cache, as for any pip install."""

from __future__ import annotations

import importlib.metadata
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

SCRIPT = """
import nbexplain, torch, pathlib
torch.manual_seed(0)
a = nbexplain.attribute(torch.nn.Linear(3, 2), torch.rand(2, 3), method="integrated_gradients",
                        target=0, progress_bar=True)
static = pathlib.Path(nbexplain.__file__).parent / "static"
print("OK", a.values.shape, (static / "widget.js").exists(), (static / "widget.css").exists(),
      nbexplain.__version__)
"""


def _venv(path: pathlib.Path) -> pathlib.Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path / "bin" / "python"


def _no_npm_path(tmp: pathlib.Path) -> str:
    """A PATH with the basic tools but no npm or node."""
    bin_ = tmp / "bin"
    bin_.mkdir()
    for tool in ("sh", "bash", "env", "uname", "cat", "ls", "git", "gcc", "cc", "tar"):
        found = shutil.which(tool)
        if found:
            (bin_ / tool).symlink_to(found)
    return str(bin_)


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "HATCH_JUPYTER_BUILDER_SKIP_NPM": "1"}
    r = subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation",
                        "--outdir", str(out), str(ROOT)], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (wheel,) = out.glob("nbexplain-*.whl")
    (sdist,) = out.glob("nbexplain-*.tar.gz")
    return wheel, sdist


def _install_and_run(tmp: pathlib.Path, spec: str, path_env: str | None) -> str:
    try:
        return _install_and_run_in(tmp, spec, path_env)
    finally:   # a venv with torch is GBs: none is left behind in the test folders
        shutil.rmtree(tmp / "venv", ignore_errors=True)


def _install_and_run_in(tmp: pathlib.Path, spec: str, path_env: str | None) -> str:
    py = _venv(tmp / "venv")
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    if path_env is not None:
        env["PATH"] = f"{py.parent}:{path_env}"
    # the torch build the dev environment has (the machine's CPU wheel): left free, pip takes
    # the newest torch, with GBs of CUDA libraries, which no user of this test needs
    pins = tmp / "constraints.txt"
    pins.write_text(f"torch=={importlib.metadata.version('torch')}\n")
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "-c", str(pins), spec],
                       capture_output=True, text=True, env=env, cwd=tmp)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = subprocess.run([str(py), "-c", SCRIPT], capture_output=True, text=True, env=env,
                       cwd=tmp)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "integrated gradients" in r.stderr and "%|" in r.stderr, r.stderr[-2000:]
    return r.stdout


def test_the_wheel_installs_with_the_torch_extra_in_a_clean_venv(dists, tmp_path):
    wheel, _ = dists
    out = _install_and_run(tmp_path, f"{wheel}[torch]", None)
    assert "OK (2, 3) True True" in out, out


def test_the_sdist_installs_without_npm(dists, tmp_path):
    _, sdist = dists
    no_npm = _no_npm_path(tmp_path)
    assert shutil.which("npm", path=no_npm) is None
    out = _install_and_run(tmp_path, f"{sdist}[torch]", no_npm)
    assert "OK (2, 3) True True" in out, out
