"""Torch and Keras 3 models with identical weights, for parity tests.

Each builder seeds a torch model, copies its weights into an equivalent Keras model and returns
``(torch_model.eval(), keras_model, to_keras)`` where ``to_keras`` converts a torch-layout numpy
input (batch or single example) to the Keras layout. Layer names agree across frameworks
(torch attribute ``conv2`` <-> Keras layer ``"conv2"``) so layer methods can target both by name.
"""

from __future__ import annotations

import os
from collections import OrderedDict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _identity(x):
    return np.asarray(x)


def _nchw_to_nhwc(x):
    x = np.asarray(x)
    if x.ndim == 4:
        return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))
    if x.ndim == 3:
        return np.ascontiguousarray(np.transpose(x, (1, 2, 0)))
    raise ValueError(f"expected C×H×W or N×C×H×W, got shape {x.shape}")


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _dense_weights(lin: torch.nn.Linear) -> list[np.ndarray]:
    return [_np(lin.weight).T.copy(), _np(lin.bias)]


def _conv2d_weights(conv: torch.nn.Conv2d) -> list[np.ndarray]:
    # torch (out, in, kh, kw) -> Keras (kh, kw, in, out)
    return [np.transpose(_np(conv.weight), (2, 3, 1, 0)).copy(), _np(conv.bias)]


# --- (a) tabular MLP: 10 -> 16 -> 3 ---------------------------------------------------------
def mlp_pair(seed: int = 0):
    import keras

    torch.manual_seed(seed)
    tm = torch.nn.Sequential(OrderedDict([
        ("fc1", torch.nn.Linear(10, 16)),
        ("relu1", torch.nn.ReLU()),
        ("fc2", torch.nn.Linear(16, 3)),
    ]))
    inp = keras.Input((10,), name="features")
    h = keras.layers.Dense(16, name="fc1")(inp)
    h = keras.layers.ReLU(name="relu1")(h)
    out = keras.layers.Dense(3, name="fc2")(h)
    km = keras.Model(inp, out, name="mlp")
    km.get_layer("fc1").set_weights(_dense_weights(tm.fc1))
    km.get_layer("fc2").set_weights(_dense_weights(tm.fc2))
    return tm.eval(), km, _identity


# --- (b) CNN for 3x32x32 images ---------------------------------------------------------------
def cnn_pair(seed: int = 0, style: str = "functional"):
    """Conv(3->8, k3, same) ReLU Conv(8->16, k3, valid) ReLU MaxPool2 Flatten Linear(3600->10).

    ``style`` picks how the Keras model is built:
    'functional' (keras.Model on an Input), 'sequential' (Sequential with an Input), 'lazy'
    (Sequential without an Input, built by a first call on data), 'nested' (a functional model
    calling a functional feature extractor named "features" that holds conv1/conv2, the
    transfer-learning pattern) or 'nested_seq' (Sequential([features, pool, flatten, fc])).
    """
    import keras

    torch.manual_seed(seed)
    tm = torch.nn.Sequential(OrderedDict([
        ("conv1", torch.nn.Conv2d(3, 8, 3, padding=1)),
        ("relu1", torch.nn.ReLU()),
        ("conv2", torch.nn.Conv2d(8, 16, 3)),
        ("relu2", torch.nn.ReLU()),
        ("pool", torch.nn.MaxPool2d(2)),
        ("flatten", torch.nn.Flatten()),
        ("fc", torch.nn.Linear(16 * 15 * 15, 10)),
    ]))
    L = keras.layers
    conv1 = L.Conv2D(8, 3, padding="same", name="conv1")
    conv2 = L.Conv2D(16, 3, padding="valid", name="conv2")
    fc = L.Dense(10, name="fc")
    features = [conv1, L.ReLU(name="relu1"), conv2, L.ReLU(name="relu2")]
    head = [L.MaxPooling2D(2, name="pool"), L.Flatten(name="flatten"), fc]

    def chain(h, layers):
        for layer in layers:
            h = layer(h)
        return h

    if style == "functional":
        inp = keras.Input((32, 32, 3), name="image")
        km = keras.Model(inp, chain(inp, features + head), name="cnn")
    elif style == "sequential":
        km = keras.Sequential([keras.Input((32, 32, 3))] + features + head, name="cnn_seq")
    elif style == "lazy":
        km = keras.Sequential(features + head, name="cnn_lazy")
        km(np.zeros((2, 32, 32, 3), np.float32))  # builds the weights
    elif style in ("nested", "nested_seq"):
        f_in = keras.Input((32, 32, 3), name="image")
        base = keras.Model(f_in, chain(f_in, features), name="features")
        if style == "nested":
            inp = keras.Input((32, 32, 3), name="image_outer")
            km = keras.Model(inp, chain(base(inp, training=False), head), name="cnn_nested")
        else:
            km = keras.Sequential([keras.Input((32, 32, 3)), base] + head, name="cnn_nested_seq")
    else:
        raise ValueError(style)
    conv1.set_weights(_conv2d_weights(tm.conv1))
    conv2.set_weights(_conv2d_weights(tm.conv2))
    # torch flattens (C, H, W), Keras NHWC flattens (H, W, C): permute the Linear's inputs
    w = _np(tm.fc.weight).reshape(10, 16, 15, 15).transpose(0, 2, 3, 1).reshape(10, -1)
    fc.set_weights([w.T.copy(), _np(tm.fc.bias)])
    return tm.eval(), km, _nchw_to_nhwc


def cnn_channels_first_pair(seed: int = 0):
    """Conv(3->4, k3, same) ReLU, global mean over H, W, Linear(4->5), with the Keras model in
    data_format="channels_first": both take N×C×H×W, no conversion."""
    import keras

    torch.manual_seed(seed)

    class GAP(torch.nn.Module):
        def forward(self, x):
            return x.mean((2, 3))

    tm = torch.nn.Sequential(OrderedDict([
        ("conv", torch.nn.Conv2d(3, 4, 3, padding=1)),
        ("relu", torch.nn.ReLU()),
        ("gap", GAP()),
        ("fc", torch.nn.Linear(4, 5)),
    ]))
    L = keras.layers
    inp = keras.Input((3, 8, 8))
    h = L.Conv2D(4, 3, padding="same", data_format="channels_first", name="conv")(inp)
    h = L.ReLU(name="relu")(h)
    h = L.GlobalAveragePooling2D(data_format="channels_first", name="gap")(h)
    km = keras.Model(inp, L.Dense(5, name="fc")(h), name="cnn_cf")
    km.get_layer("conv").set_weights(_conv2d_weights(tm.conv))
    km.get_layer("fc").set_weights(_dense_weights(tm.fc))
    return tm.eval(), km, _identity


# --- (c) sequences (N, T=12, D=5): Dense per step, ReLU, mean over time, Dense ---------------
class _MeanOverTime(torch.nn.Module):
    def forward(self, x):
        return x.mean(1)


def seq_pair(seed: int = 0):
    import keras

    torch.manual_seed(seed)
    tm = torch.nn.Sequential(OrderedDict([
        ("step", torch.nn.Linear(5, 8)),      # applied to every time step (last axis)
        ("relu", torch.nn.ReLU()),
        ("pool", _MeanOverTime()),
        ("head", torch.nn.Linear(8, 4)),
    ]))
    inp = keras.Input((12, 5), name="sequence")
    h = keras.layers.Dense(8, name="step")(inp)
    h = keras.layers.ReLU(name="relu")(h)
    h = keras.layers.GlobalAveragePooling1D(name="pool")(h)
    out = keras.layers.Dense(4, name="head")(h)
    km = keras.Model(inp, out, name="seq")
    km.get_layer("step").set_weights(_dense_weights(tm.step))
    km.get_layer("head").set_weights(_dense_weights(tm.head))
    return tm.eval(), km, _identity


PAIRS = {"mlp": mlp_pair, "cnn": cnn_pair, "seq": seq_pair}
INPUT_SHAPES = {"mlp": (10,), "cnn": (3, 32, 32), "seq": (12, 5)}  # torch layout, no batch


class LastStepLSTM(torch.nn.Module):
    """An LSTM (batch_first) whose output is the last step's hidden state: a model with
    recurrent layers, which takes (N, T, D) batches or one (T, D) sequence."""

    def __init__(self, d: int = 4, hidden: int = 3, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.lstm = torch.nn.LSTM(d, hidden, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[0][..., -1, :]
