"""SLIC superpixels as Shapley/LIME features, end to end.

The truths here are computed in the test itself: segment maps by calling
``skimage.segmentation.slic`` directly on the min-max normalised image, Shapley values by
brute-force enumeration over the segments, and closed forms for models that are additive or
that ignore every pixel outside a planted region.
"""

import itertools
import math
import sys

import numpy as np
import pytest
import torch

import nbexplain
from nbexplain import NBExplainError
from nbexplain.backends.numpy import NumpyAdapter

import skimage.segmentation as skimage_segmentation  # a dev dependency: never skipped

H, W = 20, 24           # not square, so a swapped H/W or channel axis cannot go unnoticed


# --- independent helpers ------------------------------------------------------------------
def reference_slic(img_hwc, **kw):
    """SLIC of one H×W×C image, normalised to [0, 1] over all its pixels and channels."""
    a = np.asarray(img_hwc, dtype=np.float64)
    a = (a - a.min()) / (a.max() - a.min())
    return skimage_segmentation.slic(a, channel_axis=-1, **kw)


def same_partition(a, b):
    """True when the label maps a and b split the pixels identically (up to relabelling)."""
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    pairs = np.unique(np.stack([a, b]), axis=1).shape[1]
    return pairs == len(np.unique(a)) == len(np.unique(b))


def blocks_image(seed, rows=3, cols=4, scale=1.0, shift=0.0):
    """H×W×3 image of flat random-coloured blocks plus a faint ramp (smooth, SLIC-friendly)."""
    rng = np.random.default_rng(seed)
    blk = rng.random((rows, cols, 3))
    img = np.kron(blk, np.ones((math.ceil(H / rows), math.ceil(W / cols), 1)))[:H, :W]
    img = img + 0.05 * np.linspace(0, 1, W)[None, :, None]
    return img * scale + shift


def planted_image():
    """Flat regions: background 0, a disc 1, a bar 2, a box 3. Returns (H×W×3, labels)."""
    yy, xx = np.mgrid[:H, :W]
    lab = np.zeros((H, W), dtype=int)
    lab[(yy - 6) ** 2 + (xx - 7) ** 2 <= 16] = 1
    lab[12:18, 3:20] = 2
    lab[2:10, 15:22] = 3
    colours = np.array([(0.15, 0.2, 0.25), (0.95, 0.3, 0.1), (0.2, 0.85, 0.3),
                        (0.3, 0.3, 0.95)])
    return colours[lab], lab


def to_nchw(*imgs_hwc, dtype=torch.float64):
    return torch.tensor(np.stack([np.moveaxis(i, -1, 0) for i in imgs_hwc]), dtype=dtype)


def brute_force_shapley(value, m):
    """Textbook Shapley values of the game ``value(frozenset of players)`` over m players."""
    cache = {}

    def v(s):
        s = frozenset(s)
        if s not in cache:
            cache[s] = value(s)
        return cache[s]

    phi = np.zeros(m)
    for i in range(m):
        others = [j for j in range(m) if j != i]
        for r in range(m):
            weight = math.factorial(r) * math.factorial(m - r - 1) / math.factorial(m)
            for s in itertools.combinations(others, r):
                phi[i] += weight * (v(set(s) | {i}) - v(s))
    return phi


def conv_net(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Tanh(),
                              torch.nn.Conv2d(4, 4, 3, padding=1, stride=2), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(),
                              torch.nn.Linear(16, 3))
    return net.to(dtype).eval()


class RegionModel(torch.nn.Module):
    """Output 0: Σ w·x over the pixels of one region (all channels); output 1: a nonlinear
    function of that sum. Pixels outside the region have no effect on either."""

    def __init__(self, region_hw, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("w", torch.randn(1, 3, H, W, generator=g, dtype=torch.float64)
                             * torch.as_tensor(region_hw, dtype=torch.float64))

    def forward(self, x):
        s = (x * self.w).flatten(1).sum(1)
        return torch.stack([s, torch.tanh(s) ** 2 + torch.sin(3 * s)], dim=1)


# --- 1. the segment map -------------------------------------------------------------------
@pytest.mark.parametrize("spec,ref_kw", [
    (("slic", {"n_segments": 8, "compactness": 5.0}), {"n_segments": 8, "compactness": 5.0}),
    (("slic", 8), {"n_segments": 8}),      # an int is n_segments; skimage defaults otherwise
])
def test_segment_map_torch_nchw_matches_skimage(spec, ref_kw):
    # inputs standardised like a torch vision pipeline (negative values, not in [0, 1])
    imgs = [blocks_image(1, scale=4.0, shift=-2.0), blocks_image(2, rows=2, cols=5)]
    x = to_nchw(*imgs, dtype=torch.float32)
    net = conv_net(torch.float32)
    a = nbexplain.attribute(net, x, "shapley", target=1, features=spec, estimator="exact",
                            progress_bar=False)
    ids = np.asarray(a.extras["feature_groups"])
    gv = a.extras["group_values"]
    assert ids.shape == (2, 3, H, W)
    assert gv.shape == (2, len(a.extras["feature_names"]))
    for i, img in enumerate(imgs):
        # one id per pixel, shared by the three channels
        assert np.array_equal(ids[i, 0], ids[i, 1]) and np.array_equal(ids[i, 0], ids[i, 2])
        m_i = len(np.unique(ids[i]))
        np.testing.assert_array_equal(np.unique(ids[i]), np.arange(m_i))   # 0..M_i-1
        # the same superpixels as skimage's slic on the normalised (float64) image
        ref = reference_slic(np.moveaxis(x[i].numpy(), 0, -1), **ref_kw)
        assert same_partition(ids[i, 0], ref)
        # every element carries its own segment's value
        np.testing.assert_array_equal(a.values[i], gv[i][ids[i]])
        assert np.all(gv[i, m_i:] == 0)                  # padding groups (M > M_i) are empty
    assert not same_partition(ids[0, 0], ids[1, 0])       # per example, not shared


def test_segment_map_channels_last_numpy_model_matches_skimage():
    imgs = [blocks_image(3), blocks_image(4, rows=4, cols=2, scale=255.0)]
    x = np.stack(imgs)                                    # N, H, W, C
    wc = np.array([1.0, -2.0, 0.5])

    def f(z):                                             # uses the last axis as channels
        s = (z * wc).sum(-1)
        return np.stack([np.tanh(s.mean((1, 2))), (s ** 2).mean((1, 2))], axis=1)

    ad = NumpyAdapter(f, channels_first=False)
    kw = {"n_segments": 6, "compactness": 10.0}
    a = nbexplain.attribute(ad, x, "shapley", target=0, features=("slic", kw),
                            estimator="exact", progress_bar=False)
    ids = np.asarray(a.extras["feature_groups"])
    assert ids.shape == (2, H, W, 3)
    for i, img in enumerate(imgs):
        for c in (1, 2):
            np.testing.assert_array_equal(ids[i, ..., c], ids[i, ..., 0])
        m_i = len(np.unique(ids[i]))
        np.testing.assert_array_equal(np.unique(ids[i]), np.arange(m_i))
        assert same_partition(ids[i, ..., 0], reference_slic(img, **kw))
        np.testing.assert_array_equal(a.values[i], a.extras["group_values"][i][ids[i]])
    assert not same_partition(ids[0, ..., 0], ids[1, ..., 0])


# --- 2. a planted segment -----------------------------------------------------------------
@pytest.fixture(scope="module")
def planted():
    img, lab = planted_image()
    kw = {"n_segments": 8, "compactness": 5.0}
    ref = reference_slic(img, **kw)
    # precondition: on flat colours SLIC never puts two regions in one segment
    for k in np.unique(ref):
        assert len(np.unique(lab[ref == k])) == 1
    region = lab == 1                                      # the disc
    return img, region, kw


def _segments_inside(ids_hw, region):
    inside = {int(k) for k in np.unique(ids_hw[region])}
    for k in inside:                                       # they cover exactly the region
        assert np.all(region[ids_hw == k])
    return inside


@pytest.mark.parametrize("target", [0, 1])
def test_planted_region_gets_all_the_shapley_value(planted, target):
    img, region, kw = planted
    net = RegionModel(region)
    x = to_nchw(img)
    a = nbexplain.attribute(net, x, "shapley", target=target, features=("slic", kw),
                            estimator="exact", progress_bar=False)
    ids = np.asarray(a.extras["feature_groups"])[0, 0]
    gv = a.extras["group_values"][0]
    assert len(gv) >= 4
    inside = _segments_inside(ids, region)
    outside = [k for k in range(len(gv)) if k not in inside]
    assert outside
    np.testing.assert_allclose(gv[outside], 0.0, atol=1e-12)           # dummy players
    with torch.no_grad():
        gap = (net(x)[0, target] - net(torch.zeros_like(x))[0, target]).item()
    assert abs(gap) > 0.1
    np.testing.assert_allclose(gv[sorted(inside)].sum(), gap, rtol=1e-10, atol=1e-12)
    if target == 0:   # additive model: φ_g = Σ_{e in g} w_e (x_e − 0), element by element
        contrib = (net.w * x)[0].numpy()                                # C, H, W
        truth = np.array([contrib[:, ids == k].sum() for k in range(len(gv))])
        np.testing.assert_allclose(gv, truth, rtol=1e-10, atol=1e-12)
    # the map puts each segment's value on all its pixels and channels, 0 outside the disc
    assert np.all(a.values[0][:, ~region] == 0)
    np.testing.assert_allclose(a.values[0], gv[ids][None].repeat(3, 0))


def test_planted_region_lime_recovers_the_additive_model(planted):
    # the game of an additive model is exactly linear in the segment indicators, so LIME's
    # weighted least squares recovers φ_g = Σ_{e in g} w_e (x_e − b_e) whatever its kernel
    img, region, kw = planted
    net = RegionModel(region, seed=1)
    x = to_nchw(img)
    a = nbexplain.attribute(net, x, "lime", target=0, features=("slic", kw), samples=64,
                            baseline=0.5, progress_bar=False)
    ids = np.asarray(a.extras["feature_groups"])[0, 0]
    gv = a.extras["group_values"][0]
    contrib = (net.w * (x - 0.5))[0].numpy()
    truth = np.array([contrib[:, ids == k].sum() for k in range(len(gv))])
    np.testing.assert_allclose(gv, truth, atol=1e-8)
    outside = [k for k in range(len(gv)) if k not in _segments_inside(ids, region)]
    np.testing.assert_allclose(gv[outside], 0.0, atol=1e-8)


# --- 3. exact Shapley on superpixels against brute force ----------------------------------
def test_exact_shapley_on_superpixels_matches_brute_force():
    img = blocks_image(3)
    x = to_nchw(img)
    base = np.full((3, H, W), 0.0)
    base[0], base[1], base[2] = 0.2, 0.5, 0.8                           # a coloured baseline
    kw = {"n_segments": 6, "compactness": 10.0}
    ref = reference_slic(img, **kw)
    labels = np.unique(ref)
    assert 6 <= len(labels) <= 9
    net = conv_net(torch.float64, seed=3)
    target = 2

    def value(coalition):
        keep = np.isin(ref, [labels[p] for p in coalition])[None]        # 1, H, W
        z = torch.tensor(np.where(keep, x[0].numpy(), base)[None])
        with torch.no_grad():
            return float(net(z)[0, target])

    phi = brute_force_shapley(value, len(labels))
    a = nbexplain.attribute(net, x, "shapley", target=target, baseline=base,
                            features=("slic", kw), estimator="exact", progress_bar=False)
    gv = a.extras["group_values"][0]
    assert len(gv) == len(labels)
    # compare per pixel (independent of how either side numbers the segments) and sorted
    truth_map = phi[np.searchsorted(labels, ref)]
    for c in range(3):
        np.testing.assert_allclose(a.values[0, c], truth_map, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.sort(gv), np.sort(phi), rtol=0, atol=1e-6)
    assert np.ptp(phi) > 1e-3                                            # not a trivial game
    # efficiency: Σφ = f(x) − f(baseline)
    with torch.no_grad():
        gap = float(net(x)[0, target] - net(torch.tensor(base[None]))[0, target])
    assert abs(gv.sum() - gap) < 1e-9
    assert abs(float(a.delta[0])) < 1e-9


# --- 4. per-example segment maps in one batch ---------------------------------------------
@pytest.mark.parametrize("reference", ["baseline", "background"])
def test_batch_of_two_images_matches_single_example_calls(reference):
    planted_img, _ = planted_image()
    imgs = [blocks_image(5, rows=3, cols=3), planted_img]
    x = to_nchw(*imgs, dtype=torch.float32)
    net = conv_net(torch.float32, seed=1)
    kw = {"features": ("slic", {"n_segments": 8, "compactness": 5.0}), "estimator": "exact",
          "progress_bar": False, "target": [0, 2]}
    if reference == "baseline":
        kw["baseline"] = 0.1
    else:
        kw["background"] = np.random.default_rng(0).random((2, 3, H, W)).astype(np.float32)
    batch = nbexplain.attribute(net, x, "shapley", **kw)
    ids = np.asarray(batch.extras["feature_groups"])
    assert ids.shape == (2, 3, H, W)
    assert not same_partition(ids[0, 0], ids[1, 0])
    counts = [len(np.unique(ids[i])) for i in range(2)]
    assert counts[0] > counts[1]               # example 1 has empty (padding) groups
    for i in range(2):
        one = nbexplain.attribute(net, x[i:i + 1], "shapley", **{**kw, "target": kw["target"][i]})
        one_ids = np.asarray(one.extras["feature_groups"])[0]
        np.testing.assert_array_equal(ids[i], one_ids)
        m_i = one.extras["group_values"].shape[1]
        np.testing.assert_allclose(batch.extras["group_values"][i, :m_i],
                                   one.extras["group_values"][0], rtol=1e-5, atol=1e-6)
        assert np.all(batch.extras["group_values"][i, m_i:] == 0)
        np.testing.assert_allclose(batch.values[i], one.values[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(batch.extras["fx"][i], one.extras["fx"][0], rtol=1e-6)
        assert same_partition(ids[i, 0], reference_slic(imgs[i], n_segments=8, compactness=5.0))


def test_slic_mask_leaves_pixels_outside_it_unperturbed():
    # skimage labels pixels outside ``mask`` -1 (start_label=0): they stay at the input in
    # every coalition, get no value, and only the masked segments share f(x) − v(∅)
    img = blocks_image(3)
    x = to_nchw(img)
    mask = np.zeros((H, W), dtype=bool)
    mask[:, :12] = True
    net = RegionModel(np.ones((H, W)), seed=2)                         # additive everywhere
    a = nbexplain.attribute(net, x, "shapley", target=0, estimator="exact",
                            features=("slic", {"n_segments": 6, "mask": mask}),
                            progress_bar=False)
    ids = np.asarray(a.extras["feature_groups"])[0, 0]
    assert np.all(ids[~mask] == -1) and np.all(ids[mask] >= 0)
    gv = a.extras["group_values"][0]
    contrib = (net.w * x)[0].numpy()
    truth = np.array([contrib[:, ids == k].sum() for k in range(len(gv))])
    np.testing.assert_allclose(gv, truth, rtol=1e-10, atol=1e-12)
    assert np.all(a.values[0][:, ~mask] == 0)
    np.testing.assert_allclose(a.extras["base_value"][0], contrib[:, ~mask].sum(), rtol=1e-10)


# --- 5./6. errors -------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["shapley", "lime"])
def test_slic_without_scikit_image_says_how_to_fix_it(monkeypatch, method):
    monkeypatch.setitem(sys.modules, "skimage.segmentation", None)     # import now fails
    x = np.random.default_rng(0).random((1, 3, 8, 8))
    with pytest.raises(NBExplainError, match=r"scikit-image.*pip install scikit-image") as e:
        nbexplain.attribute(lambda z: z.reshape(len(z), -1).sum(1), x, method,
                            features="slic", progress_bar=False)
    assert isinstance(e.value.__cause__, ImportError)
    assert "features='grid'" in str(e.value)


@pytest.mark.parametrize("shape", [(2, 12), (2, 6, 4)])
def test_slic_on_non_image_inputs_is_refused(shape):
    x = np.random.default_rng(0).random(shape)
    with pytest.raises(NBExplainError, match=r"features='slic' needs image inputs"):
        nbexplain.attribute(lambda z: z.reshape(len(z), -1).sum(1), x, "shapley",
                            features="slic", progress_bar=False)


@pytest.mark.parametrize("spec, match", [
    (("slic", 0), r"n_segments=0; it must be a whole number >= 1"),
    (("slic", -3), r"n_segments=-3; it must be a whole number >= 1"),
    (("slic", 2.7), r"n_segments=2.7; it must be a whole number"),
    (("slic", "abc"), r"n_segments='abc'; it must be a whole number"),
    (("slic", {"n_segments": 0}), r"n_segments=0"),
    (("slic", {"compactness": 0}), r"compactness=0; it must be a number > 0"),
    (("slic", {"channel_axis": None}), r"cannot set \['channel_axis'\]"),
    (("slic", {"start_label": 1}), r"cannot set \['start_label'\]"),
    (("slic", {"bogus": 1}), r"SLIC failed with the options .*bogus.*keyword arguments of "
                             r"skimage.segmentation.slic"),
])
def test_bad_slic_options_are_named(spec, match):
    x = np.random.default_rng(0).random((1, 3, 8, 8))
    with pytest.raises(NBExplainError, match=match):
        nbexplain.attribute(lambda z: z.reshape(len(z), -1).sum(1), x, "shapley",
                            features=spec, progress_bar=False)
