"""Cross-validation (tinynet.mri.crossval and its command, tinynet/mri/commands/crossval.py):
the folds' runs, their resumption, the per-patient table, the paired comparison.

End to end on a tiny kaggle_3m folder (5 phantom patients x 6 slices at 32x32, the
``mri_folder`` of test_train_scripts.py) in 2 folds: the training scripts run as the
command runs them, as child processes.  The interruptions come at known points from a
``--launcher`` that wraps the training script: one stops a fold like Ctrl-C after its
first epoch, the other kills it (SIGKILL) in the middle of its second.  The table is
checked against ``report.evaluate`` of the same checkpoints on the same patients, the
comparison against scipy.  The folds themselves are tested in test_data_splits.py.
"""
import csv
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import commandhelpers
from test_distributed import finish_job, job_environment, mpiexec_or_skip
from test_train_scripts import mri_folder   # a fixture: the tiny kaggle_3m folder
from tinynet.io import load_checkpoint
from tinynet.mri import crossval, report
from tinynet.mri.checkpoint import load_model
from tinynet.mri.cli import UsageError
from tinynet.mri.commands import crossval as command
from tinynet.mri.data import institution_of, kfold_patients, load_folds, open_dataset, save_folds
from tinynet.mri.inference import SlicePredictions, segment
from tinynet.mri.patient_metrics import segmentation_metrics

REPO = Path(__file__).resolve().parents[2]
SEG_FLAGS = ["--size", "32", "--batch-size", "4", "--base", "4", "--epochs", "2",
             "--prefetch", "1"]
CLS_FLAGS = ["--size", "32", "--batch-size", "4", "--width", "8", "--epochs", "2",
             "--prefetch", "1"]

#: A --launcher that runs the training script but interrupts one fold at a known point.
INTERRUPTER = '''
import os, runpy, signal, sys
from tinynet.mri.run import TrainingRun
fold, how, python, script, *args = sys.argv[1:]
if args[args.index("--out") + 1].endswith(fold):
    if how == "ctrl-c":          # as Ctrl-C after epoch 1: last.npz saved, exit code 130
        end_epoch = TrainingRun.end_epoch
        def end_epoch_then_stop(self, metrics):
            best = end_epoch(self, metrics)
            self.request_stop()
            return best
        TrainingRun.end_epoch = end_epoch_then_stop
    else:                        # killed after the first step of epoch 2: nothing saved
        step_done = TrainingRun.step_done
        def step_then_die(self, **values):
            step_done(self, **values)
            if self.epoch == 1:
                os.kill(os.getpid(), signal.SIGKILL)
        TrainingRun.step_done = step_then_die
sys.argv = [script, *args]
runpy.run_path(script, run_name="__main__")
'''


def interrupting_launcher(folder, fold, how):
    """The --launcher value that interrupts ``fold`` ("fold-2") by ``how`` ("ctrl-c", "kill")."""
    script = folder / "interrupter.py"
    script.write_text(INTERRUPTER)
    return shlex.join([sys.executable, str(script), fold, how])


def tinynet_crossval(capfd, *argv):
    """``tinynet crossval ARGV`` in-process: (exit code, stdout, stderr), the children's too."""
    try:
        code = command.main([str(a) for a in argv], prog="tinynet crossval")
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capfd.readouterr()
    return code, out, err


def events(folder):
    return [json.loads(line)["event"] for line in (folder / "log.jsonl").read_text().splitlines()]


def rows_by_patient(table):
    return {row["patient"]: row for row in table["patients"]}


# ---------------------------------------------------------------------------
# The runs, made once for the module
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(mri_folder, tmp_path_factory):
    """Folds, a segmenter run killed in fold 2 and a classifier run stopped by Ctrl-C in
    fold 1, each then run again to the end; what each step printed and left is recorded."""
    root = tmp_path_factory.mktemp("crossval")
    seen = {"root": root}
    folds = root / "folds.json"
    assert command.main(["folds", str(mri_folder), "--k", "2", "--seed", "1", "--out",
                         str(folds)]) == 0
    seg, cls = root / "seg", root / "cls"
    seen["seg_first"] = _run(["train", "segmenter", mri_folder, "--folds", folds, "--out", seg,
                              "--launcher", interrupting_launcher(root, "fold-2", "kill"),
                              "--", *SEG_FLAGS])
    seen["fold_1_log"] = (seg / "fold-1" / "log.jsonl").read_text()
    seen["fold_2_epochs"] = load_checkpoint(seg / "fold-2" / "last.npz")["epoch"]
    seen["seg_second"] = _run(["train", "segmenter", mri_folder, "--folds", folds, "--out", seg,
                               "--", *SEG_FLAGS])
    seen["cls_first"] = _run(["train", "classifier", mri_folder, "--folds", folds, "--out", cls,
                              "--launcher", interrupting_launcher(root, "fold-1", "ctrl-c"),
                              "--", *CLS_FLAGS])
    seen["cls_fold_2_existed"] = (cls / "fold-2").exists()
    seen["cls_second"] = _run(["train", "classifier", mri_folder, "--folds", folds, "--out", cls,
                               "--", *CLS_FLAGS])
    return seen


def _run(argv):
    """Run ``tinynet crossval ARGV`` as a child process: (exit code, stdout + stderr)."""
    done = subprocess.run([sys.executable, "-m", "tinynet", "crossval", *map(str, argv)],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600)
    return done.returncode, done.stdout


def test_a_killed_fold_resumes_from_its_last_epoch_and_finished_folds_are_skipped(runs):
    seg = runs["root"] / "seg"
    code, output = runs["seg_first"]
    assert code == 128 + 9, output                       # the child's SIGKILL, as a shell says
    assert "fold 2 resumes from" in output and "last.npz" in output
    assert runs["fold_2_epochs"] == 1                    # the killed epoch 2 is all it lost
    code, output = runs["seg_second"]
    assert code == 0, output
    assert "fold 1/2: finished (2 epochs), skipped" in output
    assert "fold 2/2: resuming from its last.npz (1 of 2 epochs done)" in output
    assert (seg / "fold-1" / "log.jsonl").read_text() == runs["fold_1_log"]   # not touched
    assert events(seg / "fold-2") == ["start", "epoch", "resume", "epoch", "finished"]
    assert load_checkpoint(seg / "fold-2" / "last.npz")["epoch"] == 2


def test_ctrl_c_stops_the_cross_validation_and_the_fold_resumes(runs):
    cls = runs["root"] / "cls"
    code, output = runs["cls_first"]
    assert code == 130, output
    assert "stopped in fold 1" in output and not runs["cls_fold_2_existed"]
    code, output = runs["cls_second"]
    assert code == 0, output
    assert "fold 1/2: resuming from its last.npz (1 of 2 epochs done)" in output
    assert "fold 2/2: training" in output
    assert events(cls / "fold-1") == ["start", "epoch", "interrupted", "resume", "epoch",
                                      "finished"]
    assert events(cls / "fold-2") == ["start", "epoch", "epoch", "finished"]


def test_each_fold_trained_on_its_split(runs, mri_folder):
    folds = load_folds(runs["root"] / "folds.json")
    for name in ("seg", "cls"):
        run = runs["root"] / name
        assert load_folds(run / "folds.json") == folds        # a copy in the run's folder
        for entry in folds["folds"]:
            split = json.loads((run / f"fold-{entry['fold']}" / "split.json").read_text())
            assert (split["train"], split["val"]) == (entry["train"], entry["val"])
            config = load_checkpoint(run / f"fold-{entry['fold']}" / "best.npz")["metadata"]
            assert config["config"]["data"] == str(mri_folder)


def test_every_patient_has_one_row_scored_by_the_fold_that_held_it_out(runs, mri_folder):
    folds = load_folds(runs["root"] / "folds.json")
    fold_of = {p: entry["fold"] for entry in folds["folds"] for p in entry["val"]}
    for name in ("seg", "cls"):
        table = json.loads((runs["root"] / name / "patients.json").read_text())
        assert [row["patient"] for row in table["patients"]] == sorted(fold_of)
        for row in table["patients"]:
            assert row["fold"] == fold_of[row["patient"]]
            assert row["institution"] == institution_of(row["patient"])
            assert row["tp"] + row["fp"] + row["tn"] + row["fn"] == row["slices"] == 6
        with open(runs["root"] / name / "patients.csv", newline="") as f:
            lines = list(csv.DictReader(f))
        assert list(lines[0]) == crossval.COLUMNS
        assert [line["patient"] for line in lines] == sorted(fold_of)
        for line, row in zip(lines, table["patients"]):
            for key in ("dice", "accuracy", "sensitivity"):
                assert line[key] == ("" if row[key] is None else str(row[key]))
    assert all(row["dice"] is None for row in
               json.loads((runs["root"] / "cls" / "patients.json").read_text())["patients"])


def held_out_evaluation(run, fold, data, with_classifier=None, checkpoint="last.npz"):
    """``report.evaluate`` of fold ``fold``'s checkpoints (``last.npz``, what the tables
    score: see ``crossval.scoring.CHECKPOINTS``) on the patients it held out."""
    folds = load_folds(run / "folds.json")
    dataset = open_dataset(data).subset(folds["folds"][fold - 1]["val"])
    models = {name: load_model(folder / f"fold-{fold}" / checkpoint, task=task)
              for name, folder, task in (("segmenter", run, "segmentation"),
                                         ("classifier", with_classifier, "classification"))
              if folder is not None}
    return report.evaluate(dataset, models.get("classifier"), models["segmenter"]).report


def test_the_segmenter_table_is_what_evaluate_gives_for_each_fold(runs, mri_folder):
    seg = runs["root"] / "seg"
    table = rows_by_patient(json.loads((seg / "patients.json").read_text()))
    for fold in (1, 2):
        evaluation = held_out_evaluation(seg, fold, mri_folder)
        for patient, scores in evaluation["segmenter"]["per_patient"].items():
            assert table[patient]["dice"] == pytest.approx(scores["dice"], abs=1e-12)
            assert table[patient]["predicted_pixels"] == scores["pred_pixels"]
            assert table[patient]["tumour_pixels"] == scores["true_pixels"]
            assert table[patient]["tumour_slices"] == scores["tumour_slices"]


def test_checkpoint_best_scores_each_folds_best_npz(runs, mri_folder, capfd, tmp_path):
    """``--checkpoint best`` (optimistic: chosen on the held-out patients) is evaluate's
    score of best.npz; the default table is last.npz's."""
    seg = runs["root"] / "seg"
    code, out, err = tinynet_crossval(capfd, "score", seg, "--checkpoint", "best", "--out",
                                      tmp_path)
    assert code == 0, err
    table = json.loads((tmp_path / "patients.json").read_text())
    assert table["checkpoint"] == "best"
    rows = rows_by_patient(table)
    for fold in (1, 2):
        evaluation = held_out_evaluation(seg, fold, mri_folder, checkpoint="best.npz")
        for patient, scores in evaluation["segmenter"]["per_patient"].items():
            assert rows[patient]["dice"] == pytest.approx(scores["dice"], abs=1e-12)


def test_the_pipeline_scores_fold_k_classifier_and_segmenter_on_fold_k(runs, mri_folder, capfd):
    root = runs["root"]
    code, out, err = tinynet_crossval(capfd, "score", root / "seg", root / "cls", "--out",
                                      root / "pipeline")
    assert code == 0, err
    assert "Cross-validation of the pipeline (classifier + segmenter): 2 folds, 5 patients" in out
    table = json.loads((root / "pipeline" / "patients.json").read_text())
    assert table["model"] == "pipeline" and set(table["runs"]) == {"classifier", "segmenter"}
    rows = rows_by_patient(table)
    classifier_rows = rows_by_patient(json.loads((root / "cls" / "patients.json").read_text()))
    for fold in (1, 2):
        evaluation = held_out_evaluation(root / "seg", fold, mri_folder, root / "cls")
        for patient, scores in evaluation["pipeline"]["per_patient"].items():
            assert rows[patient]["dice"] == pytest.approx(scores["dice"], abs=1e-12)
            # Slice calls: the classifier's, the same with or without the segmenter.
            patient_report = report.evaluate(
                open_dataset(mri_folder).subset([patient]),
                load_model(root / "cls" / f"fold-{fold}" / "last.npz"), None).report
            (tn, fp), (fn, tp) = patient_report["classifier"]["confusion_matrix"]
            counts = {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
            assert {k: rows[patient][k] for k in counts} == counts
            assert {k: classifier_rows[patient][k] for k in counts} == counts


def test_the_summary_describes_the_rows(runs):
    table = json.loads((runs["root"] / "seg" / "patients.json").read_text())
    dice = np.array([row["dice"] for row in table["patients"]])
    summary = table["summary"]["dice"]
    assert summary["mean"] == pytest.approx(dice.mean())
    assert summary["median"] == pytest.approx(np.median(dice))
    assert summary["std"] == pytest.approx(dice.std(ddof=1))
    assert summary["worst"] == dice.min() and summary["n"] == len(dice)
    assert rows_by_patient(table)[summary["worst_patient"]]["dice"] == dice.min()
    pooled = table["summary"]["slices"]
    for key in ("tp", "fp", "tn", "fn"):
        assert pooled[key] == sum(row[key] for row in table["patients"])
    per_fold = table["summary"]["per_fold"]
    assert sum(f["patients"] for f in per_fold.values()) == len(dice)


def test_scoring_refuses_runs_that_do_not_fit_together(runs, tmp_path, capfd):
    root = runs["root"]
    other = tmp_path / "cls-other-folds"
    shutil.copytree(root / "cls", other)
    used = load_folds(root / "folds.json")
    others = (kfold_patients(used["patients"], 2, seed) for seed in range(2, 20))
    save_folds(other / "folds.json", next(f for f in others if f["folds"] != used["folds"]))
    code, _, err = tinynet_crossval(capfd, "score", root / "seg", other, "--out", tmp_path / "p")
    assert code == 2 and "the runs were trained on different folds" in err
    code, _, err = tinynet_crossval(capfd, "score", root / "seg", root / "seg", "--out", tmp_path)
    assert code == 2 and "are both segmenter runs" in err
    code, _, err = tinynet_crossval(capfd, "score", root / "seg", root / "cls")
    assert code == 2 and "give --out DIR" in err
    unfinished = tmp_path / "seg-unfinished"
    shutil.copytree(root / "seg", unfinished)
    (unfinished / "fold-2" / "best.npz").unlink()
    code, _, err = tinynet_crossval(capfd, "score", unfinished)
    assert code == 2 and "fold(s) 2 have not finished their 2 epochs" in err
    code, _, err = tinynet_crossval(capfd, "score", tmp_path)
    assert code == 2 and f"{tmp_path}: not a cross-validation folder" in err


# ---------------------------------------------------------------------------
# crossval ensemble: fold k's models of several runs, averaged
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ensemble(runs, mri_folder):
    """The segmenter run again with --seed 1 on the same folds, and the ensemble of the two."""
    root = runs["root"]
    _run(["train", "segmenter", mri_folder, "--folds", root / "folds.json", "--out",
          root / "seg-seed1", "--", *SEG_FLAGS, "--seed", "1"])
    made = _run(["ensemble", root / "seg", root / "seg-seed1", "--out", root / "seg-2seeds"])
    return root / "seg-2seeds", made


def test_an_ensemble_folder_is_scored_like_a_run_of_averaged_folds(runs, ensemble, mri_folder):
    root = runs["root"]
    folder, (code, output) = ensemble
    assert code == 0, output
    assert "each the mean of 2 segmenters" in output
    settings = json.loads((folder / "crossval.json").read_text())
    assert settings["ensemble_of"] == [str(root / "seg"), str(root / "seg-seed1")]
    assert settings["member_train_args"] == [list(SEG_FLAGS), [*SEG_FLAGS, "--seed", "1"]]
    assert settings["model"] == "segmenter" and settings["config"]["epochs"] == 2
    assert load_folds(folder / "folds.json") == load_folds(root / "folds.json")
    table = rows_by_patient(json.loads((folder / "patients.json").read_text()))
    for fold in (1, 2):
        model, spec = load_model(folder / f"fold-{fold}" / "last.npz")
        assert spec["arch"] == "segmentation_ensemble"
        members = [load_model(run / f"fold-{fold}" / "last.npz") for run in
                   (root / "seg", root / "seg-seed1")]
        images = np.random.default_rng(fold).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
        expected = np.mean([segment(*member, images) for member in members], axis=0)
        np.testing.assert_allclose(segment(model, spec, images), expected, atol=1e-6)
        for name, scores in held_out_evaluation(folder, fold, mri_folder)["segmenter"][
                "per_patient"].items():
            assert table[name]["dice"] == pytest.approx(scores["dice"], abs=1e-12)
    # it is taken like a run by the other steps
    assert _run(["score", folder, root / "cls", "--out", root / "ensemble-pipeline"])[0] == 0


def test_an_ensemble_refuses_runs_that_do_not_fit(runs, ensemble, tmp_path, capfd):
    root = runs["root"]
    code, _, err = tinynet_crossval(capfd, "ensemble", root / "seg", "--out", tmp_path / "e")
    assert code == 2 and "an ensemble needs two or more runs" in err
    code, _, err = tinynet_crossval(capfd, "ensemble", root / "seg", root / "seg", "--out",
                                    tmp_path / "e")
    assert code == 2 and "a run is given twice" in err
    code, _, err = tinynet_crossval(capfd, "ensemble", root / "seg", root / "cls", "--out",
                                    tmp_path / "e")
    assert code == 2 and "is a classifier run" in err and "of one model" in err
    code, _, err = tinynet_crossval(capfd, "ensemble", ensemble[0], root / "seg", "--out",
                                    tmp_path / "e")
    assert code == 2 and "is an ensemble already; give the runs it was made of" in err
    unfinished = tmp_path / "seg-unfinished"
    shutil.copytree(root / "seg-seed1", unfinished)
    (unfinished / "fold-1" / "best.npz").unlink()
    code, _, err = tinynet_crossval(capfd, "ensemble", root / "seg", unfinished, "--out",
                                    tmp_path / "e")
    assert code == 2 and "fold(s) 1 have not finished their 2 epochs" in err
    other = tmp_path / "seg-other-folds"
    shutil.copytree(root / "seg-seed1", other)
    used = load_folds(root / "folds.json")
    others = (kfold_patients(used["patients"], 2, seed) for seed in range(2, 20))
    save_folds(other / "folds.json", next(f for f in others if f["folds"] != used["folds"]))
    code, _, err = tinynet_crossval(capfd, "ensemble", root / "seg", other, "--out",
                                    tmp_path / "e")
    assert code == 2 and "was trained on other folds" in err
    assert not (tmp_path / "e").exists()
    code, _, err = tinynet_crossval(capfd, "ensemble", root / "seg", root / "seg-seed1",
                                    "--out", root / "seg")
    assert code == 2 and "is one of the runs" in err
    (tmp_path / "link").symlink_to(root / "seg")
    code, _, err = tinynet_crossval(capfd, "ensemble", root / "seg", tmp_path / "link",
                                    "--out", tmp_path / "e")
    assert code == 2 and "a run is given twice" in err
    stamp = (root / "cls" / "fold-1" / "last.npz").stat().st_mtime_ns
    code, _, err = tinynet_crossval(capfd, "ensemble", root / "seg", root / "seg-seed1",
                                    "--out", root / "cls")
    assert code == 2 and "holds a cross-validation run, not an ensemble" in err
    assert (root / "cls" / "fold-1" / "last.npz").stat().st_mtime_ns == stamp
    assert not (tmp_path / "e").exists()


def test_a_member_of_another_network_is_named_before_anything_is_written(runs, ensemble,
                                                                         mri_folder, tmp_path,
                                                                         capfd):
    root = runs["root"]
    wider = tmp_path / "seg-wider"
    shutil.copytree(root / "seg-seed1", wider)
    # fold 2's best.npz of another network: found before fold 1 is written
    from mrihelpers import save_segmenter
    save_segmenter(wider / "fold-2" / "best.npz", arch_args={"base": 8, "depth": 2})
    code, _, err = tinynet_crossval(capfd, "ensemble", root / "seg", wider, "--out",
                                    tmp_path / "e")
    assert code == 2 and "fold-2/best.npz differs from" in err and "arch_args" in err
    assert not (tmp_path / "e").exists()


def test_an_ensemble_is_tuned_and_compared_like_a_run(runs, ensemble, capfd):
    root = runs["root"]
    code, out, err = tinynet_crossval(capfd, "tune", root / "cls", ensemble[0], "--out",
                                      root / "ensemble-tuned", "--grid", "seg_threshold=0.3,0.5")
    assert code == 0, err
    code, out, err = tinynet_crossval(capfd, "compare", root / "seg", ensemble[0])
    assert code == 0 and "5 patients" in out, err


def test_training_into_an_ensemble_folder_is_refused(ensemble, mri_folder, capfd):
    code, _, err = tinynet_crossval(capfd, "train", "segmenter", mri_folder, "--out",
                                    ensemble[0], "--", *SEG_FLAGS)
    assert code == 2 and "holds an ensemble (`crossval ensemble`)" in err
    code, _, err = tinynet_crossval(capfd, "train", "segmenter", mri_folder, "--out",
                                    ensemble[0].parent / "seg-from-ensemble", "--folds",
                                    ensemble[0] / "folds.json", "--weights-from", ensemble[0],
                                    "--", *SEG_FLAGS)
    assert code == 2 and "is an ensemble (`crossval ensemble`), which cannot be trained on" \
        in err


# ---------------------------------------------------------------------------
# Bad arguments: one line, exit code 2, before any training
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("extra, message", [
    (["--", "--out", "x"], "--out is set by the cross-validation for every fold"),
    (["--", "--split", "s.json"], "--split is set by the cross-validation for every fold"),
    (["--", "--bogus"], "examples/train_resunet.py: error: unrecognized arguments: --bogus"),
    (["--launcher", "no-such-launcher -n 2"], "--launcher 'no-such-launcher -n 2': no program"),
    (["--fold", "3", "--k", "2"], "--fold 3: there are 2 folds"),
    (["--k", "9"], "n_splits (k) must be a whole number in [2, 5] for 5 patients, got 9"),
])
def test_bad_training_arguments(mri_folder, tmp_path, capfd, extra, message):
    code, _, err = tinynet_crossval(capfd, "train", "segmenter", mri_folder, "--out",
                                    tmp_path / "cv", *extra)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.glob("cv/fold-*"))


def test_a_run_again_must_keep_its_flags_and_folds(runs, mri_folder, capfd):
    seg = runs["root"] / "seg"
    code, _, err = tinynet_crossval(capfd, "train", "segmenter", mri_folder, "--out", seg, "--",
                                    *SEG_FLAGS, "--lr", "0.01")
    assert code == 2 and "was trained with other flags: --lr 0.01 (it used 0.001)" in err
    code, _, err = tinynet_crossval(capfd, "train", "segmenter", mri_folder, "--out", seg,
                                    "--k", "3", "--", *SEG_FLAGS)
    assert code == 2 and "--k 3, but the folds" in err and "were made with --k 2" in err
    code, _, err = tinynet_crossval(capfd, "train", "classifier", mri_folder, "--out", seg,
                                    "--", *CLS_FLAGS)
    assert code == 2 and "holds a cross-validation of another model" in err


def test_a_flag_newer_than_the_run_must_keep_its_default(runs, mri_folder, tmp_path, capfd):
    """A run started before a flag existed trained with its default: only that continues it."""
    old = tmp_path / "old-seg"
    shutil.copytree(runs["root"] / "seg", old)
    settings = json.loads((old / "crossval.json").read_text())
    del settings["config"]["tversky_alpha"]          # as crossval.json was written before it
    (old / "crossval.json").write_text(json.dumps(settings))
    code, _, err = tinynet_crossval(capfd, "train", "segmenter", mri_folder, "--out", old, "--",
                                    *SEG_FLAGS, "--tversky-alpha", "0.9")
    assert code == 2 and "--tversky-alpha 0.9 (the run was started before this flag " \
        "existed, i.e. with 0.7)" in err
    code, out, err = tinynet_crossval(capfd, "train", "segmenter", mri_folder, "--out", old,
                                      "--", *SEG_FLAGS)
    assert code == 0 and "finished (2 epochs), skipped" in out, err


def test_a_corrupt_or_mismatched_fold_file_is_one_line_naming_it(mri_folder, tmp_path, capfd):
    broken = tmp_path / "broken.json"
    broken.write_text('{"folds": [')
    code, _, err = tinynet_crossval(capfd, "train", "segmenter", mri_folder, "--folds", broken,
                                    "--out", tmp_path / "cv", "--", *SEG_FLAGS)
    assert code == 2 and f"{broken}: not a JSON fold file" in err
    other = tmp_path / "other.json"
    save_folds(other, kfold_patients(["TCGA_AA_0001", "TCGA_BB_0002"], n_splits=2))
    code, _, err = tinynet_crossval(capfd, "train", "segmenter", mri_folder, "--folds", other,
                                    "--out", tmp_path / "cv", "--", *SEG_FLAGS)
    assert code == 2 and f"{other}: the folds were made for other patients" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_only_train_takes_training_flags(capfd, tmp_path):
    code, _, err = tinynet_crossval(capfd, "folds", "--out", tmp_path / "f.json", "--",
                                    "--epochs", "2")
    assert code == 2 and "only `crossval train` takes training flags after --" in err


# ---------------------------------------------------------------------------
# Pieces: the folds step, the command lines, one row of the table
# ---------------------------------------------------------------------------

def test_the_folds_step_writes_the_file_training_reads(mri_folder, tmp_path, capfd):
    code, out, _ = tinynet_crossval(capfd, "folds", mri_folder, "--k", "3", "--seed", "5",
                                    "--out", tmp_path / "folds.json")
    assert code == 0 and "5 patients in 3 folds (seed 5)" in out
    folds = load_folds(tmp_path / "folds.json", patients=open_dataset(mri_folder).patients)
    assert folds == kfold_patients(open_dataset(mri_folder).patients, n_splits=3, seed=5)


def test_fold_commands_pass_the_flags_on_and_resume_from_last_npz(mri_folder, tmp_path):
    settings = crossval.prepare(tmp_path / "cv", "segmenter", str(mri_folder), SEG_FLAGS,
                                n_splits=2)
    words = crossval.fold_command(settings, tmp_path / "cv", 2, ["mpiexec", "-n", "2"])
    fold = str(tmp_path / "cv" / "fold-2")
    assert words[:4] == ["mpiexec", "-n", "2", sys.executable]
    assert words[4].endswith("examples/train_resunet.py")
    assert words[5:] == ["--data", str(mri_folder), "--out", fold, "--split",
                         f"{fold}/split.json", *SEG_FLAGS]
    (tmp_path / "cv" / "fold-2").mkdir()
    (tmp_path / "cv" / "fold-2" / "last.npz").write_bytes(b"")
    assert crossval.fold_command(settings, tmp_path / "cv", 2)[-len(SEG_FLAGS) - 2:] == \
        ["--resume", f"{fold}/last.npz", *SEG_FLAGS]


def test_a_patient_row_counts_slices_and_scores_the_volume():
    truth = np.zeros((4, 8, 8), np.uint8)
    truth[1, 2:4, 2:4] = 1                       # tumour on slices 1 and 2
    truth[2, 5:7, 5:7] = 1
    masks = np.zeros_like(truth)
    masks[1, 2:4, 2:5] = 1                       # found on slice 1, a false one on slice 3
    masks[3, 0, 0] = 1
    positive = masks.reshape(4, -1).any(axis=1)
    predictions = SlicePredictions(probability=positive.astype(float), positive=positive,
                                   masks=masks, area=None, classifier_probability=None,
                                   segmenter_masks=None)
    row = crossval.patient_row("TCGA_DU_0001", 2, truth, predictions)
    expected = segmentation_metrics(masks, truth, ["TCGA_DU_0001"] * 4)["per_patient"]
    assert row["dice"] == expected["TCGA_DU_0001"]["dice"]
    assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (1, 1, 1, 1)
    assert (row["accuracy"], row["sensitivity"], row["specificity"]) == (0.5, 0.5, 0.5)
    assert row["institution"] == "DU" and row["fold"] == 2 and row["tumour_pixels"] == 8
    classified = SlicePredictions(probability=np.zeros(2), positive=np.zeros(2, bool),
                                  masks=None, area=None, classifier_probability=np.zeros(2),
                                  segmenter_masks=None)
    healthy = crossval.patient_row("P", 1, np.zeros((2, 4, 4), np.uint8), classified)
    assert healthy["sensitivity"] is None and healthy["specificity"] == 1.0
    assert healthy["dice"] is None                   # no segmenter, no Dice


# ---------------------------------------------------------------------------
# The paired comparison
# ---------------------------------------------------------------------------

def write_table(path, scores, key="dice"):
    """A per-patient table with ``scores`` {patient: value} in column ``key``."""
    rows = [{"patient": p, "fold": 1, key: v} for p, v in scores.items()]
    path.write_text(json.dumps({"patients": rows}))
    return path


A = {f"TCGA_AA_{k:04d}": v for k, v in enumerate([0.81, 0.62, 0.90, 0.45, 0.77, 0.0, 0.93, 0.70])}
B = {f"TCGA_AA_{k:04d}": v for k, v in enumerate([0.85, 0.60, 0.95, 0.55, 0.77, 0.1, 0.90, 0.78])}


def test_the_comparison_is_scipys_wilcoxon_on_the_differences(tmp_path):
    result = crossval.paired_comparison(crossval.load_table(write_table(tmp_path / "a.json", A)),
                                        crossval.load_table(write_table(tmp_path / "b.json", B)))
    differences = np.array(list(B.values())) - np.array(list(A.values()))
    expected = stats.wilcoxon(np.array(list(B.values())), np.array(list(A.values())))
    assert result["wilcoxon"]["statistic"] == pytest.approx(expected.statistic)
    assert result["wilcoxon"]["pvalue"] == pytest.approx(expected.pvalue)
    assert result["mean_difference"] == pytest.approx(differences.mean())
    assert result["median_difference"] == pytest.approx(np.median(differences))
    assert (result["b_higher"], result["b_lower"], result["equal"]) == (5, 2, 1)
    assert [p["difference"] for p in result["pairs"]] == pytest.approx(differences.tolist())


def test_ties_and_all_zero_differences(tmp_path):
    ties = {p: v + (0.05 if k % 2 else -0.05) for k, (p, v) in enumerate(A.items())}
    result = crossval.paired_comparison(crossval.load_table(write_table(tmp_path / "a.json", A)),
                                        crossval.load_table(write_table(tmp_path / "t.json", ties)))
    expected = stats.wilcoxon(np.array(list(ties.values())) - np.array(list(A.values())))
    assert result["wilcoxon"]["pvalue"] == pytest.approx(expected.pvalue)
    same = crossval.paired_comparison(crossval.load_table(tmp_path / "a.json"),
                                      crossval.load_table(tmp_path / "a.json"))
    assert same["wilcoxon"]["pvalue"] == 1.0 and same["wilcoxon"]["statistic"] is None
    assert same["mean_difference"] == 0.0 and same["equal"] == len(A)
    assert "every difference is zero" in crossval.format_comparison(same)


def test_the_compare_step_prints_a_table_and_writes_json(tmp_path, capfd):
    a, b = write_table(tmp_path / "a.json", A), write_table(tmp_path / "b.json", B)
    code, out, err = tinynet_crossval(capfd, "compare", a, b, "--json", tmp_path / "c.json")
    assert code == 0, err
    assert "Paired comparison of dice per patient (8 patients)" in out
    assert "Wilcoxon signed-rank" in out and "B higher for 5, lower for 2, equal for 1" in out
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["n"] == 8 and len(saved["pairs"]) == 8 and saved["metric"] == "dice"


def test_mismatched_patient_sets_are_refused_unless_common_only(tmp_path, capfd):
    a = write_table(tmp_path / "a.json", A)
    b = write_table(tmp_path / "b.json", {**dict(list(B.items())[1:]), "TCGA_ZZ_0009": 0.5})
    code, _, err = tinynet_crossval(capfd, "compare", a, b)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "the two tables score different patients: 1 only in" in err
    assert "(e.g. TCGA_AA_0000); 1 only in" in err and "--common-only" in err
    code, out, _ = tinynet_crossval(capfd, "compare", a, b, "--common-only")
    assert code == 0 and "(7 patients)" in out and "not in both tables" in out


def test_undefined_values_are_left_out_and_a_table_without_the_metric_is_refused(tmp_path):
    a = crossval.load_table(write_table(tmp_path / "a.json", {**A, "TCGA_AA_0000": None},
                                        key="sensitivity"))
    b = crossval.load_table(write_table(tmp_path / "b.json", B, key="sensitivity"))
    result = crossval.paired_comparison(a, b, metric="sensitivity")
    assert result["n"] == 7 and result["skipped"] == ["TCGA_AA_0000"]
    with pytest.raises(UsageError, match="a classifier's table has no dice"):
        crossval.paired_comparison(a, b, metric="dice")
    (tmp_path / "bad.json").write_text('{"rows": []}')
    with pytest.raises(UsageError, match="bad.json: not a per-patient table"):
        crossval.load_table(tmp_path / "bad.json")


# ---------------------------------------------------------------------------
# The command: data-parallel folds, its help, the example script
# ---------------------------------------------------------------------------

def test_folds_train_under_mpiexec(mri_folder, tmp_path):
    mpiexec = mpiexec_or_skip()
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "tinynet", "crossval", "train", "segmenter", str(mri_folder),
         "--k", "2", "--out", str(tmp_path / "cv"), "--launcher", f"{mpiexec} -n 2", "--",
         "--size", "32", "--batch-size", "4", "--base", "4", "--epochs", "1", "--prefetch", "1"],
        cwd=REPO, env=job_environment(), text=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    job = finish_job(process, started, timeout=300)
    assert job.returncode == 0, job
    assert f"{mpiexec} -n 2 " in job.output
    for fold in (1, 2):
        log = [json.loads(line) for line in
               (tmp_path / "cv" / f"fold-{fold}" / "log.jsonl").read_text().splitlines()]
        assert log[0]["ranks"] == 2 and log[-1]["event"] == "finished"
    assert len(json.loads((tmp_path / "cv" / "patients.json").read_text())["patients"]) == 5


def test_help_and_the_example_script(capfd):
    code, out, _ = tinynet_crossval(capfd, "--help")
    assert code == 0 and out == command.build_parser(prog="tinynet crossval").format_help()
    for step in ("folds", "train", "score", "compare", "ensemble"):
        assert step in out
    script = commandhelpers.load_script("crossval")
    assert script.main is command.main
    assert "tinynet/mri/commands/crossval.py" in script.__doc__
