"""Layouts: what one example is, and where its channels are.

One (T, D) sequence, or one C×H×W image (1×H×W for a grayscale one), given without a batch
axis is one example, and comes back without one (per-example extras too). torch's recurrent
and attention layers also run unbatched (T, D) inputs, so a one-row layout probe (x[:1], shape
(1, D)) answered with one row would explain the sequence as a batch of T one-step rows: the
model's layers decide instead (as Conv2d models decide for one C×H×W image), and models that
start from token ids keep their (N, T) batches. A batch of grayscale images without a channel
axis is named with the fix; batched= takes only bools; a numpy function on channels-last images
gets spatial windows over all channels; and every method finds the one input element the
output uses, in an image, a table and a sequence.

Truths: the same call with the batch axis written out, the closed form of occluding part of a
channel mean, and the planted position.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import nbexplain
from nbexplain import NBExplainError

from parity_models import LastStepLSTM


T, D = 6, 4


# --- one sequence -----------------------------------------------------------------------------
class LSTMBinary(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.rnn = torch.nn.LSTM(D, 8, batch_first=True)
        self.fc = torch.nn.Linear(8, 1)

    def forward(self, x):
        _, (h, _) = self.rnn(x)
        return self.fc(h[-1])


class GRUClasses(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.rnn = torch.nn.GRU(D, 8, batch_first=True)
        self.fc = torch.nn.Linear(8, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[..., -1, :])


class Attention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.enc = torch.nn.TransformerEncoderLayer(D, 2, dim_feedforward=8, dropout=0.0,
                                                    batch_first=True)
        self.fc = torch.nn.Linear(D, 3)

    def forward(self, x):
        return self.fc(self.enc(x).mean(-2))


class TokenLSTM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.emb = torch.nn.Embedding(20, D)
        self.rnn = torch.nn.LSTM(D, 8, batch_first=True)
        self.fc = torch.nn.Linear(8, 2)

    def forward(self, ids):
        out, _ = self.rnn(self.emb(ids))
        return self.fc(out[..., -1, :])


MODELS = {"lstm-1-logit": LSTMBinary, "gru": GRUClasses, "attention": Attention}


METHODS = [("saliency", {}), ("integrated_gradients", {"steps": 8}),
           ("occlusion", {"window": (1, D)}), ("shapley", {})]


@pytest.mark.parametrize("method,opts", METHODS, ids=[m for m, _ in METHODS])
@pytest.mark.parametrize("name", list(MODELS))
def test_one_sequence_is_one_example(name, method, opts):
    m = MODELS[name]().eval()
    x = np.random.default_rng(0).standard_normal((T, D)).astype(np.float32)
    want = nbexplain.attribute(m, x[None], method, target=0, **opts)
    got = nbexplain.attribute(m, x, method, target=0, **opts)
    assert got.extras["single"] and got.values.shape == (T, D)
    np.testing.assert_allclose(got.values, want.values[0], rtol=1e-6, atol=1e-7)


def test_a_batch_of_sequences_stays_a_batch():
    m = GRUClasses().eval()
    x = np.random.default_rng(1).standard_normal((3, T, D)).astype(np.float32)
    a = nbexplain.attribute(m, x, "saliency", target=[0, 1, 2])
    assert not a.extras["single"] and a.values.shape == (3, T, D)


def test_token_ids_of_an_embedding_model_stay_a_batch():
    m = TokenLSTM().eval()
    ids = np.array([[1, 4, 2, 7, 3, 0], [5, 5, 1, 0, 9, 2]])
    a = nbexplain.attribute(m, ids, "occlusion", target=[0, 1], baseline=0)
    assert not a.extras["single"] and a.values.shape == (2, T)
    one = nbexplain.attribute(m, ids[1:], "occlusion", target=1, baseline=0)
    np.testing.assert_allclose(a.values[1], one.values[0], rtol=1e-6, atol=1e-7)


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


# --- one image --------------------------------------------------------------------------------
class MnistNet(torch.nn.Module):
    """pytorch/examples' MNIST net: x.view(-1, 320) makes it answer an unbatched image."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = torch.nn.Conv2d(1, 10, 5)
        self.conv2 = torch.nn.Conv2d(10, 20, 5)
        self.fc1 = torch.nn.Linear(320, 50)
        self.fc2 = torch.nn.Linear(50, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc2(F.relu(self.fc1(x.view(-1, 320))))


@pytest.mark.parametrize("method", ["saliency", "grad_cam", "occlusion"])
def test_one_grayscale_image_is_one_example(method):
    img = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(0))
    m = MnistNet().eval()
    a = nbexplain.attribute(m, img, method, target=3, progress_bar=False)
    b = nbexplain.attribute(m, img[None], method, target=3, progress_bar=False)
    assert a.extras["single"] and a.layout == "image"
    np.testing.assert_allclose(a.values, b.values[0], rtol=1e-6)


def test_a_batch_of_grayscale_images_without_channel_axis_is_named():
    m = MnistNet().eval()
    nbexplain.attribute(m, torch.rand(1, 28, 28), "saliency", target=3)   # 1×28×28 known
    with pytest.raises(NBExplainError, match=r"\(4, 28, 28\).*x\[:, None\]"):
        nbexplain.attribute(m, torch.rand(4, 28, 28), "saliency", target=3)
    a = nbexplain.attribute(m, torch.rand(4, 28, 28)[:, None], "saliency", target=3)
    assert a.values.shape == (4, 1, 28, 28)


def test_single_example_strips_batch_axis_from_per_example_extras():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    a = nbexplain.attribute(m, torch.randn(5), "shapley", target=1, baseline=0.0)
    assert a.values.shape == (5,) and a.extras["stderr"].shape == (5,)
    assert np.ndim(a.extras["fx"]) == 0


# --- channels ---------------------------------------------------------------------------------
def test_numpy_function_on_channels_last_images():
    x = np.random.default_rng(0).random((2, 16, 16, 3))

    def f(z):                                           # N×H×W×C: uses channel 0 only
        return np.stack([z[..., 0].mean((1, 2)), z[..., 2].mean((1, 2))], 1)

    a = nbexplain.attribute(f, x, "occlusion", target=0, channels_first=False, window=4)
    assert a.extras["window"] == (4, 4, 3)              # spatial windows over all channels
    # occluding a 4×4 window (baseline 0) drops channel 0's mean by that window's sum / 256
    truth = np.zeros((2, 16, 16))
    for i in range(0, 16, 4):
        for j in range(0, 16, 4):
            truth[:, i:i + 4, j:j + 4] = x[:, i:i + 4, j:j + 4, 0].sum((1, 2))[:, None,
                                                                              None] / 256
    np.testing.assert_allclose(a.values, np.repeat(truth[..., None], 3, axis=3), rtol=1e-10)
    s = nbexplain.attribute(f, x, "shapley", target=0, channels_first=False, samples=64,
                            features=("grid", 8))
    assert len(s.extras["feature_names"]) == 4          # a 2×2 grid of 8×8 patches
    with pytest.raises(NBExplainError, match="contradicts the model.*N×C×H×W"):
        nbexplain.attribute(torch.nn.Conv2d(3, 2, 3), torch.rand(1, 3, 8, 8), "saliency",
                            target=0, channels_first=False)


# --- a planted position, in every layout ------------------------------------------------------
class Planted(torch.nn.Module):
    """Output depends only on one input position (through a smooth nonlinearity)."""

    def __init__(self, index):
        super().__init__()
        self.index = index
        self.scale = torch.nn.Parameter(torch.tensor([1.5, -0.7]))

    def forward(self, x):
        v = x[(slice(None),) + self.index]
        return torch.stack([torch.tanh(v) * self.scale[0] + v ** 2, v * self.scale[1]], 1)


@pytest.mark.parametrize("shape, index", [
    ((2, 3, 7, 9), (1, 4, 6)),        # NCHW image
    ((2, 10), (7,)),                  # tabular
    ((2, 6, 4), (3, 2)),              # sequence N,T,D
])
@pytest.mark.parametrize("method, opts", [
    ("saliency", {}), ("input_x_gradient", {}), ("integrated_gradients", {"steps": 16}),
    ("smoothgrad", {"samples": 8, "noise": 0.05}), ("occlusion", {"window": 1}),
])
def test_planted_position_gets_the_maximum(shape, index, method, opts):
    torch.manual_seed(0)
    x = torch.rand(shape) + 0.5
    if method == "occlusion":
        opts = {"window": (1,) * (len(shape) - 1)}  # one element at a time, channels too
    a = nbexplain.attribute(Planted(index), x, method, target=0, **opts).values
    for i in range(shape[0]):
        flat = np.abs(a[i]).ravel()
        assert np.unravel_index(flat.argmax(), a[i].shape) == index
        assert np.sum(flat > 1e-6 * flat.max()) == 1, "only the planted position may matter"
