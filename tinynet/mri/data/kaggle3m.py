"""Reader for the LGG kaggle_3m layout: one folder per patient, one TIFF pair per slice.

    <root>/<patient>/<patient>_<n>.tif        RGB image: pre-contrast, FLAIR, post-contrast
    <root>/<patient>/<patient>_<n>_mask.tif   8-bit mask, 0 = background, 255 (or 1) = tumour

``read_kaggle3m(root, size=None)`` scans the folders (cheap: names only) and
returns a SliceDataset whose slices are decoded on first access, then cached.

Order: patients sorted by name, slices by their number ``n`` as an integer
(``_2`` before ``_10``; a plain string sort would put ``_10`` first).

What is ignored, and what is an error:
- in ``root``: files (``data.csv``, ``README.md``, ...) and hidden folders
  (names starting with ``.``) are ignored; every other folder is a patient.
- in a patient folder: hidden files (``.DS_Store``, macOS ``._*`` copies),
  sub-folders and files that are not ``.tif``/``.tiff`` are ignored.  A TIFF
  whose name is not ``<patient>_<n>.tif`` or ``<patient>_<n>_mask.tif``
  (e.g. another patient's slice) is an error, because silently skipping it
  would silently lose data.
- found while scanning: a missing or empty root, a root without patient
  folders, a patient folder without slices, a slice without its mask, a mask
  without its slice, a slice number that appears twice.
- found when a slice is first read: an unreadable or truncated TIFF, an image
  that is not 8-bit RGB (grayscale is refused rather than guessed into three
  channels), a mask that is not single-channel 8-bit or not binary
  (0/255 and 0/1 are accepted), image and mask of different sizes.
Every error is a DataError whose message starts with the file or folder.

Resizing (``size``): images bilinear with antialiasing, masks by nearest
neighbour (so they stay 0/1), both to (size, size).
"""
import contextlib
import os
import re
from pathlib import Path

import numpy as np
from .._lazy import Image  # Pillow, imported at first use

from .dataset import SliceDataset, _SliceStore
from .errors import DataError
from .preprocess import check_image_size, resize_image, resize_mask

__all__ = ["read_kaggle3m"]

_TIFF_SUFFIXES = (".tif", ".tiff")


def read_kaggle3m(root, size=None):
    """Scan a kaggle_3m folder into a lazily decoded SliceDataset (see the module docstring).

    Images come out uint8 (H, W, 3), masks uint8 (H, W) with values 0/1;
    with ``size`` both are resized to (size, size).
    """
    size = check_image_size(size, "read_kaggle3m")
    patient_of, names, image_paths, mask_paths = [], [], [], []
    for folder in _patient_folders(Path(root)):
        for image_path, mask_path in _slice_pairs(folder):
            patient_of.append(folder.name)
            names.append(Path(image_path).stem)
            image_paths.append(image_path)
            mask_paths.append(mask_path)
    n = len(names)
    store = _SliceStore([None] * n, [None] * n, _Kaggle3mFiles(image_paths, mask_paths, size))
    return SliceDataset(patient_of, names, store, paths=image_paths, mask_paths=mask_paths,
                        image_size=size)


def _patient_folders(root):
    """The patient folders of ``root``, sorted by name."""
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected the kaggle_3m folder that holds "
                        "one folder per patient)")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"{root}: no patient folders (expected "
                        f"{root / '<patient>' / '<patient>_<n>.tif'})")
    return folders


def _slice_pairs(folder):
    """[(image path, mask path)] of one patient folder, in slice-number order."""
    pattern = re.compile(re.escape(folder.name) + r"_(\d+)(_mask)?\.tiff?", re.IGNORECASE)
    images, masks = {}, {}
    for name in sorted(os.listdir(folder)):
        path = folder / name
        if name.startswith(".") or not name.lower().endswith(_TIFF_SUFFIXES) or not path.is_file():
            continue
        match = pattern.fullmatch(name)
        if match is None:
            raise DataError(f"{path}: unexpected TIFF name in patient folder {folder.name} "
                            f"(expected {folder.name}_<n>.tif or {folder.name}_<n>_mask.tif)")
        number, found = int(match.group(1)), masks if match.group(2) else images
        if number in found:
            raise DataError(f"{path}: slice {number} of {folder.name} appears twice "
                            f"(also as {found[number].name})")
        found[number] = path
    if not images and not masks:
        raise DataError(f"{folder}: patient folder has no slices "
                        f"(expected {folder.name}_<n>.tif and {folder.name}_<n>_mask.tif)")
    for number, path in sorted(images.items()):
        if number not in masks:
            raise DataError(f"{path}: slice has no mask (expected {path.stem}_mask{path.suffix} "
                            "next to it)")
    for number, path in sorted(masks.items()):
        if number not in images:
            raise DataError(f"{path}: mask has no slice (expected "
                            f"{path.name.replace('_mask', '', 1)} next to it)")
    return [(str(images[n]), str(masks[n])) for n in sorted(images)]


@contextlib.contextmanager
def _reading(path):
    """Turn any failure of Pillow on ``path`` into a DataError that names the file.

    Pillow reports broken files with many exception types (OSError for a
    truncated file, UnidentifiedImageError, ValueError, SyntaxError, ...),
    hence the broad ``except``.
    """
    try:
        yield
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: cannot read the TIFF ({type(exc).__name__}: {exc})") from exc


def _read_rgb(path):
    """uint8 (H, W, 3) pixels of an RGB TIFF."""
    with _reading(path), Image.open(path) as im:
        if im.mode != "RGB":
            raise DataError(f"{path}: expected an 8-bit RGB image (pre-contrast, FLAIR, "
                            f"post-contrast), got Pillow mode {im.mode!r}")
        im.load()
        return np.asarray(im)


def _read_binary_mask(path):
    """uint8 (H, W) mask with values 0/1 from a TIFF holding 0/255 or 0/1."""
    with _reading(path), Image.open(path) as im:
        if im.mode not in ("L", "1"):
            raise DataError(f"{path}: expected a single-channel 8-bit mask, got Pillow mode "
                            f"{im.mode!r}")
        im.load()
        mask = np.asarray(im.convert("L"))
    values = np.flatnonzero(np.bincount(mask.ravel(), minlength=256))
    if set(values) <= {0, 1}:
        return mask
    if set(values) <= {0, 255}:
        return (mask > 0).astype(np.uint8)
    shown = ", ".join(str(v) for v in values[:8]) + (", ..." if len(values) > 8 else "")
    raise DataError(f"{path}: mask is not binary: it holds the values {shown} "
                    "(expected 0/255 or 0/1)")


class _Kaggle3mFiles:
    """Decodes slice ``row`` from its TIFF pair (the ``source`` of a SliceDataset's store).

    The image and the mask of a pair must have the same stored size; the
    image read checks it against the mask, which SliceDataset always decodes
    first.  (Reading a TIFF header costs about as much as decoding a small
    mask, so masks read alone, for ``has_tumour``, are not checked against
    their images' headers.)
    """

    def __init__(self, image_paths, mask_paths, size):
        self.image_paths, self.mask_paths, self.size = image_paths, mask_paths, size
        self._mask_shape = {}  # row -> (H, W) of the mask as stored, before resizing

    def read_image(self, row):
        image_path, mask_path = self.image_paths[row], self.mask_paths[row]
        image = _read_rgb(image_path)
        mask_shape = self._mask_shape[row]
        if image.shape[:2] != mask_shape:
            raise DataError(f"{image_path}: image is {image.shape[1]}x{image.shape[0]} but its "
                            f"mask {Path(mask_path).name} is {mask_shape[1]}x{mask_shape[0]}")
        return resize_image(image, self.size) if self.size else image

    def read_mask(self, row):
        mask = _read_binary_mask(self.mask_paths[row])
        self._mask_shape[row] = mask.shape
        return resize_mask(mask, self.size) if self.size else mask
