"""The three GEMMs of an im2col convolution, shared by the im2col algorithm and conv_transpose2d.

With ``Wm = weight.reshape(weight.shape[0], -1)`` and the column layout of
``columns.py``::

    conv_gemm          y    = Wm @ im2col(x)                   conv2d forward
    conv_gemm_adjoint  dx   = col2im(Wm.T @ dy)                conv2d input gradient
    weight_gemm        dWm  = sum_n dy[n] @ im2col(x)[n].T     conv2d weight gradient

Shapes: x (N, C, H, W), weight (O, C, KH, KW), y and dy (N, O, OH, OW).
"""
from ... import backend
from .columns import col2im, col2im_stride1, im2col, is_plain_gemm

__all__ = ["gemm", "conv_gemm", "conv_gemm_adjoint", "weight_gemm"]


def gemm(a, b, out=None):
    """``a @ b``; a broadcast product when the inner dimension is 1.

    OpenBLAS is slow on rank-1 products such as the 1x1 head's dx, (16, 1) @
    (8, 1, 16384): a broadcast multiply was >10x faster (``benchmarks/NOTES.md``).
    """
    xp = backend.get_array_module(b)
    if a.shape[-1] == 1:
        return xp.multiply(a, b, out=out)
    return xp.matmul(a, b, out=out)


def conv_gemm(x, weight, stride, padding, dilation, out_size, out=None):
    """Convolution forward: (N, C, H, W) * (O, C, KH, KW) -> y (N, O, OH, OW), cols.

    One batched matmul ``(O, C*KH*KW) @ (N, C*KH*KW, OH*OW) -> (N, O, OH*OW)``
    (the weight matrix is broadcast over N): the result is already in NCHW
    order, so no transpose is needed.  The im2col columns are returned too,
    for a caller that keeps them for the weight gradient.  ``out``: a
    contiguous (N, O, OH, OW) array to write y into.
    """
    kernel = weight.shape[2:]
    n = x.shape[0]
    cols = im2col(x, kernel, stride, padding, dilation, out_size)
    o = weight.shape[0]
    y = gemm(weight.reshape(o, -1), cols, out=None if out is None else out.reshape(n, o, -1))
    return y.reshape(n, o, *out_size), cols


def conv_gemm_adjoint(dy, weight, x_shape, stride, padding, dilation, out=None):
    """Adjoint of ``conv_gemm`` in x: (N, O, OH, OW) -> (N, C, H, W) = ``x_shape``.

    ``dcols = Wm.T @ dy`` gives, for every output pixel, how much each patch
    entry contributed; ``col2im`` adds each entry back onto its input pixel.
    With stride 1, dy is first widened with zero columns to the padded row
    width, so that ``col2im_stride1`` can add contiguous runs (see there).
    ``out``: an (N, C, H, W) array to write the result into.  For a 1x1
    convolution the GEMM writes there directly (no columns, no copy).
    """
    xp = backend.get_array_module(dy)
    n, o, oh, ow = dy.shape
    kernel = weight.shape[2:]
    w_mat = weight.reshape(o, -1)
    if is_plain_gemm(x_shape[2:], kernel, stride, padding, (oh, ow)):
        flat_out = None if out is None else out.reshape(n, x_shape[1], -1)
        return gemm(w_mat.T, dy.reshape(n, o, -1), out=flat_out).reshape(x_shape)
    if stride == (1, 1):
        wp = x_shape[3] + 2 * padding[1]
        dy_wide = xp.zeros((n, o, oh, wp), dtype=dy.dtype)
        dy_wide[..., :ow] = dy
        dcols = xp.matmul(w_mat.T, dy_wide.reshape(n, o, oh * wp))  # (N, C*KH*KW, OH*Wp)
        return col2im_stride1(dcols, x_shape, kernel, padding, dilation, (oh, ow), out=out)
    dcols = xp.matmul(w_mat.T, dy.reshape(n, o, oh * ow))  # (N, C*KH*KW, OH*OW)
    return col2im(dcols, x_shape, kernel, stride, padding, dilation, (oh, ow), out=out)


def weight_gemm(cols, dy):
    """Weight gradient ``sum_n dy[n] @ cols[n].T``: (N, O, L), (N, K, L) -> (O, K).

    A batched matmul then a sum over N: faster than ``tensordot`` over (N, L),
    which copies ``cols`` into (N*L, K) order, and than ``einsum``.  The longer
    of O and K is made the rows of the product: OpenBLAS was faster that way
    on these long, thin products (measurements: ``benchmarks/NOTES.md``,
    "GEMM details").
    """
    xp = backend.get_array_module(dy)
    n, o = dy.shape[:2]
    dy = dy.reshape(n, o, -1)
    if cols.shape[1] > o:
        return xp.matmul(cols, dy.transpose(0, 2, 1)).sum(axis=0).T
    return xp.matmul(dy, cols.transpose(0, 2, 1)).sum(axis=0)
