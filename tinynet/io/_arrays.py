"""Turning whatever a state dict holds (Tensor, CuPy or NumPy array) into a NumPy array.

Files on disk always hold NumPy data: a checkpoint saved from the GPU must load
on a machine without one, so CuPy arrays are copied to the host here.
"""
import numpy as np

from .. import backend
from ..autograd import Tensor

__all__ = ["is_array", "to_host_array"]


def is_array(value):
    """True for a tinynet Tensor, a NumPy array or a CuPy array (not for numpy scalars)."""
    if isinstance(value, (np.ndarray, Tensor)):
        return True
    return backend.get_array_module(value) is not np or _is_gpu_array(value)


def to_host_array(value, name):
    """``value`` as a NumPy array; ``name`` (e.g. "model entry 'fc.weight'") labels errors."""
    if isinstance(value, Tensor):
        value = value.data
    if not isinstance(value, np.ndarray):
        if not is_array(value) and not isinstance(value, (np.generic, int, float, bool)):
            raise TypeError(f"{name} is a {type(value).__name__}, not an array or Tensor")
        if backend.get_array_module(value) is not np:
            value = backend.to_numpy(value)  # CuPy -> NumPy (device to host copy)
        elif _is_gpu_array(value):
            value = value.get()  # CuPy array made while tinynet had not imported CuPy
        else:
            value = np.asarray(value)  # numpy scalar or Python number
    if value.dtype.hasobject:
        # Object arrays could only be stored by pickling them, which we never do.
        raise TypeError(f"{name} has dtype object; only numeric and bool arrays can be saved")
    return value


def _is_gpu_array(value):
    """A CuPy (or CUDA-array-like) object with a ``get()`` that copies it to the host.

    backend.get_array_module only recognizes CuPy once tinynet has imported it;
    a user may hand us CuPy arrays made directly, so check the CUDA interface too.
    """
    return hasattr(value, "__cuda_array_interface__") and callable(getattr(value, "get", None))
