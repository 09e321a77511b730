"""Two debug modes of the engine.

``read_only_gradients()``: every ``backward()`` gets read-only gradient arrays.
A Function whose backward writes into an incoming gradient (forbidden by the
contract in ``engine.Function``) then raises ``ValueError: assignment
destination is read-only`` instead of silently corrupting a gradient that
another Function shares.  The tests run every gradient check in this mode.

``detect_anomaly()`` (PyTorch's name; also ``set_detect_anomaly(True)``): the
engine checks every gradient a backward returns and raises at the first NaN,
naming the Function, where a training run would otherwise only see its loss
turn into nan steps later.  It reads each gradient (a device sync on the GPU),
so it is for debugging, off by default.
"""
import contextlib

import numpy as np

from .. import backend

__all__ = ["read_only_gradients", "read_only_views", "detect_anomaly", "set_detect_anomaly",
           "is_anomaly_enabled", "check_for_nan"]


@contextlib.contextmanager
def read_only_gradients():
    """Inside the block, backward() receives read-only gradient arrays (NumPy only:
    CuPy arrays cannot be made read-only, so on the GPU this changes nothing)."""
    previous = read_only_gradients.active
    read_only_gradients.active = True
    try:
        yield
    finally:
        read_only_gradients.active = previous


read_only_gradients.active = False   # read by the engine before every backward()


def read_only_views(arrays):
    """Read-only views of the NumPy arrays among ``arrays`` (others are returned as they are)."""
    return [_read_only_view(a) for a in arrays]


def _read_only_view(array):
    if not isinstance(array, np.ndarray):
        return array
    view = array.view()
    view.flags.writeable = False
    return view


_anomaly = {"enabled": False}       # read by the engine after every backward()


def is_anomaly_enabled():
    """Whether backward() checks every gradient for NaN (``detect_anomaly``)."""
    return _anomaly["enabled"]


class set_detect_anomaly:
    """Turn the NaN checks on or off now (``tn.autograd.set_detect_anomaly(True)``), or for a
    ``with`` block, which restores the previous setting at its end."""

    def __init__(self, mode, check_nan=True):
        self._previous = _anomaly["enabled"]
        _anomaly["enabled"] = bool(mode) and bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        _anomaly["enabled"] = self._previous
        return False


class detect_anomaly:
    """``with tn.autograd.detect_anomaly(): loss.backward()``: the NaN checks for the block
    (switched on when the block starts, as PyTorch's, not when the object is made)."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self._previous = _anomaly["enabled"]
        _anomaly["enabled"] = bool(self.check_nan)
        return self

    def __exit__(self, *exc_info):
        _anomaly["enabled"] = self._previous
        return False


def check_for_nan(function, gradients):
    """RuntimeError naming ``function`` if one of the gradients its backward returned has a NaN."""
    for i, g in enumerate(gradients):
        if g is not None and g.dtype.kind == "f" and bool(
                backend.get_array_module(g).isnan(g).any()):
            raise RuntimeError(f"Function '{type(function).__name__}' returned nan values in "
                               f"its gradient for input {i} (detect_anomaly)")
