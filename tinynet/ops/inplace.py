"""In-place updates: ``x.add_(1)``, ``x.zero_()``, ``x[mask] = 0``, ``w -= lr * w.grad``.

PyTorch's rules, which tinynet keeps:

* the result keeps the tensor's shape and dtype (``int_tensor.add_(1.5)`` is an
  error, as a float cannot be stored in an int64 tensor without loss);
* a leaf that requires grad cannot be changed in place while the graph is
  recorded (what was computed from it would no longer match it); inside
  ``with tn.no_grad():`` it can, which is how parameters are updated.

How it works.  Each in-place op computes its out-of-place result with the
ordinary differentiable op, then ``assign_in_place`` makes the tensor hold it:

* when no graph is recorded, the values are written into the tensor's array,
  so every view of that array (``row = x[0]`` taken before) sees the change;
* when the graph is recorded, the tensor takes the result's place in the graph
  (its array and ``grad_fn``).  Functions that used the old values keep their
  own references to the old array, and the engine's edges still point to the
  old producer, so every gradient stays right.  PyTorch instead overwrites
  the memory and counts versions to detect a saved value that was overwritten;
  the new array avoids that case altogether.
"""
import numpy as np

from .. import backend
from ..autograd import Tensor, as_tensor, is_grad_enabled
from ..dtypes import _category
from ..random import rng_of
from .math import add, clamp, div, masked_fill, mul, pow, sub
from .shape import (astype, broadcast_to, clone, index_put, normalize_index, scatter,
                    scatter_add)

__all__ = ["check_in_place", "assign_in_place", "add_", "sub_", "mul_", "div_", "pow_",
           "clamp_", "zero_", "fill_", "copy_", "masked_fill_", "scatter_", "scatter_add_",
           "setitem", "uniform_", "normal_", "in_place", "bernoulli_", "random_",
           "exponential_", "geometric_", "log_normal_", "cauchy_"]


def check_in_place(tensor, name):
    """Refuse an in-place change of a leaf that requires grad while grad mode is on."""
    if tensor.requires_grad and tensor.is_leaf and is_grad_enabled():
        raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an "
                           "in-place operation (do the update inside `with tn.no_grad():`)")


def assign_in_place(tensor, result, name):
    """Make ``tensor`` hold ``result``, the out-of-place value of an in-place op; return it."""
    if tuple(result.shape) != tensor.shape:
        raise RuntimeError(f"{name}: output with shape {tensor.shape} doesn't match the "
                           f"broadcast shape {tuple(result.shape)}")
    if result.dtype != tensor.dtype:
        if _category(result.dtype) > _category(tensor.dtype):
            raise RuntimeError(f"{name}: result type {result.dtype} can't be cast to the "
                               f"desired output type {tensor.dtype}")
        result = astype(result, tensor.dtype)
    if result.grad_fn is None:
        tensor.data[...] = result.data
    else:
        tensor.data, tensor.grad_fn = result.data, result.grad_fn
        tensor._output_index, tensor.requires_grad = result._output_index, True
    return tensor


def _update(name, tensor, compute):
    check_in_place(tensor, name)
    return assign_in_place(tensor, compute(), name)


def in_place(op, name):
    """The in-place version of the op ``op``, e.g. ``x.exp_()`` of ``exp``: the out-of-place
    result, assigned to ``x`` by ``assign_in_place`` (same rules as ``add_`` and the others)."""
    def method(input, *args, **kwargs):
        return _update(name, input, lambda: op(input, *args, **kwargs))
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``{op.__name__}`` in place (ops/inplace.py, ``in_place``)."
    return method


def bernoulli_(input, p=0.5, *, generator=None):
    """Fill with 1 (probability ``p``, a number or a tensor of input's shape) or 0, as floats
    of input's dtype (timm's DropPath: ``x.new_empty(shape).bernoulli_(keep_prob)``)."""
    check_in_place(input, "bernoulli_")
    rng = rng_of(generator)
    probability = backend.to_numpy(p.data) if isinstance(p, Tensor) else p
    draws = rng.random(input.shape) < probability
    input.data[...] = backend.to_device(draws.astype(input.dtype), input.device)
    return input


def add_(input, other, *, alpha=1):
    """``input += alpha * other`` in place."""
    return _update("add_", input, lambda: add(input, other, alpha=alpha))


def sub_(input, other, *, alpha=1):
    """``input -= alpha * other`` in place."""
    return _update("sub_", input, lambda: sub(input, other, alpha=alpha))


def mul_(input, other):
    """``input *= other`` in place."""
    return _update("mul_", input, lambda: mul(input, other))


def div_(input, other):
    """``input /= other`` in place (an integer tensor cannot hold the quotient)."""
    return _update("div_", input, lambda: div(input, other))


def pow_(input, exponent):
    """``input **= exponent`` in place."""
    return _update("pow_", input, lambda: pow(input, exponent))


def clamp_(input, min=None, max=None):
    """Clamp into ``[min, max]`` in place."""
    return _update("clamp_", input, lambda: clamp(input, min, max))


def masked_fill_(input, mask, value):
    """Set ``input`` to ``value`` where ``mask`` is True, in place."""
    return _update("masked_fill_", input, lambda: masked_fill(input, mask, value))


def scatter_(input, dim, index, src=None, *, value=None):
    """``scatter`` in place: ``torch.zeros(n, c).scatter_(1, y.unsqueeze(1), 1)`` is one-hot."""
    return _update("scatter_", input, lambda: scatter(input, dim, index, src, value=value))


def scatter_add_(input, dim, index, src):
    """``scatter_add`` in place."""
    return _update("scatter_add_", input, lambda: scatter_add(input, dim, index, src))


def copy_(input, src):
    """Copy the values of ``src`` (broadcast to ``input``'s shape) into ``input``."""
    def compute():
        source = as_tensor(src).to(input.device)
        return clone(broadcast_to(source, input.shape))
    return _update("copy_", input, compute)


def fill_(input, value):
    """Set every element to ``value`` (a number or a one-element tensor).

    In a recorded graph the filled tensor is a new node whose gradient does not reach
    the old values (they are gone), like every in-place op here; writing into the array
    would leave the old node in place and its gradient with it.
    """
    check_in_place(input, "fill_")
    if isinstance(value, Tensor) and value.requires_grad and is_grad_enabled():
        return assign_in_place(input, clone(broadcast_to(value.reshape(()), input.shape)),
                               "fill_")
    number = value.item() if isinstance(value, Tensor) else value
    if input.requires_grad and is_grad_enabled():
        everywhere = backend.get_array_module(input.data).ones(input.shape, dtype=bool)
        return assign_in_place(input, masked_fill(input, everywhere, number), "fill_")
    input.data[...] = number
    return input


def zero_(input):
    """Set every element to 0."""
    return fill_(input, 0)


def setitem(input, index, value):
    """``input[index] = value`` (what ``Tensor.__setitem__`` does).

    Written straight into the array when no graph is recorded; otherwise
    through the differentiable ``index_put`` (gradients reach ``value`` too).
    """
    check_in_place(input, "setitem")
    value_needs_grad = isinstance(value, Tensor) and value.requires_grad
    if is_grad_enabled() and (input.requires_grad or value_needs_grad):
        return assign_in_place(input, index_put(input, index, value), "setitem")
    input.data[normalize_index(index)] = value.data if isinstance(value, Tensor) else value
    return input


def uniform_(input, a=0.0, b=1.0):
    """Fill with samples from U(a, b) (tinynet's seeded generator)."""
    check_in_place(input, "uniform_")
    values = backend.get_rng().uniform(a, b, input.shape)
    input.data[...] = backend.to_device(values.astype(input.dtype), input.device)
    return input


def normal_(input, mean=0.0, std=1.0):
    """Fill with samples from N(mean, std^2) (tinynet's seeded generator)."""
    check_in_place(input, "normal_")
    values = backend.get_rng().normal(mean, std, input.shape)
    input.data[...] = backend.to_device(values.astype(input.dtype), input.device)
    return input


# ---------------------------------------------------------------------------
# In-place random fills from other distributions (tinynet's seeded generator)
# ---------------------------------------------------------------------------

def _fill_with(name, input, draw, generator):
    check_in_place(input, name)
    values = draw(rng_of(generator), input.shape)
    input.data[...] = backend.to_device(values.astype(input.dtype), input.device)
    return input


def random_(input, *args, generator=None, **kwargs):
    """Fill with random integers (as values of input's dtype): ``random_(to)`` from
    [0, to), ``random_(from, to)`` from [from, to), ``random_()`` from [0, 2^mantissa]
    for floats (2^24 for float32, 2^53 for float64) or [0, max] for integers."""
    if "from" in kwargs:
        args = (kwargs.pop("from"),) + args
    if "to" in kwargs:
        args = (args[0] if args else 0, kwargs.pop("to"))
    if kwargs or len(args) > 2:
        raise TypeError(f"random_: expected random_(to) or random_(from, to), got {args} "
                        f"{kwargs}")
    low, high = (0, args[0]) if len(args) == 1 else (args + (0, None))[:2] if args else (0, None)
    if high is None:                     # inclusive: up to the largest exactly stored integer
        dtype = input.dtype
        top = 1 if dtype == np.bool_ else 2 ** (np.finfo(dtype).nmant + 1) if \
            dtype.kind == "f" else int(np.iinfo(dtype).max)
        high = top + 1
    low, high = int(low), int(high)
    if low >= high:
        raise ValueError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                         f">= to={high}")
    return _fill_with("random_", input,
                      lambda rng, shape: rng.integers(low, high, shape, dtype=np.int64,
                                                      endpoint=False) if high <= 2 ** 63 - 1
                      else rng.integers(low, high - 1, shape, dtype=np.int64, endpoint=True),
                      generator)


def exponential_(input, lambd=1.0, *, generator=None):
    """Fill with samples of the exponential distribution of rate ``lambd`` (mean 1/lambd)."""
    if not lambd > 0:
        raise ValueError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    return _fill_with("exponential_", input,
                      lambda rng, shape: rng.exponential(1.0 / lambd, shape), generator)


def geometric_(input, p, *, generator=None):
    """Fill with the number of Bernoulli(``p``) trials up to the first success (1, 2, ...)."""
    if not 0 < p < 1:
        raise ValueError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    return _fill_with("geometric_", input, lambda rng, shape: rng.geometric(p, shape), generator)


def log_normal_(input, mean=1.0, std=2.0, *, generator=None):
    """Fill with exp(N(mean, std^2)) samples (``mean``/``std`` of the underlying normal)."""
    if not std > 0:
        raise ValueError(f"log_normal_ expects std > 0.0, but found std={std}")
    return _fill_with("log_normal_", input,
                      lambda rng, shape: rng.lognormal(mean, std, shape), generator)


def cauchy_(input, median=0.0, sigma=1.0, *, generator=None):
    """Fill with Cauchy samples: ``median + sigma * tan(pi (U - 1/2))``."""
    if not sigma > 0:
        raise ValueError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    return _fill_with("cauchy_", input,
                      lambda rng, shape: median + sigma * rng.standard_cauchy(shape), generator)
