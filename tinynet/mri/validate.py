"""The validation passes run after every training epoch.

Both run the model in eval mode (``scoring.evaluation_mode``: its train/eval
state is given back afterwards) under ``no_grad`` over a ``BatchLoader`` with
``shuffle=False`` and no augmentation, on held-out *patients*, and return
plain-number metrics (for log.jsonl and the choice of best.npz) together with
the raw predictions (for the figures).

The probabilities are those of inference and of the evaluation report
(``scoring.tumour_probability``, ``scoring.pixel_probabilities``), so the
validation AUC that picks best.npz is the AUC ``examples/evaluate.py`` reports
on the same slices.  Segmenter: the metrics are computed at the training size
(the loader's); the report scores at the data's own size.

Data-parallel (``mpiexec -n N``): each rank's loader holds its share of the
slices; the predictions are gathered (``parallel.gather_validation``) and the
loss averaged over all slices, so every rank computes the metrics of the whole
validation set and takes the same best-epoch decision.  Pass the unwrapped
model (``parallel.unwrap``): eval-mode passes need no collective, and the ranks
may run different numbers of batches.
"""
import numpy as np

from tinynet import metrics, no_grad, tensor
from . import parallel
from .patient_metrics import segmentation_metrics
from .scoring import evaluation_mode, pixel_probabilities, tumour_probability

__all__ = ["validate_segmenter", "validate_classifier", "tumour_probability"]


def _predict(model, loader, device, probability, criterion, target):
    """Run ``model`` over the loader's batches in eval mode, without a graph.

    Returns (a list of ``(batch, probability(logits))``, host arrays, one per batch,
    and the mean of ``criterion(logits, target(batch))`` weighted by batch size, or None).
    """
    outputs, losses, weights = [], [], []
    with evaluation_mode(model), no_grad():
        for batch in loader:
            logits = model(tensor(batch.images, device=device))
            if criterion is not None:
                losses.append(float(criterion(logits, tensor(target(batch), device=device))
                                    .item()))
                weights.append(len(batch.indices))
            outputs.append((batch, probability(logits)))
    if criterion is None:
        return outputs, None
    if parallel.rank_and_size()[1] == 1:
        return outputs, float(np.average(losses, weights=weights))
    # The mean over every rank's slices: the sums of (batch loss x batch size) and of sizes.
    total, count = parallel.mean_over_ranks([np.dot(losses, weights), np.sum(weights)])
    return outputs, float(total / count)


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
    outputs, loss = _predict(model, loader, device, pixel_probabilities, criterion,
                             lambda batch: batch.masks)
    gathered = parallel.gather_validation({
        "indices": np.concatenate([batch.indices for batch, _ in outputs]),
        "probabilities": np.concatenate([p for _, p in outputs]),
        "masks": np.concatenate([batch.masks[:, 0].astype(np.uint8) for batch, _ in outputs])})
    indices, probs, truths = gathered["indices"], gathered["probabilities"], gathered["masks"]
    seg = segmentation_metrics(probs >= threshold, truths, [patient_of[i] for i in indices])
    result = {"val_dice": seg["dice_per_patient_mean"],
              "val_dice_median": seg["dice_per_patient_median"],
              "val_dice_tumour_slices": seg["dice_tumour_slices_mean"],
              "val_iou": seg["iou_per_patient_mean"]}
    if loss is not None:
        result["val_loss"] = loss
    return result, {"indices": indices, "probabilities": probs, "masks": truths}


def validate_classifier(model, loader, device="cpu", threshold=0.5, criterion=None):
    """Accuracy, sensitivity, specificity, F1 and ROC AUC of the tumour classifier.

    Returns ``(metrics, predictions)``: metrics has ``val_accuracy``,
    ``val_sensitivity``, ``val_specificity``, ``val_precision``, ``val_f1``,
    ``val_auc`` (and ``val_loss``); predictions has ``indices``, ``labels``
    and ``scores`` (P(tumour), float64) for the confusion matrix and the ROC figure.
    """
    outputs, loss = _predict(model, loader, device, tumour_probability, criterion,
                             lambda batch: batch.labels)
    gathered = parallel.gather_validation({
        "indices": np.concatenate([batch.indices for batch, _ in outputs]),
        "labels": np.concatenate([batch.labels for batch, _ in outputs]),
        "scores": np.concatenate([p for _, p in outputs])})
    indices, labels, scores = gathered["indices"], gathered["labels"], gathered["scores"]
    cls = metrics.classification_metrics(labels, scores, threshold=threshold)
    result = {f"val_{k}": cls[k] for k in ("accuracy", "sensitivity", "specificity",
                                            "precision", "f1", "auc")}
    if loss is not None:
        result["val_loss"] = loss
    return result, {"indices": indices, "labels": labels, "scores": scores,
                    "confusion_matrix": cls["confusion_matrix"]}
