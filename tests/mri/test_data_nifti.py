"""tinynet.mri.data.nifti: a real patient stacked into NIfTI in several voxel orders reads back as
its own slices; three 3-D files (FLAIR standing in for a missing one); 8-bit conversion per
volume; masks written back on the scan's grid with its affine and header; every bad file is one
DataError naming it (nibabel missing included)."""
import sys

import numpy as np
import pytest

from niftihelpers import ORDERS, SPACING, axial_affine, real_patient, reorder, save_nifti
from optional_deps import nibabel_or_skip
from tinynet.mri.data import DataError
from tinynet.mri.data.nifti import nifti_name, read_scan, read_sequences, to_uint8


@pytest.fixture
def nibabel():
    return nibabel_or_skip()


def small_scan(tmp_path, rng, name="scan.nii.gz", order=ORDERS[0], shape=(6, 9, 8, 3)):
    """A random uint8 axial stack saved as a 4-D NIfTI in ``order``: (path, stack, affine)."""
    axial = rng.integers(0, 256, shape, dtype=np.uint8)
    voxels, affine = reorder(axial, axial_affine(), *order)
    return save_nifti(tmp_path / name, voxels, affine), axial, affine


@pytest.mark.parametrize("order", ORDERS)
def test_a_real_patient_in_any_voxel_order_reads_back_as_its_slices(tmp_path, nibabel, order):
    slices, _ = real_patient()
    voxels, affine = reorder(slices, axial_affine(), *order)
    scan = read_scan(save_nifti(tmp_path / "patient.nii.gz", voxels, affine))
    np.testing.assert_array_equal(scan.axial_slices(), slices)     # uint8: taken as it is
    assert scan.spacing_mm == pytest.approx(SPACING)
    assert scan.shape == voxels.shape[:3] and scan.name == "patient"


def test_three_files_and_a_missing_sequence(tmp_path, nibabel, rng):
    """int16 sequences are brought to 8 bits each over its volume; without --pre, FLAIR
    stands in for it."""
    axial = rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    axial[0, 0, 0] = 0
    axial[-1, -1, -1] = 255                 # every channel spans 0..255
    voxels, affine = reorder(axial, axial_affine(), *ORDERS[1])
    paths = {}
    for c, sequence in enumerate(("pre", "flair", "post")):   # stored as 10 x + 40 in int16
        paths[sequence] = save_nifti(tmp_path / f"{sequence}.nii.gz",
                                     voxels[..., c].astype(np.int16) * 10 + 40, affine)
    scan = read_sequences(paths["flair"], paths["pre"], paths["post"])
    np.testing.assert_array_equal(scan.axial_slices(), axial)
    assert scan.name == "flair" and scan.sources["pre"] == str(paths["pre"])

    scan = read_sequences(paths["flair"], post=paths["post"])
    slices = scan.axial_slices()
    np.testing.assert_array_equal(slices[..., 0], axial[..., 1])   # FLAIR for pre
    np.testing.assert_array_equal(slices[..., 1:], axial[..., 1:])
    assert "no pre given" in scan.sources["pre"]


def test_to_uint8_maps_each_volume_from_its_lowest_to_its_highest_value():
    values = np.array([[-50.0, 0.0], [150.0, np.nan]])
    np.testing.assert_array_equal(to_uint8(values), [[0, 64], [255, 0]])  # 50/200 * 255 = 63.75
    uint8 = np.array([3, 200], np.uint8)
    assert to_uint8(uint8) is uint8                                       # 8-bit: as it is
    np.testing.assert_array_equal(to_uint8(np.full((2, 2), 7.0)), 0)
    np.testing.assert_array_equal(to_uint8(np.array([5, 1005], np.int16)), [0, 255])


@pytest.mark.parametrize("order", ORDERS)
def test_a_mask_goes_back_on_the_scan_grid_with_its_affine_and_header(tmp_path, nibabel, rng,
                                                                     order):
    path, axial, _ = small_scan(tmp_path, rng, order=order)
    scan = read_scan(path)
    mask = (rng.random(axial.shape[:3]) < 0.3).astype(np.uint8)
    written = scan.save_like(mask, tmp_path / "mask.nii.gz", "tinynet tumour mask")
    source, saved = nibabel.load(str(path)), nibabel.load(written)
    expected, _ = reorder(mask, axial_affine(), *order)          # the scan's own voxel order
    np.testing.assert_array_equal(np.asanyarray(saved.dataobj), expected)
    assert saved.get_data_dtype() == np.uint8 and saved.shape == source.shape[:3]
    np.testing.assert_array_equal(saved.affine, source.affine)
    for form in ("get_qform", "get_sform"):
        ours, code = getattr(saved.header, form)(coded=True)
        theirs, source_code = getattr(source.header, form)(coded=True)
        assert code == source_code and (code == 0 or np.array_equal(ours, theirs))
    assert saved.header.get_xyzt_units() == source.header.get_xyzt_units()
    assert saved.header.get_zooms() == source.header.get_zooms()[:3]
    assert saved.header["descrip"].tobytes().rstrip(b"\0") == b"tinynet tumour mask"
    assert not list(tmp_path.glob(".*.tmp"))                     # written atomically

    probabilities = rng.random(axial.shape[:3]).astype(np.float32)
    saved = nibabel.load(scan.save_like(probabilities, tmp_path / "prob.nii"))
    np.testing.assert_array_equal(np.asanyarray(saved.dataobj), reorder(probabilities,
                                                                       axial_affine(), *order)[0])


def test_a_mask_of_the_wrong_shape_is_refused(tmp_path, nibabel, rng):
    scan = read_scan(small_scan(tmp_path, rng)[0])
    with pytest.raises(DataError, match=r"expected an axial volume of shape \(6, 9, 8\)"):
        scan.save_like(np.zeros((9, 6, 8), np.uint8), tmp_path / "mask.nii.gz")
    assert not (tmp_path / "mask.nii.gz").exists()


# -- bad files: one DataError, naming the file --

def test_wrong_number_of_channels_and_wrong_dimensions(tmp_path, nibabel, rng):
    path = save_nifti(tmp_path / "two.nii.gz", np.zeros((4, 4, 3, 2), np.int16), np.eye(4))
    with pytest.raises(DataError, match=rf"{path}: a volume of shape \(4, 4, 3, 2\); expected "
                                        r"4-D \(X, Y, Z, 3\)"):
        read_scan(path)
    flat = save_nifti(tmp_path / "flat.nii", np.zeros((4, 4), np.int16), np.eye(4))
    with pytest.raises(DataError, match=rf"{flat}: a volume of shape \(4, 4\)"):
        read_scan(flat)
    with pytest.raises(DataError, match=rf"--flair {flat}: .*expected a 3-D volume"):
        read_sequences(flat)
    single = save_nifti(tmp_path / "flair.nii.gz", np.zeros((4, 4, 3), np.int16), np.eye(4))
    with pytest.raises(DataError, match="give it as --flair"):
        read_scan(single)


def test_sequences_on_different_grids(tmp_path, nibabel):
    flair = save_nifti(tmp_path / "flair.nii.gz", np.zeros((4, 4, 3), np.int16), np.eye(4))
    pre = save_nifti(tmp_path / "pre.nii.gz", np.zeros((4, 5, 3), np.int16), np.eye(4))
    with pytest.raises(DataError, match=rf"--pre {pre}: shape \(4, 5, 3\) differs from the "
                                        r"FLAIR's \(4, 4, 3\)"):
        read_sequences(flair, pre=pre)
    post = save_nifti(tmp_path / "post.nii.gz", np.zeros((4, 4, 3), np.int16),
                      np.diag([1.0, 1.0, 2.0, 1.0]))
    with pytest.raises(DataError, match=rf"--post {post}: its affine .* differs from the FLAIR"):
        read_sequences(flair, post=post)


def test_corrupt_and_truncated_files(tmp_path, nibabel, rng):
    garbage = tmp_path / "garbage.nii.gz"
    garbage.write_bytes(b"not a NIfTI file" * 40)
    with pytest.raises(DataError, match=rf"{garbage}: cannot read the NIfTI file"):
        read_scan(garbage)
    path = small_scan(tmp_path, rng, shape=(12, 40, 40, 3))[0]
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match=rf"{path}: cannot read the NIfTI file"):
        read_scan(path)


def test_names_that_are_not_nifti_and_missing_files(tmp_path, nibabel):
    with pytest.raises(DataError, match=r"--flair scan.tif: not a NIfTI file"):
        read_sequences("scan.tif")
    with pytest.raises(DataError, match=rf"--flair {tmp_path / 'nope.nii'}: no such file"):
        read_sequences(tmp_path / "nope.nii")
    assert nifti_name("sub-01_FLAIR.NII.GZ") == "sub-01_FLAIR" and nifti_name("a.nii") == "a"


def test_without_nibabel_the_message_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nibabel", None)       # "import nibabel" now fails
    (tmp_path / "scan.nii.gz").write_bytes(b"")
    with pytest.raises(DataError, match=r"scan.nii.gz: reading and writing NIfTI needs "
                                        r"nibabel.*pip install 'tinynet\[nifti\]'"):
        read_scan(tmp_path / "scan.nii.gz")
