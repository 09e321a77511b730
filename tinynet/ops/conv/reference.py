"""The reference conv2d: im2col and one matrix multiplication, forward and backward.  Read it first.

This file is a complete differentiable convolution on its own: its geometry,
im2col and col2im, the autograd ``Function`` and the function to call,
``conv2d_reference``.  A convolution (PyTorch's, which is a cross-correlation)
computes, for every sample n, output channel o and output pixel (oh, ow)::

    y[n, o, oh, ow] = bias[o] + sum_{c, i, j} weight[o, c, i, j]
                                            * x_pad[n, g*C/G + c, oh*sh + i*dh, ow*sw + j*dw]

where ``x_pad`` is x with zeros around it (``padding``), (sh, sw) the stride,
(dh, dw) the dilation, G the number of groups and g = o // (O/G) the group of
filter o (with G = 1, simply x_pad[n, c, ...]).  Copy the patch under every
output pixel into a column ("im2col") and the sum over (c, i, j) becomes one
matrix product for all pixels and all filters at once.  With L = OH*OW pixels
and K = C/G*KH*KW entries per patch::

    x     (N, C, H, W)                                 the input
    cols  (N, G, K, L)    = im2col(x), split by group  column p: the patch under pixel p
    W     (G, O/G, K)     = weight.reshape(G, O/G, K)  flattened in the same (c, i, j) order
    y     (N, G, O/G, L)  = W @ cols                   one GEMM (batched over n and g), then
                                                       + bias, reshaped to (N, O, OH, OW)

Backward follows from the matrix product, with dy reshaped like y::

    dW = sum_n dy[n] @ cols[n].T      the weight gradient, (G, O/G, K)
    dx = col2im(W.T @ dy)             col2im adds every column entry back onto the pixel
                                      im2col copied it from: it is im2col's transpose
    db = dy summed over n, oh, ow

That is all of it.  The fast algorithms (``im2col_algorithm.py``, ``rows.py``,
``winograd.py``, run by ``dispatch.py``) compute the same numbers with less
memory traffic; the tests check each of them against this file.
``use_algorithm("reference")`` makes ``tn.ops.conv2d`` (and so every
``nn.Conv2d``) call ``conv2d_reference``.
"""
import numbers
from typing import NamedTuple

from ... import backend
from ...autograd import Function

__all__ = ["conv2d_reference", "Conv2dReference", "Geometry", "conv_geometry", "im2col",
           "col2im"]


# ---------------------------------------------------------------------------
# Geometry: where the kernel sits, and the output size
# ---------------------------------------------------------------------------
# arguments.py holds the same rules (and more checks) for the fast algorithms; they are
# repeated here on purpose, so that this file can be read and run on its own.

class Geometry(NamedTuple):
    """A conv2d call without its numbers: the shapes, and (h, w) pairs for the rest."""
    x_shape: tuple        # (N, C, H, W)
    weight_shape: tuple   # (O, C/G, KH, KW)
    stride: tuple         # (sh, sw)
    padding: tuple        # ((top, bottom), (left, right)): zeros added around x
    dilation: tuple       # (dh, dw): the kernel taps are dh rows, dw columns apart
    groups: int           # G
    out_size: tuple       # (OH, OW)


def _pair(name, value, minimum):
    """``value`` (an int, or an (h, w) pair of ints, each >= ``minimum``) as an (h, w) tuple."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) for v in pair):
        raise TypeError(f"conv2d: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"conv2d: {name} must be >= {minimum}, got {value!r}")
    return pair


def _padding(padding, kernel, stride, dilation):
    """((top, bottom), (left, right)) from an int, an (h, w) pair, ``"valid"`` or ``"same"``."""
    if not isinstance(padding, str):
        return tuple((p, p) for p in _pair("padding", padding, 0))
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding != "same":
        raise ValueError(f"conv2d: padding must be ints, 'valid' or 'same', got {padding!r}")
    if stride != (1, 1):
        raise ValueError(f"conv2d: padding='same' needs stride 1, got stride {stride}")
    # Output size = input size: the dilated kernel overhangs by d*(k-1) pixels in all.
    # Like PyTorch, an odd total puts its extra zero at the bottom (right).
    totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
    return tuple((t // 2, t - t // 2) for t in totals)


def conv_geometry(x_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1):
    """Check conv2d's arguments against the shapes; return the ``Geometry``.

    The dilated kernel spans ``d*(k-1) + 1`` pixels and is placed at ``0, s,
    2s, ...`` on the padded input, so along each axis the output size is::

        out = (size + before + after - d*(k-1) - 1) // s + 1
    """
    if len(x_shape) != 4 or len(weight_shape) != 4:
        raise ValueError(f"conv2d: input (N, C, H, W) and weight (O, C/G, KH, KW) must be 4-D, "
                         f"got shapes {tuple(x_shape)} and {tuple(weight_shape)}")
    (_, c, h, w), (o, c_per_group, kh, kw) = x_shape, weight_shape
    if groups < 1 or o % groups or c != c_per_group * groups:
        raise ValueError(f"conv2d: input shape {tuple(x_shape)} and weight shape "
                         f"{tuple(weight_shape)} do not fit groups={groups}: need C = "
                         f"weight.shape[1] * groups and O divisible by groups")
    stride, dilation = _pair("stride", stride, 1), _pair("dilation", dilation, 1)
    padding = _padding(padding, (kh, kw), stride, dilation)
    out_size = tuple((size + before + after - d * (k - 1) - 1) // s + 1
                     for size, (before, after), k, s, d
                     in zip((h, w), padding, (kh, kw), stride, dilation))
    if min(kh, kw) < 1 or min(out_size) < 1:
        raise ValueError(f"conv2d: the kernel of weight shape {tuple(weight_shape)} does not fit "
                         f"into input shape {tuple(x_shape)} padded by {padding}")
    return Geometry(tuple(x_shape), tuple(weight_shape), stride, padding, dilation, groups,
                    out_size)


# ---------------------------------------------------------------------------
# im2col and its transpose, col2im
# ---------------------------------------------------------------------------

def _tap(i, j, geo):
    """The slices of x_pad that kernel tap (i, j) reads, for all output pixels at once.

    Output pixel (oh, ow) reads x_pad[oh*sh + i*dh, ow*sw + j*dw]: over all oh
    that is the rows i*dh, i*dh + sh, ..., i*dh + sh*(OH-1) (likewise columns).
    """
    (sh, sw), (dh, dw), (oh, ow) = geo.stride, geo.dilation, geo.out_size
    return (slice(None), slice(None), slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
            slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))


def im2col(x, geo):
    """(N, C, H, W) -> cols (N, C*KH*KW, OH*OW), rows in (c, i, j) order, like the weight's."""
    xp = backend.get_array_module(x)
    kh, kw = geo.weight_shape[2:]
    x_pad = xp.pad(x, ((0, 0), (0, 0)) + geo.padding)
    # One strided slice per kernel tap (KH*KW copies, not a loop over pixels), stacked
    # after the channel axis: (N, C, KH*KW, OH, OW), i.e. rows c*KH*KW + i*KW + j.
    taps = [x_pad[_tap(i, j, geo)] for i in range(kh) for j in range(kw)]
    return xp.stack(taps, axis=2).reshape(x.shape[0], -1, geo.out_size[0] * geo.out_size[1])


def col2im(cols, geo):
    """The transpose of ``im2col``: (N, C*KH*KW, OH*OW) -> (N, C, H, W), overlaps summed."""
    xp = backend.get_array_module(cols)
    (n, c, h, w), (kh, kw) = geo.x_shape, geo.weight_shape[2:]
    (top, bottom), (left, right) = geo.padding
    x_pad = xp.zeros((n, c, h + top + bottom, w + left + right), dtype=cols.dtype)
    taps = cols.reshape(n, c, kh * kw, *geo.out_size)
    for i in range(kh):
        for j in range(kw):
            # Within one tap no two output pixels read the same input pixel, so a slice
            # "+=" is exact; pixels under several taps receive the sum over the loop.
            x_pad[_tap(i, j, geo)] += taps[:, :, i * kw + j]
    return x_pad[:, :, top:top + h, left:left + w]     # the zeros' gradient is dropped


# ---------------------------------------------------------------------------
# The differentiable convolution
# ---------------------------------------------------------------------------

class Conv2dReference(Function):
    """y = conv2d(x, weight, bias) as im2col and one GEMM: see ``conv2d_reference``.

    Inputs: x (N, C, H, W), weight (O, C/G, KH, KW), bias (O,) or None.  Saved
    for backward: the geometry, the weight (for dx) and the columns (for dW),
    each None when that gradient is not wanted.
    """
    algorithm = "reference"   # its name in conv2d's dispatch (``use_algorithm``)

    def __init__(self, stride=1, padding=0, dilation=1, groups=1):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x, weight, bias=None):
        geo = self.geo = conv_geometry(x.shape, weight.shape, self.stride, self.padding,
                                       self.dilation, self.groups)
        n, o, g = x.shape[0], weight.shape[0], geo.groups
        if weight.dtype != x.dtype or (bias is not None and bias.dtype != x.dtype):
            raise TypeError(f"conv2d: input, weight and bias must have one dtype, got "
                            f"{x.dtype}, {weight.dtype}, {None if bias is None else bias.dtype}")
        cols = im2col(x, geo).reshape(n, g, -1, geo.out_size[0] * geo.out_size[1])  # (N,G,K,L)
        y = weight.reshape(g, o // g, -1) @ cols                                     # (N,G,O/G,L)
        y = y.reshape(n, o, *geo.out_size)
        if bias is not None:
            y = y + bias.reshape(1, o, 1, 1)
        self.weight = weight if self.needs_input_grad[0] else None
        self.cols = cols if self.needs_input_grad[1] else None
        return y

    def backward(self, dy):
        geo, g = self.geo, self.geo.groups
        n, o = dy.shape[:2]
        dy_groups = dy.reshape(n, g, o // g, -1)                                     # (N,G,O/G,L)
        dx = dw = db = None
        if self.weight is not None:
            dcols = self.weight.reshape(g, o // g, -1).transpose(0, 2, 1) @ dy_groups  # (N,G,K,L)
            dx = col2im(dcols.reshape(n, -1, dcols.shape[-1]), geo)
        if self.cols is not None:
            dw = (dy_groups @ self.cols.transpose(0, 1, 3, 2)).sum(axis=0)          # (G,O/G,K)
            dw = dw.reshape(geo.weight_shape)
        if self.needs_input_grad[2]:
            db = dy.sum(axis=(0, 2, 3))
        return dx, dw, db


def conv2d_reference(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution by im2col and one GEMM; ``torch.nn.functional.conv2d``'s arguments.

    ``y[n, o, oh, ow] = bias[o] + sum_{c, i, j} weight[o, c, i, j] *
    x_pad[n, g*C/G + c, oh*sh + i*dh, ow*sw + j*dw]`` (g = the group of filter o).

    Shapes: input (N, C, H, W), weight (O, C/G, KH, KW), bias (O,) or None ->
    (N, O, OH, OW) with ``OH = (H + 2*ph - dh*(KH-1) - 1) // sh + 1`` (likewise
    OW).  ``stride``, ``padding``, ``dilation``: an int or an (h, w) pair;
    ``padding`` may also be ``"valid"`` (none) or ``"same"`` (OH, OW = H, W;
    stride 1 only).  ``groups`` G splits the channels into G independent
    convolutions (C and O divisible by G).  Differentiable in input, weight and
    bias: ``conv2d_reference(x, w, b).sum().backward()`` fills their ``.grad``.
    """
    return Conv2dReference(stride, padding, dilation, groups)(input, weight, bias)
