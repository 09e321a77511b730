"""``Upsample``: resize (N, C, H, W) feature maps by a scale factor or to a size.

A Module around ``tinynet.ops.interpolate`` (PyTorch's arguments); no parameters.
Example: ``Upsample(scale_factor=2)`` maps (N, C, H, W) -> (N, C, 2H, 2W), each
pixel repeated in a 2 x 2 block (mode "nearest").
"""
from . import functional as F
from .module import Module

__all__ = ["Upsample"]


class Upsample(Module):
    """Resize to ``size`` (OH, OW) or by ``scale_factor``; give exactly one of them."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample: give exactly one of size and scale_factor")
        self.size = size
        # Stored as float(s), like PyTorch (so the repr reads scale_factor=2.0).
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(s) for s in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self):
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return info + f", mode={self.mode!r}"
