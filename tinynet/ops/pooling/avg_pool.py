"""Average pooling on NCHW tensors: avg_pool2d and adaptive_avg_pool2d.

``avg_pool2d`` adds up the kh*kw strided views of ``windows.window_views``
(one whole-array addition per kernel offset) and divides by each window's
count; backward spreads g / count over each window (``scatter_windows``).
A large kernel that tiles the input (the global average pool, 7x7 in a
ResNet) is one ``einsum`` reduction instead of a loop of many tiny operations
(the crossover is measured in ``benchmarks/NOTES.md``, "Average pooling").
``adaptive_avg_pool2d`` is an average pool whose windows tile the input; where
they cannot (7 outputs from 10 rows), PyTorch's overlapping windows
[floor(i H / oh), ceil((i + 1) H / oh)) as two averaging matrices, A_h x A_w^T.
``adaptive_max_pool2d`` takes the maximum of the same windows.
"""
import numpy as np

from ... import backend
from ...autograd import Function, as_tensor
from ..conv.arguments import pair, takes_one_sample
from ..math import matmul
from ..shape import stack
from .max_pool import max_pool2d
from .windows import check_4d, pad, pool_geometry, scatter_windows, window_views

__all__ = ["avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"]
# (``adaptive_sizes`` is shared with three_d.py.)

# Tiling windows with more offsets than this are reduced by one einsum.
_LOOP_MAX_OFFSETS = 16


def _window_counts(xp, geo, count_include_pad, dtype):
    """Divisor of each window: how many of its elements count, shape (Ho, Wo) or a scalar.

    PyTorch counts the zero padding when ``count_include_pad`` (but never the
    extra cells past it that ceil_mode windows overhang), otherwise only the
    real input elements.  Pooling a 2-D indicator of the counted cells gives
    the count of every window at once.
    """
    kh, kw = geo.kernel
    if geo.extra == (0, 0) and (count_include_pad or geo.padding == (0, 0)):
        return kh * kw
    (ph, pw), (h, w) = geo.padding, geo.size
    counted = xp.zeros((1, 1) + geo.padded, dtype=dtype)
    if count_include_pad:
        counted[:, :, :h + 2 * ph, :w + 2 * pw] = 1
    else:
        counted[:, :, ph:ph + h, pw:pw + w] = 1
    return sum(view for _, view in window_views(counted, geo))


class AvgPool2dFunction(Function):
    """y[n, c, oh, ow] = sum over the window of x_pad / divisor(oh, ow).

    Backward spreads g / divisor evenly over each window.  Saves only the divisor.
    """

    def __init__(self, geo, count_include_pad=True, divisor_override=None):
        self.geo = geo
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def _large_tiles(self):
        return self.geo.tiles and self.geo.kernel[0] * self.geo.kernel[1] > _LOOP_MAX_OFFSETS

    def forward(self, x):
        xp = backend.get_array_module(x)
        geo = self.geo
        divisor = self.divisor_override or _window_counts(xp, geo, self.count_include_pad, x.dtype)
        if self._large_tiles():
            (ho, wo), (kh, kw) = geo.out, geo.kernel
            total = xp.einsum("nchiwj->nchw", x.reshape(x.shape[:2] + (ho, kh, wo, kw)))
        else:
            views = window_views(pad(x, geo, 0), geo)
            total = next(views)[1].copy()
            for _, view in views:
                total += view
        total /= divisor
        self.divisor = divisor
        self.n_c = x.shape[:2]
        return total

    def backward(self, g):
        xp = backend.get_array_module(g)
        share = g / self.divisor
        if self._large_tiles():  # broadcast each share over its (kh, kw) block in one write
            (ho, wo), (kh, kw) = self.geo.out, self.geo.kernel
            grad = xp.empty(self.n_c + (ho, kh, wo, kw), dtype=g.dtype)
            grad[...] = share[:, :, :, None, :, None]
            return grad.reshape(self.n_c + self.geo.size)
        return scatter_windows(xp, self.geo, self.n_c, g.dtype, lambda k: share)


@takes_one_sample(4)
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling of an (N, C, H, W) tensor, like ``torch.nn.functional.avg_pool2d``.

    Zero padding counts in the average when ``count_include_pad`` is True;
    ``divisor_override`` replaces the window size as divisor.  Returns (N, C, Ho, Wo).
    """
    x = as_tensor(input)
    check_4d("avg_pool2d", x)
    geo = pool_geometry("avg_pool2d", x.shape, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and divisor_override <= 0:
        raise ValueError(f"avg_pool2d: divisor_override must be positive, got {divisor_override}")
    return AvgPool2dFunction(geo, bool(count_include_pad), divisor_override)(x)


@takes_one_sample(4)
def adaptive_avg_pool2d(input, output_size):
    """Average-pool (N, C, H, W) to (N, C, oh, ow), like ``F.adaptive_avg_pool2d``.

    ``output_size`` is an int or a pair (None keeps that input size);
    ``1`` is the global average pool.  When oh divides H and ow divides W
    every window is an (H/oh, W/ow) block, an ordinary average pool with
    stride = kernel; otherwise the windows overlap, as in PyTorch, and the
    pool is two matrix products with the windows' averaging matrices.
    """
    x = as_tensor(input)
    out = _adaptive_output("adaptive_avg_pool2d", x, output_size)
    if x.dtype.kind != "f":
        raise TypeError(f"adaptive_avg_pool2d: expected a floating-point input, got dtype "
                        f"{x.dtype} (an average of integers is not an integer)")
    size = x.shape[2:]
    if any(s % o for s, o in zip(size, out)):
        rows, cols = (_averaging_matrix(s, o, x) for s, o in zip(size, out))
        return matmul(matmul(rows, x), cols.T)              # (oh, H) x (H, W) x (W, ow)
    kernel = tuple(s // o for s, o in zip(size, out))
    geo = pool_geometry("adaptive_avg_pool2d", x.shape, kernel, kernel, 0)
    return AvgPool2dFunction(geo)(x)


@takes_one_sample(4)
def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max-pool (N, C, H, W) to (N, C, oh, ow) over adaptive_avg_pool2d's windows
    (``F.adaptive_max_pool2d``; ``return_indices`` also returns where each maximum lies,
    h * W + w).  Divisible sizes are one max pool; others take each window's maximum
    (oh * ow reductions)."""
    x = as_tensor(input)
    out = _adaptive_output("adaptive_max_pool2d", x, output_size)
    size = x.shape[2:]
    if not any(s % o for s, o in zip(size, out)):
        kernel = tuple(s // o for s, o in zip(size, out))
        return max_pool2d(x, kernel, kernel, return_indices=return_indices)
    (h_starts, h_ends), (w_starts, w_ends) = (_window_bounds(s, o) for s, o in zip(size, out))
    batch, channels = x.shape[:2]
    values, indices = [], []
    for h0, h1 in zip(h_starts, h_ends):
        for w0, w1 in zip(w_starts, w_ends):
            # max with dim: the gradient to one argmax (the first), as PyTorch
            best, at = x[:, :, h0:h1, w0:w1].reshape(batch, channels, -1).max(dim=-1)
            values.append(best)
            indices.append((h0 + at // (w1 - w0)) * size[1] + w0 + at % (w1 - w0))
    y = stack(values, dim=-1).reshape(batch, channels, *out)
    return (y, stack(indices, dim=-1).reshape(batch, channels, *out)) if return_indices else y


def _adaptive_output(op, x, output_size):
    """The (oh, ow) of ``output_size`` for an (N, C, H, W) ``x``."""
    check_4d(op, x)
    return adaptive_sizes(op, x.shape, output_size)


def adaptive_sizes(op, shape, output_size, sizes=pair):
    """An adaptive pool's output size for an (N, C, *spatial) ``shape``: ``output_size`` is
    an int or one value per spatial axis (None keeps that input size); ``sizes`` makes the
    tuple (``pair``, or ``triple`` for volumes)."""
    dims = len(shape) - 2
    values = list(output_size) if isinstance(output_size, (tuple, list)) else \
        [output_size] * dims
    if len(values) != dims:
        many = "a pair" if dims == 2 else "a triple"
        raise TypeError(f"{op}: output_size must be an int or {many}, got {output_size!r}")
    out = sizes(op, "output_size", [s if o is None else o for o, s in zip(values, shape[2:])])
    if min(out) < 1:
        raise ValueError(f"{op}: output_size must be positive, got {out}")
    return out


def _window_bounds(size, out):
    """PyTorch's adaptive windows along one axis: [floor(i size/out), ceil((i+1) size/out))."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _averaging_matrix(size, out, x):
    """(out, size) matrix whose row i averages window i (a constant on x's device and dtype)."""
    starts, ends = _window_bounds(size, out)
    columns = np.arange(size)
    inside = (columns >= starts[:, None]) & (columns < ends[:, None])
    matrix = inside / (ends - starts)[:, None]
    return as_tensor(backend.to_device(matrix.astype(x.dtype), x.device))
