"""The Explainer widget as explain() builds it: the predicted class's map, the top classes with
their probabilities (finite when a logit overflows; the sigmoid for a one-logit binary
classifier), non-finite map values masked and warned about, and labels, index and top_k
checked at construction.

Truths: nbexplain.attribute with the same options, torch's softmax or sigmoid of the logits,
and strict JSON.
"""

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

import nbexplain
from nbexplain import NBExplainError
from nbexplain.export import display_image, heatmap_2d

from widget_helpers import cnn, trait_map


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
    assert w.image_meta == {"dtype": "uint8", "shape": [8, 8, 1], "encoding": "png"}
    shown = np.asarray(Image.open(io.BytesIO(w.image)))
    np.testing.assert_array_equal(shown, np.round(display_image(x.numpy(), True)[..., 0] * 255))
    hm, tol = trait_map(w)
    expected = heatmap_2d(nbexplain.attribute(m, x, target=w.target).values, True)
    np.testing.assert_allclose(hm, expected, rtol=0, atol=tol)
    assert w.heatmap_meta["method"] == "saliency" and w.heatmap_meta["signed"] is False


def test_an_overflowed_logit_gives_finite_probabilities():
    class Overflow(torch.nn.Module):
        def forward(self, x):
            z = x.flatten(1)[:, :3] * 0.0
            return z + torch.tensor([0.0, 1.0, float("inf")])

    w = nbexplain.explain(Overflow(), torch.rand(1, 1, 8, 8), method="occlusion")
    probs = {c["index"]: c["prob"] for c in w.top_classes}
    # before: every probability was NaN, and the saved widget state was not valid JSON
    assert probs == {2: 1.0, 0: 0.0, 1: 0.0}
    json.dumps(w.top_classes, allow_nan=False)
    w.close()


@pytest.mark.parametrize("score", ["logit", "probability"])
def test_a_one_logit_binary_classifier_shows_its_sigmoid(score):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1)).eval()
    x = torch.rand(1, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    w = nbexplain.explain(m, x, score=score)
    with torch.no_grad():
        p = float(torch.sigmoid(m(x))[0, 0])
    # before: 1.0 whatever the input (the softmax of one value)
    assert w.top_classes[0]["prob"] == pytest.approx(p, rel=1e-6)
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
    mask = np.asarray(Image.open(io.BytesIO(w.heatmap_mask)))
    assert mask[1, 1] == 1 and mask.sum() == 1
    assert np.all(np.isfinite(trait_map(w)[0]))
    assert "masked" in w.warning


# --- checks at construction -------------------------------------------------------------------
def test_explain_rejects_bad_labels_and_index():
    with pytest.raises(NBExplainError, match="one label per class"):
        nbexplain.explain(cnn(), torch.rand(1, 8, 8), labels=["a", "b"])
    with pytest.raises(NBExplainError, match="index=3"):
        nbexplain.explain(cnn(), torch.rand(2, 1, 8, 8), index=3)


@pytest.mark.parametrize("top_k", [-1, 0, 2.5, True, "3", None])
def test_bad_top_k_is_refused_at_construction(top_k):
    with pytest.raises(NBExplainError, match="top_k"):
        nbexplain.explain(cnn(), torch.rand(1, 8, 8), top_k=top_k)


def test_top_k_larger_than_the_classes_lists_them_all():
    w = nbexplain.explain(cnn(), torch.rand(1, 8, 8), top_k=50)
    assert sorted(c["index"] for c in w.top_classes) == list(range(10))


@pytest.mark.parametrize("index", [1.5, True, "0"])
def test_bad_index_is_refused_at_construction(index):
    with pytest.raises(NBExplainError, match="index"):
        nbexplain.explain(cnn(), torch.rand(2, 1, 8, 8), index=index)
