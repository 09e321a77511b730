"""tinynet.mri.data.augment, Augment: one geometric transform for image and mask, intensity on the
image only, seeded."""
import numpy as np
import pytest

from tinynet.mri.data import Augment, DataError

SIDE = 48
OFF = dict(flip=False, rotate=0.0, scale=0.0, elastic=0.0, intensity=0.0)


def square_slice(top=10, left=14, height=14, width=9):
    """A dark image with a bright off-centre rectangle, and the rectangle as the mask."""
    image = np.full((SIDE, SIDE, 3), 20, dtype=np.uint8)
    image[top:top + height, left:left + width] = (200, 230, 210)
    mask = np.zeros((SIDE, SIDE), dtype=np.uint8)
    mask[top:top + height, left:left + width] = 1
    return image, mask


def agreement(image, mask):
    """Intersection over union of the mask and the bright part of the image."""
    bright = image[..., 1] > 125
    return (bright & (mask == 1)).sum() / (bright | (mask == 1)).sum()


@pytest.mark.parametrize("settings", [
    dict(rotate=30.0, scale=0.2),
    dict(rotate=30.0, scale=0.2, elastic=0.02),
    dict(flip=True, rotate=10.0, scale=0.1, intensity=0.1),
])
def test_mask_follows_the_image(settings):
    image, mask = square_slice()
    aug = Augment(**{**OFF, **settings})
    moved = 0
    for seed in range(8):
        out_image, out_mask = aug(image, mask, np.random.default_rng(seed))
        assert out_image.dtype == np.uint8 and out_image.shape == image.shape
        assert out_mask.dtype == np.uint8 and set(np.unique(out_mask)) <= {0, 1}
        assert agreement(out_image, out_mask) > 0.85  # they differ only along the edge
        moved += not np.array_equal(out_mask, mask)
    assert moved == 8  # and the transform did move things


def test_flip_alone_is_an_exact_reversal_of_both():
    image, mask = square_slice()
    aug = Augment(**{**OFF, "flip": True})
    flipped = 0
    for seed in range(10):
        out_image, out_mask = aug(image, mask, np.random.default_rng(seed))
        if np.array_equal(out_mask, mask):
            np.testing.assert_array_equal(out_image, image)
        else:
            flipped += 1
            np.testing.assert_array_equal(out_mask, mask[:, ::-1])
            np.testing.assert_array_equal(out_image, image[:, ::-1])
    assert 0 < flipped < 10


def test_everything_off_is_the_identity():
    image, mask = square_slice()
    out_image, out_mask = Augment(**OFF)(image, mask, np.random.default_rng(0))
    assert out_image is image and out_mask is mask


def test_tiny_rotation_barely_changes_a_smooth_image():
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    image = np.repeat((2 * x + y).astype(np.uint8)[..., None], 3, axis=2)
    mask = np.zeros((SIDE, SIDE), np.uint8)
    out, _ = Augment(**{**OFF, "rotate": 0.5})(image, mask, np.random.default_rng(0))
    inner = (slice(4, -4), slice(4, -4))  # away from the zero-filled border
    assert np.abs(out[inner].astype(int) - image[inner]).max() <= 1


def test_intensity_changes_the_image_only_and_per_channel_affinely():
    # Levels 20..200 stay inside [0, 255] for any gain in [0.8, 1.2] and bias in +-12.75.
    levels = np.array([20, 60, 100, 160, 200])
    image = np.repeat(np.repeat(levels.astype(np.uint8), 8)[None, :, None], 40, axis=0)
    image = np.repeat(image, 3, axis=2)
    image[..., 1] = image[::-1, ::-1, 1]  # the channels differ
    mask = (image[..., 0] > 100).astype(np.uint8)
    jitter = Augment(**{**OFF, "intensity": 0.2})
    out_image, out_mask = jitter(image, mask, np.random.default_rng(3))
    assert out_mask is mask
    for c in range(3):
        outputs = [np.unique(out_image[..., c][image[..., c] == v]) for v in levels]
        assert all(len(o) == 1 for o in outputs)  # same input level -> same output level
        outputs = np.array([int(o[0]) for o in outputs])
        # out = round(gain * x + bias): the line through the end levels predicts the others.
        gain = (outputs[-1] - outputs[0]) / (levels[-1] - levels[0])
        bias = outputs[0] - gain * levels[0]
        assert 0.8 - 0.01 <= gain <= 1.2 + 0.01 and abs(bias) <= 255 * 0.2 / 4 + 1
        np.testing.assert_allclose(outputs, gain * levels + bias, atol=1.0)
    assert not np.array_equal(out_image, image)


def test_seeded_reproducible():
    image, mask = square_slice()
    aug = Augment(elastic=0.01)
    a = aug(image, mask, np.random.default_rng(11))
    b = aug(image, mask, np.random.default_rng(11))
    c = aug(image, mask, np.random.default_rng(12))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("kwargs, message", [
    ({"rotate": -1}, r"rotate must be a number >= 0.0, got -1"),
    ({"scale": 1.0}, r"scale must be a number in \[0.0, 1.0\), got 1.0"),
    ({"elastic": "lots"}, "elastic must be a number"),
    ({"intensity": True}, "intensity must be a number"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(DataError, match=message):
        Augment(**kwargs)


def test_bad_inputs():
    image, mask = square_slice()
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match=r"image must be uint8 \(H, W, 3\), got float32"):
        Augment()(image.astype(np.float32), mask, rng)
    with pytest.raises(DataError, match=r"mask must be uint8 \(48, 48\) like the image, "
                                        r"got uint8 \(47, 48\)"):
        Augment()(image, mask[1:], rng)
