"""Tests for tinynet.metrics against values worked out by hand (no scikit-learn oracle)."""
import json
import math

import numpy as np
import pytest

import tinynet as tn
from tinynet import metrics
from tinynet.metrics import (EMPTY_SCORE, ZERO_DIVISION, classification_metrics, confusion_matrix,
                             dice_per_slice, dice_score, iou_score, roc_auc, roc_curve,
                             segmentation_metrics, threshold_for_sensitivity, youden_threshold)


def trapezoid_area(x, y):
    """Area under the polyline (x, y), written out so the test does not depend on np.trapz."""
    x, y = np.asarray(x), np.asarray(y)
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


# ---------------------------------------------------------------------------
# Dice and IoU
# ---------------------------------------------------------------------------

def test_dice_and_iou_by_hand():
    pred = np.array([[1, 1], [0, 0]])
    target = np.array([[1, 0], [1, 0]], dtype=bool)
    # |P ∩ T| = 1, |P| = |T| = 2, |P ∪ T| = 3
    assert dice_score(pred, target) == pytest.approx(2 * 1 / (2 + 2))
    assert iou_score(pred, target) == pytest.approx(1 / 3)
    assert dice_score(target, target) == 1.0 and iou_score(target, target) == 1.0


def test_empty_masks_follow_the_documented_rule():
    empty, full = np.zeros((3, 4, 4), bool), np.ones((3, 4, 4), bool)
    assert EMPTY_SCORE == 1.0
    assert dice_score(empty, empty) == EMPTY_SCORE
    assert iou_score(empty, empty) == EMPTY_SCORE
    assert dice_score(empty, full) == 0.0 and dice_score(full, empty) == 0.0
    assert iou_score(empty, full) == 0.0


def test_scores_are_plain_python_floats():
    value = dice_score(np.array([1, 0]), np.array([1, 1]))
    assert type(value) is float and type(iou_score([1, 0], [1, 1])) is float


def test_mask_shapes_must_match():
    with pytest.raises(ValueError, match=r"pred has shape \(2, 3\) but target has shape \(3, 2\)"):
        dice_score(np.zeros((2, 3)), np.zeros((3, 2)))


def test_masks_must_be_binary():
    with pytest.raises(ValueError, match=r"pred must be binary .*0\.7"):
        iou_score(np.array([0.0, 0.7]), np.array([0, 1]))
    with pytest.raises(ValueError, match="target must be binary"):
        dice_score(np.array([0, 1]), np.array([0, 255]))


# ---------------------------------------------------------------------------
# Per-patient 3-D Dice
# ---------------------------------------------------------------------------

def per_patient_case():
    """Four 2x2 slices of three patients, interleaved so that grouping matters.

    Patient A, slice 1: P = top row, T = top-left pixel; slice 2: P empty, T = bottom row.
      volume: |P∩T| = 1, |P| = 2, |T| = 3 -> Dice 2/5 = 0.4, IoU 1/4
      (the mean of its per-slice Dice, (2/3 + 0) / 2 = 1/3, is a different number)
    Patient B: both empty -> Dice = IoU = 1 (EMPTY_SCORE)
    Patient C: P = all four, T = three -> |P∩T| = 3 -> Dice 6/7, IoU 3/4
    """
    pred = np.array([[[1, 1], [0, 0]],    # A
                     [[0, 0], [0, 0]],    # B
                     [[0, 0], [0, 0]],    # A
                     [[1, 1], [1, 1]]],   # C
                    dtype=np.uint8)
    true = np.array([[[1, 0], [0, 0]],
                     [[0, 0], [0, 0]],
                     [[0, 0], [1, 1]],
                     [[1, 1], [1, 0]]], dtype=np.uint8)
    return pred, true, ["A", "B", "A", "C"]


def test_segmentation_metrics_per_patient_volume():
    pred, true, patient_of = per_patient_case()
    result = segmentation_metrics(pred, true, patient_of)
    per = result["per_patient"]
    assert list(per) == ["A", "B", "C"]
    assert per["A"] == {"dice": pytest.approx(0.4), "iou": pytest.approx(0.25), "slices": 2,
                        "tumour_slices": 2, "true_pixels": 3, "pred_pixels": 2}
    assert per["B"] == {"dice": 1.0, "iou": 1.0, "slices": 1, "tumour_slices": 0,
                        "true_pixels": 0, "pred_pixels": 0}
    assert per["C"]["dice"] == pytest.approx(6 / 7) and per["C"]["iou"] == pytest.approx(0.75)
    assert result["dice_per_patient_mean"] == pytest.approx((0.4 + 1 + 6 / 7) / 3)
    assert result["dice_per_patient_median"] == pytest.approx(6 / 7)
    assert result["iou_per_patient_mean"] == pytest.approx((0.25 + 1 + 0.75) / 3)
    # slices whose truth has tumour: A1 (2/3), A2 (0), C (6/7)
    assert result["dice_tumour_slices_mean"] == pytest.approx((2 / 3 + 0 + 6 / 7) / 3)
    assert result["n_patients"] == 3 and result["n_slices"] == 4
    json.dumps(result)  # plain Python values only


def test_dice_per_slice_by_hand():
    pred, true, _ = per_patient_case()
    assert dice_per_slice(pred, true) == pytest.approx([2 / 3, 1.0, 0.0, 6 / 7])


def test_segmentation_metrics_without_tumour_slices():
    empty = np.zeros((2, 3, 3), bool)
    result = segmentation_metrics(empty, empty, ["P", "P"])
    assert result["dice_per_patient_mean"] == 1.0
    assert math.isnan(result["dice_tumour_slices_mean"])


def test_patient_of_length_must_match_slices():
    pred, true, _ = per_patient_case()
    with pytest.raises(ValueError, match="patient_of has 3 entries but the masks have 4 slices"):
        segmentation_metrics(pred, true, ["A", "B", "C"])


def test_segmentation_metrics_shapes_and_stacks():
    with pytest.raises(ValueError, match=r"pred_masks has shape \(2, 4, 4\) but true_masks has "
                                         r"shape \(2, 4, 5\)"):
        segmentation_metrics(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)), ["A", "A"])
    with pytest.raises(ValueError, match=r"stack of slices \(N, H, W\), got shape \(4,\)"):
        segmentation_metrics(np.zeros(4), np.zeros(4), ["A"] * 4)


# ---------------------------------------------------------------------------
# Confusion matrix and the ratios
# ---------------------------------------------------------------------------

Y_TRUE = [0, 0, 0, 1, 1, 1, 1]
Y_PRED = [0, 1, 0, 1, 1, 0, 1]   # TN = 2, FP = 1, FN = 1, TP = 3


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(Y_TRUE, Y_PRED)
    assert cm.dtype == np.int64
    assert cm.tolist() == [[2, 1], [1, 3]]


def test_ratios_by_hand():
    assert metrics.accuracy_score(Y_TRUE, Y_PRED) == pytest.approx(5 / 7)
    assert metrics.precision_score(Y_TRUE, Y_PRED) == pytest.approx(3 / 4)
    assert metrics.sensitivity_score(Y_TRUE, Y_PRED) == pytest.approx(3 / 4)
    assert metrics.recall_score is metrics.sensitivity_score
    assert metrics.specificity_score(Y_TRUE, Y_PRED) == pytest.approx(2 / 3)
    assert metrics.f1_score(Y_TRUE, Y_PRED) == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))


def test_undefined_ratios_are_zero_division():
    assert ZERO_DIVISION == 0.0
    y_true = [0, 1, 1]
    nothing_predicted = [0, 0, 0]
    assert metrics.precision_score(y_true, nothing_predicted) == ZERO_DIVISION
    assert metrics.f1_score([0, 0], [0, 0]) == ZERO_DIVISION
    assert metrics.specificity_score([1, 1], [1, 0]) == ZERO_DIVISION   # no negatives
    assert metrics.sensitivity_score([0, 0], [1, 0]) == ZERO_DIVISION   # no positives


def test_classification_metrics_by_hand():
    scores = [0.1, 0.5, 0.3, 0.9, 0.8, 0.2, 0.6]  # >= 0.5 gives Y_PRED (0.5 itself is positive)
    result = classification_metrics(Y_TRUE, scores, threshold=0.5)
    assert result["confusion_matrix"] == [[2, 1], [1, 3]]
    assert result["accuracy"] == pytest.approx(5 / 7)
    assert result["precision"] == pytest.approx(0.75)
    assert result["sensitivity"] == pytest.approx(0.75)
    assert result["specificity"] == pytest.approx(2 / 3)
    assert result["f1"] == pytest.approx(0.75)
    # positives 0.9, 0.8, 0.2, 0.6 vs negatives 0.1, 0.5, 0.3: 3 + 3 + 1 + 3 = 10 of 12 pairs won
    assert result["auc"] == pytest.approx(10 / 12)
    assert result["threshold"] == 0.5 and result["n"] == 7
    assert all(type(result[k]) is float for k in ("accuracy", "precision", "auc", "threshold"))
    json.dumps(result)


def test_classification_input_errors():
    with pytest.raises(ValueError, match=r"y_true has shape \(3,\) but y_score has shape \(2,\)"):
        classification_metrics([0, 1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="y_true must be binary"):
        classification_metrics([0, 2], [0.2, 0.3])
    with pytest.raises(ValueError, match=r"y_score\[1\] is nan"):
        roc_auc([0, 1], [0.2, float("nan")])
    with pytest.raises(ValueError, match="empty"):
        roc_curve([], [])
    with pytest.raises(ValueError, match=r"y_pred has shape \(2,\) but y_true has shape \(3,\)"):
        confusion_matrix([0, 1, 1], [0, 1])


# ---------------------------------------------------------------------------
# ROC curve and AUC
# ---------------------------------------------------------------------------

TIE_LABELS = [0, 0, 1, 1, 0, 1]
TIE_SCORES = [0.1, 0.5, 0.5, 0.9, 0.3, 0.3]


def test_auc_with_ties_by_hand():
    # positives 0.5, 0.9, 0.3; negatives 0.1, 0.5, 0.3. Pairs (pos beats neg = 1, tie = 1/2):
    #   0.5: 1 + 1/2 + 1 = 2.5;  0.9: 3;  0.3: 1 + 0 + 1/2 = 1.5;  total 7 of 9 pairs
    assert roc_auc(TIE_LABELS, TIE_SCORES) == pytest.approx(7 / 9)


def test_roc_curve_by_hand():
    fpr, tpr, thresholds = roc_curve(TIE_LABELS, TIE_SCORES)
    assert thresholds.tolist() == [math.inf, 0.9, 0.5, 0.3, 0.1]
    assert tpr.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1, 1])
    assert fpr.tolist() == pytest.approx([0, 0, 1 / 3, 2 / 3, 1])
    assert trapezoid_area(fpr, tpr) == pytest.approx(7 / 9)


def test_auc_equals_trapezoid_area_with_many_ties(rng):
    labels = rng.integers(0, 2, 200)
    scores = rng.integers(0, 12, 200) / 11.0 + 0.05 * labels  # few distinct values: many ties
    fpr, tpr, _ = roc_curve(labels, scores)
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert roc_auc(labels, scores) == pytest.approx(trapezoid_area(fpr, tpr), abs=1e-12)


def test_auc_extremes():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert roc_auc([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5


def test_one_class_auc_is_nan():
    assert math.isnan(roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert math.isnan(classification_metrics([0, 0], [0.2, 0.7])["auc"])
    fpr, tpr, _ = roc_curve([0, 0], [0.2, 0.7])
    assert fpr.tolist() == [0.0, 0.5, 1.0] and np.isnan(tpr).all()


# ---------------------------------------------------------------------------
# Threshold choice
# ---------------------------------------------------------------------------

def test_youden_threshold_separable_case():
    # negatives 0.1 0.2 0.3, positives 0.4 0.7 0.9: at 0.4 sensitivity 1 and specificity 1
    assert youden_threshold([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.7, 0.9]) == 0.4


def test_youden_threshold_takes_the_highest_of_equal_thresholds():
    # J(0.8) = 1/2 - 0 and J(0.35) = 1 - 1/2 are equal; J(0.4) = 0
    assert youden_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.8


def test_threshold_for_sensitivity():
    labels, scores = [0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.5, 0.4, 0.7, 0.9]
    # tpr at 0.9, 0.7, 0.5, 0.4 = 1/3, 2/3, 2/3, 1
    assert threshold_for_sensitivity(labels, scores, 1.0) == 0.4
    assert threshold_for_sensitivity(labels, scores, 0.5) == 0.7
    assert threshold_for_sensitivity(labels, scores, 2 / 3) == 0.7
    with pytest.raises(ValueError, match=r"sensitivity must be in \(0, 1\], got 1.5"):
        threshold_for_sensitivity(labels, scores, 1.5)


def test_threshold_needs_both_classes():
    with pytest.raises(ValueError, match="only one class"):
        youden_threshold([1, 1], [0.3, 0.4])


# ---------------------------------------------------------------------------
# Arrays on the GPU
# ---------------------------------------------------------------------------

@pytest.mark.skipif(not tn.gpu_available(), reason="needs CuPy and a GPU")
def test_cupy_inputs_are_accepted():
    cupy = pytest.importorskip("cupy")
    pred, true, patient_of = per_patient_case()
    assert dice_score(cupy.asarray(pred), cupy.asarray(true)) == dice_score(pred, true)
    assert roc_auc(cupy.asarray(TIE_LABELS), cupy.asarray(TIE_SCORES)) == pytest.approx(7 / 9)
    result = segmentation_metrics(cupy.asarray(pred), cupy.asarray(true), patient_of)
    assert result["per_patient"]["A"]["dice"] == pytest.approx(0.4)
