"""Comparisons and logic: ``==``, ``<``, ..., ``&``, ``|``, ``~``, isnan, equal, allclose.

Every result is a bool tensor with no gradient (a comparison is piecewise
constant), made directly from the arrays: no Function, no graph.  Numbers are
compared with their exact values (``int_tensor < 2.5`` works), tensors of
different dtypes after promotion, and shapes broadcast.
"""
import numpy as np

from .. import backend
from ..autograd import Tensor, as_tensor
from .math import _broadcast_shapes

__all__ = ["eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal",
           "not_equal", "equal", "allclose", "isclose", "isnan", "isinf", "isfinite",
           "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and",
           "bitwise_or", "bitwise_xor", "bitwise_not", "nonzero", "count_nonzero",
           "argwhere", "heaviside", "isin", "signbit"]


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _elementwise(name, ufunc, input, other):
    a, b = _raw(as_tensor(input)), _raw(other)
    if hasattr(b, "shape"):
        _broadcast_shapes(name, a, b)
    return Tensor._from_array(backend.get_array_module(a, b).asarray(ufunc(a, b)))


def eq(input, other):
    """``input == other`` elementwise, as a bool tensor."""
    return _elementwise("eq", lambda a, b: a == b, input, other)


def ne(input, other):
    """``input != other`` elementwise, as a bool tensor."""
    return _elementwise("ne", lambda a, b: a != b, input, other)


def lt(input, other):
    """``input < other`` elementwise, as a bool tensor."""
    return _elementwise("lt", lambda a, b: a < b, input, other)


def le(input, other):
    """``input <= other`` elementwise, as a bool tensor."""
    return _elementwise("le", lambda a, b: a <= b, input, other)


def gt(input, other):
    """``input > other`` elementwise, as a bool tensor."""
    return _elementwise("gt", lambda a, b: a > b, input, other)


def ge(input, other):
    """``input >= other`` elementwise, as a bool tensor."""
    return _elementwise("ge", lambda a, b: a >= b, input, other)


greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def equal(input, other):
    """True if both tensors have the same shape and the same values (a Python bool)."""
    a, b = _raw(as_tensor(input)), _raw(as_tensor(other))
    return tuple(a.shape) == tuple(b.shape) and bool((a == b).all())


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``|input - other| <= atol + rtol * |other|`` elementwise, as a bool tensor."""
    a, b = _raw(as_tensor(input)), _raw(other)
    xp = backend.get_array_module(a, b)
    return Tensor._from_array(xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True if ``isclose`` holds everywhere (a Python bool), PyTorch's default tolerances."""
    return bool(isclose(input, other, rtol, atol, equal_nan).data.all())


def _unary_test(ufunc_name, input):
    a = _raw(as_tensor(input))
    xp = backend.get_array_module(a)
    tests = {"isnan": xp.isnan, "isinf": xp.isinf, "isfinite": xp.isfinite,
             "logical_not": xp.logical_not}
    return Tensor._from_array(tests[ufunc_name](a))


def isnan(input):
    """True where ``input`` is NaN."""
    return _unary_test("isnan", input)


def isinf(input):
    """True where ``input`` is +inf or -inf."""
    return _unary_test("isinf", input)


def isfinite(input):
    """True where ``input`` is neither NaN nor infinite."""
    return _unary_test("isfinite", input)


def logical_not(input):
    """True where ``input`` is zero (or False)."""
    return _unary_test("logical_not", input)


def logical_and(input, other):
    """True where both are nonzero."""
    return _elementwise("logical_and", np.logical_and, input, other)


def logical_or(input, other):
    """True where either is nonzero."""
    return _elementwise("logical_or", np.logical_or, input, other)


def logical_xor(input, other):
    """True where exactly one is nonzero."""
    return _elementwise("logical_xor", np.logical_xor, input, other)


def _check_integral(name, *tensors):
    for t in tensors:
        if isinstance(t, Tensor) and t.dtype.kind not in "biu":
            raise TypeError(f"{name}: only bool and integer tensors, got dtype {t.dtype} "
                            "(for masks, compare first: (x > 0) & (y < 1))")


def bitwise_and(input, other):
    """``input & other``: logical and of bool masks, bitwise and of integers."""
    _check_integral("bitwise_and (&)", input, other)
    return _elementwise("bitwise_and", lambda a, b: a & b, input, other)


def bitwise_or(input, other):
    """``input | other``: logical or of bool masks, bitwise or of integers."""
    _check_integral("bitwise_or (|)", input, other)
    return _elementwise("bitwise_or", lambda a, b: a | b, input, other)


def bitwise_xor(input, other):
    """``input ^ other``: logical xor of bool masks, bitwise xor of integers."""
    _check_integral("bitwise_xor (^)", input, other)
    return _elementwise("bitwise_xor", lambda a, b: a ^ b, input, other)


def bitwise_not(input):
    """``~input``: logical not of a bool mask, bitwise not of integers."""
    _check_integral("bitwise_not (~)", input)
    return Tensor._from_array(~_raw(as_tensor(input)))


def nonzero(input, *, as_tuple=False):
    """Indices of the nonzero elements: an (n, ndim) int64 tensor, or one tensor per dim."""
    a = _raw(as_tensor(input))
    xp = backend.get_array_module(a)
    per_dim = [i.astype(np.int64) for i in xp.nonzero(xp.atleast_1d(a))]
    if as_tuple:
        return tuple(Tensor._from_array(i) for i in per_dim)
    return Tensor._from_array(xp.stack(per_dim, axis=1))


def count_nonzero(input, dim=None):
    """The number of nonzero elements (over ``dim``), int64."""
    a = _raw(as_tensor(input))
    xp = backend.get_array_module(a)
    return Tensor._from_array(xp.asarray(xp.count_nonzero(a, axis=dim), dtype=np.int64))


def argwhere(input):
    """The indices of the nonzero elements, an (n, ndim) int64 tensor (``nonzero(x)``)."""
    return nonzero(input)



# ---------------------------------------------------------------------------
# Tests of values: heaviside, isin, signbit (no gradient either)
# ---------------------------------------------------------------------------

def heaviside(input, values):
    """The step function: 0 where input < 0, ``values`` where input == 0, 1 where input > 0
    (NaN gives 0, as in PyTorch).  ``input`` and ``values`` must have the same dtype;
    shapes broadcast."""
    x, v = as_tensor(input), as_tensor(values)
    if x.dtype != v.dtype:
        raise TypeError(f"heaviside: input and values must have the same dtype, got {x.dtype} "
                        f"and {v.dtype}")
    a, b = x.data, v.data
    _broadcast_shapes("heaviside", a, b)
    xp = backend.get_array_module(a, b)
    return Tensor._from_array(xp.where(a == 0, b, (a > 0).astype(a.dtype)))


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """True where an element of ``elements`` is in ``test_elements`` (False with
    ``invert=True``); a bool tensor of ``elements``' shape.  Either may be a number."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin: elements or test_elements must be a Tensor")
    a, b = _raw(as_tensor(elements)), _raw(as_tensor(test_elements))
    xp = backend.get_array_module(a, b)
    return Tensor._from_array(xp.asarray(xp.isin(a, b, assume_unique=assume_unique,
                                                 invert=invert)))


def signbit(input):
    """True where the sign bit is set: negative numbers, -0.0 and -NaN; False for bools."""
    a = _raw(as_tensor(input))
    xp = backend.get_array_module(a)
    if a.dtype.kind in "bu":
        return Tensor._from_array(xp.zeros(a.shape, dtype=bool))
    if a.dtype.kind == "i":
        return Tensor._from_array(a < 0)
    return Tensor._from_array(xp.signbit(a))
