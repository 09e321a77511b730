"""``autograd.grad``: the gradients of outputs with respect to chosen inputs, returned.

The same walk as ``backward()`` (engine.backpropagate), with another place to
put what arrives: instead of adding into ``.grad``, the gradients of the
requested inputs are collected and returned; no ``.grad`` is touched.  A
non-leaf input is *watched* (hooks.py) so the walk hands over its gradient
when it is finished, as it does for a tensor that called ``retain_grad()``.
"""
import builtins

from . import hooks
from .engine import backpropagate
from .tensor_core import Tensor, initial_gradient

__all__ = ["grad"]


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """The gradients of ``outputs`` with respect to ``inputs`` (``torch.autograd.grad``).

    ``outputs`` and ``inputs`` are a Tensor or a sequence of Tensors;
    ``grad_outputs`` the gradients of the outputs (needed unless each has one
    element).  An input that the outputs do not depend on is an error, or None
    with ``allow_unused=True``.  Returns a tuple, one Tensor per input.
    """
    if create_graph:
        raise NotImplementedError("grad(create_graph=True): tinynet computes first derivatives "
                                  "only")
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad: got {len(outputs)} outputs and {len(grad_outputs)} "
                           "grad_outputs; give one gradient (or None) per output")
    roots = [(o, initial_gradient(o, g, "grad()", "grad_outputs"))
             for o, g in zip(outputs, grad_outputs)]
    # A non-leaf input's gradient is handed to us by its grad_fn; the watch is
    # taken off again afterwards unless the tensor was watched already.
    newly_watched = [t for t in inputs if hooks.watch(t)]
    found = {}                         # id(input) -> its gradient so far

    def keep_if_input(tensor, array, is_leaf):
        if any(tensor is t for t in inputs):
            found[id(tensor)] = array if id(tensor) not in found else found[id(tensor)] + array

    try:
        backpropagate(roots, keep_if_input, builtins.bool(retain_graph))
    finally:
        for t in newly_watched:
            hooks.unwatch(t)
    results = []
    for i, t in enumerate(inputs):
        if id(t) not in found and not allow_unused:
            raise RuntimeError(f"grad: input {i} (shape {t.shape}) was not used to compute the "
                               "outputs; pass allow_unused=True to get None for it")
        results.append(Tensor._from_array(found[id(t)].copy()) if id(t) in found else None)
    return tuple(results)
