"""Preprocessing: resizing slices, per-channel statistics and normalization.

The network sees float32 (N, 3, H, W) inputs ``(x / 255 - mean) / std`` where
``mean`` and ``std`` are per-channel statistics of the TRAINING patients only
(computing them on validation data would leak it into training).
"""
import numpy as np
from PIL import Image

from ._checks import check_whole_number
from .dataset import SliceDataset
from .errors import DataError

__all__ = ["resize_image", "resize_mask", "resize_dataset", "channel_stats", "normalize",
           "check_stats", "check_image_size"]


def resize_image(image, size):
    """uint8 (H, W, 3) -> (size, size, 3), bilinear.

    Pillow's resampling widens the filter by the reduction factor when it
    shrinks an image, so downscaling averages over the covered pixels
    (antialiased) instead of skipping them.
    """
    if image.shape[:2] == (size, size):
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))


def resize_mask(mask, size):
    """uint8 (H, W) -> (size, size) by nearest neighbour, so 0/1 stays 0/1."""
    if mask.shape == (size, size):
        return mask
    return np.asarray(Image.fromarray(mask).resize((size, size), Image.NEAREST))


def resize_dataset(dataset, size):
    """A new in-memory SliceDataset with every slice resized to (size, size)."""
    images = np.stack([resize_image(dataset[i][0], size) for i in range(len(dataset))])
    masks = np.stack([resize_mask(dataset.mask(i), size) for i in range(len(dataset))])
    return SliceDataset.from_arrays(images, masks, dataset.patient_of, dataset.names,
                                    image_size=size)


def channel_stats(dataset, indices):
    """Per-channel mean and (population) std of intensities x / 255 over the slices ``indices``.

    Returns ``{"mean": [m0, m1, m2], "std": [s0, s1, s2]}`` (plain floats).
    Counted exactly with a 256-bin histogram per channel:
    mean = sum_v v n_v / (255 n), var = sum_v v^2 n_v / (255^2 n) - mean^2.
    """
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if indices.size == 0:
        raise DataError("channel_stats: no slices given (indices is empty)")
    counts = np.zeros((3, 256), dtype=np.int64)
    for i in indices:
        image = dataset[int(i)][0]
        for c in range(3):
            counts[c] += np.bincount(image[..., c].ravel(), minlength=256)
    levels = np.arange(256, dtype=np.float64) / 255.0
    n = counts.sum(axis=1)
    mean = counts @ levels / n
    var = np.maximum(counts @ levels**2 / n - mean**2, 0.0)
    return {"mean": [float(m) for m in mean], "std": [float(s) for s in np.sqrt(var)]}


def check_stats(stats):
    """mean and std of a ``channel_stats`` dict as float64 (3,) arrays, or a DataError."""
    try:
        mean = np.asarray(stats["mean"], dtype=np.float64)
        std = np.asarray(stats["std"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"normalize: stats must be {{'mean': [3 floats], 'std': [3 floats]}}, "
                        f"got {stats!r}") from exc
    if mean.shape != (3,) or std.shape != (3,):
        raise DataError(f"normalize: stats need 3 means and 3 stds (one per channel), "
                        f"got mean {mean.tolist()} and std {std.tolist()}")
    if not np.all(std > 0):
        raise DataError(f"normalize: every std must be > 0, got {std.tolist()}")
    return mean, std


def normalize(images, stats):
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W): ``(x / 255 - mean[c]) / std[c]``.

    A single image (H, W, 3) gives (3, H, W).  Each channel is mapped through
    a 256-entry lookup table, which is exact and faster than float arithmetic
    on every pixel.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or images.shape[-1] != 3:
        raise DataError(f"normalize: expected uint8 images (N, H, W, 3) or (H, W, 3), "
                        f"got {images.dtype} {images.shape}")
    mean, std = check_stats(stats)
    levels = np.arange(256, dtype=np.float64) / 255.0
    tables = ((levels[None, :] - mean[:, None]) / std[:, None]).astype(np.float32)  # (3, 256)
    channels = [tables[c][images[..., c]] for c in range(3)]
    return np.stack(channels, axis=-3)


def check_image_size(size, where):
    """``size`` if it is None or a whole number >= 1, else a DataError naming ``where``."""
    if size is None:
        return None
    return check_whole_number(size, "size", 1, where)
