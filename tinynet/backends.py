"""``tn.backends``: the switches of ``torch.backends`` that training scripts set.

    torch.backends.cudnn.benchmark = True            # the first lines of many training scripts
    torch.backends.cuda.matmul.allow_tf32 = True     # TF32 float32 GEMMs (Ampere and newer)
    device = "mps" if torch.backends.mps.is_available() else "cpu"

tinynet has no cuDNN: its convolutions are its own im2col + GEMM (``ops/conv/``)
on the CPU and the GPU alike, with nothing to benchmark or to make
deterministic.  So ``cudnn.benchmark``, ``cudnn.deterministic``,
``cudnn.enabled`` and ``cudnn.allow_tf32`` are accepted and kept, and change
nothing.  ``cuda.matmul.allow_tf32`` is ``backend.set_tf32``: it switches CuPy's
float32 GEMMs, the convolutions' included, to TF32, from the first GEMM on the GPU
on (CuPy reads the setting then, so set it before any GPU work; reading it back
tells what was set, not what an already started CuPy uses).  ``mps`` (Apple GPUs) is
never available: tinynet's devices are the CPU and CUDA GPUs through CuPy.
"""
import os

from . import backend

__all__ = ["cudnn", "cuda", "mps", "set_float32_matmul_precision", "get_float32_matmul_precision",
           "use_deterministic_algorithms", "are_deterministic_algorithms_enabled"]


class _Cudnn:
    """``torch.backends.cudnn``: flags accepted and kept; tinynet uses no cuDNN."""

    def __init__(self):
        self.enabled = True
        self.benchmark = False
        self.deterministic = False
        self.allow_tf32 = True

    @staticmethod
    def is_available():
        return False

    @staticmethod
    def version():
        return None


class _Matmul:
    """``torch.backends.cuda.matmul``: ``allow_tf32`` reads and sets ``backend.set_tf32``."""

    @property
    def allow_tf32(self):
        return os.environ.get("CUPY_TF32") == "1"

    @allow_tf32.setter
    def allow_tf32(self, enabled):
        backend.set_tf32(bool(enabled))


class _Cuda:
    """``torch.backends.cuda``."""

    def __init__(self):
        self.matmul = _Matmul()

    @staticmethod
    def is_built():
        return backend.gpu_available()


class _Mps:
    """``torch.backends.mps``: never available in tinynet."""

    @staticmethod
    def is_available():
        return False

    @staticmethod
    def is_built():
        return False


cudnn = _Cudnn()
cuda = _Cuda()
mps = _Mps()


# --- torch.* switches of the same kind ------------------------------------------------------

_PRECISIONS = ("highest", "high", "medium")
_deterministic = {"mode": False, "warn_only": False}


def set_float32_matmul_precision(precision):
    """``torch.set_float32_matmul_precision``: "highest" keeps float32 GEMMs in float32;
    "high" and "medium" allow TF32 on the GPU (``cuda.matmul.allow_tf32``)."""
    if precision not in _PRECISIONS:
        raise ValueError(f"set_float32_matmul_precision: precision must be one of "
                         f"{', '.join(map(repr, _PRECISIONS))}, got {precision!r}")
    backend.set_tf32(precision != "highest")


def get_float32_matmul_precision():
    """"high" where TF32 GEMMs are allowed, else "highest"."""
    return "high" if cuda.matmul.allow_tf32 else "highest"


def use_deterministic_algorithms(mode, *, warn_only=False):
    """``torch.use_deterministic_algorithms``: accepted and kept.  tinynet's CPU ops are
    deterministic; on the GPU the scatter-adds of indexing backward (``x[idx]``, embedding)
    use atomic additions, whose order, and so last bits, can vary between runs."""
    _deterministic.update(mode=bool(mode), warn_only=bool(warn_only))


def are_deterministic_algorithms_enabled():
    """What ``use_deterministic_algorithms`` was last given (False by default)."""
    return _deterministic["mode"]
