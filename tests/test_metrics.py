"""Tests for tinynet.metrics against values worked out by hand (no scikit-learn oracle)."""
import json
import math

import numpy as np
import pytest

import tinynet as tn
from tinynet import metrics
from tinynet.metrics import (EMPTY_SCORE, ZERO_DIVISION, classification_metrics, confusion_matrix,
                             dice_from_counts, dice_per_slice, dice_score, iou_from_counts,
                             iou_score, overlap_counts, roc_auc, roc_curve,
                             threshold_for_sensitivity, youden_threshold)


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
# Per-slice counts, and scores from counts
# ---------------------------------------------------------------------------

def slice_stack():
    """Three 2x2 slices: a partial overlap, both empty, and a prediction with no truth."""
    pred = np.array([[[1, 1], [0, 0]], [[0, 0], [0, 0]], [[0, 1], [0, 0]]], dtype=np.uint8)
    true = np.array([[[1, 0], [1, 0]], [[0, 0], [0, 0]], [[0, 0], [0, 0]]], dtype=bool)
    return pred, true


def test_overlap_counts_by_hand():
    pred, true = slice_stack()
    intersection, pred_sum, true_sum = overlap_counts(pred, true)
    assert intersection.tolist() == [1, 0, 0]
    assert pred_sum.tolist() == [2, 0, 1] and true_sum.tolist() == [2, 0, 0]
    assert all(c.dtype == np.int64 for c in (intersection, pred_sum, true_sum))


def test_scores_from_counts_match_the_mask_scores():
    pred, true = slice_stack()
    counts = overlap_counts(pred, true)
    # per slice: Dice 2/4, EMPTY_SCORE (0/0), 0; IoU 1/3, EMPTY_SCORE, 0
    assert dice_from_counts(*counts).tolist() == pytest.approx([0.5, EMPTY_SCORE, 0.0])
    assert iou_from_counts(*counts).tolist() == pytest.approx([1 / 3, EMPTY_SCORE, 0.0])
    assert dice_per_slice(pred, true) == dice_from_counts(*counts).tolist()
    # sums of counts over slices score the stack as one volume, as dice_score does
    volume = [int(c.sum()) for c in counts]
    assert dice_from_counts(*volume) == dice_score(pred, true) == pytest.approx(2 / 5)
    assert iou_from_counts(*volume) == iou_score(pred, true) == pytest.approx(1 / 4)
    assert type(dice_from_counts(*volume)) is float and type(iou_from_counts(0, 0, 0)) is float
    assert dice_from_counts(0, 0, 0) == EMPTY_SCORE


def test_overlap_counts_shapes_and_stacks():
    with pytest.raises(ValueError, match=r"pred_masks has shape \(2, 4, 4\) but true_masks has "
                                         r"shape \(2, 4, 5\)"):
        overlap_counts(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))
    with pytest.raises(ValueError, match=r"stack of slices \(N, H, W\), got shape \(4,\)"):
        overlap_counts(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="pred_masks must be binary"):
        overlap_counts(np.full((1, 2, 2), 0.5), np.zeros((1, 2, 2)))


def test_dice_per_slice_by_hand():
    pred, true = slice_stack()
    assert dice_per_slice(pred, true) == pytest.approx([0.5, 1.0, 0.0])


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


def test_auc_is_the_share_of_pairs_won_with_ties_counting_half(rng):
    labels = rng.integers(0, 2, 150).astype(bool)
    scores = rng.integers(0, 6, 150).astype(np.float64)     # six values: ties everywhere
    pos, neg = scores[labels][:, None], scores[~labels][None, :]
    pairs_won = (pos > neg).sum() + 0.5 * (pos == neg).sum()
    assert roc_auc(labels, scores) == pytest.approx(pairs_won / (pos.size * neg.size), abs=1e-12)


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

@pytest.mark.gpu
def test_cupy_inputs_are_accepted():
    cupy = pytest.importorskip("cupy")
    pred, true = slice_stack()
    assert dice_score(cupy.asarray(pred), cupy.asarray(true)) == dice_score(pred, true)
    assert roc_auc(cupy.asarray(TIE_LABELS), cupy.asarray(TIE_SCORES)) == pytest.approx(7 / 9)
    counts = overlap_counts(cupy.asarray(pred), cupy.asarray(true))
    assert [c.tolist() for c in counts] == [[1, 0, 0], [2, 0, 1], [2, 0, 0]]
