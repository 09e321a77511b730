"""2-D convolution and transposed convolution: argument handling and algorithm choice.

Shapes (NCHW activations, weights as PyTorch/torchvision store them)::

    conv2d            x (N, C_in, H, W)  *  weight (C_out, C_in, KH, KW)  ->  (N, C_out, OH, OW)
    conv_transpose2d  x (N, C_in, H, W)  *  weight (C_in, C_out, KH, KW)  ->  (N, C_out, OH, OW)

conv2d has three algorithms (see ``choose_algorithm``): "rows" (stride-1
kernels, ``conv_rows.py``), "winograd" (3x3 with many channels,
``winograd.py``) and "im2col", built from three array-level pieces
(``conv_gemm.py``, column layout in ``im2col.py``), with
``Wm = weight.reshape(weight.shape[0], -1)``:

    conv_gemm          y    = Wm @ im2col(x)                   conv2d forward
    conv_gemm_adjoint  dx   = col2im(Wm.T @ dy)                conv2d input gradient
    weight_gemm        dWm  = sum_n dy[n] @ im2col(x)[n].T     conv2d weight gradient

A transposed convolution *is* the input gradient of a convolution, read the
other way round, so it reuses the same three pieces with the roles swapped::

    conv_transpose2d forward          = conv_gemm_adjoint(x, weight)   (col2im)
    conv_transpose2d input gradient   = conv_gemm(dy, weight)          (im2col + GEMM)
    conv_transpose2d weight gradient  = weight_gemm(im2col(dy), x)

Its weight (C_in, C_out, KH, KW) is exactly the OIHW weight of the convolution
that maps its output back to its input, which is why PyTorch stores it "IOHW".
"""
from .. import backend
from ..autograd import Function
from . import conv_rows, winograd
from .conv_args import check_groups, check_operands, check_output_size, geometry
from .conv_gemm import conv_gemm, conv_gemm_adjoint, weight_gemm
from .im2col import batch_chunks, conv_output_size, im2col, is_plain_gemm, pair

__all__ = ["conv2d", "conv_transpose2d"]


# ---------------------------------------------------------------------------
# Algorithms
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
WINOGRAD_MIN_CHANNELS = 128

#: The rows algorithm is used for stride-1 kernels larger than 1x1 with at
#: least this many input and output channels (see ``choose_algorithm``).
ROWS_MIN_CHANNELS = 16

ALGORITHMS = ("im2col", "rows", "winograd")


def winograd_applies(kernel, stride, dilation):
    """True when the Winograd F(2x2, 3x3) path can compute this convolution."""
    return tuple(kernel) == (3, 3) and stride == (1, 1) and dilation == (1, 1)


def choose_algorithm(x_shape, weight_shape, stride, padding, dilation):
    """``"rows"``, ``"winograd"`` or ``"im2col"`` for conv2d of these shapes (all passes).

    * im2col: 1x1 kernels (a plain GEMM on x), strided convolutions, and
      fewer than ROWS_MIN_CHANNELS channels, where the rows backward makes
      GEMMs with only C_in rows or columns (3->16 at 128x128, dW only:
      im2col 2.6 + 3.1 ms, rows 2.5 + 8.6; 8->16 with dx: 12.6 + 15.0 vs
      15.5 + 40.8).
    * winograd: 3x3 stride-1 kernels with at least WINOGRAD_MIN_CHANNELS
      channels on both sides: 2.25x fewer multiplications, but its 16 GEMMs
      have only C_in (or C_out) as inner dimension and its transforms are
      memory passes over 4x the activations, so with fewer channels the rows
      algorithm is faster.  Fwd + bwd ms, rows / winograd, best of 3: 64->64
      at 32x32 13.6 / 17.4, 128->128 at 16x16 12.8 / 11.1, 256->256 at 8x8
      14.3 / 9.0.  (im2col / winograd: 64->64 at 56x56 63.0 / 60.4, 128->128
      at 28x28 52.2 / 31.6.)
    * rows: the other stride-1 convolutions (``conv_rows.py``), about 1.5-2x
      faster than im2col (16->16 at 128x128: 25.6 vs 40.1 ms).

    All measured on batch 8, float32, 2 CPU threads.
    """
    c_out, c_in = weight_shape[:2]
    kernel = weight_shape[2:]
    if (winograd_applies(kernel, stride, dilation)
            and min(c_in, c_out) >= WINOGRAD_MIN_CHANNELS):
        return "winograd"
    if (conv_rows.applies(kernel, stride, padding, dilation)
            and min(c_in, c_out) >= ROWS_MIN_CHANNELS):
        return "rows"
    return "im2col"


def _check_algorithm(algorithm, weight_shape, stride, padding, dilation):
    """A forced ``algorithm`` must be able to compute this geometry."""
    kernel = weight_shape[2:]
    if algorithm == "winograd" and not winograd_applies(kernel, stride, dilation):
        raise ValueError(
            f"conv2d: the winograd algorithm needs a 3x3 kernel, stride 1 and dilation 1, "
            f"got weight shape {tuple(weight_shape)}, stride {stride}, dilation {dilation}")
    if algorithm == "rows" and not conv_rows.applies(kernel, stride, padding, dilation):
        raise ValueError(
            f"conv2d: the rows algorithm needs stride 1, a kernel larger than 1x1 and "
            f"padding at most dilation*(kernel-1), got weight shape {tuple(weight_shape)}, "
            f"stride {stride}, padding {padding}, dilation {dilation}")


class Conv2dFunction(Function):
    """y = conv2d(x, weight, bias): see ``conv2d``.  Inputs: x, weight, bias (or None).

    Three algorithms (``algorithm``: None picks with ``choose_algorithm``):

    * ``"rows"``: stride-1 kernels larger than 1x1, on row blocks of
      contiguous-copy columns (``conv_rows.py``).  Saves x (for dW) and the
      weight (for dx); backward rebuilds columns, of dy, block by block.
    * ``"winograd"``: F(2x2, 3x3) for 3x3 stride-1 kernels (``winograd.py``).
    * ``"im2col"``: one GEMM on the im2col columns (``conv_gemm.py``):
      1x1 kernels (whose columns are x itself) and strided convolutions.

    im2col and winograd save for backward the weight (for dx; Winograd its
    transform U) and, for dW, either what forward built from x (the im2col
    columns, or the Winograd-transformed input V) or only x (held by the graph
    anyway), rebuilding it in backward.  The columns are KH*KW times the size
    of x (9x for 3x3), V is 4x, so keeping them trades memory for one rebuild.
    Measured fwd+bwd on N=8, 32->64 channels, 64x64, 3x3 pad 1, float32, 2 CPU
    threads (best of 5): keep cols 40.0-40.8 ms (+36 MiB held until backward),
    recompute 44.9-46.1 ms (+0 MiB).  Keeping is ~12% faster, so it is done
    while the buffer is at most KEEP_COLS_MAX_BYTES; above that memory wins.
    """

    def __init__(self, stride=1, padding=0, dilation=1, algorithm=None):
        self.stride, self.padding, self.dilation = geometry("conv2d", stride, padding, dilation)
        if algorithm not in (None,) + ALGORITHMS:
            raise ValueError(f"conv2d: algorithm must be one of {ALGORITHMS} or None, "
                             f"got {algorithm!r}")
        self.algorithm = algorithm

    def forward(self, x, weight, bias=None):
        check_operands("conv2d", x, weight, bias, transposed=False)
        geo = (self.stride, self.padding, self.dilation)
        out_size = tuple(conv_output_size(*args) for args in
                         zip(x.shape[2:], weight.shape[2:], *geo))
        check_output_size("conv2d", out_size, x.shape, weight.shape[2:], *geo)
        if self.algorithm is None:
            self.algorithm = choose_algorithm(x.shape, weight.shape, *geo)
        _check_algorithm(self.algorithm, weight.shape, *geo)
        self.x_shape, self.weight_shape, self.itemsize = x.shape, weight.shape, x.itemsize
        if self.algorithm == "rows":
            return self._rows_forward(x, weight, bias)
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

    def _rows_forward(self, x, weight, bias):
        """Rows forward (bias added in the same pass); keeps the weight for dx, x for dW."""
        if self.needs_input_grad[0]:
            self.weight = weight
        if self.needs_input_grad[1]:
            self.x = x
        return conv_rows.conv2d_forward(x, weight, bias, self.padding, self.dilation)

    def _im2col_forward(self, x, weight, out_size):
        xp = backend.get_array_module(x)
        geo = (self.stride, self.padding, self.dilation)
        chunks = self._im2col_chunks(x.shape, out_size)
        y = xp.empty((x.shape[0], weight.shape[0]) + out_size, dtype=x.dtype)
        for n0, n1 in chunks:
            _, cols = conv_gemm(x[n0:n1], weight, *geo, out_size, out=y[n0:n1])
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
        if self.algorithm == "rows":
            dx, dw = conv_rows.conv2d_backward(
                dy, self.x_shape, self.weight_shape[2:], self.padding, self.dilation,
                x=getattr(self, "x", None), weight=getattr(self, "weight", None))
        elif self.algorithm == "winograd":
            dx, dw = self._winograd_backward(dy)
        else:
            dx, dw = self._im2col_backward(dy)
        db = dy.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None
        return dx, dw, db

    def _im2col_backward(self, dy):
        xp = backend.get_array_module(dy)
        geo = (self.stride, self.padding, self.dilation)
        dx = xp.empty(self.x_shape, dtype=dy.dtype) if self.needs_input_grad[0] else None
        dw = None
        for n0, n1 in self._im2col_chunks(self.x_shape, dy.shape[2:]):
            if dx is not None:
                conv_gemm_adjoint(dy[n0:n1], self.weight, (n1 - n0,) + self.x_shape[1:], *geo,
                                   out=dx[n0:n1])
            if self.needs_input_grad[1]:
                cols = getattr(self, "cols", None)
                if cols is None:
                    cols = im2col(self.x[n0:n1], self.weight_shape[2:], *geo, dy.shape[2:])
                dw_chunk = weight_gemm(cols, dy[n0:n1])
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
        self.stride, self.padding, self.dilation = geometry(name, stride, padding, dilation)
        self.output_padding = pair(output_padding, "output_padding")
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            # Larger values would add rows that no input pixel reaches (PyTorch's rule too).
            if not 0 <= op < max(s, d):
                raise ValueError(
                    f"{name}: output_padding {self.output_padding} must be non-negative and "
                    f"smaller than stride {self.stride} or dilation {self.dilation}")

    def forward(self, x, weight, bias=None):
        name = "conv_transpose2d"
        check_operands(name, x, weight, bias, transposed=True)
        n, _, h, w = x.shape
        kernel = weight.shape[2:]
        # (H-1)*s - 2p + d*(k-1) + output_padding + 1: the input size of the
        # convolution whose output is (H, W).
        out_size = tuple((size - 1) * s - 2 * p + d * (k - 1) + op + 1 for size, k, s, p, d, op in
                         zip((h, w), kernel, self.stride, self.padding, self.dilation,
                             self.output_padding))
        check_output_size(name, out_size, x.shape, kernel, self.stride, self.padding,
                          self.dilation)
        y_shape = (n, weight.shape[1]) + out_size
        y = conv_gemm_adjoint(x, weight, y_shape, self.stride, self.padding, self.dilation)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        self.x_shape, self.weight_shape = x.shape, weight.shape
        if self.needs_input_grad[0]:
            self.weight = weight
        if self.needs_input_grad[1]:
            self.x = x
        return y

    def backward(self, dy):
        geo = (self.stride, self.padding, self.dilation)
        in_size = self.x_shape[2:]  # with output_padding >= stride, the conv of dy is larger
        dx = dw = db = cols = None
        if self.needs_input_grad[0]:
            dx, cols = conv_gemm(dy, self.weight, *geo, in_size)
        if self.needs_input_grad[1]:
            if cols is None:  # the im2col of dy serves both gradients: build it once
                cols = im2col(dy, self.weight_shape[2:], *geo, in_size)
            dw = weight_gemm(cols, self.x).reshape(self.weight_shape)
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
    check_groups("conv2d", groups)
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
    check_groups("conv_transpose2d", groups)
    return ConvTranspose2dFunction(stride, padding, output_padding, dilation)(input, weight, bias)
