"""Group normalization (``F.group_norm``, Wu & He 2018): batch norm's statistics, per sample.

The C channels of x (N, C, *) are split into G groups of C/G channels, and each
sample's group is normalized over its channels and positions together:

    x: (N, C, *) -> (N, G, C/G * prod(*))
    y = (x - mean) / sqrt(var + eps)        mean, var (biased) over the last axis
    y: back to (N, C, *), then  y * weight[c] + bias[c]   (weight, bias: (C,))

Nothing depends on the other samples of the batch, so it works at batch size 1
and trains and evaluates alike (no running statistics).  G = 1 is layer norm
over (C, *) with per-channel affine; G = C is instance norm.  A composition of
differentiable ops (reshape, mean, var), so it needs no Function of its own.
"""
from ..amp.autocast_mode import autocast_op
from ..autograd import as_tensor
from .math import add, div, mul, sqrt, sub
from .reduce import mean, var

__all__ = ["group_norm"]


@autocast_op
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalize ``input`` (N, C, *) over each sample's groups of C / num_groups channels."""
    x = as_tensor(input)
    if x.ndim < 2 or num_groups < 1 or x.shape[1] % num_groups:
        raise ValueError(f"group_norm: expected input (N, C, *) with C divisible by num_groups "
                         f"= {num_groups}, got shape {tuple(x.shape)}")
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None and tuple(value.shape) != (x.shape[1],):
            raise ValueError(f"group_norm: {name} must have shape ({x.shape[1]},), one value a "
                             f"channel, got {tuple(value.shape)}")
    groups = x.reshape(x.shape[0], num_groups, -1)
    centered = sub(groups, mean(groups, -1, keepdim=True))
    y = div(centered, sqrt(add(var(groups, -1, unbiased=False, keepdim=True), eps)))
    y = y.reshape(x.shape)
    per_channel = (-1,) + (1,) * (x.ndim - 2)          # (C,) -> (C, 1, ..., 1)
    if weight is not None:
        y = mul(y, as_tensor(weight).reshape(per_channel))
    if bias is not None:
        y = add(y, as_tensor(bias).reshape(per_channel))
    return y
