"""Every notebook in notebooks/ runs top to bottom in a real kernel with nbclient, with its
widget state stored, as a user's "Run All" would; the committed notebooks carry no outputs.

The notebooks check their own claims with ``assert`` cells (the Keras twin's numbers equal the
torch model's, Captum's and SHAP's equal ours where the methods coincide, intervals narrow as
the budget grows), so a wrong number fails the run here. Each run's wall time is printed at the
end of the pytest session (the aim is under 2 minutes a notebook on this machine); the cell
timeout is a hang guard only.
"""

from __future__ import annotations

import pathlib
import time

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
EXPECTED = {"quickstart", "images_torch", "images_keras", "tabular", "text", "interop",
            "dataset"}

#: notebook name -> seconds, printed by the terminal summary in tests/conftest.py
DURATIONS: dict[str, float] = {}


def _run(path: pathlib.Path, tmp_path: pathlib.Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    DURATIONS[path.stem] = time.perf_counter() - t0
    return nb


def _errors(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == "error"]


def _our_widget_states(nb) -> list[dict]:
    """The stored states of nbexplain's widgets (anywidget models with a ``view`` and a
    ``status``)."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    return [s["state"] for s in state.values()
            if s.get("model_name") == "AnyModel" and "view" in s.get("state", {})
            and "status" in s.get("state", {})]


def test_every_teaching_notebook_is_there():
    assert EXPECTED <= {p.stem for p in NOTEBOOKS}, sorted(p.stem for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebooks_carry_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    with_outputs = [i for i, c in enumerate(nb.cells)
                    if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not with_outputs, f"{path.name}: cells {with_outputs} carry outputs; clear them"
    assert WIDGET_STATE not in nb.metadata.get("widgets", {}), f"{path.name}: widget state"
    assert path.stat().st_size < 64_000, f"{path.name} is {path.stat().st_size} bytes"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem != "quickstart"],
                         ids=[p.stem for p in NOTEBOOKS if p.stem != "quickstart"])
def test_notebook_runs_top_to_bottom_with_its_widgets(path, tmp_path):
    nb = _run(path, tmp_path)
    errors = _errors(nb)
    assert not errors, "\n".join(f"{e.ename}: {e.evalue}" for e in errors)
    codes = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in codes), "not every code cell ran"
    views = [o for c in codes for o in c.outputs if WIDGET_VIEW in o.get("data", {})]
    states = _our_widget_states(nb)
    assert views and states, "the notebook shows no nbexplain widget"
    stuck = [s.get("status") for s in states if s.get("status") not in ("idle", None)]
    assert not stuck, f"widgets saved while still working or failed: {stuck}"
    failed = [s.get("error") for s in states if s.get("error")]
    assert not failed, f"widgets saved with an error: {failed}"


def test_quickstart_executes_and_stores_widget_state(tmp_path):
    nb = _run(ROOT / "notebooks" / "quickstart.ipynb", tmp_path)
    errors = _errors(nb)
    assert not errors, errors
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    acc = float(text.split("test accuracy:")[1].split()[0])
    assert acc > 0.9, f"the quickstart CNN should learn digits; got accuracy {acc}"
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    ours = [s["state"] for s in state.values() if "heatmap_meta" in s["state"]]
    assert len(ours) == 1
    meta = ours[0]["heatmap_meta"]
    assert meta["shape"] == [8, 8] and meta["method"] == "saliency"
    assert len(ours[0]["top_classes"]) == 5
    probs = [c["prob"] for c in ours[0]["top_classes"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    widget_view = [o for c in nb.cells for o in c.get("outputs", [])
                   if WIDGET_VIEW in o.get("data", {})]
    assert widget_view, "the widget cell must display a widget view"
    assert np.isfinite(probs).all()
