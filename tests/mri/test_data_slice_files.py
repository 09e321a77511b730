"""tinynet.mri.data.slice_files: find_slice_files (slice order, masks skipped) and read_slice
(grayscale repeated to RGB, an unreadable file named)."""
import numpy as np
import pytest
from PIL import Image

from mrihelpers import write_kaggle3m
from tinynet.mri.data import find_slice_files, read_slice


def test_find_slice_files_orders_by_slice_number_and_skips_masks(tmp_path):
    write_kaggle3m(tmp_path / "k", patients=("TCGA_CS_0001_20000101",), slices=10, size=8)
    found = find_slice_files(tmp_path / "k")
    names = [name for _, name in found]
    assert names == [f"TCGA_CS_0001_20000101/TCGA_CS_0001_20000101_{n}" for n in range(1, 11)]


def test_read_slice_repeats_a_grayscale_image(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    Image.fromarray(gray).save(tmp_path / "g.png")
    rgb = read_slice(tmp_path / "g.png")
    assert rgb.shape == (3, 4, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, np.repeat(gray[..., None], 3, axis=2))


def test_read_slice_names_an_unreadable_file(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="cannot read the image .*broken.png"):
        read_slice(tmp_path / "broken.png")
