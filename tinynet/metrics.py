"""Evaluation metrics of binary segmentation and classification (NumPy; ranks from SciPy).

Segmentation, with P the predicted and T the true set of tumour pixels:

* Dice  = 2 |P ∩ T| / (|P| + |T|)
* IoU   = |P ∩ T| / |P ∪ T|          (Jaccard index; IoU = Dice / (2 - Dice))

Both are 1 for a perfect prediction and 0 when P and T do not overlap.  When
P and T are *both* empty the ratio is 0/0; we score it ``EMPTY_SCORE = 1.0``
(nothing to find, nothing found: a correct answer).  When exactly one is empty
the score is 0, as the formula gives.

The counts behind them are public so that other scores can be built from
them: ``overlap_counts`` gives |P ∩ T|, |P| and |T| of every slice of a
stack, and ``dice_from_counts`` / ``iou_from_counts`` turn any sums of those
counts into scores (an application sums them per patient for a 3-D Dice).

Classification, from the confusion matrix [[TN, FP], [FN, TP]] (rows: truth
0/1, columns: prediction 0/1):

* accuracy    = (TP + TN) / n
* precision   = TP / (TP + FP)          (positive predictive value)
* sensitivity = TP / (TP + FN)          (recall, true positive rate)
* specificity = TN / (TN + FP)          (true negative rate)
* F1          = 2 TP / (2 TP + FP + FN) (harmonic mean of precision and sensitivity)

A ratio whose denominator is 0 (precision with no predicted positive,
sensitivity with no true positive, ...) is ``ZERO_DIVISION = 0.0``, the rule of
scikit-learn's ``zero_division=0``.

ROC AUC is the Mann-Whitney U statistic divided by n_pos * n_neg: the
probability that a random tumour slice scores higher than a random healthy one,
a tie counting 1/2.  It equals the trapezoid area under ``roc_curve``.  With
only one class present it is undefined and returned as NaN.

Every function takes NumPy arrays, lists or CuPy arrays (copied to the host)
and returns plain Python numbers, lists and dicts, ready for ``json.dump``,
except ``confusion_matrix`` (an int64 (2, 2) array), ``roc_curve`` (three
float64 arrays), ``overlap_counts`` (three int64 arrays) and the ``*_from_counts``
of arrays, which are arrays to compute with; ``.tolist()`` makes them plain.

Nothing here knows of patients or slices of one brain: scores per patient are
the application's (built from ``overlap_counts`` and ``dice_from_counts``).
"""
import math

import numpy as np
from scipy.stats import rankdata

from .backend import to_numpy

__all__ = ["EMPTY_SCORE", "ZERO_DIVISION",
           "dice_score", "iou_score", "dice_per_slice",
           "overlap_counts", "dice_from_counts", "iou_from_counts",
           "confusion_matrix", "accuracy_score", "precision_score", "sensitivity_score",
           "recall_score", "specificity_score", "f1_score",
           "roc_curve", "roc_auc", "classification_metrics",
           "youden_threshold", "threshold_for_sensitivity"]

#: Dice and IoU when prediction and truth are both empty (0/0): a correct "no tumour".
EMPTY_SCORE = 1.0

#: precision, sensitivity, specificity and F1 when their denominator is 0.
ZERO_DIVISION = 0.0


# ---------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------

def _host_array(x):
    """``x`` as a NumPy array (CuPy arrays are copied to the host)."""
    return np.asarray(to_numpy(x))


def _check_same_shape(fn, a, a_name, b, b_name):
    if a.shape != b.shape:
        raise ValueError(f"{fn}: {a_name} has shape {a.shape} but {b_name} has shape "
                         f"{b.shape}; they must be the same")


def _binary(fn, name, x):
    """``x`` as a bool array; raise if it holds anything but 0/1 (or bool)."""
    if x.dtype == bool:
        return x
    if not (np.issubdtype(x.dtype, np.number)):
        raise ValueError(f"{fn}: {name} must be a numeric or bool array, got dtype {x.dtype}")
    is_binary = (x == 0) | (x == 1)
    if not is_binary.all():
        bad = x[~is_binary].flat[0]
        raise ValueError(f"{fn}: {name} must be binary (bool or 0/1), found the value {bad!r}; "
                         f"threshold probabilities first, e.g. {name} > 0.5")
    return x.astype(bool)


def _binary_pair(fn, pred, target, pred_name="pred", target_name="target"):
    """Both inputs as bool arrays of one shape."""
    pred, target = _host_array(pred), _host_array(target)
    _check_same_shape(fn, pred, pred_name, target, target_name)
    return _binary(fn, pred_name, pred), _binary(fn, target_name, target)


def _labels_and_scores(fn, y_true, y_score):
    """Flattened bool labels and float64 scores of one shape, at least one sample, all finite."""
    y_true, y_score = _host_array(y_true), _host_array(y_score)
    _check_same_shape(fn, y_true, "y_true", y_score, "y_score")
    if y_true.size == 0:
        raise ValueError(f"{fn}: y_true and y_score are empty; there is nothing to evaluate")
    y_true = _binary(fn, "y_true", y_true).ravel()
    if not (np.issubdtype(y_score.dtype, np.number) or y_score.dtype == bool):
        raise ValueError(f"{fn}: y_score must be numeric, got dtype {y_score.dtype}")
    y_score = y_score.astype(np.float64).ravel()
    if not np.isfinite(y_score).all():
        index = int(np.flatnonzero(~np.isfinite(y_score))[0])
        raise ValueError(f"{fn}: y_score[{index}] is {y_score[index]}; scores must be finite")
    return y_true, y_score


# ---------------------------------------------------------------------------
# Segmentation: Dice and IoU
# ---------------------------------------------------------------------------

def _score_or_empty(numerator, denominator):
    """numerator / denominator elementwise, EMPTY_SCORE where the denominator is 0: a float
    for single numbers, a float64 array for arrays."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    safe = np.where(denominator > 0, denominator, 1.0)  # avoid 0/0 warnings
    score = np.where(denominator > 0, numerator / safe, EMPTY_SCORE)
    return float(score) if score.ndim == 0 else score


def dice_from_counts(intersection, pred_sum, true_sum):
    """Dice 2 |P∩T| / (|P| + |T|) from the counts, EMPTY_SCORE where |P| + |T| = 0.

    The counts are numbers or arrays of one shape (e.g. sums over a patient's
    slices of the columns of ``overlap_counts``): a float, or a float64 array.
    """
    return _score_or_empty(2.0 * np.asarray(intersection, dtype=np.float64),
                           np.asarray(pred_sum) + np.asarray(true_sum))


def iou_from_counts(intersection, pred_sum, true_sum):
    """IoU |P∩T| / |P∪T| from the counts, |P∪T| = |P| + |T| - |P∩T|; EMPTY_SCORE where
    |P∪T| = 0.  Numbers give a float, arrays a float64 array."""
    intersection = np.asarray(intersection)
    return _score_or_empty(intersection,
                           np.asarray(pred_sum) + np.asarray(true_sum) - intersection)


def _whole_counts(fn, pred, target):
    """(|P∩T|, |P|, |T|) over all elements of two binary arrays of one shape."""
    pred, target = _binary_pair(fn, pred, target)
    return np.count_nonzero(pred & target), np.count_nonzero(pred), np.count_nonzero(target)


def dice_score(pred, target):
    """Dice coefficient 2 |P ∩ T| / (|P| + |T|) of two binary masks of any (equal) shape.

    ``pred`` and ``target`` are bool or 0/1 arrays, e.g. (H, W) or a (S, H, W)
    volume.  Returns a float in [0, 1]; ``EMPTY_SCORE`` (1.0) if both are empty.
    """
    return dice_from_counts(*_whole_counts("dice_score", pred, target))


def iou_score(pred, target):
    """Intersection over union |P ∩ T| / |P ∪ T| of two binary masks of any (equal) shape.

    Returns a float in [0, 1]; ``EMPTY_SCORE`` (1.0) if both masks are empty.
    """
    return iou_from_counts(*_whole_counts("iou_score", pred, target))


def overlap_counts(pred_masks, true_masks):
    """(|P∩T|, |P|, |T|) of every slice of two (N, ...) binary stacks: three int64 (N,) arrays.

    The inputs are bool or 0/1 arrays of one shape, a non-empty stack of
    slices such as (N, H, W).  Sums of these counts over any group of slices
    (a patient, a volume) give that group's Dice with ``dice_from_counts``.
    """
    return _overlap_counts("overlap_counts", pred_masks, true_masks)


def _overlap_counts(fn, pred_masks, true_masks):
    pred, true = _binary_pair(fn, pred_masks, true_masks, "pred_masks", "true_masks")
    if pred.ndim < 2 or pred.shape[0] == 0:
        raise ValueError(f"{fn}: masks must be a non-empty stack of slices (N, H, W), "
                         f"got shape {pred.shape}")
    pred, true = pred.reshape(len(pred), -1), true.reshape(len(true), -1)
    return tuple(np.count_nonzero(m, axis=1).astype(np.int64) for m in (pred & true, pred, true))


def dice_per_slice(pred_masks, true_masks):
    """Dice of every slice of two (N, H, W) binary stacks, as a list of N floats."""
    return dice_from_counts(*_overlap_counts("dice_per_slice", pred_masks, true_masks)).tolist()


# ---------------------------------------------------------------------------
# Classification: confusion matrix and the ratios made from it
# ---------------------------------------------------------------------------

def confusion_matrix(y_true, y_pred):
    """Counts of a binary classification as an int64 (2, 2) array [[TN, FP], [FN, TP]].

    Row = truth (0, 1), column = prediction (0, 1), as in scikit-learn.
    ``y_true`` and ``y_pred`` are binary arrays of the same shape (any shape).
    """
    y_pred, y_true = _binary_pair("confusion_matrix", y_pred, y_true, "y_pred", "y_true")
    tp = np.count_nonzero(y_true & y_pred)
    fp = np.count_nonzero(y_pred) - tp
    fn = np.count_nonzero(y_true) - tp
    tn = y_true.size - tp - fp - fn
    return np.array([[tn, fp], [fn, tp]], dtype=np.int64)


def _ratio(numerator, denominator):
    return float(numerator / denominator) if denominator > 0 else ZERO_DIVISION


def _rates(cm):
    """accuracy, precision, sensitivity, specificity, F1 from [[TN, FP], [FN, TP]]."""
    (tn, fp), (fn, tp) = np.asarray(cm).tolist()
    return {"accuracy": _ratio(tp + tn, tn + fp + fn + tp),
            "precision": _ratio(tp, tp + fp),
            "sensitivity": _ratio(tp, tp + fn),
            "specificity": _ratio(tn, tn + fp),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn)}


def accuracy_score(y_true, y_pred):
    """(TP + TN) / n for binary labels and predictions."""
    return _rates(confusion_matrix(y_true, y_pred))["accuracy"]


def precision_score(y_true, y_pred):
    """TP / (TP + FP); ``ZERO_DIVISION`` (0.0) when nothing is predicted positive."""
    return _rates(confusion_matrix(y_true, y_pred))["precision"]


def sensitivity_score(y_true, y_pred):
    """TP / (TP + FN), the recall; ``ZERO_DIVISION`` (0.0) when no sample is positive."""
    return _rates(confusion_matrix(y_true, y_pred))["sensitivity"]


recall_score = sensitivity_score


def specificity_score(y_true, y_pred):
    """TN / (TN + FP); ``ZERO_DIVISION`` (0.0) when no sample is negative."""
    return _rates(confusion_matrix(y_true, y_pred))["specificity"]


def f1_score(y_true, y_pred):
    """2 TP / (2 TP + FP + FN); ``ZERO_DIVISION`` (0.0) when TP = FP = FN = 0."""
    return _rates(confusion_matrix(y_true, y_pred))["f1"]


# ---------------------------------------------------------------------------
# ROC curve, AUC and threshold choice
# ---------------------------------------------------------------------------

def roc_auc(y_true, y_score):
    """Area under the ROC curve by the rank (Mann-Whitney U) statistic.

    AUC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg), with R_pos the sum of
    the mid-ranks (``scipy.stats.rankdata``: tied scores share the mean of their
    ranks) of the positive samples' scores among all scores.  This is the
    fraction of (positive, negative) pairs ordered correctly, a tie counting 1/2,
    and equals the trapezoid area under ``roc_curve``.  NaN when ``y_true`` holds
    only one class.
    """
    y_true, y_score = _labels_and_scores("roc_auc", y_true, y_score)
    n_pos = int(y_true.sum())
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    rank_sum = rankdata(y_score)[y_true].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(y_true, y_score):
    """Receiver operating characteristic: (fpr, tpr, thresholds), float64 arrays.

    A sample is predicted positive when ``y_score >= threshold``.  ``thresholds``
    are the distinct scores in decreasing order, preceded by +inf (nothing
    predicted positive), so the curve starts at (fpr, tpr) = (0, 0) and ends at
    (1, 1) at the lowest score.  fpr = FP / n_neg and tpr = TP / n_pos; the rate
    of a class that is absent is NaN.  Every threshold is kept (no thinning).
    """
    y_true, y_score = _labels_and_scores("roc_curve", y_true, y_score)
    order = np.argsort(-y_score, kind="stable")
    scores, labels = y_score[order], y_true[order]
    # the last position of every run of equal scores: one ROC point per distinct score
    run_end = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])
    tps = np.cumsum(labels)[run_end]
    fps = run_end + 1 - tps
    n_pos, n_neg = int(labels.sum()), len(labels) - int(labels.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.r_[0, tps] / n_pos if n_pos else np.full(len(tps) + 1, np.nan)
        fpr = np.r_[0, fps] / n_neg if n_neg else np.full(len(fps) + 1, np.nan)
    thresholds = np.r_[np.inf, scores[run_end]]
    return fpr.astype(np.float64), tpr.astype(np.float64), thresholds


def _roc_with_both_classes(fn, y_true, y_score):
    fpr, tpr, thresholds = roc_curve(y_true, y_score)
    if np.isnan(fpr).any() or np.isnan(tpr).any():
        raise ValueError(f"{fn}: y_true holds only one class; a threshold needs both "
                         f"tumour and non-tumour samples")
    return fpr, tpr, thresholds


def youden_threshold(y_true, y_score):
    """The score threshold maximising Youden's J = sensitivity + specificity - 1 = tpr - fpr.

    Predict positive when ``y_score >= threshold``.  Among equally good
    thresholds the highest is returned.  Choose it on validation data, not on
    the data you report.  Raises ValueError if ``y_true`` has only one class.
    """
    fpr, tpr, thresholds = _roc_with_both_classes("youden_threshold", y_true, y_score)
    best = 1 + int(np.argmax((tpr - fpr)[1:]))  # skip the +inf threshold (predicts nothing)
    return float(thresholds[best])


def threshold_for_sensitivity(y_true, y_score, sensitivity=0.95):
    """The highest threshold whose sensitivity (tpr) is at least ``sensitivity``.

    The highest such threshold gives the best specificity at that sensitivity,
    since both rates only grow as the threshold falls.  ``sensitivity`` in (0, 1].
    """
    if not 0.0 < sensitivity <= 1.0:
        raise ValueError(f"threshold_for_sensitivity: sensitivity must be in (0, 1], "
                         f"got {sensitivity}")
    _, tpr, thresholds = _roc_with_both_classes("threshold_for_sensitivity", y_true, y_score)
    # tpr is non-decreasing; the small tolerance keeps 0.95 reachable with 19 of 20 positives
    return float(thresholds[int(np.argmax(tpr >= sensitivity - 1e-12))])


def classification_metrics(y_true, y_score, threshold=0.5):
    """Every classification number of a report, for scores thresholded at ``threshold``.

    ``y_true``: (N,) binary labels (1 = tumour); ``y_score``: (N,) scores, e.g.
    tumour probabilities; a sample is predicted positive when score >= threshold.
    Returns plain Python values::

        {"accuracy", "precision", "sensitivity", "specificity", "f1": floats,
         "auc": float (NaN with one class), "confusion_matrix": [[TN, FP], [FN, TP]],
         "threshold": float, "n": int}
    """
    y_true, y_score = _labels_and_scores("classification_metrics", y_true, y_score)
    cm = confusion_matrix(y_true, y_score >= threshold)
    return {**_rates(cm), "auc": roc_auc(y_true, y_score), "confusion_matrix": cm.tolist(),
            "threshold": float(threshold), "n": int(len(y_true))}
