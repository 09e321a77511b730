"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay.

The update, for each parameter p with gradient g (PyTorch's formulation)::

    g = -g                            if maximize
    g = g + weight_decay * p          (L2 penalty folded into the gradient)
    b = g                             on the first step (no dampening yet)
    b = momentum * b + (1 - dampening) * g    afterwards
    g = g + momentum * b              if nesterov, else  g = b
    p = p - lr * g

With ``momentum=0`` it is plain SGD and keeps no state.  Note that PyTorch's
momentum multiplies the learning rate into the step, not into the buffer, so
changing ``lr`` mid-training takes effect at once (unlike Sutskever et al.).
"""
from .optimizer import Optimizer, check_hyperparameter

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD with optional momentum (``torch.optim.SGD`` semantics and arguments).

    Parameters
    ----------
    params : iterable of Tensor or of dict (parameter groups)
    lr : float, learning rate (>= 0).
    momentum : float, momentum factor (>= 0); 0 disables momentum.
    dampening : float, scales the gradient added to the momentum buffer by ``1 - dampening``
        (any number but NaN, as in PyTorch).
    weight_decay : float, L2 penalty coefficient (>= 0), added to the gradient.
    nesterov : bool, Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
    NaN is refused for lr, momentum and weight_decay as well (ValueError naming the argument).
    maximize : bool, ascend the objective instead of descending it.

    State per parameter: ``"momentum_buffer"`` (only when momentum != 0).
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, group):
        for key in ("lr", "momentum", "weight_decay"):
            check_hyperparameter("SGD", key, group[key])
        check_hyperparameter("SGD", "dampening", group["dampening"], allow_negative=True)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires momentum > 0 and dampening = 0, "
                             f"got momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, param, grad, group, state):
        # Python floats keep float32 arrays float32 (a NumPy float64 scalar would upcast).
        lr = float(group["lr"])
        momentum = float(group["momentum"])
        weight_decay = float(group["weight_decay"])
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * param.data
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                # A copy: `grad` may be the parameter's own .grad array.
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= momentum
                buf += (1.0 - float(group["dampening"])) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        param.data -= lr * grad
