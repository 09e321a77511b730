"""The reference conv2d: im2col and one matrix multiplication.  Read this file first.

A convolution (PyTorch's, which is a cross-correlation) computes, for every
sample n, output channel o and output pixel (oh, ow)::

    y[n, o, oh, ow] = bias[o] + sum_{c, i, j} weight[o, c, i, j]
                                            * x_pad[n, c, oh*sh + i*dh, ow*sw + j*dw]

where ``x_pad`` is x with ``padding`` zeros on each side, (sh, sw) the stride
and (dh, dw) the dilation.  Copy the patch under every output pixel into a
column ("im2col") and the sum over (c, i, j) is one matrix product for all
pixels and all filters at once.  Shapes: x (N, C, H, W), weight (O, C, KH, KW)::

    cols = im2col(x)              (N, C*KH*KW, OH*OW)   column p: the patch under pixel p
    W    = weight.reshape(O, -1)  (O, C*KH*KW)          flattened in the same (c, i, j) order
    y    = W @ cols + bias        (N, O, OH*OW)         reshaped to (N, O, OH, OW)

Backward follows from the matrix product::

    dW = sum_n dy[n] @ cols[n].T      the weight gradient
    dx = col2im(W.T @ dy)             col2im adds every column entry back onto the
                                      pixel im2col copied it from (its transpose)
    db = dy summed over n, oh, ow

That is all of it.  The fast algorithms (``im2col.py``, ``rows.py``,
``winograd.py``) compute the same numbers with less memory traffic; the tests
check each of them against this file, and ``use_algorithm("reference")``
runs it inside any model.
"""
from typing import NamedTuple

from ... import backend

REQUIRES = "nothing (it computes every geometry)"


class Saved(NamedTuple):
    """What backward needs: the weight for dx, the columns for dW (None when not wanted)."""
    weight: object
    cols: object


def applies(geo):
    return True


def _offset_window(i, j, geo):
    """The slices of x_pad that kernel offset (i, j) reads, for all output pixels at once."""
    (sh, sw), (dh, dw), (oh, ow) = geo.stride, geo.dilation, geo.out_size
    rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)      # i*dh, i*dh + sh, ... (OH of them)
    cols = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
    return rows, cols


def im2col(x, geo):
    """(N, C, H, W) -> cols (N, C*KH*KW, OH*OW), rows in (c, i, j) order."""
    xp = backend.get_array_module(x)
    (ph, pw), (kh, kw) = geo.padding, geo.kernel
    x_pad = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    patches = [x_pad[(..., *_offset_window(i, j, geo))] for i in range(kh) for j in range(kw)]
    return xp.stack(patches, axis=2).reshape(x.shape[0], -1, geo.out_size[0] * geo.out_size[1])


def col2im(cols, geo):
    """The transpose of ``im2col``: (N, C*KH*KW, OH*OW) -> (N, C, H, W), overlaps summed."""
    xp = backend.get_array_module(cols)
    (n, c, h, w), (ph, pw), (kh, kw) = geo.x_shape, geo.padding, geo.kernel
    x_pad = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    patches = cols.reshape(n, c, kh * kw, *geo.out_size)
    for i in range(kh):
        for j in range(kw):
            x_pad[(..., *_offset_window(i, j, geo))] += patches[:, :, i * kw + j]
    return x_pad[:, :, ph:ph + h, pw:pw + w]     # the padding's gradient is dropped


def forward(x, weight, bias, geo, want_dx, want_dw):
    """y = W @ im2col(x) + bias: (N, C, H, W) -> (N, O, OH, OW), and what backward needs."""
    cols = im2col(x, geo)
    y = weight.reshape(weight.shape[0], -1) @ cols
    y = y.reshape(x.shape[0], weight.shape[0], *geo.out_size)
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y, Saved(weight if want_dx else None, cols if want_dw else None)


def backward(dy, saved, geo):
    """(dx, dW) from dy (N, O, OH, OW); None for a gradient that was not wanted."""
    dy = dy.reshape(dy.shape[0], dy.shape[1], -1)
    dx = dw = None
    if saved.weight is not None:
        dx = col2im(saved.weight.reshape(dy.shape[1], -1).T @ dy, geo)
    if saved.cols is not None:
        dw = (dy @ saved.cols.transpose(0, 2, 1)).sum(axis=0).reshape(geo.weight_shape)
    return dx, dw
