"""Loss modules: ``nn.CrossEntropyLoss()(logits, target)`` and the others, as in PyTorch.

Each module stores its options and calls the loss function of the same name in
``tinynet.nn.functional``, where the formulas and shapes are documented:

=====================  ==========================================  ======================
module                 function                                    input -> target
=====================  ==========================================  ======================
CrossEntropyLoss       F.cross_entropy                             logits (N, C[, H, W])
                                                                   -> classes (N[, H, W])
NLLLoss                F.nll_loss                                  log-probabilities
BCEWithLogitsLoss      F.binary_cross_entropy_with_logits          logits -> same shape
BCELoss                F.binary_cross_entropy                      probabilities
MSELoss, L1Loss        F.mse_loss, F.l1_loss                       same shape
SmoothL1Loss           F.smooth_l1_loss                            same shape
HuberLoss              F.huber_loss                                same shape
KLDivLoss              F.kl_div                                    log-probabilities
DiceLoss               F.dice_loss                                 probabilities (N, C, H, W)
TverskyLoss            F.tversky_loss                              probabilities
FocalTverskyLoss       F.focal_tversky_loss                        probabilities
=====================  ==========================================  ======================

``weight`` and ``pos_weight`` are buffers, as in PyTorch: they move with
``module.to(device)``.  The deprecated ``size_average``/``reduce`` arguments
are understood the way PyTorch understands them.
"""
import warnings

from . import functional as F
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "BCELoss", "MSELoss", "L1Loss",
           "SmoothL1Loss", "HuberLoss", "KLDivLoss", "DiceLoss", "TverskyLoss",
           "FocalTverskyLoss"]


def _legacy_reduction(size_average, reduce, reduction):
    """PyTorch's mapping of the deprecated size_average/reduce flags onto ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    if reduce is False:
        reduction = "none"
    else:
        reduction = "sum" if size_average is False else "mean"
    warnings.warn("size_average and reduce args will be deprecated, please use "
                  f"reduction={reduction!r} instead.", stacklevel=4)
    return reduction


class _Loss(Module):
    """Base: holds ``reduction`` (shown in repr)."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        self.reduction = _legacy_reduction(size_average, reduce, reduction)

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    """Base of losses with a per-class ``weight`` buffer."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy of logits against class indices or class probabilities."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean", label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities at class indices."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy in one stable step; ``pos_weight`` weights positives."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean",
                 pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities (logs clamped at -100, as in PyTorch)."""

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error."""

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error."""

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Quadratic below ``beta``, linear above."""

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Quadratic below ``delta``, linear (slope ``delta``) above."""

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class KLDivLoss(_Loss):
    """KL divergence of ``target`` from the distribution whose log is ``input``."""

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class _OverlapLoss(Module):
    """Base of the segmentation losses: ``smooth``, ``per_image``, ``from_logits``."""

    def __init__(self, smooth, per_image, from_logits):
        super().__init__()
        self.smooth, self.per_image, self.from_logits = smooth, per_image, from_logits

    def extra_repr(self):
        return (f"smooth={self.smooth}, per_image={self.per_image}, "
                f"from_logits={self.from_logits}")


class DiceLoss(_OverlapLoss):
    """1 - soft Dice; see ``F.dice_loss``."""

    def __init__(self, smooth=1.0, per_image=False, from_logits=False):
        super().__init__(smooth, per_image, from_logits)

    def forward(self, input, target):
        return F.dice_loss(input, target, self.smooth, self.per_image,
                           from_logits=self.from_logits)


class TverskyLoss(_OverlapLoss):
    """1 - Tversky index; ``alpha`` weights false negatives, ``beta`` false positives."""

    def __init__(self, alpha=0.7, beta=0.3, smooth=1.0, per_image=False, from_logits=False):
        super().__init__(smooth, per_image, from_logits)
        self.alpha, self.beta = alpha, beta

    def forward(self, input, target):
        return F.tversky_loss(input, target, self.alpha, self.beta, self.smooth,
                              self.per_image, from_logits=self.from_logits)


class FocalTverskyLoss(_OverlapLoss):
    """(1 - Tversky index) ** gamma; see ``F.focal_tversky_loss``."""

    def __init__(self, alpha=0.7, beta=0.3, gamma=0.75, smooth=1.0, per_image=False,
                 from_logits=False):
        super().__init__(smooth, per_image, from_logits)
        self.alpha, self.beta, self.gamma = alpha, beta, gamma

    def forward(self, input, target):
        return F.focal_tversky_loss(input, target, self.alpha, self.beta, self.gamma,
                                    self.smooth, self.per_image,
                                    from_logits=self.from_logits)
