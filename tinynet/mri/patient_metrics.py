"""Segmentation scores per patient: every slice of a patient taken as one 3-D volume.

A patient's Dice sums |P ∩ T|, |P| and |T| over every voxel of the patient
before the ratio is taken.  This is the usual way to report the LGG
segmentation (Buda et al., "Association of genomic subtypes of lower-grade
gliomas with shape features automatically extracted by a deep learning
algorithm", Comput. Biol. Med. 2019), and it is not the mean of the per-slice
Dice scores: a slice with a few tumour pixels weighs as much as its pixels,
not as much as a whole slice.

Built from the framework's public counts (``tinynet.metrics.overlap_counts``,
``dice_from_counts``, ``iou_from_counts``), so the empty-mask rule is the
framework's: a patient without tumour and without predicted tumour scores
``tinynet.metrics.EMPTY_SCORE`` (1.0), and one with exactly one of them empty 0.
"""
import math

import numpy as np

from tinynet.metrics import dice_from_counts, iou_from_counts, overlap_counts

__all__ = ["segmentation_metrics"]


def segmentation_metrics(pred_masks, true_masks, patient_of):
    """Dice and IoU per patient (3-D) and summaries over the patients.

    Parameters
    ----------
    pred_masks, true_masks : (N, H, W) binary arrays (bool or 0/1), one slice per row
    patient_of : sequence of N patient ids (str), the patient of each slice

    Returns a dict of plain Python values::

        {"dice_per_patient_mean":   mean over patients of the 3-D Dice,
         "dice_per_patient_median": median of the same,
         "dice_tumour_slices_mean": mean 2-D Dice over the slices whose truth has tumour
                                    (NaN when no slice has tumour),
         "iou_per_patient_mean":    mean over patients of the 3-D IoU,
         "n_patients": int, "n_slices": int,
         "per_patient": {pid: {"dice", "iou", "slices", "tumour_slices",
                               "true_pixels", "pred_pixels"}}}   (pids sorted)

    The work is a few array reductions: per-slice counts, then ``np.bincount``
    adds them up per patient.
    """
    intersection, pred_sum, true_sum = overlap_counts(pred_masks, true_masks)
    patient_of = [str(p) for p in patient_of]
    if len(patient_of) != len(intersection):
        raise ValueError(f"segmentation_metrics: patient_of has {len(patient_of)} entries but "
                         f"the masks have {len(intersection)} slices; give one patient id per "
                         "slice")
    patients, patient_index = np.unique(np.array(patient_of), return_inverse=True)

    def per_patient(per_slice):
        return np.bincount(patient_index, weights=per_slice, minlength=len(patients))

    p_inter, p_pred, p_true = (per_patient(x) for x in (intersection, pred_sum, true_sum))
    dice = dice_from_counts(p_inter, p_pred, p_true)
    iou = iou_from_counts(p_inter, p_pred, p_true)
    slices = np.bincount(patient_index, minlength=len(patients))
    has_tumour = true_sum > 0
    tumour_slices = per_patient(has_tumour)

    slice_dice = dice_from_counts(intersection, pred_sum, true_sum)
    tumour_slice_mean = float(slice_dice[has_tumour].mean()) if has_tumour.any() else math.nan

    return {
        "dice_per_patient_mean": float(dice.mean()),
        "dice_per_patient_median": float(np.median(dice)),
        "dice_tumour_slices_mean": tumour_slice_mean,
        "iou_per_patient_mean": float(iou.mean()),
        "n_patients": len(patients),
        "n_slices": len(intersection),
        "per_patient": {
            str(pid): {"dice": float(dice[k]), "iou": float(iou[k]), "slices": int(slices[k]),
                       "tumour_slices": int(tumour_slices[k]), "true_pixels": int(p_true[k]),
                       "pred_pixels": int(p_pred[k])}
            for k, pid in enumerate(patients)},
    }
