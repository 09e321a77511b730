"""What the networks' outputs mean, computed one way for validation, inference, Grad-CAM
and the evaluation report.

* ``tumour_probability``: the classifier's logits (N, 2) -> P(tumour) (N,) float64;
* ``pixel_probabilities``: the segmenter's logits (N, 1, H, W) -> P(tumour) (N, H, W) float32;
* ``evaluation_mode``: run a block with the model in eval mode, then give every
  module back the mode it had.

One function per output matters: the AUC that picks a training run's best.npz
must be the AUC the report of the same slices and model gives.  A float32
softmax column and a float64 sigmoid of the logit gap round differently near 1
(float32 makes every gap above ~17 exactly 1.0), so ties, and the AUC, differed.
"""
import contextlib

import numpy as np
from scipy.special import expit

from tinynet import Tensor
from tinynet.backend import to_numpy

__all__ = ["TUMOUR_CLASS", "tumour_probability", "pixel_probabilities", "evaluation_mode"]

#: The classifier's logit that means "tumour" (the other one, 0, means "no tumour").
TUMOUR_CLASS = 1


def _host(logits):
    """A NumPy array of the logits: a Tensor's values, a CuPy array copied to the host."""
    return np.asarray(to_numpy(logits.data if isinstance(logits, Tensor) else logits))


def tumour_probability(logits):
    """Classifier logits (N, 2) (Tensor, NumPy or CuPy) -> P(tumour), a float64 (N,) NumPy array.

    softmax(l)[1] = 1 / (1 + exp(l0 - l1)) = sigmoid(l1 - l0), computed as
    ``scipy.special.expit`` of the logit gap in float64: no overflow for large
    logits, and float32 would round every gap above ~17 to exactly 1.0, so that
    even a threshold of 1.0 could not separate the confident slices.
    """
    logits = _host(logits)
    if logits.ndim != 2 or logits.shape[1] != 2:
        raise ValueError(f"the classifier must output logits (N, 2), got shape {logits.shape}")
    gap = logits[:, TUMOUR_CLASS].astype(np.float64) - logits[:, 1 - TUMOUR_CLASS]
    return expit(gap)


def pixel_probabilities(logits):
    """Segmenter logits (N, 1, H, W) (Tensor, NumPy or CuPy) -> P(tumour) per pixel, a
    float32 (N, H, W) NumPy array (``scipy.special.expit``, no overflow)."""
    logits = _host(logits)
    if logits.ndim != 4 or logits.shape[1] != 1:
        raise ValueError(f"the segmenter must output logits (N, 1, H, W), got shape "
                         f"{logits.shape}")
    return expit(logits[:, 0].astype(np.float32))


@contextlib.contextmanager
def evaluation_mode(model):
    """Run the block with ``model`` in eval mode (BatchNorm uses its running statistics,
    Dropout is off), then give each of its modules back the mode it had, also when the
    block raises.

    Each module's own flag is restored, not one flag for the whole model, so a part
    kept in eval mode on purpose (a frozen BatchNorm) stays so, and a validation pass
    in the middle of training leaves the model training.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training
