"""2-D convolution and transposed convolution, as im2col + one GEMM.

Shapes (NCHW activations, weights as PyTorch/torchvision store them)::

    conv2d            x (N, C_in, H, W)  *  weight (C_out, C_in, KH, KW)  ->  (N, C_out, OH, OW)
    conv_transpose2d  x (N, C_in, H, W)  *  weight (C_in, C_out, KH, KW)  ->  (N, C_out, OH, OW)

Everything is built from three array-level pieces (see ``im2col.py`` for the
column layout), with ``Wm = weight.reshape(weight.shape[0], -1)``:

    _conv_gemm         y    = Wm @ im2col(x)                   conv2d forward
    _conv_gemm_adjoint dx   = col2im(Wm.T @ dy)                conv2d input gradient
    _weight_gemm       dWm  = sum_n dy[n] @ im2col(x)[n].T     conv2d weight gradient

A transposed convolution *is* the input gradient of a convolution, read the
other way round, so it reuses the same three pieces with the roles swapped::

    conv_transpose2d forward          = _conv_gemm_adjoint(x, weight)   (col2im)
    conv_transpose2d input gradient   = _conv_gemm(dy, weight)          (im2col + GEMM)
    conv_transpose2d weight gradient  = _weight_gemm(im2col(dy), x)

Its weight (C_in, C_out, KH, KW) is exactly the OIHW weight of the convolution
that maps its output back to its input, which is why PyTorch stores it "IOHW".
"""
from .. import backend
from ..autograd import Function
from . import winograd
from .im2col import (batch_chunks, col2im, col2im_stride1, conv_output_size, im2col,
                     is_plain_gemm, pair)

__all__ = ["conv2d", "conv_transpose2d"]


# ---------------------------------------------------------------------------
# The three GEMMs
# ---------------------------------------------------------------------------

def _conv_gemm(x, weight, stride, padding, dilation, out_size=None, out=None):
    """Convolution forward: (N, C, H, W) * (O, C, KH, KW) -> y (N, O, OH, OW), cols.

    One batched matmul ``(O, C*KH*KW) @ (N, C*KH*KW, OH*OW) -> (N, O, OH*OW)``
    (the weight matrix is broadcast over N): the result is already in NCHW
    order, so no transpose is needed.  The im2col columns are returned too,
    for a caller that keeps them for the weight gradient.  ``out``: a
    contiguous (N, O, OH, OW) array to write y into.
    """
    xp = backend.get_array_module(x)
    kernel = weight.shape[2:]
    n = x.shape[0]
    if out_size is None:
        out_size = tuple(conv_output_size(*args) for args in
                         zip(x.shape[2:], kernel, stride, padding, dilation))
    cols = im2col(x, kernel, stride, padding, dilation, out_size)
    o = weight.shape[0]
    y = xp.matmul(weight.reshape(o, -1), cols,
                  out=None if out is None else out.reshape(n, o, -1))
    return y.reshape(n, o, *out_size), cols


def _conv_gemm_adjoint(dy, weight, x_shape, stride, padding, dilation):
    """Adjoint of ``_conv_gemm`` in x: (N, O, OH, OW) -> (N, C, H, W) = ``x_shape``.

    ``dcols = Wm.T @ dy`` gives, for every output pixel, how much each patch
    entry contributed; ``col2im`` adds each entry back onto its input pixel.
    With stride 1, dy is first widened with zero columns to the padded row
    width, so that ``col2im_stride1`` can add contiguous runs (see there).
    """
    xp = backend.get_array_module(dy)
    n, o, oh, ow = dy.shape
    kernel = weight.shape[2:]
    w_mat = weight.reshape(o, -1)
    if stride == (1, 1) and not is_plain_gemm(x_shape[2:], kernel, stride, padding, (oh, ow)):
        wp = x_shape[3] + 2 * padding[1]
        dy_wide = xp.zeros((n, o, oh, wp), dtype=dy.dtype)
        dy_wide[..., :ow] = dy
        dcols = xp.matmul(w_mat.T, dy_wide.reshape(n, o, oh * wp))  # (N, C*KH*KW, OH*Wp)
        return col2im_stride1(dcols, x_shape, kernel, padding, dilation, (oh, ow))
    dcols = xp.matmul(w_mat.T, dy.reshape(n, o, oh * ow))  # (N, C*KH*KW, OH*OW)
    return col2im(dcols, x_shape, kernel, stride, padding, dilation, (oh, ow))


def _weight_gemm(cols, dy):
    """Weight gradient ``sum_n dy[n] @ cols[n].T``: (N, O, L), (N, K, L) -> (O, K).

    Measured on N=8, 32->64 channels, 64x64 (CPU, 2 threads): a batched matmul
    followed by a sum over N (11 ms) beats ``tensordot`` over (N, L) (43 ms,
    which copies ``cols`` into (N*L, K) order) and ``einsum`` (23 ms); the
    (N, O, K) intermediate is small next to ``cols``.
    """
    xp = backend.get_array_module(dy)
    n, o = dy.shape[:2]
    dy = dy.reshape(n, o, -1)
    return xp.matmul(dy, cols.transpose(0, 2, 1)).sum(axis=0)


# ---------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------

def _geometry(name, stride, padding, dilation):
    """Normalize stride/padding/dilation to (h, w) pairs and check their signs."""
    stride, padding, dilation = (pair(stride, "stride"), pair(padding, "padding"),
                                 pair(dilation, "dilation"))
    if min(stride) < 1:
        raise ValueError(f"{name}: stride must be positive, got {stride}")
    if min(padding) < 0:
        raise ValueError(f"{name}: padding must be non-negative, got {padding}")
    if min(dilation) < 1:
        raise ValueError(f"{name}: dilation must be positive, got {dilation}")
    return stride, padding, dilation


def _check_operands(name, x, weight, bias, transposed):
    """Check ranks, channels, bias length and dtypes; explain any mismatch with the shapes."""
    w_layout = "(C_in, C_out, KH, KW)" if transposed else "(C_out, C_in, KH, KW)"
    if x.ndim != 4:
        raise ValueError(f"{name}: input must be 4-D (N, C, H, W), got shape {tuple(x.shape)}")
    if weight.ndim != 4:
        raise ValueError(f"{name}: weight must be 4-D {w_layout}, got shape {tuple(weight.shape)}")
    in_axis, out_axis = (0, 1) if transposed else (1, 0)
    if x.shape[1] != weight.shape[in_axis]:
        raise ValueError(
            f"{name}: input has {x.shape[1]} channels but weight expects {weight.shape[in_axis]} "
            f"(input shape {tuple(x.shape)}, weight shape {tuple(weight.shape)})")
    out_channels = weight.shape[out_axis]
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(
            f"{name}: bias must have shape ({out_channels},), one value per output channel of "
            f"weight shape {tuple(weight.shape)}, got {tuple(bias.shape)}")
    for arg, a in (("weight", weight), ("bias", bias)):
        if a is not None and a.dtype != x.dtype:
            raise TypeError(f"{name}: input dtype {x.dtype} and {arg} dtype {a.dtype} differ")


def _check_output_size(name, out_size, x_shape, kernel, stride, padding, dilation):
    if min(out_size) < 1:
        raise ValueError(
            f"{name}: output size would be {tuple(out_size)} for input shape {tuple(x_shape)} "
            f"with kernel {tuple(kernel)}, stride {stride}, padding {padding}, dilation "
            f"{dilation}: the padded input is smaller than the (dilated) kernel")


def _check_groups(name, groups):
    if groups != 1:
        raise NotImplementedError(f"{name}: groups={groups} is not supported (only groups=1)")


# ---------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------

#: Largest im2col buffer, or Winograd-transformed input, (bytes) that conv2d
#: keeps from forward for the weight gradient; larger ones are rebuilt from
#: the input in backward.  See Conv2dFunction for the measurement behind it.
KEEP_COLS_MAX_BYTES = 64 * 2**20

#: The im2col path runs over batch chunks whose columns take about this many
#: bytes (see ``_im2col_chunks``).
COLS_CHUNK_BYTES = 8 * 2**20

#: Winograd F(2x2, 3x3) is used for 3x3, stride-1, undilated kernels with at
#: least this many input and output channels (see ``choose_algorithm``).
WINOGRAD_MIN_CHANNELS = 64

ALGORITHMS = ("im2col", "winograd")


def winograd_applies(kernel, stride, dilation):
    """True when the Winograd F(2x2, 3x3) path can compute this convolution."""
    return tuple(kernel) == (3, 3) and stride == (1, 1) and dilation == (1, 1)


def choose_algorithm(x_shape, weight_shape, stride, dilation):
    """``"winograd"`` or ``"im2col"`` for conv2d of these shapes (all three passes).

    Winograd does 2.25x fewer multiply-adds, but its transforms are memory
    passes over arrays 4x the size of x and y, and its 16 GEMMs have only
    C_in (or C_out) as inner dimension; with few channels the GEMMs are
    inefficient and the transforms dominate, so im2col wins there.  Measured
    fwd+bwd, batch 8, float32, 2 CPU threads (benchmarks/bench_kernels.py
    shapes, median of 5 x 3 runs), im2col / winograd:

        16->32 at 128x128   63.8 / 113.2 ms     64->64 at 56x56     63.0 / 60.4
        32->64 at 64x64     39.8 / 62.4         128->128 at 28x28   52.2 / 31.6
        64->128 at 32x32    28.8 / 28.9         (earlier runs: 256->256 at 14x14
                                                 45.6 / 26.7, 512->512 at 7x7
                                                 74.4 / 39.1)

    so the break-even is at 64 channels on both sides.
    """
    c_out, c_in = weight_shape[:2]
    if (winograd_applies(weight_shape[2:], stride, dilation)
            and min(c_in, c_out) >= WINOGRAD_MIN_CHANNELS):
        return "winograd"
    return "im2col"


class Conv2dFunction(Function):
    """y = conv2d(x, weight, bias): see ``conv2d``.  Inputs: x, weight, bias (or None).

    Two algorithms (``algorithm``: None picks with ``choose_algorithm``):

    * ``"im2col"``: one GEMM on the im2col columns (``_conv_gemm`` and co.).
    * ``"winograd"``: F(2x2, 3x3) for 3x3 stride-1 kernels (``winograd.py``).

    Saved for backward: the weight (for dx) and, for dW, either what forward
    built from x (the im2col columns, or the Winograd-transformed input V) or
    only x (held by the graph anyway), rebuilding it in backward.  The columns
    are KH*KW times the size of x (9x for 3x3), V is 4x, so keeping them trades
    memory for one rebuild.  Measured fwd+bwd on N=8, 32->64 channels, 64x64,
    3x3 pad 1, float32, 2 CPU threads (best of 5): keep cols 40.0-40.8 ms (+36 MiB
    held until backward), recompute 44.9-46.1 ms (+0 MiB); PyTorch 24.2 ms.
    Keeping is ~12% faster, so it is done while the buffer is at most
    KEEP_COLS_MAX_BYTES; above that (e.g. 16 channels at 256x256, batch 16:
    600 MiB per layer) memory wins and the buffer is recomputed.
    """

    def __init__(self, stride=1, padding=0, dilation=1, algorithm=None):
        self.stride, self.padding, self.dilation = _geometry("conv2d", stride, padding, dilation)
        if algorithm not in (None,) + ALGORITHMS:
            raise ValueError(f"conv2d: algorithm must be one of {ALGORITHMS} or None, "
                             f"got {algorithm!r}")
        self.algorithm = algorithm

    def forward(self, x, weight, bias=None):
        _check_operands("conv2d", x, weight, bias, transposed=False)
        geometry = (self.stride, self.padding, self.dilation)
        out_size = tuple(conv_output_size(*args) for args in
                         zip(x.shape[2:], weight.shape[2:], *geometry))
        _check_output_size("conv2d", out_size, x.shape, weight.shape[2:], *geometry)
        if self.algorithm is None:
            self.algorithm = choose_algorithm(x.shape, weight.shape, self.stride, self.dilation)
        elif (self.algorithm == "winograd"
              and not winograd_applies(weight.shape[2:], self.stride, self.dilation)):
            raise ValueError(
                f"conv2d: the winograd algorithm needs a 3x3 kernel, stride 1 and dilation 1, "
                f"got weight shape {tuple(weight.shape)}, stride {self.stride}, "
                f"dilation {self.dilation}")
        self.x_shape, self.weight_shape, self.itemsize = x.shape, weight.shape, x.itemsize
        if self.algorithm == "winograd":
            y = self._winograd_forward(x, weight)
        else:
            y = self._im2col_forward(x, weight, out_size)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        return y

    def _im2col_chunks(self, x_shape, out_size):
        """Batch chunks for the im2col path: one, unless the columns are too big to keep.

        Columns larger than KEEP_COLS_MAX_BYTES are rebuilt in backward anyway,
        so they are never built for the whole batch: chunks of about
        COLS_CHUNK_BYTES are built and used while still in the CPU cache (and
        the memory peak drops by the full buffer).  Measured fwd+bwd,
        8x16x128x128 -> 32 (75 MiB of columns): 84-104 ms whole, 75-95 ms in
        chunks (4 paired runs).  Smaller columns stay whole and are kept:
        chunking them and rebuilding in backward was slower (8x3x256x256 -> 16:
        55-70 ms whole, 84-112 ms chunked).
        """
        kernel = self.weight_shape[2:]
        sample = x_shape[1] * kernel[0] * kernel[1] * out_size[0] * out_size[1] * self.itemsize
        if (is_plain_gemm(x_shape[2:], kernel, self.stride, self.padding, out_size)
                or x_shape[0] * sample <= KEEP_COLS_MAX_BYTES):
            return [(0, x_shape[0])]
        return batch_chunks(x_shape[0], sample, COLS_CHUNK_BYTES)

    def _im2col_forward(self, x, weight, out_size):
        xp = backend.get_array_module(x)
        geometry = (self.stride, self.padding, self.dilation)
        chunks = self._im2col_chunks(x.shape, out_size)
        y = xp.empty((x.shape[0], weight.shape[0]) + out_size, dtype=x.dtype)
        for n0, n1 in chunks:
            _, cols = _conv_gemm(x[n0:n1], weight, *geometry, out_size, out=y[n0:n1])
        if self.needs_input_grad[0]:
            self.weight = weight
        if self.needs_input_grad[1]:
            if len(chunks) == 1 and cols.nbytes <= KEEP_COLS_MAX_BYTES:
                self.cols = cols
            else:
                self.x = x
        return y

    def _winograd_forward(self, x, weight):
        """Winograd forward; keeps U for dx and V (else x) for dw, like the columns.

        Keeping V rather than rebuilding it in backward measured 5-30% faster
        fwd+bwd (8x64x56x56 -> 64: 49 vs 56 ms; 8x32x64x64 -> 64: 56 vs 66 ms).
        """
        keep_v = (self.needs_input_grad[1]
                  and winograd.v_nbytes(x.shape, self.padding, x.itemsize) <= KEEP_COLS_MAX_BYTES)
        y, v, u = winograd.conv2d_forward(x, weight, self.padding, keep_v)
        if self.needs_input_grad[0]:
            self.u = u              # the transformed weight, (16, C_out, C_in)
        if self.needs_input_grad[1]:
            if keep_v:
                self.v = v
            else:
                self.x = x
        return y

    def backward(self, dy):
        if self.algorithm == "winograd":
            dx, dw = self._winograd_backward(dy)
        else:
            dx, dw = self._im2col_backward(dy)
        db = dy.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None
        return dx, dw, db

    def _im2col_backward(self, dy):
        xp = backend.get_array_module(dy)
        geometry = (self.stride, self.padding, self.dilation)
        dx = xp.empty(self.x_shape, dtype=dy.dtype) if self.needs_input_grad[0] else None
        dw = None
        for n0, n1 in self._im2col_chunks(self.x_shape, dy.shape[2:]):
            if dx is not None:
                dx[n0:n1] = _conv_gemm_adjoint(dy[n0:n1], self.weight,
                                               (n1 - n0,) + self.x_shape[1:], *geometry)
            if self.needs_input_grad[1]:
                cols = getattr(self, "cols", None)
                if cols is None:
                    cols = im2col(self.x[n0:n1], self.weight_shape[2:], *geometry, dy.shape[2:])
                dw_chunk = _weight_gemm(cols, dy[n0:n1])
                if dw is None:
                    dw = dw_chunk
                else:
                    dw += dw_chunk
        return dx, None if dw is None else dw.reshape(self.weight_shape)

    def _winograd_backward(self, dy):
        if not self.needs_input_grad[1]:
            v = x = None
        else:
            v, x = getattr(self, "v", None), getattr(self, "x", None)
        u = self.u if self.needs_input_grad[0] else None
        return winograd.conv2d_backward(dy, u, self.padding, self.x_shape, v=v, x=x)


class ConvTranspose2dFunction(Function):
    """y = conv_transpose2d(x, weight, bias): see ``conv_transpose2d``.

    Forward is conv2d's input-gradient path (GEMM + col2im); backward to x is
    conv2d's forward path (im2col + GEMM) applied to dy; backward to the
    weight is conv2d's weight gradient with the roles of x and dy swapped.
    Saved for backward: the weight (for dx) and x (for dW).
    """

    def __init__(self, stride=1, padding=0, output_padding=0, dilation=1):
        name = "conv_transpose2d"
        self.stride, self.padding, self.dilation = _geometry(name, stride, padding, dilation)
        self.output_padding = pair(output_padding, "output_padding")
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            # Larger values would add rows that no input pixel reaches (PyTorch's rule too).
            if not 0 <= op < max(s, d):
                raise ValueError(
                    f"{name}: output_padding {self.output_padding} must be non-negative and "
                    f"smaller than stride {self.stride} or dilation {self.dilation}")

    def forward(self, x, weight, bias=None):
        name = "conv_transpose2d"
        _check_operands(name, x, weight, bias, transposed=True)
        n, _, h, w = x.shape
        kernel = weight.shape[2:]
        # (H-1)*s - 2p + d*(k-1) + output_padding + 1: the input size of the
        # convolution whose output is (H, W).
        out_size = tuple((size - 1) * s - 2 * p + d * (k - 1) + op + 1 for size, k, s, p, d, op in
                         zip((h, w), kernel, self.stride, self.padding, self.dilation,
                             self.output_padding))
        _check_output_size(name, out_size, x.shape, kernel, self.stride, self.padding,
                           self.dilation)
        y_shape = (n, weight.shape[1]) + out_size
        y = _conv_gemm_adjoint(x, weight, y_shape, self.stride, self.padding, self.dilation)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        self.x_shape, self.weight_shape = x.shape, weight.shape
        if self.needs_input_grad[0]:
            self.weight = weight
        if self.needs_input_grad[1]:
            self.x = x
        return y

    def backward(self, dy):
        geometry = (self.stride, self.padding, self.dilation)
        in_size = self.x_shape[2:]  # with output_padding >= stride, the conv of dy is larger
        dx = dw = db = None
        if self.needs_input_grad[0]:
            dx = _conv_gemm(dy, self.weight, *geometry, in_size)[0]
        if self.needs_input_grad[1]:
            cols = im2col(dy, self.weight_shape[2:], *geometry, in_size)
            dw = _weight_gemm(cols, self.x).reshape(self.weight_shape)
        if self.needs_input_grad[2]:
            db = dy.sum(axis=(0, 2, 3))
        return dx, dw, db


# ---------------------------------------------------------------------------
# Public functions (torch.nn.functional names and argument order)
# ---------------------------------------------------------------------------

def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, like ``torch.nn.functional.conv2d``.

    ``y[n, o, oh, ow] = bias[o] + sum_{c, i, j} weight[o, c, i, j] *
    x_pad[n, c, oh*sh + i*dh, ow*sw + j*dw]``, where ``x_pad`` is the input
    with ``padding`` zeros on each side.

    Shapes: input (N, C_in, H, W), weight (C_out, C_in, KH, KW), bias (C_out,)
    -> (N, C_out, OH, OW) with ``OH = (H + 2*ph - dh*(KH-1) - 1) // sh + 1``
    (likewise OW).  ``stride``, ``padding``, ``dilation``: int or (h, w) pair.
    ``groups`` must be 1 (grouped convolution is not implemented).
    """
    _check_groups("conv2d", groups)
    return Conv2dFunction(stride, padding, dilation)(input, weight, bias)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-D transposed convolution, like ``torch.nn.functional.conv_transpose2d``.

    Each input pixel scatters ``x[n, c, h, w] * weight[c, o, :, :]`` onto the
    output at (h*sh - ph, w*sw - pw) with dilated taps, overlaps summed: the
    input gradient of ``conv2d(y, weight, stride, padding, dilation)``.

    Shapes: input (N, C_in, H, W), weight (C_in, C_out, KH, KW) (PyTorch's
    layout), bias (C_out,) -> (N, C_out, OH, OW) with
    ``OH = (H-1)*sh - 2*ph + dh*(KH-1) + output_padding_h + 1`` (likewise OW).
    ``output_padding`` (smaller than stride or dilation) adds rows/columns at
    the bottom/right, to pick among the input sizes a strided conv2d maps to
    the same output size.  Argument order is PyTorch's (``groups`` before
    ``dilation``); ``groups`` must be 1.
    """
    _check_groups("conv_transpose2d", groups)
    return ConvTranspose2dFunction(stride, padding, output_padding, dilation)(input, weight, bias)
