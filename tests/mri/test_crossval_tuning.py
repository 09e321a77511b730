"""Choosing the pipeline's settings by nested cross-validation (tinynet/mri/crossval/tuning.py),
the slice-calling rules of ``TwoStagePredictor`` (``rule=``, tinynet/mri/inference.py) and the
``--rule`` flag, and ``tinynet crossval tune`` (tinynet/mri/commands/crossval.py).

* On a tiny cross-validation (the 5 phantom patients x 6 slices at 32x32 of
  test_train_scripts.py's ``mri_folder``, 2 folds, a segmenter and a classifier trained as
  test_crossval.py trains them, made once for the module): the per-slice counts of
  ``score_settings`` give, for every rule with min_component, min_area and non-default
  thresholds, exactly the per-patient Dice and slice counts of ``score_crossval``, which
  runs the models again through ``TwoStagePredictor``;
* ``tune_pipeline`` on hand-made predictions whose best settings are known: fold k's
  settings are chosen on the other folds only, ties go to the slice accuracy and then to
  the earlier grid entry, a segmenter alone tries only the rule "segmenter";
* the rules on stub networks (mrihelpers.py) whose masks and calls are known;
* the command: its files, the reuse of predictions.npz, its table in ``crossval compare``,
  bad arguments.
"""
import json
import os
import re
import shutil

import numpy as np
import pytest

from mrihelpers import IDENTITY, BrightSegmenter, MeanClassifier, bright_segmenter
from test_crossval import CLS_FLAGS, SEG_FLAGS, rows_by_patient, tinynet_crossval
from test_train_scripts import mri_folder   # noqa: F401  (a fixture: the tiny kaggle_3m folder)
from tinynet.mri import crossval, inference
from tinynet.mri.checkpoint import load_model, model_spec
from tinynet.mri.cli import ArgumentParser, add_threshold_arguments
from tinynet.mri.commands import crossval as command
from tinynet.mri.commands import evaluate, predict
from tinynet.mri.crossval import tuning
from tinynet.mri.data import institution_of, load_folds, open_dataset
from tinynet.mri.inference import RULES, TwoStagePredictor, remove_small_components
from tinynet.mri.patient_metrics import segmentation_metrics


# ---------------------------------------------------------------------------
# The tiny cross-validation, made once for the module
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cv(mri_folder, tmp_path_factory):   # noqa: F811
    """2 folds of the tiny folder; a segmenter run and a classifier run on them."""
    root = tmp_path_factory.mktemp("tuning")
    folds = root / "folds.json"
    assert command.main(["folds", str(mri_folder), "--k", "2", "--seed", "1", "--out",
                         str(folds)]) == 0
    for model, folder, flags in (("segmenter", "seg", SEG_FLAGS),
                                 ("classifier", "cls", CLS_FLAGS)):
        code = command.main(["train", model, str(mri_folder), "--folds", str(folds), "--out",
                             str(root / folder), "--", *flags])
        assert code == 0
    return {"root": root, "seg": root / "seg", "cls": root / "cls", "data": mri_folder,
            "folds": load_folds(folds)}


@pytest.fixture(scope="module")
def predictions(cv):
    return crossval.collect_predictions([cv["seg"], cv["cls"]])


def patient_index(predictions):
    patients, index = np.unique(predictions["patient"], return_inverse=True)
    return patients, index


def between(values, rank):
    """A cut halfway between the ``rank``-th and the next of the distinct sorted values."""
    distinct = np.unique(values).astype(np.float64)
    return float((distinct[rank] + distinct[rank + 1]) / 2)


@pytest.fixture(scope="module")
def setting(predictions):
    """Non-default settings that each change something on these predictions."""
    true = predictions["true"].astype(bool)
    pixels = predictions["pixel_probability"]
    # Half of the true tumour pixels found: masks overlap the truth, Dice is neither 0 nor 1.
    seg_threshold = between(pixels[true], len(np.unique(pixels[true])) // 2)
    plain = tuning.slice_counts(predictions, seg_threshold, 0)
    min_component = next(m for m in (2, 3, 4, 5, 8, 12)
                         if (tuning.slice_counts(predictions, seg_threshold, m)[1]
                             != plain[1]).any())
    areas = tuning.slice_counts(predictions, seg_threshold, min_component)[1]
    min_area = int(areas[areas > 0].min()) + 1        # clears at least one mask
    cls_threshold = between(predictions["cls_probability"], 14)     # half the 30 slices
    return {"seg_threshold": seg_threshold, "min_component": min_component,
            "min_area": min_area, "cls_threshold": cls_threshold}


# ---------------------------------------------------------------------------
# collect_predictions, save/load
# ---------------------------------------------------------------------------

def test_collect_predictions_has_every_held_out_slice_once(cv, predictions):
    fold_of = {p: entry["fold"] for entry in cv["folds"]["folds"] for p in entry["val"]}
    assert sorted(set(predictions["patient"])) == sorted(fold_of)
    n = 5 * 6
    assert predictions["patient"].shape == (n,) and predictions["fold"].shape == (n,)
    assert predictions["true"].shape == (n, 32, 32) and predictions["true"].dtype == np.uint8
    assert predictions["pixel_probability"].shape == (n, 32, 32)
    assert predictions["pixel_probability"].dtype == np.float32
    assert predictions["cls_probability"].dtype == np.float64
    assert ((predictions["cls_probability"] >= 0) & (predictions["cls_probability"] <= 1)).all()
    dataset = open_dataset(cv["data"])
    for patient, fold in fold_of.items():
        mine = predictions["patient"] == patient
        assert set(predictions["fold"][mine].tolist()) == {fold}
        np.testing.assert_array_equal(predictions["true"][mine],
                                      dataset.subset([patient]).arrays()[1])


def test_collected_probabilities_are_the_predictors_bit_for_bit(cv, predictions):
    """Each patient's probabilities are those fold k's models give through
    TwoStagePredictor (what score and predict threshold), not a rounded copy."""
    dataset = open_dataset(cv["data"])
    for entry in cv["folds"]["folds"]:
        fold = entry["fold"]
        classifier = load_model(cv["cls"] / f"fold-{fold}" / "last.npz", task="classification")
        segmenter = load_model(cv["seg"] / f"fold-{fold}" / "last.npz", task="segmentation")
        predictor = TwoStagePredictor(classifier, segmenter, segment_all=True)
        for patient in entry["val"]:
            result = predictor(dataset.subset([patient]).arrays()[0])
            mine = predictions["patient"] == patient
            np.testing.assert_array_equal(predictions["pixel_probability"][mine],
                                          result.pixel_probabilities)
            np.testing.assert_array_equal(predictions["cls_probability"][mine],
                                          result.classifier_probability)


def test_a_segmenter_run_alone_has_nan_classifier_probabilities(cv, predictions):
    alone = crossval.collect_predictions([cv["seg"]])
    assert np.isnan(alone["cls_probability"]).all()
    np.testing.assert_array_equal(alone["patient"], predictions["patient"])
    # The segmenter sees every slice either way: the same probabilities, bit for bit.
    np.testing.assert_array_equal(alone["pixel_probability"], predictions["pixel_probability"])
    with pytest.raises(ValueError, match="tuning needs a segmenter run"):
        crossval.collect_predictions([cv["cls"]])


def test_predictions_round_trip_through_npz(predictions, tmp_path):
    path = tmp_path / "predictions.npz"
    crossval.save_predictions(predictions, path)
    back = crossval.load_predictions(path)
    assert sorted(back) == sorted(predictions)
    for key, value in predictions.items():
        assert back[key].dtype == value.dtype, key
        np.testing.assert_array_equal(back[key], value)


# ---------------------------------------------------------------------------
# score_settings = score_crossval, for every rule
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pipeline_tables(cv, setting):
    """score_crossval of the two runs, once per rule, at ``setting``."""
    return {rule: crossval.score_crossval([cv["seg"], cv["cls"]], rule=rule, **setting)
            for rule in RULES}


def counted(predictions, setting, rule):
    patients, index = patient_index(predictions)
    counts = tuning.slice_counts(predictions, setting["seg_threshold"],
                                 setting["min_component"])
    dice, (tp, fp, tn, fn, pred) = tuning.score_settings(
        predictions, counts, index, len(patients), rule,
        None if rule == "segmenter" else setting["cls_threshold"], setting["min_area"])
    return {patient: {"dice": dice[k], "tp": tp[k], "fp": fp[k], "tn": tn[k], "fn": fn[k],
                      "predicted_pixels": pred[k]} for k, patient in enumerate(patients)}


@pytest.mark.parametrize("rule", RULES)
def test_score_settings_is_what_score_crossval_gives(predictions, setting, pipeline_tables,
                                                     rule):
    table = pipeline_tables[rule]
    assert all(s["rule"] == rule and s["min_area"] == setting["min_area"]
               for s in table["folds"].values())
    rows = rows_by_patient(table)
    mine = counted(predictions, setting, rule)
    assert sorted(mine) == sorted(rows)
    for patient, expected in rows.items():
        for key in ("tp", "fp", "tn", "fn", "predicted_pixels"):
            assert mine[patient][key] == expected[key], (patient, key)
        assert mine[patient]["dice"] == pytest.approx(expected["dice"], abs=1e-12), patient


def test_the_setting_is_not_a_degenerate_one(pipeline_tables):
    """The equivalence above means something: the rules call different slices, and the
    masks overlap the truth without matching it."""
    calls = {rule: tuple((r["tp"], r["fp"], r["tn"], r["fn"]) for r in table["patients"])
             for rule, table in pipeline_tables.items()}
    assert len(set(calls.values())) >= 3, calls
    dice = [r["dice"] for table in pipeline_tables.values() for r in table["patients"]]
    assert any(0 < d < 1 for d in dice), dice


def test_a_segmenter_run_alone_scores_as_rule_segmenter(cv, predictions, setting):
    alone = crossval.collect_predictions([cv["seg"]])
    table = crossval.score_crossval([cv["seg"]], seg_threshold=setting["seg_threshold"],
                                    min_area=setting["min_area"],
                                    min_component=setting["min_component"])
    mine = counted(alone, setting, "segmenter")
    for patient, expected in rows_by_patient(table).items():
        for key in ("tp", "fp", "tn", "fn", "predicted_pixels"):
            assert mine[patient][key] == expected[key], (patient, key)
        assert mine[patient]["dice"] == pytest.approx(expected["dice"], abs=1e-12)


def masks_slice_by_slice(predictions, rule, seg_threshold, min_component, cls_threshold,
                         min_area):
    """(final masks, calls) built one slice at a time as TwoStagePredictor builds them."""
    masks, calls = [], []
    for p, c in zip(predictions["pixel_probability"], predictions["cls_probability"]):
        mask = (p >= seg_threshold).astype(np.uint8)
        if min_component:
            mask = remove_small_components(mask, min_component)
        if mask.sum() < min_area:
            mask[:] = 0
        by_segmenter = mask.sum() >= max(min_area, 1)
        by_classifier = rule != "segmenter" and c >= cls_threshold
        call = {"classifier": by_classifier, "segmenter": by_segmenter,
                "both": by_classifier and by_segmenter,
                "either": by_classifier or by_segmenter}[rule]
        masks.append(mask if call else np.zeros_like(mask))
        calls.append(call)
    return np.stack(masks), np.array(calls)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("seg_threshold, min_component, cls_threshold, min_area", [
    (0.5, 0, 0.5, 0), (0.35, 3, 0.3, 4), (0.7, 2, 0.6, 9),
    (0.9, 0, 0.5, 0)])      # a cut that leaves most slices without tumour with no mask
def test_score_settings_on_random_predictions(rule, seg_threshold, min_component,
                                              cls_threshold, min_area):
    """The per-patient numbers from counts = segmentation_metrics and the confusion counts
    of masks made slice by slice."""
    predictions = random_predictions(np.random.default_rng(7), folds=2, per_fold=3)
    patients, index = patient_index(predictions)
    counts = tuning.slice_counts(predictions, seg_threshold, min_component)
    dice, (tp, fp, tn, fn, pred) = tuning.score_settings(
        predictions, counts, index, len(patients), rule, cls_threshold, min_area)
    masks, calls = masks_slice_by_slice(predictions, rule, seg_threshold, min_component,
                                        cls_threshold, min_area)
    expected = segmentation_metrics(masks, predictions["true"], predictions["patient"])
    has_tumour = predictions["true"].reshape(len(calls), -1).any(axis=1)
    for k, patient in enumerate(patients):
        mine = predictions["patient"] == patient
        assert dice[k] == pytest.approx(expected["per_patient"][patient]["dice"], abs=1e-12)
        assert pred[k] == expected["per_patient"][patient]["pred_pixels"]
        assert (tp[k], fp[k], tn[k], fn[k]) == (
            (calls & has_tumour)[mine].sum(), (calls & ~has_tumour)[mine].sum(),
            (~calls & ~has_tumour)[mine].sum(), (~calls & has_tumour)[mine].sum())


def random_predictions(rng, folds=3, per_fold=3, slices=4, side=8):
    """Random predictions of ``folds`` x ``per_fold`` patients: blobs of truth, noisy
    probabilities that follow them."""
    n = folds * per_fold * slices
    true = np.zeros((n, side, side), np.uint8)
    for i in range(n):
        if rng.random() < 0.6:
            r, c = rng.integers(0, side - 3, 2)
            h, w = rng.integers(1, 4, 2)
            true[i, r:r + h, c:c + w] = 1
    pixels = np.clip(0.5 * true + rng.random(true.shape) * 0.6, 0, 1).astype(np.float32)
    cls = np.clip(0.4 * true.reshape(n, -1).any(axis=1) + rng.random(n) * 0.6, 0, 1)
    patient = np.repeat([f"TCGA_{'ABC'[f]}{'XYZ'[k]}_{f}{k:03d}" for f in range(folds)
                         for k in range(per_fold)], slices)
    fold = np.repeat(np.arange(1, folds + 1), per_fold * slices)
    return {"patient": patient, "fold": fold, "true": true, "cls_probability": cls,
            "pixel_probability": pixels}


# ---------------------------------------------------------------------------
# tune_pipeline on hand-made predictions
# ---------------------------------------------------------------------------

SIDE = 6
TUMOUR = (slice(0, 3), slice(0, 3))          # 9 pixels
ELSEWHERE = (slice(4, 6), slice(4, 6))       # 4 pixels

#: Two settings that differ only by the classifier's cut: LOW (0.3) and HIGH (0.7).
CUTS = {"seg_threshold": [0.5], "min_component": [0], "rule": ["classifier"],
        "cls_threshold": [0.3, 0.7], "min_area": [0]}


def a_slice(truth, found, cls):
    """(true mask, pixel probabilities, classifier probability) of one 6x6 slice: ``truth``
    and ``found`` are lists of regions (TUMOUR, ELSEWHERE)."""
    true = np.zeros((SIDE, SIDE), np.uint8)
    pixels = np.zeros((SIDE, SIDE), np.float32)
    for region in truth:
        true[region] = 1
    for region in found:
        pixels[region] = 0.9
    return true, pixels, cls


#: Patients of known scores (Dice with cut 0.3 / cut 0.7):
KINDS = {
    # its tumour slice has classifier probability 0.5: found at 0.3 (Dice 1), missed at 0.7 (0)
    "low": [a_slice([TUMOUR], [TUMOUR], 0.5), a_slice([], [], 0.1)],
    # a false blob on a slice of probability 0.5: kept at 0.3 (Dice 18/22), gone at 0.7 (1)
    "high": [a_slice([TUMOUR], [TUMOUR], 0.9), a_slice([], [ELSEWHERE], 0.5)],
    # a slice of probability 0.5 without tumour or mask: Dice 1 either way, but at 0.3 it
    # is a false positive slice (accuracy 1/2 against 1)
    "quiet": [a_slice([], [], 0.5), a_slice([TUMOUR], [TUMOUR], 0.9)],
    # no tumour, nothing found: Dice 1 (empty truth, empty prediction)
    "healthy": [a_slice([], [], 0.1), a_slice([], [], 0.2)],
}


def hand_made(patients):
    """Predictions of ``patients``: [(name, fold, kind)]."""
    parts = {"patient": [], "fold": [], "true": [], "cls_probability": [],
             "pixel_probability": []}
    for name, fold, kind in patients:
        for true, pixels, cls in KINDS[kind]:
            parts["patient"].append(name)
            parts["fold"].append(fold)
            parts["true"].append(true)
            parts["pixel_probability"].append(pixels)
            parts["cls_probability"].append(cls)
    return {"patient": np.array(parts["patient"]), "fold": np.array(parts["fold"]),
            "true": np.stack(parts["true"]),
            "cls_probability": np.array(parts["cls_probability"], np.float64),
            "pixel_probability": np.stack(parts["pixel_probability"])}


def name(fold, k, institution="AA"):
    return f"TCGA_{institution}_{fold}{k:03d}"


#: Fold 1: two patients who want the cut 0.3; folds 2 and 3: 2 and 5 who want 0.7.
#: Mean Dice of cut 0.3 = (n_low + n_high * 18/22) / n, of cut 0.7 = n_high / n.
NESTED = ([(name(1, k, "CS"), 1, "low") for k in range(2)]
          + [(name(2, k, "DU"), 2, "high") for k in range(2)]
          + [(name(3, k, "EZ"), 3, "high") for k in range(5)])


def test_each_fold_gets_the_settings_best_on_the_other_folds():
    result = crossval.tune_pipeline(hand_made(NESTED), grid=CUTS)
    chosen = {fold: s["cls_threshold"] for fold, s in result["chosen_per_fold"].items()}
    # Fold 1's own patients want 0.3, but folds 2 and 3 (all "high") want 0.7; folds 2 and
    # 3 want 0.7 themselves but get 0.3, since the low patients of fold 1 outweigh the rest.
    assert chosen == {1: 0.7, 2: 0.3, 3: 0.3}
    assert result["chosen_on_all_folds"]["cls_threshold"] == 0.3       # 2 > 7 * 4/22
    assert result["n_splits"] == 3 and result["model"] == "pipeline"
    high = 18 / 22
    objectives = {fold: s["objective_on_other_folds"]
                  for fold, s in result["chosen_per_fold"].items()}
    assert objectives[1] == {"mean_dice": 1.0, "slice_accuracy": 1.0}
    assert objectives[2]["mean_dice"] == pytest.approx((2 + 5 * high) / 7, abs=1e-12)
    assert objectives[2]["slice_accuracy"] == pytest.approx(9 / 14, abs=1e-12)
    assert objectives[3]["mean_dice"] == pytest.approx((2 + 2 * high) / 4, abs=1e-12)
    everyone = result["chosen_on_all_folds"]
    assert everyone["objective_on_all_folds"]["mean_dice"] == \
        pytest.approx((2 + 7 * high) / 9, abs=1e-12)
    assert {key: everyone[key] for key in ("seg_threshold", "min_component", "rule",
                                           "min_area")} == \
        {"seg_threshold": 0.5, "min_component": 0, "rule": "classifier", "min_area": 0}

    # Each patient is scored with its fold's choice: fold 1's "low" patients miss their
    # tumour (cut 0.7), the "high" ones of folds 2 and 3 keep their false blob (cut 0.3).
    rows = rows_by_patient(result)
    assert sorted(rows) == sorted(p for p, _, _ in NESTED)
    assert [row["patient"] for row in result["patients"]] == sorted(rows)
    for patient, fold, kind in NESTED:
        row = rows[patient]
        assert list(row) == crossval.COLUMNS
        assert row["fold"] == fold and row["institution"] == institution_of(patient)
        assert (row["slices"], row["tumour_slices"], row["tumour_pixels"]) == (2, 1, 9)
        if kind == "low":
            assert row["dice"] == 0.0 and row["predicted_pixels"] == 0
            assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (0, 0, 1, 1)
            assert (row["sensitivity"], row["specificity"]) == (0.0, 1.0)
        else:
            assert row["dice"] == pytest.approx(high, abs=1e-12)
            assert row["predicted_pixels"] == 13
            assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (1, 1, 0, 0)
            assert row["accuracy"] == 0.5
    assert result["summary"] == crossval.summarize(result["patients"])
    assert result["grid"] == {**crossval.DEFAULT_GRID, **CUTS}


def test_the_grids_areas_are_scaled_to_the_slices_size():
    """The default areas are pixels at 128x128: the same regions are tried at 256x256 (4x the
    pixels), at 64x64 (a quarter, rounded) and at 32x32 (a 16th, at least 1 pixel unless 0,
    repeats dropped); a grid given is kept."""
    assert tuning.grid_for((128, 128)) == crossval.DEFAULT_GRID
    at_256 = tuning.grid_for((256, 256))
    for key in tuning.AREA_KEYS:
        assert at_256[key] == [4 * a for a in crossval.DEFAULT_GRID[key]]
    assert crossval.DEFAULT_GRID["min_area"] == [0, 5, 10, 20, 40, 80]
    assert tuning.grid_for((64, 64))["min_area"] == [0, 1, 2, 5, 10, 20]
    assert tuning.grid_for((32, 32))["min_area"] == [0, 1, 2, 5]
    assert tuning.grid_for((64, 64), {"min_area": [0, 7]})["min_area"] == [0, 7]
    assert {k: v for k, v in at_256.items() if k not in tuning.AREA_KEYS} == \
        {k: v for k, v in crossval.DEFAULT_GRID.items() if k not in tuning.AREA_KEYS}


@pytest.mark.parametrize("fold", [1, 2, 3])
def test_a_folds_choice_never_looks_at_its_own_patients(fold):
    """Anything in fold k's predictions (probabilities, truth) may change: the settings
    chosen for fold k, and their objective, stay the same."""
    grid = {"seg_threshold": [0.5, 0.7], "min_component": [0, 3], "rule": list(RULES),
            "cls_threshold": [0.3, 0.5, 0.7], "min_area": [0, 4]}
    predictions = random_predictions(np.random.default_rng(11))
    before = crossval.tune_pipeline(predictions, grid=grid)
    changed = {key: value.copy() for key, value in predictions.items()}
    mine = changed["fold"] == fold
    rng = np.random.default_rng(fold)
    changed["cls_probability"][mine] = rng.random(mine.sum())
    changed["pixel_probability"][mine] = rng.random(changed["pixel_probability"][mine].shape)
    changed["true"][mine] = rng.random(changed["true"][mine].shape) < 0.3
    after = crossval.tune_pipeline(changed, grid=grid)
    assert after["chosen_per_fold"][fold] == before["chosen_per_fold"][fold]
    # ... while the change does reach the other folds' choices or the all-folds one.
    assert after["chosen_on_all_folds"] != before["chosen_on_all_folds"] or any(
        after["chosen_per_fold"][k] != before["chosen_per_fold"][k]
        for k in (1, 2, 3) if k != fold)


def test_each_patient_is_scored_with_its_folds_choice_on_random_predictions():
    grid = {"seg_threshold": [0.5, 0.7], "min_component": [0, 3], "rule": list(RULES),
            "cls_threshold": [0.3, 0.5, 0.7], "min_area": [0, 4]}
    predictions = random_predictions(np.random.default_rng(5))
    result = crossval.tune_pipeline(predictions, grid=grid)
    patients, index = patient_index(predictions)
    rows = rows_by_patient(result)
    for fold, chosen in result["chosen_per_fold"].items():
        counts = tuning.slice_counts(predictions, chosen["seg_threshold"],
                                     chosen["min_component"])
        dice, (tp, fp, tn, fn, pred) = tuning.score_settings(
            predictions, counts, index, len(patients), chosen["rule"],
            chosen["cls_threshold"], chosen["min_area"])
        others = np.array([predictions["fold"][index == k][0] != fold
                           for k in range(len(patients))])
        assert chosen["objective_on_other_folds"]["mean_dice"] == \
            pytest.approx(dice[others].mean(), abs=1e-12)
        for k, patient in enumerate(patients):
            if rows[patient]["fold"] == fold:
                assert rows[patient]["dice"] == pytest.approx(dice[k], abs=1e-12)
                assert (rows[patient]["tp"], rows[patient]["fp"], rows[patient]["tn"],
                        rows[patient]["fn"]) == (tp[k], fp[k], tn[k], fn[k])
    # The settings chosen on all folds are the best of the whole grid on everyone.
    best = result["chosen_on_all_folds"]["objective_on_all_folds"]["mean_dice"]
    for seg_threshold in grid["seg_threshold"]:
        for min_component in grid["min_component"]:
            counts = tuning.slice_counts(predictions, seg_threshold, min_component)
            for rule in grid["rule"]:
                for cut in grid["cls_threshold"]:
                    for min_area in grid["min_area"]:
                        dice, _ = tuning.score_settings(predictions, counts, index,
                                                        len(patients), rule, cut, min_area)
                        assert dice.mean() <= best + 1e-12


def test_equal_dice_goes_to_the_better_slice_accuracy():
    patients = [(name(f, k), f, "quiet") for f in (1, 2) for k in range(2)]
    result = crossval.tune_pipeline(hand_made(patients), grid=CUTS)
    # 0.3 comes first in the grid and has the same Dice (1), but calls a slice without
    # tumour: 0.7 wins on accuracy, on every fold.
    assert result["chosen_on_all_folds"]["cls_threshold"] == 0.7
    assert result["chosen_on_all_folds"]["objective_on_all_folds"] == \
        {"mean_dice": 1.0, "slice_accuracy": 1.0}
    assert {s["cls_threshold"] for s in result["chosen_per_fold"].values()} == {0.7}


@pytest.mark.parametrize("cuts", [[0.3, 0.35], [0.35, 0.3]])
def test_equal_objectives_go_to_the_earlier_grid_entry(cuts):
    """No probability lies in [0.3, 0.35): the two cuts call the same slices."""
    patients = [(name(f, k), f, kind) for f in (1, 2, 3) for k, kind in
                enumerate(("low", "high", "quiet"))]
    result = crossval.tune_pipeline(hand_made(patients), grid={**CUTS, "cls_threshold": cuts})
    assert result["chosen_on_all_folds"]["cls_threshold"] == cuts[0]
    assert {s["cls_threshold"] for s in result["chosen_per_fold"].values()} == {cuts[0]}
    # Rules in the grid's order too: "either" and "classifier" tie here (every found mask
    # is on a slice the classifier calls at 0.3).
    for rules in (["either", "classifier"], ["classifier", "either"]):
        result = crossval.tune_pipeline(
            hand_made(patients), grid={**CUTS, "rule": rules, "cls_threshold": [0.3]})
        assert result["chosen_on_all_folds"]["rule"] == rules[0]


def test_a_segmenter_alone_tries_only_the_rule_segmenter(monkeypatch):
    tried = []

    def recording(predictions, counts, patient_index, n_patients, rule, cls_threshold,
                  min_area):
        tried.append((rule, cls_threshold))
        return score_settings(predictions, counts, patient_index, n_patients, rule,
                              cls_threshold, min_area)

    score_settings = tuning.score_settings
    monkeypatch.setattr(tuning, "score_settings", recording)
    kinds = ("high", "healthy", "low")
    predictions = hand_made([(name(f, k), f, kind) for f in (1, 2)
                             for k, kind in enumerate(kinds)])
    predictions["cls_probability"][:] = np.nan
    grid = {"seg_threshold": [0.5], "min_component": [0], "min_area": [0, 5],
            "cls_threshold": [0.3, 0.7]}
    result = crossval.tune_pipeline(predictions, grid=grid)     # every rule in the grid
    assert set(tried) == {("segmenter", None)} and len(tried) == 2      # min_area 0 and 5
    assert result["model"] == "segmenter"
    for chosen in [result["chosen_on_all_folds"], *result["chosen_per_fold"].values()]:
        assert chosen["rule"] == "segmenter" and chosen["cls_threshold"] is None
        # min_area 5 clears the 4-pixel false blob and keeps the 9-pixel tumours: Dice 1.
        assert chosen["min_area"] == 5
    assert all(row["dice"] == 1.0 for row in result["patients"])

    # With the classifier's probabilities every rule and cut is tried, and here the
    # classifier's cut 0.7 (which drops the blob's slice) beats the segmenter's masks.
    tried.clear()
    kinds = ("high", "healthy")
    grid = {**grid, "min_area": [0]}
    with_classifier = hand_made([(name(f, k), f, kind) for f in (1, 2)
                                 for k, kind in enumerate(kinds)])
    result = crossval.tune_pipeline(with_classifier, grid=grid)
    assert set(tried) == {("segmenter", None)} | {(rule, cut) for rule in RULES
                                                  if rule != "segmenter"
                                                  for cut in (0.3, 0.7)}
    assert result["model"] == "pipeline"
    assert result["chosen_on_all_folds"]["rule"] == "classifier"    # the first of the best
    assert result["chosen_on_all_folds"]["cls_threshold"] == 0.7
    assert all(row["dice"] == 1.0 for row in result["patients"])
    with_classifier["cls_probability"][:] = np.nan
    result = crossval.tune_pipeline(with_classifier, grid=grid)
    assert result["chosen_on_all_folds"]["rule"] == "segmenter"
    high = [row["dice"] for row in result["patients"] if row["tumour_slices"]]
    assert high == pytest.approx([18 / 22] * 2, abs=1e-12)


def test_a_patient_without_tumour_or_prediction_has_dice_1():
    patients = [(name(1, 0, "HT"), 1, "healthy"), (name(2, 0), 2, "high"),
                (name(2, 1), 2, "healthy")]
    result = crossval.tune_pipeline(hand_made(patients), grid=CUTS)
    row = rows_by_patient(result)[name(1, 0, "HT")]
    assert row["dice"] == 1.0 and row["predicted_pixels"] == 0 and row["tumour_pixels"] == 0
    assert row["tumour_slices"] == 0 and (row["tn"], row["fp"]) == (2, 0)
    assert row["sensitivity"] is None and row["specificity"] == 1.0
    # ... and one without tumour but with a false mask has Dice 0.
    blob = hand_made([(name(1, 0), 1, "healthy"), (name(2, 0), 2, "healthy")])
    blob["pixel_probability"][0][ELSEWHERE] = 0.9
    result = crossval.tune_pipeline(blob, grid={**CUTS, "rule": ["segmenter"]})
    assert rows_by_patient(result)[name(1, 0)]["dice"] == 0.0


# ---------------------------------------------------------------------------
# TwoStagePredictor's rules on stub networks
# ---------------------------------------------------------------------------

class CountingSegmenter(BrightSegmenter):
    """BrightSegmenter that counts the slices it is given."""

    def __init__(self):
        super().__init__()
        self.seen = 0

    def forward(self, x):
        self.seen += x.shape[0]
        return super().forward(x)


def stub_models():
    """(MeanClassifier, spec), (CountingSegmenter, spec): a slice is called by the classifier
    when its mean level > 1/2; a pixel is tumour when its red level is high."""
    classifier = (MeanClassifier(), model_spec("resnet18", {}, 16, IDENTITY, 0.5))
    _, spec = bright_segmenter()
    return classifier, (CountingSegmenter(), spec)


def rule_slices():
    """16x16 slices: (classifier's call, mask pixels) = A (yes, 12), B (yes, 4), C (no, 12),
    D (no, 0), E (yes, 0)."""
    images = np.zeros((5, 16, 16, 3), np.uint8)
    images[[0, 1, 4], :, :, 1:] = 255           # green and blue: mean level > 1/2
    images[0, 2:5, 2:6, 0] = 255                # a 3x4 red patch
    images[1, 8:10, 8:10, 0] = 255              # a 2x2 one
    images[2, 2:5, 2:6] = 255                   # a 3x4 white patch on black
    return images


@pytest.mark.parametrize("rule, min_area, positive, areas, segmented", [
    ("classifier", 5, [1, 1, 0, 0, 1], [12, 0, 0, 0, 0], 3),   # B's 4 pixels < 5: cleared
    ("both", 5, [1, 0, 0, 0, 0], [12, 0, 0, 0, 0], 3),
    ("both", 0, [1, 1, 0, 0, 0], [12, 4, 0, 0, 0], 3),         # E: called, but no mask
    ("either", 5, [1, 1, 1, 0, 1], [12, 0, 12, 0, 0], 5),
    ("either", 0, [1, 1, 1, 0, 1], [12, 4, 12, 0, 0], 5),
    ("segmenter", 5, [1, 0, 1, 0, 0], [12, 0, 12, 0, 0], 5),
    ("segmenter", 0, [1, 1, 1, 0, 0], [12, 4, 12, 0, 0], 5),
])
def test_the_rules_call_slices(rule, min_area, positive, areas, segmented):
    classifier, segmenter = stub_models()
    predictor = TwoStagePredictor(classifier, segmenter, rule=rule, min_area=min_area)
    result = predictor(rule_slices())
    np.testing.assert_array_equal(result.positive, np.array(positive, bool))
    np.testing.assert_array_equal(result.area, areas)
    np.testing.assert_array_equal(result.masks.reshape(5, -1).sum(axis=1), areas)
    # "classifier" and "both" segment only the classifier's positives, the others all.
    assert segmenter[0].seen == segmented
    seen = result.pixel_probabilities.reshape(5, -1).max(axis=1) > 0
    assert seen.sum() == segmented
    called = result.classifier_probability >= 0.5
    np.testing.assert_array_equal(called, [True, True, False, False, True])
    if rule == "segmenter":
        np.testing.assert_allclose(result.probability,
                                   result.pixel_probabilities.reshape(5, -1).max(axis=1))
    else:
        np.testing.assert_array_equal(result.probability, result.classifier_probability)


def test_the_rule_segmenter_ignores_the_classifiers_call():
    calls = []
    for cut in (0.0, 0.5, 1.0):
        classifier, segmenter = stub_models()
        result = TwoStagePredictor(classifier, segmenter, rule="segmenter", cls_threshold=cut,
                                   min_area=3)(rule_slices())
        calls.append(result.positive.tolist())
    assert calls == [[True, True, True, False, False]] * 3
    # The rule "classifier" at those cuts calls everything, A B E, nothing.
    positives = [TwoStagePredictor(*stub_models(), cls_threshold=cut)(rule_slices())
                 .positive.sum() for cut in (0.0, 0.5, 1.0)]
    assert positives == [5, 3, 0]


def test_segment_all_does_not_change_the_calls():
    for rule in RULES:
        plain = TwoStagePredictor(*stub_models(), rule=rule, min_area=5)(rule_slices())
        every = TwoStagePredictor(*stub_models(), rule=rule, min_area=5,
                                  segment_all=True)(rule_slices())
        np.testing.assert_array_equal(plain.positive, every.positive)
        np.testing.assert_array_equal(plain.masks, every.masks)


def test_rule_errors_and_defaults():
    classifier, segmenter = stub_models()
    assert RULES == ("classifier", "segmenter", "both", "either")
    with pytest.raises(ValueError, match=r"rule must be one of \['classifier', 'segmenter', "
                                         r"'both', 'either'\], got 'all'"):
        TwoStagePredictor(classifier, segmenter, rule="all")
    for rule in ("both", "either"):
        for models in ({"classifier": classifier}, {"segmenter": segmenter}):
            with pytest.raises(ValueError, match=f"rule '{rule}' needs both models"):
                TwoStagePredictor(**models, rule=rule)
    with pytest.raises(ValueError, match="rule 'classifier' needs a classifier"):
        TwoStagePredictor(segmenter=segmenter, rule="classifier")
    with pytest.raises(ValueError, match="rule 'segmenter' needs a segmenter"):
        TwoStagePredictor(classifier=classifier, rule="segmenter")
    # The defaults: the classifier's call when there is one, else the segmenter's.
    assert TwoStagePredictor(classifier, segmenter).settings()["rule"] == "classifier"
    assert TwoStagePredictor(segmenter=segmenter).settings()["rule"] == "segmenter"
    assert TwoStagePredictor(classifier=classifier).settings()["rule"] == "classifier"
    for rule in RULES:
        settings = TwoStagePredictor(classifier, segmenter, rule=rule, min_area=7).settings()
        assert settings["rule"] == rule and settings["min_area"] == 7
    # A model alone takes its own rule explicitly too.
    assert TwoStagePredictor(segmenter=segmenter, rule="segmenter").rule == "segmenter"
    assert TwoStagePredictor(classifier=classifier, rule="classifier").rule == "classifier"


def test_the_rule_flag_offers_the_rules():
    parser = ArgumentParser(prog="t")
    add_threshold_arguments(parser)
    assert parser.parse_args([]).rule is None
    for rule in RULES:
        assert parser.parse_args(["--rule", rule]).rule == rule
    for build, argv in ((predict.build_parser, [".", "--out", "o"]),
                        (evaluate.build_parser, ["."])):
        assert build().parse_args([*argv, "--rule", "either"]).rule == "either"


# ---------------------------------------------------------------------------
# --rule in crossval score, predict and evaluate
# ---------------------------------------------------------------------------

def test_crossval_score_takes_the_rule(cv, predictions, capfd, tmp_path):
    code, out, err = tinynet_crossval(capfd, "score", cv["seg"], cv["cls"], "--rule", "both",
                                      "--min-area", "3", "--out", tmp_path)
    assert code == 0, err
    table = json.loads((tmp_path / "patients.json").read_text())
    assert {s["rule"] for s in table["folds"].values()} == {"both"}
    # The checkpoints' thresholds (0.5, 0.5), min_component 0: the counts give the same.
    mine = counted(predictions, {"seg_threshold": 0.5, "min_component": 0, "min_area": 3,
                                 "cls_threshold": 0.5}, "both")
    for patient, row in rows_by_patient(table).items():
        assert (row["tp"], row["fp"], row["tn"], row["fn"]) == tuple(
            mine[patient][k] for k in ("tp", "fp", "tn", "fn"))
        assert row["dice"] == pytest.approx(mine[patient]["dice"], abs=1e-12)
    code, _, err = tinynet_crossval(capfd, "score", cv["seg"], cv["cls"], "--rule", "all",
                                    "--out", tmp_path / "x")
    assert code == 2 and "argument --rule: invalid choice: 'all'" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


@pytest.fixture
def one_patient(cv, tmp_path):
    """A kaggle_3m folder of one patient held out by fold 1, and fold 1's checkpoints."""
    patient = cv["folds"]["folds"][0]["val"][0]
    shutil.copytree(cv["data"] / patient, tmp_path / "in" / patient)
    return {"input": tmp_path / "in", "patient": patient,
            "models": ["--classifier", str(cv["cls"] / "fold-1" / "last.npz"),
                       "--segmenter", str(cv["seg"] / "fold-1" / "last.npz")]}


def test_predict_with_rule_both_drops_the_classifiers_slices_without_a_mask(
        one_patient, predictions, tmp_path):
    # A pixel cut that leaves about half of this patient's slices without a mask.
    mine = predictions["patient"] == one_patient["patient"]
    peaks = predictions["pixel_probability"][mine].reshape(mine.sum(), -1).max(axis=1)
    seg_threshold = between(peaks, len(np.unique(peaks)) // 2 - 1)
    summaries = {}
    for rule in ("classifier", "both"):
        code = predict.main([str(one_patient["input"]), "--out", str(tmp_path / rule),
                             *one_patient["models"], "--rule", rule, "--cls-threshold", "0",
                             "--seg-threshold", str(seg_threshold)])
        assert code == 0
        summaries[rule] = json.loads((tmp_path / rule / "summary.json").read_text())
        assert summaries[rule]["rule"] == rule
    by_classifier = {r["name"]: r for r in summaries["classifier"]["slices"]}
    both = {r["name"]: r for r in summaries["both"]["slices"]}
    assert sorted(both) == sorted(by_classifier) and len(both) == 6
    assert all(r["positive"] for r in by_classifier.values())       # cut 0: every slice
    for slice_name, record in both.items():
        has_mask = by_classifier[slice_name]["tumour_area_pixels"] >= 1
        assert record["positive"] == has_mask, slice_name
        assert record["tumour_area_pixels"] == by_classifier[slice_name]["tumour_area_pixels"]
    assert 0 < sum(r["positive"] for r in both.values()) < 6


def test_evaluate_reports_the_rule(one_patient, tmp_path, capsys):
    code = evaluate.main([str(one_patient["input"]), *one_patient["models"], "--rule",
                          "either", "--json", str(tmp_path / "report.json")])
    assert code == 0
    assert json.loads((tmp_path / "report.json").read_text())["settings"]["rule"] == "either"


def test_predict_refuses_an_unknown_rule(one_patient, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        predict.main([str(one_patient["input"]), "--out", str(tmp_path / "o"),
                      *one_patient["models"], "--rule", "any"])
    assert exit_info.value.code == 2
    assert "argument --rule: invalid choice: 'any'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_rule_that_needs_the_other_model_is_a_usage_error(one_patient, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        predict.main([str(one_patient["input"]), "--out", str(tmp_path / "o"),
                      one_patient["models"][2], one_patient["models"][3], "--rule", "both"])
    assert exit_info.value.code == 2
    assert "rule 'both' needs both models" in capsys.readouterr().err


def test_crossval_score_with_a_rule_the_run_cannot_follow_is_a_usage_error(cv, capfd,
                                                                           tmp_path):
    code, _, err = tinynet_crossval(capfd, "score", cv["seg"], "--rule", "both", "--out",
                                    tmp_path)
    assert code == 2 and "rule 'both' needs both models" in err


# ---------------------------------------------------------------------------
# tinynet crossval tune
# ---------------------------------------------------------------------------

def test_the_tune_command_writes_its_files_and_reuses_the_predictions(
        cv, predictions, capfd, tmp_path, monkeypatch):
    out = tmp_path / "tuned"
    code, printed, err = tinynet_crossval(capfd, "tune", cv["seg"], cv["cls"], "--out", out)
    assert code == 0, err
    assert "reusing" not in printed and "settings chosen on all folds: seg_threshold" in printed
    for file in ("predictions.npz", "predictions.json", "tuning.json", "patients.json",
                 "patients.csv", "pipeline.json"):
        assert (out / file).is_file(), file
    # pipeline.json: the settings chosen on all folds, in the shipped format, at the data's side
    monkeypatch.setenv("TINYNET_WEIGHTS", str(out))
    chosen = {k: v for k, v in crossval.tune_pipeline(predictions)["chosen_on_all_folds"].items()
              if not k.startswith("objective")}
    assert inference.shipped_settings() == {**chosen, "tta": False,
                                            "area_size": predictions["true"].shape[1]}
    source = {"runs": {"classifier": str(cv["cls"]), "segmenter": str(cv["seg"])},
              "data": None, "checkpoint": "last", "tta": False}
    recorded = json.loads((out / "predictions.json").read_text())
    assert {key: recorded[key] for key in source} == source
    # every fold's scored checkpoint, with its size and time (stale predictions are redone)
    assert sorted(recorded["checkpoints"]) == sorted(
        str(cv[run] / f"fold-{k}" / "last.npz") for run in ("seg", "cls") for k in (1, 2))
    saved = crossval.load_predictions(out / "predictions.npz")
    for key, value in predictions.items():
        np.testing.assert_array_equal(saved[key], value)

    expected = json.loads(json.dumps(crossval.tune_pipeline(predictions)))
    tuned = json.loads((out / "tuning.json").read_text())
    for key in ("chosen_on_all_folds", "chosen_per_fold", "grid", "n_splits", "model"):
        assert tuned[key] == expected[key], key
    assert {key: tuned[key] for key in source} == source
    assert "patients" not in tuned and "summary" not in tuned
    table = json.loads((out / "patients.json").read_text())
    assert table["patients"] == expected["patients"] and table["model"] == "pipeline"
    assert table["checkpoint"] == "last"
    header = (out / "patients.csv").read_text().splitlines()[0]
    assert header.split(",") == crossval.COLUMNS
    chosen = ", ".join(f"{k} {v}" for k, v in expected["chosen_on_all_folds"].items()
                       if not k.startswith("objective"))
    assert f"settings chosen on all folds: {chosen}" in printed

    # Again, the runs in the other order: the predictions are read back, not made.
    def no_predicting(*args, **kwargs):
        raise AssertionError("collect_predictions called although predictions.npz fits")

    monkeypatch.setattr(crossval, "collect_predictions", no_predicting)
    code, printed, err = tinynet_crossval(capfd, "tune", cv["cls"], cv["seg"], "--out", out)
    assert code == 0, err
    assert f"reusing the predictions in {out / 'predictions.npz'}" in printed
    assert json.loads((out / "tuning.json").read_text()) == tuned
    assert json.loads((out / "patients.json").read_text())["patients"] == table["patients"]

    # Another checkpoint: predicted again, with it.
    asked, collect = [], tuning.collect_predictions

    def spy(run_folders, **kwargs):
        asked.append(kwargs)
        return collect(run_folders, **kwargs)

    monkeypatch.setattr(crossval, "collect_predictions", spy)
    code, printed, err = tinynet_crossval(capfd, "tune", cv["seg"], cv["cls"], "--out", out,
                                          "--checkpoint", "best")
    assert code == 0, err
    assert "reusing" not in printed and [a["checkpoint"] for a in asked] == ["best"]
    recorded = json.loads((out / "predictions.json").read_text())
    assert {key: recorded[key] for key in source} == {**source, "checkpoint": "best"}
    assert all(path.endswith("best.npz") for path in recorded["checkpoints"])
    assert json.loads((out / "patients.json").read_text())["checkpoint"] == "best"
    np.testing.assert_array_equal(
        crossval.load_predictions(out / "predictions.npz")["pixel_probability"],
        collect([cv["seg"], cv["cls"]], checkpoint="best")["pixel_probability"])


def test_tune_with_tta_chooses_for_the_mirrored_average_and_ships_it(cv, predictions, capfd,
                                                                      tmp_path, monkeypatch):
    """--tta: the predictions are the segmenter averaged over the mirror image (what
    ``predict --tta`` segments), the settings are the ones best on them, pipeline.json turns
    TTA on, and a tuning without --tta in the same folder predicts again rather than reuse
    them."""
    out = tmp_path / "tuned"
    code, printed, err = tinynet_crossval(capfd, "tune", cv["seg"], cv["cls"], "--out", out,
                                          "--tta")
    assert code == 0, err
    assert "settings chosen on all folds (with --tta):" in printed
    saved = crossval.load_predictions(out / "predictions.npz")
    with_tta = tuning.collect_predictions([cv["seg"], cv["cls"]], tta=True)
    np.testing.assert_array_equal(saved["pixel_probability"], with_tta["pixel_probability"])
    assert not np.array_equal(with_tta["pixel_probability"], predictions["pixel_probability"])
    np.testing.assert_array_equal(saved["cls_probability"], predictions["cls_probability"])
    monkeypatch.setenv("TINYNET_WEIGHTS", str(out))
    chosen = {k: v for k, v in crossval.tune_pipeline(with_tta)["chosen_on_all_folds"].items()
              if not k.startswith("objective")}
    assert inference.shipped_settings() == {**chosen, "tta": True,
                                            "area_size": with_tta["true"].shape[1]}
    tuned = json.loads((out / "patients.json").read_text())
    assert tuned["tta"] is True
    assert tuned["patients"] == json.loads(json.dumps(
        crossval.tune_pipeline(with_tta)["patients"]))
    assert json.loads((out / "predictions.json").read_text())["tta"] is True
    code, printed, err = tinynet_crossval(capfd, "tune", cv["seg"], cv["cls"], "--out", out)
    assert code == 0, err
    assert "reusing" not in printed and inference.shipped_settings()["tta"] is False
    np.testing.assert_array_equal(crossval.load_predictions(out / "predictions.npz")
                                  ["pixel_probability"], predictions["pixel_probability"])


def test_the_pipeline_of_some_folds_is_the_whole_pipelines_rows(cv, capfd, tmp_path):
    code, _, err = tinynet_crossval(capfd, "score", cv["seg"], cv["cls"], "--fold", 2,
                                    "--out", tmp_path / "part")
    assert code == 0, err
    part = json.loads((tmp_path / "part" / "patients.json").read_text())
    whole = crossval.score_crossval([cv["seg"], cv["cls"]])
    held_out = {row["patient"]: row for row in whole["patients"] if row["fold"] == 2}
    assert held_out and part["model"] == "pipeline" and part["of_splits"] == 2
    assert rows_by_patient(part) == json.loads(json.dumps(held_out))


def test_the_tuned_table_compares_with_the_score_table(cv, capfd, tmp_path):
    code, _, err = tinynet_crossval(capfd, "score", cv["seg"], cv["cls"], "--out",
                                    tmp_path / "scored")
    assert code == 0, err
    code, _, err = tinynet_crossval(capfd, "tune", cv["seg"], cv["cls"], "--out",
                                    tmp_path / "tuned")
    assert code == 0, err
    code, printed, err = tinynet_crossval(capfd, "compare", tmp_path / "scored",
                                          tmp_path / "tuned" / "patients.json", "--json",
                                          tmp_path / "c.json")
    assert code == 0, err
    assert "Paired comparison of dice per patient (5 patients)" in printed
    comparison = json.loads((tmp_path / "c.json").read_text())
    scored = rows_by_patient(json.loads((tmp_path / "scored" / "patients.json").read_text()))
    tuned = rows_by_patient(json.loads((tmp_path / "tuned" / "patients.json").read_text()))
    for pair in comparison["pairs"]:
        assert pair["a"] == scored[pair["patient"]]["dice"]
        assert pair["b"] == tuned[pair["patient"]]["dice"]
        assert pair["fold_a"] == pair["fold_b"]


def test_the_tuned_rows_are_what_score_crossval_gives_with_each_folds_choice(cv, predictions):
    """End to end: fold k's patients in the tuned table are scored as ``score_crossval``
    scores them with the settings chosen for fold k."""
    result = crossval.tune_pipeline(predictions)
    rows = rows_by_patient(result)
    for fold, chosen in result["chosen_per_fold"].items():
        table = crossval.score_crossval(
            [cv["seg"], cv["cls"]], rule=chosen["rule"], cls_threshold=chosen["cls_threshold"],
            seg_threshold=chosen["seg_threshold"], min_area=chosen["min_area"],
            min_component=chosen["min_component"])
        held_out = [row for row in table["patients"] if row["fold"] == fold]
        assert held_out
        for row in held_out:
            for key in ("tp", "fp", "tn", "fn", "predicted_pixels", "slices",
                        "tumour_slices", "tumour_pixels", "institution"):
                assert rows[row["patient"]][key] == row[key], (row["patient"], key)
            assert rows[row["patient"]]["dice"] == pytest.approx(row["dice"], abs=1e-12)


def test_tune_a_segmenter_run_alone(cv, capfd, tmp_path):
    code, printed, err = tinynet_crossval(capfd, "tune", cv["seg"], "--out", tmp_path)
    assert code == 0, err
    tuned = json.loads((tmp_path / "tuning.json").read_text())
    assert tuned["model"] == "segmenter"
    for chosen in [tuned["chosen_on_all_folds"], *tuned["chosen_per_fold"].values()]:
        assert chosen["rule"] == "segmenter" and chosen["cls_threshold"] is None
    assert "rule segmenter" in printed


def test_tune_refuses_more_than_two_runs(cv, capfd, tmp_path):
    code, _, err = tinynet_crossval(capfd, "tune", cv["seg"], cv["cls"], cv["seg"], "--out",
                                    tmp_path / "t")
    assert code == 2 and "give a segmenter run, and optionally a classifier run, not 3 runs" \
        in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "t").exists()
    code, _, err = tinynet_crossval(capfd, "tune", cv["seg"], cv["seg"], "--out", tmp_path / "t")
    assert code == 2 and "are both segmenter runs" in err
    code, _, err = tinynet_crossval(capfd, "tune", cv["seg"])
    assert code == 2 and "--out" in err


def test_tune_without_a_segmenter_run_is_a_usage_error(cv, capfd, tmp_path):
    code, _, err = tinynet_crossval(capfd, "tune", cv["cls"], "--out", tmp_path)
    assert code == 2 and "tuning needs a segmenter run" in err


def test_help_lists_the_tune_step(capfd):
    code, printed, _ = tinynet_crossval(capfd, "--help")
    assert code == 0 and "tune" in printed
    code, printed, _ = tinynet_crossval(capfd, "tune", "--help")
    assert code == 0 and "--checkpoint" in printed and "--out" in printed


def test_tune_predicts_again_when_a_checkpoint_changed(cv, capfd, tmp_path, monkeypatch):
    """A run trained on after tuning (a larger --epochs) must not be scored from stale
    predictions: a checkpoint with another size or time is predicted anew."""
    out = tmp_path / "tuned"
    assert tinynet_crossval(capfd, "tune", cv["seg"], "--out", out)[0] == 0
    asked, collect = [], tuning.collect_predictions

    def spy(run_folders, **kwargs):
        asked.append(run_folders)
        return collect(run_folders, **kwargs)

    monkeypatch.setattr(crossval, "collect_predictions", spy)
    checkpoint = cv["seg"] / "fold-1" / "last.npz"
    stat = checkpoint.stat()
    try:
        os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        code, printed, err = tinynet_crossval(capfd, "tune", cv["seg"], "--out", out)
    finally:
        os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert code == 0, err
    assert "reusing" not in printed and len(asked) == 1


# ---------------------------------------------------------------------------
# --grid: the values tried, and the note on a choice at the grid's end
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("seg_threshold=0.9,0.95,0.99", ("seg_threshold", [0.9, 0.95, 0.99])),
    ("cls_threshold=0, 1,0.5", ("cls_threshold", [0.0, 0.5, 1.0])),     # numbers sorted
    ("seg_threshold=1e-3,-0,0.950,0.95", ("seg_threshold", [0.0, 0.001, 0.95])),
    ("min_component=40,0,40", ("min_component", [0, 40])),               # repeats dropped
    ("min_area=+7", ("min_area", [7])),
    ("rule=segmenter,both", ("rule", ["segmenter", "both"])),            # rules keep order
])
def test_grid_entries_parse(text, expected):
    assert tuning.parse_grid_entry(text) == expected


@pytest.mark.parametrize("text, message", [
    ("seg_threshold", "is not KEY=V1,V2,..."),
    ("threshold=0.5", "is not KEY=V1,V2,... with KEY one of seg_threshold"),
    ("seg_threshold=1.5", "seg_threshold takes probabilities in [0, 1], got '1.5'"),
    ("cls_threshold=0.1,nan", "cls_threshold takes probabilities in [0, 1], got 'nan'"),
    ("seg_threshold=", "seg_threshold takes probabilities in [0, 1], got ''"),
    ("min_area=-5", "min_area takes whole numbers of pixels >= 0, got '-5'"),
    ("min_component=2.5", "min_component takes whole numbers of pixels >= 0, got '2.5'"),
    ("min_component=\u00b2", "min_component takes whole numbers of pixels >= 0, got '\u00b2'"),
    ("seg_threshold=inf", "seg_threshold takes probabilities in [0, 1], got 'inf'"),
    ("rule=all", "rule 'all' is none of classifier, segmenter, both, either"),
])
def test_bad_grid_entries_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        tuning.parse_grid_entry(text)


GRID = {"seg_threshold": [0.3, 0.5, 0.9], "cls_threshold": [0.0, 0.5, 1.0],
        "min_component": [0, 10, 20], "min_area": [5, 10], "rule": ["both"]}


@pytest.mark.parametrize("chosen, edges", [
    ({"seg_threshold": 0.5, "cls_threshold": 0.5, "min_component": 10, "min_area": 10},
     {"min_area": "largest"}),
    ({"seg_threshold": 0.9, "cls_threshold": 1.0, "min_component": 20, "min_area": 5},
     {"seg_threshold": "largest", "min_component": "largest", "min_area": "smallest"}),
    # a cut at 1 cannot go higher, one at 0 or an area of 0 cannot go lower
    ({"seg_threshold": 0.3, "cls_threshold": 0.0, "min_component": 0, "min_area": 10},
     {"seg_threshold": "smallest", "min_area": "largest"}),
    # no cut under the rule "segmenter"
    ({"seg_threshold": 0.5, "cls_threshold": None, "min_component": 10, "min_area": 10},
     {"min_area": "largest"}),
])
def test_grid_edges(chosen, edges):
    assert tuning.grid_edges(GRID, {**chosen, "rule": "both"}) == edges
    # one value tried is no choice, so no edge
    assert tuning.grid_edges({**GRID, "min_area": [chosen["min_area"]]},
                             {**chosen, "rule": "both"}) == \
        {k: v for k, v in edges.items() if k != "min_area"}


def test_an_area_of_1_is_no_edge_since_0_would_keep_the_same():
    grid = {**GRID, "min_component": [1, 10], "min_area": [1, 2, 5]}
    chosen = {"seg_threshold": 0.5, "cls_threshold": 0.5, "rule": "both"}
    assert tuning.grid_edges(grid, {**chosen, "min_component": 1, "min_area": 1}) == {}
    assert tuning.grid_edges(grid, {**chosen, "min_component": 1, "min_area": 2}) == {}
    assert tuning.grid_edges({**grid, "min_area": [2, 5]},
                             {**chosen, "min_component": 1, "min_area": 2}) == \
        {"min_area": "smallest"}


def test_tune_tries_the_grid_given(cv, predictions, capfd, tmp_path, monkeypatch):
    out = tmp_path / "tuned"
    seg_cuts = [0.2, 0.4, 0.6]
    code, printed, err = tinynet_crossval(
        capfd, "tune", cv["seg"], cv["cls"], "--out", out, "--grid",
        "seg_threshold=" + ",".join(map(str, seg_cuts)), "--grid", "rule=both,segmenter",
        "--grid", "min_area=0")
    assert code == 0, err
    grid = {"seg_threshold": seg_cuts, "rule": ["both", "segmenter"], "min_area": [0]}
    expected = json.loads(json.dumps(crossval.tune_pipeline(predictions, grid)))
    tuned = json.loads((out / "tuning.json").read_text())
    assert tuned["grid"] == expected["grid"]
    assert {key: tuned["grid"][key] for key in grid} == grid
    for key in ("chosen_on_all_folds", "chosen_per_fold"):
        assert tuned[key] == expected[key], key
    assert json.loads((out / "patients.json").read_text())["patients"] == expected["patients"]
    for chosen in [tuned["chosen_on_all_folds"], *tuned["chosen_per_fold"].values()]:
        assert chosen["seg_threshold"] in seg_cuts and chosen["rule"] in grid["rule"]
        assert chosen["min_area"] == 0
    # the settings at an end of their list: in tuning.json, and a note each
    edges = tuning.grid_edges(tuned["grid"], tuned["chosen_on_all_folds"])
    assert tuned["at_grid_edge"] == edges
    notes = [line for line in printed.splitlines() if line.startswith("note: ")]
    assert len(notes) == len(edges)
    for key, end in edges.items():
        value = tuned["chosen_on_all_folds"][key]
        assert any(note.startswith(f"note: {key} {value} is the {end} value the grid tried")
                   and f"--grid {key}=" in note for note in notes), key
    # pipeline.json ships the choice
    monkeypatch.setenv("TINYNET_WEIGHTS", str(out))
    assert inference.shipped_settings()["seg_threshold"] == \
        tuned["chosen_on_all_folds"]["seg_threshold"]

    # Another grid into the same folder: the predictions are read back, not made again.
    def no_predicting(*args, **kwargs):
        raise AssertionError("collect_predictions called although predictions.npz fits")

    monkeypatch.setattr(crossval, "collect_predictions", no_predicting)
    code, printed, err = tinynet_crossval(capfd, "tune", cv["seg"], cv["cls"], "--out", out,
                                          "--grid", "seg_threshold=0.5")
    assert code == 0, err
    assert f"reusing the predictions in {out / 'predictions.npz'}" in printed
    tuned = json.loads((out / "tuning.json").read_text())
    assert tuned["grid"]["seg_threshold"] == [0.5]
    assert tuned["chosen_on_all_folds"]["seg_threshold"] == 0.5


def test_a_choice_at_the_grids_end_is_noted(cv, predictions, capfd, tmp_path):
    """One seg_threshold below every pixel probability that matters and one above: whichever
    is chosen lies at an end of the list (0.001 is above 0), so a note names it."""
    out = tmp_path / "tuned"
    code, printed, err = tinynet_crossval(capfd, "tune", cv["seg"], cv["cls"], "--out", out,
                                          "--grid", "seg_threshold=0.001,0.5")
    assert code == 0, err
    tuned = json.loads((out / "tuning.json").read_text())
    value = tuned["chosen_on_all_folds"]["seg_threshold"]
    end = "smallest" if value == 0.001 else "largest"
    assert tuned["at_grid_edge"]["seg_threshold"] == end
    assert f"note: seg_threshold {value} is the {end} value the grid tried (0.001, 0.5)" \
        in printed


@pytest.mark.parametrize("args, message", [
    (["--grid", "seg_threshold=2"], "argument --grid: seg_threshold takes probabilities in"),
    (["--grid", "bogus=1"], "argument --grid: 'bogus=1' is not KEY=V1,V2,..."),
    (["--grid", "min_area=1", "--grid", "min_area=2"],
     "--grid min_area given twice; give all its values in one --grid min_area=V1,V2,..."),
])
def test_tune_with_a_bad_grid_is_a_usage_error(cv, capfd, tmp_path, args, message):
    code, _, err = tinynet_crossval(capfd, "tune", cv["seg"], cv["cls"], "--out",
                                    tmp_path / "t", *args)
    assert code == 2 and message in err, err
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("grid, message", [
    ("rule=both", "--grid rule=both: without a classifier run only the rule segmenter can be "
                  "tried"),
    ("rule=segmenter,either", "--grid rule=segmenter,either: without a classifier run only "
                              "the rule segmenter can be tried"),
    ("cls_threshold=0.1,0.5", "--grid cls_threshold: without a classifier run there is no "
                              "classifier to cut"),
])
def test_a_grid_a_segmenter_alone_cannot_follow_is_a_usage_error(cv, capfd, tmp_path, grid,
                                                                 message):
    code, _, err = tinynet_crossval(capfd, "tune", cv["seg"], "--out", tmp_path / "t",
                                    "--grid", grid)
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "t").exists()
