"""Helpers shared by the data tests (test_data_kaggle3m.py, test_data_packed.py,
test_data_sources.py) and test_commands_pack.py.

* ``write_kaggle3m``: a small kaggle_3m folder, {patient: [slice numbers]} -> TIFF files
  (``slice_arrays``: what is written for one slice; ``SIDE``: its size);
* ``PATIENT_A``, ``PATIENT_B``: the two patients of those folders;
* ``small_root``: the fixture of the packed-file tests, two patients and five slices
  (test_data_kaggle3m.py has a ``small_root`` of its own);
* ``assert_same_dataset``: two datasets hold the same slices, names and patients.
"""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SIDE = 16


def slice_arrays(number, side=SIDE):
    """The image and 0/255 mask written for slice ``number``: the number is in pixel (0, 0, 0),
    and slices with an even number have a tumour square."""
    rng = np.random.default_rng(number)
    image = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    image[0, 0, 0] = number
    mask = np.zeros((side, side), dtype=np.uint8)
    if number % 2 == 0:
        mask[side // 4:side // 2, side // 4:side // 2] = 255
    return image, mask


def write_kaggle3m(root, patients, side=SIDE):
    """Write a small kaggle_3m folder: {patient: [slice numbers]} -> root (TIFF files)."""
    root = Path(root)
    for patient, numbers in patients.items():
        folder = root / patient
        folder.mkdir(parents=True, exist_ok=True)
        for n in numbers:
            image, mask = slice_arrays(n, side)
            Image.fromarray(image).save(folder / f"{patient}_{n}.tif")
            Image.fromarray(mask).save(folder / f"{patient}_{n}_mask.tif")
    return root


PATIENT_A, PATIENT_B = "TCGA_CS_4941_19960909", "TCGA_DU_5849_19950405"


@pytest.fixture
def small_root(tmp_path):
    return write_kaggle3m(tmp_path / "kaggle_3m", {PATIENT_A: [1, 2, 10], PATIENT_B: [4, 5]})


def assert_same_dataset(a, b):
    assert a.patient_of == b.patient_of and a.names == b.names and a.image_size == b.image_size
    for x, y in zip(a.arrays(), b.arrays()):
        assert x.dtype == y.dtype == np.uint8
        np.testing.assert_array_equal(x, y)
