"""Functions written in PyTorch's style: ``forward(ctx, ...)`` and ``backward(ctx, ...)``.

    class Square(tn.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x
        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return 2 * x * grad

    y = Square.apply(x)

``Function.apply`` sees the staticmethod ``forward`` and runs the class through
``_ContextFunction``, an ordinary engine Function whose forward and backward
wrap its arrays as Tensors, call the user's staticmethods under ``no_grad()``
(what they compute is not recorded again) and unwrap the results.
"""
from .engine import Function
from .grad_mode import no_grad
from .tensor_core import Tensor, as_tensor

__all__ = ["FunctionCtx", "apply_context_function"]


def apply_context_function(user_class, args):
    """``user_class.apply(*args)`` for a PyTorch-style Function: the Tensors among ``args``
    are its inputs; the other arguments are passed to forward as they are."""
    positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
    return _ContextFunction(user_class, args, positions)(*(args[i] for i in positions))


class FunctionCtx:
    """The ``ctx`` of a PyTorch-style Function: what forward leaves for backward."""

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *tensors):
        """Accepted for compatibility: integer outputs carry no gradient anyway."""

    def set_materialize_grads(self, value):
        """Accepted for compatibility: backward always receives gradient tensors (zeros)."""


class _ContextFunction(Function):
    """Runs a Function subclass written in PyTorch's style (see ``Function.apply``).

    Its forward and backward see Tensors (wrapping this Function's arrays), and
    run under ``no_grad()``, so what they compute is not recorded again.
    """

    def __init__(self, user_class, args, positions):
        self.user_class, self.args, self.positions = user_class, args, positions

    def forward(self, *arrays):
        args = list(self.args)
        for i, array in zip(self.positions, arrays):
            args[i] = Tensor._from_array(array)
        self.ctx = FunctionCtx()
        needs = dict(zip(self.positions, self.needs_input_grad))
        self.ctx.needs_input_grad = tuple(needs.get(i, False) for i in range(len(args)))
        with no_grad():
            out = self.user_class.forward(self.ctx, *args)
        if isinstance(out, tuple):
            return tuple(as_tensor(o).data for o in out)
        return as_tensor(out).data

    def backward(self, *grad_outputs):
        with no_grad():
            grads = self.user_class.backward(self.ctx, *map(Tensor._from_array, grad_outputs))
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) != len(self.args):
            raise RuntimeError(f"{self.user_class.__name__}.backward returned {len(grads)} "
                               f"gradients for {len(self.args)} forward arguments")
        return tuple(None if grads[i] is None else as_tensor(grads[i]).data
                     for i in self.positions)

