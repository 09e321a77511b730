"""A debug mode of the engine: every ``backward()`` gets read-only gradient arrays.

A Function whose backward writes into an incoming gradient (forbidden by the
contract in ``engine.Function``) then raises ``ValueError: assignment
destination is read-only`` instead of silently corrupting a gradient that
another Function shares.  The tests run every gradient check in this mode.
"""
import contextlib

import numpy as np

__all__ = ["read_only_gradients", "read_only_views"]


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
