"""Padding layers: ``ZeroPad2d``, ``ConstantPad2d``, ``ReflectionPad2d``, ``ReplicationPad2d``,
``CircularPad2d``, and their 1-D and 3-D twins, thin Modules around ``F.pad`` (see
``tinynet/ops/shape.py``).

``padding`` is an int (every side) or the widths of each side, last axis first, as in
PyTorch: (left, right) for 1-D, (left, right, top, bottom) for 2-D, (left, right, top,
bottom, front, back) for 3-D; so ``ReflectionPad2d((1, 1, 2, 2))`` maps (N, C, H, W) ->
(N, C, H + 4, W + 2).  Reflection padding (CycleGAN, pix2pix, style transfer) mirrors the
image at its border instead of surrounding it with zeros, which the next convolution would
see as an edge.
"""
from . import functional as F
from .module import Module

__all__ = ["ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d",
           "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d",
           "CircularPad2d", "CircularPad3d"]


def _sides(name, padding, dims):
    """``padding`` as the 2 * ``dims`` widths F.pad takes."""
    if isinstance(padding, int) and not isinstance(padding, bool):
        return (padding,) * (2 * dims)
    if isinstance(padding, (tuple, list)) and len(padding) == 2 * dims:
        return tuple(padding)
    names = ("(left, right)", "(left, right, top, bottom)",
             "(left, right, top, bottom, front, back)")[dims - 1]
    raise TypeError(f"{name}: padding must be an int or {names}, got {padding!r}")


class _PadNd(Module):
    mode = "constant"
    _dims = 2

    def __init__(self, padding):
        super().__init__()
        self.padding = _sides(type(self).__name__, padding, self._dims)

    def forward(self, input):
        return F.pad(input, self.padding, mode=self.mode)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad2d(_PadNd):
    """Mirror the image at its border (the edge pixel not repeated)."""
    mode = "reflect"


class ReplicationPad2d(_PadNd):
    """Repeat the edge pixels outwards."""
    mode = "replicate"


class CircularPad2d(_PadNd):
    """Wrap the image around (periodic boundary)."""
    mode = "circular"


class ConstantPad2d(_PadNd):
    """Surround the image with ``value``."""

    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, value=self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ZeroPad2d(ConstantPad2d):
    """Surround the image with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


# The 1-D and 3-D twins: the same padding of (N, C, L) and (N, C, D, H, W) inputs.

class ReflectionPad1d(ReflectionPad2d):
    """Mirror a signal at its ends: (N, C, L) -> (N, C, L + left + right)."""
    _dims = 1


class ReflectionPad3d(ReflectionPad2d):
    """Mirror a volume at its faces: (N, C, D, H, W), six widths."""
    _dims = 3


class ReplicationPad1d(ReplicationPad2d):
    """Repeat a signal's end values outwards."""
    _dims = 1


class ReplicationPad3d(ReplicationPad2d):
    """Repeat a volume's face values outwards."""
    _dims = 3


class CircularPad1d(CircularPad2d):
    """Wrap a signal around."""
    _dims = 1


class CircularPad3d(CircularPad2d):
    """Wrap a volume around along D, H and W."""
    _dims = 3


class ConstantPad1d(ConstantPad2d):
    """Surround a signal with ``value``."""
    _dims = 1


class ConstantPad3d(ConstantPad2d):
    """Surround a volume with ``value``."""
    _dims = 3


class ZeroPad1d(ZeroPad2d):
    """Surround a signal with zeros."""
    _dims = 1


class ZeroPad3d(ZeroPad2d):
    """Surround a volume with zeros."""
    _dims = 3
