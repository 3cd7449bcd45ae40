"""Attribution through a text model's embedding layer (``layer=``): IG on the embedding's
output from the pad tokens' embeddings, summed to one value per token. Truths: Captum's
LayerIntegratedGradients and LayerGradientXActivation (torch), a hand-written GradientTape
(Keras), torch autograd for saliency, and a torch/Keras twin with the same weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError


class TextCNN(torch.nn.Module):
    def __init__(self, vocab=50, dim=8):
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(vocab, dim)
        self.conv = torch.nn.Conv1d(dim, 6, 3, padding=1)
        self.fc = torch.nn.Linear(6, 3)

    def forward(self, ids):
        e = self.embed(ids).transpose(1, 2)
        return self.fc(torch.tanh(self.conv(e)).mean(-1))


@pytest.fixture(scope="module")
def text():
    ids = torch.randint(1, 50, (4, 12), generator=torch.Generator().manual_seed(1))
    return TextCNN().eval(), ids


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


# (Captum's "riemann_trapezoid" weighs each point 1/n with the ends halved: weights summing to
# (n-1)/n, not 1; compared elsewhere as Captum × n/(n-1))
@pytest.mark.parametrize("rule,steps", [("gausslegendre", 50), ("riemann_right", 20)])
def test_layer_ig_equals_captums_layer_integrated_gradients(text, rule, steps):
    from captum.attr import LayerIntegratedGradients

    m, ids = text
    pad = torch.full_like(ids, 3)
    ours = nbexplain.attribute(m, ids, method="integrated_gradients", target=1, layer=m.embed,
                               baseline=3, rule=rule, steps=steps)
    ref, delta = LayerIntegratedGradients(m, m.embed).attribute(
        ids, baselines=pad, target=1, n_steps=steps, method=rule,
        return_convergence_delta=True)
    assert ours.values.shape == tuple(ids.shape)
    assert rel(ours.values, ref.sum(-1).detach()) < 1e-5
    np.testing.assert_allclose(ours.delta, delta.detach().numpy(), atol=1e-5)


def test_layer_input_x_gradient_equals_captums_and_saliency_is_the_gradients_size(text):
    from captum.attr import LayerGradientXActivation

    m, ids = text
    ixg = nbexplain.attribute(m, ids, method="input_x_gradient", target=2, layer="embed")
    ref = LayerGradientXActivation(m, m.embed).attribute(ids, target=2).sum(-1).detach()
    assert rel(ixg.values, ref) < 1e-5
    e = m.embed(ids).detach().requires_grad_(True)
    out = m.fc(torch.tanh(m.conv(e.transpose(1, 2))).mean(-1))
    (grad,) = torch.autograd.grad(out[:, 2].sum(), e)   # no .grad written on the model
    sal = nbexplain.attribute(m, ids, method="saliency", target=2, layer=m.embed)
    assert rel(sal.values, grad.abs().sum(-1)) < 1e-5


def test_token_ids_without_a_layer_are_refused_with_the_fix(text):
    m, ids = text
    with pytest.raises(NBExplainError, match="(?i)integer|token"):
        nbexplain.attribute(m, ids, method="integrated_gradients", target=0)


def test_a_fractional_baseline_is_not_a_token_id(text):
    m, ids = text
    with pytest.raises(NBExplainError, match="token id"):
        nbexplain.attribute(m, ids, method="integrated_gradients", target=0, layer=m.embed,
                            baseline=0.5)


def test_the_model_is_left_as_it_was(text):
    m, ids = text
    m.train()
    try:
        nbexplain.attribute(m, ids, method="integrated_gradients", target=0, layer=m.embed,
                            steps=8)
        assert m.training
        assert all(len(x._forward_hooks) == 0 for x in m.modules())
        assert all(p.grad is None for p in m.parameters())
    finally:
        m.eval()


def keras_twin(tm):
    keras = pytest.importorskip("keras")
    inp = keras.Input((12,), dtype="int32")
    emb = keras.layers.Embedding(50, 8, name="embed")
    conv = keras.layers.Conv1D(6, 3, padding="same", activation="tanh", name="conv")
    fc = keras.layers.Dense(3, name="fc")
    out = fc(keras.layers.GlobalAveragePooling1D()(conv(emb(inp))))
    km = keras.Model(inp, out)
    emb.set_weights([tm.embed.weight.detach().numpy()])
    conv.set_weights([tm.conv.weight.detach().numpy().transpose(2, 1, 0),
                      tm.conv.bias.detach().numpy()])
    fc.set_weights([tm.fc.weight.detach().numpy().T, tm.fc.bias.detach().numpy()])
    return km


def test_keras_layer_ig_equals_a_hand_written_tape_and_the_torch_twin(text):
    tf = pytest.importorskip("tensorflow")
    m, ids = text
    km = keras_twin(m)
    idn = ids.numpy().astype(np.int32)
    ours = nbexplain.attribute(km, idn, method="integrated_gradients", target=1,
                               layer="embed", steps=32)
    emb, rest = km.get_layer("embed"), km.layers[2:]
    e = emb(idn)
    eb = emb(np.zeros_like(idn))
    nodes, w = np.polynomial.legendre.leggauss(32)
    acc = tf.zeros_like(e)
    for a, wi in zip((nodes + 1) / 2, w / 2):
        pt = eb + float(a) * (e - eb)
        with tf.GradientTape() as tape:
            tape.watch(pt)
            h = pt
            for layer in rest:
                h = layer(h)
            s = tf.reduce_sum(h[:, 1])
        acc += float(wi) * tape.gradient(s, pt)
    hand = tf.reduce_sum((e - eb) * acc, axis=-1).numpy()
    assert rel(ours.values, hand) < 1e-5
    torch_ours = nbexplain.attribute(m, ids, method="integrated_gradients", target=1,
                                     layer=m.embed, steps=32)
    assert rel(ours.values, torch_ours.values) < 1e-4
    ixg = nbexplain.attribute(km, idn, method="input_x_gradient", target=1, layer="embed")
    t_ixg = nbexplain.attribute(m, ids, method="input_x_gradient", target=1, layer=m.embed)
    assert rel(ixg.values, t_ixg.values) < 1e-4
