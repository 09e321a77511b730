"""tinynet.mri.tumour_size: voxels, tumour slices, volume in mL from the spacing, the largest
in-plane extent (pixels as rectangles), pixels only without spacing; TumourMeasure slice by
slice gives what tumour_size gives on the stack."""
import math

import numpy as np
import pytest

from tinynet.mri.tumour_size import TumourMeasure, largest_extent, tumour_size


def test_a_box_tumour_in_millilitres_and_millimetres():
    masks = np.zeros((5, 40, 50), np.uint8)
    masks[1:4, 10:20, 5:35] = 1          # 3 slices of a 10 x 30-pixel rectangle
    size = tumour_size(masks, (3.0, 0.5, 0.8))
    assert size["slices"] == 5 and size["tumour_slices"] == 3
    assert size["tumour_voxels"] == 900
    assert size["volume_ml"] == pytest.approx(900 * 3.0 * 0.5 * 0.8 / 1000, abs=1e-3)
    # the rectangle's diagonal: 10 rows of 0.5 mm by 30 columns of 0.8 mm
    assert size["largest_extent_mm"] == pytest.approx(math.hypot(5.0, 24.0), abs=1e-3)
    assert size["largest_extent_pixels"] == pytest.approx(math.hypot(10, 30), abs=1e-3)
    assert size["spacing_mm"] == [3.0, 0.5, 0.8]


def test_without_spacing_only_pixels():
    masks = np.zeros((2, 8, 8), np.uint8)
    masks[1, 3, 2:7] = 1                 # a 1 x 5 line
    size = tumour_size(masks)
    assert size["tumour_voxels"] == 5 and size["tumour_slices"] == 1
    assert size["volume_ml"] is None and size["largest_extent_mm"] is None
    assert size["spacing_mm"] is None
    assert size["largest_extent_pixels"] == pytest.approx(math.hypot(1, 5), abs=1e-3)


def test_the_extent_is_the_largest_of_any_one_slice_not_across_slices():
    masks = np.zeros((3, 30, 30), np.uint8)
    masks[0, 0, 0] = masks[2, 29, 29] = 1                  # far apart, but on two slices
    masks[1, 5:8, 5:9] = 1                                 # 3 x 4 pixels: diagonal 5
    assert tumour_size(masks)["largest_extent_pixels"] == pytest.approx(5.0)
    ring = np.zeros((40, 40), bool)
    rows, columns = np.ogrid[:40, :40]
    ring[(rows - 20) ** 2 + (columns - 20) ** 2 <= 15 ** 2] = True   # a disc of radius 15
    assert 30.0 <= largest_extent(ring) <= 31.5


def test_empty_masks_measure_zero():
    size = tumour_size(np.zeros((4, 6, 6)), (1, 1, 1))
    assert (size["tumour_slices"], size["tumour_voxels"], size["volume_ml"],
            size["largest_extent_mm"]) == (0, 0, 0.0, 0.0)
    assert largest_extent(np.zeros((3, 3))) == 0.0


def test_slice_by_slice_gives_the_same_as_the_stack(rng):
    masks = (rng.random((6, 16, 12)) < 0.2).astype(np.uint8)
    measure = TumourMeasure((2.0, 1.0, 1.5))
    for mask in masks:
        measure.add(mask)
    assert measure.result() == tumour_size(masks, (2.0, 1.0, 1.5))
    sizes = tumour_size([np.ones((3, 3)), np.zeros((5, 2))])   # slices of different sizes
    assert sizes["tumour_voxels"] == 9 and sizes["slices"] == 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="spacing_mm must be 3 positive numbers"):
        tumour_size(np.zeros((1, 2, 2)), (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="each mask must be 2-D"):
        tumour_size([np.zeros(4)])
