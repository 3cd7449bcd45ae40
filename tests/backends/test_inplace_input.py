"""Models that write into their input tensor.

nbexplain reuses its input tensors across passes (the example, the baseline, the batch the
target was read from). A model that modifies its input in place would corrupt every later
pass: before this check, occlusion returned garbage and Shapley/LIME twice the true values
for ``x.mul_(2)``, and the caller's own array came back doubled. Now every method stops with
an NBExplainError naming the fix, the caller's arrays and tensors are untouched, and models
with in-place ops *inside* (on their own activations) still work and agree with an
out-of-place twin.
"""

import warnings

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError

METHODS = [
    ("saliency", {}),
    ("input_x_gradient", {}),
    ("smoothgrad", {"samples": 3, "seed": 0}),
    ("integrated_gradients", {"steps": 8}),
    ("grad_cam", {}),
    ("occlusion", {"window": 4, "stride": 4}),
    ("shapley", {"samples": 32, "seed": 0, "features": ("grid", 4)}),
    ("lime", {"samples": 32, "seed": 0, "features": ("grid", 4)}),
]


class ScalesInput(torch.nn.Module):
    """Writes into its input (from its ``after``-th call on, so that the write can also
    happen in a method's own passes rather than in the first, layout-probing call), then a
    small CNN (so every method applies)."""

    def __init__(self, how="mul_", after=0):
        super().__init__()
        torch.manual_seed(0)
        self.how, self.after, self.calls = how, after, 0
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        self.calls += 1
        if self.calls <= self.after:
            pass
        elif self.how == "mul_":
            x.mul_(2)
        elif self.how == "relu_":
            torch.nn.functional.relu(x, inplace=True)
        elif self.how == "setitem":
            x[:, 0] = 0
        elif self.how == "view_add_":
            x.view(x.shape[0], -1).add_(1)
        return self.fc(torch.relu(self.conv(x)).flatten(1))


class InplaceInside(torch.nn.Module):
    """In-place ops on its own activations only (the common, legitimate kind)."""

    def __init__(self, inplace=True):
        super().__init__()
        torch.manual_seed(1)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.act = torch.nn.ReLU(inplace=inplace)
        self.conv2 = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 8 * 8, 3)
        self.inplace = inplace

    def forward(self, x):
        h = self.act(self.conv(x))
        h = self.conv2(h)
        if self.inplace:
            h += 1.0
            h.mul_(0.5)
        else:
            h = (h + 1.0) * 0.5
        return self.fc(torch.relu(h).flatten(1))


@pytest.fixture
def x():
    return np.random.default_rng(0).random((2, 3, 8, 8)).astype(np.float32)


@pytest.mark.parametrize("method, opts", METHODS)
@pytest.mark.parametrize("as_tensor", [False, True])
@pytest.mark.parametrize("when", ["first call", "second call", "last call"])
def test_a_model_writing_into_its_input_is_refused_and_the_input_kept(x, method, opts,
                                                                      as_tensor, when):
    keep = x.copy()
    arg = torch.tensor(x) if as_tensor else x
    if when == "last call":     # count a clean run's calls; write only in the last of them
        clean = ScalesInput(how="none")
        nbexplain.attribute(clean, arg, method, target=1, progress_bar=False, **opts)
        after = clean.calls - 1
        assert after >= 1
    else:
        after = {"first call": 0, "second call": 1}[when]
    model = ScalesInput(after=after)
    with pytest.raises(NBExplainError, match=r"modifies its input tensor in place.*x = "
                                             r"x\.clone\(\)"):
        nbexplain.attribute(model, arg, method, target=1, progress_bar=False, **opts)
    assert model.calls > after                        # the write did happen
    got = arg.numpy() if as_tensor else arg
    np.testing.assert_array_equal(got, keep)          # the caller's data is untouched


@pytest.mark.parametrize("how", ["relu_", "setitem", "view_add_"])
@pytest.mark.parametrize("method", ["saliency", "occlusion", "shapley"])
def test_every_kind_of_input_write_is_caught(x, how, method):
    x = x - 0.5                                       # negative values: relu_ changes them
    keep = x.copy()
    with pytest.raises(NBExplainError, match="modifies its input tensor in place"):
        nbexplain.attribute(ScalesInput(how), x, method, target=0, progress_bar=False,
                            **dict(METHODS)[method])
    np.testing.assert_array_equal(x, keep)


@pytest.mark.parametrize("method, opts", METHODS)
def test_inplace_ops_inside_the_model_are_fine(x, method, opts):
    a = nbexplain.attribute(InplaceInside(True), x, method, target=2, progress_bar=False,
                            **opts)
    b = nbexplain.attribute(InplaceInside(False), x, method, target=2, progress_bar=False,
                            **opts)
    assert np.abs(b.values).max() > 0
    np.testing.assert_allclose(a.values, b.values, rtol=1e-5, atol=1e-6)


def test_the_caller_baseline_and_background_are_not_written_either(x):
    base = np.full_like(x[:1], 0.25)
    bg = np.random.default_rng(1).random((3, 3, 8, 8)).astype(np.float32)
    keep_b, keep_bg = base.copy(), bg.copy()
    for kw in ({"baseline": base}, {"background": bg}):
        with pytest.raises(NBExplainError, match="modifies its input tensor in place"):
            nbexplain.attribute(ScalesInput(), x, "shapley", target=0, samples=16,
                                progress_bar=False, **kw)
    with pytest.raises(NBExplainError, match="modifies its input tensor in place"):
        nbexplain.attribute(ScalesInput(), x, "integrated_gradients", target=0,
                            baseline=base, progress_bar=False)
    np.testing.assert_array_equal(base, keep_b)
    np.testing.assert_array_equal(bg, keep_bg)


def test_forward_only_methods_still_run_inside_inference_mode(x):
    # inference tensors keep no version counter; the check must not break them
    with torch.inference_mode():
        a = nbexplain.attribute(InplaceInside(False), x, "occlusion", target=0, window=4,
                                stride=4, progress_bar=False)
    b = nbexplain.attribute(InplaceInside(False), x, "occlusion", target=0, window=4,
                            stride=4, progress_bar=False)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-6)


# --- numpy callables ------------------------------------------------------------------------
# A plain numpy function that writes into its input (``x *= 2``, a scaler with copy=False)
# used to corrupt nbexplain's private copy of the examples through the target="predicted"
# pass: every method then explained, and returned as ``inputs``, the doubled examples (max
# error 12 on this toy). Functions now get a private copy of each batch: the values equal
# those of the same function written out-of-place, and compiled code that insists on a
# writable buffer, or a wrapped torch model (torch.from_numpy warns on a read-only array),
# runs as before.
_W = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.0, 1.0, 0.0]]).T
_NP_METHODS = [("occlusion", {"window": 1}), ("shapley", {}),
               ("lime", {"samples": 64, "seed": 0})]


def _doubles_in_place(x):
    x *= 2.0
    return x @ _W


def _doubles_out_of_place(x):
    return (2.0 * x) @ _W


def _log_in_place(x):
    np.log1p(np.abs(x), out=x)
    return x @ _W


def _wants_writable(x):
    # compiled code that asks for a writable buffer without writing (older Cython)
    if not x.flags.writeable:
        raise ValueError("buffer source array is read-only")
    return (2.0 * x) @ _W


@pytest.mark.parametrize("method,opts", _NP_METHODS, ids=[m for m, _ in _NP_METHODS])
@pytest.mark.parametrize("model", [_doubles_in_place, _wants_writable],
                         ids=["writes", "needs-writable"])
def test_numpy_function_writing_into_its_input_gets_copies(method, opts, model):
    x = np.array([[1.0, 1.0, 1.0, 1.0], [0.5, -1.0, 2.0, 0.0]])
    x0 = x.copy()
    got = nbexplain.attribute(model, x, method, target="predicted", baseline=0.0, **opts)
    ref = nbexplain.attribute(_doubles_out_of_place, x, method, target="predicted",
                              baseline=0.0, **opts)
    np.testing.assert_allclose(got.values, ref.values, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got.inputs, x0)
    np.testing.assert_array_equal(got.target, ref.target)
    np.testing.assert_array_equal(x, x0)


def test_numpy_function_wrapping_a_torch_model_runs_without_warnings():
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 2).double()

    def f(x):
        return lin(torch.from_numpy(x)).detach().numpy()

    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = nbexplain.attribute(f, x, "shapley", target=0, baseline=0.0)
    w = lin.weight.detach().numpy()[0]
    np.testing.assert_allclose(a.values[0], w * x[0], rtol=1e-10)   # linear: w·(x − b)


def test_numpy_function_with_out_argument_writes_are_contained():
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    ref = (np.log1p(np.abs(x)) @ _W)[:, 1] - (np.log1p(0.0) * np.ones((1, 4)) @ _W)[:, 1]
    a = nbexplain.attribute(_log_in_place, x, "shapley", target=1, baseline=0.0)
    np.testing.assert_allclose(a.values.sum(), ref[0], rtol=1e-12)   # efficiency
    np.testing.assert_array_equal(x, [[1.0, 2.0, 3.0, 4.0]])
