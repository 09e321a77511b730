"""Sampling an image (or a volume) at arbitrary points: ``grid_sample`` and ``affine_grid``.

Spatial transformer networks (Jaderberg et al. 2015) and image registration (VoxelMorph,
Balakrishnan et al. 2019) warp an input by sampling it at a grid of points:

    output[n, c, h, w] = input[n, c] at the point grid[n, h, w] = (x, y)

with x along W and y along H in normalized coordinates, -1 and 1 being the edges.  The
point (x, y) lands at pixel coordinates (PyTorch's two conventions)::

    align_corners=True:   ix = (x + 1) / 2 * (W - 1)        -1 and 1: the corner pixels' centres
    align_corners=False:  ix = ((x + 1) * W - 1) / 2        -1 and 1: the corner pixels' outer edges

Bilinear sampling mixes the 2 x 2 pixels around (ix, iy) (2 x 2 x 2 voxels for a volume)
with the weights of linear interpolation along each axis; "nearest" takes the nearest one.
A pixel outside the input counts as 0 (``padding_mode="zeros"``) or the point is first
clamped to the border (``"border"``).  Everything is a composition of tinynet ops (a
gather of the corners, products with the weights), so autograd differentiates it with
respect to both the input (the gather's gradient adds each output back to its corners)
and the grid (through the weights, which are linear in the coordinates; nearest sampling
has no gradient for the grid, as in PyTorch).

``affine_grid(theta, size)`` makes the grid of an affine map: every output pixel's
normalized (x, y, 1) times theta^T (N, 2, 3), or (x, y, z, 1) and (N, 3, 4) for volumes.
"""
import itertools

from .. import backend
from ..autograd import as_tensor
from .creation import arange
from .math import floor, matmul, where
from .shape import expand, gather

__all__ = ["grid_sample", "affine_grid"]

_MODES = ("bilinear", "nearest")
_PADDING_MODES = ("zeros", "border")


def _pixel_coordinates(grid_axis, size, align_corners):
    """Normalized coordinates along one axis (-1 .. 1) -> pixel coordinates (0 .. size-1)."""
    if align_corners:
        return (grid_axis + 1) * ((size - 1) / 2)
    return ((grid_axis + 1) * size - 1) / 2


def _check(input, grid, mode, padding_mode):
    x, grid = as_tensor(input), as_tensor(grid)
    if x.ndim not in (4, 5):
        raise ValueError(f"grid_sample: expected input (N, C, H, W) or (N, C, D, H, W), got "
                         f"shape {tuple(x.shape)}")
    dims = x.ndim - 2
    if grid.ndim != x.ndim or grid.shape[0] != x.shape[0] or grid.shape[-1] != dims:
        layout = "(N, H_out, W_out, 2)" if dims == 2 else "(N, D_out, H_out, W_out, 3)"
        raise ValueError(f"grid_sample: grid must be {layout} for input of shape "
                         f"{tuple(x.shape)}, got {tuple(grid.shape)}")
    if mode not in _MODES:
        raise ValueError(f"grid_sample: mode must be one of {_MODES} (bicubic is not "
                         f"supported), got {mode!r}")
    if padding_mode not in _PADDING_MODES:
        raise ValueError(f"grid_sample: padding_mode must be one of {_PADDING_MODES} "
                         f"(reflection is not supported), got {padding_mode!r}")
    if grid.dtype != x.dtype:
        raise TypeError(f"grid_sample: input dtype {x.dtype} and grid dtype {grid.dtype} "
                        "differ")
    return x, grid


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Sample ``input`` at the points of ``grid``, like ``torch.nn.functional.grid_sample``.

    Shapes: input (N, C, H, W) and grid (N, H_out, W_out, 2) holding (x, y) in [-1, 1]
    -> (N, C, H_out, W_out); for volumes input (N, C, D, H, W) and grid (N, D_out, H_out,
    W_out, 3) holding (x, y, z) -> (N, C, D_out, H_out, W_out).  ``mode``: "bilinear"
    (trilinear for volumes, as PyTorch names it) or "nearest"; ``padding_mode``: "zeros" or
    "border"; ``align_corners`` (None means False) as in the module docstring.
    """
    x, grid = _check(input, grid, mode, padding_mode)
    n, channels = x.shape[:2]
    sizes = tuple(x.shape[2:])                                   # (H, W) or (D, H, W)
    out_shape = tuple(grid.shape[1:-1])
    points = grid.reshape(n, -1, len(sizes))                     # (N, Q, dims), x first
    # pixel coordinates per axis, in the input's axis order (D,) H, W
    coords = [_pixel_coordinates(points[:, :, len(sizes) - 1 - a], size, bool(align_corners))
              for a, size in enumerate(sizes)]
    if padding_mode == "border":
        coords = [c.clamp(0, size - 1) for c, size in zip(coords, sizes)]
    flat = x.reshape(n, channels, -1)                            # (N, C, P)
    if mode == "nearest":
        # PyTorch rounds half to even (nearbyint); the grid gets no gradient
        nearest = [as_tensor(backend.get_array_module(c.data).rint(c.data)) for c in coords]
        out = _corner(flat, nearest, sizes, channels)
    else:
        out = _bilinear(flat, coords, sizes, channels)
    return out.reshape((n, channels) + out_shape)


def _bilinear(flat, coords, sizes, channels):
    """The sum over the 2**dims corners around each point of corner value * weight."""
    below = [floor(c.detach()) for c in coords]                  # integer-valued, constant
    fraction = [c - b for c, b in zip(coords, below)]             # differentiable in the grid
    total = None
    for corner in itertools.product((0, 1), repeat=len(sizes)):
        weight = None
        for axis, upper in enumerate(corner):
            w = fraction[axis] if upper else 1 - fraction[axis]
            weight = w if weight is None else weight * w
        at = [b + upper for b, upper in zip(below, corner)]
        term = _corner(flat, at, sizes, channels) * weight.unsqueeze(1)
        total = term if total is None else total + term
    return total


def _corner(flat, at, sizes, channels):
    """The values (N, C, Q) of the pixels at integer coordinates ``at`` (one (N, Q) tensor
    per axis); 0 where a coordinate is outside the input."""
    xp = backend.get_array_module(flat.data)
    index = xp.zeros(at[0].shape, dtype=xp.int64)
    inside = xp.ones(at[0].shape, dtype=bool)
    for coordinate, size in zip(at, sizes):
        c = coordinate.data.astype(xp.int64)
        inside &= (c >= 0) & (c < size)
        index = index * size + xp.clip(c, 0, size - 1)
    n, q = index.shape
    values = gather(flat, 2, expand(as_tensor(index[:, None, :]), n, channels, q))
    return where(as_tensor(inside[:, None, :]), values, 0.0)


def affine_grid(theta, size, align_corners=None):
    """The sampling grid of the affine maps ``theta``, like ``F.affine_grid``.

    theta (N, 2, 3) and size (N, C, H, W) -> grid (N, H, W, 2); theta (N, 3, 4) and size
    (N, C, D, H, W) -> (N, D, H, W, 3).  Output pixel (h, w) at normalized (x, y) samples
    the input at theta @ (x, y, 1).  ``align_corners`` (None means False) as in grid_sample.
    """
    theta = as_tensor(theta)
    size = tuple(int(s) for s in size)
    dims = len(size) - 2
    if dims not in (2, 3) or tuple(theta.shape) != (size[0], dims, dims + 1):
        raise ValueError(f"affine_grid: expected theta (N, 2, 3) with size (N, C, H, W), or "
                         f"theta (N, 3, 4) with size (N, C, D, H, W); got theta of shape "
                         f"{tuple(theta.shape)} and size {size}")
    if theta.dtype.kind != "f":
        raise TypeError(f"affine_grid: theta must be floating point, got {theta.dtype}")
    xp = backend.get_array_module(theta.data)
    spatial = size[2:]                                            # (H, W) or (D, H, W)
    # base[..., k]: output pixel's normalized coordinate k (x along W first), then a 1
    columns = []
    for k in range(dims):
        n = spatial[dims - 1 - k]
        shape = [1] * dims
        shape[dims - 1 - k] = n
        positions = _normalized_positions(n, bool(align_corners), theta.dtype, theta.device)
        columns.append(xp.broadcast_to(positions.data.reshape(shape), spatial))
    columns.append(xp.ones(spatial, dtype=theta.dtype))
    points = as_tensor(xp.stack(columns, axis=-1)).reshape(1, -1, dims + 1)   # (1, P, dims+1)
    grid = matmul(points, theta.transpose(1, 2))                  # (N, P, dims)
    return grid.reshape((size[0],) + size[2:] + (dims,))


def _normalized_positions(n, align_corners, dtype, device):
    """The n pixel centres of one axis in normalized coordinates."""
    if align_corners:
        step = 2 / (n - 1) if n > 1 else 0.0
        return arange(n, dtype=dtype, device=device) * step - (1 if n > 1 else 0)
    return (arange(n, dtype=dtype, device=device) * 2 + 1) / n - 1
