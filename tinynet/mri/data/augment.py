"""Training-time augmentation of an image and its mask with one shared random transform.

``Augment()(image, mask, rng)`` draws, from ``rng``:

1. a geometric transform: a left-right flip (probability 1/2), a rotation
   by U(-rotate, rotate) degrees and a zoom by U(1 - scale, 1 + scale), all
   about the image centre, combined into ONE affine map so the image is
   interpolated once; optionally an elastic deformation on top
   (Simard et al., "Best practices for convolutional neural networks applied
   to visual document analysis", ICDAR 2003): a random displacement field,
   smoothed by a Gaussian, added to the affine map's coordinates;
2. an intensity jitter of the image only: per channel x -> gain * x + bias,
   gain ~ U(1 - intensity, 1 + intensity), bias ~ U(-intensity, intensity) * 255 / 4.

The image is resampled bilinearly (order 1), the mask by nearest neighbour
(order 0, so it stays 0/1), both with zeros outside the input.  Work that
would not change anything is skipped: no resampling at all for the identity,
and a flip alone is an exact array reversal.
"""
import numpy as np
from scipy import ndimage

from ._checks import is_real_number
from .errors import DataError

__all__ = ["Augment"]


def _check_range(name, value, low, high=None):
    """``value`` as a float if low <= value (< high), else a DataError naming the argument."""
    if not (is_real_number(value) and value >= low and (high is None or value < high)):
        bounds = f">= {low}" if high is None else f"in [{low}, {high})"
        raise DataError(f"Augment: {name} must be a number {bounds}, got {value!r}")
    return float(value)


class Augment:
    """Random flip, rotation, zoom, elastic deformation and intensity jitter (see the module doc).

    Args:
        flip:      left-right flip with probability 1/2 (brains are roughly symmetric)
        rotate:    maximum rotation in degrees
        scale:     maximum relative zoom (0.1: factors in [0.9, 1.1])
        elastic:   RMS elastic displacement as a fraction of the image side (0 = off;
                   0.01 is about 1.3 pixels at 128x128)
        intensity: strength of the per-channel gain/bias jitter (0 = off)
        elastic_sigma: smoothness of the elastic field, as a fraction of the image side

    ``aug(image uint8 (H, W, 3), mask uint8 (H, W), rng) -> (image, mask)``, uint8, same shapes.
    With everything off the inputs are returned as they are.  A 2.5-D image (H, W, 3 m),
    a slice with its neighbours (``context.py``), gets one transform for all its channels
    and the same jitter for each of the three sequences in every neighbour.
    """

    def __init__(self, flip=True, rotate=15.0, scale=0.1, elastic=0.0, intensity=0.1,
                 elastic_sigma=0.08):
        self.flip = bool(flip)
        self.rotate = _check_range("rotate", rotate, 0.0)
        self.scale = _check_range("scale", scale, 0.0, 1.0)
        self.elastic = _check_range("elastic", elastic, 0.0)
        self.intensity = _check_range("intensity", intensity, 0.0, 1.0)
        self.elastic_sigma = _check_range("elastic_sigma", elastic_sigma, 1e-3)

    def __repr__(self):
        return (f"Augment(flip={self.flip}, rotate={self.rotate}, scale={self.scale}, "
                f"elastic={self.elastic}, intensity={self.intensity}, "
                f"elastic_sigma={self.elastic_sigma})")

    def __call__(self, image, mask, rng):
        _check_pair(image, mask)
        flip = self.flip and rng.random() < 0.5
        angle = np.deg2rad(rng.uniform(-self.rotate, self.rotate)) if self.rotate else 0.0
        zoom = rng.uniform(1 - self.scale, 1 + self.scale) if self.scale else 1.0
        displacement = self._draw_displacement(rng, mask.shape) if self.elastic else None
        if displacement is None and angle == 0.0 and zoom == 1.0:
            if flip:
                image, mask = image[:, ::-1], mask[:, ::-1]
        else:
            matrix = _output_to_input(flip, angle, zoom)
            image, mask = _resample(image, mask, matrix, displacement)
        if self.intensity:
            gain = rng.uniform(1 - self.intensity, 1 + self.intensity, size=3)
            bias = rng.uniform(-self.intensity, self.intensity, size=3) * 255 / 4
            groups = image.shape[2] // 3
            image = _jitter_intensity(image, np.tile(gain, groups), np.tile(bias, groups))
        return image, mask

    def _draw_displacement(self, rng, shape):
        """float (2, H, W): a smooth random field with RMS length ``elastic * side`` pixels."""
        side = max(shape)
        field = ndimage.gaussian_filter(rng.standard_normal((2,) + shape),
                                        (0, self.elastic_sigma * side, self.elastic_sigma * side))
        return field * (self.elastic * side / np.sqrt(np.mean(field**2)))


def _check_pair(image, mask):
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[2] >= 3 and image.shape[2] % 3 == 0):
        raise DataError(f"Augment: image must be uint8 (H, W, 3), got "
                        f"{getattr(image, 'dtype', type(image).__name__)} {np.shape(image)} "
                        "(or (H, W, 3 m): a slice with its neighbours)")
    if not (isinstance(mask, np.ndarray) and mask.dtype == np.uint8
            and mask.shape == image.shape[:2]):
        raise DataError(f"Augment: mask must be uint8 {image.shape[:2]} like the image, got "
                        f"{getattr(mask, 'dtype', type(mask).__name__)} {np.shape(mask)}")


def _output_to_input(flip, angle, zoom):
    """The 2x2 matrix taking an output pixel's offset from the centre to the input's.

    The content is flipped, rotated by ``angle`` and zoomed by ``zoom``, so
    the inverse map is input = F R(-angle) / zoom (output), F = diag(1, -1)
    reversing the x (column) axis.  (y, x) order, as scipy.ndimage uses.
    """
    cos, sin = np.cos(angle), np.sin(angle)
    rotate_back = np.array([[cos, sin], [-sin, cos]])
    flip_x = np.diag([1.0, -1.0 if flip else 1.0])
    return flip_x @ rotate_back / zoom


def _resample(image, mask, matrix, displacement):
    """Resample image (order 1) and mask (order 0) at input = M (o - c) + c [+ displacement]."""
    shape = mask.shape
    centre = (np.array(shape, dtype=np.float64) - 1) / 2
    offset = centre - matrix @ centre
    if displacement is None:
        def sample(plane, order):
            return ndimage.affine_transform(plane, matrix, offset, order=order,
                                            output=np.float32, mode="constant")
    else:
        grid = np.indices(shape, dtype=np.float64).reshape(2, -1)
        coordinates = (matrix @ grid + offset[:, None]).reshape((2,) + shape) + displacement

        def sample(plane, order):
            return ndimage.map_coordinates(plane, coordinates, order=order,
                                           output=np.float32, mode="constant")
    planes = np.ascontiguousarray(image.transpose(2, 0, 1))  # contiguous planes resample faster
    channels = np.stack([sample(plane, order=1) for plane in planes], axis=-1)
    # Bilinear values are convex combinations of uint8 values: rounding is all that is needed.
    return np.rint(channels).astype(np.uint8), sample(mask, order=0).astype(np.uint8)


def _jitter_intensity(image, gain, bias):
    """Per channel x -> clip(round(gain[c] x + bias[c]), 0, 255), through a 256-entry table."""
    levels = np.arange(256, dtype=np.float64)
    tables = np.clip(np.rint(gain[:, None] * levels + bias[:, None]), 0, 255).astype(np.uint8)
    return np.stack([tables[c][image[..., c]] for c in range(image.shape[-1])], axis=-1)
