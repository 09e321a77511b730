"""Adam and AdamW: adaptive moment estimation (Kingma & Ba, 2015; Loshchilov & Hutter, 2019).

For each parameter p with gradient g, at step t = 1, 2, ... (PyTorch's formulation)::

    g = -g                                     if maximize
    g = g + weight_decay * p                   Adam: L2 penalty in the gradient
    p = p * (1 - lr * weight_decay)            AdamW: decay decoupled from the gradient
    m = beta1 * m + (1 - beta1) * g            first moment (mean of g)
    v = beta2 * v + (1 - beta2) * g**2         second moment (uncentred variance)
    v_max = max(v_max, v)                      if amsgrad; then v_max replaces v below
    p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

m and v start at zero, so early on they are biased towards zero; dividing by
``1 - beta**t`` (bias correction) undoes that.  Why AdamW: with L2 in the
gradient, the decay term is also divided by sqrt(v), so weights with large
gradients are barely regularized; decoupling applies the same decay to all.

``fused=True`` on a GPU runs the m, v and p updates as ONE CUDA kernel per
parameter (``ElementwiseKernel``) instead of about a dozen elementwise ones:
on a GPU each kernel launch costs microseconds and each pass reads and writes
the parameter-sized arrays again.  Where a kernel cannot be compiled (the
tests' strict CuPy stand-in) the same update runs as the xp code below; the
kernel itself is tested only on a GPU (tests/test_gpu.py compares the two).
"""
import functools
import math

import numpy as np

from .. import backend
from .optimizer import Optimizer, check_hyperparameter

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (``torch.optim.Adam`` semantics and arguments).

    Parameters
    ----------
    params : iterable of Tensor or of dict (parameter groups)
    lr : float, learning rate (>= 0).
    betas : (float, float), decay rates of the first and second moments, each in [0, 1).
    eps : float, added to the denominator for numerical stability (>= 0).
    weight_decay : float, L2 penalty (>= 0); decoupled (AdamW) if ``decoupled_weight_decay``.
        NaN is refused for all of these (ValueError naming the argument).
    amsgrad : bool, use the running maximum of the second moment (Reddi et al., 2018).
    maximize : bool, ascend the objective instead of descending it.
    fused : bool or None, on a GPU one CUDA kernel per parameter for the update (see the
        module docstring); None (the default) and False: the xp code, as on the CPU.
        With ``amsgrad`` the xp code runs either way.

    State per parameter: ``"step"`` (int), ``"exp_avg"``, ``"exp_avg_sq"`` and,
    with amsgrad, ``"max_exp_avg_sq"``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False, fused=None):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay, fused=fused)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        name = self._name
        for key in ("lr", "eps", "weight_decay"):
            check_hyperparameter(name, key, group[key])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = tuple(betas)  # hashable and printable like torch's
        for i, beta in enumerate(betas):
            check_hyperparameter(name, f"betas[{i}]", beta, below=1)

    def _update(self, param, grad, group, state):
        lr, eps, weight_decay = (float(group[k]) for k in ("lr", "eps", "weight_decay"))
        beta1, beta2 = (float(b) for b in group["betas"])
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                param.data *= 1.0 - lr * weight_decay
            else:
                grad = grad + weight_decay * param.data
        self._init_state(param, group, state)
        state["step"] += 1
        step = state["step"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        step_size = lr / (1.0 - beta1 ** step)
        if group.get("fused") and not group["amsgrad"] and _fused_update(
                param.data, grad, exp_avg, exp_avg_sq, beta1, beta2, step_size,
                math.sqrt(1.0 - beta2 ** step), eps):
            return
        exp_avg *= beta1
        exp_avg += (1.0 - beta1) * grad
        exp_avg_sq *= beta2
        exp_avg_sq += (1.0 - beta2) * (grad * grad)
        second = exp_avg_sq
        if group["amsgrad"]:
            xp = backend.get_array_module(param.data)
            second = xp.maximum(state["max_exp_avg_sq"], exp_avg_sq,
                                out=state["max_exp_avg_sq"])
        # Bias corrections are Python floats: cheap scalars, no extra array passes.
        denom = backend.get_array_module(second).sqrt(second)
        denom /= math.sqrt(1.0 - beta2 ** step)
        denom += eps
        param.data -= step_size * (exp_avg / denom)

    @staticmethod
    def _init_state(param, group, state):
        """Create the moment buffers (zeros like the parameter) the first time ``param`` updates."""
        xp = backend.get_array_module(param.data)
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param.data)
            state["exp_avg_sq"] = xp.zeros_like(param.data)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = xp.zeros_like(param.data)


def _fused_update(param, grad, exp_avg, exp_avg_sq, beta1, beta2, step_size, bias2_sqrt, eps):
    """The Adam update of one parameter as one CUDA kernel, in place; False where none runs
    (NumPy arrays, or a CuPy that cannot compile CUDA source), so the caller runs the xp code.
    """
    xp = backend.get_array_module(param)
    if xp is np:
        return False
    try:
        _adam_kernel(xp)(grad.astype(param.dtype, copy=False), beta1, beta2, step_size,
                         bias2_sqrt, eps, param, exp_avg, exp_avg_sq)
    except NotImplementedError:     # the strict CuPy stand-in of the tests
        return False
    return True


@functools.lru_cache(maxsize=None)
def _adam_kernel(cupy):
    """The fused update: the same formulas, in the same order, as ``Adam._update``."""
    return cupy.ElementwiseKernel(
        "T grad, T beta1, T beta2, T step_size, T bias2_sqrt, T eps",
        "T param, T exp_avg, T exp_avg_sq",
        """
        exp_avg = beta1 * exp_avg + (1 - beta1) * grad;
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * (grad * grad);
        param -= step_size * (exp_avg / (sqrt(exp_avg_sq) / bias2_sqrt + eps));
        """,
        "tinynet_adam_update")


class AdamW(Adam):
    """Adam with decoupled weight decay (``torch.optim.AdamW``): ``p *= 1 - lr * weight_decay``.

    Same arguments as ``Adam``, but ``weight_decay`` defaults to 1e-2.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True,
                         fused=fused)
