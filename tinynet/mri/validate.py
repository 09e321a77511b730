"""The validation passes run after every training epoch.

Both run the model in eval mode under ``no_grad`` over a ``BatchLoader`` with
``shuffle=False`` and no augmentation, on held-out *patients*, and return
plain-number metrics (for log.jsonl and the choice of best.npz) together with
the raw predictions (for the figures).

Segmenter: the metrics are computed at the training size (the loader's); the
report of ``examples/evaluate.py`` scores at the data's own size.
"""
import numpy as np

from tinynet import metrics, no_grad, ops, tensor
from tinynet.backend import to_numpy

__all__ = ["validate_segmenter", "validate_classifier", "tumour_probability"]


def tumour_probability(logits):
    """Classifier logits (N, 2) -> P(tumour) (N,), the softmax's second column."""
    return ops.softmax(logits, dim=1).data[:, 1]


def _batches(model, loader, device):
    model.eval()
    with no_grad():
        for batch in loader:
            yield batch, model(tensor(batch.images, device=device))


def validate_segmenter(model, loader, patient_of, device="cpu", threshold=0.5, criterion=None):
    """Per-patient 3-D Dice (and more) of ``model`` on the loader's slices.

    patient_of : the patient id of every slice of the loader's dataset
        (indexed by ``batch.indices``)
    criterion : optional loss ``criterion(logits, masks)`` to report as ``val_loss``

    Returns ``(metrics, predictions)``: metrics has ``val_dice`` (mean
    per-patient Dice), ``val_dice_median``, ``val_dice_tumour_slices``,
    ``val_iou`` (and ``val_loss``); predictions is a dict of ``indices``,
    ``probabilities`` (N, H, W) float32 and ``masks`` (N, H, W) uint8.
    """
    indices, probs, truths, losses, weights = [], [], [], [], []
    for batch, logits in _batches(model, loader, device):
        if criterion is not None:
            losses.append(float(criterion(logits, tensor(batch.masks, device=device)).item()))
            weights.append(len(batch.indices))
        indices.append(batch.indices)
        probs.append(_to_host(ops.sigmoid(logits).data[:, 0]))
        truths.append(batch.masks[:, 0].astype(np.uint8))
    indices, probs, truths = (np.concatenate(a) for a in (indices, probs, truths))
    seg = metrics.segmentation_metrics(probs >= threshold, truths,
                                       [patient_of[i] for i in indices])
    result = {"val_dice": seg["dice_per_patient_mean"],
              "val_dice_median": seg["dice_per_patient_median"],
              "val_dice_tumour_slices": seg["dice_tumour_slices_mean"],
              "val_iou": seg["iou_per_patient_mean"]}
    if criterion is not None:
        result["val_loss"] = float(np.average(losses, weights=weights))
    return result, {"indices": indices, "probabilities": probs, "masks": truths}


def validate_classifier(model, loader, device="cpu", threshold=0.5, criterion=None):
    """Accuracy, sensitivity, specificity, F1 and ROC AUC of the tumour classifier.

    Returns ``(metrics, predictions)``: metrics has ``val_accuracy``,
    ``val_sensitivity``, ``val_specificity``, ``val_precision``, ``val_f1``,
    ``val_auc`` (and ``val_loss``); predictions has ``indices``, ``labels``
    and ``scores`` (P(tumour)) for the confusion matrix and the ROC figure.
    """
    indices, labels, scores, losses, weights = [], [], [], [], []
    for batch, logits in _batches(model, loader, device):
        if criterion is not None:
            losses.append(float(criterion(logits, tensor(batch.labels, device=device)).item()))
            weights.append(len(batch.indices))
        indices.append(batch.indices)
        labels.append(batch.labels)
        scores.append(_to_host(tumour_probability(logits)))
    indices, labels, scores = (np.concatenate(a) for a in (indices, labels, scores))
    cls = metrics.classification_metrics(labels, scores, threshold=threshold)
    result = {f"val_{k}": cls[k] for k in ("accuracy", "sensitivity", "specificity",
                                            "precision", "f1", "auc")}
    if criterion is not None:
        result["val_loss"] = float(np.average(losses, weights=weights))
    return result, {"indices": indices, "labels": labels, "scores": scores,
                    "confusion_matrix": cls["confusion_matrix"]}


def _to_host(array):
    return np.asarray(to_numpy(array), dtype=np.float32)
