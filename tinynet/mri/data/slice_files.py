"""Slices from image files, for prediction: one image, a folder, a kaggle_3m folder of patients.

Unlike ``read_kaggle3m`` (which needs every slice's mask), this finds every
image under a path, skipping masks, and reads each as uint8 (H, W, 3) RGB.
"""
import re
from pathlib import Path

import numpy as np
from .._lazy import Image  # Pillow, imported at first use

from .errors import DataError

__all__ = ["IMAGE_SUFFIXES", "find_slice_files", "read_slice"]

#: File endings read as slices (case-insensitive).
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


def _natural_key(path):
    """Sort key putting ``_2`` before ``_10``: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


def _is_mask_file(path):
    return path.stem.lower().endswith("_mask")


def find_slice_files(input_path):
    """The slices to predict: a list of ``(path, name)``, in folder and slice-number order.

    ``input_path`` is one image file, or a folder searched recursively (a
    kaggle_3m folder of patients is such a folder).  Files whose stem ends in
    ``_mask`` are skipped.  ``name`` is the file's path relative to the folder
    without its suffix ("TCGA_CS_4943_20000902/TCGA_CS_4943_20000902_12"), or
    the stem for a single file: outputs are named after it.
    """
    root = Path(input_path)
    if not root.exists():
        raise FileNotFoundError(f"no such file or folder: {root}")
    if root.is_file():
        if root.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(f"{root} is not a slice image: expected one of "
                            f"{', '.join(IMAGE_SUFFIXES)}")
        return [(root, root.stem)]
    files = sorted((p for p in root.rglob("*") if p.is_file()
                    and p.suffix.lower() in IMAGE_SUFFIXES and not _is_mask_file(p)),
                   key=lambda p: _natural_key(p.relative_to(root)))
    if not files:
        raise DataError(f"{root} holds no slice images ({', '.join(IMAGE_SUFFIXES)}; "
                        "files ending in _mask are skipped)")
    return [(p, p.relative_to(root).with_suffix("").as_posix()) for p in files]


def read_slice(path):
    """An image file as uint8 (H, W, 3) RGB; a grayscale image is repeated into 3 channels.

    Raises DataError naming the file when it cannot be decoded, or when it
    holds more than 8 bits per channel (tinynet's models take 8-bit slices).
    """
    # Pillow's UnidentifiedImageError (not an image) is an OSError.
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            rgb = None if mode in _DEEP_MODES else image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"cannot read the image {path}: {exc}") from exc
    if rgb is None:
        raise DataError(f"{path}: a {mode} image (16-bit or float); tinynet reads 8-bit "
                        "slices, convert it to 8 bits first")
    return np.asarray(rgb, dtype=np.uint8)


#: Pillow modes with more than 8 bits per channel.
_DEEP_MODES = ("I", "I;16", "I;16B", "I;16L", "F")
