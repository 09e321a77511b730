"""Max unpooling: ``max_unpool1d/2d/3d``, the partial inverse of a max pool (SegNet's decoder).

A max pool with ``return_indices=True`` also says where each maximum came from:
its flat position in its plane, h * W + w (d * H * W + h * W + w for volumes).
Unpooling puts every value back at that position of a zero plane::

    out[n, c].flat[indices[n, c, i]] = input[n, c, i]      the rest stays 0

which is a ``scatter`` along the flattened positions, so its gradient is the
gather at the same positions (``ops/shape.py``).  The output size is the one
the pool came from, ``(in - 1) * stride - 2 * padding + kernel`` along each
axis, or ``output_size`` when the pool's input had a size that this formula
does not recover (an odd size, ceil_mode).
"""
from ... import deferred_checks
from ...autograd import as_tensor
from ..conv.arguments import pair, triple
from ..conv.one_d import _single
from ..creation import zeros
from ..shape import scatter

__all__ = ["max_unpool1d", "max_unpool2d", "max_unpool3d"]


def _one(op, name, value):
    return (_single(op, name, value),)


def _output_size(op, x, kernel, stride, padding, output_size, dims):
    """The spatial output size: the pool's input size by default, or ``output_size``."""
    default = tuple((n - 1) * s - 2 * p + k
                    for n, k, s, p in zip(x.shape[-dims:], kernel, stride, padding))
    if output_size is None:
        return default
    batch_dims = x.ndim - dims                          # (N, C) or, for one sample, (C,)
    if len(tuple(output_size)) not in (dims, dims + batch_dims):
        raise ValueError(f"{op}: output_size must have {dims} or {dims + batch_dims} elements "
                         f"for input of shape {tuple(x.shape)}, got {tuple(output_size)}")
    size = tuple(output_size)[-dims:]
    for n, want, s in zip(default, size, stride):
        if not n - s < want < n + s:
            raise ValueError(f"{op}: output_size {size} is not reachable from input of shape "
                             f"{tuple(x.shape)}: each size must be within stride {stride} of "
                             f"{default}")
    return size


def _unpool(op, dims, sizes, input, indices, kernel_size, stride, padding, output_size):
    x, where = as_tensor(input), as_tensor(indices)
    if x.ndim not in (dims + 1, dims + 2):
        raise ValueError(f"{op}: expected input with {dims + 2} dims (or {dims + 1} for one "
                         f"sample), got shape {tuple(x.shape)}")
    if tuple(where.shape) != tuple(x.shape):
        raise ValueError(f"{op}: indices of shape {tuple(where.shape)} must have the shape of "
                         f"the input, {tuple(x.shape)}")
    if where.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers (a max pool's return_indices), got "
                        f"dtype {where.dtype}")
    kernel = sizes(op, "kernel_size", kernel_size)
    stride = kernel if stride is None else sizes(op, "stride", stride)
    padding = sizes(op, "padding", padding)
    out = _output_size(op, x, kernel, stride, padding, output_size, dims)
    planes = x.shape[:-dims]
    plane_size = 1
    for n in out:
        plane_size *= n
    flat_x, flat_where = x.reshape(*planes, -1), where.reshape(*planes, -1)
    positions = flat_where.data
    # On the GPU the check waits on the device until the next read (deferred_checks.py).
    deferred_checks.check(((positions < 0) | (positions >= plane_size)).any(), ValueError,
                          f"{op}: an index is outside the output of size {out} "
                          f"({plane_size} positions a plane)")
    canvas = zeros(*planes, plane_size, dtype=x.dtype, device=x.device)
    return scatter(canvas, -1, flat_where, flat_x).reshape(*planes, *out)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """(N, C, L) values and their max_pool1d indices -> (N, C, L_out), zeros elsewhere."""
    return _unpool("max_unpool1d", 1, _one, input, indices, kernel_size, stride, padding,
                   output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """(N, C, H, W) values and their max_pool2d indices -> (N, C, H_out, W_out), zeros
    elsewhere, like ``torch.nn.functional.max_unpool2d``."""
    return _unpool("max_unpool2d", 2, pair, input, indices, kernel_size, stride, padding,
                   output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """(N, C, D, H, W) values and their max_pool3d indices -> (N, C, D_out, H_out, W_out)."""
    return _unpool("max_unpool3d", 3, triple, input, indices, kernel_size, stride, padding,
                   output_size)
