"""Less common layers' ops, each composed of existing differentiable ops (so each
backward is theirs): ``bilinear``, ``local_response_norm``, ``alpha_dropout`` and
``feature_alpha_dropout``, ``lp_pool1d`` / ``lp_pool2d``, ``channel_shuffle`` and
``embedding_bag``.  Arguments, defaults and results are ``torch.nn.functional``'s.
"""
import math
import numbers

import numpy as np

from .. import backend
from ..autograd import Tensor, as_tensor
from .dropout import _uniform
from .einstein_sum import einsum
from .math import abs, sign, where
from .activation import relu
from .pooling import avg_pool1d, avg_pool2d
from .shape import embedding, pad

__all__ = ["bilinear", "local_response_norm", "alpha_dropout", "feature_alpha_dropout",
           "lp_pool1d", "lp_pool2d", "channel_shuffle", "embedding_bag"]


def bilinear(input1, input2, weight, bias=None):
    """``y[..., o] = sum_ij input1[..., i] * weight[o, i, j] * input2[..., j] + bias[o]``:
    (*, in1), (*, in2), weight (out, in1, in2), bias (out,) -> (*, out)."""
    x1, x2, w = as_tensor(input1), as_tensor(input2), as_tensor(weight)
    if w.ndim != 3:
        raise ValueError(f"bilinear: weight must be 3-D (out, in1, in2), got shape "
                         f"{tuple(w.shape)}")
    if x1.ndim == 0 or x1.shape[-1] != w.shape[1]:
        raise ValueError(f"bilinear: input1's last dim must be in1_features = {w.shape[1]}, "
                         f"got shape {tuple(x1.shape)}")
    if x2.ndim == 0 or x2.shape[-1] != w.shape[2]:
        raise ValueError(f"bilinear: input2's last dim must be in2_features = {w.shape[2]}, "
                         f"got shape {tuple(x2.shape)}")
    if x1.shape[:-1] != x2.shape[:-1]:
        raise ValueError(f"bilinear: input1 {tuple(x1.shape)} and input2 {tuple(x2.shape)} "
                         "must have the same batch dims")
    y = einsum("...i,oij,...j->...o", x1, w, x2)
    if bias is not None:
        bias = as_tensor(bias)
        if tuple(bias.shape) != (w.shape[0],):
            raise ValueError(f"bilinear: bias must have shape ({w.shape[0]},), got "
                             f"{tuple(bias.shape)}")
        y = y + bias
    return y


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Divide each element by ``(k + alpha / size * sum of squares over the size channels
    around it) ** beta`` (AlexNet's LRN), channels on dim 1; zero-padded at the ends
    (``size // 2`` before, ``(size - 1) // 2`` after, as PyTorch)."""
    x = as_tensor(input)
    if x.ndim < 3:
        raise ValueError(f"local_response_norm: expected 3D or higher dimensionality input "
                         f"(got {x.ndim} dimensions)")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive integer, got {size!r}")
    if x.numel() == 0:
        return x
    channels = x.shape[1]
    squares = x * x
    widths = [(0, 0)] * (x.ndim - 2) + [(size // 2, (size - 1) // 2)]
    padded = pad(squares, [p for pair in widths for p in pair])   # pads dim 1 (last pair)
    window = padded[:, 0:channels]
    for j in range(1, size):
        window = window + padded[:, j:j + channels]
    div = (window * (alpha / size) + k) ** beta
    return x / div


# SELU's constants, whose fixed point (mean 0, variance 1) alpha dropout keeps.
_SELU_ALPHA_PRIME = 1.7580993408473766     # scale * alpha of SELU


def _alpha_dropout(op, input, p, training, feature):
    if not 0 <= p <= 1:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    x = as_tensor(input)
    if feature and x.ndim < 2:
        raise RuntimeError(f"{op}: Feature dropout requires at least 2 dimensions in the input")
    if not training or p == 0 or x.numel() == 0:
        return x
    if p == 1:
        return x * 0.0
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")
    xp = backend.get_array_module(x.data)
    shape = x.shape[:2] + (1,) * (x.ndim - 2) if feature else x.shape
    keep = (_uniform(xp, shape) >= p).astype(x.dtype)          # Bernoulli(1 - p)
    # Dropped entries are set to SELU's negative saturation -alpha', then an affine
    # map a * y + c restores mean 0 and variance 1 (Klambauer et al. 2017):
    a = 1.0 / math.sqrt((_SELU_ALPHA_PRIME ** 2 * p + 1) * (1 - p))
    b = (keep - 1) * (_SELU_ALPHA_PRIME * a) + _SELU_ALPHA_PRIME * a * p
    return x * Tensor(keep * x.dtype.type(a)) + Tensor(b.astype(x.dtype))


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout for SELU networks (``F.alpha_dropout``; note ``training=False`` by default,
    as PyTorch): dropped elements become -alpha', then all are rescaled so that a
    zero-mean unit-variance input keeps its mean and variance.  ``inplace`` is ignored."""
    return _alpha_dropout("alpha_dropout", input, p, training, feature=False)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """``alpha_dropout`` of whole channels: one draw per (sample, channel) of (N, C, *)."""
    return _alpha_dropout("feature_alpha_dropout", input, p, training, feature=True)


def _lp_finish(out, norm_type, window):
    # (sum over the window of x^p)^(1/p); sign * relu(abs) as PyTorch, so a negative sum
    # (odd p) gives 0 rather than nan.
    return ((sign(out) * relu(abs(out))) * window) ** (1.0 / norm_type)


def _check_norm_type(op, norm_type):
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real) or norm_type == 0:
        raise ValueError(f"{op}: norm_type must be a nonzero number, got {norm_type!r}")


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over L of (N, C, L): ``(sum of x^p over each window)^(1/p)``."""
    _check_norm_type("lp_pool1d", norm_type)
    x = as_tensor(input)
    out = avg_pool1d(x ** norm_type, kernel_size, stride, 0, ceil_mode)
    k = kernel_size[0] if isinstance(kernel_size, (tuple, list)) else kernel_size
    return _lp_finish(out, norm_type, k)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over (H, W) of (N, C, H, W): ``(sum of x^p)^(1/p)`` per window."""
    _check_norm_type("lp_pool2d", norm_type)
    x = as_tensor(input)
    kh, kw = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else \
        (kernel_size, kernel_size)
    out = avg_pool2d(x ** norm_type, kernel_size, stride, 0, ceil_mode)
    return _lp_finish(out, norm_type, kh * kw)


def channel_shuffle(input, groups):
    """Interleave the channels of ``groups`` groups (ShuffleNet): (N, C, *) with channels
    ``[g0c0, g0c1, ..., g1c0, ...]`` -> ``[g0c0, g1c0, ..., g0c1, g1c1, ...]``."""
    x = as_tensor(input)
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups <= 0:
        raise ValueError(f"channel_shuffle: Number of groups to divide channels in must be "
                         f"positive. Value of groups:{groups}")
    if x.ndim < 3:
        raise ValueError(f"channel_shuffle: expected input with at least 3 dims (N, C, *), "
                         f"got shape {tuple(x.shape)}")
    n, c = x.shape[:2]
    if c % groups:
        raise ValueError(f"channel_shuffle: Number of channels must be divisible by groups. "
                         f"Got {c} channels and {groups} groups.")
    rest = tuple(x.shape[2:])
    return x.reshape(n, groups, c // groups, *rest).transpose(1, 2).reshape(n, c, *rest)


_BAG_MODES = ("sum", "mean", "max")


def _bags(op, index, offsets, include_last_offset):
    """(bag of each entry, number of bags, length of the longest bag, position of each
    entry inside its bag, position of each entry in the flat ``index``)."""
    xp = backend.get_array_module(index)
    if index.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{op}: if input is 2D, then offsets has to be None, as input is "
                             "treated is a mini-batch of fixed length sequences.")
        bags, length = index.shape
        bag_of = xp.repeat(xp.arange(bags), length)
        slot = xp.tile(xp.arange(length), bags)
        return bag_of, bags, length, slot, xp.arange(bags * length)
    if index.ndim != 1:
        raise ValueError(f"{op}: input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{index.ndim}")
    if offsets is None:
        raise ValueError(f"{op}: offsets has to be a 1D Tensor but got None")
    offsets = backend.to_numpy(as_tensor(offsets).data)
    if offsets.ndim != 1:
        raise ValueError(f"{op}: offsets has to be a 1D Tensor, got shape {offsets.shape}")
    if offsets.dtype.kind not in "iu":
        raise TypeError(f"{op}: offsets must hold integers, got dtype {offsets.dtype}")
    offsets = offsets.astype(xp.int64)
    total = index.shape[0]
    starts = offsets[:-1] if include_last_offset else offsets
    ends = xp.concatenate([offsets[1:], xp.asarray([total], dtype=xp.int64)]) \
        if not include_last_offset else offsets[1:]
    if starts.size and (int(starts[0]) != 0):
        raise ValueError(f"{op}: offsets[0] has to be 0, i.e., the first sequence in the "
                         f"mini-batch has to start from position 0. However, got "
                         f"{int(starts[0])}")
    if starts.size and (bool((ends < starts).any()) or int(ends[-1]) > total):
        raise ValueError(f"{op}: offsets must be non-decreasing and at most the input's length "
                         f"{total}")
    bags = int(starts.size)
    counts = ends - starts
    bag_of = xp.repeat(xp.arange(bags), counts)
    slot = xp.arange(bag_of.size) - xp.repeat(starts, counts)
    length = int(counts.max()) if bags else 0
    # The input positions in the bags (with include_last_offset, those after the last
    # offset are in none).
    return bag_of, bags, length, slot, xp.repeat(starts, counts) + slot


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2,
                  scale_grad_by_freq=False, mode="mean", sparse=False,
                  per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Sums, means or maxima of bags of embeddings without building the (bags, len, dim)
    lookups by hand (``F.embedding_bag``).

    ``input``: (B, L) integer indices (B bags of L), or 1-D with ``offsets`` (the start of
    each bag; ``include_last_offset=True``: the last offset ends the last bag).  Entries
    equal to ``padding_idx`` are left out of their bag (and of a mean's count); an empty
    bag gives zeros.  ``per_sample_weights`` (input's shape) scales each looked-up row,
    mode "sum" only.  Returns (B, embedding_dim).  (max_norm, scale_grad_by_freq and
    sparse are not supported.)
    """
    op = "embedding_bag"
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError(f"{op}: max_norm, scale_grad_by_freq and sparse are not "
                                  "supported")
    if mode not in _BAG_MODES:
        raise ValueError(f"{op}: mode has to be one of 'sum', 'mean' or 'max', got {mode!r}")
    w = as_tensor(weight)
    if w.ndim != 2:
        raise ValueError(f"{op}: weight has to be a 2D Tensor, but got Tensor of dimension "
                         f"{w.ndim}")
    # The bags are laid out on the host (small integer bookkeeping; indices already on the
    # GPU are copied over, which waits for it), then the tables go to the weight's device.
    index = backend.to_numpy(as_tensor(input).data)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: input must hold integer indices, got dtype {index.dtype}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"{op}: per_sample_weights was not None. "
                                      "per_sample_weights is only supported for mode='sum' "
                                      f"(got mode={mode!r}).")
        per_sample_weights = as_tensor(per_sample_weights)
        if tuple(per_sample_weights.shape) != tuple(index.shape):
            raise ValueError(f"{op}: per_sample_weights (shape "
                             f"{tuple(per_sample_weights.shape)}) must have the same shape as "
                             f"input ({tuple(index.shape)})")
    if padding_idx is not None:
        if not -w.shape[0] <= padding_idx < w.shape[0]:
            raise ValueError(f"{op}: padding_idx must be within num_embeddings")
        padding_idx %= w.shape[0]
    bag_of, bags, length, slot, position = _bags(op, index, offsets, include_last_offset)
    xp = np
    flat = index.reshape(-1).astype(xp.int64)[position]
    if flat.size and (int(flat.min()) < 0 or int(flat.max()) >= w.shape[0]):
        raise IndexError(f"{op}: index out of range: indices must be in [0, {w.shape[0]})")
    dim = w.shape[1]
    # A (bags, length) table of the indices (0 where a bag is shorter), and which are real.
    table = xp.zeros((bags, length), dtype=xp.int64)
    valid = xp.zeros((bags, length), dtype=bool)
    table[bag_of, slot] = flat
    valid[bag_of, slot] = True if padding_idx is None else flat != padding_idx
    def on_device(array):
        return Tensor(backend.to_device(array, w.device))

    rows = embedding(on_device(table), w)                     # (bags, length, dim)
    mask = on_device(valid[..., None])
    if mode == "max":
        lowest = on_device(xp.asarray(-xp.inf, dtype=w.dtype))
        best = where(mask, rows, lowest).amax(dim=1) if length else \
            on_device(xp.zeros((bags, dim), dtype=w.dtype))
        return where(on_device(valid.any(axis=1)[:, None]), best, 0.0)
    scale = on_device(valid.astype(w.dtype))
    if per_sample_weights is not None:
        psw = per_sample_weights.reshape(-1)[on_device(position)]
        table_of_weights = _scatter_table(psw, bag_of, slot, bags, length, on_device)
        scale = where(on_device(valid), table_of_weights, 0.0)
    total = (rows * scale.unsqueeze(-1)).sum(dim=1)           # (bags, dim)
    if mode == "mean":
        count = valid.sum(axis=1).astype(w.dtype)
        total = total / on_device(xp.maximum(count, 1)[:, None])
    return total


def _scatter_table(values, bag_of, slot, bags, length, on_device):
    """The 1-D tensor ``values`` laid out as a (bags, length) table (differentiably)."""
    position = np.full((bags, length), values.shape[0], dtype=np.int64)
    position[bag_of, slot] = np.arange(values.shape[0])
    padded = pad(values, (0, 1))                               # a 0 for the empty slots
    return embedding(on_device(position), padded.unsqueeze(-1)).squeeze(-1)
