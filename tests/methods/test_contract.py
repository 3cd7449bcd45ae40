"""The contract every registered method keeps, run over ``available_methods()``.

A method added to the registry is picked up here without editing this file: it runs with
its default options unless ``FAST`` names cheaper ones. The truths are independent of the
method's code: the inputs' shape, the same call on one example, finiteness, the function's
own signature and the README's method table, a counting model for cancellation, and a Keras
model with the torch model's weights for every gradient method. (Modelled on Xplique's
``tests/attributions/test_common.py`` and Captum's ``tests/attr/helpers/test_config.py``.)
"""

from __future__ import annotations

import inspect
import pathlib
import re

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError
from nbexplain.backends import get_adapter
from nbexplain.live.runner import Cancelled
from nbexplain.methods import COMMON_OPTIONS, get_method, iterate
from nbexplain.methods._registry import _REGISTRY, MethodResult, register
from parity_models import cnn_pair

METHODS = nbexplain.available_methods()

#: cheaper options for the slow methods (a method not named here runs with its defaults)
FAST = {
    "integrated_gradients": {"steps": 16},
    "smoothgrad": {"samples": 4, "batch_samples": 2},
    "shapley": {"features": ("grid", 8), "samples": 40, "batch_size": 8},
    "lime": {"features": ("grid", 8), "samples": 64, "batch_size": 16},
    "occlusion": {"window": 8, "stride": 8, "batch_size": 4},
}
README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def pair():
    return cnn_pair(seed=1)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, (2, 3, 32, 32)).astype(np.float32)


def options(name: str) -> dict:
    return dict(FAST.get(name, {}))


# --- the checks (functions, so that a broken method can be shown to fail them) ------------
def check_shape_and_values(name: str, model, x: np.ndarray) -> None:
    a = nbexplain.attribute(model, x, name, target=3, **options(name))
    n, spatial = x.shape[0], x.shape[2:]
    want = x.shape if get_method(name).output == "input" else (n,) + spatial
    assert a.values.shape == want, (
        f"{name}: values of shape {a.values.shape} for inputs {x.shape}; its registration "
        f"(output={get_method(name).output!r}) promises {want}")
    assert np.all(np.isfinite(a.values)), f"{name}: non-finite values"
    assert a.method == name and np.array_equal(a.target, [3, 3])
    if a.delta is not None:
        assert np.shape(a.delta) == (n,) and np.all(np.isfinite(a.delta))
    # one example in, one example out: the batch axis is added, and taken off again
    one = nbexplain.attribute(model, x[1], name, target=3, **options(name))
    row = nbexplain.attribute(model, x[1:2], name, target=3, **options(name))
    assert one.values.shape == a.values.shape[1:] and one.extras["single"] is True
    assert row.extras["single"] is False and one.inputs.shape == x.shape[1:]
    np.testing.assert_allclose(one.values, row.values[0], rtol=1e-6, atol=1e-9,
                               err_msg=f"{name}: one example differs from a batch of one")
    if one.delta is not None:
        assert np.ndim(one.delta) == 0


def check_progressive(name: str, model, x: np.ndarray) -> None:
    spec = get_method(name)
    ad = get_adapter(model)
    xt, t = ad.as_tensor(x), np.array([3, 5])
    whole = spec.fn(ad, xt, t, **options(name))
    seen = list(iterate(spec, ad, xt, t, **options(name)))
    assert seen and all(isinstance(r, MethodResult) for r in seen)
    assert [r.done for r in seen] == [False] * (len(seen) - 1) + [True], name
    if spec.progressive is not None:
        assert all(r.progress is not None and 0 < r.progress[0] <= r.progress[1]
                   for r in seen), [r.progress for r in seen]
    np.testing.assert_allclose(ad.to_numpy(seen[-1].values), ad.to_numpy(whole.values),
                               rtol=1e-5, atol=1e-7,
                               err_msg=f"{name}: the last progressive result is not the method's")


# --- the tests ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", METHODS)
def test_shape_single_example_and_finite_values(name, pair, images):
    check_shape_and_values(name, pair[0], images)


@pytest.mark.parametrize("name", METHODS)
def test_progressive_form_ends_at_the_method(name, pair, images):
    check_progressive(name, pair[0], images)


@pytest.mark.parametrize("name", METHODS)
def test_options_are_the_signature(name, pair, images):
    spec = get_method(name)
    fn = inspect.unwrap(spec.fn)
    params = list(inspect.signature(fn).parameters.values())
    assert [p.name for p in params[:3]] == ["adapter", "x", "target"], name
    named = [p.name for p in params[3:] if p.kind is p.KEYWORD_ONLY]
    want = [p for p in named if p != "check"]
    want += [c for c in COMMON_OPTIONS if c not in want]
    assert list(spec.options) == want
    # the README's table documents only options the method takes
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `") and re.search(rf"`{name}`", line.split("|")[1]):
            documented = re.findall(r"`(\w+)=", line.split("|")[2])
            assert set(documented) <= set(spec.options), (name, documented)
            break
    else:
        pytest.fail(f"the README's method table has no row for {name}")
    # an unknown option is refused with the list of those the method takes
    with pytest.raises(NBExplainError, match="accepts: " + re.escape(", ".join(spec.options))):
        nbexplain.attribute(pair[0], images, name, target=0, not_an_option=1)
    if spec.progressive is not None:
        # the progressive form takes every option of the method (its bar aside)
        assert set(spec.options) - set(COMMON_OPTIONS) <= set(spec.progressive_options)


class Counting(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net, self.calls = net, 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)


@pytest.mark.parametrize("name", METHODS)
def test_cancellation_stops_multi_pass_methods(name, pair, images):
    spec = get_method(name)
    m = Counting(pair[0])
    ad = get_adapter(m)
    xt, t = ad.as_tensor(images[:1]), np.array([3])
    spec.fn(ad, xt, t, **options(name))       # the first call probes formats; not counted
    m.calls = 0
    spec.fn(ad, xt, t, **options(name))
    full = m.calls
    if full <= 2:
        return   # one pass (and maybe a score pass): nothing to stop in between
    assert "check" in spec.accepts, f"{name} runs {full} passes but takes no cancel hook"

    def check():
        raise Cancelled()

    m.calls = 0
    with pytest.raises(Cancelled):
        for _ in iterate(spec, ad, xt, t, check=check, **options(name)):
            pass
    assert m.calls < full, (name, m.calls, full)


GRADIENT_METHODS = [m for m in METHODS if get_method(m).needs_gradients]


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_torch_and_keras_twins_agree(name, pair, images):
    pytest.importorskip("keras")
    tm, km, to_keras = pair
    a = nbexplain.attribute(tm, images, name, target=3, **options(name))
    b = nbexplain.attribute(km, to_keras(images), name, target=3, **options(name))
    bv = b.values
    if bv.ndim == 4:   # N×H×W×C → N×C×H×W
        bv = np.transpose(bv, (0, 3, 1, 2))
    scale = float(np.abs(a.values).max())
    np.testing.assert_allclose(bv, a.values, rtol=1e-3, atol=1e-4 * scale, err_msg=name)


# --- a broken method fails the contract --------------------------------------------------------
def test_a_method_of_the_wrong_shape_fails_the_contract(pair, images):
    def wrong_shape(adapter, x, target, *, batch_size: int | None = None) -> MethodResult:
        """Returns one value per example instead of a map."""
        return MethodResult(values=adapter.reduce(x, "sum", (1, 2, 3)))

    register("broken_for_test", needs_gradients=False)(wrong_shape)
    try:
        with pytest.raises(AssertionError, match="values of shape"):
            check_shape_and_values("broken_for_test", pair[0], images)
    finally:
        _REGISTRY.pop("broken_for_test")


def test_a_progressive_form_that_ends_elsewhere_fails_the_contract(pair, images):
    def stream(adapter, x, target, *, batch_size: int | None = None):
        yield MethodResult(values=x * 0.5, done=True, progress=(1, 1))

    def method(adapter, x, target, *, batch_size: int | None = None) -> MethodResult:
        """x itself."""
        return MethodResult(values=x * 1.0)

    register("broken_for_test", needs_gradients=False, progressive=stream)(method)
    try:
        with pytest.raises(AssertionError, match="not the method's"):
            check_progressive("broken_for_test", pair[0], images)
    finally:
        _REGISTRY.pop("broken_for_test")
