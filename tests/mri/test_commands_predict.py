"""`tinynet predict` (tinynet.mri.commands.predict, the code of examples/predict.py) through its
main(): output files, summary.json, the shipped weights when no model is given, --min-component,
errors (exit code 2)."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from commandhelpers import expect_exit_2, fail_renames_onto, read_png, write_png
from mrihelpers import write_kaggle3m
from tinynet.mri.checkpoint import load_model
from tinynet.mri.commands import predict
from tinynet.mri.inference import classify, segment
from tinynet.mri.tumour_size import largest_extent, tumour_size


def run_predict(input_path, out, checkpoints, *extra, classifier=True):
    cls_path, seg_path = checkpoints
    models = ["--classifier", cls_path] if classifier else []
    code = predict.main([str(input_path), "--out", str(out), *models, "--segmenter", seg_path,
                         *extra])
    assert code == 0
    return json.loads((out / "summary.json").read_text())


def test_single_png_gives_mask_overlay_and_summary(tmp_path, checkpoints):
    image = write_png(tmp_path / "slice.png")
    summary = run_predict(tmp_path / "slice.png", tmp_path / "out", checkpoints)

    mask = read_png(tmp_path / "out" / "slice_pred_mask.png")
    assert mask.shape == (40, 50) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255}
    overlay = read_png(tmp_path / "out" / "slice_overlay.png")
    assert overlay.shape == image.shape

    assert {"classifier", "segmenter", "cls_threshold", "seg_threshold", "min_area",
            "slices"} <= set(summary)
    assert summary["cls_threshold"] == 0.5 and summary["segmenter"] == checkpoints[1]
    (record,) = summary["slices"]
    assert record["path"] == str(tmp_path / "slice.png")
    assert 0.0 <= record["tumour_probability"] <= 1.0
    assert record["positive"] == (record["tumour_probability"] >= 0.5)
    assert record["tumour_area_pixels"] == int((mask == 255).sum())
    if not record["positive"]:
        assert record["tumour_area_pixels"] == 0


def test_folder_keeps_its_layout_and_skips_masks(tmp_path, checkpoints):
    write_png(tmp_path / "in" / "a" / "x.png")
    write_png(tmp_path / "in" / "b" / "c" / "y.tif", shape=(30, 20, 3))
    Image.fromarray(np.zeros((30, 20), np.uint8)).save(tmp_path / "in" / "b" / "c" / "y_mask.tif")
    Image.fromarray(np.full((16, 16), 90, np.uint8)).save(tmp_path / "in" / "gray.png")
    # The segmenter alone: the ResNet-18 classifier is the slow part of these tests.
    summary = run_predict(tmp_path / "in", tmp_path / "out", checkpoints, classifier=False)

    out = tmp_path / "out"
    for name, shape in (("a/x", (40, 50)), ("b/c/y", (30, 20)), ("gray", (16, 16))):
        assert read_png(out / f"{name}_pred_mask.png").shape == shape
        assert (out / f"{name}_overlay.png").exists()
    assert not list(out.rglob("y_mask_*"))
    assert sorted(r["name"] for r in summary["slices"]) == ["a/x", "b/c/y", "gray"]
    assert summary["classifier"] is None and summary["cls_threshold"] is None
    for record in summary["slices"]:     # without a classifier: positive = a non-empty mask
        assert record["positive"] == (record["tumour_area_pixels"] > 0)


def test_outputs_inside_the_input_folder_are_not_predicted_again(tmp_path, checkpoints):
    write_png(tmp_path / "in" / "x.png")
    for _ in range(2):
        summary = run_predict(tmp_path / "in", tmp_path / "in" / "pred", checkpoints,
                              classifier=False)
        assert [r["name"] for r in summary["slices"]] == ["x"]


def test_kaggle3m_folder_with_threshold_one_gives_empty_masks(tmp_path, checkpoints):
    patients = ("TCGA_CS_0001_20000101", "TCGA_DU_0002_20000202")
    write_kaggle3m(tmp_path / "kaggle_3m", patients=patients, slices=3)
    summary = run_predict(tmp_path / "kaggle_3m", tmp_path / "out", checkpoints,
                          "--cls-threshold", "1.0", "--batch-size", "2")
    assert summary["cls_threshold"] == 1.0 and len(summary["slices"]) == 6
    for record in summary["slices"]:
        assert record["positive"] is False and record["tumour_area_pixels"] == 0
        assert not read_png(tmp_path / "out" / f"{record['name']}_pred_mask.png").any()
    assert (tmp_path / "out" / patients[1] / f"{patients[1]}_3_overlay.png").exists()


def test_each_patient_folder_gets_its_tumour_size_in_pixels_and_a_viewer(tmp_path, checkpoints):
    """summary.json's "patients": per folder of a kaggle_3m layout, the size of the predicted
    tumour (tumour_size of its PNG masks, in pixels: no spacing); --html: one viewer each."""
    patients = ("TCGA_CS_0001_20000101", "TCGA_DU_0002_20000202")
    written = write_kaggle3m(tmp_path / "kaggle_3m", patients=patients, slices=3)
    images = np.stack([image for patient in patients for image, _ in written[patient]])
    seg_threshold = float(np.median(segment(*load_model(checkpoints[1]), images)))
    out = tmp_path / "out"
    summary = run_predict(tmp_path / "kaggle_3m", out, checkpoints, "--seg-threshold",
                          str(seg_threshold), "--html", str(out / "report.html"),
                          classifier=False)
    assert [p["patient"] for p in summary["patients"]] == list(patients)
    for patient in summary["patients"]:
        masks = np.stack([read_png(out / patient["patient"] / f"{patient['patient']}_{n}"
                                   f"_pred_mask.png") // 255 for n in (1, 2, 3)])
        assert patient["slices"] == 3
        assert patient["tumour_size"] == tumour_size(masks)
        assert patient["tumour_size"]["volume_ml"] is None
    assert sum(p["tumour_size"]["tumour_voxels"] for p in summary["patients"]) > 0
    assert "pixels" in summary["size_units"]
    for record in summary["slices"]:
        mask = read_png(out / f"{record['name']}_pred_mask.png")
        assert record["largest_extent_pixels"] == round(largest_extent(mask), 3)
    page = (out / "report.html").read_text()
    assert page.count("class='viewer'") == 2 and page.count("data:image/jpeg") == 6 + 2
    assert f"{patients[1]}_3: tumour probability" in page


def test_a_failed_save_leaves_the_previous_summary_whole(tmp_path, checkpoints, monkeypatch):
    """summary.json is written atomically: a save that fails at its last step (the rename onto
    summary.json) leaves the previous summary as it was and no temporary file behind."""
    write_png(tmp_path / "slice.png")
    out = tmp_path / "out"
    run_predict(tmp_path / "slice.png", out, checkpoints, classifier=False)
    before = (out / "summary.json").read_bytes()
    fail_renames_onto(monkeypatch, "summary.json")
    with pytest.raises(OSError, match="summary.json"):
        predict.main([str(tmp_path / "slice.png"), "--out", str(out),
                      "--segmenter", checkpoints[1], "--min-area", "7"])
    assert (out / "summary.json").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["slice_overlay.png", "slice_pred_mask.png",
                                                     "summary.json"]


def test_gradcam_writes_a_heatmap_per_slice(tmp_path, checkpoints):
    write_png(tmp_path / "slice.png")
    run_predict(tmp_path / "slice.png", tmp_path / "out", checkpoints, "--gradcam")
    assert read_png(tmp_path / "out" / "slice_gradcam.png").shape == (40, 50, 3)


def test_missing_input(tmp_path, capsys, checkpoints):
    expect_exit_2(capsys, [str(tmp_path / "nope.png"), "--out", str(tmp_path / "o"),
                           "--segmenter", checkpoints[1]],
                  f"no such file or folder: {tmp_path / 'nope.png'}")


def test_a_file_that_is_not_an_image(tmp_path, capsys, checkpoints):
    (tmp_path / "notes.txt").write_text("hello")
    expect_exit_2(capsys, [str(tmp_path / "notes.txt"), "--out", str(tmp_path / "o"),
                           "--segmenter", checkpoints[1]], "notes.txt is not a slice image")
    (tmp_path / "fake.png").write_text("hello")
    expect_exit_2(capsys, [str(tmp_path / "fake.png"), "--out", str(tmp_path / "o"),
                           "--segmenter", checkpoints[1]], "cannot read the image")


def test_segmenter_checkpoint_given_as_classifier(tmp_path, capsys, checkpoints):
    write_png(tmp_path / "slice.png")
    expect_exit_2(capsys, [str(tmp_path / "slice.png"), "--out", str(tmp_path / "o"),
                           "--classifier", checkpoints[1]],
                  "holds a segmentation model (resunet), but a classification model is needed")


def test_no_model_and_gradcam_without_classifier(tmp_path, capsys, checkpoints, monkeypatch):
    monkeypatch.setenv("TINYNET_WEIGHTS", str(tmp_path))      # a folder without shipped weights
    write_png(tmp_path / "slice.png")
    expect_exit_2(capsys, [str(tmp_path / "slice.png"), "--out", str(tmp_path / "o")],
                  "no model given")
    expect_exit_2(capsys, [str(tmp_path / "slice.png"), "--out", str(tmp_path / "o"),
                           "--segmenter", checkpoints[1], "--gradcam"],
                  "--gradcam explains the classifier's decision")


def test_out_that_is_a_file_is_one_line(tmp_path, capsys, checkpoints):
    """--out naming a file (or a path below one) says so before any model is read."""
    write_png(tmp_path / "slice.png")
    for out in (tmp_path / "slice.png", tmp_path / "slice.png" / "o"):
        expect_exit_2(capsys, [str(tmp_path / "slice.png"), "--out", str(out),
                               "--segmenter", checkpoints[1]],
                      f"--out {out}: {tmp_path / 'slice.png'} is a file, not a folder")


def test_bad_threshold_is_refused_by_argparse(tmp_path, capsys, checkpoints):
    write_png(tmp_path / "slice.png")
    expect_exit_2(capsys, [str(tmp_path / "slice.png"), "--out", str(tmp_path / "o"),
                           "--segmenter", checkpoints[1], "--seg-threshold", "1.5"],
                  "must be in [0, 1], got 1.5")


def test_gpu_without_cupy_says_so(tmp_path, capsys, checkpoints, without_cupy):
    write_png(tmp_path / "slice.png")
    expect_exit_2(capsys, [str(tmp_path / "slice.png"), "--out", str(tmp_path / "o"),
                           "--segmenter", checkpoints[1], "--device", "gpu"], "device 'gpu'")


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        predict.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--out", "--classifier", "--segmenter", "--device", "--cls-threshold",
                 "--seg-threshold", "--min-area", "--tta", "--gradcam", "--batch-size",
                 "--flair", "--pre", "--post", "--probabilities", "--html"):
        assert flag in text
    assert "grayscale" in text and "NIfTI" in text


def test_predict_without_models_uses_the_shipped_weights(tmp_path, monkeypatch, checkpoints,
                                                        capsys):
    """predict.py with no --classifier/--segmenter runs the shipped pair (Grad-CAM included)."""
    cls_path, seg_path = checkpoints
    weights = tmp_path / "weights"
    weights.mkdir()
    os.symlink(cls_path, weights / "classifier.npz")
    os.symlink(seg_path, weights / "segmenter.npz")
    monkeypatch.setenv("TINYNET_WEIGHTS", str(weights))
    image = write_png(tmp_path / "slice.png")
    out = tmp_path / "out"
    assert predict.main([str(tmp_path / "slice.png"), "--out", str(out), "--gradcam"]) == 0
    err = capsys.readouterr().err
    assert ("no model given: using the shipped weights "
            f"{weights / 'classifier.npz'}, {weights / 'segmenter.npz'}") in err

    summary = json.loads((out / "summary.json").read_text())
    (record,) = summary["slices"]
    assert summary["cls_threshold"] == 0.5 and summary["seg_threshold"] == 0.5
    # the summary names the files that ran, not the flags' None
    assert summary["classifier"] == str(weights / "classifier.npz")
    assert summary["segmenter"] == str(weights / "segmenter.npz")
    expected = classify(*load_model(cls_path), image[None])[0]
    assert record["tumour_probability"] == pytest.approx(expected, abs=1e-6)
    mask = read_png(out / "slice_pred_mask.png")
    assert record["tumour_area_pixels"] == int((mask == 255).sum())
    assert read_png(out / "slice_gradcam.png").shape == image.shape


def test_gradcam_with_only_a_shipped_segmenter_is_refused(tmp_path, monkeypatch, checkpoints,
                                                         capsys):
    """--gradcam with no model given and no shipped classifier: exit 2 asking for --classifier."""
    monkeypatch.setenv("TINYNET_WEIGHTS", str(tmp_path))
    os.symlink(checkpoints[1], tmp_path / "segmenter.npz")
    write_png(tmp_path / "slice.png")
    expect_exit_2(capsys, [str(tmp_path / "slice.png"), "--out", str(tmp_path / "o"),
                           "--gradcam"], "--gradcam explains the classifier's decision")


def test_predict_script_passes_min_component(tmp_path, checkpoints, capsys):
    """predict.py --min-component lands in summary.json; a negative value is exit 2."""
    write_png(tmp_path / "slice.png")
    assert predict.main([str(tmp_path / "slice.png"), "--out", str(tmp_path / "out"),
                         "--segmenter", checkpoints[1], "--min-component", "4"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["min_component"] == 4
    expect_exit_2(capsys, [str(tmp_path / "slice.png"), "--out", str(tmp_path / "o"),
                           "--segmenter", checkpoints[1], "--min-component", "-1"],
                  "must be >= 0, got -1")
