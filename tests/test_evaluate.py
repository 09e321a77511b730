"""The evaluation report (tinynet.mri.report) and examples/evaluate.py."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from test_inference import tiny_checkpoint_files, tiny_models, write_kaggle3m  # noqa: F401
import test_predict
from tinynet import metrics
from tinynet.mri.data import SliceDataset, read_kaggle3m, save_split
from tinynet.mri import report
from tinynet.mri.checkpoint import load_model
from tinynet.mri.inference import classify, segment
from tinynet.mri.patient_metrics import segmentation_metrics

evaluate_script = test_predict.load_script("evaluate")

PATIENTS = ("TCGA_CS_0001_20000101", "TCGA_DU_0002_20000202", "TCGA_EZ_0003_20000303")
REAL_DATA = Path(os.environ.get("TINYNET_LGG")
                 or Path(__file__).resolve().parents[2] / "shared/data/lgg/kaggle_3m")


@pytest.fixture
def folder(tmp_path):
    write_kaggle3m(tmp_path / "kaggle_3m", patients=PATIENTS, slices=4, size=32)
    return tmp_path / "kaggle_3m"


@pytest.fixture
def checkpoints(tiny_checkpoint_files):
    return tiny_checkpoint_files


def fractions(section, keys):
    for key in keys:
        assert 0.0 <= section[key] <= 1.0, key


def test_report_json_html_and_table(tmp_path, folder, checkpoints, capsys):
    cls_path, seg_path = checkpoints
    code = evaluate_script.main([str(folder), "--classifier", cls_path, "--segmenter", seg_path,
                                 "--json", str(tmp_path / "r.json"),
                                 "--html", str(tmp_path / "r.html")])
    assert code == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert (result["patients"], result["slices"], result["tumour_slices"]) == (3, 12, 6)
    classifier = result["classifier"]
    fractions(classifier, ["accuracy", "precision", "sensitivity", "specificity", "f1", "auc"])
    (tn_, fp), (fn, tp) = classifier["confusion_matrix"]
    assert tn_ + fp == 6 and fn + tp == 6
    for name in ("segmenter", "pipeline"):
        fractions(result[name], ["dice_per_patient_mean", "dice_per_patient_median",
                                 "dice_tumour_slices_mean", "iou_per_patient_mean"])
        assert sorted(result[name]["per_patient"]) == list(PATIENTS)
    assert result["sources"]["classifier"] == cls_path
    assert result["settings"]["cls_threshold"] == 0.5
    assert "both empty" in result["empty_mask_rule"]
    assert {"predict_seconds", "load_seconds"} <= set(result["timings"])

    page = (tmp_path / "r.html").read_text()
    assert page.count("src='data:image/png;base64,") >= 4   # confusion, ROC, Dice, worst slices
    assert "Worst patients" in page and PATIENTS[0] in page

    out = capsys.readouterr().out
    assert "Dice per patient, mean" in out and "sensitivity" in out
    for patient in PATIENTS:
        assert patient in out
    assert f"{tn_:>7}   {fp:>8}" in out      # the confusion matrix row "true no"


def test_numbers_agree_with_tinynet_metrics(folder, checkpoints):
    dataset = read_kaggle3m(folder)
    classifier = load_model(checkpoints[0], task="classification")
    segmenter = load_model(checkpoints[1], task="segmentation")
    result = report.evaluate(dataset, classifier, segmenter, seg_threshold=0.6).report

    images, true_masks = dataset.arrays()
    labels = true_masks.reshape(len(true_masks), -1).any(axis=1)
    probability = classify(*classifier, images)
    seg_masks = segment(*segmenter, images) >= 0.6
    pipeline_masks = seg_masks & (probability >= 0.5)[:, None, None]
    expected_cls = metrics.classification_metrics(labels, probability, threshold=0.5)
    expected_seg = segmentation_metrics(seg_masks, true_masks, dataset.patient_of)
    expected_pipe = segmentation_metrics(pipeline_masks, true_masks, dataset.patient_of)
    assert result["classifier"]["confusion_matrix"] == expected_cls["confusion_matrix"]
    for key in ("accuracy", "precision", "sensitivity", "specificity", "f1", "auc"):
        assert result["classifier"][key] == pytest.approx(expected_cls[key])
    for key in ("dice_per_patient_mean", "dice_per_patient_median", "iou_per_patient_mean",
                "dice_tumour_slices_mean"):
        assert result["segmenter"][key] == pytest.approx(expected_seg[key])
        assert result["pipeline"][key] == pytest.approx(expected_pipe[key])
    assert result["segmenter"]["per_patient"] == expected_seg["per_patient"]
    assert result["pipeline"]["per_patient"] == expected_pipe["per_patient"]


def test_undefined_numbers_are_none_without_tumour_slices(tmp_path, tiny_models, rng):
    # No slice has tumour: AUC (one class) and the tumour-slice Dice are undefined.
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    dataset = SliceDataset.from_arrays(images, np.zeros((3, 32, 32), np.uint8),
                                       ["TCGA_CS_0001_20000101"] * 3, ["a_1", "a_2", "a_3"])
    evaluation = report.evaluate(dataset, *tiny_models)
    report.save_json(evaluation.report, tmp_path / "r.json")
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["classifier"]["auc"] is None and result["classifier"]["roc_curve"] is None
    assert result["segmenter"]["dice_tumour_slices_mean"] is None
    assert "n/a" in report.format_table(evaluation.report)
    assert "data:image/png" in report.render_html(evaluation)


def test_worst_patients_are_the_lowest_dice_and_skip_perfect_ones():
    per_patient = {"A": {"dice": 0.9}, "B": {"dice": 0.2}, "C": {"dice": 1.0}, "D": {"dice": 0.5}}
    assert report.worst_patients({"segmenter": {"per_patient": per_patient}}, count=3) == \
        ["B", "D", "A"]
    assert report.worst_patients({"segmenter": {"per_patient": per_patient}}, count=4) == \
        ["B", "D", "A"]
    assert report.worst_patients({"classifier": {}}) == []


def test_segmenter_only_report_has_no_classifier_or_pipeline(tmp_path, folder, checkpoints):
    code = evaluate_script.main([str(folder), "--segmenter", checkpoints[1],
                                 "--json", str(tmp_path / "r.json")])
    assert code == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert "segmenter" in result and "classifier" not in result and "pipeline" not in result


def test_split_restricts_to_the_validation_patients(tmp_path, folder, checkpoints):
    split = {"seed": 0, "train": list(PATIENTS[:2]), "val": [PATIENTS[2]]}
    save_split(tmp_path / "split.json", split)
    code = evaluate_script.main([str(folder), "--classifier", checkpoints[0],
                                 "--split", str(tmp_path / "split.json"), "--subset", "val",
                                 "--json", str(tmp_path / "r.json")])
    assert code == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert (result["patients"], result["slices"]) == (1, 4)
    assert result["sources"]["subset"] == "val"


def test_json_has_no_nan(tmp_path):
    report.save_json({"auc": float("nan"), "x": [1.0, float("inf")]}, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == {"auc": None, "x": [1.0, None]}


def expect_exit_2(capsys, argv, message):
    test_predict.expect_exit_2(capsys, argv, message, script=evaluate_script)


def test_bad_data_folder(tmp_path, capsys, checkpoints):
    (tmp_path / "empty").mkdir()
    expect_exit_2(capsys, [str(tmp_path / "empty"), "--segmenter", checkpoints[1]],
                  str(tmp_path / "empty"))
    expect_exit_2(capsys, [str(tmp_path / "missing"), "--segmenter", checkpoints[1]],
                  str(tmp_path / "missing"))


def test_subset_needs_split_and_a_model_is_needed(folder, capsys, checkpoints, tmp_path,
                                                   monkeypatch):
    monkeypatch.setenv("TINYNET_WEIGHTS", str(tmp_path))      # a folder without shipped weights
    expect_exit_2(capsys, [str(folder), "--segmenter", checkpoints[1], "--subset", "val"],
                  "--subset needs --split")
    expect_exit_2(capsys, [str(folder)], "no model given")


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit):
        evaluate_script.main(["--help"])
    text = capsys.readouterr().out
    for flag in ("--classifier", "--segmenter", "--json", "--html", "--split", "--subset",
                 "--device", "--cls-threshold", "--seg-threshold", "--min-area", "--tta"):
        assert flag in text


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason="the LGG kaggle_3m data is not here")
def test_real_patient_is_scored_at_its_own_size(tiny_models):
    dataset = read_kaggle3m(REAL_DATA)
    patient = dataset.subset(dataset.patients[:1])
    result = report.evaluate(patient, segmenter=tiny_models[1]).report
    assert result["image_size"] == [256, 256]          # not the model's 32x32
    assert (result["patients"], result["slices"]) == (1, len(patient))
    assert result["tumour_slices"] == int(patient.has_tumour.sum())
    row = result["segmenter"]["per_patient"][dataset.patients[0]]
    assert row["true_pixels"] == sum(int(patient.mask(i).sum()) for i in range(len(patient)))


def test_unwritable_report_paths_are_refused_before_evaluating(tmp_path, folder, capsys,
                                                               checkpoints):
    expect_exit_2(capsys, [str(folder), "--segmenter", checkpoints[1], "--json", str(tmp_path)],
                  "is a folder")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    expect_exit_2(capsys, [str(folder), "--segmenter", checkpoints[1],
                           "--html", str(blocker / "report.html")], "is a file, not a folder")
