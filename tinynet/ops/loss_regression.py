"""Regression losses: mse_loss, l1_loss, smooth_l1_loss, huber_loss (``torch.nn.functional``).

With d = input - target, elementwise:

    mse_loss         d^2
    l1_loss          |d|
    smooth_l1_loss   d^2 / (2 beta)         if |d| < beta,  else |d| - beta / 2
    huber_loss       d^2 / 2                if |d| < delta, else delta (|d| - delta / 2)

then reduced ("mean" over every element, "sum", or "none").  smooth_l1 and
huber are quadratic near 0 (smooth gradient) and linear far away (robust to
outliers); huber_loss = delta * smooth_l1_loss with beta = delta.

All are compositions of differentiable ops (sub, mul, abs, where), so their
gradients reach both input and target.  As in PyTorch, shapes broadcast, but
a target shape different from the input's gives a warning: (N, 1) against
(N,) broadcasts to (N, N), almost always a bug.
"""
import warnings

from ..amp.autocast_mode import autocast_op
from ..autograd import as_tensor
from .loss import check_reduction, reduce_loss
from .math import abs, mul, sub, where

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"]


def _difference(name, input, target, reduction):
    check_reduction(name, reduction)
    input, target = as_tensor(input), as_tensor(target)
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"{name}: target shape {tuple(target.shape)} differs from input shape "
                      f"{tuple(input.shape)}; they will be broadcast, which is likely wrong",
                      stacklevel=3)
    return sub(input, target)


@autocast_op
def mse_loss(input, target, reduction="mean"):
    """Mean squared error: mean((input - target)^2)."""
    d = _difference("mse_loss", input, target, reduction)
    return reduce_loss(mul(d, d), reduction)


@autocast_op
def l1_loss(input, target, reduction="mean"):
    """Mean absolute error: mean(|input - target|)."""
    return reduce_loss(abs(_difference("l1_loss", input, target, reduction)), reduction)


def _quadratic_then_linear(d, width):
    """d^2 / (2 width) where |d| < width, else |d| - width / 2 (= |d| when width is 0)."""
    magnitude = abs(d)
    if width == 0:
        return magnitude
    return where(magnitude.data < width, mul(d, d) * (0.5 / width), magnitude - 0.5 * width)


@autocast_op
def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """Quadratic for |d| < beta, linear beyond (``F.smooth_l1_loss``)."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    d = _difference("smooth_l1_loss", input, target, reduction)
    return reduce_loss(_quadratic_then_linear(d, beta), reduction)


@autocast_op
def huber_loss(input, target, reduction="mean", delta=1.0):
    """Huber loss: d^2 / 2 for |d| < delta, delta (|d| - delta / 2) beyond."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    d = _difference("huber_loss", input, target, reduction)
    return reduce_loss(_quadratic_then_linear(d, delta) * delta, reduction)
