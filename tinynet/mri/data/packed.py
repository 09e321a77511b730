"""One compressed ``.npz`` file holding a whole resized dataset.

Decoding 2094 TIFF pairs and resizing them takes seconds on every start;
``pack`` does it once and ``load_packed`` reads the result back quickly
(the 56 kaggle_3m patients at 128x128: one file of about 46 MB).

Archive layout (``np.savez_compressed``; nothing pickled, so loading runs no code):

    format      "tinynet-slices"   (what this file is)
    version     1
    size        S, the side of every slice
    images      uint8 (N, S, S, 3)
    masks       uint8 (N, S, S), values 0/1
    patient_of  str (N,), the patient of each slice
    names       str (N,), the image file stem of each slice
"""
import zipfile
import zlib
from pathlib import Path

import numpy as np

from tinynet.io import atomic_write
from .dataset import SliceDataset
from .errors import DataError
from .kaggle3m import read_kaggle3m
from .preprocess import check_image_size, resize_dataset

__all__ = ["pack", "load_packed", "PACKED_FORMAT", "PACKED_VERSION"]

PACKED_FORMAT = "tinynet-slices"
PACKED_VERSION = 1
_KEYS = ("format", "version", "size", "images", "masks", "patient_of", "names")


def pack(src, dst, size=128):
    """Resize every slice of ``src`` to (size, size) and write them to ``dst`` (an ``.npz``).

    ``src`` is a kaggle_3m folder, or a SliceDataset (resized if its image
    size differs).  The file is written atomically.  Returns ``dst``.
    """
    size = check_image_size(size, "pack")
    if size is None:
        raise DataError("pack: size must be given (the side of the packed slices)")
    target = Path(dst)
    if target.suffix != ".npz":
        raise DataError(f"{dst}: the packed file's name must end in .npz")
    if not target.parent.is_dir():
        raise DataError(f"{dst}: folder {target.parent} does not exist")
    if isinstance(src, SliceDataset):
        dataset = src if src.image_size == size else resize_dataset(src, size)
    else:
        dataset = read_kaggle3m(src, size=size)
    images, masks = dataset.arrays()
    arrays = {"format": np.array(PACKED_FORMAT), "version": np.array(PACKED_VERSION),
              "size": np.array(size), "images": images, "masks": masks,
              "patient_of": np.array(dataset.patient_of), "names": np.array(dataset.names)}
    try:
        atomic_write(target, lambda f: np.savez_compressed(f, **arrays))
    except OSError as exc:
        # atomic_write's error names the path; the original error says only what went wrong
        reason = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        raise DataError(f"{dst}: cannot write the packed file "
                        f"({reason.strerror or reason})") from exc
    return dst


def load_packed(path):
    """Read a file written by ``pack`` into an in-memory SliceDataset (checked thoroughly)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            contents = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from exc
    _check_packed(path, contents)
    return SliceDataset.from_arrays(contents["images"], contents["masks"],
                                    [str(p) for p in contents["patient_of"]],
                                    [str(n) for n in contents["names"]],
                                    image_size=int(contents["size"]))


def _check_packed(path, contents):
    """DataError naming ``path`` unless ``contents`` is a complete, consistent packed dataset."""
    missing = [key for key in _KEYS if key not in contents]
    if missing:
        raise DataError(f"{path}: not a packed dataset: missing {', '.join(missing)}")
    if contents["format"].shape != () or str(contents["format"]) != PACKED_FORMAT:
        raise DataError(f"{path}: format is {contents['format']!r}, expected {PACKED_FORMAT!r}")
    if int(contents["version"]) > PACKED_VERSION:
        raise DataError(f"{path}: format version {int(contents['version'])} is newer than this "
                        f"tinynet reads ({PACKED_VERSION})")
    images, masks, size = contents["images"], contents["masks"], int(contents["size"])
    n = len(images)
    expected = {"images": ((n, size, size, 3), images), "masks": ((n, size, size), masks),
                "patient_of": ((n,), contents["patient_of"]), "names": ((n,), contents["names"])}
    for key, (shape, array) in expected.items():
        if array.shape != shape:
            raise DataError(f"{path}: {key} has shape {array.shape}, expected {shape} "
                            f"({n} slices of {size}x{size})")
    for key in ("images", "masks"):
        if contents[key].dtype != np.uint8:
            raise DataError(f"{path}: {key} are {contents[key].dtype}, expected uint8")
    if masks.size and masks.max() > 1:
        raise DataError(f"{path}: masks hold the value {int(masks.max())}, expected only 0/1")
