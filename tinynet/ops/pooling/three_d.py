"""3-D pooling of (N, C, D, H, W) volumes (or one (C, D, H, W)): two passes of the 2-D pools.

A box window (KD, KH, KW) is separable: its maximum is the maximum over its KD
slices of each slice's (KH, KW) maximum, and its mean the mean of the slices'
means (with padding, each axis's count of counted cells multiplies: PyTorch's
divisor is that product too).  So a 3-D pool is

    1. the 2-D pool of every depth slice: (N, C*D, H, W) -> (N, C*D, OH, OW)
    2. a (KD, 1) pool down the depth:      (N, C, D, OH*OW) -> (N, C, OD, OH*OW)

both by the 2-D ops of this package, gradients included.  Ties of the max
pool go where PyTorch sends them, to the first maximum in (d, h, w) order:
pass 1 keeps the first in (h, w) order within a slice, pass 2 the first slice;
and so do the indices (``_volume_indices`` joins the two passes' indices).
The adaptive pools are separable the same way (PyTorch's windows are a box of
per-axis windows).
"""
from ...autograd import as_tensor
from ..shape import take_along_dim
from ..conv.arguments import triple
from .avg_pool import adaptive_avg_pool2d, adaptive_max_pool2d, adaptive_sizes, avg_pool2d
from .max_pool import max_pool2d
from .windows import window_arguments

__all__ = ["max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d"]


def _volume(op, input):
    """(x as (N, C, D, H, W), whether one volume (C, D, H, W) came without its batch dim)."""
    x = as_tensor(input)
    if x.ndim == 4:
        return x.unsqueeze(0), True
    if x.ndim != 5:
        raise ValueError(f"{op}: expected input (N, C, D, H, W) or (C, D, H, W), got shape "
                         f"{tuple(x.shape)}")
    return x, False


def _windows(op, shape, kernel_size, stride, padding, dilation, ceil_mode):
    """kernel, stride, padding, dilation as (d, h, w) triples, checked against ``shape``
    with the 3-D names (the 2-D passes would report their reshaped operands)."""
    return window_arguments(op, shape, kernel_size, stride, padding, dilation, ceil_mode,
                            sizes=triple)[:4]


def _slices(x):
    """(N, C, D, H, W) -> (N, C*D, H, W): every depth slice a plane of its own."""
    n, c, d, h, w = x.shape
    return x.reshape(n, c * d, h, w)


def _down_depth(y, n, c, d):
    """(N, C*D, OH, OW) -> (N, C, D, OH*OW): the depth as rows, every (oh, ow) a column."""
    return y.reshape(n, c, d, y.shape[2] * y.shape[3])


def _volume_out(z, n, c, oh, ow, unbatched):
    """(N, C, OD, OH*OW) -> (N, C, OD, OH, OW) (and the batch dim dropped again)."""
    z = z.reshape(n, c, z.shape[2], oh, ow)
    return z.squeeze(0) if unbatched else z


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """3-D max pooling, like ``torch.nn.functional.max_pool3d``: (N, C, D, H, W) ->
    (N, C, OD, OH, OW), ``OD = (D + 2*pd - dd*(KD-1) - 1) // sd + 1`` (rounded up with
    ``ceil_mode``); ``stride`` defaults to ``kernel_size``; padding is -inf.
    ``return_indices`` also returns where each maximum lies, d * H * W + h * W + w."""
    op = "max_pool3d"
    x, unbatched = _volume(op, input)
    k, s, p, d = _windows(op, x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    n, c, depth = x.shape[:3]
    y = max_pool2d(_slices(x), k[1:], s[1:], p[1:], d[1:], ceil_mode, return_indices)
    z = max_pool2d(_down_depth(_values(y), n, c, depth), (k[0], 1), (s[0], 1), (p[0], 0),
                   (d[0], 1), ceil_mode, return_indices)
    return _volume_result(x, y, z, return_indices, unbatched)


def _values(result):
    """The pooled values of a pool's result, with or without its indices."""
    return result[0] if isinstance(result, tuple) else result


def _volume_result(x, planes, depth, return_indices, unbatched):
    """The 3-D pool's output from its two passes (and the indices, when asked for)."""
    n, c, _, h, w = x.shape
    oh, ow = _values(planes).shape[2:]
    z = _volume_out(_values(depth), n, c, oh, ow, unbatched)
    if not return_indices:
        return z
    return z, _volume_out(_volume_indices(planes[1], depth[1], c, h, w), n, c, oh, ow,
                          unbatched)


def _volume_indices(plane_indices, depth_indices, channels, height, width):
    """The index d * H * W + h * W + w of every maximum, from the two passes' indices.

    Pass 2 pooled (N, C, D, M = OH*OW) down D, so its index is d * M + m with m the
    column it stayed in; pass 1's index h * W + w of slice d at that column completes it.
    """
    n, _, oh, ow = plane_indices.shape
    columns = oh * ow
    d = depth_indices // columns                                   # (N, C, OD, M)
    per_slice = plane_indices.reshape(n, channels, -1, columns)    # (N, C, D, M)
    return d * (height * width) + take_along_dim(per_slice, d, dim=2)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """3-D average pooling, like ``torch.nn.functional.avg_pool3d``: (N, C, D, H, W) ->
    (N, C, OD, OH, OW).  Zero padding counts in the average when ``count_include_pad``;
    ``divisor_override`` replaces the window's count as the divisor."""
    op = "avg_pool3d"
    x, unbatched = _volume(op, input)
    k, s, p, _ = _windows(op, x.shape, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and divisor_override <= 0:
        raise ValueError(f"{op}: divisor_override must be positive, got {divisor_override}")
    n, c, depth = x.shape[:3]
    # With an override, pass 1 sums (divisor 1) and pass 2 divides by the override.
    first = None if divisor_override is None else 1
    y = avg_pool2d(_slices(x), k[1:], s[1:], p[1:], ceil_mode, count_include_pad, first)
    oh, ow = y.shape[2:]
    z = avg_pool2d(_down_depth(y, n, c, depth), (k[0], 1), (s[0], 1), (p[0], 0), ceil_mode,
                   count_include_pad, divisor_override)
    return _volume_out(z, n, c, oh, ow, unbatched)


def _adaptive(op, pool2d, input, output_size, **indices):
    """An adaptive 3-D pool as two passes of ``pool2d`` (``indices``: the max pool's
    ``return_indices``, passed on)."""
    x, unbatched = _volume(op, input)
    od, oh, ow = adaptive_sizes(op, x.shape, output_size, triple)
    n, c, depth = x.shape[:3]
    y = pool2d(_slices(x), (oh, ow), **indices)
    z = pool2d(_down_depth(_values(y), n, c, depth), (od, oh * ow), **indices)
    return _volume_result(x, y, z, indices.get("return_indices", False), unbatched)


def adaptive_avg_pool3d(input, output_size):
    """Average-pool (N, C, D, H, W) to (N, C, od, oh, ow) over PyTorch's adaptive windows
    (``F.adaptive_avg_pool3d``; 1 is the global average pool of a volume)."""
    return _adaptive("adaptive_avg_pool3d", adaptive_avg_pool2d, input, output_size)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Max-pool (N, C, D, H, W) to (N, C, od, oh, ow) over PyTorch's adaptive windows
    (``F.adaptive_max_pool3d``; ``return_indices`` as ``max_pool3d``'s)."""
    return _adaptive("adaptive_max_pool3d", adaptive_max_pool2d, input, output_size,
                     return_indices=bool(return_indices))
