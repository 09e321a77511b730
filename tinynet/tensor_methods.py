"""Tensor's methods: which function of ``tinynet.ops`` each one is.

In PyTorch ``x.sum(1)`` is ``torch.sum(x, 1)``, ``x + y`` is ``torch.add(x, y)``
and ``x.add_(y)`` is the in-place ``add``.  tinynet keeps that relation
literally: every method below IS the function of ``tinynet.ops`` named next to
it (the function's first parameter, ``input``, becomes ``self``), so a method
and its function cannot drift apart, and ``help(Tensor.sum)`` shows the
function's documentation.  ``autograd/tensor_core.py`` defines the core of ``Tensor``
(data, grad, ``backward``, ``size()``, ``item()``, ...); this file is the only
place that adds to it, and ``tinynet/__init__.py`` imports it right after the
ops, so every ``Tensor`` has all its methods before user code runs.

Read a row of ``METHODS`` as "``Tensor.<name>`` is ``<module>.<function>``".
The few methods without a function of their own (``x.to``, ``x.float()``,
``x.view``, reflected operators such as ``2 - x``) are small adapters, defined
here just above the table.
"""
import numpy as np

from . import backend
from .amp.autocast_mode import autocast_op
from .autograd import Tensor, tensor as _make_tensor
from .ops import activation, compare, creation, inplace, math, reduce, shape, sorting, vector_norm

__all__ = ["METHODS", "PROPERTIES"]


def _reflected(function):
    """``other <op> self`` for Python's reflected operators (``2 - x`` calls ``x.__rsub__(2)``)."""
    def method(self, other):
        return function(other, self)
    method.__name__ = method.__qualname__ = f"reflected_{function.__name__}"
    method.__doc__ = f"``{function.__name__}(other, self)``."
    return method


def _eq(self, other):
    """``self == other`` elementwise (a bool tensor); ``x == None`` is False, as in PyTorch."""
    return False if other is None else compare.eq(self, other)


def _ne(self, other):
    """``self != other`` elementwise (a bool tensor); ``x != None`` is True."""
    return True if other is None else compare.ne(self, other)


def _setitem(self, index, value):
    """``self[index] = value``: see ``ops.inplace.setitem``."""
    inplace.setitem(self, index, value)


def _iter(self):
    """Iterate over the first dimension, like iterating over ``unbind(self, 0)``."""
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return iter(shape.unbind(self, 0))


def _contains(self, element):
    """``element in self``: True if some element equals it."""
    return bool(compare.eq(self, element).data.any())


def _positive(self):
    """``+self`` is ``self``."""
    return self


def _tensor_where(self, condition, other):
    """``self.where(condition, other)`` is ``tn.where(condition, self, other)``."""
    return math.where(condition, self, other)


def _relu_(self):
    """ReLU in place: ``relu(self, inplace=True)``."""
    return activation.relu(self, inplace=True)


# ---------------------------------------------------------------------------
# dtype and device moves
# ---------------------------------------------------------------------------

def _is_dtype(value):
    """True for a dtype given as a NumPy type (``tn.float32`` is ``np.float32``), a
    ``numpy.dtype`` or a Python type (``float``, ``int``, ``bool``)."""
    return isinstance(value, (type, np.dtype))


def _to(self, *args, device=None, dtype=None, non_blocking=False, copy=False):
    """This tensor on another device and/or with another dtype (``self`` if nothing changes).

    Accepts PyTorch's forms: ``x.to("gpu")``, ``x.to(tn.float64)``,
    ``x.to(device, dtype)``, ``x.to(other_tensor)`` (its device and dtype), and
    keywords.  The copy is part of the graph: gradients flow back.
    """
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif _is_dtype(arg):
            dtype = arg
        elif arg is not None:
            device = arg
    out = self
    if device is not None and backend.normalize_device(device) != self.device:
        out = shape.to_device(out, device)
    if dtype is not None and np.dtype(dtype) != out.dtype:
        out = shape.astype(out, dtype)
    if copy and out is self:
        out = shape.clone(self)
    return out


def _cast(dtype, name):
    def method(self):
        return _to(self, dtype=dtype)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``self.to({np.dtype(dtype).name})``."
    return method


def _cpu(self):
    """This tensor on the CPU."""
    return _to(self, "cpu")


def _gpu(self, device=None):
    """This tensor on the GPU (``x.cuda()``; the device index is ignored: tinynet uses one)."""
    return _to(self, "gpu")


def _type(self, dtype=None):
    """The type name (``"tinynet.FloatTensor"``) without ``dtype``; else ``self.to(dtype)``."""
    if dtype is None:
        names = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
                 "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}
        return f"tinynet.{names.get(self.dtype.name, self.dtype.name)}Tensor"
    return _to(self, dtype=dtype)


def _type_as(self, other):
    """This tensor with ``other``'s dtype."""
    return _to(self, dtype=other.dtype)


def _view(self, *shape_or_dtype):
    """``reshape`` (tinynet does not track memory sharing, so view and reshape are one)."""
    return shape.reshape(self, *shape_or_dtype)


def _view_as(self, other):
    """``self.view(other.size())``."""
    return shape.reshape(self, other.shape)


# ---------------------------------------------------------------------------
# New tensors like self (same dtype and device unless given)
# ---------------------------------------------------------------------------

def _new_factory(factory, name):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        return factory(*size, dtype=dtype or self.dtype, device=device or self.device,
                       requires_grad=requires_grad)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``tn.{factory.__name__}(...)`` with this tensor's dtype and device."
    return method


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """``tn.full(size, fill_value)`` with this tensor's dtype and device."""
    return creation.full(size, fill_value, dtype=dtype or self.dtype,
                         device=device or self.device, requires_grad=requires_grad)


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    """``tn.tensor(data)`` with this tensor's dtype and device."""
    return _make_tensor(data, requires_grad=requires_grad, dtype=dtype or self.dtype,
                       device=device or self.device)


def _transposed(self):
    """``x.T``: all dims reversed (the transpose of a matrix)."""
    return shape.transpose(self)


def _matrix_transposed(self):
    """``x.mT`` (and ``x.mH``: tinynet has no complex dtypes): the last two dims swapped."""
    if self.ndim < 2:
        raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. "
                           f"Got {self.ndim}-D tensor.")
    return shape.transpose(self, -2, -1)


def _hermitian(self):
    """``x.H``: the (conjugate) transpose of a matrix; a 0-d tensor is itself."""
    if self.ndim not in (0, 2):
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got "
                           f"{self.ndim}-D tensor.")
    return self if self.ndim == 0 else shape.transpose(self, 0, 1)


def _unfold(self, dimension, size, step):
    """``x.unfold(dim, size, step)``: every window of ``size`` elements along ``dim``, ``step``
    apart, as a new last dim (an ``index_select`` of the windows' positions, so gradients
    add up over overlaps).  Not ``F.unfold``, which is im2col."""
    from .autograd import _wrap_dim
    dim = _wrap_dim(dimension, max(self.ndim, 1), "unfold")
    length = self.shape[dim] if self.ndim else 1
    if size < 0 or size > length:
        raise RuntimeError(f"unfold: maximum size for tensor at dimension {dim} is {length} "
                           f"but size is {size}")
    if step <= 0:
        raise RuntimeError(f"unfold: step is {step} but must be > 0")
    x = self if self.ndim else shape.reshape(self, 1)
    count = (length - size) // step + 1
    xp = backend.get_array_module(x.data)
    starts = np.arange(count)[:, None] * step + np.arange(size)[None, :]
    picked = shape.index_select(x, dim, Tensor._from_array(xp.asarray(starts.reshape(-1))))
    windows = shape.reshape(picked, x.shape[:dim] + (count, size) + x.shape[dim + 1:])
    if not self.ndim:
        return shape.reshape(windows, (1, size))[0]
    return shape.movedim(windows, dim + 1, -1)


def _stride(self, dim=None):
    """Elements to step in memory per index along each dim (the array's strides)."""
    strides = tuple(s // self.data.itemsize for s in self.data.strides)
    return strides if dim is None else strides[dim]


def _data_ptr(self):
    """The address of the first element (NumPy's ``ctypes.data``, CuPy's ``data.ptr``)."""
    return self.data.data.ptr if self.device != "cpu" else self.data.ctypes.data


def _nbytes(self):
    """Bytes the elements take: ``numel() * element_size()``."""
    return self.data.size * self.data.itemsize


def _itemsize(self):
    """Bytes per element (``element_size()``)."""
    return self.data.itemsize


def _is_cpu(self):
    """True for a tensor on the CPU."""
    return self.device == "cpu"


def _get_device(self):
    """-1 on the CPU, else the GPU index (0: tinynet uses one GPU)."""
    return -1 if self.device == "cpu" else 0


def _is_signed(self):
    """True for dtypes that hold negative numbers (floats and signed ints)."""
    return self.dtype.kind in "fi"


def _is_nonzero(self):
    """The truth of a one-element tensor (an error for any other number of elements)."""
    if self.numel() != 1:
        raise RuntimeError(f"is_nonzero: Boolean value of Tensor with {self.numel()} elements "
                           "is ambiguous (it needs exactly one)")
    return bool(self.data.reshape(-1)[0])


def _is_same_size(self, other):
    """True when ``other`` has this tensor's shape."""
    return tuple(self.shape) == tuple(other.shape)


def _identity(self, *args, **kwargs):
    """This tensor itself (there is no pinned or shared memory to set up in tinynet)."""
    return self


def _false(self):
    """False: tinynet does not pin memory."""
    return False


def _apply_(self, callable):
    """Replace every element ``v`` by ``callable(v)`` in place (slow: a Python call each; CPU
    only, as in PyTorch)."""
    return _map_(self, self, lambda value, _: callable(value), "apply_")


def _map_(self, tensor, callable, name="map_"):
    """Replace every element ``v`` by ``callable(v, w)``, ``w`` the matching element of
    ``tensor`` (broadcast to this shape), in place; CPU only."""
    if self.device != "cpu":
        raise TypeError(f"{name} is only implemented on CPU tensors")
    inplace.check_in_place(self, name)
    other = np.broadcast_to(tensor.data, self.shape)
    values = [callable(v.item(), w.item())
              for v, w in zip(self.data.reshape(-1), other.reshape(-1))]
    self.data[...] = np.asarray(values, dtype=self.dtype).reshape(self.shape)
    return self


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

METHODS = {
    # arithmetic operators (ops/math.py); reflected ones swap the operands
    "__add__": math.add, "__radd__": _reflected(math.add),
    "__sub__": math.sub, "__rsub__": _reflected(math.sub),
    "__mul__": math.mul, "__rmul__": _reflected(math.mul),
    "__truediv__": math.div,
    "__rtruediv__": autocast_op(_reflected(math.div), "__rtruediv__"),   # float32 under autocast
    "__floordiv__": math.floor_divide, "__rfloordiv__": _reflected(math.floor_divide),
    "__mod__": math.remainder, "__rmod__": _reflected(math.remainder),
    "__pow__": math.pow, "__rpow__": _reflected(math.pow),
    "__matmul__": math.matmul, "__rmatmul__": _reflected(math.matmul),
    "__neg__": math.neg, "__abs__": math.abs, "__pos__": _positive,
    # in-place operators (ops/inplace.py)
    "__iadd__": inplace.add_, "__isub__": inplace.sub_, "__imul__": inplace.mul_,
    "__itruediv__": inplace.div_, "__ipow__": inplace.pow_,
    # comparisons and logic (ops/compare.py): bool tensors, no gradient
    "__eq__": _eq, "__ne__": _ne, "__lt__": compare.lt, "__le__": compare.le,
    "__gt__": compare.gt, "__ge__": compare.ge,
    "__and__": compare.bitwise_and, "__rand__": _reflected(compare.bitwise_and),
    "__or__": compare.bitwise_or, "__ror__": _reflected(compare.bitwise_or),
    "__xor__": compare.bitwise_xor, "__rxor__": _reflected(compare.bitwise_xor),
    "__invert__": compare.bitwise_not,
    # indexing and iteration (ops/shape.py, ops/inplace.py)
    "__getitem__": shape.getitem, "__setitem__": _setitem, "__iter__": _iter,
    "__contains__": _contains,

    # elementwise math (ops/math.py)
    "add": math.add, "sub": math.sub, "subtract": math.sub, "mul": math.mul,
    "multiply": math.mul, "div": math.div, "divide": math.div, "true_divide": math.div,
    "floor_divide": math.floor_divide, "remainder": math.remainder, "pow": math.pow,
    "neg": math.neg, "negative": math.neg, "abs": math.abs, "square": math.square,
    "exp": math.exp, "expm1": math.expm1, "log": math.log, "log2": math.log2,
    "log10": math.log10, "log1p": math.log1p, "sqrt": math.sqrt, "rsqrt": math.rsqrt,
    "reciprocal": math.reciprocal, "sin": math.sin, "cos": math.cos, "sign": math.sign,
    "floor": math.floor, "ceil": math.ceil, "round": math.round, "trunc": math.trunc,
    "clamp": math.clamp, "clip": math.clamp, "clamp_min": math.clamp_min,
    "clamp_max": math.clamp_max, "maximum": math.maximum, "minimum": math.minimum,
    "masked_fill": math.masked_fill, "where": _tensor_where, "lerp": math.lerp,
    "addcmul": math.addcmul, "addcdiv": math.addcdiv, "erf": math.erf, "atan2": math.atan2,
    "arctan2": math.atan2,
    "matmul": math.matmul, "mm": math.mm, "bmm": math.bmm, "mv": math.mv, "dot": math.dot,
    "outer": math.outer,
    # activations (ops/activation.py)
    "relu": activation.relu, "relu_": _relu_, "sigmoid": activation.sigmoid,
    "tanh": activation.tanh, "softmax": activation.softmax,
    "log_softmax": activation.log_softmax,
    # reductions (ops/reduce.py, ops/vector_norm.py)
    "sum": reduce.sum, "mean": reduce.mean, "prod": reduce.prod, "max": reduce.max,
    "min": reduce.min, "amax": reduce.amax, "amin": reduce.amin, "argmax": reduce.argmax,
    "argmin": reduce.argmin, "var": reduce.var, "std": reduce.std,
    "logsumexp": reduce.logsumexp, "all": reduce.all, "any": reduce.any,
    "cumsum": reduce.cumsum, "cumprod": reduce.cumprod, "norm": vector_norm.norm,
    # sorting (ops/sorting.py)
    "sort": sorting.sort, "argsort": sorting.argsort, "topk": sorting.topk,
    "unique": sorting.unique, "bincount": sorting.bincount, "median": sorting.median,
    "kthvalue": sorting.kthvalue, "quantile": sorting.quantile,
    # comparisons (ops/compare.py)
    "eq": compare.eq, "ne": compare.ne, "lt": compare.lt, "le": compare.le, "gt": compare.gt,
    "ge": compare.ge, "greater": compare.gt, "greater_equal": compare.ge, "less": compare.lt,
    "less_equal": compare.le, "not_equal": compare.ne, "equal": compare.equal,
    "allclose": compare.allclose, "isclose": compare.isclose, "isnan": compare.isnan,
    "isinf": compare.isinf, "isfinite": compare.isfinite,
    "logical_and": compare.logical_and, "logical_or": compare.logical_or,
    "logical_xor": compare.logical_xor, "logical_not": compare.logical_not,
    "nonzero": compare.nonzero, "count_nonzero": compare.count_nonzero,
    # shape (ops/shape.py)
    "reshape": shape.reshape, "view": _view, "view_as": _view_as, "reshape_as": _view_as,
    "flatten": shape.flatten, "unflatten": shape.unflatten, "squeeze": shape.squeeze,
    "unsqueeze": shape.unsqueeze, "transpose": shape.transpose, "swapaxes": shape.transpose,
    "swapdims": shape.transpose, "t": shape.t, "permute": shape.permute,
    "movedim": shape.movedim, "flip": shape.flip, "expand": shape.expand,
    "expand_as": shape.expand_as, "broadcast_to": shape.broadcast_to, "repeat": shape.repeat,
    "tile": shape.tile, "split": shape.split, "chunk": shape.chunk, "unbind": shape.unbind,
    "index_select": shape.index_select, "gather": shape.gather, "scatter": shape.scatter,
    "scatter_add": shape.scatter_add, "masked_select": shape.masked_select,
    "roll": shape.roll, "diag": shape.diag, "trace": shape.trace, "narrow": shape.narrow,
    "select": shape.select, "tril": shape.tril, "triu": shape.triu, "clone": shape.clone,
    "contiguous": shape.contiguous, "diagonal": shape.diagonal,
    "take_along_dim": shape.take_along_dim, "tensor_split": shape.tensor_split,
    "nan_to_num": math.nan_to_num, "fmod": math.fmod, "addmm": math.addmm,
    "argwhere": compare.argwhere,
    "repeat_interleave": shape.repeat_interleave,
    "kron": math.kron, "cross": math.cross, "addmv": math.addmv, "addr": math.addr,
    "addbmm": math.addbmm, "gcd": math.gcd, "lcm": math.lcm, "diff": reduce.diff,
    "logcumsumexp": reduce.logcumsumexp, "cummax": reduce.cummax, "cummin": reduce.cummin,
    "nansum": reduce.nansum, "nanmean": reduce.nanmean, "cov": reduce.cov,
    "corrcoef": reduce.corrcoef, "histc": sorting.histc, "renorm": vector_norm.renorm,
    "rot90": shape.rot90, "flipud": shape.flipud, "fliplr": shape.fliplr,
    "heaviside": compare.heaviside, "signbit": compare.signbit,
    # in-place updates (ops/inplace.py); refused on leaves that require grad outside no_grad
    "add_": inplace.add_, "sub_": inplace.sub_, "mul_": inplace.mul_, "div_": inplace.div_,
    "pow_": inplace.pow_, "clamp_": inplace.clamp_, "clip_": inplace.clamp_,
    "masked_fill_": inplace.masked_fill_, "scatter_": inplace.scatter_,
    "scatter_add_": inplace.scatter_add_, "copy_": inplace.copy_, "fill_": inplace.fill_,
    "zero_": inplace.zero_, "uniform_": inplace.uniform_, "normal_": inplace.normal_,
    "bernoulli_": inplace.bernoulli_, "random_": inplace.random_,
    "exponential_": inplace.exponential_, "geometric_": inplace.geometric_,
    "log_normal_": inplace.log_normal_, "cauchy_": inplace.cauchy_,
    # api parity (ops/shape.py, ops/reduce.py, ops/sorting.py, ops/math.py, ops/vector_norm.py)
    "hsplit": shape.hsplit, "vsplit": shape.vsplit, "dsplit": shape.dsplit,
    "diag_embed": shape.diag_embed, "scatter_reduce": shape.scatter_reduce,
    "aminmax": reduce.aminmax, "inner": math.inner, "dist": vector_norm.dist,
    "nanmedian": sorting.nanmedian, "mode": sorting.mode,
    "unique_consecutive": sorting.unique_consecutive,
    "scatter_reduce_": inplace.in_place(shape.scatter_reduce, "scatter_reduce_"),
    # more elementwise math (ops/math.py) and index updates (ops/shape.py)
    "tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan,
    "sinh": math.sinh, "cosh": math.cosh, "asinh": math.asinh, "acosh": math.acosh,
    "atanh": math.atanh, "arcsin": math.asin, "arccos": math.acos, "arctan": math.atan,
    "arcsinh": math.asinh, "arccosh": math.acosh, "arctanh": math.atanh,
    "erfinv": math.erfinv, "exp2": math.exp2, "logaddexp": math.logaddexp,
    "logaddexp2": math.logaddexp2, "hypot": math.hypot, "xlogy": math.xlogy,
    "sinc": math.sinc, "frac": math.frac, "copysign": math.copysign,
    "float_power": math.float_power, "logit": math.logit, "deg2rad": math.deg2rad,
    "rad2deg": math.rad2deg, "positive": math.positive, "absolute": math.abs,
    "fix": math.trunc, "sgn": math.sign, "baddbmm": math.baddbmm,
    "index_add": shape.index_add, "index_copy": shape.index_copy,
    "index_fill": shape.index_fill, "masked_scatter": shape.masked_scatter,
    "ravel": shape.ravel, "moveaxis": shape.movedim, "unfold": _unfold,
    # memory and device queries (adapters above)
    "stride": _stride, "data_ptr": _data_ptr, "is_signed": _is_signed,
    "get_device": _get_device, "is_nonzero": _is_nonzero, "is_same_size": _is_same_size,
    "pin_memory": _identity, "share_memory_": _identity, "is_pinned": _false,
    "apply_": _apply_, "map_": _map_,
    # dtype and device (adapters above)
    "to": _to, "cpu": _cpu, "cuda": _gpu, "gpu": _gpu, "type": _type, "type_as": _type_as,
    "astype": shape.astype, "float": _cast(np.float32, "float"),
    "double": _cast(np.float64, "double"), "half": _cast(np.float16, "half"),
    "long": _cast(np.int64, "long"), "int": _cast(np.int32, "int"),
    "short": _cast(np.int16, "short"), "byte": _cast(np.uint8, "byte"),
    "bool": _cast(np.bool_, "bool"),
    # new tensors with this one's dtype and device (adapters above)
    "new_zeros": _new_factory(creation.zeros, "new_zeros"),
    "new_ones": _new_factory(creation.ones, "new_ones"),
    "new_empty": _new_factory(creation.empty, "new_empty"),
    "new_full": _new_full, "new_tensor": _new_tensor,
}

# The in-place twins of these methods: ``x.exp_()`` is ``x.exp()``'s result assigned to x.
IN_PLACE_TWINS = ("exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt",
                  "reciprocal", "square", "abs", "neg", "sign", "sin", "cos", "floor", "ceil",
                  "round", "trunc", "clamp_min", "clamp_max", "lerp", "addcmul", "addcdiv",
                  "remainder", "floor_divide", "sigmoid", "tanh", "tril", "triu",
                  "erf", "erfinv", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh",
                  "acosh", "atanh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh",
                  "arctanh", "atan2", "arctan2", "exp2", "logit", "frac", "fix", "sgn",
                  "hypot", "xlogy", "copysign", "deg2rad", "rad2deg", "fmod", "nan_to_num",
                  "absolute", "negative", "multiply", "divide", "subtract", "true_divide",
                  "addmm", "baddbmm", "index_add", "index_copy", "index_fill",
                  "masked_scatter", "cumsum", "cumprod")
METHODS.update({name + "_": inplace.in_place(METHODS[name], name + "_")
                for name in IN_PLACE_TWINS})

PROPERTIES = {
    "T": _transposed, "mT": _matrix_transposed, "mH": _matrix_transposed, "H": _hermitian,
    "nbytes": _nbytes, "itemsize": _itemsize, "is_cpu": _is_cpu,
}


def attach():
    """Put every method of the table on Tensor (idempotent)."""
    for name, function in METHODS.items():
        setattr(Tensor, name, function)
    for name, getter in PROPERTIES.items():
        setattr(Tensor, name, property(getter, doc=getter.__doc__))


attach()
