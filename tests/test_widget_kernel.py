"""The Explainer widget's kernel side: traits, the request/reply protocol, masking."""

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError
from nbexplain.export import heatmap_2d
from nbexplain.widgets import Explainer
from nbexplain.widgets.serialize import decode_array


def cnn():
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 10)).eval()


def sent_messages(w, monkeypatch):
    box = []
    monkeypatch.setattr(w, "send", lambda content, buffers=None: box.append((content, buffers)))
    return box


def test_initial_state_is_the_predicted_class_map():
    m = cnn()
    x = torch.rand(1, 8, 8)
    labels = [f"<b>{i}</b>" for i in range(10)]
    w = nbexplain.explain(m, x, labels=labels)
    with torch.no_grad():
        logits = m(x[None])[0]
    probs = torch.softmax(logits, 0).numpy()
    order = np.argsort(-probs)[:5]
    assert [c["index"] for c in w.top_classes] == list(order)
    np.testing.assert_allclose([c["prob"] for c in w.top_classes], probs[order], rtol=1e-5)
    assert w.top_classes[0]["label"] == f"<b>{order[0]}</b>"  # raw text; the browser escapes
    assert w.target == int(order[0])
    assert w.image_meta == {"dtype": "uint8", "shape": [8, 8, 1]}
    assert len(w.image) == 64
    hm = decode_array(w.heatmap_meta, w.heatmap)
    expected = heatmap_2d(nbexplain.attribute(m, x, target=w.target).values, True)
    np.testing.assert_allclose(hm, expected, rtol=1e-6)
    assert w.heatmap_meta["method"] == "saliency" and w.heatmap_meta["signed"] is False
    assert w.heatmap_meta["dtype"] == "float32"


def test_request_for_another_class_answers_with_a_binary_map(monkeypatch):
    m = cnn()
    x = torch.rand(1, 8, 8)
    w = nbexplain.explain(m, x)
    first = bytes(w.heatmap)
    other = w.top_classes[2]["index"]
    box = sent_messages(w, monkeypatch)
    w._on_msg(w, {"kind": "attribute", "id": 5, "target": other, "method": "saliency"}, [])
    assert w.wait(20)
    content, buffers = box[-1]
    assert content["kind"] == "attribution" and content["id"] == 5
    assert content["target"] == other and content["final"] is True
    assert isinstance(buffers[0], (bytes, memoryview)) and len(buffers[0]) == 64 * 4
    got = decode_array(content["meta"], buffers[0])
    expected = heatmap_2d(nbexplain.attribute(m, x, target=other).values, True)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # the traits follow so that a reload shows the latest map
    assert w.target == other and bytes(w.heatmap) != first
    assert w.heatmap_meta["request_id"] == 5 and w.status == "idle"
    w.close()


def test_bad_request_answers_with_error_not_exception(monkeypatch):
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8))
    box = sent_messages(w, monkeypatch)
    w._on_msg(w, {"kind": "attribute", "id": 9, "target": 42}, [])
    assert w.wait(20)
    content, _ = box[-1]
    assert content["kind"] == "error" and content["id"] == 9
    assert "out of range" in content["error"] and "0..9" in content["error"]
    assert "out of range" in w.error
    w.close()


def test_nonfinite_map_is_masked_and_warned():
    class NaNGrad(torch.nn.Module):
        def forward(self, x):  # sqrt at 0 has an infinite gradient
            return torch.stack([torch.sqrt(x.flatten(1)).sum(1), x.flatten(1).sum(1)], 1)

    x = torch.rand(1, 1, 4, 4)
    x[0, 0, 1, 1] = 0.0
    with pytest.warns(RuntimeWarning, match="NaN or infinite"):
        w = nbexplain.explain(NaNGrad(), x, target=0)
    assert w.heatmap_meta["masked"] is True
    mask = np.frombuffer(w.heatmap_mask, np.uint8).reshape(4, 4)
    assert mask[1, 1] == 1 and mask.sum() == 1
    assert np.all(np.isfinite(decode_array(w.heatmap_meta, w.heatmap)))
    assert "masked" in w.warning


def test_explain_rejects_bad_labels_and_index():
    with pytest.raises(NBExplainError, match="one label per class"):
        nbexplain.explain(cnn(), torch.rand(1, 8, 8), labels=["a", "b"])
    with pytest.raises(NBExplainError, match="index=3"):
        nbexplain.explain(cnn(), torch.rand(2, 1, 8, 8), index=3)


def test_show_values_computed_elsewhere():
    from captum.attr import Saliency

    m = cnn()
    x = torch.rand(1, 1, 8, 8)
    vals = Saliency(m).attribute(x, target=4)
    w = nbexplain.show(vals, x, target=4)
    assert isinstance(w, Explainer) and w.target == 4
    np.testing.assert_allclose(decode_array(w.heatmap_meta, w.heatmap),
                               vals[0, 0].numpy(), rtol=1e-6)
