"""Max pooling of NCHW arrays as two 1-D passes: along W within rows, then along H.

``max_pool2d`` runs ``MaxPool2dFunction``:

    row_max[p, h, ow] = max_j  x[p, h, ow*sw - pw + j*dw]          (W pass, j < kw)
    y[p, oh, ow]      = max_i  row_max[p, oh*sh - ph + i*dh, ow]   (H pass, i < kh)

over the N*C planes p, padding positions left out (PyTorch pads with -inf).
Each pass records the winning offset (uint8), the first one on ties, so that
backward routes every gradient to the element PyTorch picks without comparing
values again.

Why it is shaped like this (the timings are in ``benchmarks/NOTES.md``,
"Pooling and upsampling"; together about 7x faster than one 2-D loop over the
strided offsets with ``where``, forward and backward):

* Along W the window offsets are every second element; NumPy runs a
  stride-2 inner loop several times slower than a contiguous one, so the W
  pass first copies the even and odd columns into contiguous "phases"
  (``_phase``).
* The argmax is branch-free: ``maximum(argmax, (element > best) * j)``, and
  backward multiplies g by the mask ``argmax == j``; ``where()`` on random
  masks is several times slower.
* The work runs a block of planes at a time (``plane_blocks``): with
  whole-batch temporaries the page faults of fresh memory doubled the time.
* Inference (no gradient wanted) skips the argmax.
"""
from typing import NamedTuple

import numpy as np

from ... import backend
from ...autograd import Function, Tensor, as_tensor, is_grad_enabled
from ..blocking import plane_blocks
from ..conv.arguments import takes_one_sample
from .windows import check_4d, pool_geometry

__all__ = ["max_pool2d"]


class AxisWindows(NamedTuple):
    """The pooling windows along one axis: output o covers the positions
    o*stride - padding + j*dilation, j = 0 .. kernel-1 (those outside 0 .. length-1 are padding)."""
    length: int
    kernel: int
    stride: int
    padding: int
    dilation: int
    out: int

    def offsets(self):
        """Yield (j, outs, r, ins) for every window offset j that is a real element somewhere.

        ``outs`` is the slice of outputs o where element j lies inside the input;
        for them it is element ``ins`` of phase r, the sub-sequence of
        positions r, r + stride, r + 2*stride, ...  (position o*s + start is
        element o + start // s of phase start % s).
        """
        s = self.stride
        for j in range(self.kernel):
            start = j * self.dilation - self.padding  # position of element j in window 0
            lo = max(0, -(start // s))                 # first window where it is not padding
            hi = min(self.out, (self.length - 1 - start) // s + 1)
            if lo < hi:
                shift = start // s
                yield j, slice(lo, hi), start % s, slice(lo + shift, hi + shift)

    def first_real(self):
        """For every output, the first offset j that is a real element (NumPy, length out)."""
        first = np.zeros(self.out, dtype=np.int64)
        for j, outs, _, _ in reversed(list(self.offsets())):
            first[outs] = j
        return first

    @property
    def offset_dtype(self):
        """The smallest dtype that holds every offset j."""
        return np.uint8 if self.kernel <= 256 else np.int32


def _axis_windows(geo, axis):
    """AxisWindows of Geometry ``geo`` along axis 0 (H) or 1 (W)."""
    return AxisWindows(geo.size[axis], geo.kernel[axis], geo.stride[axis], geo.padding[axis],
                       geo.dilation[axis], geo.out[axis])


def _at(axis, index):
    """Index tuple selecting ``index`` (a slice) along ``axis``, everything elsewhere."""
    return (slice(None),) * axis + (index,)


def _phase(a, axis, r, s):
    """Positions r, r + s, ... of ``a`` along ``axis``, copied to a contiguous array when
    that axis is the last one: NumPy reads and writes a stride-2 last axis much slower
    than a contiguous one, and every offset of the window reads the phase twice."""
    xp = backend.get_array_module(a)
    view = a[_at(axis, slice(r, None, s))]
    return xp.ascontiguousarray(view) if s > 1 and axis == a.ndim - 1 else view


def max_along(x, axis, ax, argmax=None, out=None, nan_aware=False):
    """1-D max pool of ``x`` along ``axis`` with windows ``ax``, into ``out`` (or a new array).

    ``argmax``, when given, receives the offset j of the element that won
    each window.  Like PyTorch's loop, every window starts from -inf at its
    first real element and takes an element only when it is strictly greater,
    so the FIRST of tied maxima wins; with ``nan_aware`` a NaN also wins (the
    last NaN gets the gradient, as in PyTorch), which costs one more pass.
    """
    xp = backend.get_array_module(x)
    if out is None:
        out = xp.empty(x.shape[:axis] + (ax.out,) + x.shape[axis + 1:], dtype=x.dtype)
    phases = {}
    for n, (j, outs, r, ins) in enumerate(ax.offsets()):
        if r not in phases:
            phases[r] = _phase(x, axis, r, ax.stride)
        element = phases[r][_at(axis, ins)]
        best = out[_at(axis, outs)]
        if n == 0:  # copy the first offset; windows it misses (borders) start at -inf
            if outs != slice(0, ax.out):
                out.fill(-xp.inf)
            best[...] = element
            if argmax is not None:
                first = ax.first_real().reshape((-1,) + (1,) * (x.ndim - axis - 1))
                argmax[...] = backend.constant(first, xp, argmax.dtype)
            continue
        if argmax is not None:
            # Offsets come in increasing j, so the winner so far is the largest j that
            # beat the running maximum: a branch-free max of (beats * j).
            beats = xp.greater(element, best)
            if nan_aware:
                beats |= xp.isnan(element)
            won = argmax[_at(axis, outs)]
            xp.maximum(won, xp.multiply(beats, j, dtype=won.dtype), out=won)
        xp.maximum(best, element, out=best)
    return out


def max_along_backward(g, argmax, axis, ax, out=None):
    """Gradient of ``max_along`` into ``out`` (or a new array): each window's g goes to the
    element that won it (argmax), summed where an element won several windows.

    (The masks are applied by multiplication, so an infinite or NaN g spreads NaN
    over its whole window, where PyTorch keeps it at the argmax; finite g are exact.)
    """
    xp = backend.get_array_module(g)
    grad = out if out is not None else \
        xp.empty(g.shape[:axis] + (ax.length,) + g.shape[axis + 1:], dtype=g.dtype)
    strided = ax.stride > 1 and axis == g.ndim - 1  # then work in contiguous phase buffers
    phases = {}  # r -> gradient of the positions r, r + stride, ... along axis
    for j, outs, r, ins in ax.offsets():
        # g where element j won, else 0: a product with the mask, not where(), which
        # branches per element and is much slower on the random masks of a max pool.
        at = _at(axis, outs)
        won = argmax[at] == j
        if r in phases:
            phases[r][_at(axis, ins)] += g[at] * won
            continue
        view = grad[_at(axis, slice(r, None, ax.stride))]
        if ins == slice(0, view.shape[axis]):  # first contribution covers the phase: no zero fill
            phases[r] = xp.multiply(g[at], won, out=None if strided else view)
        else:
            phases[r] = xp.empty(view.shape, dtype=g.dtype) if strided else view
            phases[r].fill(0)
            phases[r][_at(axis, ins)] += g[at] * won
    for r in range(ax.stride):  # interleave the buffers; positions in no window get 0
        view = grad[_at(axis, slice(r, None, ax.stride))]
        if r not in phases:
            view.fill(0)
        elif strided:
            view[...] = phases[r]
    return grad


class MaxPool2dFunction(Function):
    """y[n, c, oh, ow] = max over the window of x_pad (padding is -inf, so never chosen).

    Computed as two 1-D max pools: along W within every row, then along H over
    those row maxima.  That is exact, ties included: the second pass takes the
    first row holding the maximum, the first pass the first column within that
    row, which is the first element in row-major window order, where PyTorch
    sends the gradient.  For stride 2 the element passes, k*H*Wo + k*Ho*Wo,
    equal the k*k*Ho*Wo of a direct 2-D loop, but the second pass reads whole
    contiguous rows and the first reads contiguous copies of the even and odd
    columns (see ``_phase``).

    Backward undoes the passes in reverse order.  Saved: the winning offset of
    both passes (uint8), (N, C, H, Wo) and (N, C, Ho, Wo).  With ``with_indices``
    the offsets are kept even without a gradient, and ``self.indices`` is set to
    the flat position h * W + w of every maximum in its plane (``input_indices``).
    """

    def __init__(self, geo, with_indices=False):
        self.rows = _axis_windows(geo, 0)
        self.cols = _axis_windows(geo, 1)
        self.with_indices = with_indices

    def forward(self, x):
        xp = backend.get_array_module(x)
        n, c, h, w = x.shape
        ho, wo = self.rows.out, self.cols.out
        planes = x.reshape(n * c, h, w)  # every (sample, channel) plane pools on its own
        y = xp.empty((n, c, ho, wo), dtype=x.dtype)
        y_planes = y.reshape(n * c, ho, wo)
        self.col_arg = self.row_arg = None
        if (is_grad_enabled() and self.needs_input_grad[0]) or self.with_indices:
            self.col_arg = xp.empty((n * c, h, wo), dtype=self.cols.offset_dtype)
            self.row_arg = xp.empty((n * c, ho, wo), dtype=self.rows.offset_dtype)
        for b in plane_blocks(planes):
            if xp is not np:
                # On the GPU, always the NaN-aware pass (one more elementwise kernel):
                # asking whether y holds a NaN would make the host wait for the device.
                self._pool(planes[b], y_planes[b], b, nan_aware=self.row_arg is not None)
                continue
            self._pool(planes[b], y_planes[b], b)
            if self.row_arg is not None and xp.isnan(y_planes[b]).any():
                self._pool(planes[b], y_planes[b], b, nan_aware=True)  # rare: route to the last NaN
        if self.with_indices:
            self.indices = self.input_indices(xp).reshape(n, c, ho, wo)
        return y

    def input_indices(self, xp):
        """Where each maximum lies in its (H, W) plane, h * W + w, from the two passes'
        winning offsets: the H pass chose row h = oh*sh - ph + j*dh, and the W pass, within
        that row, column w = ow*sw - pw + j'*dw (its offset j' read at row h)."""
        rows, cols = self.rows, self.cols
        out_rows = xp.arange(rows.out).reshape(1, -1, 1)
        out_cols = xp.arange(cols.out).reshape(1, 1, -1)
        h = out_rows * rows.stride - rows.padding + self.row_arg.astype(xp.int64) * rows.dilation
        col_offset = xp.take_along_axis(self.col_arg, h, axis=1).astype(xp.int64)
        w = out_cols * cols.stride - cols.padding + col_offset * cols.dilation
        return h * cols.length + w

    def _pool(self, x, y, b, nan_aware=False):
        """Pool the planes ``x`` (block ``b`` of the stack) into ``y``, W pass then H pass."""
        tracked = self.row_arg is not None
        row_max = max_along(x, 2, self.cols, self.col_arg[b] if tracked else None,
                            nan_aware=nan_aware)
        max_along(row_max, 1, self.rows, self.row_arg[b] if tracked else None, out=y,
                  nan_aware=nan_aware)

    def backward(self, g):
        xp = backend.get_array_module(g)
        n, c, ho, wo = g.shape
        g = g.reshape(n * c, ho, wo)
        # Allocated in its final shape: a leaf keeps an array that owns its memory as .grad.
        grad = xp.empty((n, c, self.rows.length, self.cols.length), dtype=g.dtype)
        grad_planes = grad.reshape(n * c, self.rows.length, self.cols.length)
        for b in plane_blocks(grad_planes):
            g_row_max = max_along_backward(g[b], self.row_arg[b], 1, self.rows)
            max_along_backward(g_row_max, self.col_arg[b], 2, self.cols, out=grad_planes[b])
        return grad


@takes_one_sample(4)
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling of an (N, C, H, W) tensor, like ``torch.nn.functional.max_pool2d``.

    ``stride`` defaults to ``kernel_size``; ``padding`` (at most half the
    kernel) adds -inf borders; ``ceil_mode`` rounds the output size up.
    Returns (N, C, Ho, Wo); with ``return_indices`` also the int64 indices
    (N, C, Ho, Wo) of the maxima, h * W + w within each plane, which
    ``max_unpool2d`` takes (SegNet's decoder).
    """
    x = as_tensor(input)
    check_4d("max_pool2d", x)
    geo = pool_geometry("max_pool2d", x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    pool = MaxPool2dFunction(geo, with_indices=bool(return_indices))
    y = pool(x)
    # the indices are not differentiable: the Function leaves them on itself, not as an output
    return (y, Tensor._from_array(pool.indices)) if return_indices else y
