"""Moving a module's tensors between devices and floating dtypes (``Module.to``).

The move is in place: each Tensor object keeps its identity and gets a new
``.data`` (and ``.grad``), so anything holding the Parameters (an optimizer,
a list made by ``parameters()``) sees them on the new device.
"""
import numpy as np

from .. import backend
from ..autograd import Tensor

__all__ = ["move_tensors"]


def move_tensors(tensors, device=None, dtype=None):
    """Put every Tensor of ``tensors`` (and its grad) on ``device``, floating ones in ``dtype``.

    Everything is validated first (device name, CuPy present, dtype floating),
    so an error leaves all tensors where they were.  Integer tensors (e.g.
    BatchNorm's ``num_batches_tracked``) move but are never cast.
    """
    if device is not None:
        device = backend.normalize_device(device)
        backend.xp_for_device(device)  # raises (no CuPy, no GPU) before anything moves
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Module.to: only floating dtypes are allowed, got {dtype}")

    def convert(array):
        if device is not None:
            array = backend.to_device(array, device)
        if dtype is not None and array.dtype.kind == "f":
            array = array.astype(dtype, copy=False)
        return array

    for tensor in tensors:
        tensor.data = convert(tensor.data)
        if isinstance(tensor.grad, Tensor):
            tensor.grad.data = convert(tensor.grad.data)
        elif tensor.grad is not None:
            tensor.grad = convert(tensor.grad)
