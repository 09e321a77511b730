"""``tn.cuda``: the few ``torch.cuda`` functions that everyday code calls.

``tn.cuda.is_available()`` is True when CuPy is installed and sees a GPU
(tinynet's "gpu" device, see ``tinynet.backend``).  ``tn.cuda.amp`` is
PyTorch's older spelling of mixed precision on the GPU (``torch.cuda.amp.autocast()``,
``torch.cuda.amp.GradScaler()``), still common in training scripts: the same
objects as ``tn.autocast("cuda")`` and ``tn.amp.GradScaler("cuda")``.
"""
from . import backend

__all__ = ["is_available", "device_count", "current_device", "get_device_name", "synchronize",
           "empty_cache", "memory_allocated", "manual_seed", "manual_seed_all", "amp"]


def is_available():
    """True if tinynet can use a GPU (CuPy installed, at least one device)."""
    return backend.gpu_available()


def device_count():
    """The number of GPUs tinynet can use: 1 when one is available (tinynet uses one), else 0."""
    return 1 if is_available() else 0


def synchronize():
    """Wait until the GPU has finished its queued work (a no-op without a GPU).

    Needed before reading a timer: GPU kernels run asynchronously.
    """
    if is_available():
        backend.xp_for_device("gpu").cuda.get_current_stream().synchronize()


def manual_seed(seed):
    """Seed tinynet's generators (``tn.manual_seed``; CPU and GPU draw from the same one)."""
    backend.manual_seed(seed)


manual_seed_all = manual_seed


def current_device():
    """The index of the GPU in use: always 0 (tinynet uses one GPU a process)."""
    return 0


def get_device_name(device=None):
    """The GPU's name, e.g. "NVIDIA H100 80GB HBM3" (RuntimeError without a GPU, as PyTorch)."""
    if not is_available():
        raise RuntimeError("get_device_name: no CUDA GPU is available (tinynet sees one "
                           "through CuPy)")
    cupy = backend.xp_for_device("gpu")
    name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
    return name.decode() if isinstance(name, bytes) else name


def empty_cache():
    """Hand the GPU memory CuPy keeps for reuse back to the driver (a no-op without a GPU)."""
    if is_available():
        cupy = backend.xp_for_device("gpu")
        cupy.get_default_memory_pool().free_all_blocks()
        cupy.get_default_pinned_memory_pool().free_all_blocks()


def memory_allocated(device=None):
    """Bytes of GPU memory held by tensors now (CuPy's pool in use); 0 without a GPU."""
    if not is_available():
        return 0
    return int(backend.xp_for_device("gpu").get_default_memory_pool().used_bytes())


class amp:  # noqa: N801  (PyTorch's module name, torch.cuda.amp)
    """``torch.cuda.amp``: ``autocast(...)`` is ``tn.autocast("cuda", ...)`` and
    ``GradScaler(...)`` is ``tn.amp.GradScaler("cuda", ...)``, with PyTorch's arguments."""

    @staticmethod
    def autocast(enabled=True, dtype=None, cache_enabled=True):
        from .amp import autocast
        return autocast("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    @staticmethod
    def GradScaler(init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5,  # noqa: N802
                   growth_interval=2000, enabled=True):
        from .amp import GradScaler
        return GradScaler("cuda", init_scale=init_scale, growth_factor=growth_factor,
                          backoff_factor=backoff_factor, growth_interval=growth_interval,
                          enabled=enabled)
