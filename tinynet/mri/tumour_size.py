"""How big a tumour is: its volume in millilitres, the slices it spans, its largest extent.

``tumour_size(masks, spacing_mm)`` measures one patient's tumour from its
axial masks (slices, rows, columns), 0/1:

* ``tumour_voxels``: the tumour's voxels, and ``tumour_slices``: the slices
  holding at least one;
* ``volume_ml``: voxels x the volume of one voxel (slice x row x column
  spacing, mm^3) / 1000 (1 mL = 1 cm^3 = 1000 mm^3);
* ``largest_extent_mm``: the longest straight line that fits in the tumour in
  any one slice (its largest in-plane diameter, the size radiologists measure
  on an axial slice), with pixels taken as the rectangles they cover: a
  10 x 1-pixel tumour at 0.5 mm is sqrt(5^2 + 0.5^2) = 5.02 mm long;
* ``largest_extent_pixels``: the same in pixel units (a pixel side is 1).

Slices that carry no voxel spacing (the TIFF/PNG slices of the LGG data)
give ``spacing_mm=None``: the sizes are then in pixels only, and
``volume_ml`` and ``largest_extent_mm`` are None.
"""
import math

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull

__all__ = ["tumour_size", "TumourMeasure", "largest_extent", "PIXEL_UNITS_NOTE"]

#: What a report says when the sizes are in pixels.
PIXEL_UNITS_NOTE = ("sizes in pixels: image slices (TIFF/PNG) carry no voxel spacing, so no "
                    "volume in mL or extent in mm can be given")


def tumour_size(masks, spacing_mm=None):
    """The size of one patient's tumour: a dict of plain numbers (see the module docstring).

    masks : (N, H, W) 0/1 axial masks, or any sequence of (H, W) ones (sizes may differ)
    spacing_mm : (slice, row, column) voxel spacing in millimetres, or None (unknown)

    Returns {"slices", "tumour_slices", "tumour_voxels", "volume_ml",
    "largest_extent_mm", "largest_extent_pixels", "spacing_mm"}; mL and mm
    are rounded to 3 decimals, and are None when ``spacing_mm`` is None.
    """
    measure = TumourMeasure(spacing_mm)
    for mask in masks:
        measure.add(mask)
    return measure.result()


class TumourMeasure:
    """``tumour_size`` one slice at a time: ``add(mask)`` each slice, then ``result()``.

    For callers that see a patient's slices in chunks (``tinynet predict`` on a
    folder of slices) and should not keep every mask until the end.
    """

    def __init__(self, spacing_mm=None):
        if spacing_mm is not None:
            spacing_mm = tuple(float(s) for s in spacing_mm)
            if len(spacing_mm) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing_mm):
                raise ValueError(f"tumour_size: spacing_mm must be 3 positive numbers (slice, "
                                 f"row, column), got {spacing_mm}")
        self.spacing_mm = spacing_mm
        self.slices = self.tumour_slices = self.tumour_voxels = 0
        self.extent_pixels = self.extent_mm = 0.0

    def add(self, mask):
        """Count one (H, W) 0/1 mask, the next slice."""
        mask = np.asarray(mask) != 0
        if mask.ndim != 2:
            raise ValueError(f"tumour_size: each mask must be 2-D (H, W), got shape {mask.shape}")
        self.slices += 1
        voxels = int(mask.sum())
        if voxels == 0:
            return
        self.tumour_slices += 1
        self.tumour_voxels += voxels
        self.extent_pixels = max(self.extent_pixels, largest_extent(mask))
        if self.spacing_mm is not None:
            _, row_mm, column_mm = self.spacing_mm
            self.extent_mm = max(self.extent_mm, largest_extent(mask, row_mm, column_mm))

    def result(self):
        """The dict of ``tumour_size``, for the slices added so far."""
        size = {"slices": self.slices, "tumour_slices": self.tumour_slices,
                "tumour_voxels": self.tumour_voxels, "volume_ml": None,
                "largest_extent_mm": None, "largest_extent_pixels": round(self.extent_pixels, 3),
                "spacing_mm": None}
        if self.spacing_mm is not None:
            voxel_mm3 = math.prod(self.spacing_mm)
            size.update(volume_ml=round(self.tumour_voxels * voxel_mm3 / 1000.0, 3),
                        largest_extent_mm=round(self.extent_mm, 3),
                        spacing_mm=[round(s, 6) for s in self.spacing_mm])
        return size


def largest_extent(mask, row_size=1.0, column_size=1.0):
    """The longest distance between two points of the region ``mask`` (H, W), pixels being
    rectangles of ``row_size`` x ``column_size``; 0.0 for an empty mask.

    The farthest two points of a region are corners of its convex hull, and the
    hull's corners are corners of the region's edge pixels: we take those,
    keep the hull's vertices (scipy's Qhull) and compare every pair of them.
    """
    mask = np.asarray(mask) != 0
    if not mask.any():
        return 0.0
    edge = mask & ~ndimage.binary_erosion(mask)
    rows, columns = np.nonzero(edge)
    corners = np.concatenate([np.stack([rows + dr, columns + dc], axis=1)
                              for dr in (0, 1) for dc in (0, 1)])
    points = np.unique(corners, axis=0) * np.array([row_size, column_size], dtype=np.float64)
    hull = points[ConvexHull(points).vertices]       # pixels are squares: never degenerate
    gaps = hull[:, None, :] - hull[None, :, :]
    return float(np.sqrt((gaps ** 2).sum(axis=-1)).max())
