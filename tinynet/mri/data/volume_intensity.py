"""Per-volume intensity normalization (``--intensity volume``) and its augmentation.

Buda et al. (2019) normalize each patient's volume as a whole: the intensities of
a channel are rescaled between the volume's 10th and 99th percentiles, then
standardized by the volume's own mean and standard deviation.  Here, for channel c
of a volume of uint8 slices (N, H, W, 3), with x the stored level 0..255::

    lo_c, hi_c = the 10th and 99th percentiles of channel c over every pixel of the volume
    u = clip((x - lo_c) / (hi_c - lo_c), 0, 1)          "unit" intensity, in [0, 1]
    z = (u - m_c) / s_c                                 m_c, s_c: mean and std of u over the volume

Why per volume rather than per slice (``--intensity slice``): scaling every slice by
its own bright level stretches the faint slices at the ends of a volume, and dims a
slice whose tumour is brighter than the rest of its volume, since the tumour itself
raises the slice's percentile.  One scale per volume keeps the relative brightness of
the slices of a scan, which is what a radiologist looks at.

The percentiles are counted over every pixel, background included, per channel (the
three channels are different sequences: pre-contrast, FLAIR, post-contrast).  A
volume's numbers are a function of that volume alone (nothing learnt from other
patients), so they are computed for training and validation patients alike, and again
at prediction time from the volume being predicted: prediction needs all the slices of
a scan together (``inference.TwoStagePredictor(images, volume=...)``).

Intensity augmentation (``IntensityJitter``) acts on u, *after* the normalization's
percentiles are fixed by the un-augmented volume, so the jitter is not undone by it::

    u' = contrast * u ** gamma + brightness,    z = (u' - m_c) / s_c

with gamma = exp(U(-g, g)), contrast ~ U(1 - a, 1 + a), brightness ~ U(-b, b), drawn
per slice and channel.  Everything is a 256-entry table per channel (level x -> z), so
normalizing a slice is one lookup per pixel.
"""
import numbers

import numpy as np

from .errors import DataError

__all__ = ["VOLUME_PERCENTILES", "volume_levels", "volume_tables", "IntensityJitter",
           "check_volume_percentiles"]

#: Buda et al.'s percentiles: the lower and upper ends of the rescaling.
VOLUME_PERCENTILES = (10.0, 99.0)

_LEVELS = np.arange(256, dtype=np.float64)


def check_volume_percentiles(percentiles, where):
    """``percentiles`` as a (low, high) pair of floats with 0 <= low < high <= 100, else a
    DataError naming ``where``."""
    try:
        low, high = (float(p) for p in percentiles)
        ok = all(isinstance(p, numbers.Real) and not isinstance(p, bool) for p in percentiles)
    except (TypeError, ValueError):
        ok = False
    if not ok or not 0 <= low < high <= 100:
        raise DataError(f"{where}: volume_percentiles must be two numbers 0 <= low < high "
                        f"<= 100, got {percentiles!r}")
    return low, high


def _unit_table(low_level, high_level):
    """u(x) for x = 0..255: clip((x - lo) / (hi - lo), 0, 1), float64 (256,)."""
    return np.clip((_LEVELS - low_level) / (high_level - low_level), 0.0, 1.0)


def volume_levels(images, percentiles=VOLUME_PERCENTILES):
    """The normalization numbers of one volume: float64 (3, 4), per channel (lo, hi, m, s).

    images : uint8 (N, H, W, 3), every slice of one scan (at the size the network sees)
    lo, hi : the ``percentiles`` of the channel's levels over the whole volume; hi is at
        least lo + 1 (one level), so that u stays defined for a constant channel (e.g. all
        black) and a nearly empty one is not stretched beyond one level per unit
    m, s : mean and (population) std of u over the volume, counted exactly from the
        histogram of levels; s = 1 where u is constant
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or not len(images):
        raise DataError(f"volume_levels: expected the uint8 slices (N, H, W, 3) of one volume, "
                        f"got {images.dtype} {images.shape}")
    low, high = check_volume_percentiles(percentiles, "volume_levels")
    levels = np.empty((3, 4), dtype=np.float64)
    for c in range(3):
        counts = np.bincount(images[..., c].ravel(), minlength=256).astype(np.float64)
        lo, hi = _percentiles_of_histogram(counts, (low, high))
        hi = max(hi, lo + 1.0)
        unit = _unit_table(lo, hi)
        mean = counts @ unit / counts.sum()
        var = max(counts @ (unit - mean) ** 2 / counts.sum(), 0.0)
        levels[c] = lo, hi, mean, np.sqrt(var) if var > 1e-12 else 1.0
    return levels


def _percentiles_of_histogram(counts, qs):
    """np.percentile's default (linear) percentiles of the values a histogram counts.

    The sorted values are level v repeated counts[v] times; the q-th percentile is at
    position q/100 (n - 1), interpolated between its two neighbours.
    """
    cumulative = np.cumsum(counts)
    n = cumulative[-1]
    result = []
    for q in qs:
        position = q / 100.0 * (n - 1)
        below = int(np.floor(position))
        value_below = np.searchsorted(cumulative, below, side="right")
        value_above = np.searchsorted(cumulative, min(below + 1, n - 1), side="right")
        result.append(value_below + (position - below) * (value_above - value_below))
    return result


def volume_tables(levels, jitter=None):
    """The normalization of one volume as lookup tables: float32 (3, 256), z of each level.

    levels : (3, 4) from ``volume_levels``
    jitter : None, or (3, 3) per channel (gamma, contrast, brightness) applied to u before
        the z-score (``IntensityJitter.draw``)
    """
    levels = np.asarray(levels, dtype=np.float64)
    if levels.shape != (3, 4):
        raise DataError(f"volume_tables: levels must be (3, 4) per channel (lo, hi, mean, "
                        f"std), got shape {levels.shape}")
    tables = np.empty((3, 256), dtype=np.float32)
    for c, (lo, hi, mean, std) in enumerate(levels):
        unit = _unit_table(lo, hi)
        if jitter is not None:
            gamma, contrast, brightness = jitter[c]
            unit = contrast * unit ** gamma + brightness
        tables[c] = (unit - mean) / std
    return tables


class IntensityJitter:
    """Random per-channel gamma, contrast and brightness of the unit intensity u (see the
    module doc): u' = contrast * u ** gamma + brightness.

    Args:
        gamma: log-gamma is drawn from U(-gamma, gamma) (0 = off)
        contrast: contrast from U(1 - contrast, 1 + contrast) (0 = off)
        brightness: brightness from U(-brightness, brightness), in units of the volume's
            lo..hi range (0 = off)
    """

    def __init__(self, gamma=0.2, contrast=0.1, brightness=0.05):
        for name, value in (("gamma", gamma), ("contrast", contrast),
                            ("brightness", brightness)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                    not 0 <= value < 1:
                raise DataError(f"IntensityJitter: {name} must be a number in [0, 1), got "
                                f"{value!r}")
        self.gamma, self.contrast, self.brightness = float(gamma), float(contrast), \
            float(brightness)

    def __repr__(self):
        return (f"IntensityJitter(gamma={self.gamma}, contrast={self.contrast}, "
                f"brightness={self.brightness})")

    def draw(self, rng):
        """float64 (3, 3): per channel (gamma, contrast, brightness) drawn from ``rng``."""
        gamma = np.exp(rng.uniform(-self.gamma, self.gamma, size=3))
        contrast = rng.uniform(1 - self.contrast, 1 + self.contrast, size=3)
        brightness = rng.uniform(-self.brightness, self.brightness, size=3)
        return np.stack([gamma, contrast, brightness], axis=1)
