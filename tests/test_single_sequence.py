"""One (T, D) sequence given without a batch axis to a torch sequence model.

torch's recurrent and attention layers also run unbatched (T, D) inputs, so the one-row
layout probe (x[:1], shape (1, D)) was answered with one row and the sequence was explained
as a batch of T one-step rows: an LSTM binary classifier crashed with a reshape error, and
other models would return T separate maps. The model's layers now decide (as Conv2d models
decide for one C×H×W image). The truth here is the same call with the batch axis written
out, and models that start from token ids keep their (N, T) batches.
"""

import numpy as np
import pytest
import torch

import nbexplain

T, D = 6, 4


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
