"""tinynet: a small, readable deep-learning framework on NumPy (CPU) and CuPy (GPU).

    import tinynet as tn
    x = tn.tensor(array, requires_grad=True)
    y = tn.ops.conv2d(x, w, b, padding=1).relu().sum()
    y.backward(); x.grad
"""
from . import backend
from .autograd import (Function, Tensor, as_tensor, enable_grad, is_grad_enabled, no_grad,
                       set_grad_enabled, tensor)
from . import ops
from . import nn
from . import io
from . import optim
from . import models
from .backend import gpu_available, manual_seed
from .gradcheck import GradcheckError, gradcheck
from .ops.creation import arange, ones, ones_like, rand, randn, zeros, zeros_like

__all__ = ["Tensor", "Function", "tensor", "as_tensor", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled", "gradcheck", "GradcheckError", "manual_seed",
           "gpu_available", "zeros", "ones", "zeros_like", "ones_like", "rand", "randn", "arange",
           "backend", "ops", "nn", "optim", "models", "io", "float32", "float64"]
__version__ = "0.1.0"
float32 = backend.np.float32
float64 = backend.np.float64
