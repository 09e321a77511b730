"""Resizing NCHW tensors (and signals and volumes): ``interpolate`` and upsample_nearest2d.

Modes "nearest" and "nearest-exact" gather, "bilinear" and "bicubic" are two
matrix products (below), "area" is ``adaptive_avg_pool2d`` (avg_pool.py).

Nearest
-------
Output element (oh, ow) copies input element (src_h[oh], src_w[ow]) with, as in
PyTorch's "nearest" mode,

    src_h[oh] = min(floor(oh * scale_h), H - 1),
    scale_h = 1 / scale_factor   (or H / Ho when size is given)

For an integer factor r (the U-Net decoder's 2x) that is simply oh // r: the
output is the input with every row and column repeated r times, and the
gradient of an input element is the sum of the r x r block of output
gradients it was copied to.  Any other size gathers rows and columns by index
and scatters back with two one-hot matrix products.

The integer-factor copy and block sum run a block of planes at a time
(``blocking.plane_blocks``), which keeps the intermediate arrays small (timings
in ``benchmarks/NOTES.md``, "Nearest upsampling").  Backward adds the columns
of each block first (strided reads of g), then the rows of the smaller result.

Bilinear
--------
Along each axis, output o samples the input at a source coordinate ``src``
and mixes its two neighbours ``i0 = floor(src)``, ``i1 = min(i0 + 1, in - 1)``
with weights ``1 - t`` and ``t``, ``t = src - i0``.  That is a linear map, an
(out, in) matrix L with two entries per row, so the 2-D resize and its
gradient are two matrix products::

    y  = L_h @ x @ L_w.T          (Ho, H) @ (N, C, H, W) @ (W, Wo)
    dx = L_h.T @ dy @ L_w

The dense matrices keep it short and the same on a GPU; they cost about
Ho*H*W + Ho*W*Wo multiply-adds per plane where a two-tap gather would cost
4*Ho*Wo, which only matters for large images (the ResUNet upsamples with
"nearest").

Bicubic is the same with four taps a row, i0 - 1 .. i0 + 2 (clamped to the
edge), weighted by Keys's cubic convolution kernel with A = -0.75 (PyTorch's).
"""
import math
import numbers

import numpy as np

from ... import backend
from ...amp.autocast_mode import autocast_op
from ...autograd import Function, as_tensor
from ..blocking import plane_blocks
from ..shape import repeat_interleave
from .avg_pool import adaptive_avg_pool2d

__all__ = ["interpolate", "upsample_nearest2d"]


def _source_index(out_len, in_len, scale, exact=False):
    """src[o] = min(floor(o * scale), in_len - 1), in float32 like PyTorch's CPU kernel;
    ``exact`` ("nearest-exact"): the nearest pixel centre, floor((o + 0.5) * scale)."""
    o = np.arange(out_len, dtype=np.float32) + np.float32(0.5 if exact else 0.0)
    src = np.floor(o * np.float32(scale)).astype(np.int64)
    return np.minimum(src, in_len - 1)


def repeat_elements(x, rh, rw):
    """(N, C, H, W) -> (N, C, H*rh, W*rw): every element becomes an rh x rw block.

    Per block of planes: repeat the columns, then broadcast every row into its
    rh copies (a contiguous copy).
    """
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    planes = x.reshape(n * c, h, w)
    out = xp.empty((n, c, h * rh, w * rw), dtype=x.dtype)
    out_planes = out.reshape(n * c, h, rh, w * rw)
    for b in plane_blocks(planes):
        out_planes[b] = planes[b].repeat(rw, axis=2)[:, :, None, :]
    return out


def sum_blocks(g, rh, rw):
    """(N, C, H*rh, W*rw) -> (N, C, H, W): the sum of every rh x rw block (repeat's adjoint).

    Per block of planes: add the rw columns of each block (strided views),
    then the rh rows of the half-size result (contiguous rows).
    """
    xp = backend.get_array_module(g)
    n, c, ho, wo = g.shape
    h, w = ho // rh, wo // rw
    planes = g.reshape(n * c, h, rh, w, rw)
    # Allocated in its final shape: a leaf keeps an array that owns its memory as .grad.
    out = xp.empty((n, c, h, w), dtype=g.dtype)
    out_planes = out.reshape(n * c, h, w)
    for b in plane_blocks(g.reshape(n * c, ho, wo)):
        cols = _sum_views([planes[b, :, :, :, k] for k in range(rw)])  # (P, H, rh, W)
        _sum_views([cols[:, :, k] for k in range(rh)], out=out_planes[b])
    return out


def _sum_views(views, out=None):
    """The sum of equally shaped arrays, into ``out`` (or a new array)."""
    xp = backend.get_array_module(views[0])
    if out is None:
        out = xp.empty(views[0].shape, dtype=views[0].dtype)
    if len(views) == 1:
        out[...] = views[0]
    else:
        xp.add(views[0], views[1], out=out)
    for view in views[2:]:
        out += view
    return out


def _one_hot(xp, src, in_len, dtype):
    """(len(src), in_len) matrix with a 1 at (o, src[o]): the gather as a linear map."""
    return backend.constant(src[:, None] == np.arange(in_len)[None, :], xp, dtype)


class UpsampleNearest2dFunction(Function):
    """y[n, c, oh, ow] = x[n, c, src_h[oh], src_w[ow]]  (N, C, H, W) -> (N, C, Ho, Wo).

    Backward: dx[n, c, h, w] = sum of dy over the outputs copied from (h, w).
    Saves nothing but the index maps (or the integer factors).
    """

    def __init__(self, out_size, scales, exact=False, planar=True):
        self.out_size = out_size
        self.scales = scales
        self.exact = exact
        self.planar = planar

    def _integer_factors(self, h, w):
        """(ho // h, wo // w) when every output row/column copies input index o // r, else None.

        That holds when the scale is exactly 1 / r; for images (``planar``) in
        mode "nearest", also for r = 1 and r = 2 whatever the scale, which
        PyTorch's 2-D nearest kernel special-cases (its 1-D and 3-D kernels and
        "nearest-exact" do not: a 1-D or 3-D resize passes ``planar=False``).
        """
        shortcut = self.planar and not self.exact
        factors = []
        for n_in, n_out, scale in zip((h, w), self.out_size, self.scales):
            r = n_out // n_in
            if n_out != r * n_in or ((r > 2 or not shortcut) and scale * r != 1.0):
                return None
            factors.append(r)
        return tuple(factors)

    def forward(self, x):
        (h, w), (ho, wo) = x.shape[2:], self.out_size
        self.in_size = (h, w)
        self.factors = self._integer_factors(h, w)
        if self.factors is not None:
            return repeat_elements(x, *self.factors)
        xp = backend.get_array_module(x)
        self.src_h = _source_index(ho, h, self.scales[0], self.exact)
        self.src_w = _source_index(wo, w, self.scales[1], self.exact)
        # Index tables made on the host, kept on the device per content (backend.constant).
        rows, cols = backend.constant(self.src_h, xp), backend.constant(self.src_w, xp)
        return x[:, :, rows[:, None], cols[None, :]]

    def backward(self, g):
        if self.factors is not None:
            return sum_blocks(g, *self.factors)
        xp = backend.get_array_module(g)
        (h, w) = self.in_size
        rows = _one_hot(xp, self.src_h, h, g.dtype)  # (Ho, H)
        cols = _one_hot(xp, self.src_w, w, g.dtype)  # (Wo, W)
        return xp.matmul(xp.matmul(rows.T, g), cols)  # (H, Ho) @ (N, C, Ho, Wo) @ (Wo, W)


def _per_axis(op, name, value, dims, kind, check):
    """``value`` (one value, or one per spatial axis) as a list of ``dims`` values, checked."""
    values = list(value) if isinstance(value, (tuple, list)) else [value] * dims
    if len(values) != dims or not all(check(v) for v in values):
        many = {1: "one", 2: "a pair", 3: "a triple"}[dims]
        raise ValueError(f"{op}: {name} must be a positive {kind} or {many} of them for a "
                         f"{dims + 2}-D input, got {value!r}")
    return values


def _output_size(op, shape, size, scale_factor, recompute_scale_factor):
    """(output size, source-index scales), one value per spatial axis of ``shape``."""
    spatial = tuple(shape[2:])
    dims = len(spatial)
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor "
                         f"(got size={size!r}, scale_factor={scale_factor!r})")
    if size is not None:
        sizes = _per_axis(op, "size", size, dims, "int",
                          lambda s: isinstance(s, numbers.Integral) and s > 0)
        out = tuple(int(s) for s in sizes)
        return out, tuple(n / o for n, o in zip(spatial, out))
    factors = _per_axis(op, "scale_factor", scale_factor, dims, "number",
                        lambda f: isinstance(f, numbers.Real) and f > 0)
    out = tuple(int(math.floor(n * f)) for n, f in zip(spatial, factors))
    if min(out) < 1:
        raise ValueError(f"{op}: scale_factor {scale_factor!r} shrinks the input of shape "
                         f"{tuple(shape)} to nothing")
    if recompute_scale_factor:
        return out, tuple(n / o for n, o in zip(spatial, out))
    return out, tuple(1.0 / f for f in factors)


@autocast_op
def upsample_nearest2d(input, scale_factor=None, size=None):
    """Nearest-neighbour resize of (N, C, H, W) to (N, C, Ho, Wo): ``scale_factor`` or ``size``.

    ``upsample_nearest2d(x, 2)`` doubles H and W (every pixel becomes a 2x2
    block).  Same result as ``interpolate(x, size, scale_factor, mode="nearest")``.
    """
    x = _as_4d("upsample_nearest2d", input)
    out_size, scales = _output_size("upsample_nearest2d", x.shape, size, scale_factor, None)
    return UpsampleNearest2dFunction(out_size, scales)(x)


def _source_coordinates(out_len, in_len, scale, align_corners, dtype, clamp=True):
    """Where each output sample lies on the input axis, PyTorch's linear-mode rule.

    ``align_corners=True``: the corner samples of input and output coincide,
    ``src = o * (in - 1) / (out - 1)``.  ``False``: pixels are unit areas,
    ``src = (o + 0.5) * scale - 0.5``, clamped at 0 (``scale`` is the input
    length per output sample, see ``_output_size``).  Computed in ``dtype``,
    as PyTorch does.
    """
    o = np.arange(out_len, dtype=dtype)
    if align_corners:
        step = dtype.type(in_len - 1) / dtype.type(out_len - 1) if out_len > 1 else dtype.type(0)
        return o * step
    src = (o + dtype.type(0.5)) * dtype.type(scale) - dtype.type(0.5)
    return src if not clamp else np.maximum(src, 0)


def linear_taps(out_len, in_len, scale, align_corners, dtype):
    """1-D linear interpolation as (i0, i1, t): output o is (1 - t[o]) x[i0[o]] + t[o] x[i1[o]].

    An axis whose length does not change is copied (t = 0), whatever the scale, as
    PyTorch's linear kernels do (``scale_factor=1.1`` on 8 slices keeps the 8 slices).
    """
    if out_len == in_len:
        same = np.arange(in_len)
        return same, same, np.zeros(in_len, dtype=dtype)
    src = _source_coordinates(out_len, in_len, scale, align_corners, np.dtype(dtype))
    i0 = np.minimum(np.floor(src).astype(np.int64), in_len - 1)
    i1 = np.minimum(i0 + 1, in_len - 1)
    return i0, i1, np.clip(src - i0, 0, 1)


def linear_matrix(out_len, in_len, scale, align_corners, dtype):
    """The (out_len, in_len) matrix of 1-D linear interpolation: ``y = L @ x`` along one axis."""
    i0, i1, t = linear_taps(out_len, in_len, scale, align_corners, dtype)
    rows = np.arange(out_len)
    matrix = np.zeros((out_len, in_len), dtype=dtype)
    np.add.at(matrix, (rows, i0), 1 - t)       # add.at: at the last pixel i0 == i1
    np.add.at(matrix, (rows, i1), t)
    return matrix


#: Keys's cubic convolution parameter, PyTorch's (and OpenCV's) A
CUBIC_A = -0.75


def _cubic_weights(t):
    """The 4 weights of taps i0 - 1, i0, i0 + 1, i0 + 2 for a sample at i0 + t (Keys 1981)."""
    a = CUBIC_A

    def near(d):            # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):             # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return far(t + 1), near(t), near(1 - t), far(2 - t)


def cubic_matrix(out_len, in_len, scale, align_corners, dtype):
    """The (out_len, in_len) matrix of 1-D cubic interpolation, PyTorch's "bicubic" along one
    axis: four taps around the (unclamped) source coordinate, indices clamped to the edge."""
    src = _source_coordinates(out_len, in_len, scale, align_corners, np.dtype(dtype),
                              clamp=False)
    i0 = np.floor(src).astype(np.int64)
    weights = _cubic_weights(src - i0)
    rows = np.arange(out_len)
    matrix = np.zeros((out_len, in_len), dtype=np.float64)
    for offset, weight in zip((-1, 0, 1, 2), weights):
        np.add.at(matrix, (rows, np.clip(i0 + offset, 0, in_len - 1)), weight)
    return matrix.astype(dtype)


class UpsampleBilinear2dFunction(Function):
    """y = L_h @ x @ L_w.T: (N, C, H, W) -> (N, C, Ho, Wo); dx = L_h.T @ dy @ L_w.

    Saves only the two interpolation matrices (Ho, H) and (Wo, W), when dx is wanted.
    ``matrix`` builds them (linear here; cubic for ``UpsampleBicubic2dFunction``).
    """
    matrix = staticmethod(linear_matrix)

    def __init__(self, out_size, scales, align_corners):
        self.out_size, self.scales, self.align_corners = out_size, scales, align_corners

    def forward(self, x):
        xp = backend.get_array_module(x)
        rows, cols = (backend.constant(self.matrix(n_out, n_in, scale, self.align_corners,
                                                   x.dtype), xp)
                      for n_out, n_in, scale in zip(self.out_size, x.shape[2:], self.scales))
        self.rows, self.cols = (rows, cols) if self.needs_input_grad[0] else (None, None)
        return xp.matmul(xp.matmul(rows, x), cols.T)

    def backward(self, g):
        xp = backend.get_array_module(g)
        return xp.matmul(xp.matmul(self.rows.T, g), self.cols)


class UpsampleBicubic2dFunction(UpsampleBilinear2dFunction):
    """Bicubic resize: the same two matrix products with cubic interpolation matrices."""
    matrix = staticmethod(cubic_matrix)


def _as_4d(op, input):
    x = as_tensor(input)
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    return x


#: The modes of each input rank, PyTorch's: "linear" resizes (N, C, L), "bilinear" and
#: "bicubic" (N, C, H, W), "trilinear" (N, C, D, H, W).
_MODES = {3: ("nearest", "nearest-exact", "linear", "area"),
          4: ("nearest", "nearest-exact", "bilinear", "bicubic", "area"),
          5: ("nearest", "nearest-exact", "trilinear", "area")}
_ALL_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
_INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")


@autocast_op
def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize (N, C, L), (N, C, H, W) or (N, C, D, H, W) like ``torch.nn.functional.interpolate``.

    ``mode``: "nearest" (PyTorch's, floor(o * scale)), "nearest-exact" (the
    nearest pixel centre), "linear" (3-D input), "bilinear" or "bicubic"
    (4-D; Keys's cubic, A = -0.75, can overshoot the input's range, as
    PyTorch's does), "trilinear" (5-D), or "area" (the average of each output
    pixel's window, the adaptive average pool).
    Give ``size`` or ``scale_factor`` (one value, or one per spatial axis; then
    Ho = floor(H * factor)).  ``align_corners`` (the interpolating modes; None
    means False) puts the corner samples of input and output on each other
    instead of treating pixels as unit areas.  ``recompute_scale_factor=True``
    takes the sampling positions from the rounded output size instead of
    ``scale_factor``.  ``antialias`` is not supported.  As in PyTorch, the
    linear modes copy an axis whose length the resize keeps (``scale_factor=1.1``
    of 8 slices is 8 slices, unchanged), and nearest takes the 2x shortcut
    (o // 2) for images only.

    Every mode is separable, so 3-D and 5-D inputs reuse the 2-D resize: a
    signal is an image one row high, and a volume is resized slice by slice in
    (H, W), then along D (``_resize_depth``).
    """
    if mode not in _ALL_MODES:
        raise ValueError(f"interpolate: mode must be one of "
                         f"{', '.join(map(repr, _ALL_MODES))}, got {mode!r}")
    if mode not in _INTERPOLATING and align_corners is not None:
        raise ValueError("interpolate: align_corners option can only be set with the "
                         "interpolating modes (linear, bilinear, bicubic, trilinear), not with "
                         f"mode={mode!r}")
    if antialias:
        raise NotImplementedError(f"interpolate: antialias=True is not supported (mode={mode!r})")
    x = as_tensor(input)
    if x.ndim not in _MODES:
        raise ValueError(f"interpolate: expected a 3-D (N, C, L), 4-D (N, C, H, W) or 5-D "
                         f"(N, C, D, H, W) input, got shape {tuple(x.shape)}")
    if mode not in _MODES[x.ndim]:
        needs = next(rank for rank, modes in _MODES.items() if mode in modes)
        raise ValueError(f"interpolate: got a {x.ndim}-D input of shape {tuple(x.shape)}, but "
                         f"mode {mode!r} needs a {needs}-D input")
    out_size, scales = _output_size("interpolate", x.shape, size, scale_factor,
                                    recompute_scale_factor)
    plane_mode = "bilinear" if mode in ("linear", "trilinear") else mode
    if x.ndim == 4:
        return _resize_planes(x, out_size, scales, mode, align_corners)
    if x.ndim == 3:      # a signal: an image one row high
        y = _resize_planes(x.unsqueeze(2), (1,) + out_size, (1.0,) + scales, plane_mode,
                           align_corners, planar=False)
        return y.squeeze(2)
    n, c, d, h, w = x.shape
    y = _resize_planes(x.reshape(n, c * d, h, w), out_size[1:], scales[1:], plane_mode,
                       align_corners, planar=False)
    oh, ow = y.shape[2:]
    z = _resize_depth(y.reshape(n, c, d, oh * ow), out_size[0], scales[0], mode, align_corners)
    return z.reshape(n, c, out_size[0], oh, ow)


def _resize_planes(x, out_size, scales, mode, align_corners, planar=True):
    """The 2-D resize of (N, C, H, W) to (N, C) + out_size (``planar``: of an image, with
    the 2-D kernel's nearest shortcuts; see ``UpsampleNearest2dFunction``)."""
    if mode == "bilinear":
        return UpsampleBilinear2dFunction(out_size, scales, bool(align_corners))(x)
    if mode == "bicubic":
        return UpsampleBicubic2dFunction(out_size, scales, bool(align_corners))(x)
    if mode == "area":
        return adaptive_avg_pool2d(x, out_size)
    return UpsampleNearest2dFunction(out_size, scales, mode == "nearest-exact", planar)(x)


def _resize_depth(z, out_len, scale, mode, align_corners):
    """Resize (N, C, D, M) along D to (N, C, out_len, M), PyTorch's 1-D rule of ``mode``.

    Nearest gathers slices src[o] = floor(o * scale) (an exact integer upsampling
    repeats them); linear mixes the two slices around each source coordinate;
    area averages each output slice's window (the adaptive average pool).  The
    gathers and products are tinynet ops, so autograd gives the gradient, and an
    inf or NaN stays in the slices that use it.
    """
    depth = z.shape[2]
    if mode == "area":
        return adaptive_avg_pool2d(z, (out_len, z.shape[3]))
    if mode in ("nearest", "nearest-exact"):
        factor = out_len // depth
        if out_len == factor * depth and scale * factor == 1.0:
            return z if factor == 1 else repeat_interleave(z, factor, dim=2)
        return z[:, :, _source_index(out_len, depth, scale, mode == "nearest-exact")]
    if out_len == depth:      # PyTorch's linear kernels copy an unchanged axis
        return z
    i0, i1, t = linear_taps(out_len, depth, scale, bool(align_corners), z.dtype)
    weight = as_tensor(backend.to_device(t.astype(z.dtype).reshape(-1, 1), z.device))
    return z[:, :, i0] * (1 - weight) + z[:, :, i1] * weight
