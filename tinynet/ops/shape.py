"""Operations that move values around without arithmetic.

reshape, transpose, indexing, concatenation, stacking, padding, dtype casts
and device copies.  Each backward applies the inverse movement to the
gradient: reshape back, transpose with the inverse permutation, scatter into
zeros at the indexed positions, split the concatenated gradient, crop the
padding, cast back, copy back to the original device.
"""
import numpy as np

from .. import backend
from ..autograd import Function, as_tensor

__all__ = ["reshape", "flatten", "transpose", "squeeze", "unsqueeze", "getitem", "cat",
           "concat", "stack", "pad", "astype", "to_device", "broadcast_to"]


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


class Transpose(Function):
    """Permute the axes of ``x``; dx = dy permuted by the inverse permutation."""

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        axes = self.axes or tuple(reversed(range(x.ndim)))
        if sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
            raise ValueError(f"transpose: axes {tuple(axes)} are not a permutation of the "
                             f"{x.ndim} axes of a tensor of shape {tuple(x.shape)}")
        self.inverse = tuple(np.argsort([a % x.ndim for a in axes]))
        return x.transpose(axes)

    def backward(self, gy):
        return gy.transpose(self.inverse)


class GetItem(Function):
    """``x[index]`` (slices, integers, integer/boolean arrays, None, Ellipsis).

    Backward scatters dy into zeros of x's shape; ``add.at`` accumulates when an
    integer-array index repeats an element.
    """

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.in_shape, self.dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        gx = xp.zeros(self.in_shape, dtype=gy.dtype)
        xp.add.at(gx, self.index, gy)
        return gx


class Concat(Function):
    """Join tensors along ``axis``; dx_i = the slice of dy that x_i filled."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        xp = backend.get_array_module(*xs)
        ref = xs[0]
        axis = self.axis % ref.ndim
        for i, x in enumerate(xs):
            if x.ndim != ref.ndim or any(a != b for k, (a, b) in enumerate(zip(x.shape, ref.shape))
                                         if k != axis):
                raise ValueError(f"cat: tensor {i} has shape {tuple(x.shape)}, which does not "
                                 f"match tensor 0's shape {tuple(ref.shape)} outside axis {axis}")
        self.axis = axis
        self.sizes = [x.shape[axis] for x in xs]
        return xp.concatenate(xs, axis=axis)

    def backward(self, gy):
        bounds = np.cumsum(self.sizes)[:-1]
        xp = backend.get_array_module(gy)
        return tuple(xp.split(gy, bounds, axis=self.axis))


class Stack(Function):
    """Stack same-shape tensors along a new ``axis``; dx_i = dy's i-th slice on that axis."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        xp = backend.get_array_module(*xs)
        for i, x in enumerate(xs):
            if x.shape != xs[0].shape:
                raise ValueError(f"stack: tensor {i} has shape {tuple(x.shape)} but tensor 0 "
                                 f"has {tuple(xs[0].shape)}; all must be equal")
        y = xp.stack(xs, axis=self.axis)
        self.axis = self.axis % y.ndim
        return y

    def backward(self, gy):
        return tuple(gy.take(i, axis=self.axis) for i in range(gy.shape[self.axis]))


class Pad(Function):
    """Constant padding; ``widths`` is NumPy's ((before, after), ...) per axis.

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


class AsType(Function):
    """Cast to another floating dtype; the gradient is cast back."""

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


class BroadcastTo(Function):
    """Expand ``x`` to a larger shape by broadcasting; dx = dy summed back."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.in_shape = x.shape
        return xp.broadcast_to(x, self.shape)

    def backward(self, gy):
        from .math import sum_to
        return sum_to(gy, self.in_shape)


def _shape_arg(shape):
    """Accept both ``reshape(x, 2, 3)`` and ``reshape(x, (2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(x, *shape):
    """``x`` with a new shape; one dimension may be -1 (inferred)."""
    return Reshape(_shape_arg(shape))(x)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge axes ``start_dim..end_dim`` into one (``torch.flatten``)."""
    x = as_tensor(x)
    start, end = start_dim % max(x.ndim, 1), end_dim % max(x.ndim, 1)
    shape = x.shape[:start] + (-1,) + x.shape[end + 1:]
    return Reshape(shape)(x)


def transpose(x, *axes):
    """Permute axes (all reversed if none given), like ``numpy.transpose``."""
    return Transpose(_shape_arg(axes) or None)(x)


def squeeze(x, axis=None):
    """Remove size-1 axes (all of them, or only ``axis``)."""
    x = as_tensor(x)
    if axis is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        axes = {a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)}
        shape = tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1))
    return Reshape(shape)(x)


def unsqueeze(x, axis):
    """Insert a size-1 axis at position ``axis``."""
    x = as_tensor(x)
    axis = axis % (x.ndim + 1)
    return Reshape(x.shape[:axis] + (1,) + x.shape[axis:])(x)


def getitem(x, index):
    """``x[index]`` with NumPy indexing; Tensors used as indices are unwrapped."""
    if isinstance(index, tuple):
        index = tuple(i.data if hasattr(i, "data") and hasattr(i, "grad_fn") else i
                      for i in index)
    elif hasattr(index, "grad_fn"):
        index = index.data
    return GetItem(index)(x)


def cat(tensors, dim=0):
    """Concatenate along an existing axis (``torch.cat``)."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    return Concat(dim)(*tensors)


concat = cat


def stack(tensors, dim=0):
    """Stack along a new axis (``torch.stack``)."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    return Stack(dim)(*tensors)


def pad(input, pad, mode="constant", value=0.0):
    """Pad with a constant, with ``torch.nn.functional.pad``'s argument order.

    ``pad`` lists (before, after) pairs starting from the LAST axis:
    ``pad(x, (1, 1, 2, 2))`` pads W by 1 and H by 2 on each side.
    """
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is implemented, got {mode!r}")
    input = as_tensor(input)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: {tuple(pad)} must hold (before, after) pairs for at most "
                         f"{input.ndim} axes")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative padding {tuple(pad)} is not supported")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return Pad(tuple(widths), value)(input)


def astype(x, dtype):
    """Cast to ``dtype`` (gradients flow through float-to-float casts)."""
    return AsType(np.dtype(dtype))(x)


def to_device(x, device):
    """Copy ``x`` to ``"cpu"`` or ``"gpu"``, keeping it in the graph."""
    return ToDevice(device)(x)


def broadcast_to(x, shape):
    """Expand ``x`` to ``shape`` with NumPy broadcasting (``torch.expand``)."""
    return BroadcastTo(shape)(x)
