"""Margin, embedding and likelihood losses (``torch.nn.functional`` names and defaults).

Per element or per sample, before the reduction ("mean", "sum" or "none"):

    margin_ranking_loss          max(0, -y (x1 - x2) + margin)
    hinge_embedding_loss         x if y = 1,  max(0, margin - x) if y = -1
    soft_margin_loss             log(1 + exp(-y x))
    multilabel_soft_margin_loss  -(1/C) sum_c w_c [y_c log sigmoid(x_c)
                                                   + (1 - y_c) log sigmoid(-x_c)]
    cosine_embedding_loss        1 - cos(x1, x2) if y = 1,  max(0, cos(x1, x2) - margin)
                                 if y = -1,  cos = x1.x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12))
    triplet_margin_loss          max(0, d(a, p) - d(a, n) + margin),  d = pairwise_distance
                                 (swap: d(a, n) replaced by min(d(a, n), d(p, n)))
    poisson_nll_loss             exp(x) - t x  (log_input),  x - t log(x + eps)  (otherwise),
                                 + t log t - t + log(2 pi t) / 2 where t > 1  (full)
    gaussian_nll_loss            (log(max(var, eps)) + (x - t)^2 / max(var, eps)) / 2
                                 + log(2 pi) / 2  (full)
    multi_margin_loss            (1/C) sum_{i != y} w_y max(0, margin - x_y + x_i)^p

y is a target of +-1 (or class indices for multi_margin_loss, 0/1 labels for
multilabel_soft_margin_loss).  Each is a composition of differentiable ops, so
gradients reach every floating input (targets included, as in PyTorch).

Arguments after the loss's own options are keyword-only where PyTorch has the
deprecated size_average/reduce there, so a positional call ported from PyTorch
fails loudly instead of silently (the modules in ``tinynet.nn`` take them).
"""
import builtins
import math

from .. import deferred_checks
from ..autograd import as_tensor
from .activation import logsigmoid, relu, softplus
from .creation import arange, full_like
from .loss import check_reduction, reduce_loss
from .math import add, clamp_min, div, log, minimum, mul, neg, sqrt, sub, where
from .reduce import sum
from .vector_norm import clamp_min_value_only, pairwise_distance

__all__ = ["margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss",
           "multilabel_soft_margin_loss", "cosine_embedding_loss", "triplet_margin_loss",
           "poisson_nll_loss", "gaussian_nll_loss", "multi_margin_loss"]


def _floats(input, *others):
    """``input`` as a Tensor, and each of ``others`` cast to its dtype and device."""
    input = as_tensor(input)
    return (input,) + tuple(as_tensor(x).to(input.device, input.dtype) for x in others)


def margin_ranking_loss(input1, input2, target, margin=0.0, *, reduction="mean"):
    """max(0, -target (input1 - input2) + margin), elementwise, then reduced.

    target (+1 or -1) says which input should rank higher.  The three tensors
    must have the same number of dims (e.g. all (N,)) and broadcast.
    """
    name = "margin_ranking_loss"
    check_reduction(name, reduction)
    input1, input2, target = _floats(input1, input2, target)
    if not input1.ndim == input2.ndim == target.ndim:
        raise ValueError(f"{name}: input1, input2 and target must have the same number of "
                         f"dims, got shapes {tuple(input1.shape)}, {tuple(input2.shape)} and "
                         f"{tuple(target.shape)}")
    loss = clamp_min(add(mul(neg(target), sub(input1, input2)), margin), 0.0)
    return reduce_loss(loss, reduction)


def hinge_embedding_loss(input, target, margin=1.0, *, reduction="mean"):
    """input where target = 1, max(0, margin - input) where target = -1, then reduced.

    ``input`` is usually a distance (e.g. |x1 - x2|); target of +-1 broadcasts
    with it.  As in PyTorch, a target that is neither 1 nor -1 gets both terms.
    """
    check_reduction("hinge_embedding_loss", reduction)
    input, target = _floats(input, target)
    hinge = where(target != 1, clamp_min(sub(margin, input), 0.0), 0.0)
    return reduce_loss(add(hinge, where(target != -1, input, 0.0)), reduction)


def soft_margin_loss(input, target, *, reduction="mean"):
    """log(1 + exp(-target input)), elementwise (two-class logistic loss), then reduced.

    Computed as softplus(-target input), which never overflows (PyTorch's
    log1p(exp(.)) gives inf where -target input > ~88 in float32).
    """
    check_reduction("soft_margin_loss", reduction)
    input, target = _floats(input, target)
    loss = softplus(neg(mul(input, target)), 1.0, math.inf)
    return reduce_loss(loss, reduction)


def multilabel_soft_margin_loss(input, target, weight=None, *, reduction="mean"):
    """Multi-label one-vs-all logistic loss of logits (N, C) against 0/1 targets (N, C).

    l_n = -(1/C) sum_c w_c [y_nc log sigmoid(x_nc) + (1 - y_nc) log sigmoid(-x_nc)]:
    shape (N,) (for "none"), then averaged or summed.  ``weight`` (C,) broadcasts.
    """
    name = "multilabel_soft_margin_loss"
    check_reduction(name, reduction)
    input, target = _floats(input, target)
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have a class dim, got a 0-D tensor")
    loss = neg(add(mul(target, logsigmoid(input)),
                   mul(sub(1.0, target), logsigmoid(neg(input)))))
    if weight is not None:
        loss = mul(loss, _floats(input, weight)[1])
    class_dim = input.ndim - 1
    loss = div(sum(loss, class_dim), input.shape[class_dim])
    return reduce_loss(loss, reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, *, reduction="mean"):
    """1 - cos(x1, x2) where target = 1, max(0, cos(x1, x2) - margin) where target = -1.

    input1, input2: (N, D) with target (N,), or (D,) with a 0-D target; cos is
    taken over D as x1.x2 / sqrt((|x1|^2 + 1e-12) (|x2|^2 + 1e-12)) (PyTorch's).
    """
    name = "cosine_embedding_loss"
    check_reduction(name, reduction)
    input1, input2, target = _floats(input1, input2, target)
    if target.ndim not in (0, 1):
        raise ValueError(f"{name}: target must be 0-D or 1-D (one label a pair), got shape "
                         f"{tuple(target.shape)}")
    if not input1.ndim == input2.ndim == target.ndim + 1:
        raise ValueError(f"{name}: a {target.ndim}-D target expects {target.ndim + 1}-D "
                         f"input1 and input2, got shapes {tuple(input1.shape)} and "
                         f"{tuple(input2.shape)}")
    dim = target.ndim
    squared1 = add(sum(mul(input1, input1), dim), 1e-12)
    squared2 = add(sum(mul(input2, input2), dim), 1e-12)
    cos = div(sum(mul(input1, input2), dim), sqrt(mul(squared1, squared2)))
    similar = where(target == 1, sub(1.0, cos), 0.0)
    dissimilar = where(target == -1, clamp_min(sub(cos, margin), 0.0), 0.0)
    return reduce_loss(add(similar, dissimilar), reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, *,
                        reduction="mean"):
    """max(0, d(anchor, positive) - d(anchor, negative) + margin), d the p-norm
    ``pairwise_distance`` (with ``eps``) over the last dim: (N, D) each -> (N,), then reduced.

    ``swap`` (Balntas et al. 2016): use min(d(a, n), d(p, n)) as the negative distance.
    """
    name = "triplet_margin_loss"
    check_reduction(name, reduction)
    anchor, positive, negative = _floats(anchor, positive, negative)
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise ValueError(f"{name}: anchor, positive and negative must have the same number "
                         f"of dims, got shapes {tuple(anchor.shape)}, {tuple(positive.shape)} "
                         f"and {tuple(negative.shape)}")
    to_positive = pairwise_distance(anchor, positive, p, eps)
    to_negative = pairwise_distance(anchor, negative, p, eps)
    if swap:
        to_negative = minimum(to_negative, pairwise_distance(positive, negative, p, eps))
    loss = clamp_min(add(sub(to_positive, to_negative), margin), 0.0)
    return reduce_loss(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, *, eps=1e-8,
                     reduction="mean"):
    """Negative log-likelihood of ``target`` counts under Poisson(rate), elementwise.

    log_input=True: input is log(rate), loss = exp(input) - target input;
    otherwise input is the rate, loss = input - target log(input + eps).
    ``full`` adds Stirling's approximation of log(target!),
    target log(target) - target + log(2 pi target) / 2, where target > 1.
    """
    check_reduction("poisson_nll_loss", reduction)
    input, target = _floats(input, target)
    if log_input:
        loss = sub(input.exp(), mul(target, input))
    else:
        loss = sub(input, mul(target, log(add(input, eps))))
    if full:
        loss = add(loss, _stirling(target))
    return reduce_loss(loss, reduction)


def _stirling(target):
    """t log t - t + log(2 pi t) / 2 where t > 1, else 0 (Stirling's log t!, less its
    t <= 1 part); t <= 1 is replaced by 1 inside the logs, so no log(0) reaches a gradient."""
    above = target > 1
    t = where(above, target, 1.0)
    term = add(sub(mul(t, log(t)), t), mul(log(mul(t, 2 * math.pi)), 0.5))
    return where(above, term, 0.0)


def _homoscedastic_var(name, input, var):
    """``var`` shaped to broadcast against ``input`` as PyTorch allows: the input's shape,
    the input's shape without its last dim, or the input's shape with one dim of size 1."""
    if tuple(var.shape) == tuple(input.shape):
        return var
    if tuple(var.shape) == tuple(input.shape[:-1]):
        return var.unsqueeze(-1)
    if var.ndim == input.ndim and builtins.sum(
            v for i, v in zip(input.shape, var.shape) if i != v) == 1:
        return var
    raise ValueError(f"{name}: var of shape {tuple(var.shape)} is of incorrect size for input "
                     f"of shape {tuple(input.shape)} (expected the input's shape, without its "
                     "last dim, or with one dim of size 1)")


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Negative log-likelihood of ``target`` under N(input, var), elementwise:

        (log(max(var, eps)) + (input - target)^2 / max(var, eps)) / 2  [+ log(2 pi) / 2 if full]

    var: a float, or a tensor of the input's shape (heteroscedastic), of the input's
    shape without its last dim, or with one dim of size 1 (homoscedastic there).
    The clamp at ``eps`` changes var's value, not its gradient (as PyTorch does).
    """
    name = "gaussian_nll_loss"
    input, target = _floats(input, target)
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError(f"{name}: var has negative entry/entries (got {var})")
        var = full_like(input, float(var))
    else:
        var = _floats(input, var)[1]
        deferred_checks.check((var.data < 0).any(), ValueError,
                              f"{name}: var has negative entry/entries")
    var = _homoscedastic_var(name, input, var)
    check_reduction(name, reduction)
    var = clamp_min_value_only(var, eps)
    difference = sub(input, target)
    loss = mul(add(log(var), div(mul(difference, difference), var)), 0.5)
    if full:
        loss = add(loss, 0.5 * math.log(2 * math.pi))
    return reduce_loss(loss, reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, *, reduction="mean"):
    """Multi-class hinge loss of scores (N, C) (or (C,)) at class indices (N,) (or 0-D):

        l_n = (1/C) sum_{i != y_n} w_{y_n} max(0, margin - x_n[y_n] + x_n[i])^p,  p = 1 or 2

    ``weight`` (C,) weights each sample by its target class; "mean" averages over N.
    """
    name = "multi_margin_loss"
    check_reduction(name, reduction)
    if p not in (1, 2):
        raise ValueError(f"{name}: only p == 1 and p == 2 are supported, got p={p}")
    input, target = as_tensor(input), as_tensor(target)
    scores, labels = _check_multi_margin(name, input, target, weight)
    classes = scores.shape[1]
    picked = scores.gather(1, labels.unsqueeze(1))                     # x_n[y_n], (N, 1)
    hinge = relu(add(sub(margin, picked), scores))                     # (N, C)
    if p == 2:
        hinge = mul(hinge, hinge)
    is_target = labels.unsqueeze(1) == arange(classes, device=labels.device)   # (N, C)
    hinge = where(is_target, 0.0, hinge)                               # drop i = y_n
    if weight is not None:
        hinge = mul(hinge, _floats(scores, weight)[1][labels].unsqueeze(1))
    loss = div(sum(hinge, 1), classes)
    if input.ndim == 1:
        loss = loss.squeeze(0)
    return reduce_loss(loss, reduction)


def _check_multi_margin(name, input, target, weight):
    """(scores (N, C), labels (N,)) from input (N, C) or (C,), naming any bad shape or label."""
    if input.ndim not in (1, 2) or input.shape[-1] == 0:
        raise ValueError(f"{name}: expected input (N, C) or (C,) with C > 0, got shape "
                         f"{tuple(input.shape)}")
    scores = input if input.ndim == 2 else input.unsqueeze(0)
    labels = target.reshape(-1)
    if target.ndim > 1 or labels.shape[0] != scores.shape[0]:
        raise ValueError(f"{name}: target shape {tuple(target.shape)} does not match input "
                         f"shape {tuple(input.shape)} (expected ({scores.shape[0]},)"
                         f"{' or ()' if input.ndim == 1 else ''})")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class indices, got {target.dtype}")
    classes = scores.shape[1]
    labels = labels.to(scores.device)                    # NumPy labels go to the scores
    # on the GPU the check waits on the device until the next read (deferred_checks.py)
    deferred_checks.check(((labels.data < 0) | (labels.data >= classes)).any(), IndexError,
                          f"{name}: target out of range: class indices must be in [0, "
                          f"{classes})")
    if weight is not None and tuple(as_tensor(weight).shape) != (classes,):
        raise ValueError(f"{name}: weight must have shape ({classes},), one weight a class, "
                         f"got {tuple(as_tensor(weight).shape)}")
    return scores, labels
