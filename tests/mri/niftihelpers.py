"""Helpers of the NIfTI tests: a real patient's slices, and volumes stored in any voxel order.

* ``real_patient()``: the first patient of the LGG data in ../shared (skips without it):
  its uint8 axial slices (slices, rows, columns, 3), in slice-number order, and their paths;
* ``axial_affine(spacing)``: the affine of a volume held as axial slices (slice, row, column)
  with that spacing, placed the way ``tinynet.mri.data.orientation`` expects (slices go up,
  rows go back, columns go to the patient's left);
* ``reorder(volume, affine, axes, flips)``: the same voxels stored in another order, with the
  affine that keeps every voxel where it was in the world;
* ``save_nifti(path, voxels, affine)``: a NIfTI file with units in mm.
"""
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from optional_deps import nibabel_or_skip

REAL_DATA = Path(os.environ.get("TINYNET_LGG")
                 or Path(__file__).resolve().parents[3] / "shared/data/lgg/kaggle_3m")

#: A spacing like a clinical FLAIR's: 0.9 mm pixels, 3.3 mm between slices.
SPACING = (3.3, 0.9, 0.9)

#: Storage orders to test: (axes, flipped axes) applied to the axial stack.  The first is
#: the usual "RAS-like" order of converters (columns first, then rows, then slices).
ORDERS = [((2, 1, 0), (0,)), ((1, 2, 0), (1, 2)), ((0, 2, 1), ()), ((0, 1, 2), (0, 1, 2))]


def real_patient():
    """(uint8 slices (N, 256, 256, 3) of the first LGG patient, their paths), or a skip."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"the LGG kaggle_3m data is not here ({REAL_DATA})")
    folder = sorted(p for p in REAL_DATA.iterdir() if p.is_dir())[0]
    paths = sorted((p for p in folder.glob("*.tif") if not p.stem.endswith("_mask")),
                   key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    return np.stack([np.asarray(Image.open(p)) for p in paths]), paths


def axial_affine(spacing=SPACING, origin=(100.0, 80.0, -40.0)):
    """4x4 affine of an axial stack (slice, row, column): +S, -A, -R steps of ``spacing``."""
    slice_mm, row_mm, column_mm = spacing
    affine = np.zeros((4, 4))
    affine[2, 0] = slice_mm          # slices go up
    affine[1, 1] = -row_mm           # rows go back (the face is at the top)
    affine[0, 2] = -column_mm        # columns go to the patient's left
    affine[:3, 3] = origin
    affine[3, 3] = 1.0
    return affine


def reorder(volume, affine, axes, flips=()):
    """``volume`` transposed to ``axes`` and flipped along ``flips`` (new axes), and the affine
    under which every voxel keeps its world position (channels after axis 2 stay)."""
    volume = volume.transpose(tuple(axes) + tuple(range(3, volume.ndim)))
    affine = affine.copy()
    affine[:, :3] = affine[:, list(axes)]
    for axis in flips:
        last = volume.shape[axis] - 1
        volume = np.flip(volume, axis)
        affine[:3, 3] += affine[:3, axis] * last     # index 0 is now where index `last` was
        affine[:3, axis] *= -1
    return np.ascontiguousarray(volume), affine


def save_nifti(path, voxels, affine):
    """Write ``voxels`` with ``affine`` as a NIfTI-1 file (units mm) at ``path``."""
    nibabel = nibabel_or_skip()
    image = nibabel.Nifti1Image(voxels, affine)
    image.header.set_xyzt_units("mm")
    nibabel.save(image, str(path))
    return path
