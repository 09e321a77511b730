"""Loss functions: binary and multi-class cross-entropy, and overlap losses for segmentation.

Classification (the same names, arguments and semantics as ``torch.nn.functional``):

* ``binary_cross_entropy_with_logits(input, target)`` - logits of any shape,
  e.g. (N,) or (N, 1, H, W), target of the same shape with values in [0, 1];
  ``binary_cross_entropy`` takes probabilities instead.
* ``cross_entropy(input, target)`` - logits (N, C) or (N, C, H, W), integer class
  indices (N,) or (N, H, W), or class probabilities shaped like the input;
  ``nll_loss`` takes log-probabilities instead.
* ``kl_div(input, target)`` - log-probabilities against probabilities.

(Regression losses, mse/l1/smooth_l1/huber, are in ``loss_regression.py``.)

Segmentation (probabilities in [0, 1] of shape (N, C, H, W), binary or soft
target of the same shape; ``from_logits=True`` applies a sigmoid first):

* ``dice_loss``          1 - (2 TP + s) / (sum(p) + sum(t) + s)
* ``tversky_loss``       1 - TI,  TI = (TP + s) / (TP + alpha FN + beta FP + s)
* ``focal_tversky_loss`` (1 - TI) ** gamma

with TP = sum(p t), FN = sum((1 - p) t), FP = sum(p (1 - t)).  The overlap
losses are composed from differentiable tensor ops (mul, sum, div, pow): their
graphs are a handful of full-size products and reductions, which a fused
Function would not make meaningfully cheaper, and composing them keeps them
correct by construction.
"""
import numpy as np

from .. import backend, deferred_checks
from ..amp.autocast_mode import autocast_op
from ..autograd import Function, as_tensor
from .activation import _stable_sigmoid, log_softmax, sigmoid
from .math import sum_to
from .shape import stack

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
           "nll_loss", "kl_div",
           "dice_loss", "tversky_loss", "focal_tversky_loss"]

_REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def check_reduction(name, reduction):
    """Refuse a ``reduction`` other than "mean", "sum" and "none", naming the loss."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def reduce_loss(loss, reduction):
    """The elementwise ``loss`` averaged ("mean"), summed ("sum") or kept ("none")."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _like(x, input):
    """``x`` as a Tensor on ``input``'s device with ``input``'s float dtype.

    Targets often arrive as uint8/bool masks or float64 arrays; casting them to
    the input's dtype keeps a float32 loss float32 (no silent upcast).
    """
    return as_tensor(x).to(input.device, input.dtype)


def _check_same_shape(name, input, target):
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{name}: target shape {tuple(target.shape)} must equal "
                         f"input shape {tuple(input.shape)}")


def _check_broadcasts_to(name, arg, x, shape):
    """``x`` must broadcast to ``shape`` without enlarging it (like an elementwise weight)."""
    try:
        ok = np.broadcast_shapes(tuple(x.shape), tuple(shape)) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name}: {arg} of shape {tuple(x.shape)} does not broadcast to "
                         f"the input shape {tuple(shape)}")


# ---------------------------------------------------------------------------
# Binary cross-entropy on probabilities
# ---------------------------------------------------------------------------

class BinaryCrossEntropy(Function):
    """Elementwise, unreduced  l = -[t log(p) + (1 - t) log(1 - p)], each log clamped at -100.

    The clamp is PyTorch's: a probability of exactly 0 or 1 gives a finite loss
    (100) instead of inf.  Gradients, also PyTorch's (eps = 1e-12 keeps the
    division finite at p = 0 and p = 1):
        dl/dp = (p - t) / max(p (1 - p), eps)
        dl/dt = log(1 - p) - log(p)          (not clamped: +-inf at p = 0 or 1)
    """

    def forward(self, p, t):
        xp = backend.get_array_module(p)
        outside = ((p < 0) | (p > 1)).any()
        if xp is np:
            if outside:                 # on the CPU, say which values
                raise RuntimeError("binary_cross_entropy: all elements of input should be between "
                                   f"0 and 1 (got values from {float(p.min())} to "
                                   f"{float(p.max())}); for logits use "
                                   "binary_cross_entropy_with_logits")
        else:                           # on the GPU, without waiting for it
            deferred_checks.check(outside, RuntimeError,
                                  "binary_cross_entropy: all elements of input should be "
                                  "between 0 and 1; for logits use "
                                  "binary_cross_entropy_with_logits")
        with np.errstate(divide="ignore"):
            log_p = xp.maximum(xp.log(p), -100)
            log_1mp = xp.maximum(xp.log1p(-p), -100)
        self.p = p if any(self.needs_input_grad) else None
        self.t = t if self.needs_input_grad[0] else None
        return -(t * log_p + (1 - t) * log_1mp)

    def backward(self, g):
        xp = backend.get_array_module(g)
        p = self.p
        grad_p = grad_t = None
        if self.needs_input_grad[0]:
            grad_p = g * (p - self.t) / xp.maximum(p * (1 - p), 1e-12)
        if self.needs_input_grad[1]:
            with np.errstate(divide="ignore"):
                grad_t = g * (xp.log1p(-p) - xp.log(p))
        return grad_p, grad_t


@autocast_op
def binary_cross_entropy(input, target, weight=None, *, reduction="mean"):
    """Binary cross-entropy of probabilities (``F.binary_cross_entropy``).

    l = -w [t log(p) + (1 - t) log(1 - p)], logs clamped at -100, then reduced.

    input : p in [0, 1], any shape (e.g. the output of a sigmoid).
    target : t, the same shape, values in [0, 1].
    weight : w, broadcastable to the input's shape.
    Prefer ``binary_cross_entropy_with_logits`` on logits: it is stable for
    large |logit|, where a sigmoid rounds to exactly 0 or 1.
    """
    name = "binary_cross_entropy"
    check_reduction(name, reduction)
    input = as_tensor(input)
    _check_same_shape(name, input, target)
    loss = BinaryCrossEntropy()(input, _like(target, input))
    if weight is not None:
        weight = _like(weight, input)
        _check_broadcasts_to(name, "weight", weight, input.shape)
        loss = loss * weight
    return reduce_loss(loss, reduction)


# ---------------------------------------------------------------------------
# Binary cross-entropy on logits
# ---------------------------------------------------------------------------

class BCEWithLogits(Function):
    """Elementwise, unreduced  l = (1 - t) x + (1 + (pw - 1) t) softplus(-x).

    This is -[pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))] rewritten so
    that no exp ever sees a positive argument:
    softplus(-x) = log(1 + exp(-x)) = max(-x, 0) + log1p(exp(-|x|)).
    Without pos_weight (pw = 1) it is max(x, 0) - x t + log1p(exp(-|x|)).

    Gradients (lw = 1 + (pw - 1) t):
        dl/dx  = lw sigmoid(x) - pw t        (= sigmoid(x) - t when pw = 1)
        dl/dt  = (pw - 1) softplus(-x) - x
        dl/dpw = t softplus(-x)               (summed over pos_weight's broadcast axes)
    """

    def forward(self, x, t, pos_weight):
        xp = backend.get_array_module(x)
        log1p_term = xp.log1p(xp.exp(-xp.abs(x)))
        if pos_weight is None:
            loss = xp.maximum(x, 0) - x * t + log1p_term
        else:
            softplus_neg = xp.maximum(-x, 0) + log1p_term
            loss = (1 - t) * x + (1 + (pos_weight - 1) * t) * softplus_neg
        # References to the inputs, not copies: the caller's tensors hold them anyway.
        self.x, self.t, self.pos_weight = x, t, pos_weight
        return loss

    def backward(self, g):
        xp = backend.get_array_module(g)
        x, t, pw = self.x, self.t, self.pos_weight
        softplus_neg = None
        if pw is not None and (self.needs_input_grad[1] or self.needs_input_grad[2]):
            softplus_neg = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
        grad_x = grad_t = grad_pw = None
        if self.needs_input_grad[0]:
            s = _stable_sigmoid(x)
            grad_x = g * (s - t) if pw is None else g * ((1 + (pw - 1) * t) * s - pw * t)
        if self.needs_input_grad[1]:
            grad_t = -g * x if pw is None else g * ((pw - 1) * softplus_neg - x)
        if self.needs_input_grad[2]:
            grad_pw = sum_to(g * t * softplus_neg, pw.shape)
        return grad_x, grad_t, grad_pw


@autocast_op
def binary_cross_entropy_with_logits(input, target, weight=None, *, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + binary cross-entropy in one numerically stable step.

    l = -w [pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], then reduced.

    input : logits x, any shape (e.g. (N,) or (N, 1, H, W)).
    target : t, the same shape, values in [0, 1] (a float, bool or uint8 mask).
    weight : w, broadcastable to input's shape, multiplies each element's loss.
    pos_weight : pw, broadcastable to input's shape (e.g. (C,) for (N, C) logits,
        (C, 1, 1) for (N, C, H, W)): weight of the positive term; pw > 1 raises recall.
    reduction : "mean" (over all elements) | "sum" | "none" (input's shape).

    ``reduction`` and ``pos_weight`` are keyword-only: PyTorch's 4th and 5th
    positional parameters are the deprecated size_average and reduce, so a
    positional call ported from PyTorch fails loudly instead of silently.
    """
    name = "binary_cross_entropy_with_logits"
    check_reduction(name, reduction)
    input = as_tensor(input)
    _check_same_shape(name, input, target)
    target = _like(target, input)
    if pos_weight is not None:
        pos_weight = _like(pos_weight, input)
        _check_broadcasts_to(name, "pos_weight", pos_weight, input.shape)
    loss = BCEWithLogits()(input, target, pos_weight)
    if weight is not None:
        weight = _like(weight, input)
        _check_broadcasts_to(name, "weight", weight, input.shape)
        loss = loss * weight
    return reduce_loss(loss, reduction)


# ---------------------------------------------------------------------------
# Multi-class cross-entropy with class indices
# ---------------------------------------------------------------------------

class NLLLoss(Function):
    """l_i = -w[t_i] * logp[i, t_i], with l_i = 0 where t_i == ignore_index.

    logp is (N, C) or (N, C, d1, ...), the target (N,) or (N, d1, ...).
    reduction "mean" divides by the sum of w[t_i] over non-ignored targets (so
    without weights: the number of non-ignored targets), as PyTorch does.

    Backward scatters one value per target into a dense gradient:
    dL/dlogp[i, c] = -g_i * coef_i * [c == t_i], coef = w[t_i] (/ sum of weights).
    """

    def __init__(self, ignore_index, reduction):
        self.ignore_index = ignore_index
        self.reduction = reduction

    def forward(self, logp, target, weight):
        xp = backend.get_array_module(logp)
        n_classes = logp.shape[1]
        valid = target != self.ignore_index
        bad = valid & ((target < 0) | (target >= n_classes))
        if xp is np:
            if bad.any():               # on the CPU, name the value
                value = int(target[bad].reshape(-1)[0])
                raise IndexError(f"cross_entropy/nll_loss: target {value} is out of bounds "
                                 f"for {n_classes} classes (input shape {tuple(logp.shape)})")
        else:                           # on the GPU, without waiting for it
            deferred_checks.check(bad.any(), IndexError,
                                  f"cross_entropy/nll_loss: a target is out of bounds for "
                                  f"{n_classes} classes (input shape {tuple(logp.shape)})")
        # Any in-range index where the target is ignored (its weight is zeroed below) or
        # out of range (on the GPU the error comes later: the op must not read outside).
        safe = xp.where(valid & ~bad, target, 0)
        picked = xp.take_along_axis(logp, xp.expand_dims(safe, 1), axis=1).squeeze(1)
        w = valid.astype(logp.dtype)
        if weight is not None:
            w = weight.astype(logp.dtype, copy=False)[safe] * w
        losses = -w * picked
        if self.reduction == "none":
            out, coef = losses, w
        elif self.reduction == "sum":
            out, coef = losses.sum(), w
        else:
            total = w.sum()
            with np.errstate(invalid="ignore", divide="ignore"):  # all ignored: nan, as torch
                out, coef = losses.sum() / total, w / total
        self.safe, self.coef, self.logp_shape = safe, coef, logp.shape
        return out

    def backward(self, g):
        xp = backend.get_array_module(g)
        n_classes = self.logp_shape[1]
        classes = xp.arange(n_classes).reshape((1, n_classes) + (1,) * (len(self.logp_shape) - 2))
        one_hot = classes == xp.expand_dims(self.safe, 1)
        return xp.expand_dims(-g * self.coef, 1) * one_hot, None, None


def _check_class_inputs(name, input, target, weight):
    """Validate (N, C, ...) scores against (N, ...) integer targets and a (C,) weight."""
    if input.ndim < 2:
        raise ValueError(f"{name}: input must be (N, C) or (N, C, H, W), got shape {input.shape}")
    expected = (input.shape[0],) + input.shape[2:]
    if tuple(target.shape) != expected:
        raise ValueError(f"{name}: target shape {tuple(target.shape)} does not match input shape "
                         f"{input.shape} (expected target shape {expected})")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class indices, got dtype "
                        f"{target.dtype} (shape {tuple(target.shape)})")
    if weight is not None:
        if tuple(weight.shape) != (input.shape[1],):
            raise ValueError(f"{name}: weight must have shape ({input.shape[1]},) for "
                             f"{input.shape[1]} classes, got {tuple(weight.shape)}")
        if weight.requires_grad:
            raise ValueError(f"{name}: the gradient with respect to weight is not supported "
                             "(as in PyTorch); pass weight.detach()")


def _prepare_class_args(name, input, target, weight, reduction):
    check_reduction(name, reduction)
    input = as_tensor(input)
    target = as_tensor(target)
    weight = None if weight is None else as_tensor(weight)
    _check_class_inputs(name, input, target, weight)
    target = target.to(input.device)
    if weight is not None:
        weight = weight.to(input.device, input.dtype)
    return input, target, weight


@autocast_op
def nll_loss(input, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` (N, C[, H, W]) at integer
    ``target`` (N[, H, W]); see ``NLLLoss`` for the exact weighted-mean semantics."""
    input, target, weight = _prepare_class_args("nll_loss", input, target, weight, reduction)
    return NLLLoss(ignore_index, reduction)(input, target, weight)


@autocast_op
def cross_entropy(input, target, weight=None, *, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Softmax cross-entropy of logits (N, C) or (N, C, H, W) at class indices (N) or (N, H, W).

    = nll_loss(log_softmax(input, dim=1), target, ...): with weights w and
    reduction "mean", sum_i w[t_i] l_i / sum_i w[t_i] over non-ignored targets.

    label_smoothing = e mixes in the uniform distribution over C classes, as
    PyTorch does: loss = (1 - e) nll + (e / C) s, where per target
    s_i = -sum_c w_c logp[i, c] (0 if ignored), reduced like nll (same denominator).

    A floating ``target`` of the input's shape holds class probabilities
    instead: l_i = -sum_c w_c t_ic logp_ic (smoothed: t = (1 - e) t + e / C),
    and "mean" divides by the number of samples (times H W), as in PyTorch.

    Arguments after ``weight`` are keyword-only because PyTorch's 4th positional
    parameter is the deprecated size_average.
    """
    name = "cross_entropy"
    if _is_probability_target(input, target):
        return _soft_cross_entropy(input, target, weight, reduction, label_smoothing)
    input, target, weight = _prepare_class_args(name, input, target, weight, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    logp = log_softmax(input, dim=1)
    loss = NLLLoss(ignore_index, reduction)(logp, target, weight)
    if label_smoothing > 0:
        smooth = _smoothing_term(logp, target, weight, ignore_index, reduction)
        loss = (1 - label_smoothing) * loss + (label_smoothing / input.shape[1]) * smooth
    return loss


def _is_probability_target(input, target):
    target_dtype = target.dtype if hasattr(target, "dtype") else as_tensor(target).dtype
    return np.dtype(target_dtype).kind == "f" and tuple(target.shape) == tuple(input.shape)


def _soft_cross_entropy(input, target, weight, reduction, label_smoothing):
    """cross_entropy against class probabilities (see cross_entropy)."""
    name = "cross_entropy"
    check_reduction(name, reduction)
    input = as_tensor(input)
    if input.ndim < 2:
        raise ValueError(f"{name}: input must be (N, C) or (N, C, H, W), got shape {input.shape}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    n_classes = input.shape[1]
    target = _like(target, input)
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / n_classes
    per_class = log_softmax(input, dim=1) * target
    if weight is not None:
        weight = _like(weight, input)
        if tuple(weight.shape) != (n_classes,):
            raise ValueError(f"{name}: weight must have shape ({n_classes},), got "
                             f"{tuple(weight.shape)}")
        per_class = per_class * weight.reshape((1, -1) + (1,) * (input.ndim - 2))
    return reduce_loss(-per_class.sum(dim=1), reduction)


def _smoothing_term(logp, target, weight, ignore_index, reduction):
    """The label-smoothing term s of cross_entropy, reduced like the NLL term."""
    per_class = logp
    if weight is not None:
        per_class = logp * weight.reshape((1, -1) + (1,) * (logp.ndim - 2))
    valid = target.data != ignore_index
    mask = as_tensor(valid.astype(logp.dtype))
    smooth = -per_class.sum(axis=1) * mask
    if reduction == "none":
        return smooth
    if reduction == "sum":
        return smooth.sum()
    # The denominator is a constant (no gradient), as in PyTorch: the weight mass of the
    # non-ignored targets.
    xp = backend.get_array_module(valid)
    if weight is None:
        denominator = mask.data.sum()
    else:
        denominator = (weight.data[xp.where(valid, target.data, 0)] * mask.data).sum()
    return smooth.sum() / as_tensor(xp.asarray(denominator, dtype=logp.dtype))


@autocast_op
def kl_div(input, target, reduction="mean", log_target=False):
    """Kullback-Leibler divergence of ``target`` from ``exp(input)`` (``F.kl_div``).

    ``input`` holds log-probabilities, ``target`` probabilities (log-probabilities
    if ``log_target``); elementwise l = t (log t - input), 0 where t = 0.
    reduction "batchmean" divides the sum by the batch size, which is the true
    KL divergence per sample; "mean" (PyTorch's default) divides by every element.
    """
    name = "kl_div"
    if reduction not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"{name}: reduction must be 'mean', 'batchmean', 'sum' or 'none', "
                         f"got {reduction!r}")
    input = as_tensor(input)
    target = _like(target, input)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        zero = target.data <= 0  # 0 log 0 = 0: log is taken of 1 there, the product zeroed
        loss = (target * (target.masked_fill(zero, 1.0).log() - input)).masked_fill(zero, 0.0)
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return reduce_loss(loss, reduction)


# ---------------------------------------------------------------------------
# Overlap losses for segmentation (Dice, Tversky, focal Tversky)
# ---------------------------------------------------------------------------

def _overlap_sums(name, input, target, per_image, from_logits, global_batch=False):
    """sum(p), sum(t) and TP = sum(p t): scalars, or (N,) vectors when per_image.

    FN = sum(t) - TP and FP = sum(p) - TP follow without two more full-size
    products, which is why the losses below are written in terms of these three.
    With ``global_batch`` (and not per_image) the three sums run over every
    rank's batch (a differentiable all-reduce, ``distributed.nn.functional``).
    """
    input = as_tensor(input)
    _check_same_shape(name, input, target)
    if per_image and input.ndim < 2:
        raise ValueError(f"{name}: per_image=True needs a batch axis, "
                         f"got input shape {input.shape}")
    p = sigmoid(input) if from_logits else input
    t = _like(target, input)
    axis = tuple(range(1, p.ndim)) if per_image else None
    sums = p.sum(axis=axis), t.sum(axis=axis), (p * t).sum(axis=axis)
    if global_batch and not per_image:
        from ..distributed.nn.functional import all_reduce   # ops load without MPI
        total = all_reduce(stack(sums))
        sums = total[0], total[1], total[2]
    return sums


def _tversky_index(name, input, target, alpha, beta, smooth, per_image, from_logits,
                   global_batch):
    sum_p, sum_t, tp = _overlap_sums(name, input, target, per_image, from_logits, global_batch)
    fn = sum_t - tp
    fp = sum_p - tp
    return (tp + smooth) / (tp + alpha * fn + beta * fp + smooth)


@autocast_op
def dice_loss(input, target, smooth=1.0, per_image=False, *, from_logits=False,
              global_batch=False):
    """Soft Dice loss  1 - (2 sum(p t) + smooth) / (sum(p) + sum(t) + smooth).

    input : probabilities p in [0, 1], shape (N, C, H, W) (or any shape);
        logits if from_logits=True (a sigmoid is applied first).
    target : t of the same shape, binary or soft (bool/uint8/float).
    per_image : False sums over every element of the batch (one Dice for the
        whole batch: large tumours dominate); True computes one Dice per image
        (sums over C, H, W) and averages over N (every image counts equally,
        and an image with an empty mask and an empty prediction scores 0 loss).
    smooth : added to numerator and denominator; keeps the ratio defined (= 1)
        when both p and t are empty and softens the gradient for tiny masks.
    global_batch : in data-parallel training, sum over the batch of every rank,
        so that 2 ranks x 4 images compute the loss of the 8 (the sums go
        through a differentiable all-reduce; without a process group this
        changes nothing).  per_image losses need no such thing: each image's
        loss is its own, and the ranks' means average to the global mean.

    Returns a scalar tensor.  Note: tversky_loss(alpha=beta=0.5, smooth=s) equals
    dice_loss(smooth=2s), since its numerator and denominator are both halved.
    """
    sum_p, sum_t, tp = _overlap_sums("dice_loss", input, target, per_image, from_logits,
                                     global_batch)
    loss = 1 - (2 * tp + smooth) / (sum_p + sum_t + smooth)
    return loss.mean() if per_image else loss


@autocast_op
def tversky_loss(input, target, alpha=0.7, beta=0.3, smooth=1.0, per_image=False, *,
                 from_logits=False, global_batch=False):
    """Tversky loss  1 - TI,  TI = (TP + smooth) / (TP + alpha FN + beta FP + smooth).

    TP = sum(p t), FN = sum((1 - p) t) (missed foreground), FP = sum(p (1 - t)).

    Convention: ``alpha`` weights false NEGATIVES and ``beta`` false positives, as
    in Abraham & Khan (2019), so the default alpha=0.7 > beta=0.3 penalizes
    missed tumour more than over-segmentation (higher recall on small lesions).
    (Salehi et al., 2017, name the two weights the other way round; with our
    defaults the intent - favour recall - is what matters.)  alpha = beta = 0.5
    gives the Dice coefficient (with smooth doubled, see dice_loss).

    Shapes, ``per_image``, ``from_logits`` and ``global_batch`` as in dice_loss;
    returns a scalar.
    """
    ti = _tversky_index("tversky_loss", input, target, alpha, beta, smooth, per_image,
                        from_logits, global_batch)
    loss = 1 - ti
    return loss.mean() if per_image else loss


@autocast_op
def focal_tversky_loss(input, target, alpha=0.7, beta=0.3, gamma=0.75, smooth=1.0,
                       per_image=False, *, from_logits=False, global_batch=False):
    """Focal Tversky loss  (1 - TI) ** gamma, TI the Tversky index of tversky_loss.

    From N. Abraham and N. M. Khan, "A novel focal Tversky loss function with
    improved attention U-Net for lesion segmentation", ISBI 2019
    (arXiv:1810.07842).  The paper writes the exponent as 1/gamma with
    gamma in [1, 3] and recommends gamma = 4/3; here ``gamma`` IS the exponent,
    so the default 0.75 = 1 / (4/3) is the paper's recommendation.  alpha
    weights false negatives (the paper's convention, see tversky_loss).

    With per_image=True the exponent is applied to each image's (1 - TI) before
    averaging over N, so images that are segmented badly weigh more.

    For gamma < 1 the derivative gamma (1 - TI) ** (gamma - 1) is infinite at a
    perfect prediction (TI = 1); 1 - TI is therefore clamped below at 1e-7
    (the loss is 1e-7 ** gamma there, its smallest value, and the gradient 0),
    which keeps gradients finite instead of turning them into inf/nan.
    """
    ti = _tversky_index("focal_tversky_loss", input, target, alpha, beta, smooth, per_image,
                        from_logits, global_batch)
    loss = (1 - ti).clip(min=1e-7) ** gamma
    return loss.mean() if per_image else loss
