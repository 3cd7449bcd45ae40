"""What attribute() takes as inputs, and the message for what it cannot take: a model with
several inputs gets the wrapping advice (and the advised wrapper works), bfloat16 models are
explained, a dtype the model cannot take is named with its fix (x.float() for a torch tensor,
x.astype(...) for an array), integer token ids take only a token id as baseline, inputs made
under inference mode are taken, and malformed, empty or meta-device inputs are refused.

Truths: hand-computed linear attributions, a brute-force token ablation, the same input cloned
outside inference mode, and the caller's data left untouched.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import nbexplain  # noqa: E402
from nbexplain import NBExplainError  # noqa: E402

from parity_models import cnn_pair  # noqa: E402
from toys import _lin, _x  # noqa: E402


# --- models with several inputs ---------------------------------------------------------------
class TwoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(6, 2)

    def forward(self, a, b):
        return self.lin(torch.cat([a, b], 1))


@pytest.mark.parametrize("inputs", [
    lambda: [np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)],
    lambda: {"a": np.ones((4, 3), np.float32), "b": np.ones((4, 3), np.float32)},
    lambda: np.ones((4, 3), np.float32),                   # one of the two
    lambda: [np.ones((4, 3), np.float32), np.ones((4, 3), np.float32)],   # same shapes
], ids=["list-of-different-shapes", "dict", "one-of-two", "list-of-same-shapes"])
def test_two_input_torch_model_gets_the_wrapping_advice(inputs):
    with pytest.raises(NBExplainError, match="several inputs.*b1.expand"):
        nbexplain.attribute(TwoInputs(), inputs(), "saliency", target=0)


def test_the_advised_wrapper_explains_one_input():
    m = TwoInputs()
    a1, b1 = torch.randn(1, 3), torch.randn(1, 3)

    def f(a):
        return m(a, b1.expand(len(a), *b1.shape[1:]))

    ig = nbexplain.attribute(f, a1, "integrated_gradients", framework="torch", target=0,
                             baseline=0.0)
    np.testing.assert_allclose(ig.values, (m.lin.weight[0, :3] * a1).detach().numpy(),
                               rtol=1e-5)
    sh = nbexplain.attribute(f, a1, "shapley", framework="torch", target=0, baseline=0.0)
    np.testing.assert_allclose(sh.values, ig.values, rtol=1e-5, atol=1e-6)


def test_two_input_keras_model_gets_the_wrapping_advice():
    keras = pytest.importorskip("keras")
    a_in, b_in = keras.Input((3,)), keras.Input((3,))
    km = keras.Model([a_in, b_in],
                     keras.layers.Dense(2)(keras.layers.Concatenate()([a_in, b_in])))
    x = np.ones((4, 3), np.float32)
    for inputs in ([x, x], x):
        with pytest.raises(NBExplainError, match="takes 2 inputs.*tf.repeat"):
            nbexplain.attribute(km, inputs, "saliency", target=0)


# --- dtypes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "occlusion",
                                    "shapley"])
def test_bfloat16_torch_model(method):
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 2).to(torch.bfloat16)
    x = np.array([[1.0, 2.0, -1.0, 0.5]], np.float32)
    opts = {} if method == "saliency" else {"baseline": 0.0}
    a = nbexplain.attribute(lin, x, method, target=0, **opts)
    assert a.values.dtype.kind == "f"
    w = lin.weight.float().detach().numpy()[0]
    want = np.abs(w)[None] if method == "saliency" else (w * x)
    # bfloat16 keeps 8 bits of mantissa: the truth to its precision
    np.testing.assert_allclose(a.values, want, rtol=2e-2, atol=2e-2)


def test_a_dtype_the_model_cannot_take_is_named_first_call_and_after():
    w = torch.randn(5, 3)

    def f(x):                      # float32 constants: float64 inputs fail inside
        return x @ w

    x32 = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    with pytest.raises(NBExplainError, match=r"dtype float64.*x\.astype\('float32'\)"):
        nbexplain.attribute(f, x32.astype(np.float64), "saliency", target=0,
                            framework="torch")
    nbexplain.attribute(f, x32, "saliency", target=0, framework="torch")
    with pytest.raises(NBExplainError, match=r"dtype float64.*x\.astype\('float32'\)"):
        nbexplain.attribute(f, x32.astype(np.float64), "saliency", target=0,
                            framework="torch")
    with pytest.raises(NBExplainError, match=r"integer dtype int64.*astype\('float32'\)"):
        nbexplain.attribute(f, x32.astype(np.int64), "occlusion", target=0,
                            framework="torch")


def test_integer_torch_tensor_gets_the_torch_spelling():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.Flatten(),
                            torch.nn.Linear(2 * 6 * 6, 2))
    x = (torch.rand(2, 3, 8, 8) * 255).to(torch.uint8)
    for method in ("saliency", "occlusion"):
        with pytest.raises(NBExplainError, match=r"x\.float\(\) for a torch tensor"):
            nbexplain.attribute(m, x, method, target=0)


@pytest.mark.parametrize("method", ["occlusion", "shapley", "lime"])
def test_uint8_images_for_a_float_torch_model_name_the_dtype(method):
    tm, _, _ = cnn_pair()
    x = (_x((2, 3, 32, 32)) * 255).astype(np.uint8)
    with pytest.raises(NBExplainError, match=r"integer dtype uint8.*x\.astype\('float32'\)"):
        nbexplain.attribute(tm, x, method, target=1)


# --- integer token ids ------------------------------------------------------------------------
class Tokens(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(20, 4)
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, t):
        return self.fc(self.emb(t).mean(1))


def test_occlusion_replaces_tokens_with_the_baseline_token():
    m = Tokens().eval()
    t = torch.randint(1, 20, (2, 6), generator=torch.Generator().manual_seed(0))
    keep = t.clone()
    a = nbexplain.attribute(m, t, "occlusion", target=1, baseline=0, window=1)
    with torch.no_grad():
        f0 = m(t)[:, 1]
        truth = np.stack([(f0 - m(torch.where(torch.arange(6) == j, 0, t))[:, 1]).numpy()
                          for j in range(6)], axis=1)
    np.testing.assert_allclose(a.values, truth, rtol=1e-6, atol=1e-7)
    assert torch.equal(t, keep)
    with pytest.raises(NBExplainError, match="are integers.*token id"):
        nbexplain.attribute(m, t, "occlusion", target=1, baseline=0.5, window=1)


def test_shapley_refuses_a_fractional_baseline_for_tokens():
    m = Tokens().eval()
    t = torch.randint(1, 20, (1, 6), generator=torch.Generator().manual_seed(0))
    with pytest.raises(NBExplainError, match="are integers.*token id"):
        nbexplain.attribute(m, t, "shapley", target=0, baseline=0.5)
    a = nbexplain.attribute(m, t, "shapley", target=0, baseline=0, estimator="exact")
    with torch.no_grad():
        gap = float(m(t)[0, 0] - m(torch.zeros_like(t))[0, 0])
    np.testing.assert_allclose(a.extras["group_values"].sum(), gap, rtol=1e-5)


# --- inference mode; malformed, empty and meta-device inputs ----------------------------------
def test_inputs_made_under_inference_mode():
    lin = _lin()
    with torch.inference_mode():
        x = torch.randn(4, 5)
    for method in ("saliency", "input_x_gradient", "integrated_gradients"):
        a = nbexplain.attribute(lin, x, method, target=2)
        b = nbexplain.attribute(lin, x.clone(), method, target=2)
        np.testing.assert_array_equal(a.values, b.values)
    assert x.is_inference()


@pytest.mark.parametrize("inputs, words", [
    ([[1.0, 2.0], [3.0]], "cannot be made into one array"),
    (np.float32(1.0), "the inputs are one number"),
])
def test_malformed_inputs(inputs, words):
    with pytest.raises(NBExplainError, match=words):
        nbexplain.attribute(_lin(d=2), inputs, "saliency", target=0)


def test_dataframe_with_text_column():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"], "c": [0.5, 0.1], "d": [1.0, 2.0],
                       "e": [3.0, 4.0]})
    with pytest.raises(NBExplainError, match="non-numeric columns"):
        nbexplain.attribute(_lin(), df, "saliency", target=0)


def test_meta_tensors():
    with pytest.raises(NBExplainError, match="'meta' device"):
        nbexplain.attribute(_lin(), torch.empty(2, 5, device="meta"), "saliency", target=0)


def test_empty_inputs_are_named():
    with pytest.raises(NBExplainError, match=r"inputs are empty \(shape \(0, 4\)\)"):
        nbexplain.attribute(torch.nn.Linear(4, 3), np.zeros((0, 4), np.float32))
