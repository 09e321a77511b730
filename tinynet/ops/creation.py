"""Tensor factories: zeros, ones, full, empty, eye, ranges, random tensors, one_hot.

Sizes are given as PyTorch allows, ``tn.zeros(2, 3)`` or ``tn.zeros((2, 3))``;
every factory takes ``dtype=``, ``device=`` and ``requires_grad=``.  Floating
tensors default to float32; ``full`` and ``arange`` infer the dtype from their
numbers (ints give int64, as in PyTorch).  Random values come from the
``generator=`` given (a ``tn.Generator``), or else from tinynet's global generator
(``tn.manual_seed``); they are drawn on the CPU and then moved, so one seed gives
the same numbers on every device (see ``tinynet.random``).
"""
import numpy as np

from .. import backend
from ..autograd import Tensor, as_tensor
from ..dtypes import get_default_dtype, result_type
from ..random import rng_of
from .shape import size_argument

__all__ = ["zeros", "ones", "full", "empty", "zeros_like", "ones_like", "full_like", "empty_like",
           "rand_like", "randn_like", "eye", "arange", "linspace", "randn", "rand",
           "randint", "randperm", "normal", "bernoulli", "multinomial", "one_hot",
           "logspace", "tril_indices", "triu_indices"]


def _make(array, requires_grad, device):
    """The Tensor of a freshly made array (owned: no copy) on ``device``."""
    t = Tensor._from_array(backend.to_device(array, device or "cpu"))
    return t.requires_grad_(True) if requires_grad else t


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """A tensor of ``size`` filled with ``fill_value`` (dtype from the value: 1 -> int64)."""
    dtype = np.dtype(dtype) if dtype is not None else result_type(fill_value)
    xp = backend.xp_for_device(device or "cpu")
    array = xp.full(size_argument((size,)), fill_value, dtype=dtype)
    return _make(array, requires_grad, device)


def _sizes(sizes, size, name):
    """The shape given as ``f(2, 3)``, ``f((2, 3))`` or ``f(size=(2, 3))`` (PyTorch takes all)."""
    if size is not None:
        if sizes:
            raise TypeError(f"{name}: give the sizes as arguments or as size=, not both")
        sizes = (size,)
    return size_argument(sizes, name)


def zeros(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """A tensor of zeros: ``tn.zeros(2, 3)`` or ``tn.zeros((2, 3))``; float32 by default."""
    return full(_sizes(sizes, size, "zeros"), 0, dtype=dtype or get_default_dtype(), device=device,
                requires_grad=requires_grad)


def ones(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """A tensor of ones; float32 by default."""
    return full(_sizes(sizes, size, "ones"), 1, dtype=dtype or get_default_dtype(), device=device,
                requires_grad=requires_grad)


def empty(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    """A tensor whose values are whatever the memory held (fill it before reading)."""
    xp = backend.xp_for_device(device or "cpu")
    array = xp.empty(_sizes(sizes, size, "empty"), dtype=dtype or get_default_dtype())
    return _make(array, requires_grad, device)


def _like(input, dtype, device):
    input = as_tensor(input)
    return input.shape, dtype or input.dtype, device or input.device


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False):
    """``full`` with the shape (and, unless given, dtype and device) of ``input``."""
    shape, dtype, device = _like(input, dtype, device)
    return full(shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False):
    """Zeros with the shape, dtype and device of ``input``."""
    return full_like(input, 0, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False):
    """Ones with the shape, dtype and device of ``input``."""
    return full_like(input, 1, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False):
    """``empty`` with the shape, dtype and device of ``input``."""
    shape, dtype, device = _like(input, dtype, device)
    return empty(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    """The (n, m) identity matrix (m = n if not given), float32 by default."""
    array = np.eye(n, n if m is None else m, dtype=dtype or get_default_dtype())
    return _make(array, requires_grad, device)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` to ``end`` (excluded) by ``step`` (``torch.arange``).

    ``arange(5)`` counts from 0.  If every argument is an int the result is
    int64, otherwise float32 (unless ``dtype`` is given).
    """
    if end is None:
        start, end = 0, start
    if step == 0 or (end - start) * step < 0:
        raise ValueError(f"arange: the range [{start}, {end}) cannot be walked with step {step} "
                         "(upper bound and lower bound inconsistent with step sign)")
    dtype = np.dtype(dtype) if dtype is not None else result_type(start, end, step)
    array = np.arange(start, end, step).astype(dtype, copy=False)
    return _make(array, requires_grad, device)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end``, both included."""
    array = np.linspace(start, end, steps).astype(dtype or get_default_dtype())
    return _make(array, requires_grad, device)


def _random(draw, size, dtype, device, requires_grad):
    array = draw(size).astype(dtype or get_default_dtype(), copy=False)
    return _make(array, requires_grad, device)


def randn(*sizes, size=None, dtype=None, device=None, requires_grad=False, generator=None):
    """Standard normal samples (mean 0, variance 1)."""
    return _random(rng_of(generator).standard_normal, _sizes(sizes, size, "randn"), dtype,
                   device, requires_grad)


def rand(*sizes, size=None, dtype=None, device=None, requires_grad=False, generator=None):
    """Uniform samples in [0, 1)."""
    return _random(rng_of(generator).random, _sizes(sizes, size, "rand"), dtype, device,
                   requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False):
    """``randn`` with the shape, dtype and device of ``input``."""
    shape, dtype, device = _like(input, dtype, device)
    return randn(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False):
    """``rand`` with the shape, dtype and device of ``input``."""
    shape, dtype, device = _like(input, dtype, device)
    return rand(shape, dtype=dtype, device=device, requires_grad=requires_grad)


def randint(*args, low=None, high=None, size=None, dtype=None, device=None,
            requires_grad=False, generator=None):
    """Random integers in [low, high): ``randint(high, size)`` or ``randint(low, high, size)``,
    any of them also by keyword (``randint(low=0, high=10, size=(3,))``)."""
    if low is not None:
        args = (low,) + args
    if high is not None:
        args = args + (high,)
    if size is not None:
        args = args + (size,)
    if len(args) == 2:
        args = (0,) + args
    if len(args) != 3:
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size)")
    low, high, size = args
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    array = rng_of(generator).integers(low, high, size_argument((size,)))
    return _make(array.astype(dtype or np.int64), requires_grad, device)


def randperm(n, *, dtype=None, device=None, requires_grad=False, generator=None):
    """A random permutation of 0 .. n-1 (int64)."""
    return _make(rng_of(generator).permutation(n).astype(dtype or np.int64), requires_grad,
                 device)


def normal(mean, std, size=None, *, dtype=None, device=None, requires_grad=False,
           generator=None):
    """Samples of N(mean, std^2) (``torch.normal``): numbers with ``size``, or one sample
    per element of ``mean``/``std`` tensors (which broadcast)."""
    means, stds = as_tensor(mean).data, as_tensor(std).data
    if dtype is None:
        dtype = next((t.dtype for t in (mean, std) if isinstance(t, Tensor)), get_default_dtype())
    shape = size_argument((size,)) if size is not None else np.broadcast_shapes(means.shape,
                                                                                stds.shape)
    draw = rng_of(generator).normal(backend.to_numpy(means), backend.to_numpy(stds), shape)
    return _make(draw.astype(dtype), requires_grad, device)


def bernoulli(input, *, generator=None):
    """0/1 samples, 1 with probability ``input`` (elementwise), in ``input``'s dtype."""
    p = as_tensor(input)
    draw = rng_of(generator).random(p.shape) < backend.to_numpy(p.data)
    return _make(draw.astype(p.dtype), False, p.device)


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """``num_samples`` class indices per row, drawn with probabilities proportional to the
    (non-negative) weights in ``input`` (1-D, or 2-D: one draw per row); int64."""
    weights = backend.to_numpy(as_tensor(input).data).astype(np.float64)
    rows = weights.reshape(1, -1) if weights.ndim == 1 else weights
    if weights.ndim not in (1, 2) or (rows < 0).any() or not (rows.sum(axis=1) > 0).all():
        raise ValueError(f"multinomial: expects 1-D or 2-D non-negative weights with a positive "
                         f"sum per row, got shape {weights.shape}")
    if not replacement and num_samples > rows.shape[1]:
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement "
                         f"from {rows.shape[1]} categories")
    rng = rng_of(generator)
    draws = np.stack([rng.choice(row.size, num_samples, replace=replacement, p=row / row.sum())
                      for row in rows])
    draws = draws[0] if weights.ndim == 1 else draws
    return _make(draws.astype(np.int64), False, as_tensor(input).device)


def one_hot(tensor, num_classes=-1):
    """Class indices (any shape) -> int64 one-hot vectors in a new last dim.

    ``num_classes=-1`` takes one more than the largest index, as in PyTorch.
    """
    indices = as_tensor(tensor).data
    if indices.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expects an integer tensor of class indices, got dtype "
                        f"{indices.dtype}")
    xp = backend.get_array_module(indices)
    if num_classes == -1:
        num_classes = int(indices.max()) + 1 if indices.size else 0
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= num_classes):
        raise ValueError(f"one_hot: class values must be in [0, {num_classes}), got values "
                         f"from {int(indices.min())} to {int(indices.max())}")
    return Tensor._from_array((indices[..., None] == xp.arange(num_classes)).astype(np.int64))


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    """``steps`` values from base^start to base^end, evenly spaced in the exponent."""
    exponents = np.linspace(start, end, steps)
    return _make((base ** exponents).astype(dtype or get_default_dtype()), requires_grad,
                 device)


def tril_indices(row, col, offset=0, *, dtype=None, device=None):
    """The (2, n) row and column indices of the lower triangle of a (row, col) matrix
    (``offset`` > 0: diagonals above the main one too), row by row."""
    return _make(np.stack(np.tril_indices(row, offset, col)).astype(dtype or np.int64), False,
                 device)


def triu_indices(row, col, offset=0, *, dtype=None, device=None):
    """The (2, n) row and column indices of the upper triangle of a (row, col) matrix."""
    return _make(np.stack(np.triu_indices(row, offset, col)).astype(dtype or np.int64), False,
                 device)

