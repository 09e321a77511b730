"""Array backends: NumPy on the CPU, CuPy on the GPU, behind one name ``xp``.

Every op in tinynet is written once against the NumPy API and runs on either
library: ``xp = get_array_module(array)`` picks the module that owns an array,
so the same line ``xp.matmul(a, b)`` is a NumPy GEMM on the CPU and a cuBLAS
GEMM on the GPU.

CuPy is imported lazily, the first time something asks for the GPU, so that a
machine without CuPy (or without a GPU) imports tinynet without noticing.

Devices are named like PyTorch's, but only two exist: ``"cpu"`` and ``"gpu"``
(``"cuda"`` is accepted as an alias of ``"gpu"``).
"""
import functools
import os
import threading

import numpy as np

DEVICES = ("cpu", "gpu")
_DEVICE_ALIASES = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu"}

#: The dtype of new floating-point tensors, parameters and buffers.
DEFAULT_DTYPE = np.float32

_cupy = None  # the cupy module once imported successfully


class DeviceError(RuntimeError):
    """Raised for an unknown device name or a GPU that is not available."""


def normalize_device(device):
    """Return ``"cpu"`` or ``"gpu"`` for a device name, or raise DeviceError."""
    if device is None:
        return "cpu"
    name = str(device).lower()
    if name.startswith("cuda:") or name.startswith("gpu:"):
        name = name.split(":")[0]
    if name not in _DEVICE_ALIASES:
        raise DeviceError(
            f"unknown device {device!r}: tinynet knows 'cpu' and 'gpu' (alias 'cuda')")
    return _DEVICE_ALIASES[name]


def _import_cupy():
    """Import CuPy and check that it sees a GPU; raise one clear error if not."""
    global _cupy
    if _cupy is not None:
        return _cupy
    try:
        import cupy
    except ImportError as exc:
        raise DeviceError(
            "device 'gpu' needs CuPy, which is not installed: "
            "pip install 'tinynet[gpu]' (or the cupy-cudaXXx wheel matching your CUDA)"
        ) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        raise DeviceError(f"device 'gpu': CuPy is installed but CUDA is not usable ({exc})") from exc
    if count == 0:
        raise DeviceError("device 'gpu': CuPy is installed but no GPU was found")
    _cupy = cupy
    if _seed is not None:
        # manual_seed() usually runs before the first GPU use imports CuPy.
        cupy.random.seed(_seed % 2**32)
    return cupy


def gpu_available():
    """True if CuPy is installed and sees at least one GPU."""
    try:
        _import_cupy()
        return True
    except DeviceError:
        return False


def xp_for_device(device):
    """The array module (numpy or cupy) that holds arrays on ``device``."""
    return np if normalize_device(device) == "cpu" else _import_cupy()


def get_array_module(*arrays):
    """The array module of the given arrays: cupy if any is a CuPy array, else numpy.

    Only checks ``cupy`` if it was already imported, so CPU-only code never pays
    for (or fails on) importing CuPy.
    """
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def is_array(value):
    """True for a NumPy or a CuPy array (an ndarray; not a Tensor, a NumPy scalar or a list).

    A CuPy array made before tinynet imported CuPy is recognized too, by its
    CUDA array interface and its ``get()`` (the copy to the host).
    """
    if isinstance(value, np.ndarray):
        return True
    if _cupy is not None and isinstance(value, _cupy.ndarray):
        return True
    return hasattr(value, "__cuda_array_interface__") and callable(getattr(value, "get", None))


def device_of(array):
    """``"gpu"`` for a CuPy array, ``"cpu"`` for anything else."""
    return "gpu" if get_array_module(array) is not np else "cpu"


def to_device(array, device):
    """Return ``array`` on ``device``, copying only if it is elsewhere."""
    device = normalize_device(device)
    if device == device_of(array):
        return array
    if device == "cpu":
        # A read from the device: where the GPU's deferred checks surface (deferred_checks.py).
        from .deferred_checks import raise_pending
        raise_pending()
        return array.get()  # cupy -> numpy
    return _import_cupy().asarray(array)


def constant(host, xp, dtype=None):
    """A small host array as a read-only constant of module ``xp``, uploaded once per content.

    Ops build index tables and transform matrices on the host (a few bytes);
    copying one to the GPU at every call is a host-to-device transfer per step,
    so the device copy is kept, keyed by content, dtype and module.  Callers must
    not write into the result.  On the CPU it is just ``host`` in ``dtype``.
    """
    host = np.ascontiguousarray(host, dtype=dtype)
    if xp is np:
        return host
    return _uploaded(xp, host.dtype.str, host.shape, host.tobytes())


@functools.lru_cache(maxsize=512)
def _uploaded(xp, dtype, shape, data):
    return xp.asarray(np.frombuffer(data, dtype=dtype).reshape(shape))


def set_tf32(enabled):
    """Allow (or forbid) TF32 tensor-core math in CuPy's float32 GEMMs.

    TF32 keeps 10 of float32's 23 mantissa bits in the products (sums stay float32):
    several times faster on Ampere and newer GPUs, and what PyTorch's
    ``torch.backends.cuda.matmul.allow_tf32`` controls.  Off by default, as in
    PyTorch.  CuPy reads ``CUPY_TF32`` at its first float32 matmul, so call this
    before any work on the GPU (the training scripts' ``--tf32`` does).
    """
    os.environ["CUPY_TF32"] = "1" if enabled else "0"


def upload_from_worker(array, device):
    """``array`` (NumPy) on ``device``, copied the way a data loader's worker thread should.

    On the CPU it is ``array`` itself.  On a GPU: through a pinned (page-locked) host
    buffer, which makes the copy a true DMA that does not hold the host, on a CUDA stream
    of this thread's own, waiting for that stream only.  So the training thread, which
    queues its kernels on the default stream, never waits for a batch's upload, and the
    array it receives is complete.
    """
    if normalize_device(device) == "cpu":
        return array
    cupy = _import_cupy()
    import cupyx
    pinned = cupyx.empty_pinned(array.shape, dtype=array.dtype)
    pinned[...] = array
    stream = getattr(_worker_streams, "stream", None)
    if stream is None:
        stream = _worker_streams.stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        on_device = cupy.asarray(pinned)
        stream.synchronize()            # the copy is done: ``pinned`` may be freed
    return on_device


_worker_streams = threading.local()     # one CUDA stream per worker thread


def to_numpy(array):
    """A NumPy array holding ``array``'s values, wherever it lives."""
    return to_device(array, "cpu") if not isinstance(array, np.ndarray) else array


# --- the global random generator -------------------------------------------------------------
#
# tinynet draws random numbers on the host, from NumPy generators, and then moves them to the
# device: that is why one seed gives the same weights on the CPU and on the GPU.  (Dropout's
# masks on the GPU are the exception: drawn there by cupy.random, see ops/dropout.py.)  The global
# generator lives here, below everything else, because every layer of tinynet draws from it;
# ``tinynet.random`` wraps it as ``tn.default_generator`` and adds ``tn.Generator``.

#: The seed of the global generator until ``manual_seed`` is called.
DEFAULT_SEED = 0

_SEED_RANGE = (-2**63, 2**64)   # what torch.manual_seed accepts: an int64 or a uint64


def normalize_seed(seed):
    """``seed`` as a non-negative int below 2**64, as ``torch.manual_seed`` reads it.

    Like PyTorch, ``int(seed)`` is taken and a negative seed wraps around 2**64
    (-1 -> 2**64 - 1), because NumPy's generators take only non-negative seeds.
    """
    value = int(seed)
    low, high = _SEED_RANGE
    if not low <= value < high:
        raise ValueError(f"seed must be in [{low}, {high - 1}] (an int64 or a uint64), "
                         f"got {value}")
    return value % 2**64


def manual_seed(seed):
    """Seed every random generator tinynet draws from (NumPy, and CuPy if in use).

    Layers draw from ``get_rng()`` (a ``numpy.random.Generator``) so that
    initialization and dropout are reproducible; the same seed gives the same
    weights on the CPU and on the GPU, because weights are drawn on the CPU.
    NumPy's legacy global generator (``np.random.seed``) and CuPy's, which GPU
    dropout masks come from, are seeded too.
    """
    global _rng, _seed
    seed = normalize_seed(seed)
    _rng = np.random.default_rng(seed)
    _seed = seed
    np.random.seed(seed % 2**32)
    if _cupy is not None:
        _cupy.random.seed(seed % 2**32)


def initial_seed():
    """The seed the global generator was last seeded with (``DEFAULT_SEED`` if never)."""
    return DEFAULT_SEED if _seed is None else _seed


def get_rng():
    """The NumPy generator that initialization, CPU dropout masks and random tensors draw from.

    ``manual_seed`` replaces it with a new object, so look it up at every draw
    instead of keeping it.
    """
    return _rng


_rng = np.random.default_rng(DEFAULT_SEED)
_seed = None   # the last manual_seed, applied to CuPy's generator when CuPy is first imported


_num_threads = None


def get_num_threads():
    """The threads CPU ops may use (``torch.get_num_threads``): the last
    ``set_num_threads``, else the CPU count."""
    return _num_threads or os.cpu_count() or 1


def set_num_threads(count):
    """Record the thread count for ``get_num_threads`` (NumPy's BLAS sets its own at start,
    so this does not resize it)."""
    global _num_threads
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {count!r}")
    _num_threads = count


def compile(model=None, **options):
    """``torch.compile``: tinynet has no compiler, so the model or function is returned
    unchanged; ``@tn.compile(mode=...)`` is a decorator that does the same."""
    if model is None:
        return lambda function: function
    return model
