"""``unfold`` and ``fold``: the convolution's im2col and col2im, as ops of their own.

A 2-D convolution copies the (C, KH, KW) patch under every output position
into a column ("im2col", see ``conv/reference.py``) and multiplies the columns
by the flattened weight.  ``F.unfold`` is that first step alone, and
``F.fold`` its transpose ("col2im")::

    unfold:  x     (N, C, H, W)          -> cols (N, C*KH*KW, L)
    fold:    cols  (N, C*KH*KW, L)       -> x    (N, C, H, W)      (H, W) = output_size

    cols[n, (c*KH + i)*KW + j, oh*OW + ow] = x_pad[n, c, oh*sh + i*dh, ow*sw + j*dw]

Rows run channel-major (c, then kernel row i, then kernel column j), the order
of ``weight.reshape(O, C*KH*KW)``, so ``conv2d(x, w) == (w.reshape(O, -1) @
unfold(x, k)).reshape(N, O, OH, OW)``.  ``x_pad`` is x with ``padding`` zeros on
each side, (sh, sw) the stride, (dh, dw) the dilation, and L = OH*OW the number
of blocks, along each axis::

    OH = (H + 2*ph - dh*(KH - 1) - 1) // sh + 1

``fold`` adds every column entry back onto the pixel it names, so pixels
covered by several blocks get the sum (``fold(unfold(x))`` is x times the
number of blocks covering each pixel), and entries that fall on the padding
are dropped.  Each is the other's adjoint, so each one's gradient is the other:
``UnfoldFunction.backward`` is col2im and ``FoldFunction.backward`` im2col,
both the fast ones of ``conv/columns.py``.  Unbatched inputs, (C, H, W) for
unfold and (C*KH*KW, L) for fold, give unbatched outputs, as in PyTorch.
"""
from ..autograd import Function, as_tensor
from .conv.arguments import output_size, pair
from .conv.columns import col2im, im2col, is_plain_gemm

__all__ = ["unfold", "fold"]


def _pair(op, name, value, minimum):
    """``value`` (an int or a pair of ints, each >= ``minimum``) as an (h, w) tuple."""
    values = pair(op, name, value)
    if min(values) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return values


def _blocks(size, kernel, dilation, padding, stride):
    """(OH, OW): the number of blocks along each axis of an image of spatial ``size``
    (a convolution's output size, ``conv.arguments.output_size``)."""
    return tuple(output_size(n, k, s, p, d)
                 for n, k, d, p, s in zip(size, kernel, dilation, padding, stride))


class _Geometry:
    """The checked arguments shared by both Functions: (h, w) pairs and the block grid."""

    def __init__(self, op, kernel_size, dilation, padding, stride):
        self.op = op
        self.kernel = _pair(op, "kernel_size", kernel_size, 1)
        self.dilation = _pair(op, "dilation", dilation, 1)
        self.padding = _pair(op, "padding", padding, 0)
        self.stride = _pair(op, "stride", stride, 1)

    def describe(self):
        return (f"kernel_size={self.kernel}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")

    def blocks(self, size):
        blocks = _blocks(size, self.kernel, self.dilation, self.padding, self.stride)
        if min(blocks) < 1:
            raise ValueError(f"{self.op}: spatial size {tuple(size)} with {self.describe()} "
                             f"gives a block grid of {blocks}; each side must be at least 1")
        return blocks

    def im2col(self, x, blocks):
        cols = im2col(x, self.kernel, self.stride, self.padding, self.dilation, blocks)
        return self._owned(cols, x.shape[2:], blocks)

    def col2im(self, cols, x_shape, blocks):
        x = col2im(cols, x_shape, self.kernel, self.stride, self.padding, self.dilation, blocks)
        return self._owned(x, x_shape[2:], blocks)

    def _owned(self, result, hw, blocks):
        # A 1x1, stride-1, unpadded block grid makes columns.py return a view of its
        # argument; the op's output (or gradient) must not share the caller's memory.
        if is_plain_gemm(hw, self.kernel, self.stride, self.padding, blocks):
            return result.copy()
        return result


class UnfoldFunction(Function):
    """cols = im2col(x): (N, C, H, W) -> (N, C*KH*KW, L); backward: dx = col2im(dcols)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        self.geo = _Geometry("unfold", kernel_size, dilation, padding, stride)

    def forward(self, x):
        if x.ndim not in (3, 4):
            raise ValueError(f"unfold: expected input (N, C, H, W) or unbatched (C, H, W), "
                             f"got shape {tuple(x.shape)}")
        self.unbatched = x.ndim == 3
        x = x[None] if self.unbatched else x
        self.x_shape = x.shape
        self.blocks = self.geo.blocks(x.shape[2:])
        cols = self.geo.im2col(x, self.blocks)
        return cols[0] if self.unbatched else cols

    def backward(self, dcols):
        dcols = dcols[None] if self.unbatched else dcols
        dx = self.geo.col2im(dcols, self.x_shape, self.blocks)
        return dx[0] if self.unbatched else dx


class FoldFunction(Function):
    """x = col2im(cols): (N, C*KH*KW, L) -> (N, C, H, W), overlaps summed; backward im2col."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        self.geo = _Geometry("fold", kernel_size, dilation, padding, stride)
        self.output_size = _pair("fold", "output_size", output_size, 1)

    def forward(self, cols):
        geo = self.geo
        if cols.ndim not in (2, 3):
            raise ValueError(f"fold: expected input (N, C*KH*KW, L) or unbatched "
                             f"(C*KH*KW, L), got shape {tuple(cols.shape)}")
        self.unbatched = cols.ndim == 2
        cols = cols[None] if self.unbatched else cols
        n, rows, length = cols.shape
        kh, kw = geo.kernel
        if rows % (kh * kw):
            raise ValueError(f"fold: the input's channel dimension ({rows}, shape "
                             f"{tuple(cols.shape)}) must be divisible by the product of "
                             f"kernel_size {geo.kernel} = {kh * kw}")
        self.blocks = geo.blocks(self.output_size)
        if length != self.blocks[0] * self.blocks[1]:
            raise ValueError(f"fold: output_size={self.output_size} with {geo.describe()} "
                             f"gives {self.blocks[0]} * {self.blocks[1]} = "
                             f"{self.blocks[0] * self.blocks[1]} blocks, but the input's "
                             f"last dimension L is {length} (shape {tuple(cols.shape)})")
        self.x_shape = (n, rows // (kh * kw)) + self.output_size
        x = geo.col2im(cols, self.x_shape, self.blocks)
        return x[0] if self.unbatched else x

    def backward(self, dx):
        dx = dx[None] if self.unbatched else dx
        dcols = self.geo.im2col(dx, self.blocks)
        return dcols[0] if self.unbatched else dcols


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks of ``input`` as columns, like ``torch.nn.functional.unfold``.

    input (N, C, H, W) -> (N, C*KH*KW, L), or (C, H, W) -> (C*KH*KW, L); rows in
    (c, i, j) order, L = OH*OW blocks (see the module docstring).  ``kernel_size``,
    ``dilation``, ``padding``, ``stride``: an int or an (h, w) pair.
    """
    return UnfoldFunction(kernel_size, dilation, padding, stride)(as_tensor(input))


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum columns back into an image, like ``torch.nn.functional.fold`` (unfold's adjoint).

    input (N, C*KH*KW, L) -> (N, C, H, W) with (H, W) = ``output_size``, or
    (C*KH*KW, L) -> (C, H, W); L must be the number of blocks that fit
    ``output_size``.  Values of overlapping blocks are summed.
    """
    return FoldFunction(output_size, kernel_size, dilation, padding, stride)(as_tensor(input))
