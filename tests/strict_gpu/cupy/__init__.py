"""A strict CuPy stand-in: ``device="gpu"`` on NumPy, failing where CuPy would fail.

Why: tinynet's GPU path had never run on a GPU, and most bugs that break a
first GPU run are visible without one (a NumPy call on a device array, a
host copy inside a step, a NumPy index array, a NumPy-only function).  With
this package first on ``sys.path`` (tests/conftest.py puts it there when no
real GPU is usable, or always with ``TINYNET_STRICT_GPU=1``), ``import cupy``
finds it, ``tinynet.gpu_available()`` is True and every ``gpu`` test runs,
on NumPy underneath, as strictly as CuPy:

* its arrays are their own type (``_strict.ndarray``), not NumPy arrays;
  NumPy refuses them and they refuse NumPy arrays (see ``_strict.py``);
* only the names CuPy 14.2 has exist (``_namespace.py``);
* every device-to-host transfer is counted: ``cupy._strict.transfers``, and
  ``with cupy._strict.count_transfers() as t:`` around a piece of code;
* kernels written as CUDA source (``ElementwiseKernel``, ``RawKernel``,
  ``ReductionKernel``, ``fuse``) cannot run here: calling one raises, so code
  that has one needs an xp fallback, and the kernel itself is tested only on a GPU.

Numbers agree with NumPy's, not with a GPU's (another summation order, no
TF32); the random generators are NumPy's, so GPU draws differ from real CuPy's.
"""
import sys

import numpy as np

from . import _namespace, _strict
from ._namespace import CUPY_VERSION, populate, ufunc  # noqa: F401
from ._strict import count_transfers, ndarray, transfers  # noqa: F401

__version__ = CUPY_VERSION
STRICT_STAND_IN = True      # so a test can tell the stand-in from the real CuPy

_strict.install_methods(_namespace.NAMES["cupy.ndarray"], _namespace.NAMES["cupy.ndarray dunders"])


# -- where host data becomes device data ------------------------------------------------

def asarray(a, dtype=None, order=None, *, blocking=False):
    """A device array of ``a``: the same object if it already is one of this dtype; host
    data is copied up (counted)."""
    if isinstance(a, ndarray):
        host = np.asarray(a._host, dtype=dtype, order=order)
        return a if host is a._host else ndarray._from_host(host)
    return ndarray._from_host(np.array(_strict.upload(a, "cupy.asarray"), dtype=dtype,
                                       order=order or "K"))


asanyarray = asarray


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    """A new device array (a copy, as in CuPy); host data is copied up (counted)."""
    host = obj._host if isinstance(obj, ndarray) else _strict.upload(obj, "cupy.array")
    return ndarray._from_host(np.array(host, dtype=dtype, copy=True, order=order, ndmin=ndmin))


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """``a`` on the host: a counted transfer for a device array, NumPy's asarray otherwise."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def get_array_module(*args):
    """This module if any argument is a device array, else numpy (as CuPy's)."""
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else np


def is_available():
    return True


# -- CUDA-source kernels: constructible, never run here ---------------------------------

class _CudaSourceKernel:
    """ElementwiseKernel, ReductionKernel, RawKernel, RawModule: CUDA C that only a GPU runs."""

    def __init__(self, *args, **kwargs):
        self.name = kwargs.get("name", type(self).__name__)

    def __call__(self, *args, **kwargs):
        raise NotImplementedError(
            f"{type(self).__name__} {self.name!r}: CUDA source cannot run on the strict CuPy "
            "stand-in; the code must take its xp fallback here, and the kernel is tested "
            "only on a GPU")

    def get_function(self, name):
        return self


class ElementwiseKernel(_CudaSourceKernel):
    pass


class ReductionKernel(_CudaSourceKernel):
    pass


class RawKernel(_CudaSourceKernel):
    pass


class RawModule(_CudaSourceKernel):
    pass


def fuse(*args, **kwargs):
    """``cupy.fuse`` compiles a kernel: here the fused function refuses to run."""
    def decorate(function):
        kernel = _CudaSourceKernel(name=getattr(function, "__name__", "fused"))
        kernel.__class__ = type("fuse", (_CudaSourceKernel,), {})
        return kernel
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return decorate(args[0])
    return decorate


# -- names CuPy kept from NumPy 1 ---------------------------------------------------------

Inf = Infinity = PINF = infty = np.inf
NINF = -np.inf
NAN = NaN = np.nan
PZERO, NZERO = 0.0, -0.0
float_, complex_, cfloat, singlecomplex = np.float64, np.complex128, np.complex128, np.complex64
AxisError, ComplexWarning, TooHardError, RankWarning, VisibleDeprecationWarning, \
    ModuleDeprecationWarning = (getattr(np.exceptions, name, Warning) for name in (
        "AxisError", "ComplexWarning", "TooHardError", "RankWarning",
        "VisibleDeprecationWarning", "ModuleDeprecationWarning"))
_RENAMED = {"alltrue": "all", "sometrue": "any", "product": "prod", "cumproduct": "cumprod",
            "round_": "round", "in1d": "isin", "trapz": "trapezoid"}
for _old, _new in _RENAMED.items():
    globals()[_old] = _namespace.device_function(_old, getattr(np, _new))

# -- the submodules, then every other name of CuPy's namespace ---------------------------

from . import cuda, fft, linalg, random  # noqa: E402

from .cuda import memory as _memory  # noqa: E402

get_default_memory_pool = _memory.get_default_memory_pool
get_default_pinned_memory_pool = _memory.get_default_pinned_memory_pool

populate(globals(), "cupy", np, "cupy")
