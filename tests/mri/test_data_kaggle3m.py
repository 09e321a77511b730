"""tinynet.mri.data.kaggle3m, the kaggle_3m reader: order, shapes, resizing, caching, the real
data, and every bad input."""
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datahelpers import PATIENT_A, PATIENT_B, SIDE, slice_arrays, write_kaggle3m
from tinynet.mri.data import DataError, read_kaggle3m

REAL_DATA = Path(os.environ.get("TINYNET_LGG")
                 or Path(__file__).resolve().parents[3] / "shared/data/lgg/kaggle_3m")


@pytest.fixture
def small_root(tmp_path):
    """Two patients, written in an order that a plain sort would get wrong."""
    return write_kaggle3m(tmp_path / "kaggle_3m", {PATIENT_B: [10, 2, 1], PATIENT_A: [3, 11, 2]})


def test_patients_sorted_and_slices_in_number_order(small_root):
    ds = read_kaggle3m(small_root)
    assert ds.patients == [PATIENT_A, PATIENT_B]
    assert ds.names == [f"{PATIENT_A}_2", f"{PATIENT_A}_3", f"{PATIENT_A}_11",
                        f"{PATIENT_B}_1", f"{PATIENT_B}_2", f"{PATIENT_B}_10"]
    assert ds.patient_of == [PATIENT_A] * 3 + [PATIENT_B] * 3
    assert [int(ds[i][0][0, 0, 0]) for i in range(len(ds))] == [2, 3, 11, 1, 2, 10]
    assert ds.paths[2] == str(small_root / PATIENT_A / f"{PATIENT_A}_11.tif")
    assert ds.mask_paths[2] == str(small_root / PATIENT_A / f"{PATIENT_A}_11_mask.tif")
    assert ds.image_size is None


def test_pixels_shapes_and_binary_masks(small_root):
    ds = read_kaggle3m(small_root)
    image, mask = ds[2]  # slice 11: no tumour
    expected_image, _ = slice_arrays(11)
    assert image.dtype == np.uint8 and image.shape == (SIDE, SIDE, 3)
    np.testing.assert_array_equal(image, expected_image)
    assert mask.dtype == np.uint8 and mask.shape == (SIDE, SIDE) and not mask.any()
    _, tumour_mask = ds[0]  # slice 2: the 0/255 square becomes 0/1
    np.testing.assert_array_equal(tumour_mask, slice_arrays(2)[1] // 255)
    np.testing.assert_array_equal(ds.has_tumour, [True, False, False, False, True, True])
    images, masks = ds.arrays()
    assert images.shape == (6, SIDE, SIDE, 3) and masks.shape == (6, SIDE, SIDE)


def test_masks_stored_as_0_1_are_accepted(tmp_path):
    folder = tmp_path / "root" / PATIENT_A
    folder.mkdir(parents=True)
    image, mask = slice_arrays(4)
    Image.fromarray(image).save(folder / f"{PATIENT_A}_4.tif")
    Image.fromarray(mask // 255).save(folder / f"{PATIENT_A}_4_mask.tif")
    np.testing.assert_array_equal(read_kaggle3m(tmp_path / "root")[0][1], mask // 255)


def test_resize_bilinear_images_nearest_masks(small_root):
    ds = read_kaggle3m(small_root, size=8)
    assert ds.image_size == 8
    image, mask = ds[1]  # slice 3 of patient A
    written = Image.open(small_root / PATIENT_A / f"{PATIENT_A}_3.tif")
    np.testing.assert_array_equal(image, np.asarray(written.resize((8, 8), Image.Resampling.BILINEAR)))
    _, tumour_mask = ds[0]
    assert tumour_mask.shape == (8, 8) and set(np.unique(tumour_mask)) == {0, 1}
    # The 4x4 square at rows/cols 4..7 of 16 becomes the 2x2 square at 2..3 of 8.
    expected = np.zeros((8, 8), np.uint8)
    expected[2:4, 2:4] = 1
    np.testing.assert_array_equal(tumour_mask, expected)


def test_second_pass_decodes_nothing(small_root):
    ds = read_kaggle3m(small_root, size=8)
    assert ds.decode_count == 0  # scanning reads names only
    first = [ds[i] for i in range(len(ds))]
    assert ds.decode_count == 2 * len(ds)  # every image and every mask once
    second = [ds[i] for i in range(len(ds))]
    assert ds.decode_count == 2 * len(ds)
    assert all(a[0] is b[0] and a[1] is b[1] for a, b in zip(first, second))
    with pytest.raises(ValueError):
        first[0][0][0, 0, 0] = 1  # the cache is read-only
    subset = ds.subset([PATIENT_B])
    subset.arrays()
    assert subset.decode_count == ds.decode_count == 2 * len(ds)  # shared cache


def test_has_tumour_decodes_masks_only(small_root):
    ds = read_kaggle3m(small_root)
    ds.has_tumour
    assert ds.decode_count == len(ds)
    ds[0]
    assert ds.decode_count == len(ds) + 1


def test_subset_and_indices_of(small_root):
    ds = read_kaggle3m(small_root)
    np.testing.assert_array_equal(ds.indices_of([PATIENT_B]), [3, 4, 5])
    sub = ds.subset([PATIENT_B])
    assert sub.patients == [PATIENT_B] and len(sub) == 3
    assert sub.names == ds.names[3:]
    np.testing.assert_array_equal(sub[2][0], ds[5][0])
    with pytest.raises(DataError, match="TCGA_XX_0000"):
        ds.indices_of(["TCGA_XX_0000"])


def test_ignores_files_hidden_entries_and_non_tiffs(small_root):
    (small_root / "data.csv").write_text("Patient\n")
    (small_root / "README.md").write_text("readme\n")
    (small_root / ".cache").mkdir()
    folder = small_root / PATIENT_A
    (folder / ".DS_Store").write_bytes(b"\0\1")
    (folder / f"._{PATIENT_A}_2.tif").write_bytes(b"AppleDouble")
    (folder / "notes.txt").write_text("seen by a radiologist\n")
    (folder / "previews").mkdir()
    ds = read_kaggle3m(small_root)
    assert ds.patients == [PATIENT_A, PATIENT_B] and len(ds) == 6


# ---- bad input: each case gives a DataError naming the file -------------------------------

def _folder(root):
    return root / PATIENT_A


def test_slice_without_mask_found_at_scan(small_root):
    (_folder(small_root) / f"{PATIENT_A}_3_mask.tif").unlink()
    with pytest.raises(DataError, match=f"{PATIENT_A}_3.tif: slice has no mask"):
        read_kaggle3m(small_root)


def test_mask_without_slice_found_at_scan(small_root):
    (_folder(small_root) / f"{PATIENT_A}_11.tif").unlink()
    with pytest.raises(DataError, match=f"{PATIENT_A}_11_mask.tif: mask has no slice"):
        read_kaggle3m(small_root)


def test_image_and_mask_of_different_sizes(small_root):
    mask_path = _folder(small_root) / f"{PATIENT_A}_3_mask.tif"
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(mask_path)
    ds = read_kaggle3m(small_root)  # sizes are checked when the slice is first read
    with pytest.raises(DataError, match=rf"{PATIENT_A}_3.tif: image is 16x16 but its mask "
                                        rf"{PATIENT_A}_3_mask.tif is 16x12"):
        ds[1]


def test_size_mismatch_found_when_the_masks_were_read_first(small_root):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)[:, :9]).save(
        _folder(small_root) / f"{PATIENT_A}_2.tif")
    ds = read_kaggle3m(small_root)
    assert ds.has_tumour[0]  # masks alone are fine
    with pytest.raises(DataError, match=f"{PATIENT_A}_2.tif: image is 9x16"):
        ds[0]


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_unreadable_tiff_found_at_first_read(small_root, damage):
    path = _folder(small_root) / f"{PATIENT_A}_11.tif"
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2] if damage == "truncate" else b"not a tiff at all")
    ds = read_kaggle3m(small_root)
    assert ds[0][0].shape == (SIDE, SIDE, 3)  # the other slices still read
    with pytest.raises(DataError, match=f"{PATIENT_A}_11.tif: cannot read the TIFF"):
        ds[2]


def test_non_binary_mask(small_root):
    mask = slice_arrays(2)[1]
    mask[0, :3] = [17, 128, 254]
    Image.fromarray(mask).save(_folder(small_root) / f"{PATIENT_A}_2_mask.tif")
    ds = read_kaggle3m(small_root)
    with pytest.raises(DataError, match=rf"{PATIENT_A}_2_mask.tif: mask is not binary: it holds "
                                        r"the values 0, 17, 128, 254, 255"):
        ds[0]


def test_grayscale_image_is_refused(small_root):
    gray = Image.fromarray(np.zeros((SIDE, SIDE), np.uint8))
    gray.save(_folder(small_root) / f"{PATIENT_A}_3.tif")
    with pytest.raises(DataError, match=f"{PATIENT_A}_3.tif: expected an 8-bit RGB image.*'L'"):
        read_kaggle3m(small_root)[1]


def test_rgb_mask_is_refused(small_root):
    Image.fromarray(np.zeros((SIDE, SIDE, 3), np.uint8)).save(
        _folder(small_root) / f"{PATIENT_A}_3_mask.tif")
    with pytest.raises(DataError, match=f"{PATIENT_A}_3_mask.tif: expected a single-channel"):
        read_kaggle3m(small_root).mask(1)


def test_folder_without_patients(tmp_path):
    (tmp_path / "data.csv").write_text("Patient\n")
    with pytest.raises(DataError, match=f"{tmp_path}: no patient folders"):
        read_kaggle3m(tmp_path)


def test_path_that_does_not_exist(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path / 'missing'}: no such folder"):
        read_kaggle3m(tmp_path / "missing")


def test_path_that_is_a_file(tmp_path):
    (tmp_path / "data.csv").write_text("Patient\n")
    with pytest.raises(DataError, match="data.csv: not a folder"):
        read_kaggle3m(tmp_path / "data.csv")


def test_patient_folder_without_slices(small_root):
    (small_root / "TCGA_HT_7475_19970918").mkdir()
    with pytest.raises(DataError, match="TCGA_HT_7475_19970918: patient folder has no slices"):
        read_kaggle3m(small_root)


def test_tiff_of_another_patient_is_an_error(small_root):
    Image.fromarray(slice_arrays(5)[0]).save(_folder(small_root) / f"{PATIENT_B}_5.tif")
    with pytest.raises(DataError, match=f"{PATIENT_B}_5.tif: unexpected TIFF name in patient "
                                        f"folder {PATIENT_A}"):
        read_kaggle3m(small_root)


def test_slice_number_twice(small_root):
    Image.fromarray(slice_arrays(3)[0]).save(_folder(small_root) / f"{PATIENT_A}_03.tif")
    with pytest.raises(DataError, match=f"{PATIENT_A}_3.tif: slice 3 of {PATIENT_A} appears twice"):
        read_kaggle3m(small_root)


def test_bad_size_argument(small_root):
    with pytest.raises(DataError, match="size must be a whole number >= 1"):
        read_kaggle3m(small_root, size=0)


# ---- the real data (skipped when it is not there) ----------------------------------------

needs_real_data = pytest.mark.skipif(not REAL_DATA.is_dir(), reason=f"no LGG data at {REAL_DATA}")


@needs_real_data
def test_real_data_patients_and_slices():
    ds = read_kaggle3m(REAL_DATA, size=128)  # scanning decodes nothing
    assert len(ds.patients) == 56 and len(ds) == 2094 and ds.decode_count == 0
    names = [n for n in ds.names if n.startswith(ds.patients[0] + "_")]
    assert [int(n.rsplit("_", 1)[1]) for n in names] == list(range(1, len(names) + 1))
    few = ds.subset(ds.patients[:2])
    images, masks = few.arrays()
    assert images.shape == (len(few), 128, 128, 3) and images.dtype == np.uint8
    assert masks.shape == (len(few), 128, 128) and set(np.unique(masks)) <= {0, 1}


@needs_real_data
def test_real_data_tumour_slices():
    masks = sorted(REAL_DATA.glob("*/*_mask.tif"))
    tumour = {path.name[:-len("_mask.tif")]: Image.open(path).getbbox() is not None
              for path in masks}  # getbbox: None for an all-zero mask
    assert len(masks) == 2094 and sum(tumour.values()) == 690
    ds = read_kaggle3m(REAL_DATA)
    few = ds.subset(ds.patients[-2:])
    assert few.has_tumour.tolist() == [tumour[name] for name in few.names]
