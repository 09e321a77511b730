"""cupy.cuda.runtime of the strict stand-in: one pretend device, and CuPy's error class."""
from .memory import DEVICE_MEMORY

DEVICE_NAME = b"strict CuPy stand-in (NumPy)"


class CUDARuntimeError(RuntimeError):
    def __init__(self, status=0, message="CUDA runtime error (strict stand-in)"):
        super().__init__(message)
        self.status = status


def getDeviceCount():
    return 1


def getDevice():
    return 0


def setDevice(device):
    if device != 0:
        raise CUDARuntimeError(101, "cudaErrorInvalidDevice: the stand-in has one device, 0")


def getDeviceProperties(device):
    setDevice(device)
    return {"name": DEVICE_NAME, "totalGlobalMem": DEVICE_MEMORY, "major": 9, "minor": 0,
            "multiProcessorCount": 1}


def deviceSynchronize():
    pass


def memGetInfo():
    from .memory import get_default_memory_pool
    return DEVICE_MEMORY - get_default_memory_pool().total_bytes(), DEVICE_MEMORY


def runtimeGetVersion():
    return 13000


def driverGetVersion():
    return 13000
