"""A debug mode of the engine: every ``backward()`` gets read-only gradient arrays.

A Function whose backward writes into an incoming gradient (forbidden by the
contract in ``engine.Function``) then raises ``ValueError: assignment
destination is read-only`` instead of silently corrupting a gradient that
another Function shares.  The tests run every gradient check in this mode.
"""
import contextlib

import numpy as np

__all__ = ["read_only_gradients", "guarded"]


class _Debug:
    read_only_gradients = False


@contextlib.contextmanager
def read_only_gradients():
    """Inside the block, backward() receives read-only gradient arrays (NumPy only:
    CuPy arrays cannot be made read-only, so on the GPU this changes nothing)."""
    previous = _Debug.read_only_gradients
    _Debug.read_only_gradients = True
    try:
        yield
    finally:
        _Debug.read_only_gradients = previous


def guarded(grad_outputs):
    """The gradients a backward() receives: read-only views inside ``read_only_gradients()``."""
    if not _Debug.read_only_gradients:
        return grad_outputs
    return [_read_only_view(g) for g in grad_outputs]


def _read_only_view(array):
    if not isinstance(array, np.ndarray):
        return array
    view = array.view()
    view.flags.writeable = False
    return view
