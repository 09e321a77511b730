"""tinynet: a small, readable deep-learning framework on NumPy (CPU) and CuPy (GPU).

    import tinynet as tn
    x = tn.tensor(array, requires_grad=True)
    y = tn.ops.conv2d(x, w, b, padding=1).relu().sum()
    y.backward(); x.grad

The top-level names mirror ``torch.*``: ``tn.cat``, ``tn.sum``, ``tn.where``,
``tn.zeros``, ``tn.float32``, ``tn.no_grad``, ``tn.device``, ``tn.cuda.is_available()``,
``tn.autocast`` and ``tn.amp.GradScaler`` (mixed precision), ...
(the functions live in ``tinynet.ops``; the dtypes in ``tinynet.dtypes``).

Import order matters in one place only: ``tensor_methods`` attaches the ops to
``Tensor`` as its methods, so it comes right after ``ops``.
"""
import math

import numpy as _np

from . import backend
from . import autograd
from .autograd import (Function, Size, Tensor, as_tensor, enable_grad, from_numpy, inference_mode,
                       is_grad_enabled, is_tensor, no_grad, set_grad_enabled, tensor)
from . import ops
from . import tensor_methods
from . import cuda
from . import backends
from .backends import (are_deterministic_algorithms_enabled, get_float32_matmul_precision,
                       set_float32_matmul_precision, use_deterministic_algorithms)
from . import linalg
from . import dtypes as _dtypes
from . import nn
from . import io
from . import optim
from . import amp
from .amp import autocast
from . import models
from . import distributed  # mpi4py is imported only by init_process_group
from . import utils
from . import random
from . import distributions
from .backend import compile, get_num_threads, gpu_available, set_num_threads  # noqa: A004
from .random import (Generator, default_generator, get_rng_state, initial_seed, manual_seed,
                     seed, set_rng_state)
from .device import device
from .io.torch_save import load, save
from .gradcheck import GradcheckError, gradcheck
from .ops import compare as _compare, creation as _creation, einstein_sum as _einstein_sum
from .ops import math as _math, reduce as _reduce
from .ops import shape as _shape, sorting as _sorting, vector_norm as _vector_norm
from .ops.activation import log_softmax, relu, sigmoid, softmax, tanh

# torch.* functions: the public functions of these ops modules, and the dtypes.
from .ops.math import *  # noqa: F401,F403,E402
from .ops.einstein_sum import *  # noqa: F401,F403,E402
from .ops.reduce import *  # noqa: F401,F403,E402
from .ops.vector_norm import *  # noqa: F401,F403,E402
from .ops.matrix import det, inverse, logdet, slogdet  # noqa: F401,E402  (torch.det, ...)
from .ops.compare import *  # noqa: F401,F403,E402
from .ops.sorting import *  # noqa: F401,F403,E402
from .ops.shape import *  # noqa: F401,F403,E402
from .ops.creation import *  # noqa: F401,F403,E402
from .dtypes import *  # noqa: F401,F403,E402  (shadows float, int, bool in this file)


from .legacy import *  # noqa: F401,F403,E402  (FloatTensor, LongTensor, ...)
from . import legacy as _legacy  # noqa: E402
from .autograd.debug import is_anomaly_enabled, set_detect_anomaly as set_anomaly_enabled  # noqa: E402
from . import testing  # noqa: E402

pi, e, inf, nan = math.pi, math.e, math.inf, math.nan
finfo, iinfo = _np.finfo, _np.iinfo  # finfo(tn.float32).eps, .max, .tiny, as torch.finfo


def numel(input):
    """The number of elements of ``input`` (``torch.numel``)."""
    return input.numel()


_TORCH_FUNCTIONS = (_math.__all__ + _einstein_sum.__all__ + _reduce.__all__ + _vector_norm.__all__ + _compare.__all__
                    + _sorting.__all__ + _shape.__all__ + _creation.__all__ + _dtypes.__all__
                    + _legacy.__all__
                    + ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "numel"])
__all__ = sorted(set(_TORCH_FUNCTIONS) | {
    "Tensor", "Size", "Function", "autograd", "pi", "e", "inf", "nan", "finfo", "iinfo", "tensor", "as_tensor", "from_numpy", "is_tensor", "no_grad",
    "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled", "device", "cuda", "linalg",
    "gradcheck", "GradcheckError", "manual_seed", "gpu_available", "backend", "ops", "nn",
    "optim", "amp", "autocast", "models", "io", "distributed", "utils", "random", "Generator",
    "default_generator",
    "seed", "initial_seed", "get_rng_state", "set_rng_state", "backends",
    "set_float32_matmul_precision", "get_float32_matmul_precision",
    "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
    "is_anomaly_enabled", "set_anomaly_enabled", "testing"})
__version__ = "0.1.0"
