"""Preprocessing: resizing slices, per-channel statistics and normalization.

The network sees float32 (N, 3, H, W) inputs ``(k x / 255 - mean) / std`` where
``mean`` and ``std`` are per-channel statistics of the TRAINING patients only
(computing them on validation data would leak it into training).

``k`` is 1, or, when the stats carry ``"slice_percentile": q``, a factor per
slice and channel that maps the q-th percentile of the slice's nonzero pixels
to 1.  The kaggle_3m volumes come from five institutions and their scanners
store very different brightness (one patient's FLAIR 99th percentile is a
quarter of another's); scaling every slice by its own bright level removes
that before the network sees it.  Buda et al. (2019) standardize each patient
volume for the same reason; per slice keeps a single slice predictable alone.
Two consequences to know: a channel holding only faint noise (the first and
last slices of a volume) is stretched like any other, the same way in
training and prediction; and the augmentation's random gain is undone by the
scaling, only its bias survives.
"""
import numbers

import numpy as np
from .._lazy import Image  # Pillow, imported at first use

from ._checks import check_whole_number
from .dataset import SliceDataset
from .errors import DataError
from .volume_intensity import check_volume_percentiles

__all__ = ["resize_image", "resize_mask", "resize_dataset", "channel_stats", "normalize",
           "check_stats", "check_image_size", "slice_scales"]


def resize_image(image, size):
    """uint8 (H, W, 3) -> (size, size, 3), bilinear.

    Pillow's resampling widens the filter by the reduction factor when it
    shrinks an image, so downscaling averages over the covered pixels
    (antialiased) instead of skipping them.
    """
    if image.shape[:2] == (size, size):
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))


def resize_mask(mask, size):
    """uint8 (H, W) -> (size, size) by nearest neighbour, so 0/1 stays 0/1."""
    if mask.shape == (size, size):
        return mask
    return np.asarray(Image.fromarray(mask).resize((size, size), Image.Resampling.NEAREST))


def resize_dataset(dataset, size):
    """A new in-memory SliceDataset with every slice resized to (size, size)."""
    images = np.stack([resize_image(dataset[i][0], size) for i in range(len(dataset))])
    masks = np.stack([resize_mask(dataset.mask(i), size) for i in range(len(dataset))])
    return SliceDataset.from_arrays(images, masks, dataset.patient_of, dataset.names,
                                    image_size=size)


def slice_scales(images, percentile):
    """Intensity factors k (N, C) that map the ``percentile``-th percentile of each
    channel's nonzero pixels to 1 (in units of x / 255) for uint8 (N, H, W, C) images
    (C = 3, or 3 m for slices with their neighbours).

    A channel with no nonzero pixel keeps k = 1 (x / 255), so an empty slice stays zero.
    """
    images = np.asarray(images)
    scales = np.ones((images.shape[0], images.shape[-1]), dtype=np.float64)
    for n in range(images.shape[0]):
        for c in range(images.shape[-1]):
            channel = images[n, ..., c]
            bright = channel[channel > 0]
            if bright.size:
                scales[n, c] = 255.0 / max(float(np.percentile(bright, percentile)), 1.0)
    return scales


def channel_stats(dataset, indices, slice_percentile=None):
    """Per-channel mean and (population) std of intensities k x / 255 over the slices ``indices``.

    Returns ``{"mean": [m0, m1, m2], "std": [s0, s1, s2]}`` (plain floats), plus
    ``"slice_percentile"`` when it is given (k from ``slice_scales``; else k = 1).
    Counted exactly with a 256-bin histogram per slice and channel:
    mean = sum_v k v n_v / (255 n), var = sum_v (k v)^2 n_v / (255^2 n) - mean^2.
    """
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if indices.size == 0:
        raise DataError("channel_stats: no slices given (indices is empty)")
    slice_percentile = check_slice_percentile(slice_percentile, "channel_stats")
    levels = np.arange(256, dtype=np.float64) / 255.0
    total, total_sq, count = np.zeros(3), np.zeros(3), 0
    for i in indices:
        image = dataset[int(i)][0]
        scale = (slice_scales(image[None], slice_percentile)[0]
                 if slice_percentile is not None else np.ones(3))
        for c in range(3):
            counts = np.bincount(image[..., c].ravel(), minlength=256)
            total[c] += scale[c] * (counts @ levels)
            total_sq[c] += scale[c] ** 2 * (counts @ levels**2)
        count += image[..., 0].size
    mean = total / count
    var = np.maximum(total_sq / count - mean**2, 0.0)
    stats = {"mean": [float(m) for m in mean], "std": [float(s) for s in np.sqrt(var)]}
    if slice_percentile is not None:
        stats["slice_percentile"] = slice_percentile
    return stats


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
    check_slice_percentile(stats.get("slice_percentile"), "normalize")
    if stats.get("volume_percentiles") is not None:
        check_volume_percentiles(stats["volume_percentiles"], "normalize")
        if stats.get("slice_percentile") is not None:
            raise DataError("normalize: stats cannot scale both per slice (slice_percentile) "
                            "and per volume (volume_percentiles)")
    return mean, std


def check_slice_percentile(percentile, where):
    """``percentile`` as a float in (0, 100], None for None, else a DataError naming ``where``."""
    if percentile is None:
        return None
    if (isinstance(percentile, bool) or not isinstance(percentile, numbers.Real)
            or not 0 < percentile <= 100):
        raise DataError(f"{where}: slice_percentile must be a number in (0, 100], "
                        f"got {percentile!r}")
    return float(percentile)


def normalize(images, stats, tables=None):
    """uint8 (N, H, W, C) -> float32 (N, C, H, W): ``(T[c](x) - mean[c]) / std[c]``.

    C is 3 (pre-contrast, FLAIR, post-contrast), or 3 m for slices stacked with their
    neighbours (``context.py``): channel c then uses the numbers of sequence c mod 3.
    A single image (H, W, C) gives (C, H, W).  T[c](x) is k x / 255, k = 1 or per
    slice and channel from ``slice_scales`` when ``stats`` has ``"slice_percentile"``.
    When ``stats`` has ``"volume_percentiles"`` (``--intensity volume``), T comes
    from the volume the slices belong to and must be given as ``tables``: float32
    (3, 256) for every slice, or (N, 3, 256) one per slice (``volume_intensity.
    volume_tables``).  Each channel of each slice is mapped through its 256-entry
    lookup table, which is exact and faster than float arithmetic on every pixel.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or images.shape[-1] % 3 or \
            images.shape[-1] == 0:
        raise DataError(f"normalize: expected uint8 images (N, H, W, 3) or (H, W, 3) (or 3 m "
                        f"channels, slices with their neighbours), got {images.dtype} "
                        f"{images.shape}")
    mean, std = check_stats(stats)
    if images.ndim == 3:
        return normalize(images[None], stats, tables)[0]
    groups = images.shape[-1] // 3
    mean, std = np.tile(mean, groups), np.tile(std, groups)
    levels = _level_tables(images, stats, tables)
    out = np.empty((images.shape[0], images.shape[-1]) + images.shape[1:3], dtype=np.float32)
    for n in range(images.shape[0]):
        # normalized[c, v]: the normalized value of level v in channel c of this slice
        normalized = ((levels[n] - mean[:, None]) / std[:, None]).astype(np.float32)
        for c in range(images.shape[-1]):
            out[n, c] = normalized[c][images[n, ..., c]]
    return out


def _level_tables(images, stats, tables):
    """T of every slice and channel of ``images`` as float64 (N, C, 256) (see ``normalize``)."""
    n, channels = images.shape[0], images.shape[-1]
    if stats.get("volume_percentiles") is not None:
        if tables is None:
            raise DataError("normalize: these stats normalize per volume (volume_percentiles): "
                            "give tables= from volume_intensity.volume_tables(volume_levels("
                            "the volume's slices))")
        tables = np.asarray(tables, dtype=np.float64)
        if tables.shape not in ((3, 256), (n, 3, 256)):
            raise DataError(f"normalize: tables must be (3, 256) or ({n}, 3, 256) for {n} "
                            f"slices, got shape {tables.shape}")
        tables = np.tile(tables, (1, channels // 3, 1) if tables.ndim == 3
                         else (channels // 3, 1))
        return np.broadcast_to(tables, (n, channels, 256))
    if tables is not None:
        raise DataError("normalize: tables= is for stats with volume_percentiles; these stats "
                        "scale per dataset or per slice")
    percentile = stats.get("slice_percentile")
    scales = slice_scales(images, percentile) if percentile is not None \
        else np.ones((n, channels))
    return scales[:, :, None] * (np.arange(256, dtype=np.float64) / 255.0)


def check_image_size(size, where):
    """``size`` if it is None or a whole number >= 1, else a DataError naming ``where``."""
    if size is None:
        return None
    return check_whole_number(size, "size", 1, where)
