"""From a scan's voxel order to the axial slices the models were trained on, and back.

A NIfTI volume stores its voxels in whatever order the scanner or the
converter chose; its affine (4x4) maps a voxel index (i, j, k) to millimetres
in the scanner's world space, RAS+: x grows to the patient's Right, y to the
Anterior, z to the Superior.  The kaggle_3m slices the models learnt from are
axial and shown the radiological way::

    axis 0  slices, from the feet to the top of the head      (world +S)
    axis 1  rows, from the face (top of the picture) backwards (world -A)
    axis 2  columns, from the patient's right to their left    (world -R)

(the slices of a kaggle_3m patient start below the eyes and the nose points
up; left and right cannot be seen in the pictures, and we assume the
radiological convention of the DICOM files they came from).

``AxialView(affine)`` finds, for each of those three directions, the voxel
axis closest to it (an oblique scan is treated as its closest unrotated
neighbour, as ``nibabel.as_closest_canonical`` does) and whether that axis runs
the other way.  ``to_axial`` is then a transpose and some flips, with nothing
resampled, and ``from_axial`` undoes them exactly: a mask predicted on the axial
slices comes back in the scan's own voxel order, where the scan's affine places
it on top of the scan in any viewer.
"""
import itertools

import numpy as np

from .errors import DataError

__all__ = ["AxialView", "AXIAL_DIRECTIONS"]

#: The world direction of each axis of the axial slice stack: (world axis, sign), world axes
#: numbered 0 = R, 1 = A, 2 = S.  Slices go up (+S), rows go back (-A), columns go left (-R).
AXIAL_DIRECTIONS = ((2, +1), (1, -1), (0, -1))

_AXIS_LETTERS = ("RL", "AP", "SI")     # the letter of a voxel axis running towards + / -


class AxialView:
    """The axial view of a volume with this ``affine``: which voxel axis is which, and spacing.

    Attributes
    ----------
    order : tuple of 3 ints
        the voxel axes of the volume that become the axial axes 0, 1, 2
        (slices, rows, columns)
    flip : tuple of 3 bools
        whether each axial axis runs against its voxel axis
    spacing : tuple of 3 floats
        voxel spacing along the axial axes (slice, row, column), in the affine's
        unit (millimetres for NIfTI): the lengths of the affine's columns
    codes : str
        where each voxel axis of the volume points, e.g. "LAS" or "RPI" (the
        usual orientation letters; for reports)
    """

    def __init__(self, affine):
        affine = np.asarray(affine, dtype=np.float64)
        if affine.shape != (4, 4) or not np.isfinite(affine).all():
            raise DataError(f"AxialView: the affine must be a finite 4x4 matrix, got shape "
                            f"{affine.shape}")
        columns = affine[:3, :3]                     # column j: the step of voxel axis j in mm
        lengths = np.linalg.norm(columns, axis=0)
        if np.any(lengths == 0) or abs(np.linalg.det(columns)) < 1e-12 * lengths.prod():
            raise DataError(f"AxialView: the affine's 3x3 part is singular (voxel axes "
                            f"{columns.T.tolist()}), so the voxels have no orientation")
        cosines = columns / lengths                  # cosines[w, j]: voxel axis j along world w
        voxel_axis_of = _closest_axes(cosines)       # world axis w -> voxel axis
        self.order = tuple(voxel_axis_of[w] for w, _ in AXIAL_DIRECTIONS)
        self.flip = tuple(bool(np.sign(cosines[w, voxel_axis_of[w]]) != sign)
                          for w, sign in AXIAL_DIRECTIONS)
        self.spacing = tuple(float(lengths[j]) for j in self.order)
        world_of = {j: w for w, j in enumerate(voxel_axis_of)}
        self.codes = "".join(_AXIS_LETTERS[world_of[j]][0 if cosines[world_of[j], j] > 0 else 1]
                             for j in range(3))

    def to_axial(self, volume):
        """(X, Y, Z, ...) voxels in the scan's order -> (slices, rows, columns, ...).

        Axes after the third (channels) are kept as they are.  Returns a view
        when it can (a transpose and flips copy nothing).
        """
        volume = self._check(volume, "to_axial")
        axial = volume.transpose(self.order + tuple(range(3, volume.ndim)))
        return _flipped(axial, self.flip)

    def from_axial(self, axial):
        """The inverse of ``to_axial``: (slices, rows, columns, ...) -> the scan's voxel order."""
        axial = self._check(axial, "from_axial")
        unflipped = _flipped(axial, self.flip)      # a flip undoes itself
        inverse = tuple(int(k) for k in np.argsort(self.order))
        return unflipped.transpose(inverse + tuple(range(3, axial.ndim)))

    def axial_shape(self, shape):
        """The (slices, rows, columns) shape of a volume of voxel ``shape`` (X, Y, Z)."""
        return tuple(int(shape[j]) for j in self.order)

    def _check(self, volume, fn):
        volume = np.asarray(volume)
        if volume.ndim < 3:
            raise DataError(f"AxialView.{fn}: expected a volume with at least 3 axes, got shape "
                            f"{volume.shape}")
        return volume


def _closest_axes(cosines):
    """For each world axis (R, A, S), the voxel axis most nearly parallel to it.

    Tries the 6 ways to pair the three voxel axes with the three world axes and
    keeps the one whose axes are best aligned (the largest sum of |cos|), so an
    oblique voxel axis can never be given to two world axes at once.
    """
    pairings = itertools.permutations(range(3))
    return max(pairings, key=lambda voxel_axis_of: sum(abs(cosines[w, voxel_axis_of[w]])
                                                       for w in range(3)))


def _flipped(array, flips):
    for axis, flip in enumerate(flips):
        if flip:
            array = np.flip(array, axis=axis)
    return array
