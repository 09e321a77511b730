"""`tinynet predict` on NIfTI scans (tinynet.mri.commands.predict with tinynet.mri.data.nifti):
a real patient stacked into NIfTI in other voxel orders comes back as a mask volume equal to the
slice-wise prediction of its TIFF slices, on the scan's grid with its affine; three files, a
non-square field of view, the probability map, the tumour volume in mL; bad input is one
message naming the file, exit code 2, and nothing written."""
import json
import math
import os
import sys

import numpy as np
import pytest

from commandhelpers import expect_exit_2, fail_renames_onto, read_png
from niftihelpers import ORDERS, SPACING, axial_affine, real_patient, reorder, save_nifti
from optional_deps import nibabel_or_skip
from tinynet.mri.commands import predict
from tinynet.mri.inference import TwoStagePredictor, classify, segment


@pytest.fixture
def nibabel():
    return nibabel_or_skip()


@pytest.fixture(scope="module")
def patient(tiny_models):
    """The first real patient: (slices, their paths, cls and seg thresholds that split the
    untrained models' answers: about half the slices called tumour, about half the pixels of
    the probability maps)."""
    slices, paths = real_patient()
    (classifier, segmenter) = tiny_models
    probability = np.sort(classify(*classifier, slices))
    middle = len(probability) // 2
    cls_threshold = float((probability[middle - 1] + probability[middle]) / 2)
    seg_threshold = float(np.median(segment(*segmenter, slices)))
    return slices, paths, cls_threshold, seg_threshold


def slice_wise(tiny_models, slices, cls_threshold, seg_threshold, with_classifier):
    """The stages on the axial slices as one batch of slices (what predict does with up to
    32 slices): a SlicePredictions."""
    classifier, segmenter = tiny_models
    predictor = TwoStagePredictor(classifier if with_classifier else None, segmenter,
                                  cls_threshold=cls_threshold if with_classifier else None,
                                  seg_threshold=seg_threshold)
    return predictor(slices)


def run(argv):
    assert predict.main([str(a) for a in argv]) == 0


def load_voxels(nibabel, path):
    image = nibabel.load(str(path))
    return image, np.asanyarray(image.dataobj)


@pytest.mark.parametrize("order, with_classifier", [(ORDERS[0], True), (ORDERS[1], False)])
def test_a_real_patient_round_trip(tmp_path, nibabel, checkpoints, tiny_models, patient, order,
                                   with_classifier):
    """The mask volume equals the slice-wise prediction (both stages, or the segmenter alone),
    put back in the file's voxel order with the file's affine; the probabilities too; the
    volume in mL is voxels x spacing."""
    slices, _, cls_threshold, seg_threshold = patient
    voxels, affine = reorder(slices, axial_affine(), *order)
    scan = save_nifti(tmp_path / "patient.nii.gz", voxels, affine)
    models = ["--classifier", checkpoints[0], "--cls-threshold", cls_threshold] \
        if with_classifier else []
    out = tmp_path / "out"
    run([scan, "--out", out, *models, "--segmenter", checkpoints[1],
         "--seg-threshold", seg_threshold, "--probabilities"])

    expected = slice_wise(tiny_models, slices, cls_threshold, seg_threshold, with_classifier)
    assert 0 < expected.masks.mean() < 1              # a real test: tumour and background
    source, _ = load_voxels(nibabel, scan)
    mask_image, mask = load_voxels(nibabel, out / "patient_pred_mask.nii.gz")
    np.testing.assert_array_equal(mask, reorder(expected.masks, axial_affine(), *order)[0])
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    np.testing.assert_array_equal(mask_image.affine, source.affine)
    _, probabilities = load_voxels(nibabel, out / "patient_pred_prob.nii.gz")
    assert probabilities.dtype == np.float32
    np.testing.assert_array_equal(
        probabilities, reorder(expected.pixel_probabilities, axial_affine(), *order)[0])

    summary = json.loads((out / "summary.json").read_text())
    assert summary["scan"]["spacing_mm"] == pytest.approx(list(SPACING))
    assert summary["scan"]["shape"] == list(voxels.shape[:3])
    assert [r["positive"] for r in summary["slices"]] == expected.positive.tolist()
    assert [r["tumour_area_pixels"] for r in summary["slices"]] == expected.area.tolist()
    (patient,) = summary["patients"]
    size = patient["tumour_size"]
    assert size["tumour_voxels"] == int(mask.sum())
    assert size["tumour_slices"] == int((expected.area > 0).sum())
    assert size["volume_ml"] == pytest.approx(mask.sum() * math.prod(SPACING) / 1000, abs=1e-3)
    assert size["largest_extent_mm"] > 0 and "millilitres" in summary["size_units"]
    assert summary["outputs"]["mask"] == str(out / "patient_pred_mask.nii.gz")


def test_the_nifti_mask_equals_the_tiff_prediction(tmp_path, nibabel, checkpoints, patient):
    """The same patient predicted from its TIFF slices and from a NIfTI made of them: the PNG
    masks, stacked, are the NIfTI mask volume turned back into axial slices."""
    slices, paths, _, seg_threshold = patient
    flags = ["--segmenter", checkpoints[1], "--seg-threshold", seg_threshold]
    voxels, affine = reorder(slices, axial_affine(), *ORDERS[0])
    run([save_nifti(tmp_path / "p.nii.gz", voxels, affine), "--out", tmp_path / "nifti", *flags])
    run([paths[0].parent, "--out", tmp_path / "tiff", *flags])

    _, mask = load_voxels(nibabel, tmp_path / "nifti" / "p_pred_mask.nii.gz")
    axial = np.flip(mask, 0).transpose(2, 1, 0)          # ORDERS[0] undone
    pngs = np.stack([read_png(tmp_path / "tiff" / f"{p.stem}_pred_mask.png") for p in paths])
    np.testing.assert_array_equal(axial * 255, pngs)
    tiff_summary = json.loads((tmp_path / "tiff" / "summary.json").read_text())
    (patient,) = tiff_summary["patients"]
    assert patient["tumour_size"]["tumour_voxels"] == int(mask.sum())
    assert patient["tumour_size"]["volume_ml"] is None      # TIFF: no spacing, pixels only
    assert "pixels" in tiff_summary["size_units"]


def test_three_files_with_a_non_square_field_of_view(tmp_path, nibabel, checkpoints, rng):
    """FLAIR and post-contrast (no pre) as int16 files of 20 x 30 x 4 voxels of 1.5 x 1 mm:
    padded to a square field of view for the models, the mask comes back 20 x 30 x 4."""
    axial = rng.integers(0, 256, (4, 20, 30, 3), dtype=np.uint8)
    voxels, affine = reorder(axial, axial_affine((4.0, 1.5, 1.0)), *ORDERS[1])
    flair = save_nifti(tmp_path / "flair.nii.gz", voxels[..., 1].astype(np.int16) * 5, affine)
    post = save_nifti(tmp_path / "post.nii", voxels[..., 2].astype(np.int16), affine)
    out = tmp_path / "out"
    run(["--flair", flair, "--post", post, "--out", out, "--segmenter", checkpoints[1]])
    source, _ = load_voxels(nibabel, flair)
    mask_image, mask = load_voxels(nibabel, out / "flair_pred_mask.nii.gz")
    assert mask.shape == voxels.shape[:3]
    np.testing.assert_array_equal(mask_image.affine, source.affine)
    summary = json.loads((out / "summary.json").read_text())
    # 20 rows of 1.5 mm = 30 mm = 30 columns of 1 mm: already square, nothing padded
    assert summary["scan"]["in_plane_padding"] == [[0, 0], [0, 0]]
    assert summary["input"]["pre"].endswith("(FLAIR, no pre given)")
    assert summary["scan"]["spacing_mm"] == [4.0, 1.5, 1.0]

    wide = save_nifti(tmp_path / "wide.nii.gz", voxels[:, :24], affine)   # 20 x 24 x 4 x 3
    run([wide, "--out", tmp_path / "wide", "--segmenter", checkpoints[1]])
    summary = json.loads((tmp_path / "wide" / "summary.json").read_text())
    assert summary["scan"]["axial_slices"] == [4, 20, 24]
    assert summary["scan"]["in_plane_padding"] == [[0, 0], [3, 3]]     # 30 mm by 24 mm
    _, mask = load_voxels(nibabel, tmp_path / "wide" / "wide_pred_mask.nii.gz")
    assert mask.shape == (20, 24, 4)


def test_html_page_with_the_size_and_a_viewer(tmp_path, nibabel, checkpoints, rng):
    axial = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    scan = save_nifti(tmp_path / "scan.nii.gz", *reorder(axial, axial_affine(), *ORDERS[0]))
    run([scan, "--out", tmp_path / "out", "--segmenter", checkpoints[1], "--html",
         tmp_path / "out" / "report.html"])
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count("class='viewer'") == 1 and page.count("data:image/jpeg") == 6 + 1
    assert "axial slice 1 of 6 (feet to head)" in page and " mL (" in page


# -- bad input: one message naming the file, exit code 2, nothing written --

def expect_nothing_written(capsys, tmp_path, argv, message):
    out = tmp_path / "out"
    err = expect_exit_2(capsys, [str(a) for a in argv] + ["--out", str(out)], message)
    assert not out.exists()
    return err


def test_bad_files_are_one_message_and_nothing_is_written(tmp_path, nibabel, capsys,
                                                          checkpoints):
    seg = ["--segmenter", checkpoints[1]]
    two = save_nifti(tmp_path / "two.nii.gz", np.zeros((4, 4, 3, 2), np.int16), np.eye(4))
    expect_nothing_written(capsys, tmp_path, [two, *seg],
                           f"{two}: a volume of shape (4, 4, 3, 2); expected 4-D (X, Y, Z, 3)")
    flat = save_nifti(tmp_path / "flat.nii", np.zeros((4, 4), np.int16), np.eye(4))
    expect_nothing_written(capsys, tmp_path, ["--flair", flat, *seg],
                           f"--flair {flat}: a volume of shape (4, 4); expected a 3-D volume")
    flair = save_nifti(tmp_path / "flair.nii.gz", np.zeros((4, 4, 3), np.int16), np.eye(4))
    pre = save_nifti(tmp_path / "pre.nii.gz", np.zeros((4, 4, 5), np.int16), np.eye(4))
    expect_nothing_written(capsys, tmp_path, ["--flair", flair, "--pre", pre, *seg],
                           f"--pre {pre}: shape (4, 4, 5) differs from the FLAIR's (4, 4, 3)")
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(b"\x1f\x8b" + os.urandom(300))
    expect_nothing_written(capsys, tmp_path, [corrupt, *seg],
                           f"{corrupt}: cannot read the NIfTI file")
    expect_nothing_written(capsys, tmp_path, ["--flair", flair, "--post", corrupt, *seg],
                           f"--post {corrupt}: cannot read the NIfTI file")


def test_flags_that_do_not_go_together(tmp_path, capsys, checkpoints):
    seg = ["--segmenter", checkpoints[1]]
    scan = tmp_path / "scan.nii.gz"
    scan.write_bytes(b"")
    slice_png = tmp_path / "slice.png"
    slice_png.write_bytes(b"")
    for argv, message in (
            ([*seg], "give an INPUT (slices, a folder or a NIfTI scan) or --flair NIFTI"),
            ([scan, "--flair", scan, *seg], "give either INPUT"),
            (["--pre", scan, *seg], "--pre goes with --flair"),
            ([scan, "--gradcam", *seg], "--gradcam works on image slices, not on NIfTI scans"),
            ([slice_png, "--probabilities", *seg], "--probabilities writes a NIfTI probability "
                                                   "volume: it needs a NIfTI scan")):
        expect_nothing_written(capsys, tmp_path, argv, message)


def test_probabilities_need_a_segmenter(tmp_path, nibabel, capsys, checkpoints, rng):
    scan = save_nifti(tmp_path / "scan.nii.gz", rng.integers(0, 9, (4, 4, 2, 3), np.uint8),
                      np.eye(4))
    expect_nothing_written(capsys, tmp_path, [scan, "--classifier", checkpoints[0],
                                              "--probabilities"],
                           "--probabilities writes the segmenter's probabilities")


def test_without_nibabel_a_nifti_input_names_the_extra(tmp_path, capsys, monkeypatch,
                                                       checkpoints):
    monkeypatch.setitem(sys.modules, "nibabel", None)       # "import nibabel" now fails
    scan = tmp_path / "scan.nii.gz"
    scan.write_bytes(b"")
    expect_nothing_written(capsys, tmp_path, [scan, "--segmenter", checkpoints[1]],
                           "needs nibabel, an optional extra of tinynet: pip install "
                           "'tinynet[nifti]'")


def test_a_failed_mask_save_leaves_no_mask_and_no_summary(tmp_path, nibabel, checkpoints,
                                                          monkeypatch, rng):
    scan = save_nifti(tmp_path / "scan.nii.gz", rng.integers(0, 256, (8, 8, 3, 3), np.uint8),
                      np.eye(4))
    fail_renames_onto(monkeypatch, "_pred_mask.nii.gz")
    with pytest.raises(OSError, match="scan_pred_mask.nii.gz"):
        predict.main([str(scan), "--out", str(tmp_path / "out"), "--segmenter", checkpoints[1]])
    assert list((tmp_path / "out").iterdir()) == []        # no mask, no temp file, no summary
