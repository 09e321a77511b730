"""Layer normalization (``F.layer_norm``): normalize each sample over its last dimensions.

For ``normalized_shape`` = the last k sizes of the input (e.g. (C,) for
(N, T, C) features, as in a transformer), every sample is normalized over
those k dims with its own mean and (biased) variance:

    y = (x - mean) / sqrt(var + eps) * weight + bias

Unlike batch norm nothing depends on the other samples, so training and
evaluation compute the same thing and there are no running statistics.  It
is a composition of differentiable ops (mean, var, sub, div), so its gradient
needs no Function of its own.
"""
from ..amp.autocast_mode import autocast_op
from ..autograd import as_tensor
from .math import add, div, mul, sqrt, sub
from .reduce import mean, var

__all__ = ["layer_norm"]


@autocast_op
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize ``input`` (..., *normalized_shape) over its last ``len(normalized_shape)`` dims."""
    x = as_tensor(input)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} must be the last dims of the "
                         f"input shape {x.shape}")
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    centered = sub(x, mean(x, dims, keepdim=True))
    y = div(centered, sqrt(add(var(x, dims, unbiased=False, keepdim=True), eps)))
    if weight is not None:
        y = mul(y, weight)
    if bias is not None:
        y = add(y, bias)
    return y
