"""What the widget tests share: the small digit CNN and a GRU sequence model they explain, a
capture of the widget's replies (each one strict JSON), and a request as the browser sends
it."""

import json
import threading

import torch


def cnn():
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 10)).eval()


def gru_classifier():
    """A small sequence model (N×T×3 -> 2 classes) in eval mode: a GRU and a linear head."""
    torch.manual_seed(0)

    class Seq(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.fc = torch.nn.GRU(3, 4, batch_first=True), torch.nn.Linear(4, 2)

        def forward(self, s):
            return self.fc(self.rnn(s)[0][:, -1])

    return Seq().eval()


class Replies:
    """Captures ``widget.send``; every reply must be JSON (no NaN/inf, no Python objects)."""

    def __init__(self, w, monkeypatch):
        self.items = []
        self.lock = threading.Lock()
        monkeypatch.setattr(w, "send", self)

    def __call__(self, content, buffers=None):
        json.dumps(content, allow_nan=False)
        with self.lock:
            self.items.append((content, buffers))

    @property
    def contents(self):
        with self.lock:
            return [c for c, _ in self.items]


def request(w, **fields):
    w._on_msg(w, {"kind": "attribute", **fields}, [])


def trait_map(w):
    """The attribution map the widget keeps in its ``heatmap`` traits (compressed, 256 levels
    between ``lo`` and ``hi``), as floats, and the tolerance of that encoding: half a level
    when it is stored losslessly (PNG), twelve levels when lossy (WebP or JPEG)."""
    from nbexplain.widgets.display import decode_state_map

    meta = w.heatmap_meta
    hm = decode_state_map(meta, bytes(w.heatmap))
    level = (meta["hi"] - meta["lo"]) / 255
    return hm, (0.5 if meta["encoding"] == "png" else 12) * level * (1 + 1e-9)
