"""Scoring a cross-validation: each fold's model predicts the patients that fold held out.

Every patient is held out by exactly one fold, so every patient gets one row,
scored by models that never saw them in training::

    patient, fold, institution, slices, tumour_slices, tumour_pixels,
    predicted_pixels, dice, tp, fp, tn, fn, accuracy, sensitivity, specificity

* Dice: the patient's 3-D Dice (all slices as one volume; ``patient_metrics.py``,
  empty truth and empty prediction give 1), with a segmenter;
* slice detection: a slice is truly positive when its mask has a tumour pixel, and
  called positive exactly as ``tinynet predict`` calls it (``inference.
  TwoStagePredictor``: the classifier's probability >= its threshold, or with a
  segmenter alone a mask of at least ``max(min_area, 1)`` pixels); accuracy,
  sensitivity and specificity of the patient's slices, None where undefined
  (sensitivity of a patient without tumour slices).

The two-stage pipeline is scored by giving both runs: fold k's classifier and
fold k's segmenter predict fold k's patients together, so both must come from
the same folds.  Predictions are made at the data's own size, as ``tinynet
evaluate`` makes them.  The summary gives, for each number, the mean, median,
worst (lowest) and standard deviation over the patients (``std`` with ddof=1:
the spread of patients drawn from a population, so std / sqrt(n) is the mean's
standard error), and the slice counts pooled over every patient.
"""
import csv
import io
import os

import numpy as np

from tinynet import metrics
from tinynet.io import atomic_write_text
from .. import data as tndata
from ..checkpoint import load_model
from ..cli import UsageError
from ..inference import TwoStagePredictor
from ..patient_metrics import segmentation_metrics
from ..report import EMPTY_MASK_RULE, save_json
from ..run import BEST, LAST
from .training import FOLDS, fold_folder, is_finished, open_data, read_settings

__all__ = ["COLUMNS", "SUMMARIZED", "score_crossval", "patient_row", "summarize", "save_table",
           "format_summary"]

#: The columns of the per-patient table, in order.
COLUMNS = ["patient", "fold", "institution", "slices", "tumour_slices", "tumour_pixels",
           "predicted_pixels", "dice", "tp", "fp", "tn", "fn", "accuracy", "sensitivity",
           "specificity"]
#: The per-patient numbers the summary describes.
SUMMARIZED = ("dice", "accuracy", "sensitivity", "specificity")
#: The task of each model's checkpoints (``load_model`` checks it).
TASKS = {"classifier": "classification", "segmenter": "segmentation"}


#: Which checkpoint of each fold is scored.  "last" by default: the scripts choose best.npz
#: by the validation Dice (AUC) of each epoch, and a fold's validation patients are the ones
#: it holds out, so best.npz's score on them is chosen on them (optimistic); the last epoch of
#: a fixed schedule is not.  "best" is there to see the size of that optimism.
CHECKPOINTS = {"last": LAST, "best": BEST}


def score_crossval(run_folders, *, data=None, device="cpu", cls_threshold=None,
                   seg_threshold=None, min_area=0, min_component=0, tta=False,
                   checkpoint="last", rule=None, folds=None):
    """The per-patient table of one cross-validation folder, or of a classifier's and a
    segmenter's together (the pipeline): a JSON-ready dict.

    run_folders : one or two folders of ``tinynet crossval train``
    data : the data to score on (default: the one the segmenter, or the single run, used)
    checkpoint : "last" (default) or "best": which of each fold's checkpoints (see
        ``CHECKPOINTS``)
    folds : the fold numbers to score (default: every fold); only these need to have
        finished, e.g. to look at a cross-validation still training.  The table then has
        those folds' patients only (``crossval compare --common-only`` pairs it with a whole
        one)
    The other arguments are those of ``TwoStagePredictor`` (thresholds None: each fold's
    checkpoint's own).  Returns ``{"model", "runs", "data", "n_splits", "folds": {k:
    settings}, "of_splits": the run's number of folds, "patients": [rows], "summary",
    "empty_mask_rule"}``; ``n_splits`` is the number of folds scored.
    """
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be one of {sorted(CHECKPOINTS)}, got {checkpoint!r}")
    runs = _runs_by_model(run_folders, folds)
    settings = _data_settings(runs, data)
    rows, fold_settings = [], {}
    predictors = fold_predictors(runs, settings, device, checkpoint, folds=folds,
                                 cls_threshold=cls_threshold, seg_threshold=seg_threshold,
                                 min_area=min_area, min_component=min_component, tta=tta,
                                 rule=rule)
    for fold, patients, predictor, held_out in predictors:
        fold_settings[fold] = predictor.settings()
        rows += [patient_row(patient, fold, *_predict_patient(predictor, held_out, patient))
                 for patient in patients]
    rows.sort(key=lambda row: row["patient"])
    model = "pipeline" if len(runs) == 2 else next(iter(runs))
    return {"model": model, "runs": {name: os.path.abspath(folder)
                                     for name, (folder, _) in runs.items()},
            "data": settings["data"], "n_splits": len(fold_settings),
            "of_splits": _first_settings(runs)["n_splits"], "folds": fold_settings,
            "checkpoint": checkpoint,
            "patients": rows, "summary": summarize(rows), "empty_mask_rule": EMPTY_MASK_RULE}


def _data_settings(runs, data):
    """The settings of the runs (the segmenter's, else the classifier's), with ``data`` in
    place of theirs when given; UsageError if the folds name patients the data lacks."""
    settings = runs.get("segmenter", runs.get("classifier"))[1]
    if data is not None:
        settings = {**settings, "data": data if data == "phantom" else os.path.abspath(data)}
    tndata.load_folds(os.path.join(_first_folder(runs), FOLDS),
                      patients=open_data(settings).patients)
    return settings


def fold_predictors(runs, settings, device, checkpoint, folds=None, **options):
    """Yield ``(fold, its held-out patients, a TwoStagePredictor of the fold's models, the
    data of those patients)`` for every fold of ``runs`` ({model: (folder, settings)}), or
    for the fold numbers in ``folds``.

    ``options`` go to the predictor; ``checkpoint`` is "last" or "best"."""
    for entry in _common_folds(runs)["folds"]:
        fold = entry["fold"]
        if folds is not None and fold not in folds:
            continue
        models = {name: load_model(os.path.join(fold_folder(folder, fold),
                                                CHECKPOINTS[checkpoint]), device,
                                   task=TASKS[name]) for name, (folder, _) in runs.items()}
        predictor = TwoStagePredictor(models.get("classifier"), models.get("segmenter"),
                                      device=device, **options)
        # A fresh view per fold: only this fold's patients are decoded and kept in memory.
        yield fold, entry["val"], predictor, open_data(settings).subset(entry["val"])


def _runs_by_model(run_folders, folds=None):
    """{"classifier"/"segmenter": (folder, settings)}; UsageError for a folder that is not a
    finished cross-validation (or whose folds in ``folds``, fold numbers, have not all
    finished), or for two folders of the same model."""
    if folds is not None and not len(folds):
        raise UsageError("no folds given to score")
    runs = {}
    for folder in run_folders:
        settings = read_settings(folder)
        model = settings["model"]
        if model in runs:
            raise UsageError(f"{runs[model][0]} and {folder} are both {model} runs; the "
                             "pipeline takes one classifier run and one segmenter run")
        epochs, n_splits = settings["config"]["epochs"], settings["n_splits"]
        outside = sorted(set(folds or ()) - set(range(1, n_splits + 1)))
        if outside:
            raise UsageError(f"{folder} has folds 1 to {n_splits}, not "
                             f"{', '.join(map(str, outside))}")
        wanted = range(1, n_splits + 1) if folds is None else sorted(set(folds))
        unfinished = [k for k in wanted if not is_finished(fold_folder(folder, k), epochs)]
        if unfinished:
            raise UsageError(f"{folder}: fold(s) {', '.join(map(str, unfinished))} have not "
                             f"finished their {epochs} epochs; run `tinynet crossval train` "
                             "again to finish them, or give --fold K for finished ones")
        runs[model] = (folder, settings)
    return dict(sorted(runs.items()))


def _first_folder(runs):
    return next(iter(runs.values()))[0]


def _first_settings(runs):
    """The settings of the first run (its ``n_splits`` is every run's: same folds)."""
    return next(iter(runs.values()))[1]


def _common_folds(runs):
    """The folds of the runs; UsageError if two runs were trained on different folds."""
    folds = {name: tndata.load_folds(os.path.join(folder, FOLDS))
             for name, (folder, _) in runs.items()}
    first, *others = folds.values()
    if any(other["folds"] != first["folds"] for other in others):
        paths = " and ".join(os.path.join(folder, FOLDS) for folder, _ in runs.values())
        raise UsageError(f"the runs were trained on different folds ({paths}): fold k's "
                         "classifier and segmenter must hold out the same patients; train "
                         "both with the same --folds FILE")
    return first


def _predict_patient(predictor, dataset, patient):
    """The patient's true masks (N, H, W) uint8 and the predictor's ``SlicePredictions``."""
    images, true_masks = dataset.subset([patient]).arrays()
    return true_masks, predictor(images)


def patient_row(patient, fold, true_masks, predictions):
    """One row of the table: the patient's slices ``true_masks`` (N, H, W) 0/1 against the
    ``SlicePredictions`` of ``TwoStagePredictor`` (masks None without a segmenter)."""
    true_masks = np.asarray(true_masks)
    has_tumour = true_masks.reshape(len(true_masks), -1).any(axis=1)
    (tn, fp), (fn, tp) = metrics.confusion_matrix(has_tumour, predictions.positive).tolist()
    row = {"patient": patient, "fold": int(fold), "institution": tndata.institution_of(patient),
           "slices": len(true_masks), "tumour_slices": int(has_tumour.sum()),
           "tumour_pixels": int(true_masks.sum()), "predicted_pixels": None, "dice": None}
    if predictions.masks is not None:
        scores = segmentation_metrics(predictions.masks, true_masks, [patient] * len(true_masks))
        mine = scores["per_patient"][patient]
        row.update(predicted_pixels=mine["pred_pixels"], dice=mine["dice"])
    return {**row, **_detection(tp, fp, tn, fn)}


def _detection(tp, fp, tn, fn):
    """The slice counts and their rates; a rate with nothing to count is None, not 0."""
    def ratio(numerator, denominator):
        return numerator / denominator if denominator else None

    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn,
            "accuracy": ratio(tp + tn, tp + fp + tn + fn), "sensitivity": ratio(tp, tp + fn),
            "specificity": ratio(tn, tn + fp)}


def summarize(rows):
    """Mean, median, worst, std (ddof=1) of each of ``SUMMARIZED`` over the patients that
    have it, the worst patient, the per-fold means, and the slices pooled over everyone."""
    summary = {}
    for key in SUMMARIZED:
        have = [row for row in rows if row[key] is not None]
        if not have:
            continue                     # a classifier's table has no Dice
        values = np.array([row[key] for row in have], dtype=np.float64)
        worst = min(have, key=lambda row: (row[key], row["patient"]))
        summary[key] = {"n": len(values), "mean": float(values.mean()),
                        "median": float(np.median(values)), "worst": float(values.min()),
                        "worst_patient": worst["patient"],
                        "std": float(values.std(ddof=1)) if len(values) > 1 else None}
    counts = {key: sum(row[key] for row in rows) for key in ("tp", "fp", "tn", "fn")}
    summary["slices"] = _detection(**counts)
    summary["per_fold"] = _per_fold_means(rows)
    return summary


def _per_fold_means(rows):
    """{fold: {"patients": n, "<key>_mean": ...}}: how much the folds differ."""
    result = {}
    for fold in sorted({row["fold"] for row in rows}):
        mine = [row for row in rows if row["fold"] == fold]
        result[fold] = {"patients": len(mine)}
        for key in SUMMARIZED:
            values = [row[key] for row in mine if row[key] is not None]
            if values:
                result[fold][f"{key}_mean"] = float(np.mean(values))
    return result


# ---------------------------------------------------------------------------
# Writing and printing
# ---------------------------------------------------------------------------

def save_table(table, json_path=None, csv_path=None):
    """Write the table as JSON (everything) and/or CSV (the rows), each atomically."""
    for path in (json_path, csv_path):
        if path is not None:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if json_path is not None:
        save_json(table, json_path)
    if csv_path is not None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: "" if row[key] is None else row[key] for key in COLUMNS}
                         for row in table["patients"])
        atomic_write_text(csv_path, text.getvalue())


def format_summary(table):
    """The summary as a few lines of text, for the console."""
    what = {"pipeline": "the pipeline (classifier + segmenter)"}.get(table["model"],
                                                                    f"the {table['model']}")
    summary = table["summary"]
    folds = f"{table['n_splits']} folds"
    if table.get("of_splits", table["n_splits"]) != table["n_splits"]:
        scored = sorted({int(row["fold"]) for row in table["patients"]})
        folds = f"fold{'s' if len(scored) > 1 else ''} {', '.join(map(str, scored))} of " \
                f"{table['of_splits']}"
    lines = [f"Cross-validation of {what}: {folds}, "
             f"{len(table['patients'])} patients, each scored by the fold that held it out",
             f"  {'per patient':<14}{'mean':>8}{'median':>8}{'worst':>8}{'std':>8}  worst patient"]
    for key in SUMMARIZED:
        if key in summary:
            s = summary[key]
            cells = "".join(f"{_number(s[name]):>8}" for name in ("mean", "median", "worst", "std"))
            lines.append(f"  {key:<14}{cells}  {s['worst_patient']} (n={s['n']})")
    pooled = summary["slices"]
    lines.append(f"  slices pooled: TP {pooled['tp']}, FP {pooled['fp']}, TN {pooled['tn']}, "
                 f"FN {pooled['fn']}; accuracy {_number(pooled['accuracy'])}, sensitivity "
                 f"{_number(pooled['sensitivity'])}, specificity "
                 f"{_number(pooled['specificity'])}")
    return "\n".join(lines)


def _number(value):
    return "n/a" if value is None else f"{value:.3f}"
