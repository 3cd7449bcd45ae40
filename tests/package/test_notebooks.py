"""The quickstart runs top to bottom in a real kernel, and its widget state is saved."""

import pathlib

import nbformat
import numpy as np
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_quickstart_executes_and_stores_widget_state(tmp_path):
    nb = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, errors
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
    acc = float(text.split("test accuracy:")[1].split()[0])
    assert acc > 0.9, f"the quickstart CNN should learn digits; got accuracy {acc}"
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    ours = [s["state"] for s in state.values() if "heatmap_meta" in s["state"]]
    assert len(ours) == 1
    meta = ours[0]["heatmap_meta"]
    assert meta["shape"] == [8, 8] and meta["method"] == "saliency"
    assert len(ours[0]["top_classes"]) == 5
    probs = [c["prob"] for c in ours[0]["top_classes"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    widget_view = [o for c in nb.cells for o in c.get("outputs", [])
                   if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widget_view, "the widget cell must display a widget view"
    assert np.isfinite(probs).all()
