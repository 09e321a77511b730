"""Where pooling windows sit: the geometry shared by max and average pooling.

A pooling window of size (kh, kw) slides over the (H, W) plane of every
(sample, channel) with stride (sh, sw) after padding the borders; the output is
(N, C, Ho, Wo), along each axis by the same rule as a convolution
(``conv.arguments.output_size``, with PyTorch's ``ceil_mode``)::

    Ho = floor((H + 2*ph - dh*(kh - 1) - 1) / sh) + 1

Nothing loops over pixels.  For every kernel offset (i, j) the strided view

    x_pad[:, :, i*dh : i*dh + sh*(Ho-1) + 1 : sh,  j*dw : ... : sw]     (N, C, Ho, Wo)

holds the (i, j)-th element of every window at once (``window_views``), so a
pool is a loop of kh*kw whole-array operations over such views, and its
backward a loop of kh*kw strided accumulations into the input gradient
(``scatter_windows``).

When the windows tile the input exactly (kernel == stride, no padding, H and
W divisible; the common 2x2/stride-2 pool) the same views are slices of the
reshape (N, C, Ho, kh, Wo, kw): no padded copy, and backward writes every
input position exactly once instead of zero-filling and accumulating.
"""
from typing import NamedTuple

from ... import backend
from ..conv.arguments import output_size, pair

__all__ = ["check_4d", "Geometry", "window_arguments", "pool_geometry", "window_views", "pad",
           "crop", "scatter_windows"]


def check_4d(op, x):
    """Raise unless ``x`` is a 4-D (N, C, H, W) tensor."""
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W) (or one image (C, H, W)), "
                         f"got shape {x.shape}")


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


def _axis(size, k, s, p, d, ceil_mode):
    """Output length along one axis, and the extra end padding ceil_mode windows need."""
    out = output_size(size, k, s, p, d, ceil_mode)
    extra = max(0, (out - 1) * s + d * (k - 1) + 1 - (size + 2 * p))
    return out, extra


def window_arguments(op, shape, kernel_size, stride, padding, dilation, ceil_mode, sizes=pair):
    """Validate the window arguments of a pool against an (N, C, *spatial) ``shape``.

    Returns (kernel, stride, padding, dilation, [(out, extra) per spatial axis]), the first
    four as tuples of ints made by ``sizes`` (``pair`` for 2-D pools, ``triple`` for 3-D).
    """
    kernel = sizes(op, "kernel_size", kernel_size)
    stride = kernel if stride is None or stride == [] else sizes(op, "stride", stride)
    padding = sizes(op, "padding", padding)
    dilation = sizes(op, "dilation", dilation)
    for name, values, low in (("kernel_size", kernel, 1), ("stride", stride, 1),
                              ("padding", padding, 0), ("dilation", dilation, 1)):
        if min(values) < low:
            raise ValueError(f"{op}: {name} must be >= {low}, got {values}")
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(p > span // 2 for p, span in zip(padding, spans)):
        raise ValueError(f"{op}: padding {padding} must be at most half of the (dilated) "
                         f"kernel size {spans}")
    axes = [_axis(*args, ceil_mode) for args in zip(shape[2:], kernel, stride, padding, dilation)]
    out = tuple(o for o, _ in axes)
    if min(out) < 1:
        raise ValueError(f"{op}: kernel {kernel} (dilation {dilation}) does not fit in the input "
                         f"of shape {tuple(shape)} with padding {padding}: output size would be "
                         f"{out}")
    return kernel, stride, padding, dilation, axes


def pool_geometry(op, shape, kernel_size, stride, padding, dilation=1, ceil_mode=False):
    """Validate the pooling arguments against an (N, C, H, W) shape; return a Geometry."""
    kernel, stride, padding, dilation, axes = window_arguments(
        op, shape, kernel_size, stride, padding, dilation, ceil_mode)
    size, out = tuple(shape[2:]), tuple(o for o, _ in axes)
    return Geometry(size, kernel, stride, padding, dilation, tuple(e for _, e in axes), out)


def window_views(a, geo):
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


def pad(x, geo, fill):
    """``x`` surrounded by ``fill`` to ``geo.padded`` (``x`` itself when nothing is added)."""
    if geo.padded == geo.size:
        return x
    xp = backend.get_array_module(x)
    out = xp.full(x.shape[:2] + geo.padded, fill, dtype=x.dtype)
    (ph, pw), (h, w) = geo.padding, geo.size
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def crop(a, geo):
    """The inverse of ``pad``: the input-sized interior of a padded array."""
    if geo.padded == geo.size:
        return a
    (ph, pw), (h, w) = geo.padding, geo.size
    return a[:, :, ph:ph + h, pw:pw + w]


def scatter_windows(xp, geo, n_c, dtype, grad_of_offset):
    """Input gradient (N, C, H, W) from ``grad_of_offset(k)``: the (N, C, Ho, Wo) gradient
    reaching kernel offset k of every window."""
    if geo.tiles:  # each input element belongs to one window: plain writes, no zero fill
        grad = xp.empty(n_c + geo.size, dtype=dtype)
        for k, view in window_views(grad, geo):
            view[...] = grad_of_offset(k)
        return grad
    grad = xp.zeros(n_c + geo.padded, dtype=dtype)
    for k, view in window_views(grad, geo):
        view += grad_of_offset(k)  # overlapping windows: accumulate
    return crop(grad, geo)
