"""cupy.cuda of the strict stand-in: a device, streams and events that do nothing on time.

Work on the stand-in is done when the call returns, so synchronizing is free
and events measure wall time.  There is no ``cupy.cuda.nccl``: importing it
fails as it does for a CuPy built without NCCL.
"""
import time

from . import memory, runtime
from .memory import MemoryPool, PinnedMemoryPool  # noqa: F401
from .runtime import CUDARuntimeError  # noqa: F401


class Device:
    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        runtime.setDevice(self.id)

    compute_capability = "90"

    @property
    def mem_info(self):
        return runtime.memGetInfo()

    def use(self):
        pass

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id} (strict stand-in)>"


class Stream:
    null = None         # set below

    def __init__(self, null=False, non_blocking=False, ptr=0):
        self.ptr = 0 if null else id(self)

    def synchronize(self):
        pass

    def use(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


Stream.null = Stream(null=True)


def get_current_stream(device_id=None):
    return Stream.null


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.time = None

    def record(self, stream=None):
        self.time = time.perf_counter()

    def synchronize(self):
        pass

    @property
    def done(self):
        return True


def get_elapsed_time(start_event, end_event):
    """Milliseconds between two recorded events."""
    return (end_event.time - start_event.time) * 1e3


def get_device_id():
    return 0


def is_available():
    return True


def alloc_pinned_memory(size):
    """Host memory that NumPy can wrap with frombuffer (here plain memory)."""
    return bytearray(size)
