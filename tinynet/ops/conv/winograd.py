"""Winograd F(2x2, 3x3): a 3x3, stride-1 convolution with 2.25x fewer multiplications.

Reference: A. Lavin and S. Gray, "Fast Algorithms for Convolutional Neural
Networks", CVPR 2016 (arXiv:1509.09308).

1-D first: F(2, 3)
------------------
Two outputs of a 3-tap correlation need a 4-sample window ``d`` and, done
directly, 6 multiplications::

    y0 = d0*g0 + d1*g1 + d2*g2
    y1 = d1*g0 + d2*g1 + d3*g2

Winograd's minimal algorithm needs 4 (the kernel factors are computed once)::

    m0 = (d0 - d2) * g0                 y0 = m0 + m1 + m2
    m1 = (d1 + d2) * (g0 + g1 + g2)/2   y1 = m1 - m2 - m3
    m2 = (d2 - d1) * (g0 - g1 + g2)/2
    m3 = (d1 - d3) * g2

In matrices, ``y = A^T [(G g) * (B^T d)]`` with ``*`` elementwise::

          [1  0 -1  0]         [ 1    0    0 ]
    B^T = [0  1  1  0]     G = [1/2  1/2  1/2]     A^T = [1  1  1  0]
          [0 -1  1  0]         [1/2 -1/2  1/2]           [0  1 -1 -1]
          [0  1  0 -1]         [ 0    0    1 ]

2-D: nest the 1-D algorithm over rows and columns
--------------------------------------------------
A 4x4 input tile ``d`` and a 3x3 kernel ``g`` give a 2x2 output tile::

    Y = A^T [ U * V ] A,    U = G g G^T (4x4),   V = B^T d B (4x4)

16 multiplications instead of 2*2*9 = 36: the 2.25x.  Output tiles are 2x2,
so input tiles are 4x4 windows taken with stride 2 (neighbours overlap by 2).

Across channels, the sum over input channels ``c`` commutes with ``A^T . A``,
so it happens in the transformed domain.  Numbering the 16 positions of the
4x4 tile by ``k`` and all tiles of all images by ``p`` (P = N * tiles)::

    M[k] = V[k] @ U[k]^T      (P, C_in) @ (C_in, C_out) -> (P, C_out)

ONE batched matmul over k = 0..15 does all the multiplications; the
transforms are additions only (B and A hold 0 and +-1), done "separably"
(rows, then columns) with strided slices over whole arrays.

Gradients
---------
Every step is linear, so backward applies the transposes in reverse order::

    dM = A dY A^T               output transform, transposed (per tile)
    dU[k] = dM[k]^T @ V[k]      weight gradient, one batched matmul; dw = G^T dU G
    dV[k] = dM[k] @ U[k]        input gradient, one batched matmul ...
    dd = B dV B^T               ... then the input transform, transposed: the
                                overlapping 4x4 tiles add up on the input

dx could also be computed as the forward convolution of dy with the kernel
rotated by 180 degrees (padding 2 - p), but that transforms dy a second time;
sharing dM between dx and dw measured faster for the whole backward
(``benchmarks/NOTES.md``, "Winograd").

Layout: channels last, columns split by parity
----------------------------------------------
Inside this file images are ``(N, rows, 2, cols/2, C)``: pixel (r, 2t + e)
is at ``[n, r, e, t, c]``.  Tile column s of tile j is padded column 2j + s,
i.e. ``[:, :, s % 2, j + s // 2]``: a plain slice with a long contiguous core
((tw, C) values), where NCHW would need stride-2 slices whose inner loops are
only tw long (the input transform was several times slower that way, the
more so the fewer the pixels).  All transformed
arrays are (4, 4, N, th, tw, C) = (16, P, C) matrices, contiguous for the GEMMs;
NCHW is converted on the way in (``to_split``) and out (``from_split``).

Precision (random normal data; max abs error over the largest magnitude):
in float64 Winograd and im2col agree to 1.5e-15 (y, dx, dw).  In float32,
against the float64 result, Winograd's error is 2-8e-7 and im2col's 1.5-6e-7
(8x64x28x28 -> 64: y 3.8e-7 vs 6.2e-7, dx 3.1e-7 vs 2.3e-7, dw 7.0e-7 vs
3.8e-7).  F(2x2, 3x3) is the mildest Winograd variant: its transform
entries are 0, +-1/2 and +-1.
"""
from typing import NamedTuple

import numpy as np

from ... import backend
from ..blocking import batch_chunks, limits

BT = ((1, 0, -1, 0),
      (0, 1, 1, 0),
      (0, -1, 1, 0),
      (0, 1, 0, -1))
G = ((1.0, 0.0, 0.0),
     (0.5, 0.5, 0.5),
     (0.5, -0.5, 0.5),
     (0.0, 0.0, 1.0))
AT = ((1, 1, 1, 0),
      (0, 1, -1, -1))
B = tuple(zip(*BT))  # the transposes, for the backward transforms
A = tuple(zip(*AT))


def tile_counts(out_hw):
    """Number of 2x2 output tiles (th, tw) covering an (OH, OW) output (rounded up)."""
    return tuple((size + 1) // 2 for size in out_hw)


def _combine(coeffs, terms, out, accumulate=False):
    """``out[...] = sum_i coeffs[i] * terms[i]`` (or ``+=``) for coefficients in {-1, 0, 1}.

    One row of B^T or A^T applied to a list of equally shaped arrays, written
    into ``out`` (any view) with in-place ufuncs: no temporaries.
    """
    xp = backend.get_array_module(out)
    picked = [(c, t) for c, t in zip(coeffs, terms) if c != 0]
    if not accumulate:
        (c0, t0), picked = picked[0], picked[1:]
        if c0 > 0:
            out[...] = t0
        else:
            xp.negative(t0, out=out)
    for c, t in picked:
        (xp.add if c > 0 else xp.subtract)(out, t, out=out)
    return out


# ---------------------------------------------------------------------------
# Layout: NCHW <-> channels last with columns split by parity
# ---------------------------------------------------------------------------

def _parity_columns(e, pad, width):
    """Input columns w whose padded column w + pad has parity e: (first, count, t0 = its t)."""
    first = (e - pad) % 2
    return first, len(range(first, width, 2)), (first + pad) // 2


def to_split(x, padding, rows, half_cols):
    """x (N, C, H, W) -> (N, rows, 2, half_cols, C), zero-padded.

    Pixel (h, w) goes to padded position (h + ph, w + pw) = (r, 2t + e), stored
    at ``[n, r, e, t, c]``; everything else is zero (padding, and the extra
    bottom/right row/column when the tiles overhang an odd-sized output).
    """
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    ph, pw = padding
    out = xp.zeros((n, rows, 2, half_cols, c), dtype=x.dtype)
    for e in range(2):
        first, count, t0 = _parity_columns(e, pw, w)
        out[:, ph:ph + h, e, t0:t0 + count] = x[:, :, :, first::2].transpose(0, 2, 3, 1)
    return out


def from_split(xs, padding, out_hw, out=None):
    """The inverse of ``to_split``: (N, rows, 2, half_cols, C) -> (N, C, H, W), padding cut.

    ``out``: an (N, C, H, W) array to write into.
    """
    xp = backend.get_array_module(xs)
    n, c = xs.shape[0], xs.shape[-1]
    (ph, pw), (h, w) = padding, out_hw
    if out is None:
        out = xp.empty((n, c, h, w), dtype=xs.dtype)
    for e in range(2):
        first, count, t0 = _parity_columns(e, pw, w)
        out[:, :, :, first::2] = xs[:, ph:ph + h, e, t0:t0 + count].transpose(0, 3, 1, 2)
    return out


# ---------------------------------------------------------------------------
# Kernel transform U = G g G^T and its adjoint
# ---------------------------------------------------------------------------

def _kron_g(xp, dtype):
    """G (x) G, (16, 9): row 4a + b, column 3i + j holds G[a, i] * G[b, j].

    So ``U[a, b] = sum_ij G[a, i] g[i, j] G[b, j]`` (U = G g G^T) is one
    product of the flattened kernels with this matrix, for all (o, c) at once
    (a broadcast ``G @ w @ G.T`` over (O, C) was much slower).
    """
    g = np.asarray(G, dtype=dtype)
    return backend.constant((g[:, None, :, None] * g[None, :, None, :]).reshape(16, 9), xp)


def weight_transform(weight):
    """U = G g G^T for every (o, c): (O, C, 3, 3) -> (16, O, C), k = 4*row + col."""
    xp = backend.get_array_module(weight)
    o, c = weight.shape[:2]
    return (_kron_g(xp, weight.dtype) @ weight.reshape(o * c, 9).T).reshape(16, o, c)


def weight_transform_adjoint(du):
    """dg = G^T dU G: (16, O, C) -> (O, C, 3, 3), the gradient of ``weight_transform``."""
    xp = backend.get_array_module(du)
    o, c = du.shape[1:]
    return (du.reshape(16, o * c).T @ _kron_g(xp, du.dtype)).reshape(o, c, 3, 3)


# ---------------------------------------------------------------------------
# Input transform V = B^T d B and its adjoint
# ---------------------------------------------------------------------------

def _rows(xs, r, th):
    """Row r of every tile of xs (N, 2*th + 2, ...): padded rows 2i + r, i < th."""
    pairs = xs.reshape((xs.shape[0], th + 1, 2) + xs.shape[2:])  # row 2q + u at [:, q, u]
    return pairs[:, r // 2:r // 2 + th, r % 2]


def _cols(a, s, tw):
    """Column s of every tile of a split array (..., 2, tw + 1, C): [..., s % 2, j + s // 2]."""
    return a[..., s % 2, s // 2:s // 2 + tw, :]


def input_transform(xs, tiles, out=None):
    """V = B^T d B for every 4x4 tile d: xs (N, 2th+2, 2, tw+1, C) -> V (4, 4, N, th, tw, C).

    ``out``: an array of that shape (or a view of one) to write V into.

    Tile (i, j) is padded rows 2i..2i+3, columns 2j..2j+3.  Rows first: row r
    of every tile, across the whole batch, is one strided slice of ``xs``, so
    ``B^T d`` is 4 rows of B^T applied to 4 slices (vectorized adds).  Columns
    next, the same on the result.
    """
    xp = backend.get_array_module(xs)
    (th, tw), n, c = tiles, xs.shape[0], xs.shape[-1]
    rows = [_rows(xs, r, th) for r in range(4)]                  # 4 x (N, th, 2, tw+1, C)
    bt_d = xp.empty((4, n, th, 2, tw + 1, c), dtype=xs.dtype)
    for i in range(4):
        _combine(BT[i], rows, bt_d[i])
    v = xp.empty((4, 4, n, th, tw, c), dtype=xs.dtype) if out is None else out
    for i in range(4):
        cols = [_cols(bt_d[i], s, tw) for s in range(4)]        # 4 x (N, th, tw, C)
        for j in range(4):
            _combine(BT[j], cols, v[i, j])
    return v


def input_transform_adjoint(dv):
    """dd = B dV B^T, overlapping tiles summed: dV (4, 4, N, th, tw, C) -> (N, 2th+2, 2, tw+1, C).

    The steps of ``input_transform`` transposed, in reverse order: columns
    (each tile column s adds onto its slice), then rows.  Tile column s and
    s + 2 hit the same parity, shifted by one tile: the first is written, the
    second added.
    """
    xp = backend.get_array_module(dv)
    _, _, n, th, tw, c = dv.shape
    d_bt_d = xp.empty((4, n, th, 2, tw + 1, c), dtype=dv.dtype)
    d_bt_d[..., tw, :] = 0          # reached only by the added (s >= 2) columns
    for i in range(4):
        for s in range(4):
            _combine(B[s], list(dv[i]), _cols(d_bt_d[i], s, tw), accumulate=s >= 2)
    dxs = xp.empty((n, 2 * th + 2, 2, tw + 1, c), dtype=dv.dtype)
    dxs[:, 2 * th:] = 0             # likewise for rows
    for r in range(4):
        _combine(B[r], list(d_bt_d), _rows(dxs, r, th), accumulate=r >= 2)
    return dxs


# ---------------------------------------------------------------------------
# Output transform Y = A^T M A and its adjoint
# ---------------------------------------------------------------------------

def output_transform(m):
    """Y = A^T m A for every tile: m (4, 4, N, th, tw, O) -> ys (N, 2th, 2, tw, O).

    Rows first (4 -> 2), then columns (4 -> 2).  Output pixel (2i + a, 2j + b)
    is written at ``[n, 2i + a, b, j]`` (the split layout).
    """
    xp = backend.get_array_module(m)
    _, _, n, th, tw, o = m.shape
    at_m = xp.empty((2,) + m.shape[1:], dtype=m.dtype)          # (2, 4, N, th, tw, O)
    for a in range(2):
        for j in range(4):
            _combine(AT[a], list(m[:, j]), at_m[a, j])
    ys = xp.empty((n, th, 2, 2, tw, o), dtype=m.dtype)          # [n, i, a, b, j, o]
    for a in range(2):
        for b in range(2):
            _combine(AT[b], list(at_m[a]), ys[:, :, a, b])
    return ys.reshape(n, 2 * th, 2, tw, o)


def output_transform_adjoint(dys):
    """dM = A dY A^T for every 2x2 tile: dys (N, 2th, 2, tw, O) -> dM (4, 4, N, th, tw, O).

    The transpose of ``output_transform``: columns, then rows, with A = (A^T)^T.
    """
    xp = backend.get_array_module(dys)
    n, rows, _, tw, o = dys.shape
    th = rows // 2
    dy6 = dys.reshape(n, th, 2, 2, tw, o)                        # [n, i, a, b, j, o]
    d_at_m = xp.empty((2, 4, n, th, tw, o), dtype=dys.dtype)
    for a in range(2):
        for j in range(4):
            _combine(A[j], [dy6[:, :, a, b] for b in range(2)], d_at_m[a, j])
    dm = xp.empty((4, 4, n, th, tw, o), dtype=dys.dtype)
    for i in range(4):
        for j in range(4):
            _combine(A[i], list(d_at_m[:, j]), dm[i, j])
    return dm


# ---------------------------------------------------------------------------
# The passes, over batch chunks (x, y, dy, dx in NCHW)
# ---------------------------------------------------------------------------

REQUIRES = "a 3x3 kernel, stride 1 and dilation 1"


class Saved(NamedTuple):
    """U (16, O, C) for dx; for dW either V (4, 4, N, th, tw, C) kept from forward or x.

    Fields are None when not needed: U without dx, V and x without dW, and
    one of V and x always (V when it is small enough to keep, else x).
    """
    u: object
    v: object
    x: object


def applies(geo):
    return geo.kernel == (3, 3) and geo.stride == (1, 1) and geo.dilation == (1, 1)


def _chunks(n, tiles, channels, itemsize):
    """Batch chunks (``blocking.batch_chunks``) with about ``limits().winograd_chunk`` bytes
    of V (16, P, C) each.

    Each chunk goes through all steps of a pass (transform, GEMM, transform)
    while its arrays are still in the CPU cache, instead of every step
    streaming the whole batch (4x the activations) through memory (measured in
    ``benchmarks/NOTES.md``, "Block sizes").
    """
    return batch_chunks(n, 16 * tiles[0] * tiles[1] * channels * itemsize,
                        limits().winograd_chunk)


def v_nbytes(geo, itemsize):
    """Bytes of V (4, 4, N, th, tw, C) for an NCHW input: about 4x the input."""
    th, tw = tile_counts(geo.out_size)
    return 16 * geo.x_shape[0] * th * tw * geo.x_shape[1] * itemsize


def _chunk_v(x, padding, tiles, out=None):
    """V of a batch chunk x (n, C, H, W): (16, n*th*tw, C), written into ``out`` if given."""
    (th, tw), c = tiles, x.shape[1]
    xs = to_split(x, padding, 2 * th + 2, tw + 1)
    return input_transform(xs, tiles, out).reshape(16, -1, c)


def forward(x, weight, bias, geo, want_dx, want_dw):
    """3x3 stride-1 conv2d: x (N, C, H, W), weight (O, C, 3, 3) -> y (N, O, OH, OW), Saved.

    Per batch chunk: V = B^T d B, M[k] = V[k] @ U[k]^T, y = A^T M A.  When dW
    is wanted, V of the whole batch is kept if it takes at most
    ``limits().kept_for_backward`` bytes (faster than rebuilding it, see
    ``benchmarks/NOTES.md``), else x.  Without gradients nothing of the size
    of V exists beyond one chunk.
    """
    xp = backend.get_array_module(x)
    (n, c, _, _), o = x.shape, weight.shape[0]
    tiles = tile_counts(geo.out_size)
    keep_v = want_dw and v_nbytes(geo, x.itemsize) <= limits().kept_for_backward
    u = weight_transform(weight)
    u_t = u.transpose(0, 2, 1)
    v = xp.empty((4, 4, n) + tiles + (c,), dtype=x.dtype) if keep_v else None
    y = xp.empty((n, o) + geo.out_size, dtype=x.dtype)
    for n0, n1 in _chunks(n, tiles, c, x.itemsize):
        v_chunk = _chunk_v(x[n0:n1], geo.padding, tiles, None if v is None else v[:, :, n0:n1])
        m = xp.matmul(v_chunk, u_t)                                  # (16, P, O)
        ys = output_transform(m.reshape((4, 4, n1 - n0) + tiles + (o,)))
        from_split(ys, (0, 0), geo.out_size, out=y[n0:n1])
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y, Saved(u if want_dx else None, v, x if want_dw and not keep_v else None)


def backward(dy, saved, geo):
    """dx and dW of a 3x3 stride-1 conv2d, per batch chunk, from dy (N, O, OH, OW).

    Returns (dx or None, dW or None), None where ``saved`` says the gradient is
    not wanted.  dM = A dY A^T is computed once per chunk and shared:
    dx: dV[k] = dM[k] @ U[k], dd = B dV B^T;  dW: dU = sum over chunks of
    dM[k]^T @ V[k], dW = G^T dU G.
    """
    xp = backend.get_array_module(dy)
    u, v, x = saved
    n, o = dy.shape[:2]
    c = geo.x_shape[1]
    tiles = tile_counts(geo.out_size)
    want_dw = v is not None or x is not None
    dx = xp.empty(geo.x_shape, dtype=dy.dtype) if u is not None else None
    du = None
    for n0, n1 in _chunks(n, tiles, max(c, o), dy.itemsize):
        # Outputs cropped in forward (odd OH, OW) get zero gradient from to_split.
        dys = to_split(dy[n0:n1], (0, 0), 2 * tiles[0], tiles[1])
        dm = output_transform_adjoint(dys).reshape(16, -1, o)       # (16, P, O)
        if u is not None:
            dv = xp.matmul(dm, u)                                    # (16, P, C)
            dxs = input_transform_adjoint(dv.reshape((4, 4, n1 - n0) + tiles + (c,)))
            from_split(dxs, geo.padding, geo.x_shape[2:], out=dx[n0:n1])
        if want_dw:
            v_chunk = (v[:, :, n0:n1].reshape(16, -1, c) if v is not None
                       else _chunk_v(x[n0:n1], geo.padding, tiles))
            du_chunk = xp.matmul(dm.transpose(0, 2, 1), v_chunk)     # (16, O, C)
            if du is None:
                du = du_chunk
            else:
                du += du_chunk
    return dx, (weight_transform_adjoint(du) if want_dw else None)
