"""Benchmark models: torch originals and Keras 3 copies with the same weights.

Same approach as ``tests/parity_models.py`` (seeded torch model, weights copied layer by layer
into an equivalent Keras model, torch NCHW inputs converted to NHWC), extended with BatchNorm
and explicit padding for a ResNet-18-like network. The helpers are repeated here (a dozen lines)
rather than imported from the test suite, so that the benchmark does not depend on private
names of a test helper.

Models (torch layout of one example in brackets):

* ``cnn``    small CNN for [3, 32, 32]: conv(3→16)-ReLU-conv(16→32)-ReLU-maxpool2-
             conv(32→64)-ReLU-maxpool2-flatten-fc(4096→128)-ReLU-fc(128→10).
             Grad-CAM layer: ``conv3``.
* ``resnet`` ResNet-18-like for [3, 224, 224]: the torchvision ResNet-18 topology written in
             plain torch (7×7/2 stem + BN + ReLU + 3×3/2 max-pool, four stages of two
             BasicBlocks with 64/128/256/512 channels and 1×1/2 projection shortcuts, global
             average pool, fc(512→1000)); seeded random weights, BatchNorm with random
             affine parameters and running statistics (so it is not an identity).
             Grad-CAM layer: ``layer4`` (the output of the last block).
* ``mlp``    tabular MLP for [30]: fc(30→128)-ReLU-fc(128→64)-ReLU-fc(64→2).

The Keras ResNet is a faithful copy: torch's symmetric padding of the stride-2 convolutions
and of the max-pool is reproduced with ``ZeroPadding2D`` + ``padding="valid"`` (Keras'
``"same"`` pads asymmetrically for even sizes); zero padding before the max-pool equals torch's
-inf padding because its input is post-ReLU (≥ 0); BatchNormalization runs in inference mode
(``model(x)``, moving statistics) with ``epsilon=1e-5`` like torch. ``check_parity`` reports
the largest logit difference between the two frameworks.
"""

from __future__ import annotations

import os
from collections import OrderedDict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

# --- per-model benchmark settings -----------------------------------------------------------
INPUT_SHAPES = {"cnn": (3, 32, 32), "resnet": (3, 224, 224), "mlp": (30,)}
NUM_CLASSES = {"cnn": 10, "resnet": 1000, "mlp": 2}
BATCH = {"cnn": 8, "resnet": 1, "mlp": 8}
if os.environ.get("NBX_BENCH_BATCH"):   # bench_gradients.py --batch N (the ResNet stays at 1)
    BATCH.update(cnn=int(os.environ["NBX_BENCH_BATCH"]), mlp=int(os.environ["NBX_BENCH_BATCH"]))
GRADCAM_LAYER = {"cnn": "conv3", "resnet": "layer4", "mlp": None}
TITLES = {"cnn": "small CNN 3×32×32", "resnet": "ResNet-18-like 3×224×224",
          "mlp": "tabular MLP 30"}


def inputs(model: str, seed: int = 0) -> np.ndarray:
    """The benchmark batch in torch layout (float32), the same for every library."""
    rng = np.random.default_rng(seed)
    shape = (BATCH[model],) + INPUT_SHAPES[model]
    if model == "mlp":
        return rng.standard_normal(shape).astype(np.float32)
    return rng.random(shape, dtype=np.float32)  # images in [0, 1]


def targets(model: str) -> np.ndarray:
    """Explicit int targets, one per example (not the predicted class: no extra pass needed)."""
    k = NUM_CLASSES[model]
    return (np.arange(BATCH[model]) * 7 + 3) % k


def to_keras_layout(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 4:
        return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))
    return x


# --- weight copies ----------------------------------------------------------------------------
def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _dense_weights(lin: nn.Linear) -> list:
    return [_np(lin.weight).T.copy(), _np(lin.bias)]


def _conv_weights(conv: nn.Conv2d) -> list:
    w = np.transpose(_np(conv.weight), (2, 3, 1, 0)).copy()  # (out,in,kh,kw) -> (kh,kw,in,out)
    return [w] if conv.bias is None else [w, _np(conv.bias)]


def _bn_weights(bn: nn.BatchNorm2d) -> list:
    return [_np(bn.weight), _np(bn.bias), _np(bn.running_mean), _np(bn.running_var)]


# --- small CNN ----------------------------------------------------------------------------------
def torch_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 16, 3, padding=1)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(16, 32, 3, padding=1)), ("relu2", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv3", nn.Conv2d(32, 64, 3, padding=1)), ("relu3", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(64 * 8 * 8, 128)), ("relu4", nn.ReLU()),
        ("fc2", nn.Linear(128, 10)),
    ])).eval()


def keras_cnn(tm: nn.Module):
    import keras

    L = keras.layers
    inp = keras.Input((32, 32, 3), name="image")
    h = L.Conv2D(16, 3, padding="same", name="conv1")(inp)
    h = L.ReLU(name="relu1")(h)
    h = L.Conv2D(32, 3, padding="same", name="conv2")(h)
    h = L.ReLU(name="relu2")(h)
    h = L.MaxPooling2D(2, name="pool1")(h)
    h = L.Conv2D(64, 3, padding="same", name="conv3")(h)
    h = L.ReLU(name="relu3")(h)
    h = L.MaxPooling2D(2, name="pool2")(h)
    h = L.Flatten(name="flatten")(h)
    h = L.Dense(128, name="fc1")(h)
    h = L.ReLU(name="relu4")(h)
    out = L.Dense(10, name="fc2")(h)
    km = keras.Model(inp, out, name="small_cnn")
    for name in ("conv1", "conv2", "conv3"):
        km.get_layer(name).set_weights(_conv_weights(getattr(tm, name)))
    # torch flattens (C, H, W), Keras NHWC flattens (H, W, C): permute fc1's inputs
    w = _np(tm.fc1.weight).reshape(128, 64, 8, 8).transpose(0, 2, 3, 1).reshape(128, -1)
    km.get_layer("fc1").set_weights([w.T.copy(), _np(tm.fc1.bias)])
    km.get_layer("fc2").set_weights(_dense_weights(tm.fc2))
    return km


# --- ResNet-18-like -------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return self.relu(h + idt)


class ResNet18Like(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        chans = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
        for i, (cin, cout, s) in enumerate(chans, 1):
            setattr(self, f"layer{i}", nn.Sequential(BasicBlock(cin, cout, s),
                                                     BasicBlock(cout, cout, 1)))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def torch_resnet(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    m = ResNet18Like()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(mod, nn.BatchNorm2d):  # non-trivial inference-mode BatchNorm
                c = mod.num_features
                mod.weight.copy_(0.5 + torch.rand(c, generator=g))
                mod.bias.copy_(0.1 * torch.randn(c, generator=g))
                mod.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                mod.running_var.copy_(0.5 + torch.rand(c, generator=g))
        # the last BN of every block starts small (as zero-init-residual does, but not zero)
        for name, mod in m.named_modules():
            if isinstance(mod, BasicBlock):
                mod.bn2.weight.mul_(0.2)
    return m.eval()


def keras_resnet(tm: ResNet18Like):
    import keras

    L = keras.layers
    eps = 1e-5

    def conv(h, c: nn.Conv2d, name: str):
        k, s, p = c.kernel_size[0], c.stride[0], c.padding[0]
        if p:
            h = L.ZeroPadding2D(p, name=name + "_pad")(h)
        layer = L.Conv2D(c.out_channels, k, strides=s, padding="valid",
                         use_bias=c.bias is not None, name=name)
        h = layer(h)
        layer.set_weights(_conv_weights(c))
        return h

    def bn(h, b: nn.BatchNorm2d, name: str):
        layer = L.BatchNormalization(epsilon=eps, momentum=0.9, name=name)
        h = layer(h)
        layer.set_weights(_bn_weights(b))
        return h

    inp = keras.Input((224, 224, 3), name="image")
    h = conv(inp, tm.conv1, "conv1")
    h = bn(h, tm.bn1, "bn1")
    h = L.ReLU(name="relu")(h)
    h = L.ZeroPadding2D(1, name="maxpool_pad")(h)  # post-ReLU: zero padding == -inf padding
    h = L.MaxPooling2D(3, 2, padding="valid", name="maxpool")(h)
    for i in range(1, 5):
        stage = getattr(tm, f"layer{i}")
        for j, blk in enumerate(stage):
            pre = f"layer{i}_{j}"
            idt = h
            if blk.downsample is not None:
                idt = conv(h, blk.downsample[0], pre + "_downsample_conv")
                idt = bn(idt, blk.downsample[1], pre + "_downsample_bn")
            y = conv(h, blk.conv1, pre + "_conv1")
            y = bn(y, blk.bn1, pre + "_bn1")
            y = L.ReLU(name=pre + "_relu1")(y)
            y = conv(y, blk.conv2, pre + "_conv2")
            y = bn(y, blk.bn2, pre + "_bn2")
            y = L.Add(name=pre + "_add")([y, idt])
            # the stage's last ReLU carries the stage's name, as torch's `layer4` output does
            h = L.ReLU(name=f"layer{i}" if j == len(stage) - 1 else pre + "_relu2")(y)
    h = L.GlobalAveragePooling2D(name="avgpool")(h)
    fc = L.Dense(tm.fc.out_features, name="fc")
    out = fc(h)
    fc.set_weights(_dense_weights(tm.fc))
    return keras.Model(inp, out, name="resnet18_like")


# --- MLP ------------------------------------------------------------------------------------------
def torch_mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict([
        ("fc1", nn.Linear(30, 128)), ("relu1", nn.ReLU()),
        ("fc2", nn.Linear(128, 64)), ("relu2", nn.ReLU()),
        ("fc3", nn.Linear(64, 2)),
    ])).eval()


def keras_mlp(tm: nn.Module):
    import keras

    L = keras.layers
    inp = keras.Input((30,), name="features")
    h = L.ReLU(name="relu1")(L.Dense(128, name="fc1")(inp))
    h = L.ReLU(name="relu2")(L.Dense(64, name="fc2")(h))
    out = L.Dense(2, name="fc3")(h)
    km = keras.Model(inp, out, name="mlp")
    for name in ("fc1", "fc2", "fc3"):
        km.get_layer(name).set_weights(_dense_weights(getattr(tm, name)))
    return km


TORCH_BUILDERS = {"cnn": torch_cnn, "resnet": torch_resnet, "mlp": torch_mlp}
KERAS_BUILDERS = {"cnn": keras_cnn, "resnet": keras_resnet, "mlp": keras_mlp}


def torch_model(name: str, device: str = "cpu") -> nn.Module:
    return TORCH_BUILDERS[name]().to(device)


def keras_model(name: str):
    """The Keras copy (weights from the seeded torch model, built on the CPU)."""
    return KERAS_BUILDERS[name](TORCH_BUILDERS[name]())


def check_parity(name: str, km=None) -> float:
    """Largest |logit difference| between the torch model and its Keras copy on the batch."""
    tm = TORCH_BUILDERS[name]()
    km = km if km is not None else KERAS_BUILDERS[name](tm)
    x = inputs(name)
    with torch.no_grad():
        a = tm(torch.from_numpy(x)).numpy()
    b = np.asarray(km(to_keras_layout(x)))
    return float(np.max(np.abs(a - b)) / max(1e-12, float(np.max(np.abs(a)))))
