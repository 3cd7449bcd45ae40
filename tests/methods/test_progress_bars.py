"""Progress bars: none for quick calls (not even an unseen one: a notebook bar is a set of
ipywidgets that a saved notebook would keep), one from the start with progress_bar=True, one
after two seconds otherwise, and a closed notebook bar leaves no widget models behind."""

from __future__ import annotations

import pytest
import torch

import nbexplain
from nbexplain.methods import _common


class FakeTqdm:
    made: list = []

    def __init__(self, total, desc, leave, initial):
        self.total, self.desc, self.n, self.closed = total, desc, initial, False
        FakeTqdm.made.append(self)

    def update(self, n=1):
        self.n += n

    def close(self):
        self.closed = True


@pytest.fixture
def fake(monkeypatch):
    import tqdm.auto

    FakeTqdm.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", FakeTqdm)
    return FakeTqdm


def test_a_quick_call_makes_no_bar_at_all(fake):
    model = torch.nn.Linear(3, 2)
    nbexplain.attribute(model, torch.rand(4, 3), method="integrated_gradients", target=0,
                        batch_size=2)
    assert fake.made == []


def test_progress_bar_true_shows_one_from_the_start(fake):
    model = torch.nn.Linear(3, 2)
    nbexplain.attribute(model, torch.rand(4, 3), method="integrated_gradients", target=0,
                        batch_size=2, progress_bar=True)
    assert len(fake.made) == 1 and fake.made[0].closed
    assert fake.made[0].n == fake.made[0].total == 4 * 50


def test_a_long_call_opens_its_bar_after_two_seconds_at_the_count_reached(fake, monkeypatch):
    now = [100.0]
    monkeypatch.setattr("time.monotonic", lambda: now[0])
    bar = _common.progress(10, None, "work")
    bar.update(3)
    assert fake.made == []
    now[0] += 2.5
    bar.update(2)
    assert len(fake.made) == 1 and fake.made[0].n == 5
    bar.update(5)
    bar.close()
    assert fake.made[0].n == 10 and fake.made[0].closed


def test_a_closed_notebook_bar_leaves_no_widget_models():
    pytest.importorskip("ipywidgets")
    from tqdm.notebook import tqdm as notebook_tqdm

    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    bar = _common._Bar(notebook_tqdm, 10, "work", 0.0)
    made = set(_instances) - before
    assert len(made) > 3, "a notebook bar is a box of widgets with layouts and styles"
    bar.update(10)
    bar.close()
    assert set(_instances) - before == set()
