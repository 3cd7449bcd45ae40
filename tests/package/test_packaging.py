"""The wheel ships the built front end (nbexplain/static is git-ignored, so this is not free)."""

import os
import pathlib
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_wheel_contains_the_widget_bundle(tmp_path):
    assert (ROOT / "nbexplain" / "static" / "widget.js").exists(), "run `make setup` first"
    env = {**os.environ, "HATCH_JUPYTER_BUILDER_SKIP_NPM": "1"}
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation",
                        "--outdir", str(tmp_path), str(ROOT)], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (wheel,) = tmp_path.glob("nbexplain-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "nbexplain/static/widget.js" in names
    assert "nbexplain/__init__.py" in names
    assert not [n for n in names if n.startswith(("tests/", "js/", "node_modules/"))]
    meta = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("METADATA"))).decode()
    core = [l for l in meta.splitlines() if l.startswith("Requires-Dist") and "extra ==" not in l]
    assert sorted(l.split()[1].split(">")[0].split("!")[0].split("=")[0] for l in core) == [
        "anywidget", "matplotlib", "numpy", "tqdm", "traitlets"]
    # packaged like a package: the license, typing marker, the bundle's styles, one version
    assert "nbexplain/py.typed" in names and "nbexplain/static/widget.css" in names
    assert "Version: " + __import__("nbexplain").__version__ in meta
    assert "License-File: LICENSE" in meta or any(n.endswith("LICENSE") for n in names)
