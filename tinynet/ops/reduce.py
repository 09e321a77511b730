"""Reductions: sum, mean, max and min over all axes or chosen ones.

Backward of a reduction spreads the output gradient back over the reduced
axes: ``sum`` copies it to every element, ``mean`` also divides by the count,
``max``/``min`` send it only to the elements that attained the extreme (split
evenly among ties, like ``torch.amax``).  Axes follow NumPy (``axis``) but
``dim`` is accepted as PyTorch's spelling.

The public functions are named ``sum``, ``max``, ... like PyTorch's, which
shadows Python's builtins in this file: ``builtins.max`` is used where the
builtin is meant.
"""
import builtins

from .. import backend
from ..autograd import Function

__all__ = ["sum", "mean", "max", "min"]


def _normalize_axis(axis, ndim, name):
    """Axis as a sorted tuple of non-negative ints (all axes for None)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"{name}: axis {a} is out of range for a tensor with {ndim} dims")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def _expand_back(gy, in_shape, axes, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input shape."""
    if not keepdims:
        shape = [1 if i in axes else n for i, n in enumerate(in_shape)]
        gy = gy.reshape(shape)
    return gy


class Sum(Function):
    """``y = sum of x over axes``; dx = dy broadcast back to x's shape."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _normalize_axis(self.axis, x.ndim, "sum")
        self.in_shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        gy = _expand_back(gy, self.in_shape, self.axes, self.keepdims)
        return xp.broadcast_to(gy, self.in_shape)


class Mean(Function):
    """``y = mean of x over axes``; dx = dy / count, broadcast back."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _normalize_axis(self.axis, x.ndim, "mean")
        self.in_shape = x.shape
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        count = 1
        for a in self.axes:
            count *= self.in_shape[a]
        gy = _expand_back(gy, self.in_shape, self.axes, self.keepdims) / count
        return xp.broadcast_to(gy, self.in_shape)


class _Extreme(Function):
    """Shared code of max and min: gradient to the arg-extreme elements."""
    reduce_name = None  # "max" or "min"

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        if x.size == 0:
            raise ValueError(f"{self.reduce_name}: cannot reduce an empty tensor")
        self.axes = _normalize_axis(self.axis, x.ndim, self.reduce_name)
        y = getattr(x, self.reduce_name)(axis=self.axes, keepdims=True)
        hits = x == y
        self.share = hits / hits.sum(axis=self.axes, keepdims=True)  # 1/ties at extremes
        return y if self.keepdims else y.reshape(
            [n for i, n in enumerate(x.shape) if i not in self.axes])

    def backward(self, gy):
        gy = _expand_back(gy, self.share.shape, self.axes, self.keepdims)
        return (gy * self.share).astype(gy.dtype, copy=False)


class Max(_Extreme):
    """``y = max of x over axes``; dx = dy at the maxima (split among ties), 0 elsewhere."""
    reduce_name = "max"


class Min(_Extreme):
    """``y = min of x over axes``; dx = dy at the minima (split among ties), 0 elsewhere."""
    reduce_name = "min"


def _axis(axis, dim):
    return dim if axis is None else axis


def sum(x, axis=None, keepdims=False, dim=None):
    """Sum over ``axis`` (int, tuple, or None for all axes)."""
    return Sum(_axis(axis, dim), keepdims)(x)


def mean(x, axis=None, keepdims=False, dim=None):
    """Arithmetic mean over ``axis``."""
    return Mean(_axis(axis, dim), keepdims)(x)


def max(x, axis=None, keepdims=False, dim=None):
    """Maximum over ``axis`` (values only, like ``torch.amax``)."""
    return Max(_axis(axis, dim), keepdims)(x)


def min(x, axis=None, keepdims=False, dim=None):
    """Minimum over ``axis`` (values only, like ``torch.amin``)."""
    return Min(_axis(axis, dim), keepdims)(x)
