"""Several trained networks as one model: the mean of their probabilities.

An ensemble of K networks of one architecture (e.g. ResUNets trained with
different seeds) answers with the mean of the members' probabilities, the
usual way to combine them (Lakshminarayanan et al., "Simple and scalable
predictive uncertainty estimation using deep ensembles", NeurIPS 2017)::

    segmenter  (N, 1, H, W) logits z_k  ->  p = mean_k sigmoid(z_k)
    classifier (N, 2)       logits l_k  ->  P = mean_k softmax(l_k)

``Ensemble`` is a ``Module`` whose forward returns *logits* of that mean, so
everything downstream (``scoring.pixel_probabilities``, thresholds, reports)
treats it exactly like a single network:

    segmenter:  logit(p) = log p - log(1 - p)
                         = LSE_k log sigmoid(z_k) - LSE_k log sigmoid(-z_k)
                (1 - sigmoid(z) = sigmoid(-z), so 1 - p = mean_k sigmoid(-z_k); the 1/K
                 of both means cancels; LSE = log-sum-exp)
    classifier: log P    = LSE_k log_softmax(l_k) - log K

Both are computed from log-sigmoids and log-softmaxes, never from p itself, so a
member that is certain (sigmoid(z) rounds to 1 in float32) gives a finite logit
instead of log(0).  sigmoid(logit(p)) = p and softmax(log P) = P up to rounding.

The checkpoint of an ensemble (``checkpoint.export_ensemble``) records the
members' architecture and arguments; the registry (``architectures.py``) builds
it as "segmentation_ensemble" or "classification_ensemble".  The members must see
the same input: the same network, input size, normalization and context, i.e.
trained on the same patients (the same ``--split``, or ``--val-fraction 0``) with,
e.g., other ``--seed``s.
"""
import math

import tinynet as tn

__all__ = ["Ensemble"]


class Ensemble(tn.nn.Module):
    """The mean of ``members``' probabilities, returned as logits (see the module docstring).

    members : networks of one task, all fed the same input (N, C, H, W)
    task : "segmentation" (members give (N, 1, H, W) logits) or "classification" ((N, 2))

    The members' parameters are named ``members.0.…``, ``members.1.…`` in the state dict.
    """

    def __init__(self, members, task):
        super().__init__()
        if task not in ("segmentation", "classification"):
            raise ValueError(f"Ensemble: task must be 'segmentation' or 'classification', "
                             f"got {task!r}")
        members = list(members)
        if not members:
            raise ValueError("Ensemble: needs at least one member")
        self.members = tn.nn.ModuleList(members)
        self.task = task

    def forward(self, x):
        logits = tn.stack([member(x) for member in self.members])   # (K, N, ...)
        if self.task == "segmentation":
            return logit_mean_sigmoid(logits)
        return log_mean_softmax(logits)


def logit_mean_sigmoid(logits):
    """logit(mean_k sigmoid(z_k)) of stacked logits z (K, ...) -> (...), stably.

    log sigmoid(z) = -softplus(-z) never overflows, and the log-sum-exp of K of them is
    log(K p); the same for 1 - p with -z, and the two log K cancel in the difference.
    """
    log_p = tn.logsumexp(tn.nn.functional.logsigmoid(logits), dim=0)
    log_not_p = tn.logsumexp(tn.nn.functional.logsigmoid(-logits), dim=0)
    return log_p - log_not_p


def log_mean_softmax(logits):
    """log(mean_k softmax(l_k)) of stacked logits l (K, N, classes) -> (N, classes), stably."""
    count = logits.shape[0]
    return tn.logsumexp(tn.log_softmax(logits, dim=-1), dim=0) - math.log(count)
