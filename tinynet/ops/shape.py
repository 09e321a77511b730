"""Operations that move values around without arithmetic.

Reshaping (reshape/view, flatten, squeeze, unsqueeze), reordering (transpose,
permute, flip), copying out (expand, repeat), cutting up (indexing, split,
chunk, gather), joining (cat, stack), padding, triangles, dtype casts and
device copies.  Each backward applies the inverse movement to the gradient:
reshape back, transpose with the inverse permutation, scatter into zeros at
the indexed positions, concatenate the pieces, crop the padding, cast back,
copy back to the original device.
"""
import itertools

import numpy as np

from .. import backend
from ..amp.autocast_mode import autocast_op
from ..autograd import Function, Tensor, _wrap_dim, as_tensor
from ..dtypes import result_type
from .math import masked_fill, sum_to, where

__all__ = ["reshape", "flatten", "unflatten", "transpose", "swapaxes", "swapdims", "t", "permute",
           "movedim", "squeeze", "unsqueeze", "expand", "expand_as", "broadcast_to",
           "repeat", "tile", "flip", "getitem", "index_put", "index_select", "gather",
           "scatter", "scatter_add", "masked_select", "roll", "diag", "trace",
           "embedding", "narrow", "select", "split", "chunk", "unbind", "cat", "concat",
           "concatenate", "stack", "pad", "tril", "triu", "clone", "contiguous",
           "astype", "to_device", "hstack", "vstack", "meshgrid", "repeat_interleave",
           "diagonal", "pixel_shuffle", "pixel_unshuffle", "take_along_dim",
           "tensor_split", "rot90", "flipud", "fliplr", "block_diag", "cartesian_prod",
           "combinations", "index_add", "index_copy", "index_fill",
           "masked_scatter", "ravel", "moveaxis", "broadcast_shapes", "broadcast_tensors",
           "atleast_1d", "atleast_2d", "atleast_3d", "column_stack", "dstack", "hsplit",
           "vsplit", "dsplit", "diag_embed", "unravel_index", "scatter_reduce"]


def size_argument(sizes, name="size"):
    """Accept both ``f(x, 2, 3)`` and ``f(x, (2, 3))``: the sizes as a tuple of ints."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = sizes[0]
    try:
        return tuple(int(n) for n in sizes)
    except TypeError:
        raise TypeError(f"{name}: sizes must be ints, got {tuple(sizes)!r}") from None


# ---------------------------------------------------------------------------
# Reshaping
# ---------------------------------------------------------------------------

class Reshape(Function):
    """View ``x`` with a new shape (same number of elements); dx = dy reshaped back."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} "
                             f"({x.size} elements) into {tuple(self.shape)}") from None

    def backward(self, gy):
        return gy.reshape(self.in_shape)


def reshape(input, *shape):
    """``input`` with a new shape; one size may be -1 (inferred).  ``x.view`` is the same.

    ``reshape(x, 2, 3)`` and ``reshape(x, (2, 3))`` both work.
    """
    return Reshape(size_argument(shape, "reshape"))(input)


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dims ``start_dim..end_dim`` into one (``torch.flatten``); a 0-d tensor gives (1,)."""
    x = as_tensor(input)
    if x.ndim == 0:
        return Reshape((1,))(x)
    start, end = _wrap_dim(start_dim, x.ndim, "flatten"), _wrap_dim(end_dim, x.ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                         f"for a tensor of shape {x.shape}")
    return Reshape(x.shape[:start] + (-1,) + x.shape[end + 1:])(x)


def unflatten(input, dim, sizes):
    """Split dim ``dim`` into ``sizes`` (one may be -1) (``torch.unflatten``)."""
    x = as_tensor(input)
    dim = _wrap_dim(dim, x.ndim, "unflatten")
    return Reshape(x.shape[:dim] + tuple(sizes) + x.shape[dim + 1:])(x)


def squeeze(input, dim=None):
    """Remove size-1 dims: all of them, or those of ``dim`` (an int or a tuple) that are 1."""
    x = as_tensor(input)
    if dim is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        dims = {_wrap_dim(d, x.ndim, "squeeze") for d in ((dim,) if isinstance(dim, int) else dim)}
        shape = tuple(n for i, n in enumerate(x.shape) if not (i in dims and n == 1))
    return Reshape(shape)(x)


def unsqueeze(input, dim):
    """Insert a size-1 dim at position ``dim`` (in [-ndim-1, ndim])."""
    x = as_tensor(input)
    dim = _wrap_dim(dim, x.ndim + 1, "unsqueeze")
    return Reshape(x.shape[:dim] + (1,) + x.shape[dim:])(x)


# ---------------------------------------------------------------------------
# Reordering
# ---------------------------------------------------------------------------

class Permute(Function):
    """Reorder the dims of ``x``; dx = dy permuted by the inverse permutation."""

    def __init__(self, dims):
        self.dims = dims

    def forward(self, x):
        dims = tuple(_wrap_dim(d, x.ndim, "permute") for d in self.dims)
        if sorted(dims) != list(range(x.ndim)):
            raise ValueError(f"permute: dims {tuple(self.dims)} are not a permutation of the "
                             f"{x.ndim} dims of a tensor of shape {tuple(x.shape)}")
        self.inverse = tuple(np.argsort(dims))
        return x.transpose(dims)

    def backward(self, gy):
        return gy.transpose(self.inverse)


def permute(input, *dims):
    """Reorder dims (``torch.permute``): ``permute(x, 0, 2, 1)`` or ``permute(x, (0, 2, 1))``."""
    return Permute(size_argument(dims, "permute"))(input)


def transpose(input, dim0=None, dim1=None):
    """Swap dims ``dim0`` and ``dim1`` (``torch.transpose``).

    Without dims, all of them are reversed (NumPy's ``transpose()``, like ``x.T``).
    For more than two dims use ``permute``.
    """
    x = as_tensor(input)
    if dim0 is None and dim1 is None:
        return Permute(tuple(reversed(range(x.ndim))))(x)
    if dim0 is None or dim1 is None:
        raise TypeError("transpose: pass two dims to swap, e.g. x.transpose(1, 2) "
                        "(for a full reordering use permute)")
    dims = list(range(x.ndim))
    d0, d1 = _wrap_dim(dim0, x.ndim, "transpose"), _wrap_dim(dim1, x.ndim, "transpose")
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute(tuple(dims))(x)


swapaxes = swapdims = transpose


def t(input):
    """Transpose a matrix (a 0-D or 1-D tensor is returned as it is) (``torch.t``)."""
    x = as_tensor(input)
    if x.ndim > 2:
        raise ValueError(f"t: expects a tensor with <= 2 dimensions, got shape {x.shape} "
                         "(use transpose(d0, d1) or permute)")
    return transpose(x, 0, 1) if x.ndim == 2 else x


def movedim(input, source, destination):
    """Move dim ``source`` to position ``destination`` (ints or tuples of ints)."""
    x = as_tensor(input)
    source = [source] if isinstance(source, int) else list(source)
    destination = [destination] if isinstance(destination, int) else list(destination)
    source = [_wrap_dim(d, x.ndim, "movedim") for d in source]
    destination = [_wrap_dim(d, x.ndim, "movedim") for d in destination]
    rest = [d for d in range(x.ndim) if d not in source]
    order = [None] * x.ndim
    for s, d in zip(source, destination):
        order[d] = s
    fill = iter(rest)
    return Permute(tuple(o if o is not None else next(fill) for o in order))(x)


class Roll(Function):
    """Shift elements by ``shifts`` along ``dims`` (wrapping around); dx = dy rolled back."""

    def __init__(self, shifts, dims):
        self.shifts, self.dims = shifts, dims

    def forward(self, x):
        xp = backend.get_array_module(x)
        if self.dims is None:  # PyTorch: roll the flattened tensor, keep the shape
            return xp.roll(x.reshape(-1), self.shifts).reshape(x.shape)
        return xp.roll(x, self.shifts, axis=self.dims)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        back = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        if self.dims is None:
            return xp.roll(gy.reshape(-1), back).reshape(gy.shape)
        return xp.roll(gy, back, axis=self.dims)


def roll(input, shifts, dims=None):
    """Shift the elements by ``shifts`` along ``dims`` (ints or tuples), wrapping around;
    without ``dims`` the flattened tensor is rolled (``torch.roll``)."""
    as_tuple = isinstance(shifts, (tuple, list))
    shifts = tuple(shifts) if as_tuple else shifts
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else dims
    return Roll(shifts, dims)(input)


class Flip(Function):
    """Reverse the order along ``dims``; dx = dy flipped the same way."""

    def __init__(self, dims):
        self.dims = dims

    def forward(self, x):
        self.dims = tuple(_wrap_dim(d, x.ndim, "flip") for d in self.dims)
        return backend.get_array_module(x).flip(x, self.dims)

    def backward(self, gy):
        return backend.get_array_module(gy).flip(gy, self.dims)


def flip(input, dims):
    """Reverse the order of elements along ``dims`` (an int or a tuple)."""
    return Flip((dims,) if isinstance(dims, int) else tuple(dims))(input)


# ---------------------------------------------------------------------------
# Expanding and repeating
# ---------------------------------------------------------------------------

class BroadcastTo(Function):
    """Expand ``x`` to a larger shape by broadcasting; dx = dy summed back."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.in_shape = x.shape
        try:
            return xp.broadcast_to(x, self.shape)
        except ValueError:
            raise ValueError(f"expand: a tensor of shape {tuple(x.shape)} cannot be expanded "
                             f"to {self.shape} (only size-1 dims can grow)") from None

    def backward(self, gy):
        return sum_to(gy, self.in_shape)


def broadcast_to(input, size):
    """Expand ``input`` to ``size`` with broadcasting (``torch.broadcast_to``)."""
    return BroadcastTo(size)(input)


def expand(input, *sizes):
    """Expand size-1 dims to ``sizes`` without copying (``x.expand(3, -1)``; -1 keeps a size)."""
    x = as_tensor(input)
    sizes = size_argument(sizes, "expand")
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: {sizes} has fewer dims than the tensor's shape {x.shape}")
    shape = tuple(x.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
    if any(n < 0 for n in shape):
        raise ValueError(f"expand: -1 is not allowed for the new leading dims in {sizes}")
    return BroadcastTo(shape)(x)


def expand_as(input, other):
    """``input.expand(other.size())``."""
    return BroadcastTo(as_tensor(other).shape)(input)


class Repeat(Function):
    """Tile ``x`` ``repeats[d]`` times along each dim d; dx = the sum of dy's tiles.

    dy (r0 s0, r1 s1, ...) is viewed as (r0, s0, r1, s1, ...), and the
    repeat axes r_d are summed away.
    """

    def __init__(self, repeats):
        self.repeats = repeats

    def forward(self, x):
        if len(self.repeats) < x.ndim:
            raise ValueError(f"repeat: {len(self.repeats)} repeat counts for a tensor with "
                             f"{x.ndim} dims (shape {tuple(x.shape)}); give at least {x.ndim}")
        self.in_shape = x.shape
        self.padded = (1,) * (len(self.repeats) - x.ndim) + tuple(x.shape)
        return backend.get_array_module(x).tile(x.reshape(self.padded), self.repeats)

    def backward(self, gy):
        interleaved = [n for pair in zip(self.repeats, self.padded) for n in pair]
        summed = gy.reshape(interleaved).sum(axis=tuple(range(0, len(interleaved), 2)))
        return summed.reshape(self.in_shape)


def repeat(input, *repeats):
    """Repeat the tensor along each dim (``x.repeat(2, 1)``), like ``numpy.tile``."""
    return Repeat(size_argument(repeats, "repeat"))(input)


def tile(input, dims):
    """``repeat`` where fewer counts than dims mean 1 for the leading dims (``torch.tile``)."""
    x = as_tensor(input)
    dims = tuple(dims)
    return Repeat((1,) * (x.ndim - len(dims)) + dims)(x)


# ---------------------------------------------------------------------------
# Indexing
# ---------------------------------------------------------------------------

def _index_array(index):
    """One index element with a Tensor unwrapped to its array (lists stay lists: NumPy
    and CuPy both take them, and a NumPy array would not index a CuPy one)."""
    return index.data if isinstance(index, Tensor) else index


def normalize_index(index):
    """An index for the array: Tensors and lists inside it turned into arrays."""
    if isinstance(index, tuple):
        return tuple(_index_array(i) for i in index)
    return _index_array(index)


def _index_on_device(index, xp):
    """``index`` with its NumPy arrays moved to ``xp``'s device (nothing to do on the CPU)."""
    if xp is np:
        return index
    if isinstance(index, tuple):
        return tuple(_index_on_device(i, xp) for i in index)
    return xp.asarray(index) if isinstance(index, np.ndarray) else index


def _add_at(target, index, values):
    """``target[index] += values``, adding (not overwriting) where an index repeats.

    NumPy's ``add.at``; on the GPU CuPy's ``cupyx.scatter_add``, which does the same.
    """
    if backend.get_array_module(target) is np:
        np.add.at(target, index, values)
    else:
        import cupyx
        cupyx.scatter_add(target, index, values)


def _has_integer_array(index):
    """True if ``index`` holds an integer array, which may pick an element twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, list) or (hasattr(i, "dtype") and i.dtype.kind in "iu" and i.ndim > 0)
               for i in parts)


class GetItem(Function):
    """``x[index]`` (ints, slices, None, Ellipsis, integer or bool arrays and Tensors).

    Backward writes dy into zeros of x's shape at the indexed places; where an
    integer array may pick an element twice, ``add.at`` sums the repeats.
    """

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.in_shape = x.shape
        # A NumPy index array (or a CPU tensor's) indexes a GPU tensor too, as in PyTorch:
        # copied to the device, once, here.
        self.index = _index_on_device(self.index, backend.get_array_module(x))
        try:
            y = x[self.index]
        except IndexError as exc:
            raise IndexError(f"index {self.index!r} into a tensor of shape {tuple(x.shape)}: "
                             f"{exc}") from None
        if isinstance(y, np.generic):
            # An int for every axis: NumPy returns a copied scalar, PyTorch a 0-d view, so
            # that ``e = x[1, 2]; e += 5`` changes x.  A trailing ``...`` gives the view.
            index = self.index if isinstance(self.index, tuple) else (self.index,)
            y = x[index + (Ellipsis,)]
        return y

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        gx = xp.zeros(self.in_shape, dtype=gy.dtype)
        if _has_integer_array(self.index):
            _add_at(gx, self.index, gy)
        else:
            gx[self.index] = gy
        return gx


def getitem(input, index):
    """``input[index]`` with NumPy's (and PyTorch's) indexing rules."""
    return GetItem(normalize_index(index))(input)


class IndexPut(Function):
    """``x`` with ``x[index] = value`` (out of place); value broadcasts to ``x[index]``.

    dx = dy with the overwritten places zeroed; dvalue = dy[index], summed to
    value's shape.
    """

    def __init__(self, index):
        self.index = index

    def forward(self, x, value):
        out = x.copy()
        try:
            out[self.index] = value
        except (ValueError, IndexError) as exc:
            raise type(exc)(f"setting x[{self.index!r}] of shape {tuple(x.shape)} to a value "
                            f"of shape {tuple(value.shape)}: {exc}") from None
        self.value_shape = value.shape
        return out

    def backward(self, gy):
        gx = gv = None
        if self.needs_input_grad[0]:
            gx = gy.copy()
            gx[self.index] = 0
        if self.needs_input_grad[1]:
            gv = sum_to(gy[self.index], self.value_shape)
        return gx, gv


@autocast_op
def index_put(input, indices, values):
    """A copy of ``input`` with ``input[indices] = values``; gradients reach both."""
    input = as_tensor(input)
    values = as_tensor(values).to(input.device, input.dtype)
    return IndexPut(normalize_index(indices))(input, values)


def masked_select(input, mask):
    """The elements where the bool ``mask`` (broadcast to input) is True, as a 1-D tensor."""
    x = as_tensor(input)
    mask = _index_array(mask)
    return getitem(x, backend.get_array_module(mask).broadcast_to(mask, x.shape))


def diag(input, diagonal=0):
    """A 1-D input becomes a square matrix with it on the ``diagonal``; a 2-D input gives its
    ``diagonal`` as a 1-D tensor (``torch.diag``).  Built from index_put and indexing, so
    gradients flow."""
    x = as_tensor(input)
    xp = backend.get_array_module(x.data)
    if x.ndim == 1:
        n = x.shape[0] + abs(diagonal)
        rows = xp.arange(x.shape[0]) + max(-diagonal, 0)
        return index_put(xp.zeros((n, n), dtype=x.dtype), (rows, rows + diagonal), x)
    if x.ndim != 2:
        raise ValueError(f"diag: expects a 1-D or 2-D tensor, got shape {x.shape}")
    n = max(min(x.shape[0] + min(diagonal, 0), x.shape[1] - max(diagonal, 0)), 0)
    rows = xp.arange(n) + max(-diagonal, 0)
    return getitem(x, (rows, rows + diagonal))


@autocast_op
def trace(input):
    """The sum of the main diagonal of a matrix."""
    return diag(input).sum()


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """The rows of ``weight`` (num_embeddings, dim) at the integer ``input`` indices (any
    shape) -> (*input.shape, dim) (``F.embedding``).  The row ``padding_idx`` is looked up as
    usual but gets no gradient.  (max_norm, scale_grad_by_freq and sparse are not supported.)"""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not "
                                  "supported")
    weight, index = as_tensor(weight), as_tensor(input).data
    if index.dtype.kind not in "iu":
        raise TypeError(f"embedding: input must hold integer indices, got dtype {index.dtype}")
    if backend.device_of(index) != backend.device_of(weight.data):
        raise RuntimeError(f"embedding: input is on {backend.device_of(index)} but weight on "
                           f"{backend.device_of(weight.data)}: expected both on the same "
                           "device (as PyTorch; move it with .to(device))")
    if padding_idx is not None:
        # The padding row keeps its values but is cut from the graph: no gradient reaches it.
        xp = backend.get_array_module(weight.data)
        padding_row = (xp.arange(weight.shape[0]) == padding_idx % weight.shape[0])[:, None]
        weight = where(padding_row, weight.detach(), weight)
    return getitem(weight, index)


def index_select(input, dim, index):
    """The entries of ``input`` at the integer ``index`` (1-D) along ``dim``."""
    x = as_tensor(input)
    dim = _wrap_dim(dim, x.ndim, "index_select")
    return getitem(x, (slice(None),) * dim + (_index_array(index),))


def narrow(input, dim, start, length):
    """The slice ``start:start + length`` of dim ``dim``."""
    x = as_tensor(input)
    dim = _wrap_dim(dim, x.ndim, "narrow")
    return getitem(x, (slice(None),) * dim + (slice(start, start + length),))


def select(input, dim, index):
    """The entry ``index`` of dim ``dim``, which is removed (``x.select(1, 0)`` = x[:, 0])."""
    x = as_tensor(input)
    dim = _wrap_dim(dim, x.ndim, "select")
    return getitem(x, (slice(None),) * dim + (index,))


def _along_dim(index, dim):
    """The full index tuple that addresses ``x[..., index[i, j, k], ...]`` (index on ``dim``).

    For every position p of ``index`` it picks element p of x, except along
    ``dim``, where it picks ``index[p]``: the positions gather reads and scatter writes.
    """
    xp = backend.get_array_module(index)
    grids = [xp.arange(n).reshape([n if k == d else 1 for k in range(index.ndim)])
             for d, n in enumerate(index.shape)]
    grids[dim] = index
    return tuple(grids)


def _check_index(name, index, x_ndim, dim, x=None):
    index = _index_array(index)
    if x is not None and hasattr(index, "dtype") and \
            backend.device_of(index) != backend.device_of(x.data):
        raise RuntimeError(f"{name}: index is on {backend.device_of(index)} but input on "
                           f"{backend.device_of(x.data)}: expected both on the same device "
                           "(as PyTorch; move it with .to(device))")
    if not hasattr(index, "dtype"):
        raise TypeError(f"{name}: index must be an integer tensor, got {type(index).__name__}")
    if index.dtype.kind not in "iu":
        raise TypeError(f"{name}: index must be an integer tensor, got dtype {index.dtype}")
    if index.ndim != x_ndim:
        raise ValueError(f"{name}: index has {index.ndim} dims but input has {x_ndim} "
                         f"(index shape {tuple(index.shape)})")
    return index, _wrap_dim(dim, x_ndim, name)


class Gather(Function):
    """``y[i][j] = x[i][index[i][j]]`` along ``dim`` (for dim=1, as ``torch.gather``).

    ``index`` may be smaller than x in the other dims.  dx: dy added into
    zeros at the gathered places (an index may repeat).
    """

    def __init__(self, dim, index):
        self.dim, self.index = dim, index

    def forward(self, x):
        self.in_shape = x.shape
        return x[_along_dim(self.index, self.dim)]

    def backward(self, gy):
        gx = backend.get_array_module(gy).zeros(self.in_shape, dtype=gy.dtype)
        _add_at(gx, _along_dim(self.index, self.dim), gy)
        return gx


def gather(input, dim, index):
    """Pick values along ``dim`` at the int64 ``index`` (``torch.gather``)."""
    input = as_tensor(input)
    index, dim = _check_index("gather", index, input.ndim, dim, input)
    return Gather(dim, index)(input)


class Scatter(Function):
    """``y = x`` with ``y[i][index[i][j]] = src[i][j]`` along ``dim`` (added if ``add``).

    The inverse movement of gather: dsrc = dy gathered at the same places; dx =
    dy, except at the overwritten places (plain scatter), where x's values were lost.
    """

    def __init__(self, dim, index, add):
        self.dim, self.index, self.add = dim, index, add

    def forward(self, x, src):
        xp = backend.get_array_module(x)
        where = _along_dim(self.index, self.dim)
        crop = tuple(slice(0, n) for n in self.index.shape)
        self.src_shape = src.shape
        values = src[crop] if src.ndim else xp.broadcast_to(src, self.index.shape)
        out = x.copy()
        if self.add:
            _add_at(out, where, values.astype(x.dtype, copy=False))
        else:
            out[where] = values
        return out

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        where = _along_dim(self.index, self.dim)
        gx = gsrc = None
        if self.needs_input_grad[0]:
            gx = gy
            if not self.add:
                gx = gy.copy()
                gx[where] = 0
        if self.needs_input_grad[1]:
            gsrc = xp.zeros(self.src_shape, dtype=gy.dtype)
            gsrc[tuple(slice(0, n) for n in self.index.shape)] = gy[where]
        return gx, gsrc


def scatter(input, dim, index, src=None, *, value=None):
    """``input`` with ``src`` (a tensor, or the number ``value``) written at ``index`` along
    ``dim`` (``torch.scatter``): ``zeros(3, 4).scatter(1, labels[:, None], 1.0)`` is one-hot."""
    return _scatter("scatter", input, dim, index, src, value, add=False)


@autocast_op
def scatter_add(input, dim, index, src):
    """``input`` with ``src`` added at ``index`` along ``dim`` (repeats add up)."""
    return _scatter("scatter_add", input, dim, index, src, None, add=True)


def _scatter(name, input, dim, index, src, value, add):
    input = as_tensor(input)
    index, dim = _check_index(name, index, input.ndim, dim, input)
    if src is None:
        src = value
    if src is None:
        raise TypeError(f"{name}: give src (a tensor) or value (a number)")
    if not isinstance(src, Tensor):
        src = Tensor._from_array(backend.get_array_module(input.data).asarray(src, input.dtype))
    return Scatter(dim, index, add)(input, src)


# ---------------------------------------------------------------------------
# Cutting into pieces and joining
# ---------------------------------------------------------------------------

class Split(Function):
    """Cut ``x`` along ``dim`` into pieces of ``sizes``; dx = the pieces' gradients joined."""

    def __init__(self, dim, sizes):
        self.dim, self.sizes = dim, sizes

    def forward(self, x):
        xp = backend.get_array_module(x)
        bounds = [int(b) for b in np.cumsum(self.sizes)[:-1]]   # host ints, not a NumPy array
        return tuple(xp.split(x, bounds, axis=self.dim))

    def backward(self, *grads):
        return backend.get_array_module(grads[0]).concatenate(grads, axis=self.dim)


def split(tensor, split_size_or_sections, dim=0):
    """Cut into pieces along ``dim`` (``torch.split``): of one size (the last may be
    smaller), or of the sizes in a list, which must add up to the dim's length."""
    x = as_tensor(tensor)
    dim = _wrap_dim(dim, x.ndim, "split")
    n = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} add up to {sum(sizes)}, but dim {dim} of "
                             f"shape {x.shape} has length {n}")
    return Split(dim, sizes or [0])(x)


def chunk(input, chunks, dim=0):
    """Cut into ``chunks`` pieces of ceil(n / chunks) along ``dim`` (fewer if n is small)."""
    x = as_tensor(input)
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = x.shape[_wrap_dim(dim, x.ndim, "chunk")]
    return split(x, max(-(-n // chunks), 1), dim)


def unbind(input, dim=0):
    """The slices along ``dim``, each without that dim (``torch.unbind``)."""
    x = as_tensor(input)
    dim = _wrap_dim(dim, x.ndim, "unbind")
    return tuple(squeeze(piece, dim) for piece in split(x, 1, dim))


class Concat(Function):
    """Join tensors along ``dim``; dx_i = the slice of dy that x_i filled."""

    def __init__(self, dim, dtype):
        self.dim, self.dtype = dim, dtype

    def forward(self, *xs):
        xp = backend.get_array_module(*xs)
        ref = xs[0]
        dim = _wrap_dim(self.dim, ref.ndim, "cat")
        for i, x in enumerate(xs):
            if x.ndim != ref.ndim or any(a != b for k, (a, b) in enumerate(zip(x.shape, ref.shape))
                                         if k != dim):
                raise ValueError(f"cat: tensor {i} has shape {tuple(x.shape)}, which does not "
                                 f"match tensor 0's shape {tuple(ref.shape)} outside dim {dim}")
        self.dim = dim
        self.sizes = [x.shape[dim] for x in xs]
        return xp.concatenate([x.astype(self.dtype, copy=False) for x in xs], axis=dim)

    def backward(self, gy):
        bounds = [int(b) for b in np.cumsum(self.sizes)[:-1]]   # host ints, not a NumPy array
        xp = backend.get_array_module(gy)
        return tuple(xp.split(gy, bounds, axis=self.dim))


def _tensor_list(name, tensors):
    if isinstance(tensors, Tensor):
        raise TypeError(f"{name}: expected a sequence of tensors, got one Tensor "
                        "(wrap it in a list)")
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError(f"{name}: expected a non-empty sequence of tensors")
    return tensors


def cat(tensors, dim=0, *, axis=None):
    """Concatenate along an existing dim (``torch.cat``); dtypes are promoted."""
    tensors = _tensor_list("cat", tensors)
    dim = dim if axis is None else axis
    return Concat(dim, result_type(*tensors))(*tensors)


concat = concatenate = cat


class Stack(Function):
    """Stack same-shape tensors along a new ``dim``; dx_i = dy's i-th slice on that dim."""

    def __init__(self, dim, dtype):
        self.dim, self.dtype = dim, dtype

    def forward(self, *xs):
        xp = backend.get_array_module(*xs)
        for i, x in enumerate(xs):
            if x.shape != xs[0].shape:
                raise ValueError(f"stack: tensor {i} has shape {tuple(x.shape)} but tensor 0 "
                                 f"has {tuple(xs[0].shape)}; all must be equal")
        self.dim = _wrap_dim(self.dim, xs[0].ndim + 1, "stack")
        return xp.stack([x.astype(self.dtype, copy=False) for x in xs], axis=self.dim)

    def backward(self, gy):
        return tuple(gy.take(i, axis=self.dim) for i in range(gy.shape[self.dim]))


def stack(tensors, dim=0):
    """Stack along a new dim (``torch.stack``); dtypes are promoted."""
    tensors = _tensor_list("stack", tensors)
    return Stack(dim, result_type(*tensors))(*tensors)


# ---------------------------------------------------------------------------
# Padding and triangles
# ---------------------------------------------------------------------------

class Pad(Function):
    """Constant padding; ``widths`` is NumPy's ((before, after), ...) per dim.

    dx = dy cropped back to x's extent.
    """

    def __init__(self, widths, value):
        self.widths, self.value = widths, value

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(self.widths, x.shape))
        return xp.pad(x, self.widths, mode="constant", constant_values=self.value)

    def backward(self, gy):
        return gy[self.crop]


def pad(input, pad, mode="constant", value=None):
    """Pad, with ``torch.nn.functional.pad``'s argument order and modes.

    ``pad`` lists (before, after) pairs starting from the LAST dim:
    ``pad(x, (1, 1, 2, 2))`` pads W by 1 and H by 2 on each side.  ``mode``:

    * "constant": ``value`` (default 0) around the input;
    * "reflect": the input mirrored at its edge, the edge not repeated
      (``[1, 2, 3]`` padded by 2: ``[3, 2, 1, 2, 3, 2, 1]``; pad < size);
    * "replicate": the edge value repeated (``[1, 1, 1, 2, 3, 3, 3]``);
    * "circular": the input wrapped around (``[2, 3, 1, 2, 3, 1, 2]``; pad <= size).

    The three non-constant modes are gathers, ``x[..., index]`` along each padded
    dim, so their gradient is the gather's: each output's gradient added back to
    the input element it copies (``add.at``).
    """
    input = as_tensor(input)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: {tuple(pad)} must hold (before, after) pairs for at most "
                         f"{input.ndim} dims")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative padding {tuple(pad)} is not supported")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if mode == "constant":
        return Pad(tuple(widths), 0 if value is None else value)(input)
    if mode not in _PAD_INDEX:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', "
                         f"got {mode!r}")
    if value is not None and value != 0:
        raise ValueError(f"pad: value is for mode='constant' only (mode {mode!r})")
    for dim, (before, after) in enumerate(widths):
        if before or after:
            index = _PAD_INDEX[mode](input.shape[dim], before, after, mode)
            input = getitem(input, (slice(None),) * dim + (index,))
    return input


def _pad_size_check(size, before, after, mode):
    limit_ok = (max(before, after) < size if mode == "reflect" else
                max(before, after) <= size if mode == "circular" else size > 0)
    if not limit_ok:
        rule = {"reflect": "smaller than", "circular": "at most"}.get(mode, "on a non-empty")
        raise ValueError(f"pad: mode {mode!r} needs each padding {rule} the padded dim's "
                         f"size {size}, got ({before}, {after})")


def _reflect_index(size, before, after, mode):
    """Indices of ``[before mirrored], 0 .. size-1, [after mirrored]`` (period 2 (size - 1))."""
    _pad_size_check(size, before, after, mode)
    period = 2 * (size - 1)
    k = np.arange(-before, size + after) % max(period, 1)
    return np.where(k < size, k, period - k)


def _replicate_index(size, before, after, mode):
    _pad_size_check(size, before, after, mode)
    return np.clip(np.arange(-before, size + after), 0, size - 1)


def _circular_index(size, before, after, mode):
    _pad_size_check(size, before, after, mode)
    return np.arange(-before, size + after) % size


_PAD_INDEX = {"reflect": _reflect_index, "replicate": _replicate_index,
              "circular": _circular_index}


class Triangle(Function):
    """Keep the lower (``tril``) or upper (``triu``) triangle of the last two dims; zero the rest.

    ``diagonal`` shifts the border: 0 is the main diagonal, > 0 above it.  dx
    = dy on the kept triangle, 0 elsewhere.
    """

    def __init__(self, lower, diagonal):
        self.lower, self.diagonal = lower, diagonal

    def forward(self, x):
        if x.ndim < 2:
            raise ValueError(f"{'tril' if self.lower else 'triu'}: needs a tensor with at least "
                             f"2 dims, got shape {tuple(x.shape)}")
        xp = backend.get_array_module(x)
        ones = xp.ones(x.shape[-2:], dtype=bool)
        self.keep = xp.tril(ones, self.diagonal) if self.lower else xp.triu(ones, self.diagonal)
        return xp.where(self.keep, x, xp.zeros((), dtype=x.dtype))

    def backward(self, gy):
        return gy * self.keep


def tril(input, diagonal=0):
    """The lower triangle (``diagonal`` and below) of the last two dims; the rest is 0."""
    return Triangle(True, diagonal)(input)


def triu(input, diagonal=0):
    """The upper triangle (``diagonal`` and above) of the last two dims; the rest is 0."""
    return Triangle(False, diagonal)(input)


# ---------------------------------------------------------------------------
# Copies, casts and device moves
# ---------------------------------------------------------------------------

class Clone(Function):
    """A copy with its own memory; dx = dy."""

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


def clone(input):
    """A copy of ``input`` that stays in the graph (``torch.clone``)."""
    return Clone()(input)


def contiguous(input):
    """``input`` itself if its memory is C-contiguous, else a contiguous copy."""
    input = as_tensor(input)
    return input if input.data.flags.c_contiguous else Clone()(input)


class AsType(Function):
    """Cast to another dtype; the gradient is cast back (none flows to an integer input)."""

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.astype(self.in_dtype)


class ToDevice(Function):
    """Copy between CPU and GPU; the gradient is copied back to where x lives."""

    def __init__(self, device):
        self.device = backend.normalize_device(device)

    def forward(self, x):
        self.in_device = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        return backend.to_device(gy, self.in_device)


def astype(input, dtype):
    """Cast to ``dtype`` (gradients flow through float-to-float casts)."""
    return AsType(np.dtype(dtype))(input)


def to_device(input, device):
    """Copy ``input`` to ``"cpu"`` or ``"gpu"``, keeping it in the graph."""
    return ToDevice(device)(input)


# ---------------------------------------------------------------------------
# Compositions of the ops above (their gradients are those ops')
# ---------------------------------------------------------------------------

def hstack(tensors):
    """``cat`` along dim 1, or dim 0 for 1-D tensors (``torch.hstack``)."""
    tensors = [as_tensor(t) for t in tensors]
    tensors = [t.reshape(1) if t.ndim == 0 else t for t in tensors]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    """``cat`` along dim 0, a 1-D tensor (n,) taken as a row (1, n) (``torch.vstack``)."""
    tensors = [as_tensor(t) for t in tensors]
    return cat([t.reshape(1, -1) if t.ndim < 2 else t for t in tensors], 0)


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids of 1-D tensors: ``meshgrid(ys, xs)`` gives Y, X of shape (len ys,
    len xs) with Y[i, j] = ys[i], X[i, j] = xs[j].  ``indexing="xy"`` swaps the first two
    axes of every grid (NumPy's default, and the plotting convention)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    tensors = [as_tensor(t) for t in tensors]
    for t in tensors:
        if t.ndim > 1:
            raise ValueError(f"meshgrid: expects 0-D or 1-D tensors, got shape {tuple(t.shape)}")
    tensors = [t.reshape(-1) for t in tensors]
    if indexing == "xy" and len(tensors) >= 2:
        tensors[0], tensors[1] = tensors[1], tensors[0]
    sizes = tuple(t.shape[0] for t in tensors)
    grids = []
    for axis, t in enumerate(tensors):
        shape = [1] * len(tensors)
        shape[axis] = sizes[axis]
        grids.append(expand(t.reshape(shape), sizes))
    if indexing == "xy" and len(grids) >= 2:      # the grids back in the inputs' order
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Each element ``repeats`` times in a row along ``dim`` (the flattened input if None):
    ``[1, 2]`` with 2 repeats is ``[1, 1, 2, 2]`` (``repeat`` would give ``[1, 2, 1, 2]``).
    ``repeats`` is an int, or one count per element (a single count is broadcast).  A
    gather, so its gradient sums the copies.  ``repeat_interleave(counts)`` alone repeats
    each index: ``[1, 2, 3]`` gives ``[0, 1, 1, 2, 2, 2]``."""
    if repeats is None:                  # repeat_interleave(counts): the indices, repeated
        counts = as_tensor(input)
        return repeat_interleave(Tensor._from_array(
            backend.get_array_module(counts.data).arange(counts.shape[0])), counts)
    x = as_tensor(input)
    if dim is None:
        x, dim = x.reshape(-1), 0
    dim = _wrap_dim(dim, x.ndim, "repeat_interleave")
    counts = backend.to_numpy(repeats.data) if isinstance(repeats, Tensor) else \
        np.asarray(repeats)
    if counts.size == 1:
        counts = np.full(x.shape[dim], int(counts.reshape(())))
    if counts.shape != (x.shape[dim],) or (counts < 0).any():
        raise ValueError(f"repeat_interleave: repeats must be one non-negative count, or one "
                         f"per element of dim {dim} (size {x.shape[dim]}), got shape "
                         f"{counts.shape}")
    return index_select(x, dim, np.repeat(np.arange(x.shape[dim]), counts))


class Diagonal(Function):
    """The diagonal of the (dim1, dim2) planes of x as its last dim, a view of x (as
    PyTorch's): ``x.diagonal().fill_(1)`` writes x's diagonal.  dx = dy on the same
    diagonal of zeros."""

    def __init__(self, offset, dim1, dim2):
        self.offset, self.dim1, self.dim2 = offset, dim1, dim2

    def _view(self, array):
        xp = backend.get_array_module(array)
        view = xp.diagonal(array, self.offset, self.dim1, self.dim2)
        if xp is np and array.flags.writeable:
            view.setflags(write=True)   # NumPy hands it out read-only, though it is x's memory
        return view

    def forward(self, x):
        self.in_shape = x.shape
        return self._view(x)

    def backward(self, gy):
        gx = backend.get_array_module(gy).zeros(self.in_shape, dtype=gy.dtype)
        self._view(gx)[...] = gy
        return gx


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal of the (dim1, dim2) planes, as the last dim: ``x[i, i + offset]``
    (``torch.diagonal``; offset > 0 above the main diagonal), a view of the input."""
    x = as_tensor(input)
    dim1, dim2 = (_wrap_dim(d, x.ndim, "diagonal") for d in (dim1, dim2))
    if dim1 == dim2:
        raise ValueError(f"diagonal: dim1 and dim2 must differ, got {dim1} twice")
    return Diagonal(offset, dim1, dim2)(x)


def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r): each group of r^2 channels becomes an r x r block
    of pixels (the sub-pixel convolution of super-resolution, Shi et al. 2016)."""
    x, r = as_tensor(input), upscale_factor
    if x.ndim < 3 or x.shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: the channels (dim -3) of shape {tuple(x.shape)} must "
                         f"be divisible by upscale_factor^2 = {r * r}")
    *batch, c, h, w = x.shape
    n = len(batch)
    x = x.reshape(*batch, c // (r * r), r, r, h, w)
    x = permute(x, *range(n), n, n + 3, n + 1, n + 4, n + 2)     # (*, C, H, r, W, r)
    return x.reshape(*batch, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W): the inverse of ``pixel_shuffle``."""
    x, r = as_tensor(input), downscale_factor
    if x.ndim < 3 or x.shape[-2] % r or x.shape[-1] % r:
        raise ValueError(f"pixel_unshuffle: height and width of shape {tuple(x.shape)} must be "
                         f"divisible by downscale_factor = {r}")
    *batch, c, h, w = x.shape
    n = len(batch)
    x = x.reshape(*batch, c, h // r, r, w // r, r)
    x = permute(x, *range(n), n, n + 2, n + 4, n + 1, n + 3)     # (*, C, r, r, H, W)
    return x.reshape(*batch, c * r * r, h // r, w // r)


def take_along_dim(input, indices, dim=None):
    """``gather`` with broadcasting: the elements at ``indices`` along ``dim`` (the
    flattened input if None), e.g. with indices from ``argsort`` or ``argmax(keepdim=True)``."""
    x, index = as_tensor(input), as_tensor(indices)
    if dim is None:
        return gather(x.reshape(-1), 0, index.reshape(-1))
    dim = _wrap_dim(dim, x.ndim, "take_along_dim")
    x_shape, index_shape = list(x.shape), list(index.shape)
    x_shape[dim] = index_shape[dim] = 1
    common = list(np.broadcast_shapes(tuple(x_shape), tuple(index_shape)))
    x = expand(x, *[c if d != dim else x.shape[dim] for d, c in enumerate(common)])
    index = expand(index, *[c if d != dim else index.shape[dim] for d, c in enumerate(common)])
    return gather(x, dim, index)


def tensor_split(input, indices_or_sections, dim=0):
    """Split along ``dim`` into n nearly equal parts (an int: the first size % n parts one
    longer) or at the given indices (a list), as ``numpy.array_split``."""
    x = as_tensor(input)
    dim = _wrap_dim(dim, x.ndim, "tensor_split")
    length = x.shape[dim]
    if isinstance(indices_or_sections, int):
        parts = indices_or_sections
        if parts < 1:
            raise ValueError(f"tensor_split: the number of sections must be positive, got "
                             f"{parts}")
        sizes = [length // parts + (1 if i < length % parts else 0) for i in range(parts)]
        bounds = np.cumsum([0] + sizes)
    else:
        # negative indices count from the end, as in array_split; then clamped into [0, L]
        bounds = [0] + [min(max(int(i) + (length if int(i) < 0 else 0), 0), length)
                        for i in indices_or_sections] + [length]
    return tuple(narrow(x, dim, int(start), max(int(end) - int(start), 0))
                 for start, end in zip(bounds[:-1], bounds[1:]))



# ---------------------------------------------------------------------------
# Rotations, block matrices and combinations (compositions: gradients are those ops')
# ---------------------------------------------------------------------------

def rot90(input, k=1, dims=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane of ``dims``, from the first dim
    towards the second: for a matrix, k=1 turns it counter-clockwise, (n, m) -> (m, n) with
    out[i, j] = x[j, m - 1 - i].  A flip then a transpose (k=2: two flips)."""
    dims = list(dims)
    if len(dims) != 2:
        raise ValueError(f"rot90: expected total rotation dims == 2, but got dims = {len(dims)}")
    x = as_tensor(input)
    if x.ndim < 2:
        raise ValueError(f"rot90: expected total dims >= 2, but got total dims = {x.ndim}")
    d0, d1 = (_wrap_dim(d, x.ndim, "rot90") for d in dims)
    if d0 == d1:
        raise ValueError(f"rot90: expected rotation dims to be different, but got dim0 = "
                         f"{dims[0]} and dim1 = {dims[1]}")
    k %= 4
    if k == 1:
        return transpose(flip(x, (d1,)), d0, d1)
    if k == 2:
        return flip(x, (d0, d1))
    if k == 3:
        return transpose(flip(x, (d0,)), d0, d1)
    return clone(x)


def flipud(input):
    """Reverse the order along dim 0 (up/down; ``flip(input, 0)``), for >= 1-D tensors."""
    x = as_tensor(input)
    if x.ndim < 1:
        raise ValueError("flipud: input must be >= 1-d")
    return flip(x, 0)


def fliplr(input):
    """Reverse the order along dim 1 (left/right; ``flip(input, 1)``), for >= 2-D tensors."""
    x = as_tensor(input)
    if x.ndim < 2:
        raise ValueError(f"fliplr: input must be >= 2-d, got {x.ndim}-d")
    return flip(x, 1)


def block_diag(*tensors):
    """The tensors as blocks along the diagonal of one matrix, zeros elsewhere: blocks
    (r_i, c_i) give (sum r_i, sum c_i).  A 0-d tensor is a (1, 1) block, a 1-D (n,) a row
    (1, n).  The dtype is the promotion of all; with no tensors, a (1, 0) matrix."""
    tensors = [as_tensor(t) for t in tensors]
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise ValueError(f"block_diag: input tensors must have 2 or fewer dimensions; "
                             f"input {i} has {t.ndim} dimensions")
    if not tensors:
        return Tensor._from_array(np.zeros((1, 0), dtype=np.float32))
    dtype = result_type(*tensors)
    blocks = [astype(t.reshape(1, -1) if t.ndim < 2 else t, dtype) for t in tensors]
    columns = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        rows.append(pad(b, (left, columns - left - b.shape[1])))
        left += b.shape[1]
    return cat(rows, 0)


def cartesian_prod(*tensors):
    """Every combination of one element from each 1-D tensor, as rows (n_1 n_2 ... n_k, k),
    in the order of nested loops (the last tensor varies fastest); one tensor is returned
    as it is.  The tensors must have one dtype."""
    tensors = [as_tensor(t) for t in tensors]
    for t in tensors:
        if t.ndim != 1:
            raise ValueError(f"cartesian_prod: expects 1-D tensors, got shape {tuple(t.shape)}")
        if t.dtype != tensors[0].dtype:
            raise TypeError(f"cartesian_prod: expects all tensors to have the same dtype, got "
                            f"{tensors[0].dtype} and {t.dtype}")
    if len(tensors) == 1:
        return tensors[0]
    return stack([g.reshape(-1) for g in meshgrid(*tensors, indexing="ij")], 1)


def combinations(input, r=2, with_replacement=False):
    """The length-``r`` subsequences of the 1-D ``input`` (itertools.combinations, or
    combinations_with_replacement), as rows (count, r) in lexicographic order of positions;
    r = 0 gives an empty 1-D tensor.  A gather, so gradients sum over the copies."""
    x = as_tensor(input)
    if x.ndim != 1:
        raise ValueError(f"combinations: expects a 1-D vector, but got shape {tuple(x.shape)}")
    if r < 0:
        raise ValueError(f"combinations: expects a non-negative r, but got r={r}")
    if r == 0:
        return getitem(x, slice(0, 0))
    choose = itertools.combinations_with_replacement if with_replacement else \
        itertools.combinations
    index = np.array(list(choose(range(x.shape[0]), r)), dtype=np.int64).reshape(-1, r)
    xp = backend.get_array_module(x.data)
    return getitem(x, Tensor._from_array(xp.asarray(index)))


# ---------------------------------------------------------------------------
# index_add, index_copy, index_fill, masked_scatter: compositions of scatter, where and
# indexing (their gradients come from those ops)
# ---------------------------------------------------------------------------

def _index_along(name, input, dim, index, source=None):
    """``dim`` wrapped, and the 1-D int64 ``index`` as an array, broadcast along ``dim`` to
    ``source``'s shape when a source is given (the index tensor ``scatter`` wants)."""
    dim = _wrap_dim(dim, max(input.ndim, 1), name)
    index = index if isinstance(index, Tensor) else as_tensor(index)
    if index.dtype.kind not in "iu" or index.ndim > 1:
        raise TypeError(f"{name}: index must be a 1-D (or 0-d) integer tensor, got dtype "
                        f"{index.dtype} and shape {tuple(index.shape)}")
    array = index.data.reshape(-1).astype(np.int64, copy=False)
    if source is None:
        return dim, array
    if source.ndim != input.ndim or source.shape[dim] != array.shape[0] or any(
            s != i for d, (s, i) in enumerate(zip(source.shape, input.shape)) if d != dim):
        raise ValueError(f"{name}: source of shape {tuple(source.shape)} does not fit input "
                         f"{tuple(input.shape)} with {array.shape[0]} indices along dim {dim}")
    xp = backend.get_array_module(array)
    view = [-1 if d == dim else 1 for d in range(source.ndim)]
    return dim, Tensor._from_array(xp.broadcast_to(array.reshape(view), source.shape))


def index_add(input, dim, index, source, *, alpha=1):
    """``input`` with ``alpha * source[..., j, ...]`` added at ``index[j]`` along ``dim``
    (repeated indices add up), as ``torch.index_add``."""
    input, source = as_tensor(input), as_tensor(source)
    dim, index = _index_along("index_add", input, dim, index, source)
    return scatter_add(input, dim, index, source if alpha == 1 else source * alpha)


def index_copy(input, dim, index, source):
    """``input`` with ``source[..., j, ...]`` written at ``index[j]`` along ``dim``."""
    input, source = as_tensor(input), as_tensor(source)
    dim, index = _index_along("index_copy", input, dim, index, source)
    return scatter(input, dim, index, source)


def index_fill(input, dim, index, value):
    """``input`` with ``value`` (a number or 0-d tensor) at the positions ``index`` along
    ``dim``."""
    input = as_tensor(input)
    dim, index = _index_along("index_fill", input, dim, index)
    xp = backend.get_array_module(input.data)
    mask = xp.zeros(input.shape[dim] if input.ndim else 1, dtype=bool)
    mask[index] = True
    view = [-1 if d == dim else 1 for d in range(input.ndim)]
    return masked_fill(input, mask.reshape(view) if input.ndim else mask.reshape(()), value)


def masked_scatter(input, mask, source):
    """``input`` with the elements of ``source``, in order, written where the bool ``mask``
    (broadcast to input) is True, as ``torch.masked_scatter``."""
    input, source = as_tensor(input), as_tensor(source)
    mask = _index_array(mask)
    xp = backend.get_array_module(input.data)
    mask = xp.broadcast_to(xp.asarray(mask), input.shape)
    if mask.dtype != bool:
        raise TypeError(f"masked_scatter: mask must be a bool tensor, got dtype {mask.dtype}")
    count = int(mask.sum())
    if count > source.numel():
        raise ValueError(f"masked_scatter: mask has {count} True elements but source has only "
                         f"{source.numel()}")
    position = xp.maximum(xp.cumsum(mask.reshape(-1)) - 1, 0).reshape(input.shape)
    taken = getitem(source.reshape(-1), Tensor._from_array(position))
    return where(mask, taken.to(input.dtype), input)


def ravel(input):
    """The elements as a 1-D tensor (``flatten()``)."""
    return reshape(as_tensor(input), -1)


moveaxis = movedim


# ---------------------------------------------------------------------------
# Broadcasting, at-least-n-d views, stacking and splitting by direction, diagonals
# (compositions of the ops above: their gradients are those ops')
# ---------------------------------------------------------------------------

def broadcast_shapes(*shapes):
    """The shape that tensors of ``shapes`` broadcast to, without making any tensor
    (``torch.broadcast_shapes((2, 1), (3,))`` is ``Size([2, 3])``); an int is a 1-D shape."""
    from ..autograd import Size
    shapes = [(s,) if isinstance(s, (int, np.integer)) else tuple(int(n) for n in s)
              for s in shapes]
    for shape in shapes:
        if any(n < 0 for n in shape):
            raise ValueError(f"broadcast_shapes: shapes cannot have negative sizes, got "
                             f"{shape}")
    try:
        return Size(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"broadcast_shapes: shapes {', '.join(map(str, shapes))} cannot be "
                         "broadcast together (each dim must match or be 1)") from None


def broadcast_tensors(*tensors):
    """The tensors expanded to their common broadcast shape (``torch.broadcast_tensors``),
    a tuple; the gradient of each sums back over the expanded dims."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    tensors = [as_tensor(t) for t in tensors]
    shape = broadcast_shapes(*[t.shape for t in tensors])
    return tuple(t if tuple(t.shape) == tuple(shape) else BroadcastTo(shape)(t)
                 for t in tensors)


def _atleast(name, ndim, tensors, grow):
    single = len(tensors) == 1 and not isinstance(tensors[0], (list, tuple))
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    out = tuple(grow(t) if t.ndim < ndim else t for t in (as_tensor(t) for t in tensors))
    return out[0] if single else out


def _grow_3d(t):
    if t.ndim == 0:
        return t.reshape(1, 1, 1)
    if t.ndim == 1:
        return t.reshape(1, t.shape[0], 1)
    return t.unsqueeze(-1)


def atleast_1d(*tensors):
    """Each tensor viewed with at least 1 dim (a 0-d x becomes shape (1,)); one tensor in,
    one out; several (or a list), a tuple (``torch.atleast_1d``)."""
    return _atleast("atleast_1d", 1, tensors, lambda t: t.reshape(1))


def atleast_2d(*tensors):
    """Each tensor viewed with at least 2 dims: () -> (1, 1), (n,) -> (1, n)."""
    return _atleast("atleast_2d", 2, tensors, lambda t: t.reshape(1, -1) if t.ndim else
                    t.reshape(1, 1))


def atleast_3d(*tensors):
    """Each tensor viewed with at least 3 dims: () -> (1, 1, 1), (n,) -> (1, n, 1),
    (m, n) -> (m, n, 1) (NumPy's rule, which PyTorch follows)."""
    return _atleast("atleast_3d", 3, tensors, _grow_3d)


def column_stack(tensors):
    """The tensors side by side as columns: 0-d and 1-D ones (n,) become (n, 1) columns,
    then all are joined along dim 1 (``torch.column_stack``)."""
    tensors = _tensor_list("column_stack", tensors)
    return cat([t.reshape(-1, 1) if t.ndim <= 1 else t for t in tensors], 1)


def dstack(tensors):
    """Join along the third dim (depth), each tensor first made at least 3-D by
    ``atleast_3d`` (``torch.dstack``)."""
    tensors = _tensor_list("dstack", tensors)
    return cat(list(atleast_3d(tensors)), 2)


def _direction_split(name, input, indices_or_sections, dim, min_ndim):
    x = as_tensor(input)
    if x.ndim < min_ndim:
        raise ValueError(f"torch.{name} requires a tensor with at least {min_ndim} dimension, "
                         f"but got a tensor with {x.ndim} dimensions!")
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0 or x.shape[dim] % sections:
            raise ValueError(f"torch.{name} attempted to split along dimension {dim}, but the "
                             f"size of the dimension {x.shape[dim]} is not divisible by the "
                             f"split_size {sections}!")
    return tensor_split(x, indices_or_sections, dim)


def hsplit(input, indices_or_sections):
    """Split horizontally: along dim 1, or dim 0 of a 1-D tensor (``torch.hsplit``); an int
    must divide that dim evenly, a list gives the split indices (as ``tensor_split``)."""
    x = as_tensor(input)
    return _direction_split("hsplit", x, indices_or_sections, 0 if x.ndim == 1 else 1, 1)


def vsplit(input, indices_or_sections):
    """Split vertically, along dim 0 of a tensor with at least 2 dims (``torch.vsplit``)."""
    return _direction_split("vsplit", input, indices_or_sections, 0, 2)


def dsplit(input, indices_or_sections):
    """Split in depth, along dim 2 of a tensor with at least 3 dims (``torch.dsplit``)."""
    return _direction_split("dsplit", input, indices_or_sections, 2, 3)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """A tensor whose (dim1, dim2) planes have the last dim of ``input`` on their diagonal
    ``offset`` (above the main one if > 0) and zeros elsewhere: (*, n) -> (*, n + |offset|,
    n + |offset|) for the default dims (``torch.diag_embed``).  The values are padded to the
    plane's size and placed by ``where`` with an eye mask, so the gradient is dy's diagonal."""
    x = as_tensor(input)
    out_ndim = x.ndim + 1
    dim1, dim2 = (_wrap_dim(d, out_ndim, "diag_embed") for d in (dim1, dim2))
    if dim1 == dim2:
        raise ValueError(f"diag_embed: dim1 and dim2 must differ, got {dim1} twice")
    if x.ndim == 0:
        raise ValueError("diag_embed: input must have at least 1 dimension, got a 0-d tensor")
    n = x.shape[-1] + abs(offset)
    before, after = (0, abs(offset)) if offset >= 0 else (abs(offset), 0)
    if offset:
        x = pad(x, (before, after))
    xp = backend.get_array_module(x.data)
    mask = Tensor._from_array(xp.eye(n, k=offset, dtype=bool))
    zero = Tensor._from_array(xp.zeros((), dtype=x.dtype))
    planes = where(mask, x.unsqueeze(-1), zero)           # rows: x[..., i] on row i
    return movedim(planes, (out_ndim - 2, out_ndim - 1), (dim1, dim2))


def unravel_index(indices, shape):
    """The coordinates, in a tensor of ``shape``, of flat (row-major) ``indices``: a tuple of
    int64 tensors, one per dim, each of the indices' shape (``torch.unravel_index``).  As
    PyTorch, an index outside the shape wraps around (floor modulo)."""
    index = as_tensor(indices)
    if index.dtype.kind not in "iu" or index.dtype == np.bool_:
        raise TypeError(f"unravel_index: expected 'indices' to be an integer tensor, got "
                        f"dtype {index.dtype}")
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else \
        tuple(int(n) for n in shape)
    if any(n < 0 for n in shape):
        raise ValueError(f"unravel_index: 'shape' cannot have negative values, got {shape}")
    flat = index.data.astype(np.int64)
    xp = backend.get_array_module(flat)
    if flat.size and 0 in shape:
        raise ValueError(f"unravel_index: an index into 'shape' {shape}, which has no "
                         "elements")
    coords = []
    for n in reversed(shape):
        coords.append(xp.mod(flat, n) if n else xp.zeros_like(flat))
        flat = xp.floor_divide(flat, n) if n else flat
    return tuple(Tensor._from_array(c) for c in reversed(coords))


# ---------------------------------------------------------------------------
# scatter_reduce
# ---------------------------------------------------------------------------

_SCATTER_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def _reduce_at(reduce, target, where, values):
    """``target[where] = reduce(target[where], values)``, every repeat of an index counted."""
    xp = backend.get_array_module(target)
    ufunc = {"sum": "add", "mean": "add", "prod": "multiply", "amax": "maximum",
             "amin": "minimum"}[reduce]
    if xp is np:
        getattr(np, ufunc).at(target, where, values)
    elif ufunc == "add":
        _add_at(target, where, values)
    elif ufunc in ("maximum", "minimum"):
        import cupyx
        (cupyx.scatter_max if ufunc == "maximum" else cupyx.scatter_min)(target, where, values)
    else:                   # no multiply.at on the GPU: done on the host (a device round trip)
        host = backend.to_numpy(target)
        np.multiply.at(host, tuple(backend.to_numpy(w) for w in where), backend.to_numpy(values))
        target[...] = xp.asarray(host)


class ScatterReduce(Function):
    """``y = x`` with each ``src[p]`` combined by ``reduce`` into ``y`` at ``p`` with
    ``index[p]`` along ``dim`` (x's own value counted unless ``include_self`` is False).

    Gradients as PyTorch's: "sum" passes dy to x and gathers it for src; "mean" divides
    both by the count averaged at each place; "amax"/"amin" send dy to the values equal to
    the result, split evenly among ties (x's value counts as one).  Places that received
    something give x no gradient when ``include_self`` is False.  "prod" has no gradient.
    """

    def __init__(self, dim, index, reduce, include_self):
        self.dim, self.index, self.reduce, self.include_self = dim, index, reduce, include_self

    def forward(self, x, src):
        xp = backend.get_array_module(x)
        where = _along_dim(self.index, self.dim)
        values = src[tuple(slice(0, n) for n in self.index.shape)]
        out = x.copy()
        if not self.include_self:
            out[where] = self._identity(x.dtype)
        _reduce_at(self.reduce, out, where, values)
        if self.reduce == "mean":
            count = xp.zeros(x.shape, dtype=np.int64)
            _add_at(count, where, xp.ones(self.index.shape, dtype=np.int64))
            if self.include_self:
                count += 1
            self.count = xp.maximum(count, 1)
            divisor = self.count.astype(x.dtype)
            out = out // divisor if x.dtype.kind in "iub" else out / divisor
        self.x, self.values, self.out, self.src_shape = x, values, out, src.shape
        return out

    def _identity(self, dtype):
        if self.reduce in ("sum", "mean"):
            return 0
        if self.reduce == "prod":
            return 1
        big = np.inf if dtype.kind == "f" else np.iinfo(dtype).max
        low = -np.inf if dtype.kind == "f" else np.iinfo(dtype).min
        return low if self.reduce == "amax" else big

    def backward(self, gy):
        if self.reduce == "prod":
            raise NotImplementedError("scatter_reduce: the gradient of reduce='prod' is not "
                                      "implemented in tinynet (sum, mean, amax, amin have one)")
        xp = backend.get_array_module(gy)
        where = _along_dim(self.index, self.dim)
        if self.reduce == "sum":
            gx, gvalues = gy, gy[where]
        elif self.reduce == "mean":
            count = self.count.astype(gy.dtype)
            gx, gvalues = gy / count, gy[where] / count[where]
        else:
            self_hits = (self.x == self.out).astype(gy.dtype)
            src_hits = (self.values == self.out[where]).astype(gy.dtype)
            shares = self_hits.copy()
            _add_at(shares, where, src_hits)
            spread = gy / shares
            gx, gvalues = self_hits * spread, src_hits * spread[where]
        if not self.include_self:
            gx = gx.copy()
            gx[where] = 0
        gsrc = xp.zeros(self.src_shape, dtype=gy.dtype)
        gsrc[tuple(slice(0, n) for n in self.index.shape)] = gvalues
        return gx, gsrc


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """``input`` with the values of ``src`` reduced into it at ``index`` along ``dim``
    (``torch.scatter_reduce``): ``reduce`` is "sum", "prod", "mean" (an integer tensor's
    mean rounds down), "amax" or "amin"; with ``include_self=False`` the places written to
    start from the values of ``src`` alone, not ``input``'s.  Gradients for all but "prod"."""
    input = as_tensor(input)
    if reduce not in _SCATTER_REDUCTIONS:
        raise ValueError(f"scatter_reduce: reduce argument must be one of {_SCATTER_REDUCTIONS}, "
                         f"got {reduce!r}")
    index, dim = _check_index("scatter_reduce", index, input.ndim, dim, input)
    src = as_tensor(src)
    if src.dtype != input.dtype:
        raise TypeError(f"scatter_reduce: expected src ({src.dtype}) to have the dtype of "
                        f"input ({input.dtype})")
    if src.ndim != input.ndim or any(i > s for i, s in zip(index.shape, src.shape)) or \
            any(i > n for d, (i, n) in enumerate(zip(index.shape, input.shape)) if d != dim):
        raise ValueError(f"scatter_reduce: index of shape {tuple(index.shape)} must be no larger "
                         f"than src {tuple(src.shape)} in every dim, and than input "
                         f"{tuple(input.shape)} outside dim {dim}")
    return ScatterReduce(dim, index, reduce, include_self)(input, src)
