"""cupyx of the strict stand-in: scatter_add & co., pinned host arrays, allow_synchronize."""
import contextlib

import numpy as np

from cupy import _strict
from cupy._namespace import missing
from cupy._strict import DeviceSynchronized  # noqa: F401


def _scatter(numpy_ufunc):
    def scatter(a, slices, value):
        numpy_ufunc.at(_strict.unwrap(a), _strict._host_index(slices), _strict.unwrap(value))
    scatter.__name__ = f"scatter_{numpy_ufunc.__name__}"
    return scatter


scatter_add = _scatter(np.add)
scatter_max = _scatter(np.maximum)
scatter_min = _scatter(np.minimum)


@contextlib.contextmanager
def allow_synchronize(allow):
    """Inside ``allow_synchronize(False)``, a device-to-host transfer raises DeviceSynchronized."""
    previous = _strict.ledger.synchronize_allowed
    _strict.ledger.synchronize_allowed = bool(allow)
    try:
        yield
    finally:
        _strict.ledger.synchronize_allowed = previous


def empty_pinned(shape, dtype=float, order="C"):
    """A host (NumPy) array in "pinned" memory: here ordinary memory."""
    return np.empty(shape, dtype=dtype, order=order)


def zeros_pinned(shape, dtype=float, order="C"):
    return np.zeros(shape, dtype=dtype, order=order)


def empty_like_pinned(a, dtype=None, order="K", subok=None, shape=None):
    return np.empty_like(a, dtype=dtype, order=order, shape=shape)


def zeros_like_pinned(a, dtype=None, order="K", subok=None, shape=None):
    return np.zeros_like(a, dtype=dtype, order=order, shape=shape)


def rsqrt(x, out=None):
    import cupy
    return cupy.divide(1, cupy.sqrt(x), out=out)


errstate, seterr, geterr = np.errstate, np.seterr, np.geterr
for _name in ("GeneralizedUFunc", "get_runtime_info", "optimizing", "profiler", "time", "linalg"):
    globals()[_name] = missing(f"cupyx.{_name}")
