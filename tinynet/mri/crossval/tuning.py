"""Choosing the pipeline's thresholds and post-processing by cross-validation.

The trained models give, for every slice, the classifier's tumour probability and
the segmenter's pixel probabilities.  What turns them into masks and calls is a
handful of settings nobody should pick by eye:

    seg_threshold   a pixel is tumour when its probability >= this
    min_component   2-D regions smaller than this many pixels are removed from each mask
    rule            when a slice is called tumour:
                      "classifier"  its classifier probability >= cls_threshold
                      "segmenter"   its mask keeps at least max(min_area, 1) pixels
                      "both"        both of these
                      "either"      one of them
    cls_threshold   the classifier's cut (rules classifier, both, either)
    min_area        masks with fewer pixels are cleared (the slice's mask, not its call,
                    under rule "classifier")

A slice called negative gets an empty mask; a patient's Dice is the 3-D Dice of its
masks (``patient_metrics.py``).  The grid is scored from per-slice counts: for each
(seg_threshold, min_component) the masks are made once, and every rule, cut and
min_area only decides which slices keep them, so Dice = 2 sum(kept intersections) /
(sum(kept areas) + sum(true areas)) per patient.

Choosing on the very patients that are then scored would be optimistic, so
``tune_pipeline`` chooses by leave-one-fold-out: the settings used on fold k's
patients are the best ones on the other folds' patients (nested cross-validation),
and the resulting per-patient table is an honest estimate, comparable with
``crossval compare``.  The settings chosen on all the folds together are the ones to
ship with models trained on all patients.

The objective is the mean per-patient Dice; ties go to the pooled slice accuracy,
then to the earlier settings of the grid (simplest first).

The grid is DEFAULT_GRID unless told otherwise (``crossval tune --grid KEY=V1,V2,...``,
``parse_grid_entry``).  A setting chosen at an end of its list (``grid_edges``) may be
better still beyond it, so the command says so rather than let the grid's end pass for
an optimum.
"""
import itertools

import numpy as np

from tinynet.io import atomic_write
from .. import data as tndata
from ..cli import UsageError
from ..inference import RULES, remove_small_components, scale_area
from .scoring import _data_settings, _detection, _runs_by_model, fold_predictors, summarize

__all__ = ["RULES", "DEFAULT_GRID", "GRID_AREA_SIZE", "grid_for", "parse_grid_entry",
           "grid_edges", "PREDICTIONS",
           "collect_predictions", "load_predictions",
           "save_predictions", "slice_counts", "score_settings", "tune_pipeline"]

#: The settings tried.  min_component and min_area are pixels at GRID_AREA_SIZE x
#: GRID_AREA_SIZE; on data of another size ``grid_for`` scales them by the ratio of the
#: areas (20 pixels at 128x128 are 80 at 256x256), so that the same regions are tried.
DEFAULT_GRID = {
    "seg_threshold": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95],
    "min_component": [0, 10, 20, 40, 80],
    "rule": list(RULES),
    "cls_threshold": [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    "min_area": [0, 5, 10, 20, 40, 80],
}

#: The side at which DEFAULT_GRID's areas are counted.
GRID_AREA_SIZE = 128
#: The grid's entries that are areas in pixels.
AREA_KEYS = ("min_component", "min_area")

PREDICTIONS = "predictions.npz"


def grid_for(shape, grid=None):
    """The grid to try on slices of ``shape`` (H, W): DEFAULT_GRID with its areas scaled
    from GRID_AREA_SIZE x GRID_AREA_SIZE to H x W (``inference.scale_area``, as the
    predictor scales a pipeline.json's areas; repeats dropped), then the
    entries of ``grid`` (a dict of lists, taken as they are) in place of the defaults."""
    scaled = {key: list(dict.fromkeys(scale_area(a, GRID_AREA_SIZE, shape)
                                      for a in DEFAULT_GRID[key]))
              for key in AREA_KEYS}
    return {**DEFAULT_GRID, **scaled, **(grid or {})}


#: The grid's entries that are cuts on a probability, in [0, 1].
THRESHOLD_KEYS = ("seg_threshold", "cls_threshold")


def parse_grid_entry(text):
    """``"KEY=V1,V2,..."`` (``crossval tune --grid``) as ``(KEY, [V1, V2, ...])``.

    KEY is one of DEFAULT_GRID's; thresholds are numbers in [0, 1], areas whole numbers
    >= 0, rules names from RULES.  Repeated values are dropped and numbers sorted from
    the smallest, as in DEFAULT_GRID (equal objectives go to the earlier value, and
    ``grid_edges`` reads an end of the list as an end of the range); rules keep their
    order.  A bad entry raises ValueError saying what is wrong.
    """
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or key not in DEFAULT_GRID:
        raise ValueError(f"{text!r} is not KEY=V1,V2,... with KEY one of "
                         f"{', '.join(DEFAULT_GRID)}")
    parsed = list(dict.fromkeys(_grid_value(key, value.strip()) for value in values.split(",")))
    return key, parsed if key == "rule" else sorted(parsed)


def _grid_value(key, text):
    """One value of a --grid entry for ``key``: a rule name, a whole number of pixels >= 0
    (areas) or a probability in [0, 1] (thresholds); ValueError naming the value if not."""
    if key == "rule":
        if text not in RULES:
            raise ValueError(f"rule {text!r} is none of {', '.join(RULES)}")
        return text
    number = int if key in AREA_KEYS else float
    try:
        value = number(text) + 0            # + 0 turns a -0.0 into 0.0
    except ValueError:
        value = None
    if key in AREA_KEYS:
        if value is None or value < 0:
            raise ValueError(f"{key} takes whole numbers of pixels >= 0, got {text!r}")
    elif value is None or not 0.0 <= value <= 1.0:       # also refuses nan
        raise ValueError(f"{key} takes probabilities in [0, 1], got {text!r}")
    return value


def grid_edges(grid, chosen):
    """Which chosen settings lie at an end of the grid that a wider grid could pass:
    ``{key: "largest" | "smallest"}``.

    ``grid`` is the whole grid tried (``tune_pipeline``'s ``result["grid"]``), ``chosen``
    one choice (its ``chosen_on_all_folds``).  A value is at the edge when it is the
    largest one tried (below 1 for a threshold, which cannot go higher), or the smallest
    one tried when something smaller could differ: a threshold above 0, an area above 1
    (areas of 0 and 1 keep the same masks and calls).  The settings there might be better
    still beyond it: ``crossval tune --grid`` tries more.  Keys with one value tried, or
    no value chosen (cls_threshold under the rule "segmenter"), are left out.
    """
    edges = {}
    for key in (*THRESHOLD_KEYS, *AREA_KEYS):
        value, tried = chosen.get(key), grid[key]
        if value is None or len(tried) < 2:
            continue
        floor = 1 if key in AREA_KEYS else 0.0
        if value == max(tried) and not (key in THRESHOLD_KEYS and value >= 1.0):
            edges[key] = "largest"
        elif value == min(tried) and value > floor:
            edges[key] = "smallest"
    return edges


# ---------------------------------------------------------------------------
# The models' outputs, once
# ---------------------------------------------------------------------------

def collect_predictions(run_folders, *, data=None, device="cpu", checkpoint="last", tta=False,
                        folds=None):
    """Every held-out slice's model outputs, fold by fold: a dict of arrays.

    ``patient`` (N,) str, ``fold`` (N,) int, ``true`` (N, H, W) uint8 masks,
    ``cls_probability`` (N,) float64 (NaN without a classifier run) and
    ``pixel_probability`` (N, H, W) float32 (the segmenter on every slice; kept in float32
    so that a threshold cuts exactly where ``crossval score`` and ``predict`` cut).
    ``tta=True``: the segmenter's probabilities averaged over the mirror image (as
    ``predict --tta``), so that the settings are chosen for that prediction.
    ``folds``: only these fold numbers' patients (default every fold's).
    """
    runs = _runs_by_model(run_folders, folds)
    if "segmenter" not in runs:
        raise UsageError("tuning needs a segmenter run (and optionally a classifier run)")
    parts = {"patient": [], "fold": [], "true": [], "cls_probability": [],
             "pixel_probability": []}
    predictors = fold_predictors(runs, _data_settings(runs, data), device, checkpoint,
                                 folds=folds, cls_threshold=0.0, segment_all=True, tta=tta)
    for fold, patients, predictor, held_out in predictors:
        for patient in patients:
            images, true = held_out.subset([patient]).arrays()
            result = predictor(images)
            n = len(images)
            parts["patient"] += [patient] * n
            parts["fold"].append(np.full(n, fold))
            parts["true"].append(true.astype(np.uint8))
            parts["cls_probability"].append(
                np.full(n, np.nan) if result.classifier_probability is None
                else result.classifier_probability)
            parts["pixel_probability"].append(result.pixel_probabilities.astype(np.float32))
    return {"patient": np.array(parts["patient"]), "fold": np.concatenate(parts["fold"]),
            "true": np.concatenate(parts["true"]),
            "cls_probability": np.concatenate(parts["cls_probability"]),
            "pixel_probability": np.concatenate(parts["pixel_probability"])}


def save_predictions(predictions, path):
    """Write ``collect_predictions``'s arrays to one .npz, atomically."""
    atomic_write(path, lambda f: np.savez_compressed(f, **predictions))


def load_predictions(path):
    """The arrays written by ``save_predictions``."""
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


# ---------------------------------------------------------------------------
# Scoring settings from per-slice counts
# ---------------------------------------------------------------------------

def slice_counts(predictions, seg_threshold, min_component):
    """Per slice (intersection, predicted area, true area), int64 (3, N), of the segmenter's
    masks at ``seg_threshold`` without 2-D regions under ``min_component`` pixels."""
    masks = predictions["pixel_probability"] >= seg_threshold
    if min_component > 0:
        masks = np.stack([remove_small_components(m.astype(np.uint8), min_component)
                          for m in masks]).astype(bool)
    true = predictions["true"].astype(bool)
    axes = (1, 2)
    return np.stack([(masks & true).sum(axis=axes), masks.sum(axis=axes),
                     true.sum(axis=axes)]).astype(np.int64)


def _calls(rule, cls_probability, area, cls_threshold, min_area):
    """(called tumour, mask kept) per slice for a rule (see the module doc)."""
    by_segmenter = area >= max(min_area, 1)
    if rule == "segmenter":
        called = by_segmenter
    else:
        by_classifier = cls_probability >= cls_threshold
        called = {"classifier": by_classifier, "both": by_classifier & by_segmenter,
                  "either": by_classifier | by_segmenter}[rule]
    return called, called & (area >= min_area)


def score_settings(predictions, counts, patient_index, n_patients, rule, cls_threshold,
                   min_area):
    """Per patient (dice, tp, fp, tn, fn, predicted pixels) as arrays, for one setting."""
    intersection, area, true_area = counts
    called, kept = _calls(rule, predictions["cls_probability"], area, cls_threshold, min_area)

    def per_patient(values):
        return np.bincount(patient_index, weights=values, minlength=n_patients)

    inter, pred = per_patient(intersection * kept), per_patient(area * kept)
    true = per_patient(true_area)
    denominator = pred + true
    dice = np.where(denominator > 0, 2 * inter / np.maximum(denominator, 1), 1.0)
    has_tumour = true_area > 0
    tp, fp, tn, fn = (per_patient(a & b) for a, b in (
        (called, has_tumour), (called, ~has_tumour), (~called, ~has_tumour),
        (~called, has_tumour)))
    return dice, (tp, fp, tn, fn, pred)


def _grid(grid, has_classifier):
    """The (rule, cls_threshold, min_area) combinations, simplest first."""
    rules = [r for r in grid["rule"] if has_classifier or r == "segmenter"]
    for rule in rules:
        cuts = [None] if rule == "segmenter" else grid["cls_threshold"]
        for cut, min_area in itertools.product(cuts, grid["min_area"]):
            yield rule, cut, min_area


# ---------------------------------------------------------------------------
# Nested choice
# ---------------------------------------------------------------------------

def tune_pipeline(predictions, grid=None):
    """Choose the settings by leave-one-fold-out; returns a JSON-ready dict.

    ``{"grid", "chosen_on_all_folds": settings, "chosen_per_fold": {k: settings chosen
    on the other folds}, "patients": rows as in scoring.COLUMNS (each patient scored
    with the settings chosen without its fold), "summary"}``.  Each settings dict has
    its objective (mean Dice, pooled accuracy) on the patients it was chosen on.
    ``grid``: lists that replace the ones of ``grid_for`` (the default grid, its areas
    scaled to the slices' size).
    """
    unknown = sorted(set(grid or {}) - set(DEFAULT_GRID))
    if unknown:
        raise ValueError(f"tune_pipeline: unknown grid keys {unknown}; the grid has "
                         f"{sorted(DEFAULT_GRID)}")
    grid = grid_for(predictions["true"].shape[1:], grid)
    has_classifier = not np.isnan(predictions["cls_probability"]).all()
    if not has_classifier and "segmenter" not in grid["rule"]:
        raise ValueError("tune_pipeline: without a classifier only rule 'segmenter' can be "
                         f"tried, and the grid's rules are {grid['rule']}")
    patients, patient_index = np.unique(predictions["patient"], return_inverse=True)
    fold_of_patient = np.zeros(len(patients), dtype=np.int64)
    fold_of_patient[patient_index] = predictions["fold"]
    folds = sorted(set(fold_of_patient.tolist()))
    # scores[(settings)] = per patient (dice, tp, fp, tn, fn, predicted pixels)
    scores = {}
    for seg_threshold, min_component in itertools.product(grid["seg_threshold"],
                                                          grid["min_component"]):
        counts = slice_counts(predictions, seg_threshold, min_component)
        for rule, cut, min_area in _grid(grid, has_classifier):
            dice, detection = score_settings(predictions, counts, patient_index, len(patients),
                                             rule, cut, min_area)
            key = (seg_threshold, min_component, rule, cut, min_area)
            scores[key] = (dice, *detection)

    def best(selected):
        """The settings with the best objective on the patients ``selected`` (bool mask)."""
        def objective(key):
            dice, tp, fp, tn, fn, _ = scores[key]
            pooled = [x[selected].sum() for x in (tp, fp, tn, fn)]
            return dice[selected].mean(), (pooled[0] + pooled[2]) / max(sum(pooled), 1)
        chosen = max(scores, key=objective)     # max keeps the first of equal ones
        mean_dice, accuracy = objective(chosen)
        return chosen, {"mean_dice": float(mean_dice), "slice_accuracy": float(accuracy)}

    chosen_per_fold, rows = {}, []
    for fold in folds:
        key, objective = best(fold_of_patient != fold)
        chosen_per_fold[fold] = {**_settings(key), "objective_on_other_folds": objective}
        dice, tp, fp, tn, fn, pred = scores[key]
        for k in np.flatnonzero(fold_of_patient == fold):
            rows.append(_row(patients[k], fold, predictions, patient_index == k, dice[k],
                             tp[k], fp[k], tn[k], fn[k], pred[k]))
    key, objective = best(np.ones(len(patients), dtype=bool))
    rows.sort(key=lambda row: row["patient"])
    return {"model": "pipeline" if has_classifier else "segmenter", "grid": grid,
            "n_splits": len(folds),
            "chosen_on_all_folds": {**_settings(key), "objective_on_all_folds": objective},
            "chosen_per_fold": chosen_per_fold, "patients": rows, "summary": summarize(rows)}


def _settings(key):
    seg_threshold, min_component, rule, cut, min_area = key
    return {"seg_threshold": seg_threshold, "min_component": min_component, "rule": rule,
            "cls_threshold": cut, "min_area": min_area}


def _row(patient, fold, predictions, slices, dice, tp, fp, tn, fn, predicted):
    true = predictions["true"][slices]
    has_tumour = true.reshape(len(true), -1).any(axis=1)
    return {"patient": str(patient), "fold": int(fold),
            "institution": tndata.institution_of(str(patient)), "slices": int(slices.sum()),
            "tumour_slices": int(has_tumour.sum()), "tumour_pixels": int(true.sum()),
            "predicted_pixels": int(predicted), "dice": float(dice),
            **_detection(int(tp), int(fp), int(tn), int(fn))}
