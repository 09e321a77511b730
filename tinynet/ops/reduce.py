"""Reductions: sum, mean, prod, max/min, var/std, logsumexp, all/any, and cumsum.

Each takes PyTorch's ``dim`` (an int, a tuple of ints, or None for every
dimension) and ``keepdim``; NumPy's spellings ``axis`` and ``keepdims`` work too.

Backward of a reduction spreads the output gradient back over the reduced
dimensions: ``sum`` copies it to every element, ``mean`` also divides by the
count, ``var`` multiplies by 2 (x - mean) / (n - correction).  For the extremes
PyTorch has two rules, and tinynet follows both:

* ``amax``/``amin``, and ``max()``/``min()`` over everything, split the
  gradient evenly among tied extremes;
* ``max(dim)``/``min(dim)`` return ``(values, indices)`` and send the gradient
  only to the element at ``indices`` (the first extreme, as ``argmax``).

The public functions are named ``sum``, ``max``, ... like PyTorch's, which
shadows Python's builtins in this file: ``builtins.max`` is used where the
builtin is meant.
"""
import builtins
from collections import namedtuple

import numpy as np

from .. import backend
from ..amp.autocast_mode import autocast_op
from ..autograd import Function, Tensor, as_tensor
from ..dtypes import get_default_dtype
from .compare import ne
from .math import add, clamp, div, matmul, maximum, minimum, mul, sqrt, sub, where
from .shape import cat, gather, narrow

__all__ = ["sum", "mean", "prod", "max", "min", "amax", "amin", "argmax", "argmin", "var", "std",
           "logsumexp", "all", "any", "cumsum", "cumprod", "var_mean", "std_mean",
           "cummax", "cummin", "logcumsumexp", "nansum", "nanmean", "diff", "trapezoid", "trapz",
           "cov", "corrcoef", "aminmax"]

#: What ``max(x, dim)`` and ``min(x, dim)`` return, like ``torch.return_types.max``.
MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])
#: What ``cummax(x, dim)`` and ``cummin(x, dim)`` return, like ``torch.return_types.cummax``.
CummaxResult = namedtuple("cummax", ["values", "indices"])
CumminResult = namedtuple("cummin", ["values", "indices"])


# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------

def dims_argument(name, dim, axis):
    """PyTorch's ``dim`` or NumPy's ``axis`` (whichever was given; not both)."""
    if axis is None:
        return dim
    if dim is not None:
        raise TypeError(f"{name}: got both dim={dim!r} and axis={axis!r}; pass one")
    return axis


def _keepdim_argument(keepdim, keepdims):
    return keepdim if keepdims is None else keepdims


def _normalize_dims(dim, ndim, name):
    """``dim`` as a sorted tuple of non-negative ints (every dimension for None or ())."""
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        if not -builtins.max(ndim, 1) <= d < builtins.max(ndim, 1):
            raise IndexError(f"{name}: dim {d} is out of range for a tensor with {ndim} dims "
                             f"(expected to be in range of [{-builtins.max(ndim, 1)}, "
                             f"{builtins.max(ndim, 1) - 1}])")
        out.append(d % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: dim {tuple(dims)} names a dimension twice")
    return tuple(sorted(out))


def _expand_back(gy, in_shape, dims, keepdim):
    """Reshape a reduced gradient so it broadcasts against the input shape."""
    if not keepdim:
        gy = gy.reshape([1 if i in dims else n for i, n in enumerate(in_shape)])
    return gy


def _drop_dims(y, dims, keepdim):
    """A result computed with keepdims=True, with the reduced dims removed unless ``keepdim``."""
    if keepdim:
        return y
    return y.reshape([n for i, n in enumerate(y.shape) if i not in dims])


def _count(shape, dims):
    n = 1
    for d in dims:
        n *= shape[d]
    return n


class _Reduction(Function):
    """Base of reductions over ``dims`` (normalized in forward, once the ndim is known)."""
    name = "reduction"

    def __init__(self, dim, keepdim):
        self.dim, self.keepdim = dim, keepdim

    def forward(self, x):
        self.dims = _normalize_dims(self.dim, x.ndim, self.name)
        self.in_shape = x.shape
        return self.reduce(x, backend.get_array_module(x))


# ---------------------------------------------------------------------------
# sum, mean, prod
# ---------------------------------------------------------------------------

class Sum(_Reduction):
    """``y = sum of x over dims``; dx = dy broadcast back to x's shape.

    Bools and integers are summed as int64, as in PyTorch.
    """
    name = "sum"

    def reduce(self, x, xp):
        dtype = np.int64 if x.dtype.kind in "biu" else None
        return x.sum(axis=self.dims, keepdims=self.keepdim, dtype=dtype)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        return xp.broadcast_to(_expand_back(gy, self.in_shape, self.dims, self.keepdim),
                               self.in_shape)


class Mean(_Reduction):
    """``y = mean of x over dims``; dx = dy / count, broadcast back."""
    name = "mean"

    def reduce(self, x, xp):
        if x.dtype.kind != "f":
            raise RuntimeError(f"mean(): input dtype must be floating point, got {x.dtype} "
                               "(call .float() first)")
        return x.mean(axis=self.dims, keepdims=self.keepdim)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        gy = _expand_back(gy, self.in_shape, self.dims, self.keepdim) / _count(self.in_shape,
                                                                              self.dims)
        return xp.broadcast_to(gy, self.in_shape)


class Prod(_Reduction):
    """``y = product of x over one dim (or all)``; dx_i = dy * (product of the others).

    The product of the others is computed as (product of those before i) *
    (product of those after i), two exclusive running products, so it is exact
    even where x has zeros (dividing y by x_i would give 0/0 there).
    """
    name = "prod"

    def reduce(self, x, xp):
        self.x = x if self.needs_input_grad[0] else None
        dtype = np.int64 if x.dtype.kind in "biu" else None
        return x.prod(axis=self.dims, keepdims=self.keepdim, dtype=dtype)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        # Move the reduced dims to the end, flattened into one: x -> (rest..., n).
        kept = [d for d in range(self.x.ndim) if d not in self.dims]
        moved = self.x.transpose(kept + list(self.dims))
        flat = moved.reshape(moved.shape[:len(kept)] + (-1,))
        ones = xp.ones(flat.shape[:-1] + (1,), dtype=flat.dtype)
        before = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        after = xp.flip(xp.cumprod(xp.flip(xp.concatenate([flat[..., 1:], ones], axis=-1),
                                           axis=-1), axis=-1), axis=-1)
        others = (before * after).reshape(moved.shape)
        others = others.transpose(tuple(int(d) for d in np.argsort(kept + list(self.dims))))
        return _expand_back(gy, self.in_shape, self.dims, self.keepdim) * others


@autocast_op
def sum(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    """Sum over ``dim`` (int, tuple, or None for all) (``torch.sum``); ints sum as int64."""
    input = as_tensor(input)
    if dtype is not None:
        input = input.to(dtype)
    return Sum(dims_argument("sum", dim, axis), _keepdim_argument(keepdim, keepdims))(input)


def mean(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    """Arithmetic mean over ``dim`` (``torch.mean``); floating inputs only, as in PyTorch."""
    input = as_tensor(input)
    if dtype is not None:
        input = input.to(dtype)
    return Mean(dims_argument("mean", dim, axis), _keepdim_argument(keepdim, keepdims))(input)


@autocast_op
def prod(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    """Product over one ``dim``, or of every element (``torch.prod``)."""
    input = as_tensor(input)
    if dtype is not None:
        input = input.to(dtype)
    return Prod(dims_argument("prod", dim, axis), _keepdim_argument(keepdim, keepdims))(input)


# ---------------------------------------------------------------------------
# Extremes
# ---------------------------------------------------------------------------

class Extreme(_Reduction):
    """``amax``/``amin`` over dims; dx = dy at the extremes, split evenly among ties."""

    def __init__(self, dim, keepdim, name):
        super().__init__(dim, keepdim)
        self.name = name

    def reduce(self, x, xp):
        if x.size == 0:
            raise ValueError(f"{self.name}: cannot reduce an empty tensor of shape {x.shape}")
        extreme = x.max if self.name == "amax" else x.min
        y = extreme(axis=self.dims, keepdims=True)
        if self.needs_input_grad[0]:
            hits = x == y
            self.share = (hits / hits.sum(axis=self.dims, keepdims=True)).astype(x.dtype)
        return _drop_dims(y, self.dims, self.keepdim)

    def backward(self, gy):
        return _expand_back(gy, self.in_shape, self.dims, self.keepdim) * self.share


class ExtremeWithIndex(Function):
    """``max(x, dim)``/``min(x, dim)`` -> (values, indices); dx = dy at the index only."""

    def __init__(self, dim, keepdim, name):
        self.dim, self.keepdim, self.name = dim, keepdim, name

    def forward(self, x):
        if x.size == 0:
            raise ValueError(f"{self.name}: cannot reduce an empty tensor of shape {x.shape}")
        xp = backend.get_array_module(x)
        self.dim = _normalize_dims(self.dim, x.ndim, self.name)[0]
        arg = xp.argmax if self.name == "max" else xp.argmin
        index = xp.expand_dims(arg(x, axis=self.dim), self.dim) if x.ndim else xp.zeros((), int)
        values = xp.take_along_axis(x, index, axis=self.dim) if x.ndim else x
        self.index, self.in_shape = index, x.shape
        if not self.keepdim and x.ndim:
            values, index = values.squeeze(self.dim), index.squeeze(self.dim)
        return values, index.astype(np.int64)

    def backward(self, g_values, g_indices):
        xp = backend.get_array_module(g_values)
        if not self.in_shape:
            return g_values
        gx = xp.zeros(self.in_shape, dtype=g_values.dtype)
        gy = g_values if self.keepdim else xp.expand_dims(g_values, self.dim)
        xp.put_along_axis(gx, self.index, gy, axis=self.dim)
        return gx


def _extreme(name, input, dim, keepdim, axis, keepdims, pair_function):
    dim = dims_argument(name, dim, axis)
    if isinstance(dim, (Tensor, np.ndarray)):
        return pair_function(input, dim)  # max(a, b): elementwise, as torch.max(input, other)
    keepdim = _keepdim_argument(keepdim, keepdims)
    if dim is None:
        return Extreme(None, keepdim, "a" + name)(input)
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}: dim must be one int, got {dim!r} (amax/amin take several)")
    values, indices = ExtremeWithIndex(dim, keepdim, name)(input)
    return (MaxResult if name == "max" else MinResult)(values, indices)


def max(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """``torch.max``: the largest element (0-d), or ``(values, indices)`` along ``dim``.

    ``max(a, b)`` with a tensor ``b`` is the elementwise ``maximum(a, b)``.
    The gradient of ``values`` goes to the element at ``indices``; that of
    ``max(input)`` is split among tied maxima.
    """
    return _extreme("max", input, dim, keepdim, axis, keepdims, maximum)


def min(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """``torch.min``: the smallest element, or ``(values, indices)`` along ``dim``."""
    return _extreme("min", input, dim, keepdim, axis, keepdims, minimum)


def amax(input, dim=(), keepdim=False, *, axis=None, keepdims=None):
    """Maximum over ``dim`` (int or tuple; all for ()); ties share the gradient evenly."""
    dim = dims_argument("amax", None if dim == () else dim, axis)
    return Extreme(dim, _keepdim_argument(keepdim, keepdims), "amax")(input)


def amin(input, dim=(), keepdim=False, *, axis=None, keepdims=None):
    """Minimum over ``dim`` (int or tuple; all for ()); ties share the gradient evenly."""
    dim = dims_argument("amin", None if dim == () else dim, axis)
    return Extreme(dim, _keepdim_argument(keepdim, keepdims), "amin")(input)


def _arg_extreme(name, input, dim, keepdim):
    x = as_tensor(input).data
    xp = backend.get_array_module(x)
    if x.size == 0:
        raise ValueError(f"{name}: cannot reduce an empty tensor of shape {x.shape}")
    arg = xp.argmax if name == "argmax" else xp.argmin
    if dim is None:
        index = arg(x.reshape(-1))
        index = index.reshape((1,) * x.ndim) if keepdim else index
    else:
        dim = _normalize_dims(dim, x.ndim, name)[0]
        index = arg(x, axis=dim) if x.ndim else xp.zeros((), int)
        if keepdim and x.ndim:
            index = xp.expand_dims(index, dim)
    return Tensor._from_array(xp.asarray(index, dtype=np.int64))


def argmax(input, dim=None, keepdim=False, *, axis=None):
    """Index of the largest element (of the flattened tensor if ``dim`` is None), int64."""
    return _arg_extreme("argmax", input, dims_argument("argmax", dim, axis), keepdim)


def argmin(input, dim=None, keepdim=False, *, axis=None):
    """Index of the smallest element (of the flattened tensor if ``dim`` is None), int64."""
    return _arg_extreme("argmin", input, dims_argument("argmin", dim, axis), keepdim)


# ---------------------------------------------------------------------------
# Variance and standard deviation
# ---------------------------------------------------------------------------

class Var(_Reduction):
    """``y = sum((x - mean)^2) / (n - correction)`` over dims; dx = dy 2 (x - mean) / (n - c).

    correction=1 (PyTorch's default) is the unbiased estimate; correction=0 the
    population variance.  n - correction <= 0 gives inf or nan, as in PyTorch.
    """
    name = "var"

    def __init__(self, dim, keepdim, correction):
        super().__init__(dim, keepdim)
        self.correction = correction

    def reduce(self, x, xp):
        if x.dtype.kind != "f":
            raise RuntimeError(f"var/std: input dtype must be floating point, got {x.dtype} "
                               "(call .float() first)")
        centered = x - x.mean(axis=self.dims, keepdims=True)
        self.divisor = builtins.max(_count(x.shape, self.dims) - self.correction, 0)
        self.centered = centered if self.needs_input_grad[0] else None
        with np.errstate(divide="ignore", invalid="ignore"):
            return (centered * centered).sum(axis=self.dims, keepdims=self.keepdim) / self.divisor

    def backward(self, gy):
        gy = _expand_back(gy, self.in_shape, self.dims, self.keepdim)
        with np.errstate(divide="ignore", invalid="ignore"):
            return gy * self.centered * (2.0 / self.divisor if self.divisor else np.nan)


def _correction(name, unbiased, correction):
    if unbiased is not None and correction is not None:
        raise TypeError(f"{name}: pass unbiased= or correction=, not both")
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
        keepdims=None):
    """Variance over ``dim`` (``torch.var``), unbiased by default (``correction=1``).

    ``var(x, dim, unbiased, keepdim)`` and ``var(x, unbiased)`` (a bool as the
    second argument) work as in PyTorch.
    """
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    dim = dims_argument("var", dim, axis)
    return Var(dim, _keepdim_argument(keepdim, keepdims),
               _correction("var", unbiased, correction))(input)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
        keepdims=None):
    """Standard deviation ``sqrt(var(...))`` (``torch.std``), same arguments as ``var``."""
    return sqrt(var(input, dim, unbiased, keepdim, correction=correction, axis=axis,
                    keepdims=keepdims))


# ---------------------------------------------------------------------------
# logsumexp, all/any, cumsum
# ---------------------------------------------------------------------------

class LogSumExp(_Reduction):
    """``y = log(sum(exp(x)))`` over dims, computed as m + log(sum(exp(x - m))), m = max.

    Subtracting the maximum keeps every exponent <= 0 (no overflow); dx = dy *
    exp(x - y), the softmax of x.  A slice of only -inf gives -inf, as in PyTorch.
    """
    name = "logsumexp"

    def reduce(self, x, xp):
        x = x.astype(x.dtype if x.dtype.kind == "f" else np.float32, copy=False)
        m = x.max(axis=self.dims, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):
            y = xp.log(xp.exp(x - m).sum(axis=self.dims, keepdims=True)) + m
        if self.needs_input_grad[0]:
            self.x, self.y = x, y
        return _drop_dims(y, self.dims, self.keepdim)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        return _expand_back(gy, self.in_shape, self.dims, self.keepdim) * xp.exp(self.x - self.y)


@autocast_op
def logsumexp(input, dim, keepdim=False):
    """``log(sum(exp(input), dim))`` without overflow (``torch.logsumexp``)."""
    return LogSumExp(dim, keepdim)(input)


def _logical_reduction(name, input, dim, keepdim):
    x = as_tensor(input).data
    dims = _normalize_dims(dim, x.ndim, name)
    reduce = x.all if name == "all" else x.any
    return Tensor._from_array(reduce(axis=dims, keepdims=keepdim))


def all(input, dim=None, keepdim=False, *, axis=None):
    """True where every element (over ``dim``) is nonzero; a bool tensor."""
    return _logical_reduction("all", input, dims_argument("all", dim, axis), keepdim)


def any(input, dim=None, keepdim=False, *, axis=None):
    """True where some element (over ``dim``) is nonzero; a bool tensor."""
    return _logical_reduction("any", input, dims_argument("any", dim, axis), keepdim)


class CumSum(Function):
    """Running sum along ``dim``; dx = the running sum of dy taken from the end backwards."""

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.dim = _normalize_dims(self.dim, x.ndim, "cumsum")[0]
        dtype = np.int64 if x.dtype.kind in "biu" else None
        return xp.cumsum(x, axis=self.dim, dtype=dtype).reshape(x.shape)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        if gy.ndim == 0:
            return gy
        return xp.flip(xp.cumsum(xp.flip(gy, self.dim), axis=self.dim), self.dim)


class CumProd(Function):
    """Running product along ``dim``, y_j = x_0 x_1 ... x_j.

    dx_i = sum_{j >= i} dy_j y_j / x_i (y_j without its factor x_i): the running sum
    of dy * y from the end, divided by x.  Where x_i = 0 that division is undefined;
    only the first zero of a row gets a gradient (every later y_j contains it), and
    there y_j / x_i is computed directly, as the running product with x_i set to 1.
    """

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.dim = _normalize_dims(self.dim, x.ndim, "cumprod")[0]
        dtype = np.int64 if x.dtype.kind in "biu" else None
        y = xp.cumprod(x, axis=self.dim, dtype=dtype).reshape(x.shape)
        if self.needs_input_grad[0]:
            self.x, self.y = x, y
        return y

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        if gy.ndim == 0:
            return gy
        x, y, dim = self.x, self.y, self.dim

        def from_the_end(a):
            return xp.flip(xp.cumsum(xp.flip(a, dim), axis=dim), dim)

        zero = x == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            gx = xp.where(zero, 0, from_the_end(gy * y) / xp.where(zero, 1, x))
        # The first zero of each row: the products with it replaced by 1, from it on.  (Done
        # whether or not there is a zero: asking would wait for the GPU.)
        first = zero & (xp.cumsum(zero, axis=dim) == 1)
        without = xp.cumprod(xp.where(first, 1, x), axis=dim)
        after = xp.cumsum(first, axis=dim) > 0              # positions j >= the first zero
        gx = xp.where(first, from_the_end(gy * without * after), gx)
        return gx.astype(gy.dtype, copy=False)


@autocast_op
def cumprod(input, dim, *, dtype=None):
    """Running product along ``dim`` (``torch.cumprod``; diffusion's alphas_cumprod)."""
    input = as_tensor(input)
    if dtype is not None:
        input = input.to(dtype)
    return CumProd(dim)(input)


@autocast_op
def cumsum(input, dim, *, dtype=None):
    """Running sum along ``dim`` (``torch.cumsum``)."""
    input = as_tensor(input)
    if dtype is not None:
        input = input.to(dtype)
    return CumSum(dim)(input)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(var(input, ...), mean(input, ...))`` over the same dims (``torch.var_mean``);
    ``var_mean(x, False)`` is the old (input, unbiased) form, as for ``var``."""
    dims = None if isinstance(dim, bool) else dim
    return (var(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dims, keepdim=keepdim))


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """``(std(input, ...), mean(input, ...))`` over the same dims (``torch.std_mean``)."""
    dims = None if isinstance(dim, bool) else dim
    return (std(input, dim, unbiased, keepdim, correction=correction),
            mean(input, dims, keepdim=keepdim))



# ---------------------------------------------------------------------------
# Running extremes, logcumsumexp, NaN-ignoring sums, differences, integrals, covariance
# ---------------------------------------------------------------------------

def _accumulate(ufunc, a, axis, xp):
    """``ufunc.accumulate(a, axis)``: NumPy's in one call; CuPy has ``accumulate`` for only a
    few ufuncs, so there it is one elementwise step per position along ``axis``."""
    if xp is np:
        return ufunc.accumulate(a, axis=axis)
    out = a.copy()
    for i in range(1, a.shape[axis]):
        here = (slice(None),) * axis + (i,)
        before = (slice(None),) * axis + (i - 1,)
        out[here] = ufunc(out[before], a[here])
    return out


def _cumulative_extreme(name, input, dim):
    """(values, indices) of the running max/min along ``dim``; a tie moves the index to the
    later element and a NaN is the extreme from where it appears (PyTorch's rules).  The
    indices are found on the array; the values are gathered there, so their gradient goes
    to the chosen element."""
    x = as_tensor(input)
    dim = _normalize_dims(dim, x.ndim, name)[0]
    x1 = x.reshape(1) if x.ndim == 0 else x
    a = x1.data
    xp = backend.get_array_module(a)
    better = xp.maximum if name == "cummax" else xp.minimum
    running = _accumulate(better, a, dim, xp)
    # Position i is the running extreme's (latest) home if x_i equals the extreme so far,
    # or is NaN; the index at j is the latest such i <= j.
    hits = (a == running) | (a != a)
    positions = xp.arange(a.shape[dim]).reshape([-1 if i == dim else 1 for i in range(a.ndim)])
    index = _accumulate(xp.maximum, xp.where(hits, positions, 0), dim, xp).astype(np.int64)
    values = gather(x1, dim, Tensor._from_array(index))
    indices = Tensor._from_array(index)
    if x.ndim == 0:
        values, indices = values.reshape(()), indices.reshape(())
    return (CummaxResult if name == "cummax" else CumminResult)(values, indices)


def cummax(input, dim):
    """Running maximum along ``dim``: ``(values, indices)``, values[j] = max(x[..j]) and
    indices[j] (int64) where it is; ties take the later index, NaN propagates.  The
    gradient of ``values`` goes to the element at ``indices``."""
    return _cumulative_extreme("cummax", input, dim)


def cummin(input, dim):
    """Running minimum along ``dim``: ``(values, indices)``, as ``cummax``."""
    return _cumulative_extreme("cummin", input, dim)


def _log_cumsum_exp(x, axis, xp):
    """log(cumsum(exp(x))) along ``axis``.  NumPy's ``logaddexp.accumulate`` adds one term
    at a time in log space, exact for any range of values; elsewhere the row maximum is
    subtracted first (no overflow, but terms far below the maximum can underflow)."""
    if xp is np:
        return np.logaddexp.accumulate(x, axis=axis)
    m = x.max(axis=axis, keepdims=True) if x.size else xp.zeros(())
    m = xp.where(xp.isfinite(m), m, 0)
    return xp.log(xp.cumsum(xp.exp(x - m), axis=axis)) + m


class LogCumSumExp(Function):
    """``y_j = log(sum_{i <= j} exp(x_i))`` along ``dim``.

    dx_i = sum_{j >= i} dy_j exp(x_i - y_j).  Each exp(x_i - y_j) <= 1, but summed
    directly the terms exp(-y_j) may overflow; so, as PyTorch, the positive and negative
    parts of dy are summed in log space from the end: dx_i = exp(x_i + S+_i) - exp(x_i +
    S-_i), S+-_i = log(sum_{j >= i} max(+-dy_j, 0) exp(-y_j)).
    """

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        if x.dtype.kind != "f":
            raise TypeError(f"logcumsumexp: only floating-point tensors, got dtype {x.dtype}")
        xp = backend.get_array_module(x)
        self.dim = _normalize_dims(self.dim, x.ndim, "logcumsumexp")[0]
        x1 = x.reshape(1) if x.ndim == 0 else x
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            y = _log_cumsum_exp(x1, self.dim, xp).reshape(x.shape)
        if self.needs_input_grad[0]:
            self.x, self.y = x1, y.reshape(x1.shape)
        return y

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        shape, dim = gy.shape, self.dim
        gy = gy.reshape(self.x.shape)

        def from_the_end(a):
            return xp.flip(_log_cumsum_exp(xp.flip(a, dim), dim, xp), dim)

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            positive = from_the_end(xp.log(xp.maximum(gy, 0)) - self.y)
            negative = from_the_end(xp.log(xp.maximum(-gy, 0)) - self.y)
            gx = xp.exp(self.x + positive) - xp.exp(self.x + negative)
        return gx.reshape(shape).astype(gy.dtype, copy=False)


def logcumsumexp(input, dim):
    """``log(cumsum(exp(input), dim))`` without overflow (``torch.logcumsumexp``); floats."""
    return LogCumSumExp(dim)(input)


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """``sum`` with NaN counted as zero (their gradient is 0); integers sum as int64."""
    x = as_tensor(input)
    if x.dtype.kind == "f":
        x = where(x != x, 0, x)
    return sum(x, dim, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """The mean of the non-NaN elements over ``dim``: nansum / (number of non-NaNs); NaN
    where all are NaN.  Floating-point tensors only, as in PyTorch."""
    x = as_tensor(input)
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype.kind != "f":
        raise TypeError(f"nanmean: expected input to have a floating-point dtype but got "
                        f"{x.dtype}")
    present = Tensor._from_array(x.data == x.data)
    return div(nansum(x, dim, keepdim), sum(present, dim, keepdim))


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The ``n``-th forward difference along ``dim``: out[i] = x[i + 1] - x[i], repeated n
    times, so the size along dim shrinks by n (to 0 at least).  ``prepend``/``append``
    tensors are concatenated to the input along dim first.  Bools give x[i + 1] != x[i]."""
    x = as_tensor(input)
    if x.ndim == 0:
        raise ValueError("diff: expects input to be at least one-dimensional")
    if n < 0:
        raise ValueError(f"diff: order n must be non-negative but got {n}")
    dim = _normalize_dims(dim, x.ndim, "diff")[0]
    parts = [as_tensor(t) for t in (prepend, x, append) if t is not None]
    for t in parts:
        if t.ndim != x.ndim:
            raise ValueError(f"diff: expects prepend or append to be the same dimension as "
                             f"input ({x.ndim}), got shape {tuple(t.shape)}")
    if len(parts) > 1:
        x = cat(parts, dim)
    for _ in range(n):
        size = x.shape[dim]
        if size == 0:
            break
        later, earlier = narrow(x, dim, 1, size - 1), narrow(x, dim, 0, size - 1)
        x = ne(later, earlier) if x.dtype == np.bool_ else sub(later, earlier)
    return x


def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The trapezoidal rule along ``dim``: sum_i (x[i + 1] - x[i]) (y[i] + y[i + 1]) / 2,
    with sample points ``x`` (1-D, or y's shape) or an even spacing ``dx`` (1 by default).
    A dim of size 0 or 1 gives zeros; integer y gives the default float dtype."""
    y = as_tensor(y)
    if x is not None and dx is not None:
        raise TypeError("trapezoid: pass x or dx, not both")
    dim = _normalize_dims(dim, y.ndim, "trapezoid")[0]
    if y.shape[dim] == 0:           # zeros, outside the graph (as PyTorch)
        xp = backend.get_array_module(y.data)
        shape = y.shape[:dim] + y.shape[dim + 1:]
        dtype = y.dtype if y.dtype.kind == "f" else get_default_dtype()
        return Tensor._from_array(xp.zeros(shape, dtype=dtype))
    count = y.shape[dim] - 1
    pairs = add(narrow(y, dim, 1, count), narrow(y, dim, 0, count))
    if x is None:
        return div(mul(sum(pairs, dim), 1 if dx is None else dx), 2)
    x = as_tensor(x)
    if x.ndim == 1:
        if x.shape[0] != y.shape[dim]:
            raise ValueError(f"trapezoid: there must be one x value for each sample point: "
                             f"x has {x.shape[0]}, y has {y.shape[dim]} along dim {dim}")
        spacing = diff(x).reshape([-1 if i == dim else 1 for i in range(y.ndim)])
    else:
        spacing = diff(x, dim=dim)
    return div(sum(mul(spacing, pairs), dim), 2)


def trapz(y, x=None, *, dx=None, dim=-1):
    """The old name of ``trapezoid``."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cov(input, *, correction=1, fweights=None, aweights=None):
    """The covariance matrix of the variables in the rows of ``input`` (vars, observations);
    a 1-D input is one variable (a 0-d result).  With weights w (``fweights``: integer
    repeat counts; ``aweights``: float importances; both multiply), mean = sum(x w) / sum(w)
    and cov = (x - mean) w (x - mean)^T / (sum(w) - correction * sum(w aweights) / sum(w))
    (without aweights: sum(w) - correction; unweighted: N - correction).  A divisor <= 0
    is 0 (inf/NaN results, as in PyTorch)."""
    x = as_tensor(input)
    if x.ndim > 2:
        raise ValueError(f"cov: expected input to have two or fewer dimensions but got an "
                         f"input with {x.ndim} dimensions")
    x = x.reshape(1, -1) if x.ndim < 2 else x
    if x.dtype.kind != "f":
        x = x.to(get_default_dtype())
    observations = x.shape[1]
    weights = None
    for name, w in (("fweights", fweights), ("aweights", aweights)):
        if w is None:
            continue
        w = as_tensor(w)
        if w.ndim > 1 or (w.ndim == 1 and w.shape[0] != observations):
            raise ValueError(f"cov: expected {name} to be a 1-D tensor of {observations} "
                             f"values (one per observation), got shape {tuple(w.shape)}")
        if name == "fweights" and w.dtype.kind not in "iu":
            raise TypeError(f"cov: expected fweights to have an integral dtype, got {w.dtype}")
        if name == "aweights" and w.dtype.kind != "f":
            raise TypeError(f"cov: expected aweights to have a floating-point dtype, got "
                            f"{w.dtype}")
        if bool((w.data < 0).any()):
            raise ValueError(f"cov: {name} cannot be negative")
        weights = w if weights is None else mul(weights, w)
    if weights is None:
        average = mean(x, 1, keepdim=True)
        divisor = observations - correction
    else:
        total = sum(weights)
        average = div(sum(mul(x, weights), 1, keepdim=True), total)
        if correction == 0:
            divisor = total
        elif aweights is None:
            divisor = sub(total, correction)
        else:
            divisor = sub(total, div(mul(sum(mul(weights, aweights)), correction), total))
    if isinstance(divisor, Tensor):
        divisor = divisor.clamp_min(0)
    else:
        divisor = builtins.max(divisor, 0)
    centered = sub(x, average)
    weighted = centered if weights is None else mul(centered, weights)
    with np.errstate(divide="ignore", invalid="ignore"):
        return div(matmul(weighted, centered.transpose(0, 1)), divisor).squeeze()


def corrcoef(input):
    """Pearson correlation coefficients of the variables in the rows of ``input``:
    cov[i, j] / sqrt(cov[i, i] cov[j, j]), clipped to [-1, 1] (1-D input: a 0-d 1)."""
    c = cov(input)
    if c.ndim == 0:
        return div(c, c)
    stddev = sqrt(c.diagonal())
    c = div(div(c, stddev.reshape(-1, 1)), stddev.reshape(1, -1))
    return clamp(c, -1, 1)


#: What ``aminmax`` returns, like ``torch.return_types.aminmax``.
AminmaxResult = namedtuple("aminmax", ["min", "max"])


def aminmax(input, *, dim=None, keepdim=False):
    """``(min, max)`` over ``dim`` (one int; every element if None) in one call
    (``torch.aminmax``); each gradient is ``amin``'s/``amax``'s, split evenly among ties."""
    x = as_tensor(input)
    if x.numel() == 0:
        raise ValueError(f"aminmax: cannot compute on an empty tensor of shape {tuple(x.shape)}"
                         + ("" if dim is None else f" (dim={dim})"))
    if dim is not None and not isinstance(dim, (int, np.integer)):
        raise TypeError(f"aminmax: dim must be one int or None, got {dim!r}")
    return AminmaxResult(amin(x, dim if dim is not None else (), keepdim),
                         amax(x, dim if dim is not None else (), keepdim))
