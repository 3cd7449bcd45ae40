"""Fixes from a new-user review of the adapter layer (models, inputs, outputs, targets): each
case used to crash the process, answer a different question, or escape as a raw framework
error."""

from __future__ import annotations

import collections
import dataclasses
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import nbexplain  # noqa: E402
from nbexplain import NBExplainError  # noqa: E402

from parity_models import LastStepLSTM  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _lin(k=3, d=5, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(d, k)


# --- TensorFlow models without Keras layers and a 3-axis input ------------------------------
def test_tf_module_with_conv_kernels_takes_one_hwc_image_without_crashing():
    """Probing a 3-axis slice hands tf.nn.conv2d a 3-axis tensor, which aborts the process:
    run in a child process so a regression cannot take the test run down with it."""
    code = textwrap.dedent("""
        import os; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import numpy as np, tensorflow as tf, nbexplain
        rng = np.random.RandomState(0)
        class M(tf.Module):
            def __init__(s):
                super().__init__(); s.k = tf.Variable(rng.randn(3, 3, 3, 4).astype(np.float32))
            def __call__(s, x):
                return tf.reduce_mean(tf.nn.conv2d(x, s.k, 1, "VALID"), axis=(1, 2))
        img = rng.rand(8, 8, 3).astype(np.float32)
        m = M()
        a = nbexplain.attribute(m, img, target=1)
        b = nbexplain.attribute(m, img, target=1, batched=False)
        assert a.values.shape == (8, 8, 3) and a.extras["single"], a.values.shape
        np.testing.assert_array_equal(a.values, b.values)
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), (r.returncode, r.stderr[-800:])


def test_plain_tf_function_asks_for_batched_on_a_3_axis_input():
    tf = pytest.importorskip("tensorflow")
    k = tf.constant(np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32))

    def f(x):
        return tf.reduce_mean(x @ k, axis=1)      # (N, T, D) -> (N, 2)

    x = np.random.default_rng(1).normal(size=(3, 6, 4)).astype(np.float32)
    with pytest.raises(NBExplainError, match=r"pass batched=True .* batched=False"):
        nbexplain.attribute(f, x, "saliency", target=0, framework="tensorflow")
    a = nbexplain.attribute(f, x, "saliency", target=0, framework="tensorflow", batched=True,
                            abs=False)
    # d mean_t (x_t @ k)[0] / d x_t = k[:, 0] / T
    np.testing.assert_allclose(a.values, np.broadcast_to(k.numpy()[:, 0] / 6, x.shape),
                               rtol=1e-6)


# --- batched= ----------------------------------------------------------------------------------
def test_batched_takes_bools_only():
    m = LastStepLSTM()
    Last = lambda: m  # noqa: E731
    seq = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    one = nbexplain.attribute(Last(), seq, "saliency", target=1, batched=False)
    np_false = nbexplain.attribute(Last(), seq, "saliency", target=1, batched=np.False_)
    assert one.extras["single"] and np_false.extras["single"]
    np.testing.assert_array_equal(one.values, np_false.values)
    for bad in (0, "no", 1.0):
        with pytest.raises(NBExplainError, match=r"batched=.*use True .* False .* None"):
            nbexplain.attribute(Last(), seq, "saliency", target=1, batched=bad)


# --- dtypes ------------------------------------------------------------------------------------
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


# --- one row per example -------------------------------------------------------------------
class BatchMean(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = _lin()

    def forward(self, x):
        return self.lin(x).mean(0, keepdim=True)       # 1 row whatever the batch


@pytest.mark.parametrize("method, kw", [("saliency", {}), ("integrated_gradients",
                                                           {"steps": 4}),
                                        ("occlusion", {})])
def test_a_model_that_reduces_over_the_batch_is_refused(method, kw):
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    with pytest.raises(NBExplainError, match=r"returned 1 row\(s\) of output for \d+ examples"):
        nbexplain.attribute(BatchMean(), x, method, target=[0, 1, 2, 0], **kw)


def test_keras_model_that_reduces_over_the_batch_is_refused():
    keras = pytest.importorskip("keras")
    inp = keras.Input((5,))
    out = keras.layers.Lambda(lambda t: keras.ops.mean(t, axis=0, keepdims=True))(
        keras.layers.Dense(3)(inp))
    km = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    for method in ("saliency", "integrated_gradients", "occlusion"):
        with pytest.raises(NBExplainError, match=r"returned 1 row\(s\) of output for"):
            nbexplain.attribute(km, x, method, target=[0, 1, 2, 0])


def test_a_k_by_n_output_is_named_as_such():
    lin = _lin()
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    with pytest.raises(NBExplainError, match=r"does not return one row per example: given 1 "
                                             r"example\(s\) it returned an output of shape "
                                             r"\(3, 1\)") as e:
        nbexplain.attribute(lambda t: lin(t).T, x, "saliency", target=0, framework="torch")
    assert "NoneType" not in str(e.value)


# --- inputs --------------------------------------------------------------------------------------
def test_inputs_made_under_inference_mode():
    lin = _lin()
    with torch.inference_mode():
        x = torch.randn(4, 5)
    for method in ("saliency", "input_x_gradient", "integrated_gradients"):
        a = nbexplain.attribute(lin, x, method, target=2)
        b = nbexplain.attribute(lin, x.clone(), method, target=2)
        np.testing.assert_array_equal(a.values, b.values)
    assert x.is_inference()


def test_keras_model_takes_torch_tensors_that_require_grad():
    keras = pytest.importorskip("keras")
    inp = keras.Input((5,))
    dense = keras.layers.Dense(3)
    km = keras.Model(inp, dense(inp))
    xt = torch.randn(4, 5, requires_grad=True)
    a = nbexplain.attribute(km, xt, "saliency", target=1, abs=False)
    np.testing.assert_allclose(a.values, np.broadcast_to(np.asarray(dense.kernel)[:, 1],
                                                         (4, 5)), rtol=1e-6)
    b = nbexplain.attribute(km, [xt[0], xt[1]], "saliency", target=1, abs=False)
    assert b.values.shape == (2, 5)
    assert xt.grad is None


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


# --- outputs and targets ---------------------------------------------------------------------
NT = collections.namedtuple("NT", "logits hidden")


@dataclasses.dataclass
class DC:
    logits: torch.Tensor
    hidden: torch.Tensor = None


class Packed(torch.nn.Module):
    """A linear model whose output is ``pack(logits, x)``."""

    def __init__(self, lin, pack):
        super().__init__()
        self.lin, self.pack = lin, pack

    def forward(self, x):
        return self.pack(self.lin(x), x)


@pytest.mark.parametrize("kind", [NT, DC])
def test_outputs_with_a_logits_field(kind):
    lin = _lin()
    M = lambda: Packed(lin, kind)  # noqa: E731
    x = torch.randn(4, 5)
    a = nbexplain.attribute(M(), x, "saliency", target=1, output="logits", abs=False)
    np.testing.assert_allclose(a.values, lin.weight.detach().numpy()[[1] * 4], rtol=1e-6)
    words = (r"output='nope' does not select one of the model's 2 outputs" if kind is NT
             else r"output='nope' is not a field of the model's DC output; its fields: "
                  r"\['logits', 'hidden'\]")
    with pytest.raises(NBExplainError, match=words):
        nbexplain.attribute(M(), x, "saliency", target=1, output="nope")


def test_a_selected_output_that_is_not_a_tensor_says_so():
    class M(torch.nn.Module):
        def forward(self, x):
            return {"logits": x * 2, "meta": "text"}

    with pytest.raises(NBExplainError, match=r"output='meta' selected str, not a tensor"):
        nbexplain.attribute(M(), torch.randn(2, 3), "saliency", target=0, output="meta")


def test_callable_target_with_integer_scores():
    with pytest.raises(NBExplainError, match=r"callable target returned dtype torch.int64"):
        nbexplain.attribute(_lin(), torch.randn(3, 5), "saliency",
                            target=lambda out: out.argmax(1))


def test_gradcam_on_torchscript_says_why():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(4, 2)).eval()
    x = torch.rand(2, 3, 8, 8)
    for scripted in (torch.jit.script(net), torch.jit.trace(net, x)):
        with pytest.raises(NBExplainError, match="TorchScript modules .* run no Python hooks"):
            nbexplain.attribute(scripted, x, "grad_cam", target=0)
        np.testing.assert_allclose(
            nbexplain.attribute(scripted, x, "saliency", target=0).values,
            nbexplain.attribute(net, x, "saliency", target=0).values, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("framework", ["tensorflow", "numpy"])
def test_framework_that_contradicts_a_torch_module(framework):
    with pytest.raises(NBExplainError, match=rf"framework='{framework}', but the model is a "
                                             r"torch module"):
        nbexplain.attribute(_lin(), np.zeros((2, 5), np.float32), "occlusion", target=0,
                            framework=framework)


def test_framework_that_contradicts_a_keras_model():
    keras = pytest.importorskip("keras")
    inp = keras.Input((5,))
    km = keras.Model(inp, keras.layers.Dense(3)(inp))
    with pytest.raises(NBExplainError, match=r"framework='torch', but the model is a "
                                             r"Keras/TensorFlow model"):
        nbexplain.attribute(km, np.zeros((2, 5), np.float32), "saliency", target=0,
                            framework="torch")


def test_a_tuple_method_name_is_not_an_output_field():
    m = Packed(_lin(), lambda y, x: (y, y * 2))
    with pytest.raises(NBExplainError, match=r"output='count' does not select one of the "
                                             r"model's 2 outputs"):
        nbexplain.attribute(m, torch.randn(2, 5), "saliency", target=0, output="count")
