"""Reverse-mode automatic differentiation (``tinynet.autograd``, as ``torch.autograd``).

Read in this order:

    engine.py        the engine: Function, recording a call, topological order, the
                     backward walk (start here; it reads top to bottom)
    tensor_core.py   Tensor's core: data, grad, grad_fn, backward(); tn.tensor & co.
    grad_mode.py     no_grad, enable_grad, inference_mode, set_grad_enabled
    hooks.py         register_hook and retain_grad: gradients seen as the walk makes them
    function_ctx.py  Functions in PyTorch's style: forward(ctx, ...), ctx.save_for_backward
    gradients.py     autograd.grad: gradients returned instead of stored in .grad
    debug.py         read_only_gradients(): catch a backward that writes into its input;
                     detect_anomaly(): catch the first backward that returns a NaN

PyTorch's public names are here: ``tn.autograd.Function``, ``tn.autograd.grad``,
``tn.autograd.backward``.
"""
from .engine import Edge, Function, backward
from .function_ctx import FunctionCtx
from .debug import detect_anomaly, is_anomaly_enabled, read_only_gradients, set_detect_anomaly
from .gradients import grad
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .hooks import HookHandle
from .tensor_core import Size, Tensor, _as_array, _wrap_dim, as_tensor, from_numpy, is_tensor, tensor

__all__ = ["Tensor", "Size", "Function", "FunctionCtx", "tensor", "as_tensor", "from_numpy",
           "is_tensor", "no_grad", "enable_grad", "set_grad_enabled", "inference_mode",
           "is_grad_enabled", "backward", "grad", "read_only_gradients", "HookHandle", "Edge",
           "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "Variable"]


def Variable(data, requires_grad=False, volatile=False):  # noqa: N802  (PyTorch's old name)
    """PyTorch before 0.4 wrapped tensors in Variables; today ``Variable(t)`` is a new leaf
    tensor on t's data (``t.detach()``), with ``requires_grad`` as given.  Old code runs."""
    return as_tensor(data).detach().requires_grad_(requires_grad)
