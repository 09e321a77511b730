"""Tensor factories: zeros, ones, random normals, ranges (like ``torch.zeros`` ...).

Floating tensors default to float32.  Random values come from tinynet's seeded
generator (``tn.manual_seed``) and are drawn on the CPU, so one seed gives the
same numbers on every device.
"""
import numpy as np

from .. import backend
from ..autograd import Tensor

__all__ = ["zeros", "ones", "full", "zeros_like", "ones_like", "randn", "rand", "arange"]


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _make(array, requires_grad, device):
    return Tensor(array, requires_grad=requires_grad, device=device)


def full(shape, fill_value, dtype=None, device="cpu", requires_grad=False):
    """A tensor of ``shape`` filled with ``fill_value``."""
    xp = backend.xp_for_device(device)
    array = xp.full(tuple(shape), fill_value, dtype=dtype or backend.DEFAULT_DTYPE)
    return _make(array, requires_grad, None)


def zeros(*shape, dtype=None, device="cpu", requires_grad=False):
    """A tensor of zeros: ``tn.zeros(2, 3)`` or ``tn.zeros((2, 3))``."""
    return full(_shape(shape), 0, dtype, device, requires_grad)


def ones(*shape, dtype=None, device="cpu", requires_grad=False):
    """A tensor of ones."""
    return full(_shape(shape), 1, dtype, device, requires_grad)


def zeros_like(x, requires_grad=False):
    """Zeros with the shape, dtype and device of ``x``."""
    return full(x.shape, 0, x.dtype, x.device, requires_grad)


def ones_like(x, requires_grad=False):
    """Ones with the shape, dtype and device of ``x``."""
    return full(x.shape, 1, x.dtype, x.device, requires_grad)


def randn(*shape, dtype=None, device="cpu", requires_grad=False):
    """Standard normal samples (mean 0, variance 1)."""
    array = backend.get_rng().standard_normal(_shape(shape)).astype(dtype or backend.DEFAULT_DTYPE)
    return _make(array, requires_grad, device)


def rand(*shape, dtype=None, device="cpu", requires_grad=False):
    """Uniform samples in [0, 1)."""
    array = backend.get_rng().random(_shape(shape)).astype(dtype or backend.DEFAULT_DTYPE)
    return _make(array, requires_grad, device)


def arange(start, stop=None, step=1, dtype=None, device="cpu"):
    """Evenly spaced values in [start, stop) (integers stay int64)."""
    array = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is not None:
        array = array.astype(dtype)
    elif array.dtype == np.float64:
        array = array.astype(backend.DEFAULT_DTYPE)
    return _make(array, False, device)
