"""Seventh round's screening of post-processing that `crossval tune` does not try:
2-D hysteresis thresholds, and how much perfect slice detection would add.

Reads a `crossval tune` folder's predictions.npz (every held-out slice's classifier
probability and segmenter pixel probabilities) and prints:

  hysteresis   the nested (leave-one-fold-out) tuning of tinynet's grid with, besides the
               plain pixel thresholds, pairs (high, low): a region of pixels >= low
               (8-connected, within a slice) is kept when it holds a pixel >= high, so a
               faint tumour with a confident core grows to its edge while faint specks
               without one go.  Writes OUT/patients.json for `crossval compare`.
  oracle       the mean / median per-patient Dice at a few pixel thresholds when exactly
               the truly tumorous slices keep their masks (perfect detection), against
               the rule "both" at cut 0.1 and the segmenter alone: what detection errors
               cost against what the masks themselves cost.

    python screen_postprocessing.py runs/cv/tune-pa-ema runs/cv/hysteresis

An experiment, not part of tinynet: it swaps tuning.slice_counts for a version that
understands (high, low) pairs while it runs.
"""
import json
import os
import sys

import numpy as np
from scipy import ndimage

from tinynet.mri.crossval import tuning
from tinynet.mri.inference import remove_small_components

IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
IN_PLANE[1] = True                  # 8-connected within a slice, never across slices
PLAIN = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
PAIRS = [(high, low) for high in (0.9, 0.95, 0.98, 0.99) for low in (0.3, 0.5, 0.7, 0.8, 0.9)
         if low < high]


def threshold_masks(probabilities, threshold):
    """(N, H, W) bool masks: >= threshold, or for a (high, low) pair the regions >= low
    that hold a pixel >= high."""
    if not isinstance(threshold, tuple):
        return probabilities >= threshold
    high, low = threshold
    labels, count = ndimage.label(probabilities >= low, structure=IN_PLANE)
    seeded = np.zeros(count + 1, dtype=bool)
    seeded[np.unique(labels[probabilities >= high])] = True
    seeded[0] = False                                   # the background is no region
    return seeded[labels]


def slice_counts(predictions, seg_threshold, min_component):
    """tuning.slice_counts, with (high, low) pairs as well as plain thresholds."""
    masks = threshold_masks(predictions["pixel_probability"], seg_threshold)
    if min_component > 0:
        masks = np.stack([remove_small_components(m.astype(np.uint8), min_component)
                          for m in masks]).astype(bool)
    true = predictions["true"].astype(bool)
    return np.stack([(masks & true).sum(axis=(1, 2)), masks.sum(axis=(1, 2)),
                     true.sum(axis=(1, 2))]).astype(np.int64)


def hysteresis(predictions, out):
    tuning.slice_counts = slice_counts
    result = tuning.tune_pipeline(predictions, {"seg_threshold": PLAIN + PAIRS})
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "patients.json"), "w", encoding="utf-8") as file:
        json.dump(result, file, indent=1, default=lambda v: list(v) if isinstance(v, tuple)
                  else float(v))
    summary = result["summary"]
    print(f"hysteresis, nested: mean Dice {summary['dice']['mean']:.4f}, median "
          f"{summary['dice']['median']:.4f}")
    for fold, chosen in result["chosen_per_fold"].items():
        print(f"  fold {fold}: seg_threshold {chosen['seg_threshold']}, min_component "
              f"{chosen['min_component']}, rule {chosen['rule']}, cut {chosen['cls_threshold']}")


def oracle(predictions):
    patients, index = np.unique(predictions["patient"], return_inverse=True)
    true = predictions["true"].astype(bool)
    true_area = true.sum(axis=(1, 2))
    cut = predictions["cls_probability"] >= 0.1
    for threshold in (0.5, 0.9, 0.95):
        masks = np.stack([remove_small_components(m.astype(np.uint8), 20) for m in
                          predictions["pixel_probability"] >= threshold]).astype(bool)
        inter, area = (masks & true).sum(axis=(1, 2)), masks.sum(axis=(1, 2))

        def dice(kept):
            i, a = (np.bincount(index, weights=x * kept, minlength=len(patients))
                    for x in (inter, area))
            t = np.bincount(index, weights=true_area, minlength=len(patients))
            d = np.where(a + t > 0, 2 * i / np.maximum(a + t, 1), 1.0)
            return f"{d.mean():.3f} / {np.median(d):.3f}"
        print(f"threshold {threshold}, min_component 20: perfect detection {dice(true_area > 0)}"
              f", rule both at 0.1 {dice(cut & (area > 0))}, segmenter alone {dice(area > 0)}")


if __name__ == "__main__":
    source, out = sys.argv[1], sys.argv[2]
    predictions = tuning.load_predictions(os.path.join(source, "predictions.npz"))
    oracle(predictions)
    hysteresis(predictions, out)
