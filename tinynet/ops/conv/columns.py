"""The column layout of the im2col algorithm: ``im2col``, ``col2im`` and their fast special cases.

A 2-D convolution multiplies every (C, KH, KW) patch of the input by every
filter.  ``im2col`` copies the patches into the columns of a matrix, so that
all filters times all patches is a single GEMM::

    x     (N, C, H, W)                      input (NCHW)
    cols  (N, C*KH*KW, OH*OW)   = im2col(x)   column p of sample n = the patch
                                              under output pixel p, flattened
                                              in (c, i, j) order
    W     (C_out, C*KH*KW)      = weight.reshape(C_out, -1)   (OIHW flattened
                                              in the same (c, i, j) order)
    y     (N, C_out, OH*OW)     = W @ cols    one batched matmul; reshaping
                                              to (N, C_out, OH, OW) is free

``col2im`` is the adjoint (transpose) of ``im2col``: every column entry is
added back onto the input pixel it was copied from.  Pixels that lie in several
patches (overlapping windows) receive the sum.  It gives the input gradient of
a convolution, ``dx = col2im(W.T @ dy)`` (``col2im_stride1`` for stride 1, and
no col2im at all for a 1x1 kernel: see ``gemm.conv_gemm_adjoint``), and the
forward pass of a transposed convolution.

Why the loops run over kernel offsets and not pixels: for a fixed kernel
offset (i, j), the input pixels that offset touches across all output pixels
form one strided slice of the padded input,
``x_pad[:, :, i*d : i*d + s*(OH-1) + 1 : s, j*d : ... : s]``, of shape
(N, C, OH, OW).  So ``im2col`` is KH*KW slice copies (9 for a 3x3 kernel) and
``col2im`` is KH*KW slice additions, each a fast vectorized array operation,
whatever the batch or image size.  The same code runs on NumPy and CuPy.
This is the one home of the fast column helpers: ``im2col_algorithm.py``,
``gemm.py`` and ``transpose.py`` import them from here.  ``reference.py``
keeps its own short im2col/col2im (one ``stack`` of these slices), on purpose,
so that it reads and runs alone; the tests check both give the same columns.
For stride 1, ``rows.py`` lays the columns out on the padded row width
instead, where each kernel offset is ONE contiguous copy per channel.
"""
from ... import backend
from .arguments import output_size

__all__ = ["im2col", "col2im", "col2im_stride1", "is_plain_gemm", "is_tiling"]


def is_plain_gemm(x_hw, kernel, stride, padding, out_hw):
    """True for a 1x1, stride-1, unpadded convolution: its columns are x itself."""
    return (tuple(kernel) == (1, 1) and tuple(stride) == (1, 1) and tuple(padding) == (0, 0)
            and tuple(out_hw) == tuple(x_hw))


def is_tiling(kernel, stride, padding, dilation, x_hw, out_hw):
    """True when the windows tile the image exactly: kernel == stride, no padding
    or dilation, and OH*KH == H, OW*KW == W (e.g. a k2 s2 transposed convolution).

    Then im2col and col2im are a pure regrouping of axes, one copy each, instead
    of KH*KW strided slice copies or additions into zeros.
    """
    return (tuple(kernel) == tuple(stride) and tuple(padding) == (0, 0)
            and tuple(dilation) == (1, 1)
            and all(o * k == n for o, k, n in zip(out_hw, kernel, x_hw)))


def _offset_window(i, j, stride, dilation, out_hw):
    """The (rows, cols) slices of the padded input that kernel offset (i, j) reads.

    Output pixel (oh, ow) reads padded pixel (oh*s + i*d, ow*s + j*d); over all
    oh < OH that is rows ``i*d, i*d + s, ..., i*d + s*(OH-1)``.
    """
    (sh, sw), (dh, dw), (oh, ow) = stride, dilation, out_hw
    rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
    cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
    return rows, cols


def _pad(x, padding):
    """Zero-pad the two spatial axes of an NCHW array (a copy; ``x`` itself if no padding).

    Writing into a preallocated zero array is cheaper than the general ``xp.pad``.
    """
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    out = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _into(out, a):
    """``a``, copied into ``out`` if one is given."""
    if out is None:
        return a
    out[...] = a
    return out


def _interior(x_pad, padding, hw, out):
    """The unpadded interior of x_pad, copied (into ``out`` if given) so x_pad can be freed."""
    (ph, pw), (h, w) = padding, hw
    if ph == 0 and pw == 0:
        return _into(out, x_pad)
    xp = backend.get_array_module(x_pad)
    interior = x_pad[:, :, ph:ph + h, pw:pw + w]
    return xp.ascontiguousarray(interior) if out is None else _into(out, interior)


def im2col(x, kernel_size, stride, padding, dilation, out_size=None):
    """Patches of ``x`` as columns: (N, C, H, W) -> (N, C*KH*KW, OH*OW).

    ``cols[n, (c*KH + i)*KW + j, oh*OW + ow] = x_pad[n, c, oh*sh + i*dh, ow*sw + j*dw]``
    where ``x_pad`` is ``x`` with ``padding`` zeros on each side.  The row order
    (c, i, j) matches ``weight.reshape(C_out, C*KH*KW)`` for an OIHW weight.

    ``kernel_size``, ``stride``, ``padding``, ``dilation`` are (h, w) pairs.
    ``out_size`` (OH, OW) defaults to the full convolution output size; a
    smaller one keeps only the first OH x OW output pixels (a transposed
    convolution with a large ``output_padding`` needs that).

    A 1x1, stride-1, unpadded convolution needs no copy at all: the columns are
    the input itself, viewed as (N, C, H*W).
    """
    n, c, h, w = x.shape
    kh, kw = kernel_size
    if out_size is None:
        out_size = tuple(output_size(*args) for args in
                         zip((h, w), kernel_size, stride, padding, dilation))
    if is_plain_gemm((h, w), kernel_size, stride, padding, out_size):
        return x.reshape(n, c, h * w)
    xp = backend.get_array_module(x)
    if is_tiling(kernel_size, stride, padding, dilation, (h, w), out_size):
        # Windows tile the image exactly: the columns are x with its axes
        # regrouped, (N, C, OH, KH, OW, KW) -> (N, C, KH, KW, OH, OW), one copy.
        oh, ow = out_size
        tiles = x.reshape(n, c, oh, kh, ow, kw).transpose(0, 1, 3, 5, 2, 4)
        return xp.ascontiguousarray(tiles).reshape(n, c * kh * kw, oh * ow)
    x_pad = _pad(x, padding)
    oh, ow = out_size
    # Filled as (N, C, KH, KW, OH, OW) so each kernel offset is one slice
    # assignment; reshaping to (N, C*KH*KW, OH*OW) afterwards is free.
    cols = xp.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = _offset_window(i, j, stride, dilation, out_size)
            cols[:, :, i, j] = x_pad[:, :, rows, columns]
    return cols.reshape(n, c * kh * kw, oh * ow)


def col2im(cols, x_shape, kernel_size, stride, padding, dilation, out_size, out=None):
    """Sum columns back onto the image: (N, C*KH*KW, OH*OW) -> ``x_shape`` (N, C, H, W).

    The adjoint of ``im2col``: ``x_pad[n, c, oh*sh + i*dh, ow*sw + j*dw] +=
    cols[n, (c*KH + i)*KW + j, oh*OW + ow]`` for every entry, then the padding
    border is cut off (padding pixels are constants, their gradient is dropped).

    ``out_size`` (OH, OW) is the spatial shape the columns came from.  Pixels
    that no window reaches (the right/bottom rows left over when the stride
    does not divide evenly) stay zero.  ``out``: an ``x_shape`` array to write into.
    """
    n, c, h, w = x_shape
    kh, kw = kernel_size
    oh, ow = out_size
    if is_plain_gemm((h, w), kernel_size, stride, padding, out_size):
        return _into(out, cols.reshape(n, c, h, w))
    xp = backend.get_array_module(cols)
    if is_tiling(kernel_size, stride, padding, dilation, (h, w), out_size):
        # Every pixel lies in exactly one window: no sums, just the inverse
        # regrouping of im2col's, (N, C, KH, KW, OH, OW) -> (N, C, OH, KH, OW, KW).
        tiles = cols.reshape(n, c, kh, kw, oh, ow).transpose(0, 1, 4, 2, 5, 3)
        if out is None:
            return xp.ascontiguousarray(tiles).reshape(n, c, h, w)
        out.reshape(n, c, oh, kh, ow, kw)[...] = tiles
        return out
    ph, pw = padding
    x_pad = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    cols = cols.reshape(n, c, kh, kw, oh, ow)
    # One strided add per kernel offset.  Windows of different offsets may
    # overlap, but within one offset every output pixel hits a distinct input
    # pixel, so a plain slice "+=" is exact (no scatter-add needed).
    for i in range(kh):
        for j in range(kw):
            rows, columns = _offset_window(i, j, stride, dilation, out_size)
            x_pad[:, :, rows, columns] += cols[:, :, i, j]
    return _interior(x_pad, padding, (h, w), out)


def col2im_stride1(cols, x_shape, kernel_size, padding, dilation, out_size, out=None):
    """``col2im`` for stride 1, from columns laid out on the padded row width.

    ``cols`` is (N, C*KH*KW, OH*Wp), Wp = W + 2*pw: output pixel (oh, ow) is
    column ``oh*Wp + ow``, and the columns with ``ow >= OW`` must be zero.

    Why: with stride 1 and rows Wp long, kernel offset (i, j) sends column q
    to flat padded pixel ``q + i*dh*Wp + j*dw``, so each offset's block of
    columns lands on ONE contiguous run of the flattened padded image.  The
    KH*KW additions are then long contiguous adds, faster than the strided
    ones in ``col2im`` (``benchmarks/NOTES.md``, "GEMM details").  The zero
    columns fall onto padding pixels or add nothing.  ``out`` as in ``col2im``.
    """
    n, c, h, w = x_shape
    kh, kw = kernel_size
    (ph, pw), (dh, dw) = padding, dilation
    oh, ow = out_size
    hp, wp = h + 2 * ph, w + 2 * pw
    xp = backend.get_array_module(cols)
    flat = xp.zeros((n, c, hp * wp), dtype=cols.dtype)
    cols = cols.reshape(n, c, kh, kw, oh * wp)
    # The last row's zero tail is dropped so every run ends inside the image.
    length = (oh - 1) * wp + ow
    for i in range(kh):
        for j in range(kw):
            start = i * dh * wp + j * dw
            flat[:, :, start:start + length] += cols[:, :, i, j, :length]
    return _interior(flat.reshape(n, c, hp, wp), padding, (h, w), out)
