"""channel_stats, normalize and the resize helpers, against hand-computed values."""
import numpy as np
import pytest
from PIL import Image

from tinynet.mri.data import (DataError, SliceDataset, channel_stats, normalize, resize_dataset,
                          resize_image, resize_mask)


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
