"""Tests for tinynet.mri.patient_metrics: Dice and IoU per patient, by hand."""
import json
import math

import numpy as np
import pytest

import tinynet as tn
from tinynet.mri.patient_metrics import segmentation_metrics


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


@pytest.mark.gpu
def test_cupy_masks_are_accepted():
    cupy = pytest.importorskip("cupy")
    pred, true, patient_of = per_patient_case()
    result = segmentation_metrics(cupy.asarray(pred), cupy.asarray(true), patient_of)
    assert result["per_patient"]["A"]["dice"] == pytest.approx(0.4)
