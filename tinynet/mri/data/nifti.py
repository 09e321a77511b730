"""NIfTI scans in, NIfTI masks out: a patient's volume as the axial slices the models know.

NIfTI (``.nii``, ``.nii.gz``) is the file format of BraTS, nnU-Net, MONAI and
the neuro-imaging viewers (ITK-SNAP, 3D Slicer, FSLeyes).  It is read with
nibabel, an optional extra: ``pip install tinynet[nifti]``.  A scan comes as

* one 4-D file (X, Y, Z, 3) whose last axis holds the three sequences of the
  LGG data, in its order: pre-contrast, FLAIR, post-contrast
  (``read_scan(path)``), or
* three 3-D files (X, Y, Z) on one voxel grid (``read_sequences(flair, pre,
  post)``); a missing pre- or post-contrast sequence is replaced by FLAIR, as
  the LGG dataset does.

``Scan.axial_slices()`` gives the uint8 (slices, rows, columns, 3) stack the
models take, in the orientation they were trained on (``orientation.py``),
and ``Scan.save_like(volume, path)`` writes an axial volume (a predicted mask)
back in the scan's own voxel order with the scan's affine and header, so that
it lies on top of the scan in any viewer.

Intensities.  The models were trained on the dataset's 8-bit slices, made
from each patient's volume (its volumes span 0 to about 240-255 per sequence)
and then normalized as the checkpoint's spec says (per slice, or with the
training set's statistics).  A scan stored as uint8 is taken as it is; any
other type (int16, float) is brought to 8 bits per volume and sequence: its
lowest value becomes 0 and its highest 255, linearly (NaN and inf count as
background, 0).  The spec's own normalization follows as at training time
(``tinynet.mri.inference``).

Every problem with a file raises a DataError whose message starts with it.
"""
import gzip
import importlib
from pathlib import Path

import numpy as np

from tinynet.io import atomic_write_bytes
from .errors import DataError
from .orientation import AxialView

__all__ = ["NIFTI_SUFFIXES", "is_nifti", "nifti_name", "read_scan", "read_sequences",
           "to_uint8", "Scan"]

#: File endings read as NIfTI (case-insensitive).
NIFTI_SUFFIXES = (".nii", ".nii.gz")

#: The sequences of the LGG data, in the order of the slices' RGB channels.
SEQUENCES = ("pre", "flair", "post")

#: Millimetres per unit of the NIfTI header's xyzt_units ("unknown" is taken as mm,
#: the unit the NIfTI standard prescribes for its world space).
_MM_PER_UNIT = {"mm": 1.0, "meter": 1000.0, "micron": 0.001, "unknown": 1.0}


def is_nifti(path):
    """True when ``path`` ends in .nii or .nii.gz (any case)."""
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def nifti_name(path):
    """The file name without .nii/.nii.gz: "sub-01_flair.nii.gz" -> "sub-01_flair"."""
    name = Path(path).name
    for suffix in sorted(NIFTI_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return name


def _nibabel(path):
    """The nibabel module, or a DataError naming the file and the extra that brings it."""
    try:
        return importlib.import_module("nibabel")
    except ImportError:
        raise DataError(f"{path}: reading and writing NIfTI needs nibabel, an optional extra "
                        "of tinynet: pip install 'tinynet[nifti]'") from None


def _load(path, flag):
    """(nibabel image, its voxels) of a NIfTI file, read whole now so that a damaged file
    fails here, before anything is predicted or written."""
    where = f"{flag} {path}" if flag else str(path)
    if not is_nifti(path):
        raise DataError(f"{where}: not a NIfTI file (expected a name ending in "
                        f"{' or '.join(NIFTI_SUFFIXES)})")
    nibabel = _nibabel(path)
    if not Path(path).is_file():
        raise DataError(f"{where}: no such file")
    try:
        image = nibabel.load(str(path))
        if not isinstance(image, (nibabel.Nifti1Image, nibabel.Nifti2Image)):
            raise DataError(f"{where}: a {type(image).__name__}, not a NIfTI image")
        # nibabel applies the header's scl_slope/scl_inter: uint8 stays uint8 unless scaled
        voxels = np.asanyarray(image.dataobj)
    except DataError:
        raise
    except Exception as exc:        # nibabel and gzip report damage with many exception types
        raise DataError(f"{where}: cannot read the NIfTI file ({type(exc).__name__}: "
                        f"{' '.join(str(exc).split())})") from exc
    # A 3-D volume stored with trailing axes of length 1 (X, Y, Z, 1) is still 3-D.
    while voxels.ndim > 3 and voxels.shape[-1] == 1:
        voxels = voxels[..., 0]
    if not (np.issubdtype(voxels.dtype, np.integer) or np.issubdtype(voxels.dtype, np.floating)
            or voxels.dtype == bool):
        raise DataError(f"{where}: voxels of type {voxels.dtype}; expected numbers")
    return image, voxels


def read_scan(path):
    """A 4-D NIfTI file (X, Y, Z, 3): pre-contrast, FLAIR, post-contrast -> a ``Scan``."""
    image, voxels = _load(path, None)
    if voxels.ndim != 4 or voxels.shape[3] != 3:
        hint = (" (one sequence: give it as --flair, with --pre and --post if you have them)"
                if voxels.ndim == 3 else "")
        raise DataError(f"{path}: a volume of shape {voxels.shape}; expected 4-D (X, Y, Z, 3) "
                        f"with the 3 sequences pre-contrast, FLAIR, post-contrast{hint}")
    channels = [voxels[..., c] for c in range(3)]
    return Scan(nifti_name(path), {"scan": str(path)}, image, channels)


def read_sequences(flair, pre=None, post=None):
    """Three 3-D NIfTI files on one voxel grid -> a ``Scan`` (a missing pre or post: FLAIR).

    The FLAIR file gives the grid: every other file must have its shape and,
    within 1e-3 mm, its affine (sequences registered to one another).
    """
    paths = {"pre": pre, "flair": flair, "post": post}
    loaded = {}
    for sequence in ("flair", "pre", "post"):           # FLAIR first: it sets the grid
        path = paths[sequence]
        if path is None:
            continue
        image, voxels = _load(path, f"--{sequence}")
        if voxels.ndim != 3:
            raise DataError(f"--{sequence} {path}: a volume of shape {voxels.shape}; expected "
                            "a 3-D volume (X, Y, Z) of one sequence")
        if sequence != "flair":
            _check_same_grid(image, voxels, loaded["flair"], f"--{sequence} {path}", flair)
        loaded[sequence] = (image, voxels)
    channels = [loaded.get(s, loaded["flair"])[1] for s in SEQUENCES]
    sources = {s: str(paths[s]) if paths[s] is not None else f"{flair} (FLAIR, no {s} given)"
               for s in SEQUENCES}
    return Scan(nifti_name(flair), sources, loaded["flair"][0], channels)


def _check_same_grid(image, voxels, reference, where, reference_path):
    reference_image, reference_voxels = reference
    if voxels.shape != reference_voxels.shape:
        raise DataError(f"{where}: shape {voxels.shape} differs from the FLAIR's "
                        f"{reference_voxels.shape} ({reference_path}); the three sequences "
                        "must be on one voxel grid")
    if not np.allclose(image.affine, reference_image.affine, rtol=0, atol=1e-3):
        raise DataError(f"{where}: its affine (voxel-to-world mapping) differs from the "
                        f"FLAIR's ({reference_path}); register the sequences to one grid first")


def to_uint8(channel):
    """One sequence's voxels -> uint8, per volume: uint8 unchanged, else min -> 0, max -> 255.

    ``channel``: any real array (X, Y, Z).  Non-finite voxels become 0; a
    constant volume becomes all 0.  The scaling is linear, rounded to the nearest level.
    """
    channel = np.asarray(channel)
    if channel.dtype == np.uint8:
        return channel
    values = channel.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(channel.shape, np.uint8)
    low, high = values[finite].min(), values[finite].max()
    values[~finite] = low
    if high == low:
        return np.zeros(channel.shape, np.uint8)
    return np.rint((values - low) * (255.0 / (high - low))).astype(np.uint8)


class Scan:
    """One patient's scan: three sequences on one voxel grid, and where they came from.

    Attributes
    ----------
    name : str
        the file name without .nii/.nii.gz (of the FLAIR file for three files);
        output files are named after it
    sources : dict
        {"scan": path} for a 4-D file, {"pre": ..., "flair": ..., "post": ...} for three
    reference : nibabel image
        the file whose affine and header the outputs copy (the 4-D file, or FLAIR)
    view : AxialView
        from the scan's voxel order to axial slices (``orientation.py``)
    shape : (X, Y, Z) voxels in the scan's own order
    spacing_mm : (slice, row, column) spacing of the axial slices, in millimetres
    """

    def __init__(self, name, sources, reference, channels):
        self.name, self.sources, self.reference = name, sources, reference
        self._channels = channels
        self.shape = tuple(int(n) for n in channels[0].shape)
        if min(self.shape) < 1:
            raise DataError(f"{_first_source(sources)}: an empty volume of shape {self.shape}")
        try:
            self.view = AxialView(reference.affine)
        except DataError as exc:
            raise DataError(f"{_first_source(sources)}: {exc}") from None
        unit = reference.header.get_xyzt_units()[0]
        self.spacing_mm = tuple(s * _MM_PER_UNIT.get(unit, 1.0) for s in self.view.spacing)

    def axial_slices(self):
        """uint8 (slices, rows, columns, 3) RGB = (pre, FLAIR, post), like the dataset's slices.

        Each sequence is brought to 8 bits over the whole volume (``to_uint8``),
        then turned into axial slices (``AxialView.to_axial``).  Slices go from
        the feet up, rows from the face back, columns from the right to the left.
        """
        converted = {}        # a sequence standing in for a missing one is converted once
        for channel in self._channels:
            if id(channel) not in converted:
                converted[id(channel)] = to_uint8(channel)
        volume = np.stack([converted[id(channel)] for channel in self._channels], axis=-1)
        return np.ascontiguousarray(self.view.to_axial(volume))

    def to_scan_order(self, axial):
        """An axial volume (slices, rows, columns) -> (X, Y, Z), the scan's voxel order."""
        axial = np.asarray(axial)
        expected = self.view.axial_shape(self.shape)
        if axial.shape != expected:
            raise DataError(f"Scan.to_scan_order: expected an axial volume of shape {expected} "
                            f"for {self.name}, got {axial.shape}")
        return np.ascontiguousarray(self.view.from_axial(axial))

    def save_like(self, axial, path, description="tinynet"):
        """Write an axial volume as a NIfTI file on the scan's grid, atomically: returns ``path``.

        ``axial``: (slices, rows, columns), uint8 or float32, from
        ``axial_slices``' grid.  It is written in the scan's voxel order with the
        scan's affine and a copy of its header (qform, sform, units kept; data
        type, shape and intensity range set for this volume), so viewers
        overlay it on the scan.  ``.nii.gz`` is gzip-compressed.
        """
        nibabel = _nibabel(path)
        voxels = self.to_scan_order(axial)
        header = self.reference.header.copy()
        header.set_data_dtype(voxels.dtype)
        header.set_intent("none")                 # a 4-D scan may say "vector"; a mask is not
        image = type(self.reference)(voxels, self.reference.affine, header)
        image.header["descrip"] = description.encode("ascii", "replace")[:79]
        image.header["cal_min"], image.header["cal_max"] = 0, float(voxels.max(initial=0))
        data = image.to_bytes()
        if str(path).lower().endswith(".gz"):
            data = gzip.compress(data, compresslevel=6, mtime=0)
        return atomic_write_bytes(path, data)


def _first_source(sources):
    return sources.get("scan") or sources["flair"]
