"""Pooling on NCHW tensors: max_pool2d, avg_pool2d, adaptive_avg_pool2d.

A pooling window of size (kh, kw) slides over the (H, W) plane of every
(sample, channel) with stride (sh, sw) after padding the borders; the output is
(N, C, Ho, Wo) with, along each axis (PyTorch's rule, ceil_mode=False):

    Ho = floor((H + 2*ph - dh*(kh - 1) - 1) / sh) + 1

Max pooling runs as two 1-D passes, along W then along H, in maxpool.py (see
there for why and for its timings).  Average pooling here loops over the
kernel offsets: nothing loops over pixels.  For every offset (i, j) the
strided view

    x_pad[:, :, i*dh : i*dh + sh*(Ho-1) + 1 : sh,  j*dw : ... : sw]     (N, C, Ho, Wo)

holds the (i, j)-th element of every window at once, so the pool is a loop
of kh*kw whole-array additions over such views, and its backward a loop of
kh*kw strided accumulations into the input gradient.

When the windows tile the input exactly (kernel == stride, no padding, H and
W divisible; the common 2x2/stride-2 pool) the same views are slices of the
reshape (N, C, Ho, kh, Wo, kw): no padded copy, and backward writes every
input position exactly once instead of zero-filling and accumulating.

Measured on (8, 64, 64, 64) float32, one core: the offset loop is fastest
for small kernels (2x2: 0.9 ms vs 7.2 ms einsum), but a large kernel that
tiles the input (the global average pool, 7x7 in a ResNet) is one ``einsum``
reduction instead (64x64 window: 0.1 ms, where a loop would issue 4096 tiny
operations).

Nearest-neighbour upsampling (``upsample_nearest2d``, ``interpolate``) lives in
``upsample.py``; it is re-exported here, where ``torch.nn.functional`` users
look for it next to pooling.
"""
import operator
from typing import NamedTuple

from .. import backend
from ..autograd import Function, as_tensor
from .maxpool import MaxPool2dFunction
from .upsample import interpolate, upsample_nearest2d  # noqa: F401  (re-exported)

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "upsample_nearest2d", "interpolate"]

# Tiling windows with more offsets than this are reduced by one einsum (avg pool).
_LOOP_MAX_OFFSETS = 16


# ---------------------------------------------------------------------------
# Window geometry
# ---------------------------------------------------------------------------

def check_4d(op, x):
    """Raise unless ``x`` is a 4-D (N, C, H, W) tensor."""
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")


def int_pair(op, name, value):
    """``value`` (an int or a sequence of 1 or 2 ints) as a pair (for H and W)."""
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    if len(items) == 1:
        items = items * 2
    try:
        if len(items) != 2:
            raise TypeError
        return tuple(operator.index(v) for v in items)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}") from None


class Geometry(NamedTuple):
    """Where the pooling windows sit; every field but ``size`` is an (h, w) pair."""
    size: tuple      # (H, W) of the input
    kernel: tuple
    stride: tuple
    padding: tuple   # added on both sides
    dilation: tuple
    extra: tuple     # added past the bottom/right edge only, for ceil_mode windows
    out: tuple       # (Ho, Wo)

    @property
    def padded(self):
        return tuple(s + 2 * p + e for s, p, e in zip(self.size, self.padding, self.extra))

    @property
    def tiles(self):
        """True when every input element is in exactly one window (no padding, no overlap)."""
        return (self.kernel == self.stride and self.dilation == (1, 1)
                and self.padded == self.size
                and all(o * k == s for o, k, s in zip(self.out, self.kernel, self.size)))


def _axis_out(size, k, s, p, d, ceil_mode):
    """Output length along one axis, and the extra end padding ceil_mode windows need."""
    span = d * (k - 1) + 1  # extent of one dilated window
    room = size + 2 * p - span
    out = (room + (s - 1 if ceil_mode else 0)) // s + 1
    # PyTorch drops a last ceil_mode window that would start in the right padding.
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    extra = max(0, (out - 1) * s + span - (size + 2 * p))
    return out, extra


def pool_geometry(op, shape, kernel_size, stride, padding, dilation=1, ceil_mode=False):
    """Validate the pooling arguments against an (N, C, H, W) shape; return a Geometry."""
    kernel = int_pair(op, "kernel_size", kernel_size)
    stride = kernel if stride is None or stride == [] else int_pair(op, "stride", stride)
    padding = int_pair(op, "padding", padding)
    dilation = int_pair(op, "dilation", dilation)
    for name, pair, low in (("kernel_size", kernel, 1), ("stride", stride, 1),
                            ("padding", padding, 0), ("dilation", dilation, 1)):
        if min(pair) < low:
            raise ValueError(f"{op}: {name} must be >= {low}, got {pair}")
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(p > span // 2 for p, span in zip(padding, spans)):
        raise ValueError(f"{op}: padding {padding} must be at most half of the (dilated) "
                         f"kernel size {spans}")
    size = tuple(shape[2:])
    axes = [_axis_out(*args, ceil_mode) for args in zip(size, kernel, stride, padding, dilation)]
    out = tuple(o for o, _ in axes)
    if min(out) < 1:
        raise ValueError(f"{op}: kernel {kernel} (dilation {dilation}) does not fit in the input "
                         f"of shape {tuple(shape)} with padding {padding}: output size would be "
                         f"{out}")
    return Geometry(size, kernel, stride, padding, dilation, tuple(e for _, e in axes), out)


def _window_views(a, geo):
    """Yield (k, view) per kernel offset (i, j), k = i * kw + j: view[n, c, oh, ow] is
    element (i, j) of window (oh, ow), an (N, C, Ho, Wo) strided view.

    ``a`` is padded to ``geo.padded``.  Views alias ``a``,
    so writing into them writes into ``a``.
    """
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = geo.kernel, geo.stride, geo.dilation, geo.out
    blocks = a.reshape(a.shape[0], a.shape[1], ho, kh, wo, kw) if geo.tiles else None
    for i in range(kh):
        for j in range(kw):
            if blocks is not None:
                yield i * kw + j, blocks[:, :, :, i, :, j]
            else:
                rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
                cols = slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)
                yield i * kw + j, a[:, :, rows, cols]


def _pad(x, geo, fill):
    """``x`` surrounded by ``fill`` to ``geo.padded`` (``x`` itself when nothing is added)."""
    if geo.padded == geo.size:
        return x
    xp = backend.get_array_module(x)
    out = xp.full(x.shape[:2] + geo.padded, fill, dtype=x.dtype)
    (ph, pw), (h, w) = geo.padding, geo.size
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _crop(a, geo):
    """The inverse of ``_pad``: the input-sized interior of a padded array."""
    if geo.padded == geo.size:
        return a
    (ph, pw), (h, w) = geo.padding, geo.size
    return a[:, :, ph:ph + h, pw:pw + w]


def _scatter_windows(xp, geo, n_c, dtype, grad_of_offset):
    """Input gradient (N, C, H, W) from ``grad_of_offset(k)``: the (N, C, Ho, Wo) gradient
    reaching kernel offset k of every window."""
    if geo.tiles:  # each input element belongs to one window: plain writes, no zero fill
        grad = xp.empty(n_c + geo.size, dtype=dtype)
        for k, view in _window_views(grad, geo):
            view[...] = grad_of_offset(k)
        return grad
    grad = xp.zeros(n_c + geo.padded, dtype=dtype)
    for k, view in _window_views(grad, geo):
        view += grad_of_offset(k)  # overlapping windows: accumulate
    return _crop(grad, geo)


# ---------------------------------------------------------------------------
# Max pooling (the two passes are in maxpool.py)
# ---------------------------------------------------------------------------

def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling of an (N, C, H, W) tensor, like ``torch.nn.functional.max_pool2d``.

    ``stride`` defaults to ``kernel_size``; ``padding`` (at most half the
    kernel) adds -inf borders; ``ceil_mode`` rounds the output size up.
    Returns (N, C, Ho, Wo).  ``return_indices=True`` is not supported.
    """
    if return_indices:
        raise NotImplementedError("max_pool2d: return_indices=True is not supported")
    x = as_tensor(input)
    check_4d("max_pool2d", x)
    geo = pool_geometry("max_pool2d", x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    return MaxPool2dFunction(geo)(x)


# ---------------------------------------------------------------------------
# Average pooling
# ---------------------------------------------------------------------------

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
    return sum(view for _, view in _window_views(counted, geo))


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
            views = _window_views(_pad(x, geo, 0), geo)
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
        return _scatter_windows(xp, self.geo, self.n_c, g.dtype, lambda k: share)


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
    out = int_pair("adaptive_avg_pool2d", "output_size",
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
