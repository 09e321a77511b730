"""`tinynet evaluate` (tinynet.mri.commands.evaluate, the code of examples/evaluate.py) through
its main(): the JSON, HTML and table it writes, --split/--subset, --min-component, errors
(exit code 2).  The report itself (tinynet.mri.report) is test_report.py."""
import json

import pytest

import commandhelpers
from mrihelpers import PATIENTS, write_kaggle3m
from tinynet.mri.data import save_split

evaluate_script = commandhelpers.load_script("evaluate")


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


def expect_exit_2(capsys, argv, message):
    commandhelpers.expect_exit_2(capsys, argv, message, script=evaluate_script)


def test_bad_data_folder(tmp_path, capsys, checkpoints):
    (tmp_path / "empty").mkdir()
    expect_exit_2(capsys, [str(tmp_path / "empty"), "--segmenter", checkpoints[1]],
                  str(tmp_path / "empty"))
    expect_exit_2(capsys, [str(tmp_path / "missing"), "--segmenter", checkpoints[1]],
                  str(tmp_path / "missing"))


def test_the_split_of_a_run_without_validation_says_to_score_its_training_patients(
        tmp_path, folder, capsys, checkpoints):
    save_split(tmp_path / "split.json", {"seed": 0, "train": list(PATIENTS), "val": []})
    expect_exit_2(capsys, [str(folder), "--segmenter", checkpoints[1],
                           "--split", str(tmp_path / "split.json")],
                  "has no val patients (a run trained on every patient, --val-fraction 0): "
                  "--subset train scores its training patients")


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


def test_unwritable_report_paths_are_refused_before_evaluating(tmp_path, folder, capsys,
                                                               checkpoints):
    expect_exit_2(capsys, [str(folder), "--segmenter", checkpoints[1], "--json", str(tmp_path)],
                  "is a folder")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    expect_exit_2(capsys, [str(folder), "--segmenter", checkpoints[1],
                           "--html", str(blocker / "report.html")], "is a file, not a folder")


def test_evaluate_script_accepts_min_component(tmp_path, checkpoints, capsys):
    """evaluate.py --min-component N is in the JSON report's settings; -1 is exit 2."""
    write_kaggle3m(tmp_path / "kaggle_3m", patients=("TCGA_CS_0001_20000101",), slices=2)
    code = evaluate_script.main([str(tmp_path / "kaggle_3m"), "--segmenter", checkpoints[1],
                                 "--min-component", "6", "--json", str(tmp_path / "r.json")])
    assert code == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["settings"]["min_component"] == 6 and result["settings"]["min_area"] == 0
    capsys.readouterr()
    commandhelpers.expect_exit_2(capsys, [str(tmp_path / "kaggle_3m"), "--segmenter",
                                          checkpoints[1], "--min-component", "-1"],
                                 "must be >= 0, got -1", script=evaluate_script)
