"""Group normalization (``F.group_norm``, Wu & He 2018): batch norm's statistics, per sample;
and instance normalization (``F.instance_norm``, Ulyanov et al. 2016), its G = C case.

The C channels of x (N, C, *) are split into G groups of C/G channels, and each
sample's group is normalized over its channels and positions together:

    x: (N, C, *) -> (N, G, C/G * prod(*))
    y = (x - mean) / sqrt(var + eps)        mean, var (biased) over the last axis
    y: back to (N, C, *), then  y * weight[c] + bias[c]   (weight, bias: (C,))

Nothing depends on the other samples of the batch, so it works at batch size 1
and trains and evaluates alike (no running statistics).  G = 1 is layer norm
over (C, *) with per-channel affine; G = C is instance norm.  A composition of
differentiable ops (reshape, mean, var), so it needs no Function of its own.

``instance_norm`` normalizes each (sample, channel) over its positions.  Like
PyTorch it can also keep running statistics (``InstanceNorm2d(...,
track_running_stats=True)``: the batch's mean of the instances' means and of
their unbiased variances) and use them instead (``use_input_stats=False``).
"""
from ..amp.autocast_mode import autocast_op
from ..autograd import as_tensor
from .math import add, div, mul, sqrt, sub
from .reduce import mean, var

__all__ = ["group_norm", "instance_norm"]


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
    return _per_channel_affine(y.reshape(x.shape), weight, bias)


def _per_channel_affine(y, weight, bias):
    """y * weight[c] + bias[c] for y (N, C, *), either of them None (left out)."""
    per_channel = (-1,) + (1,) * (y.ndim - 2)          # (C,) -> (C, 1, ..., 1)
    if weight is not None:
        y = mul(y, as_tensor(weight).reshape(per_channel))
    if bias is not None:
        y = add(y, as_tensor(bias).reshape(per_channel))
    return y


@autocast_op
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Normalize each (sample, channel) of ``input`` (N, C, *) over its positions.

    With ``use_input_stats`` (the default) the statistics are each instance's own, and
    ``running_mean``/``running_var`` (C,), if given, are updated in place with the
    batch's mean of them; without, the running statistics normalize instead.
    """
    x = as_tensor(input)
    if x.ndim < 3:
        raise ValueError(f"instance_norm: expected input (N, C, *) with positions, got shape "
                         f"{tuple(x.shape)}")
    channels = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if use_input_stats:
        positions = tuple(range(2, x.ndim))
        mu = mean(x, positions, keepdim=True)
        variance = var(x, positions, unbiased=False, keepdim=True)
        if running_mean is not None:
            _update_running(running_mean, running_var, mu, variance, x, momentum)
    else:
        if running_mean is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and "
                             "running_var")
        mu = as_tensor(running_mean).reshape(channels)
        variance = as_tensor(running_var).reshape(channels)
    y = div(sub(x, mu), sqrt(add(variance, eps)))
    return _per_channel_affine(y, weight, bias)


def _update_running(running_mean, running_var, mu, variance, x, momentum):
    """running = (1 - momentum) running + momentum * (the batch's mean of the instances'
    means, and of their unbiased variances), in place (no gradient)."""
    count = x.numel() // (x.shape[0] * x.shape[1])
    unbiased = variance.data * (count / max(count - 1, 1))
    for running, batch in ((running_mean, mu.data), (running_var, unbiased)):
        array = as_tensor(running).data
        array *= 1 - momentum
        array += momentum * batch.mean(axis=0).reshape(array.shape).astype(array.dtype)
