"""conv2d's "im2col" algorithm: the reference's columns and GEMMs, with the copies cut down.

The math is ``reference.py``'s (``y = W @ im2col(x)``, ``dW = sum_n dy[n] @
cols[n].T``), built from the pieces in ``gemm.py`` and ``columns.py``.  What
differs from the reference, and why it is faster:

* A 1x1, stride-1, unpadded kernel needs no columns: they are x itself, and
  ``dx = W.T @ dy`` is written straight into the gradient (no col2im).
* For stride 1, the input gradient's columns ``W.T @ dy`` are laid out on the
  padded row width, so col2im is KH*KW contiguous additions
  (``columns.col2im_stride1``) instead of strided ones.  Strided convolutions
  use the plain ``dx = col2im(W.T @ dy)``.
* Windows that tile the image (kernel == stride, no padding) make im2col and
  col2im one regrouping of axes.
* Columns exist for the whole batch only when they are kept for the weight
  gradient: when dW is wanted and they take at most
  ``limits().kept_for_backward`` bytes (keeping them is faster than building
  them again; see ``benchmarks/NOTES.md``, "Keeping im2col columns").
  Otherwise they are built and used in batch chunks of about
  ``limits().im2col_chunk`` bytes, which stay in the CPU cache (see
  ``blocking.py``), and rebuilt from x in backward.  On a GPU the whole batch
  is one chunk (up to 1 GiB of columns) and nothing is kept (``GPU_LIMITS``).

``choose_algorithm`` (``dispatch.py``) sends here 1x1 and strided
convolutions and those with fewer than 16 channels.
"""
from typing import NamedTuple

from ... import backend
from ..blocking import batch_chunks, limits
from .columns import im2col, is_plain_gemm
from .gemm import conv_gemm, conv_gemm_adjoint, weight_gemm

REQUIRES = "nothing (it computes every geometry)"


class Saved(NamedTuple):
    """The weight (for dx); for dW the columns of the whole batch, or else x; None if not wanted."""
    weight: object
    cols: object
    x: object


def applies(geo):
    return True


def _is_plain(geo):
    return is_plain_gemm(geo.x_shape[2:], geo.kernel, geo.stride, geo.padding, geo.out_size)


def _columns_bytes(geo, itemsize):
    """Bytes of one sample's columns: (C*KH*KW, OH*OW)."""
    kh, kw = geo.kernel
    return geo.x_shape[1] * kh * kw * geo.out_size[0] * geo.out_size[1] * itemsize


def _keeps_columns(geo, xp, itemsize, want_dw):
    """True when forward builds the columns of the whole batch and keeps them for dW."""
    return want_dw and \
        geo.x_shape[0] * _columns_bytes(geo, itemsize) <= limits(xp).kept_for_backward


def _chunks(geo, xp, itemsize, whole_batch):
    """[(n0, n1)] slices of the batch that the columns are built for, one at a time."""
    n = geo.x_shape[0]
    if whole_batch or _is_plain(geo):       # 1x1: the columns are x, nothing is built
        return [(0, n)]
    return batch_chunks(n, _columns_bytes(geo, itemsize), limits(xp).im2col_chunk)


def forward(x, weight, bias, geo, want_dx, want_dw):
    """y = W @ im2col(x) + bias, chunk by chunk; the columns are kept when small and wanted."""
    xp = backend.get_array_module(x)
    geometry = (geo.stride, geo.padding, geo.dilation)
    keep = _keeps_columns(geo, xp, x.itemsize, want_dw)
    y = xp.empty((x.shape[0], weight.shape[0]) + geo.out_size, dtype=x.dtype)
    for n0, n1 in _chunks(geo, xp, x.itemsize, keep):
        _, cols = conv_gemm(x[n0:n1], weight, *geometry, geo.out_size, out=y[n0:n1])
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y, Saved(weight if want_dx else None,
                    cols if keep else None,
                    x if want_dw and not keep else None)


def backward(dy, saved, geo):
    """(dx, dW) chunk by chunk: dx = col2im(W.T @ dy), dW = sum_n dy[n] @ cols[n].T."""
    xp = backend.get_array_module(dy)
    geometry = (geo.stride, geo.padding, geo.dilation)
    want_dx, want_dw = saved.weight is not None, saved.cols is not None or saved.x is not None
    dx = xp.empty(geo.x_shape, dtype=dy.dtype) if want_dx else None
    dw = None
    for n0, n1 in _chunks(geo, xp, dy.itemsize, saved.cols is not None):
        if want_dx:
            conv_gemm_adjoint(dy[n0:n1], saved.weight, (n1 - n0,) + geo.x_shape[1:], *geometry,
                              out=dx[n0:n1])
        if want_dw:
            cols = saved.cols
            if cols is None:
                cols = im2col(saved.x[n0:n1], geo.kernel, *geometry, geo.out_size)
            dw_chunk = weight_gemm(cols, dy[n0:n1])
            if dw is None:
                dw = dw_chunk
            else:
                dw += dw_chunk
    return dx, None if dw is None else dw.reshape(geo.weight_shape)
