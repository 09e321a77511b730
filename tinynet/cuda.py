"""``tn.cuda``: the few ``torch.cuda`` functions that everyday code calls.

``tn.cuda.is_available()`` is True when CuPy is installed and sees a GPU
(tinynet's "gpu" device, see ``tinynet.backend``).
"""
from . import backend

__all__ = ["is_available", "device_count", "synchronize", "manual_seed", "manual_seed_all"]


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
