"""Padding layers: ``ZeroPad2d``, ``ConstantPad2d``, ``ReflectionPad2d``, ``ReplicationPad2d``,
``CircularPad2d``, thin Modules around ``F.pad`` (see ``tinynet/ops/shape.py``).

``padding`` is an int (every side) or (left, right, top, bottom), as in PyTorch:
(N, C, H, W) -> (N, C, H + top + bottom, W + left + right).  Reflection padding
(CycleGAN, pix2pix, style transfer) mirrors the image at its border instead of
surrounding it with zeros, which the next convolution would see as an edge.
"""
from . import functional as F
from .module import Module

__all__ = ["ZeroPad2d", "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d",
           "CircularPad2d"]


def _four_sides(name, padding):
    if isinstance(padding, int) and not isinstance(padding, bool):
        return (padding,) * 4
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        return tuple(padding)
    raise TypeError(f"{name}: padding must be an int or (left, right, top, bottom), got "
                    f"{padding!r}")


class _Pad2d(Module):
    mode = "constant"

    def __init__(self, padding):
        super().__init__()
        self.padding = _four_sides(type(self).__name__, padding)

    def forward(self, input):
        return F.pad(input, self.padding, mode=self.mode)

    def extra_repr(self):
        return f"{self.padding}"


class ReflectionPad2d(_Pad2d):
    """Mirror the image at its border (the edge pixel not repeated)."""
    mode = "reflect"


class ReplicationPad2d(_Pad2d):
    """Repeat the edge pixels outwards."""
    mode = "replicate"


class CircularPad2d(_Pad2d):
    """Wrap the image around (periodic boundary)."""
    mode = "circular"


class ConstantPad2d(_Pad2d):
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
