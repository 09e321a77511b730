"""Collation: a list of samples -> one batch (``default_collate``), and ``default_convert``.

``default_collate`` turns the list of B samples a batch sampler chose into the
batch a model takes, recursing through the samples' structure, as PyTorch does:

| each sample is                  | the batch is                                      |
|---------------------------------|---------------------------------------------------|
| Tensor of shape S               | Tensor (B, *S): the samples stacked on a new dim 0 |
| NumPy array of shape S          | Tensor (B, *S), the array's dtype                 |
| NumPy scalar (np.float32(1))    | Tensor (B,), its dtype                            |
| Python float / int / bool       | Tensor (B,) float64 / int64 / bool                |
| str or bytes                    | the B strings as they came: a list (a tuple for   |
|                                 | strings inside tuples or lists, as in PyTorch)    |
| dict (any Mapping)              | the same keys, each value collated                |
| namedtuple                      | the same namedtuple, each field collated          |
| tuple or list                   | a list (PyTorch's rule, also for tuples) of the   |
|                                 | collated positions: [(x0, y0), (x1, y1)] ->       |
|                                 | [stack(x0, x1), stack(y0, y1)]                    |

``default_convert`` is what ``DataLoader(batch_size=None)`` applies to each single
sample instead: NumPy arrays and scalars become Tensors, containers are converted
inside, everything else (Python numbers too) is left as it is.
"""
import collections.abc

import numpy as np

from ... import backend
from ...autograd import Tensor, as_tensor, tensor
from ...dtypes import float64
from ...ops.shape import stack

__all__ = ["default_collate", "default_convert"]

_COLLATE_ERROR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts "
                  "or lists; found {}")


def _is_namedtuple(value):
    return isinstance(value, tuple) and hasattr(value, "_fields")


def _holds_text(array):
    """NumPy arrays of strings, bytes or Python objects cannot become tensors."""
    return array.dtype.kind in "SaUO"


def _rebuild(sample, values):
    """A container of ``sample``'s type holding ``values`` (a dict or a list); the plain
    dict or list when that type cannot be built from one (as PyTorch falls back)."""
    try:
        return type(sample)(values)
    except TypeError:
        return values


def default_collate(batch):
    """Collate a list of samples into a batch (see the module docstring for the rules).

    batch : a sequence (list or tuple) of B samples of the same structure.
    """
    sample = batch[0]
    if isinstance(sample, Tensor):
        return stack(batch, 0)
    if isinstance(sample, (str, bytes)):       # before NumPy: np.str_ is a str
        return batch
    if isinstance(sample, np.ndarray) or backend.is_array(sample):
        if isinstance(sample, np.ndarray) and _holds_text(sample):
            raise TypeError(_COLLATE_ERROR.format(sample.dtype))
        return stack([as_tensor(array) for array in batch], 0)
    if isinstance(sample, (np.number, np.bool_)):
        return as_tensor(np.array(batch))
    if isinstance(sample, float):
        return tensor(batch, dtype=float64)
    if isinstance(sample, int):                 # bools too: they give a bool tensor
        return tensor(batch)
    if isinstance(sample, collections.abc.Mapping):
        return _rebuild(sample, {key: default_collate([s[key] for s in batch])
                                 for key in sample})
    if _is_namedtuple(sample):
        return type(sample)(*(default_collate(field) for field in zip(*batch)))
    if isinstance(sample, collections.abc.Sequence):
        size = len(sample)
        if any(len(s) != size for s in batch):
            raise RuntimeError(f"each element in list of batch should be of equal size "
                               f"(got sizes {[len(s) for s in batch]})")
        positions = [default_collate(values) for values in zip(*batch)]
        return positions if isinstance(sample, tuple) else _rebuild(sample, positions)
    raise TypeError(_COLLATE_ERROR.format(type(sample)))


def default_convert(data):
    """One sample with NumPy arrays and scalars made Tensors, through dicts, namedtuples,
    tuples (which become lists, as in PyTorch) and lists; other values unchanged."""
    if isinstance(data, Tensor) or isinstance(data, (str, bytes)):
        return data
    if isinstance(data, np.ndarray):
        return data if _holds_text(data) else as_tensor(data)
    if isinstance(data, (np.number, np.bool_)):
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return _rebuild(data, {key: default_convert(value) for key, value in data.items()})
    if _is_namedtuple(data):
        return type(data)(*(default_convert(value) for value in data))
    if isinstance(data, tuple):
        return [default_convert(value) for value in data]
    if isinstance(data, collections.abc.Sequence):
        return _rebuild(data, [default_convert(value) for value in data])
    return data
