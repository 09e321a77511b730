"""Data types: PyTorch's names for NumPy dtypes, and PyTorch's type promotion.

``tn.float32`` *is* ``numpy.float32``, so ``x.dtype == tn.float32`` and
``np.zeros(3, tn.float32)`` both work; the aliases ``tn.float``, ``tn.double``,
``tn.long``, ``tn.int``, ``tn.half`` and ``tn.bool`` name the same types as
``torch.float`` (float32), ``torch.double`` (float64), ``torch.long`` (int64), ...

Type promotion: what dtype does ``a + b`` have?
-----------------------------------------------
NumPy and PyTorch disagree (NumPy: int64 + float32 -> float64; PyTorch ->
float32), and tinynet follows PyTorch.  Its rule sorts the operands into three
tiers, from strongest to weakest:

1. tensors with at least one dimension,
2. zero-dimensional tensors,
3. Python (and NumPy) scalars, which count as the *default* dtype of their kind:
   bool, int64, or float32 for a float.

Within a tier dtypes are promoted pairwise (``promote_types``).  A weaker tier
only changes the result when it is of a higher *category* (bool < integer <
floating): ``int_tensor * 2.5`` is float32, but ``float16_tensor * 2.5`` stays
float16 and ``int32_tensor + 1`` stays int32.  Examples, all as in PyTorch::

    int64 (3,) * 2.5              -> float32      float32 (3,) * 2.5        -> float32
    int64 (3,) * 2                -> int64        bool (3,) + 1             -> int64
    float32 (3,) + float64 (3,)   -> float64      float32 (3,) + float64 () -> float32
    int64 (3,) + float64 ()       -> float64      int64 (3,) / 2            -> float32
"""
import builtins

import numpy as np

from . import backend

__all__ = ["float16", "float32", "float64", "half", "float", "double",
           "uint8", "int8", "int16", "int32", "int64", "short", "int", "long", "bool",
           "get_default_dtype", "is_floating_point", "can_cast", "is_scalar", "promote_types",
           "result_type", "dtype"]

float16 = half = np.float16
float32 = float = np.float32
float64 = double = np.float64
uint8 = np.uint8
int8 = np.int8
int16 = short = np.int16
int32 = int = np.int32
int64 = long = np.int64
bool = np.bool_


class _DtypeType(type):
    def __instancecheck__(cls, value):
        return isinstance(value, np.dtype) or (
            isinstance(value, type) and issubclass(value, np.generic))


class dtype(metaclass=_DtypeType):
    """``torch.dtype``, for annotations and ``isinstance(value, tn.dtype)``: true of
    ``tn.float32`` (a NumPy scalar type) and of ``x.dtype`` (a ``numpy.dtype``) alike."""

    def __new__(cls, *args, **kwargs):
        raise TypeError("tn.dtype cannot be created; use tn.float32, tn.int64, ... or x.dtype")

# The names above shadow Python's builtins in this module; the functions below
# use builtins.<name> where the builtin is meant.


def get_default_dtype():
    """The dtype of new floating tensors (``torch.get_default_dtype``): float32."""
    return np.dtype(backend.DEFAULT_DTYPE)


def is_floating_point(input):
    """True if ``input`` (a Tensor or array) has a floating dtype."""
    return np.dtype(input.dtype).kind == "f"


def is_scalar(value):
    """True for a Python or NumPy number or bool: what promotion treats as a weak scalar."""
    return isinstance(value, (builtins.bool, builtins.int, builtins.float, np.generic))


def _category(dtype):
    """0 for bool, 1 for integers, 2 for floating types."""
    return {"b": 0, "u": 1, "i": 1, "f": 2}[np.dtype(dtype).kind]


def promote_types(type1, type2):
    """The smallest dtype both ``type1`` and ``type2`` convert to (``torch.promote_types``).

    As NumPy's, except that an integer meeting a float gives the float type
    (NumPy: int64 with float32 -> float64; PyTorch -> float32).
    """
    type1, type2 = np.dtype(type1), np.dtype(type2)
    if type1.kind == "f" and type2.kind != "f":
        return type1
    if type2.kind == "f" and type1.kind != "f":
        return type2
    return np.promote_types(type1, type2)


def _scalar_dtype(value):
    """The dtype a Python or NumPy scalar counts as: bool, int64, or the default float."""
    if isinstance(value, (builtins.bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(value, (builtins.int, np.integer)):
        return np.dtype(np.int64)
    return get_default_dtype()


def _combine(stronger, weaker):
    """The dtype of a stronger tier combined with a weaker one (None: tier absent)."""
    if stronger is None:
        return weaker
    if weaker is None or _category(weaker) <= _category(stronger):
        return stronger
    return promote_types(stronger, weaker)


def result_type(*operands):
    """The dtype of an elementwise op on ``operands`` (``torch.result_type``).

    Each operand is a Tensor, an array or a Python/NumPy scalar; see the module
    docstring for the rule.  Anything else raises a TypeError naming its type.
    """
    tiers = [None, None, None]  # dimensioned tensors, zero-dim tensors, scalars
    for x in operands:
        if is_scalar(x):
            tier, dtype = 2, _scalar_dtype(x)
        elif hasattr(x, "shape") and hasattr(x, "dtype"):
            tier, dtype = (0 if len(x.shape) else 1), np.dtype(x.dtype)
        else:
            raise TypeError(f"unsupported operand of type {type(x).__name__}: expected a "
                            "Tensor, an array or a Python number")
        tiers[tier] = dtype if tiers[tier] is None else promote_types(tiers[tier], dtype)
    return _combine(tiers[0], _combine(tiers[1], tiers[2]))


def can_cast(from_, to):
    """True if PyTorch's casting rules allow an in-place op to store ``from_`` values in
    ``to`` (``torch.can_cast``): no float to integer, no number to bool."""
    return _category(from_) <= _category(to)
