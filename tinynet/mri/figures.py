"""The PNG figures a training run writes into ``<out>/figures/`` after every epoch.

    curves.png              training and validation loss, and the validation metrics, per epoch
    val_overlays.png        segmenter: validation slices, truth outlined green, prediction red
    confusion_matrix.png    classifier: the validation confusion matrix
    roc.png                 classifier: the validation ROC curve

Each shows the latest epoch; a copy named ``*_best.png`` is kept of the best epoch.
Every file is written atomically, so a figure open in a viewer is never half drawn.
"""
import os

import numpy as np

from tinynet import metrics
from tinynet.io import atomic_copy
from . import viz

__all__ = ["write_curves", "pick_overlay_slices", "write_segmentation_figures",
           "write_classifier_figures"]


def write_curves(folder, history, metric_keys):
    """curves.png: the loss (train and validation) and the validation metrics per epoch
    (the loss alone when ``metric_keys`` is empty: a run without validation)."""
    epochs = [r["epoch"] for r in history]

    def series(key):
        return epochs, [r.get(key, float("nan")) for r in history]

    losses = {"train loss": series("train_loss")}
    if any("val_loss" in r for r in history):
        losses["validation loss"] = series("val_loss")
    scores = {key.replace("val_", "validation ").replace("_", " "): series(key)
              for key in metric_keys}
    panels = [viz.plot_curves(losses, title="loss", xlabel="epoch", ylabel="loss")]
    if scores:
        panels.append(viz.plot_curves(scores, title="validation", xlabel="epoch",
                                      ylabel="score"))
    viz.save_png(viz.image_grid([np.asarray(p) for p in panels], ncols=2),
                 os.path.join(folder, "curves.png"))


def pick_overlay_slices(dataset, indices, count=8):
    """The validation slices worth showing: tumours of all sizes and one or two without.

    Chosen once from the true masks (not the prediction), so that the figure of
    every epoch shows the same slices.  Returns dataset indices, sorted.
    """
    indices = np.asarray(indices)
    area = np.array([int(dataset[i][1].sum()) for i in indices])
    positive, negative = indices[area > 0], indices[area == 0]
    n_neg = min(len(negative), max(1, count // 4))
    n_pos = min(len(positive), count - n_neg)
    by_size = positive[np.argsort(-area[area > 0], kind="stable")]
    return np.sort(np.concatenate([_spread(by_size, n_pos), _spread(negative, n_neg)]))


def _spread(items, n):
    """``n`` items evenly spread over ``items`` (all sizes of tumour, not just the largest)."""
    if n == 0:
        return items[:0]
    return items[np.unique(np.linspace(0, len(items) - 1, n).round().astype(int))]


def write_segmentation_figures(folder, dataset, shown, predictions, threshold, is_best):
    """val_overlays.png: predicted (red) vs true (green) masks, each slice's Dice in its caption.

    predictions : from ``validate_segmenter`` (``indices``, ``probabilities``, ``masks``)
    """
    row_of = {int(index): row for row, index in enumerate(predictions["indices"])}
    tiles, captions = [], []
    for index in shown:
        row = row_of[int(index)]
        truth = predictions["masks"][row]
        pred = predictions["probabilities"][row] >= threshold
        tiles.append(viz.overlay(dataset[index][0], pred_mask=pred, true_mask=truth))
        captions.append(f"{dataset.names[index]}  Dice {metrics.dice_score(pred, truth):.2f}")
    _save(viz.image_grid(tiles, ncols=4, captions=captions), folder, "val_overlays", is_best)


def write_classifier_figures(folder, predictions, threshold, is_best):
    """confusion_matrix.png at ``threshold`` and roc.png, of the validation slices.

    predictions : from ``validate_classifier`` (``labels``, ``scores``)
    """
    labels, scores = predictions["labels"], predictions["scores"]
    cls = metrics.classification_metrics(labels, scores, threshold=threshold)
    _save(viz.plot_confusion_matrix(cls["confusion_matrix"],
                                    title=f"validation, threshold {threshold:g}"),
          folder, "confusion_matrix", is_best)
    fpr, tpr, _ = metrics.roc_curve(labels, scores)
    _save(viz.plot_roc(fpr, tpr, auc=cls["auc"], title="validation ROC"), folder, "roc", is_best)


def _save(image, folder, stem, is_best):
    path = os.path.join(folder, stem + ".png")
    viz.save_png(image, path)
    if is_best:
        atomic_copy(path, os.path.join(folder, stem + "_best.png"))
