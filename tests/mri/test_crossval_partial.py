"""Scoring and tuning some folds of a cross-validation (``crossval score --fold K``,
``crossval tune --fold K``): only those folds need to have finished, and their patients are
scored exactly as the whole cross-validation scores them once every fold has finished.

On the tiny folder of test_train_scripts.py (5 phantom patients), 3 folds of which the
segmenter run first trains folds 1 and 2 only (``crossval train --fold``), then fold 3.
"""
import json

import numpy as np
import pytest

from test_crossval import SEG_FLAGS, rows_by_patient, tinynet_crossval
from test_train_scripts import mri_folder   # noqa: F401  (a fixture: the tiny kaggle_3m folder)
from tinynet.mri import crossval
from tinynet.mri.commands import crossval as command


@pytest.fixture(scope="module")
def partial(mri_folder, tmp_path_factory):   # noqa: F811
    """A 3-fold segmenter run with folds 1 and 2 finished: what scoring them gave, and
    the tune command on them (into root/tuned); then fold 3 trained too."""
    root = tmp_path_factory.mktemp("partial")
    run = root / "seg"
    assert command.main(["train", "segmenter", str(mri_folder), "--k", "3", "--seed", "1",
                         "--out", str(run), "--fold", "1", "--fold", "2", "--",
                         *SEG_FLAGS]) == 0
    assert not (run / "patients.json").exists()        # fold 3 is still to train
    table = crossval.score_crossval([run], folds=[2, 1])
    predictions = crossval.collect_predictions([run], folds=[1, 2])
    assert command.main(["tune", str(run), "--out", str(root / "tuned"), "--fold", "2",
                         "--fold", "1"]) == 0
    assert command.main(["train", "segmenter", str(mri_folder), "--out", str(run), "--",
                         *SEG_FLAGS]) == 0
    return {"run": run, "root": root, "table": table, "predictions": predictions,
            "folds": json.loads((run / "folds.json").read_text())}


def fold_patients(partial, folds):
    return sorted(p for entry in partial["folds"]["folds"] if entry["fold"] in folds
                  for p in entry["val"])


def test_a_partial_table_is_the_whole_tables_rows_of_those_folds(partial):
    table = partial["table"]
    assert sorted(rows_by_patient(table)) == fold_patients(partial, {1, 2})
    assert table["n_splits"] == 2 and table["of_splits"] == 3
    assert sorted(map(int, table["folds"])) == [1, 2]
    whole = crossval.score_crossval([partial["run"]])
    assert whole["n_splits"] == whole["of_splits"] == 3
    whole_rows = rows_by_patient(whole)
    for patient, row in rows_by_patient(table).items():
        assert row == whole_rows[patient], patient
    assert "folds 1, 2 of 3, " in crossval.format_summary(table)
    assert "3 folds, " in crossval.format_summary(whole)


def test_partial_predictions_are_the_whole_ones_of_those_patients(partial):
    part = partial["predictions"]
    whole = crossval.collect_predictions([partial["run"]])
    keep = np.isin(whole["patient"], fold_patients(partial, {1, 2}))
    assert keep.any() and not keep.all()
    for key in ("patient", "fold", "true", "pixel_probability"):
        np.testing.assert_array_equal(part[key], whole[key][keep], err_msg=key)


def test_unfinished_folds_are_named_and_others_refused(mri_folder, partial, tmp_path,
                                                       capfd):   # noqa: F811
    run = tmp_path / "seg"
    assert command.main(["train", "segmenter", str(mri_folder), "--k", "3", "--seed", "1",
                         "--out", str(run), "--fold", "1", "--", *SEG_FLAGS]) == 0
    capfd.readouterr()
    code, _, err = tinynet_crossval(capfd, "score", run)
    assert code == 2 and "fold(s) 2, 3 have not finished" in err and "--fold K" in err
    code, _, err = tinynet_crossval(capfd, "score", run, "--fold", 1, "--fold", 2, "--out",
                                    tmp_path / "s")
    assert code == 2 and "fold(s) 2 have not finished" in err
    code, _, err = tinynet_crossval(capfd, "score", run, "--fold", 4, "--out", tmp_path / "s")
    assert code == 2 and "has folds 1 to 3, not 4" in err
    code, _, err = tinynet_crossval(capfd, "score", run, "--fold", 1)
    assert code == 2 and "give --out DIR for their table" in err
    assert not (run / "patients.json").exists()
    code, printed, err = tinynet_crossval(capfd, "score", run, "--fold", 1, "--out",
                                          tmp_path / "s")
    assert code == 0, err
    assert "Cross-validation of the segmenter: fold 1 of 3, " in printed
    assert sorted(rows_by_patient(json.loads((tmp_path / "s" / "patients.json").read_text()))) \
        == fold_patients(partial, {1})


def test_tune_on_some_folds(partial, tmp_path, capfd, monkeypatch):
    code, _, err = tinynet_crossval(capfd, "tune", partial["run"], "--out", tmp_path / "t",
                                    "--fold", 2)
    assert code == 2 and "--fold 2 alone: tuning chooses each fold's settings on the other " \
        "folds, give at least two" in err
    assert not (tmp_path / "t").exists()
    out = partial["root"] / "tuned"           # tuned while fold 3 was still to train
    saved = crossval.load_predictions(out / "predictions.npz")
    for key, value in partial["predictions"].items():
        np.testing.assert_array_equal(saved[key], value, err_msg=key)
    tuned = json.loads((out / "tuning.json").read_text())
    assert sorted(tuned["chosen_per_fold"]) == ["1", "2"] and tuned["folds"] == [1, 2]
    assert tuned["chosen_on_all_folds"] == json.loads(json.dumps(
        crossval.tune_pipeline(partial["predictions"])["chosen_on_all_folds"]))
    assert "over folds 1, 2 of 3" in json.loads((out / "pipeline.json").read_text())["chosen_by"]
    recorded = json.loads((out / "predictions.json").read_text())
    assert sorted(recorded["checkpoints"]) == sorted(
        str(partial["run"] / f"fold-{k}" / "last.npz") for k in (1, 2))
    # The same folds in another order, now that fold 3 has finished: read back.
    code, printed, err = tinynet_crossval(capfd, "tune", partial["run"], "--out", out,
                                          "--fold", 1, "--fold", 2)
    assert code == 0, err
    assert "reusing" in printed and "settings chosen on folds 1, 2 of 3:" in printed
    # Every fold: predicted again, not read back.
    code, printed, err = tinynet_crossval(capfd, "tune", partial["run"], "--out", out)
    assert code == 0, err
    assert "reusing" not in printed and "3 folds, " in printed
    assert "settings chosen on all folds:" in printed
    assert "folds" not in json.loads((out / "predictions.json").read_text())


def test_compare_pairs_a_partial_table_with_a_whole_one(partial, tmp_path, capfd):
    part = tmp_path / "part.json"
    crossval.save_table(partial["table"], json_path=part)
    whole = partial["run"] / "patients.json"
    code, _, err = tinynet_crossval(capfd, "compare", whole, part)
    assert code == 2 and "--common-only" in err
    code, printed, err = tinynet_crossval(capfd, "compare", whole, part, "--common-only")
    assert code == 0, err
    n = len(fold_patients(partial, {1, 2}))
    assert f"({n} patients)" in printed


def test_an_ensemble_of_the_folds_finished_so_far(mri_folder, partial, tmp_path,
                                                  capfd):   # noqa: F811
    """``crossval ensemble --fold 1``: fold 1's ensemble of a finished run and one with only
    fold 1 trained, scored with ``score --fold 1``; unfinished or unknown folds are refused."""
    other = tmp_path / "seg-seed2"
    assert command.main(["train", "segmenter", str(mri_folder), "--k", "3", "--seed", "1",
                         "--out", str(other), "--fold", "1", "--", *SEG_FLAGS,
                         "--seed", "2"]) == 0
    capfd.readouterr()
    out = tmp_path / "ensemble"
    code, _, err = tinynet_crossval(capfd, "ensemble", partial["run"], other, "--out", out)
    assert code == 2 and "fold(s) 2, 3 have not finished" in err
    code, _, err = tinynet_crossval(capfd, "ensemble", partial["run"], other, "--out", out,
                                    "--fold", 4)
    assert code == 2 and "has folds 1 to 3, not 4" in err
    code, printed, _ = tinynet_crossval(capfd, "ensemble", partial["run"], other, "--out", out,
                                        "--fold", 1)
    assert code == 0 and "fold(s) 1 of 3, each the mean of 2 segmenters" in printed
    assert (out / "fold-1" / "last.npz").exists() and not (out / "fold-2").exists()
    assert not (out / "patients.json").exists()
    code, _, _ = tinynet_crossval(capfd, "score", out, "--fold", 1, "--out", tmp_path / "s")
    table = json.loads((tmp_path / "s" / "patients.json").read_text())
    assert code == 0 and sorted(rows_by_patient(table)) == fold_patients(partial, {1})
