"""Saliency and input × gradient through the torch adapter: analytic truth, agreement with
Captum (also for a model in training mode, whose batch statistics are used), shapes, side
effects and bad arguments."""

import numpy as np
import pytest
import torch
from torch import nn

import nbexplain
from nbexplain import NBExplainError

from conftest import assert_same_state, model_state_snapshot
# the fixtures cnn and xb come from the plugin torch_cnn
from torch_cnn import rel_err


def small_cnn(seed=0, bn=False):
    torch.manual_seed(seed)
    layers = [torch.nn.Conv2d(3, 8, 3, padding=1)]
    if bn:
        layers.append(torch.nn.BatchNorm2d(8))
    layers += [torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 5)]
    return torch.nn.Sequential(*layers).eval()


def test_linear_model_saliency_is_abs_weight_row():
    torch.manual_seed(1)
    lin = torch.nn.Linear(6, 4)
    x = torch.randn(3, 6)
    a = nbexplain.attribute(lin, x, method="saliency", target=[0, 2, 3])
    w = lin.weight.detach().numpy()
    np.testing.assert_allclose(a.values, np.abs(w[[0, 2, 3]]), rtol=1e-6)
    signed = nbexplain.attribute(lin, x, method="saliency", target=1, abs=False)
    np.testing.assert_allclose(signed.values, np.broadcast_to(w[1], (3, 6)), rtol=1e-6)


def test_quadratic_saliency_matches_analytic_gradient():
    class Quad(torch.nn.Module):
        def forward(self, x):  # f_0 = sum x^2, f_1 = sum 3x
            return torch.stack([(x ** 2).sum(1), (3 * x).sum(1)], 1)

    x = torch.tensor([[1.0, -2.0, 0.5]])
    a = nbexplain.attribute(Quad(), x, target=0, abs=False)
    np.testing.assert_allclose(a.values, 2 * x.numpy(), rtol=1e-6)


def test_matches_captum_saliency():
    from captum.attr import Saliency

    m = small_cnn()
    x = torch.randn(4, 3, 6, 6)
    tgt = [0, 1, 4, 2]
    ours = nbexplain.attribute(m, x, method="saliency", target=tgt).values
    theirs = Saliency(m).attribute(x, target=tgt).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-8)
    ours_signed = nbexplain.attribute(m, x, target=tgt, abs=False).values
    theirs_signed = Saliency(m).attribute(x, target=tgt, abs=False).detach().numpy()
    np.testing.assert_allclose(ours_signed, theirs_signed, rtol=1e-5, atol=1e-8)


def test_input_x_gradient_matches_captum(cnn, xb):
    from captum.attr import InputXGradient

    tgt = [0, 3, 1, 4]
    ours = nbexplain.attribute(cnn, xb, "input_x_gradient", target=tgt).values
    theirs = InputXGradient(cnn).attribute(xb.clone(), target=tgt).detach().numpy()
    assert rel_err(ours, theirs) <= 1e-5


def test_single_example_and_batch_shapes():
    m = small_cnn()
    x = torch.randn(2, 3, 6, 6)
    batch = nbexplain.attribute(m, x, target=1)
    single = nbexplain.attribute(m, x[1], target=1)
    assert batch.values.shape == (2, 3, 6, 6)
    assert single.values.shape == (3, 6, 6)
    assert single.target == 1
    np.testing.assert_allclose(single.values, batch.values[1], rtol=1e-5, atol=1e-7)
    # batch_size chunks give the same answer
    chunked = nbexplain.attribute(m, x, target=1, batch_size=1)
    np.testing.assert_allclose(chunked.values, batch.values, rtol=1e-5, atol=1e-7)
    # numpy inputs are accepted too
    from_np = nbexplain.attribute(m, x.numpy(), target=1)
    np.testing.assert_allclose(from_np.values, batch.values, rtol=1e-5, atol=1e-7)


def test_predicted_target_and_channel_reduction():
    m = small_cnn()
    x = torch.randn(3, 3, 6, 6)
    a = nbexplain.attribute(m, x, target="predicted", reduce_channels="max")
    with torch.no_grad():
        pred = m(x).argmax(1).numpy()
    np.testing.assert_array_equal(a.target, pred)
    full = nbexplain.attribute(m, x, target="predicted").values
    np.testing.assert_allclose(a.values, full.max(axis=1, keepdims=True), rtol=1e-6)


def test_probability_score():
    m = small_cnn()
    x = torch.randn(1, 3, 6, 6)
    a = nbexplain.attribute(m, x, target=2, score="probability", abs=False).values
    xg = x.clone().requires_grad_(True)
    torch.softmax(m(xg), 1)[0, 2].backward()
    np.testing.assert_allclose(a, xg.grad.numpy(), rtol=1e-5, atol=1e-9)


def test_model_state_untouched_including_on_error():
    m = small_cnn(bn=True)
    # a user hook must survive; the model stays in eval mode, params keep requires_grad
    calls = []
    h = m[0].register_forward_hook(lambda mod, i, o: calls.append(1))
    m[4].weight.requires_grad_(False)
    before = model_state_snapshot(m)
    x = torch.randn(2, 3, 6, 6)
    out_before = m(x).detach().clone()
    nbexplain.attribute(m, x, target=0)
    with pytest.raises(NBExplainError):
        nbexplain.attribute(m, x, target=99)
    after = model_state_snapshot(m)
    assert_same_state(before, after)
    assert torch.equal(m(x).detach(), out_before)
    assert calls, "the user's hook must still fire"
    h.remove()


def test_training_mode_warns_but_is_not_flipped():
    m = small_cnn(bn=True).train()
    with pytest.warns(UserWarning, match="training mode"):
        nbexplain.attribute(m, torch.randn(1, 3, 6, 6), target=0)
    assert m.training


def test_batchnorm_in_training_mode_is_explained_like_captum():
    from captum.attr import Saliency

    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    mlp.train()
    x = torch.randn(6, 5)
    ref = Saliency(mlp).attribute(x.clone().requires_grad_(), target=0).detach().numpy()
    for kw in ({}, {"batched": True}):
        with pytest.warns(UserWarning, match="training mode"):
            r = nbexplain.attribute(mlp, x, "saliency", target=0, **kw)
        np.testing.assert_allclose(r.values, ref, rtol=1e-5, atol=1e-7)
    assert mlp.training


@pytest.mark.parametrize("bad, match", [
    (dict(target=5), "out of range"),
    (dict(target=[0, 1, 2]), "one per example"),
    (dict(target="biggest"), "unknown target"),
    (dict(method="nope"), "unknown method"),
])
def test_bad_arguments(bad, match):
    m = small_cnn()
    with pytest.raises(NBExplainError, match=match):
        nbexplain.attribute(m, torch.randn(2, 3, 6, 6), **bad)


def test_nan_input_rejected():
    x = torch.randn(1, 3, 6, 6)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(NBExplainError, match="NaN"):
        nbexplain.attribute(small_cnn(), x)


def test_integer_input_rejected_for_gradients():
    emb = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Flatten(), torch.nn.Linear(12, 2))
    with pytest.raises(NBExplainError, match="integer"):
        nbexplain.attribute(emb, torch.tensor([[1, 2, 3]]))


def test_wrong_layout_names_the_fix():
    with pytest.raises(NBExplainError, match="N×C×H×W"):
        nbexplain.attribute(small_cnn(), torch.randn(2, 6, 6, 3))  # NHWC given to a torch CNN


def test_tuple_output_needs_selector():
    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 2)

        def forward(self, x):
            return self.lin(x), self.lin(x) * 2

    x = torch.randn(2, 3)
    two = Two()
    with pytest.raises(NBExplainError, match="output="):
        nbexplain.attribute(two, x, target=0)
    a0 = nbexplain.attribute(two, x, target=0, output=0, abs=False).values
    a1 = nbexplain.attribute(two, x, target=0, output=1, abs=False).values
    np.testing.assert_allclose(a1, 2 * a0, rtol=1e-6)


def test_non_differentiable_model():
    class Frozen(torch.nn.Module):
        def forward(self, x):
            with torch.no_grad():
                return x.sum(1, keepdim=True).repeat(1, 2)

    with pytest.raises(NBExplainError, match="does not require gradients"):
        nbexplain.attribute(Frozen(), torch.randn(2, 3), target=0)


def test_save_formats(tmp_path):
    a = nbexplain.attribute(small_cnn(), torch.randn(3, 6, 6), target=0)
    for ext, magic in [("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")]:
        p = a.save(str(tmp_path / f"s.{ext}"))
        assert open(p, "rb").read(5).startswith(magic)
    with pytest.raises(NBExplainError, match="png"):
        a.save(str(tmp_path / "s.jpg"))
    tab = nbexplain.attribute(torch.nn.Linear(4, 2), torch.randn(2, 4), target=1)
    assert tab.layout == "tabular"
    assert open(tab.save(str(tmp_path / "t.svg")), "rb").read(5) == b"<?xml"
