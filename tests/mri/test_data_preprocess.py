"""tinynet.mri.data.preprocess: channel_stats, normalize and the resize helpers, against
hand-computed values; per-slice intensity scaling (slice_scales, slice_percentile) and
check_stats.

The per-slice scaling tests compare tinynet's lookup-table code with plain float64
NumPy written here from the definition: k[n, c] = 255 / P, with P the
``percentile``-th percentile (np.percentile) of the nonzero pixels of channel c
of slice n (k = 1 for a channel with no nonzero pixel), and the network input
(k x / 255 - mean) / std.
"""
import numpy as np
import pytest
from PIL import Image

from mrihelpers import STATS, mri_like, with_percentile
from tinynet.mri.data import (DataError, SliceDataset, channel_stats, normalize, resize_dataset,
                          resize_image, resize_mask)
from tinynet.mri.data.preprocess import check_stats, slice_scales


def constant_dataset(colours, side=4):
    """One slice per (r, g, b) colour, every pixel that colour; empty masks."""
    images = np.stack([np.full((side, side, 3), c, dtype=np.uint8) for c in colours])
    masks = np.zeros(images.shape[:3], dtype=np.uint8)
    names = [f"P_AA_{k}_1" for k in range(len(colours))]
    return SliceDataset.from_arrays(images, masks, [n[:-2] for n in names], names)


def test_channel_stats_hand_computed():
    ds = constant_dataset([(0, 255, 51), (255, 255, 102)])
    stats = channel_stats(ds, [0, 1])
    # channel 0: 0 and 1 -> mean 0.5, std 0.5; channel 1: 1 and 1; channel 2: 0.2 and 0.4
    np.testing.assert_allclose(stats["mean"], [0.5, 1.0, 0.3], atol=1e-12)
    np.testing.assert_allclose(stats["std"], [0.5, 0.0, 0.1], atol=1e-12)
    only_first = channel_stats(ds, [0])
    np.testing.assert_allclose(only_first["mean"], [0.0, 1.0, 0.2], atol=1e-12)
    assert all(isinstance(v, float) for v in stats["mean"] + stats["std"])


def test_channel_stats_match_numpy_on_the_chosen_slices_only():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 6, 7, 3), dtype=np.uint8)
    ds = SliceDataset.from_arrays(images, np.zeros((5, 6, 7), np.uint8), ["p"] * 5,
                                  [f"p_{k}" for k in range(5)])
    chosen = images[[1, 3, 4]].astype(np.float64) / 255
    stats = channel_stats(ds, np.array([1, 3, 4]))
    np.testing.assert_allclose(stats["mean"], chosen.mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(stats["std"], chosen.std(axis=(0, 1, 2)), rtol=1e-10)


def test_channel_stats_needs_slices():
    with pytest.raises(DataError, match="indices is empty"):
        channel_stats(constant_dataset([(1, 2, 3)]), [])


def test_normalize_hand_computed_and_layout():
    images = np.zeros((2, 3, 4, 3), dtype=np.uint8)
    images[..., 0], images[..., 1], images[..., 2] = 51, 255, 0
    images[1, 2, 3] = (102, 0, 255)
    stats = {"mean": [0.1, 0.5, 0.0], "std": [0.5, 0.25, 2.0]}
    out = normalize(images, stats)
    assert out.dtype == np.float32 and out.shape == (2, 3, 3, 4)
    # (51/255 - 0.1) / 0.5 = 0.2; (1 - 0.5) / 0.25 = 2; (0 - 0) / 2 = 0
    np.testing.assert_allclose(out[0, :, 0, 0], [0.2, 2.0, 0.0], atol=1e-6)
    # (0.4 - 0.1) / 0.5 = 0.6; (0 - 0.5) / 0.25 = -2; (1 - 0) / 2 = 0.5
    np.testing.assert_allclose(out[1, :, 2, 3], [0.6, -2.0, 0.5], atol=1e-6)
    single = normalize(images[1], stats)
    assert single.shape == (3, 3, 4)
    np.testing.assert_array_equal(single, out[1])


@pytest.mark.parametrize("images, stats, message", [
    (np.zeros((2, 2, 3), np.float32), None, "expected uint8 images .* got float32"),
    (np.zeros((2, 2, 4), np.uint8), None, r"got uint8 \(2, 2, 4\)"),
    (np.zeros((2, 2, 3), np.uint8), {"mean": [0, 0, 0], "std": [1, 0, 1]}, "std must be > 0"),
    (np.zeros((2, 2, 3), np.uint8), {"mean": [0, 0], "std": [1, 1]}, "3 means and 3 stds"),
    (np.zeros((2, 2, 3), np.uint8), {"std": [1, 1, 1]}, "stats must be"),
])
def test_normalize_bad_input(images, stats, message):
    stats = stats or {"mean": [0, 0, 0], "std": [1, 1, 1]}
    with pytest.raises(DataError, match=message):
        normalize(images, stats)


def test_resize_helpers():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(image).resize((5, 5), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(resize_image(image, 5), expected)
    mask = (rng.random((10, 12)) > 0.5).astype(np.uint8)
    small = resize_mask(mask, 5)
    assert small.shape == (5, 5) and set(np.unique(small)) <= {0, 1}
    square = image[:5, :5]
    assert resize_image(square, 5) is square and resize_mask(small, 5) is small  # no work


def test_resize_dataset_keeps_ids():
    ds = constant_dataset([(10, 20, 30), (40, 50, 60)], side=8)
    small = resize_dataset(ds, 4)
    assert small.image_size == 4 and small.names == ds.names and small.patient_of == ds.patient_of
    np.testing.assert_array_equal(small[1][0], np.full((4, 4, 3), (40, 50, 60), np.uint8))


# ---------------------------------------------------------------------------
# Per-slice intensity scaling: slice_scales and normalize
# ---------------------------------------------------------------------------

def reference_scales(images, percentile):
    """k (N, 3) straight from the definition, with np.percentile on the nonzero pixels."""
    images = np.asarray(images)
    k = np.ones((images.shape[0], 3))
    for n in range(images.shape[0]):
        for c in range(3):
            channel = images[n, ..., c].astype(np.float64)
            if (channel > 0).any():
                k[n, c] = 255.0 / np.percentile(channel[channel > 0], percentile)
    return k


def reference_normalize(images, stats, scales):
    """float64 (N, 3, H, W): (k x / 255 - mean) / std."""
    x = np.asarray(images, np.float64).transpose(0, 3, 1, 2) / 255.0
    mean = np.asarray(stats["mean"])[None, :, None, None]
    std = np.asarray(stats["std"])[None, :, None, None]
    return (scales[:, :, None, None] * x - mean) / std


def test_slice_scales_match_np_percentile_of_the_nonzero_pixels(rng):
    """k equals 255 / np.percentile of each channel's nonzero pixels, for several percentiles."""
    images = mri_like(rng, n=4)
    for percentile in (50, 90, 99, 100):
        np.testing.assert_allclose(slice_scales(images, percentile),
                                   reference_scales(images, percentile), rtol=1e-12)


def test_slice_scales_ignore_zero_pixels(rng):
    """The percentile is taken over nonzero pixels only: adding background does not change k."""
    small = np.zeros((1, 4, 4, 3), np.uint8)
    small[0] = rng.integers(100, 201, (4, 4, 3))
    big = np.zeros((1, 40, 40, 3), np.uint8)          # same pixels, 99% zero background
    big[0, :4, :4] = small[0]
    np.testing.assert_array_equal(slice_scales(big, 99), slice_scales(small, 99))
    nonzero = small[0, ..., 0].astype(np.float64).ravel()
    assert slice_scales(big, 99)[0, 0] == pytest.approx(255.0 / np.percentile(nonzero, 99))
    # Counting the zeros would give a very different factor: the test can tell them apart.
    all_pixels = big[0, ..., 0].astype(np.float64).ravel()
    assert np.percentile(all_pixels, 99) < 0.9 * np.percentile(nonzero, 99)


def test_empty_channel_keeps_k_one_and_is_exactly_minus_mean_over_std(rng):
    """A channel without nonzero pixels gets k = 1 and normalizes to -mean/std exactly."""
    images = mri_like(rng, n=2)
    images[1, ..., 1] = 0
    scales = slice_scales(images, 99)
    assert scales[1, 1] == 1.0 and scales[0, 1] != 1.0
    out = normalize(images, with_percentile(STATS))
    expected = np.float32((0.0 - STATS["mean"][1]) / STATS["std"][1])
    assert np.all(out[1, 1] == expected)


def test_normalize_with_slice_percentile_equals_the_float64_reference(rng):
    """normalize = (k x / 255 - mean) / std per slice and channel, batch and single image."""
    images = mri_like(rng, n=3)
    images[2] //= 3                                    # a darker slice: another k
    for percentile in (99.0, 75):
        stats = with_percentile(STATS, percentile)
        expected = reference_normalize(images, stats, reference_scales(images, percentile))
        out = normalize(images, stats)
        assert out.dtype == np.float32 and out.shape == (3, 3, 16, 16)
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
        single = normalize(images[2], stats)
        assert single.shape == (3, 16, 16)
        np.testing.assert_allclose(single, expected[2], rtol=1e-6, atol=1e-6)


def test_normalize_without_slice_percentile_is_the_old_formula(rng):
    """Without the key the output is bit for bit the old table (x / 255 - mean) / std."""
    images = mri_like(rng, n=2)
    levels = np.arange(256, dtype=np.float64) / 255.0
    mean, std = np.asarray(STATS["mean"]), np.asarray(STATS["std"])
    tables = ((levels[None, :] - mean[:, None]) / std[:, None]).astype(np.float32)
    old = np.stack([tables[c][images[..., c]] for c in range(3)], axis=-3)
    np.testing.assert_array_equal(normalize(images, STATS), old)
    np.testing.assert_array_equal(normalize(images[0], STATS), old[0])
    np.testing.assert_allclose(old, reference_normalize(images, STATS, np.ones((2, 3))),
                               rtol=1e-6, atol=1e-6)


def test_doubling_a_channel_gives_bit_identical_input(rng):
    """2x brightness (exact in uint8): k halves exactly, so the network input is identical."""
    images = mri_like(rng, n=2, top=127)
    brighter = images.copy()
    brighter[..., 1] *= 2                              # <= 254: no clipping
    stats = with_percentile(STATS)
    np.testing.assert_array_equal(normalize(brighter, stats), normalize(images, stats))
    # Dataset scaling does see the change: the invariance is the slice scaling's doing.
    assert not np.allclose(normalize(brighter, STATS)[:, 1], normalize(images, STATS)[:, 1])


def test_brightness_invariance_up_to_uint8_rounding(rng):
    """round(a x) normalizes to the float result x / P(x), within the derived rounding bound."""
    images = mri_like(rng, n=2, top=150)
    a = 1.6
    scaled = a * images.astype(np.float64)             # <= 240: no clipping
    brighter = np.round(scaled).astype(np.uint8)
    stats = with_percentile(STATS)
    # Float reference: P from np.percentile of the unrounded a x (= a P(x), so it is x / P(x)).
    p_float = np.array([[np.percentile(s[..., c][s[..., c] > 0], 99) for c in range(3)]
                        for s in scaled])
    expected = reference_normalize(images, stats, 255.0 / p_float * a)
    # Rounding moves each pixel and (monotone, so each order statistic and their
    # interpolation) the percentile by <= 0.5: |y/p - v/P| <= 0.5/p + v_max * 0.5 / (p P).
    p_round = p_float - 0.5
    bound = (0.5 / p_round + scaled.max() * 0.5 / (p_round * p_float)).max()
    tolerance = bound / min(STATS["std"]) + 1e-5       # + float32 rounding of the table
    out = normalize(brighter, stats)
    assert np.abs(out - expected).max() <= tolerance
    # Not vacuous: with dataset scaling the same images differ by far more.
    assert np.abs(normalize(brighter, STATS) - normalize(images, STATS)).max() > 10 * tolerance


# ---------------------------------------------------------------------------
# channel_stats with slice_percentile
# ---------------------------------------------------------------------------

def tiny_dataset(rng):
    images = mri_like(rng, n=4, size=12)
    images[1] //= 4                                    # a dark scanner
    images[3, ..., 2] = 0                              # an empty channel
    masks = np.zeros(images.shape[:3], np.uint8)
    return SliceDataset.from_arrays(images, masks, ["a", "a", "b", "b"],
                                    [f"s{i}" for i in range(4)]), images


@pytest.mark.parametrize("percentile", [99.0, 80])
def test_channel_stats_with_slice_percentile_equal_direct_float64(rng, percentile):
    """mean / population std of k x / 255 over the chosen slices, computed directly."""
    dataset, images = tiny_dataset(rng)
    chosen = [1, 2, 3]
    stats = channel_stats(dataset, chosen, slice_percentile=percentile)
    k = reference_scales(images[chosen], percentile)
    values = k[:, None, None, :] * images[chosen].astype(np.float64) / 255.0
    values = values.reshape(-1, 3)
    np.testing.assert_allclose(stats["mean"], values.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["std"], values.std(axis=0), rtol=1e-10)
    assert stats["slice_percentile"] == float(percentile)
    # So the normalized training slices have mean 0 and std 1 per channel.
    out = normalize(images[chosen], stats).transpose(1, 0, 2, 3).reshape(3, -1)
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=1), 1.0, atol=1e-5)


def test_channel_stats_without_slice_percentile_are_plain_x_over_255(rng):
    """Without slice_percentile: no key, and mean / std of x / 255 over the chosen slices."""
    dataset, images = tiny_dataset(rng)
    stats = channel_stats(dataset, [0, 1])
    assert "slice_percentile" not in stats
    values = images[[0, 1]].astype(np.float64).reshape(-1, 3) / 255.0
    np.testing.assert_allclose(stats["mean"], values.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["std"], values.std(axis=0), rtol=1e-10)
    assert not np.allclose(channel_stats(dataset, [0, 1], slice_percentile=99)["mean"],
                           stats["mean"])


# ---------------------------------------------------------------------------
# Validation: check_stats, channel_stats
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("percentile", [0, 150, "99", True])
def test_check_stats_refuses_a_bad_slice_percentile(percentile):
    """check_stats (and so normalize) refuses 0, 150, "99", True with a message naming it."""
    with pytest.raises(DataError, match="slice_percentile"):
        check_stats(with_percentile(STATS, percentile))


@pytest.mark.parametrize("percentile", [99, 99.0, 0.5, 100])
def test_check_stats_accepts_a_good_slice_percentile(rng, percentile):
    """A percentile in (0, 100] passes check_stats and normalize uses it."""
    stats = with_percentile(STATS, percentile)
    mean, std = check_stats(stats)
    np.testing.assert_array_equal(mean, STATS["mean"])
    np.testing.assert_array_equal(std, STATS["std"])
    images = mri_like(rng, n=2)
    np.testing.assert_allclose(
        normalize(images, stats),
        reference_normalize(images, stats, reference_scales(images, percentile)),
        rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("percentile", [0, 150, "99", True, -5])
def test_channel_stats_refuses_a_bad_slice_percentile(percentile):
    """channel_stats names slice_percentile instead of treating 0 as off or failing in NumPy."""
    images = np.full((2, 4, 4, 3), 7, dtype=np.uint8)
    dataset = SliceDataset.from_arrays(images, np.zeros((2, 4, 4), np.uint8), ["p", "p"],
                                       ["a", "b"])
    with pytest.raises(DataError, match="slice_percentile"):
        channel_stats(dataset, [0, 1], slice_percentile=percentile)


def test_numpy_integer_percentile_is_accepted():
    """A NumPy integer percentile is a number like any other."""
    mean, _ = check_stats(with_percentile(STATS, np.int64(99)))
    np.testing.assert_array_equal(mean, STATS["mean"])
