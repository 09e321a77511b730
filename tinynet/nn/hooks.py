"""Module hooks: functions a Module calls around its ``forward`` and its backward.

``module.register_forward_hook(fn)`` makes every call ``module(x)`` run
``fn(module, args, output)`` after ``forward`` (to capture an activation, for
Grad-CAM or debugging); ``register_forward_pre_hook(fn)`` runs ``fn(module, args)``
before it (``with_kwargs=True``: they also get, and may return, the keyword
arguments).

``register_full_backward_hook(fn)`` runs ``fn(module, grad_input, grad_output)``
once the gradients with respect to the module's inputs are known (grad_input: one
entry per positional Tensor argument, None where none flows; grad_output: one per
output, None for an output that is not a Tensor); returning a tuple replaces
grad_input.  (An output that gets no gradient shows zeros, where PyTorch shows None.)  ``register_full_backward_pre_hook``
runs ``fn(module, grad_output)`` before the module's backward and may replace it.

How the backward hooks see those gradients: the module's Tensor inputs and its
outputs pass through an identity ``Function`` (``HookBoundary``), whose backward
is where the gradient of each boundary arrives.  All return a ``RemovableHandle``.
"""
from ..autograd import Function, Tensor, is_grad_enabled

__all__ = ["RemovableHandle", "HookBoundary", "with_backward_hooks"]


class RemovableHandle:
    """Returned by ``register_*_hook``: ``handle.remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class HookBoundary(Function):
    """The identity on several tensors; backward hands their gradients to ``on_gradients``,
    which returns them (or replacements)."""

    def __init__(self, on_gradients):
        self.on_gradients = on_gradients

    def forward(self, *xs):
        return tuple(x.view() for x in xs) if len(xs) > 1 else xs[0].view()

    def backward(self, *grads):
        grads = self.on_gradients(grads)
        return tuple(grads) if len(grads) > 1 else grads[0]


def with_backward_hooks(module, args, run_forward):
    """``run_forward(args)`` with ``module``'s backward hooks around it: its inputs and
    outputs pass through ``HookBoundary``s that call the hooks with the gradients."""
    state = {"grad_output": None}
    positions = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    inputs_watched = bool(positions) and is_grad_enabled()

    def at_inputs(grads):                 # every gradient of the module's inputs is known
        # grad_input has one entry per Tensor argument; ``slot`` maps a watched argument to it
        tensor_args = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        slot = {position: tensor_args.index(position) for position in positions}
        grad_input = [None] * len(tensor_args)
        for position, grad in zip(positions, grads):
            grad_input[slot[position]] = _wrap(grad)
        grad_input = _run_full_hooks(module, tuple(grad_input), state["grad_output"])
        replaced = [grad_input[slot[position]] for position in positions]
        return [g if new is None else new.data for new, g in zip(replaced, grads)]

    def at_outputs(grads):                # the gradients of the outputs arrive first
        grad_output = [None] * len(outputs)       # None for an output that is no Tensor
        for slot, grad in zip(tensor_outputs, grads):
            grad_output[slot] = _wrap(grad)
        grad_output = tuple(grad_output)
        for hook in list(module._backward_pre_hooks.values()):
            result = hook(module, grad_output)
            if result is not None:
                grad_output = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        state["grad_output"] = grad_output
        if not inputs_watched:            # no input gradient to wait for
            _run_full_hooks(module, (None,) * sum(isinstance(a, Tensor) for a in args),
                            grad_output)
        return [grad_output[slot].data for slot in tensor_outputs]

    if inputs_watched:
        watched = HookBoundary(at_inputs)(*[args[i] for i in positions])
        watched = watched if isinstance(watched, tuple) else (watched,)
        args = list(args)
        for i, tensor in zip(positions, watched):
            args[i] = tensor
        args = tuple(args)
    output = run_forward(args)
    outputs = output if isinstance(output, tuple) else (output,)
    tensor_outputs = [i for i, o in enumerate(outputs) if isinstance(o, Tensor)]
    if not is_grad_enabled() or not any(outputs[i].requires_grad for i in tensor_outputs):
        return output                     # nothing for a backward to pass through
    passed = HookBoundary(at_outputs)(*[outputs[i] for i in tensor_outputs])
    passed = passed if isinstance(passed, tuple) else (passed,)
    if not isinstance(output, tuple):
        return passed[0]
    output = list(output)
    for slot, tensor in zip(tensor_outputs, passed):
        output[slot] = tensor
    return tuple(output)


def _run_full_hooks(module, grad_input, grad_output):
    for hook in list(module._backward_hooks.values()):
        result = hook(module, grad_input, grad_output)
        if result is not None:
            grad_input = tuple(result) if isinstance(result, (tuple, list)) else (result,)
    return grad_input


def _wrap(array):
    return None if array is None else Tensor._from_array(array)
