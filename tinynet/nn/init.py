"""Weight initialization, with PyTorch's names and formulas (``torch.nn.init``).

Every function fills a Tensor (usually a Parameter) IN PLACE and returns it.
Random values are drawn on the CPU from ``tinynet.backend.get_rng()`` and then
copied to the tensor's device, so ``tn.manual_seed(s)`` gives the same weights
on the CPU and on the GPU.

Fans, for a weight of shape (out, in, kH, kW) (a Linear weight is (out, in)):

    fan_in  = in  * kH * kW      (inputs feeding one output)
    fan_out = out * kH * kW

A ConvTranspose2d weight is stored (in, out, kH, kW), and PyTorch still reads
dimension 1 as "fan_in" for it; we do the same, so default initializations match.
"""
import math

import numpy as np

from .. import backend
from ..autograd import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "ones_", "zeros_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "trunc_normal_", "orthogonal_", "eye_", "dirac_", "default_weight_and_bias_"]


def calculate_gain(nonlinearity, param=None):
    """The recommended scale of weights before ``nonlinearity`` (PyTorch's table).

    linear / conv / sigmoid: 1;  tanh: 5/3;  relu: sqrt(2);
    leaky_relu: sqrt(2 / (1 + slope^2)) with slope = param (default 0.01);  selu: 3/4.
    """
    linear_like = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                   "conv_transpose2d", "conv_transpose3d", "sigmoid")
    if nonlinearity in linear_like:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    """``(fan_in, fan_out)`` of a weight with at least 2 dimensions (see module docstring)."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than "
                         f"2 dimensions (got shape {shape})")
    receptive_field = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor, values):
    """Copy CPU ``values`` into ``tensor``'s array in place, on its device and in its dtype."""
    target = tensor.data if isinstance(tensor, Tensor) else tensor
    target[...] = backend.to_device(np.asarray(values, dtype=target.dtype),
                                    backend.device_of(target))
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with values drawn from U(a, b)."""
    return _fill(tensor, backend.get_rng().uniform(a, b, size=tuple(tensor.shape)))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with values drawn from N(mean, std^2)."""
    return _fill(tensor, backend.get_rng().normal(mean, std, size=tuple(tensor.shape)))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Fill with N(mean, std^2) values redrawn until they fall in [a, b] (ViT's and timm's
    init, ``trunc_normal_(w, std=0.02)``): the normal restricted to [a, b], as PyTorch's.

    Drawn by rejection, which is exact and fast while [a, b] holds most of the mass
    (the usual a, b = -2, 2 around std 0.02 hold all of it).
    """
    if not a < b:
        raise ValueError(f"trunc_normal_: the interval [a, b] = [{a}, {b}] is empty")
    rng, shape = backend.get_rng(), tuple(tensor.shape)
    values = rng.normal(mean, std, size=shape)
    outside = (values < a) | (values > b)
    for _ in range(1000):
        if not outside.any():
            break
        values[outside] = rng.normal(mean, std, size=int(outside.sum()))
        outside = (values < a) | (values > b)
    else:
        raise ValueError(f"trunc_normal_: [a, b] = [{a}, {b}] holds almost none of "
                         f"N({mean}, {std}^2)")
    return _fill(tensor, values)


def orthogonal_(tensor, gain=1.0):
    """Fill with a (semi-)orthogonal matrix times ``gain`` (Saxe et al. 2014): the weight
    flattened to (rows, everything else) has orthonormal rows or columns, from the QR
    decomposition of a Gaussian matrix with the signs of R's diagonal (so it is uniform)."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: needs at least 2 dims, got shape {tuple(tensor.shape)}")
    rows = tensor.shape[0]
    cols = int(np.prod(tensor.shape[1:]))
    gaussian = backend.get_rng().normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        gaussian = gaussian.T
    q, r = np.linalg.qr(gaussian)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tuple(tensor.shape)))


def eye_(tensor):
    """Fill a 2-D tensor with the identity (ones on the diagonal, also when not square)."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: needs a 2-D tensor, got shape {tuple(tensor.shape)}")
    return _fill(tensor, np.eye(*tuple(tensor.shape)))


def dirac_(tensor, groups=1):
    """Fill a conv weight (out, in, kH, kW) so that the convolution is the identity on the
    first min(out, in) channels of each group: 1 at each kernel's centre, 0 elsewhere."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: needs a 3-, 4- or 5-D conv weight, got shape "
                         f"{tuple(tensor.shape)}")
    shape = tuple(tensor.shape)
    if shape[0] % groups:
        raise ValueError(f"dirac_: dim 0 ({shape[0]}) must be divisible by groups ({groups})")
    out_per_group = shape[0] // groups
    values = np.zeros(shape)
    centre = tuple(size // 2 for size in shape[2:])
    for g in range(groups):
        for d in range(min(out_per_group, shape[1])):
            values[(g * out_per_group + d, d) + centre] = 1.0
    return _fill(tensor, values)


def constant_(tensor, val):
    """Fill with the constant ``val``."""
    return _fill(tensor, np.full(tuple(tensor.shape), val))


def ones_(tensor):
    return constant_(tensor, 1.0)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def xavier_uniform_(tensor, gain=1.0):
    """Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std  # U(-a, a) has std a / sqrt(3)
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """He uniform: U(-b, b), b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).

    PyTorch's default Conv2d/Linear weight init is ``kaiming_uniform_(w, a=sqrt(5))``,
    i.e. b = 1 / sqrt(fan_in).
    """
    if 0 in tuple(tensor.shape):
        return tensor  # nothing to fill
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """He normal: N(0, std^2), std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a).

    torchvision ResNets use ``kaiming_normal_(w, mode="fan_out", nonlinearity="relu")``.
    """
    if 0 in tuple(tensor.shape):
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))


def default_weight_and_bias_(weight, bias):
    """PyTorch's default initialization of Linear and Conv layers, in place.

    ``kaiming_uniform_(weight, a=sqrt(5))``, whose bound gain*sqrt(3/fan_in)
    works out to 1/sqrt(fan_in), and the bias from U(-1/sqrt(fan_in),
    1/sqrt(fan_in)) (left at zero when fan_in is 0).  ``bias`` may be None.
    """
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound)
