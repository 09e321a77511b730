"""Stride-1 convolution on row blocks, with im2col made of a few contiguous copies.

Shapes: x (N, C, H, W), weight (O, C, KH, KW) -> y (N, O, OH, OW), stride 1,
any dilation (dh, dw), padding (ph, pw) at most (dh*(KH-1), dw*(KW-1)).

The trick: columns on the padded row width
-----------------------------------------
Flatten the zero-padded input of one channel, ``xf[q] = x_pad[q // Wp, q % Wp]``
(rows Wp = W + 2*pw long).  With stride 1, output pixel (r, c) of kernel
offset (i, j) reads ``x_pad[r + i*dh, c + j*dw] = xf[r*Wp + c + i*dh*Wp + j*dw]``.
So if the output is also laid out on rows Wp long (output "pixel" q = r*Wp + c,
of which only c < OW are real; the other Wp - OW = dw*(KW-1) per row are
garbage, cropped later), the im2col row of offset (i, j) is ONE contiguous run::

    cols[(ch, i, j), q] = xf[ch, q + i*dh*Wp + j*dw]

Better still, only the KW column shifts need copying::

    z[(ch, j), t] = xf[ch, t + j*dw]          cols[(ch, i, j), q] = z[(ch, j), q + i*dh*Wp]

so the columns of kernel row i are a strided VIEW of z (rows (ch, j), one
row stride), which BLAS reads in place: ``y = sum_i W_i @ z[:, i*dh*Wp:][:, :Q]``
with ``W_i[o, (ch, j)] = w[o, ch, i, j]``, KH GEMMs with inner dimension C*KW
and two additions of the (much smaller) output.  The copies drop from KH*KW
to KW per channel.

Blocks: a block is ``n`` whole samples, or rows [r0, r1) of one sample, with
about ``limits().rows_block`` bytes of shifted copies z (``blocking.py``), so
that they stay in the CPU cache between
the copies and the GEMMs; nothing of the size of the full columns is ever
allocated.  The samples of a block are stacked vertically as one tall image
(per channel: sample 0's padded rows, then sample 1's, ...), so a small
image still makes long GEMMs; the output rows that straddle two samples
are garbage too, and cropped.

Backward: both gradients from the shifted copies of dy
------------------------------------------------------
dx is the stride-1 convolution of dy, padded by ``p' = d*(K-1) - p``, with the
kernel flipped and its two channel axes swapped, so it is computed the same
way, from dy on rows ``Wq = W + dw*(KW-1)`` long (the dx row width plus its
garbage)::

    dz[(o, j'), t] = dyf[o, t + j'*dw]
    dx = sum_i' Wflip_i' @ dz[:, i'*dh*Wq:][:, :Q],
    where Wflip_i'[ch, (o, j')] = w[o, ch, KH-1-i', KW-1-j']

and the weight gradient comes from the SAME copies: with ``xw`` = x on the
same rows Wq long, zero in the garbage columns and rows, and i = KH-1-i',
j = KW-1-j'::

    sum_q dz[(o, j'), q + i'*dh*Wq] * xw[ch, q]
        = sum_{r,c} dy[o, r, c] * x_pad[ch, r + i*dh, c + j*dw],
    so  dw[o, ch, i, j] = (dz_i' @ xw.T)[(o, KW-1-j), ch]

with ``dz_i' = dz[:, i'*dh*Wq:][:, :Q]``.  No col2im, no columns of x.  (The
GEMM has the longer side, O*KW, as rows: BLAS was faster that way.)

Against im2col this copies KW instead of KH*KW shifted rows per channel and
keeps nothing but x and the weight for backward; ``choose_algorithm`` says
when it is used.  The measurements behind it (against im2col, Winograd, all
KH*KW copies, block sizes) are in ``benchmarks/NOTES.md``, "The rows
algorithm".
"""
from typing import NamedTuple

from ... import backend
from ..blocking import limits, spans

REQUIRES = "stride 1, a kernel larger than 1x1 and padding at most dilation*(kernel-1)"


class Saved(NamedTuple):
    """x (for dW) and the weight (for dx), each None when that gradient is not wanted."""
    x: object
    weight: object


def applies(geo):
    """True when this module computes the convolution (see the module docstring).

    1x1 kernels are excluded (their columns are x itself); a padding larger
    than the dilated kernel would make dx's padding ``p'`` negative.
    """
    return (geo.stride == (1, 1) and geo.kernel != (1, 1)
            and all(p <= d * (k - 1) for p, d, k in zip(geo.padding, geo.dilation, geo.kernel)))


class _PaddedRows:
    """Blocks of ``a`` (N, C, H, W), zero-padded by (ph, pw), as channel-major tall images.

    Stands for the whole padded, flattened array without building it (that
    copy, the size of ``a``, and its page faults are saved): ``window`` copies
    what one block needs into a buffer reused by every block.  For block
    (n0, n1, r0, r1), sample n0 + s occupies ``plane = (r1 - r0 + halo) * width``
    values per channel from ``s * plane`` on: its padded rows r0 .. r1+halo-1
    (halo = dh*(KH-1), the extra input rows that output rows r0 .. r1-1 read).
    ``extra`` zeros after the last sample let the runs of the rightmost kernel
    offsets overhang it (they only feed garbage columns).  A little faster
    than padding the whole input first (``benchmarks/NOTES.md``).
    """

    def __init__(self, a, pad, halo, extra, blocks):
        xp = backend.get_array_module(a)
        self.a, self.pad, self.halo, self.extra = a, pad, halo, extra
        self.width = a.shape[3] + 2 * pad[1]
        self.size = max(_block_pixels(block, halo, self.width) for block in blocks) + extra
        self.buf = xp.empty(a.shape[1] * self.size, dtype=a.dtype)

    def window(self, block):
        """(C, n * plane + extra): the padded rows of ``block``, samples one below the other."""
        n0, n1, r0, r1 = block
        (ph, pw), (c, h, w) = self.pad, self.a.shape[1:]
        rows = r1 - r0 + self.halo
        used = (n1 - n0) * rows * self.width
        win = self.buf[:c * (used + self.extra)].reshape(c, used + self.extra)
        grid = win[:, :used].reshape(c, n1 - n0, rows, self.width)
        lo, hi = max(0, r0 - ph), min(h, r0 - ph + rows)      # rows of ``a`` in the window
        top, bottom = lo - (r0 - ph), hi - (r0 - ph)
        grid[:, :, top:bottom, pw:pw + w] = self.a[n0:n1, :, lo:hi].transpose(1, 0, 2, 3)
        # Zeros: padding rows (first and last blocks), padding columns, the tail.
        grid[:, :, :top] = 0
        grid[:, :, bottom:] = 0
        grid[:, :, top:bottom, :pw] = 0
        grid[:, :, top:bottom, pw + w:] = 0
        win[:, used:] = 0
        return win


def _block_pixels(block, halo, width):
    """Wide pixels of a block's tall image: samples x (rows + halo) x width."""
    n0, n1, r0, r1 = block
    return (n1 - n0) * (r1 - r0 + halo) * width


def _blocks(n, rows, row_bytes):
    """(n0, n1, r0, r1) blocks of samples x output rows with about ``limits().rows_block``
    bytes of shifted copies z.

    Whole samples are grouped while one fits; otherwise each sample is split
    into row blocks (GEMMs stay long: at least a row of columns).
    """
    block_bytes = limits().rows_block
    sample_bytes = rows * row_bytes
    if sample_bytes <= block_bytes:
        return [(n0, n1, 0, rows) for n0, n1 in spans(n, block_bytes // sample_bytes)]
    row_spans = spans(rows, block_bytes // row_bytes)
    return [(s, s + 1, r0, r1) for s in range(n) for r0, r1 in row_spans]


def _shifts(buf, win, length, kw, dw):
    """z (C*KW, length): row (ch, j) is ``win[ch, j*dw:][:length]``, copied into ``buf``."""
    c = win.shape[0]
    z = buf[:c * kw * length].reshape(c, kw, length)
    for j in range(kw):
        z[:, j] = win[:, j * dw:j * dw + length]
    return z.reshape(c * kw, length)


def _sum_of_rows(w_rows, z, step, length, out, tmp):
    """``out = sum_i w_rows[i] @ z[:, i*step:][:, :length]``: kernel row i's columns are a view."""
    xp = backend.get_array_module(z)
    xp.matmul(w_rows[0], z[:, :length], out=out)
    for i in range(1, len(w_rows)):
        xp.matmul(w_rows[i], z[:, i * step:i * step + length], out=tmp)
        out += tmp
    return out


def _crop(wide, block, halo, width, cols):
    """The real pixels of a block's wide output (K, n*plane): (n, K, r1-r0, cols) view."""
    n0, n1, r0, r1 = block
    k = wide.shape[0]
    return wide.reshape(k, n1 - n0, r1 - r0 + halo, width)[:, :, :r1 - r0, :cols] \
        .transpose(1, 0, 2, 3)


def _x_on_wide_rows(buf, x, block, halo, width):
    """x's rows of ``block`` laid out like the block's tall image: (C, n*plane), zeros elsewhere.

    The zeros (garbage columns, halo rows under each sample) make the garbage
    entries of the shifted copies of dy drop out of the weight gradient.
    """
    n0, n1, r0, r1 = block
    c, w = x.shape[1], x.shape[3]
    rows = r1 - r0
    grid = buf[:c * _block_pixels(block, halo, width)].reshape(c, n1 - n0, rows + halo, width)
    grid[:, :, :rows, :w] = x[n0:n1, :, r0:r1].transpose(1, 0, 2, 3)
    grid[:, :, :rows, w:] = 0
    grid[:, :, rows:] = 0
    return grid.reshape(c, -1)


class _Buffers:
    """Flat scratch arrays sized for the largest block, shared by every block of a call."""

    def __init__(self, xp, dtype, pixels):
        self.xp, self.dtype, self.pixels = xp, dtype, pixels

    def get(self, per_pixel):
        """A flat array with ``per_pixel`` values for every wide pixel of the largest block."""
        return self.xp.empty(per_pixel * self.pixels, dtype=self.dtype)


def forward(x, weight, bias, geo, want_dx, want_dw):
    """y = conv2d(x, weight, bias), stride 1: (N, C, H, W) -> (N, O, OH, OW), and Saved.

    Per block: KW shifted copies of the padded rows, KH GEMMs summed on the
    wide rows, then the real OW columns (plus the bias, in the same pass) go
    to y.  Backward needs only x and the weight, which the graph holds anyway.
    """
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    (ph, pw), (dh, dw), (oh, ow) = geo.padding, geo.dilation, geo.out_size
    halo = dh * (kh - 1)
    wp = w + 2 * pw
    blocks = _blocks(n, oh, c * kw * wp * x.itemsize)
    source = _PaddedRows(x, geo.padding, halo, dw * (kw - 1), blocks)
    scratch = _Buffers(xp, x.dtype, max(_block_pixels(b, halo, wp) for b in blocks))
    z_buf, out_buf, tmp_buf = scratch.get(c * kw), scratch.get(o), scratch.get(o)
    w_rows = xp.ascontiguousarray(weight.transpose(2, 0, 1, 3)).reshape(kh, o, c * kw)
    y = xp.empty((n, o, oh, ow), dtype=x.dtype)
    for block in blocks:
        n0, n1, r0, r1 = block
        wide_len = _block_pixels(block, halo, wp)
        real_len = wide_len - halo * wp          # the last sample's halo rows: not needed
        z = _shifts(z_buf, source.window(block), wide_len, kw, dw)
        wide = out_buf[:o * wide_len].reshape(o, wide_len)
        _sum_of_rows(w_rows, z, dh * wp, real_len, wide[:, :real_len],
                     tmp_buf[:o * real_len].reshape(o, real_len))
        real = _crop(wide, block, halo, wp, ow)
        if bias is None:
            y[n0:n1, :, r0:r1] = real
        else:
            xp.add(real, bias.reshape(o, 1, 1), out=y[n0:n1, :, r0:r1])
    return y, Saved(x if want_dw else None, weight if want_dx else None)


def backward(dy, saved, geo):
    """(dx, dW) of the stride-1 ``forward``, both from the shifted copies of dy (N, O, OH, OW).

    A gradient whose input ``saved`` holds None (x for dW, the weight for dx)
    is not wanted and comes back None.  See the module docstring for the math.
    """
    xp = backend.get_array_module(dy)
    x, weight, x_shape = saved.x, saved.weight, geo.x_shape
    n, o = dy.shape[:2]
    _, c, h, w = x_shape
    (kh, kw), (ph, pw), (dh, dw) = geo.kernel, geo.padding, geo.dilation
    halo = dh * (kh - 1)
    # dy padded by p' = d*(K-1) - p, on rows wq = W + dw*(KW-1) long.
    pad = (halo - ph, dw * (kw - 1) - pw)
    wq = w + dw * (kw - 1)
    blocks = _blocks(n, h, o * kw * wq * dy.itemsize)
    source = _PaddedRows(dy, pad, halo, dw * (kw - 1), blocks)
    scratch = _Buffers(xp, dy.dtype, max(_block_pixels(b, halo, wq) for b in blocks))
    z_buf = scratch.get(o * kw)
    dx = dw_rows = None
    if weight is not None:
        flipped = weight.transpose(2, 1, 0, 3)[::-1, :, :, ::-1]        # [i', ch, o, j']
        w_rows = xp.ascontiguousarray(flipped).reshape(kh, c, o * kw)
        dx_buf, tmp_buf = scratch.get(c), scratch.get(c)
        dx = xp.empty(x_shape, dtype=dy.dtype)
    if x is not None:
        xw_buf = scratch.get(c)
        dw_rows = xp.zeros((kh, o * kw, c), dtype=dy.dtype)              # [i', (o, j'), ch]
    for block in blocks:
        n0, n1, r0, r1 = block
        wide_len = _block_pixels(block, halo, wq)
        real_len = wide_len - halo * wq
        z = _shifts(z_buf, source.window(block), wide_len, kw, dw)
        if dx is not None:
            wide = dx_buf[:c * wide_len].reshape(c, wide_len)
            _sum_of_rows(w_rows, z, dh * wq, real_len, wide[:, :real_len],
                         tmp_buf[:c * real_len].reshape(c, real_len))
            dx[n0:n1, :, r0:r1] = _crop(wide, block, halo, wq, w)
        if dw_rows is not None:
            xw = _x_on_wide_rows(xw_buf, x, block, halo, wq)[:, :real_len]
            for i in range(kh):
                dw_rows[i] += xp.matmul(z[:, i * dh * wq:i * dh * wq + real_len], xw.T)
    dweight = None
    if dw_rows is not None:
        # dw_rows[i', (o, j'), ch] is weight offset (KH-1-i', KW-1-j').
        dweight = xp.ascontiguousarray(
            dw_rows.reshape(kh, o, kw, c)[::-1, :, ::-1].transpose(1, 3, 0, 2))
    return dx, dweight
