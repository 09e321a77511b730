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
MarginRankingLoss      F.margin_ranking_loss                       x1, x2 -> +-1
HingeEmbeddingLoss     F.hinge_embedding_loss                      distances -> +-1
SoftMarginLoss         F.soft_margin_loss                          scores -> +-1
MultiLabelSoftMargin-  F.multilabel_soft_margin_loss               logits (N, C) -> 0/1
  Loss                                                             (N, C)
CosineEmbeddingLoss    F.cosine_embedding_loss                     x1, x2 (N, D) -> +-1 (N)
TripletMarginLoss      F.triplet_margin_loss                       anchor, positive,
                                                                   negative (N, D)
PoissonNLLLoss         F.poisson_nll_loss                          log-rates -> counts
GaussianNLLLoss        F.gaussian_nll_loss                         means, var -> values
MultiMarginLoss        F.multi_margin_loss                         scores (N, C) -> classes
=====================  ==========================================  ======================

The losses of ``tinynet.ops.loss_margin`` (MarginRankingLoss and after) show no
options in their repr, exactly as PyTorch's do.

``weight`` and ``pos_weight`` are buffers, as in PyTorch: they move with
``module.to(device)``.  The deprecated ``size_average``/``reduce`` arguments
are understood the way PyTorch understands them.
"""
import warnings

from . import functional as F
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "BCELoss", "MSELoss", "L1Loss",
           "SmoothL1Loss", "HuberLoss", "KLDivLoss", "DiceLoss", "TverskyLoss",
           "FocalTverskyLoss", "MarginRankingLoss", "HingeEmbeddingLoss", "SoftMarginLoss",
           "MultiLabelSoftMarginLoss", "CosineEmbeddingLoss", "TripletMarginLoss",
           "PoissonNLLLoss", "GaussianNLLLoss", "MultiMarginLoss"]


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


class _PlainReprLoss(_Loss):
    """Base of the margin and likelihood losses: a repr without options, as PyTorch's."""

    def extra_repr(self):
        return ""


class MarginRankingLoss(_PlainReprLoss):
    """max(0, -y (x1 - x2) + margin); see ``F.margin_ranking_loss``."""

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2, target, self.margin,
                                     reduction=self.reduction)


class HingeEmbeddingLoss(_PlainReprLoss):
    """x for y = 1, max(0, margin - x) for y = -1; see ``F.hinge_embedding_loss``."""

    def __init__(self, margin=1.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input, target):
        return F.hinge_embedding_loss(input, target, self.margin, reduction=self.reduction)


class SoftMarginLoss(_PlainReprLoss):
    """log(1 + exp(-y x)); see ``F.soft_margin_loss``."""

    def forward(self, input, target):
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_PlainReprLoss):
    """One-vs-all logistic loss per class, averaged over classes; ``weight`` (C,) a buffer."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)

    def forward(self, input, target):
        return F.multilabel_soft_margin_loss(input, target, self.weight,
                                             reduction=self.reduction)


class CosineEmbeddingLoss(_PlainReprLoss):
    """1 - cos for y = 1, max(0, cos - margin) for y = -1; see ``F.cosine_embedding_loss``."""

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target, self.margin,
                                       reduction=self.reduction)


class TripletMarginLoss(_PlainReprLoss):
    """max(0, d(a, p) - d(a, n) + margin); see ``F.triplet_margin_loss``.  margin > 0."""

    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got "
                             f"{margin} instead")
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps,
                                     self.swap, reduction=self.reduction)


class PoissonNLLLoss(_PlainReprLoss):
    """Poisson negative log-likelihood; see ``F.poisson_nll_loss``."""

    def __init__(self, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        return F.poisson_nll_loss(log_input, target, self.log_input, self.full, eps=self.eps,
                                  reduction=self.reduction)


class GaussianNLLLoss(_PlainReprLoss):
    """Gaussian negative log-likelihood of target under N(input, var); see
    ``F.gaussian_nll_loss``."""

    def __init__(self, *, full=False, eps=1e-6, reduction="mean"):
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        return F.gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)


class MultiMarginLoss(_PlainReprLoss):
    """Multi-class hinge loss (p = 1 or 2); ``weight`` (C,) a buffer; see
    ``F.multi_margin_loss``."""

    def __init__(self, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p == 1 and p == 2 are supported, got p={p}")
        if weight is not None and weight.ndim != 1:
            raise ValueError(f"MultiMarginLoss: weight must be one-dimensional, got shape "
                             f"{tuple(weight.shape)}")
        self.p, self.margin = p, margin
        self.register_buffer("weight", weight)

    def forward(self, input, target):
        return F.multi_margin_loss(input, target, self.p, self.margin, self.weight,
                                   reduction=self.reduction)
