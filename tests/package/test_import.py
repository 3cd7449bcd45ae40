"""Importing nbexplain, or its widget module, pulls in no framework: torch, TensorFlow and
Keras are imported only when a model needs them."""

import subprocess
import sys


def test_import_pulls_no_framework():
    code = ("import nbexplain, sys; "
            "bad = [m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules]; "
            "assert not bad, bad; print(nbexplain.available_methods())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "saliency" in r.stdout


def test_widget_module_pulls_no_framework():
    code = ("import nbexplain.widgets, sys; "
            "assert 'torch' not in sys.modules and 'tensorflow' not in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
