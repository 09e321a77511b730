"""Average pooling on NCHW tensors: avg_pool2d and adaptive_avg_pool2d.

``avg_pool2d`` adds up the kh*kw strided views of ``windows.window_views``
(one whole-array addition per kernel offset) and divides by each window's
count; backward spreads g / count over each window (``scatter_windows``).
A large kernel that tiles the input (the global average pool, 7x7 in a
ResNet) is one ``einsum`` reduction instead of a loop of many tiny operations
(the crossover is measured in ``benchmarks/NOTES.md``, "Average pooling").
``adaptive_avg_pool2d`` is an average pool whose windows tile the input.
"""
from ... import backend
from ...autograd import Function, as_tensor
from ..conv.arguments import pair
from .windows import check_4d, pad, pool_geometry, scatter_windows, window_views

__all__ = ["avg_pool2d", "adaptive_avg_pool2d"]

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


def adaptive_avg_pool2d(input, output_size):
    """Average-pool (N, C, H, W) to (N, C, oh, ow), like ``F.adaptive_avg_pool2d``.

    ``output_size`` is an int or a pair (None keeps that input size);
    ``1`` is the global average pool.  Supported when oh divides H and ow
    divides W: then every window is an (H/oh, W/ow) block, an ordinary
    average pool with stride = kernel.  Other sizes raise NotImplementedError.
    """
    x = as_tensor(input)
    check_4d("adaptive_avg_pool2d", x)
    sizes = list(output_size) if isinstance(output_size, (tuple, list)) else [output_size] * 2
    if len(sizes) != 2:
        raise TypeError(f"adaptive_avg_pool2d: output_size must be an int or a pair, "
                        f"got {output_size!r}")
    size = x.shape[2:]
    out = pair("adaptive_avg_pool2d", "output_size",
               [s if o is None else o for o, s in zip(sizes, size)])
    if min(out) < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got {out}")
    if any(s % o for s, o in zip(size, out)):
        raise NotImplementedError(
            f"adaptive_avg_pool2d: output size {out} does not divide the input size {size} "
            f"(input shape {x.shape}); only divisible sizes are supported")
    kernel = tuple(s // o for s, o in zip(size, out))
    geo = pool_geometry("adaptive_avg_pool2d", x.shape, kernel, kernel, 0)
    return AvgPool2dFunction(geo)(x)
