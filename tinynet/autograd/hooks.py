"""Tensor hooks and ``retain_grad``: seeing (or replacing) a gradient as the walk computes it.

A non-leaf tensor's gradient is finished when every consumer has sent its
share to the tensor's ``grad_fn``, just before ``grad_fn.backward`` runs; a
leaf's as soon as the last Function that uses it has sent its share (the
walk goes on after it).  So the engine asks this module two things:
which outputs of a Function are *watched* (they have hooks, ``retain_grad``,
or are inputs of ``autograd.grad``), and what a tensor's hooks make of its
gradient.  A Function keeps only weak references to its watched outputs, so
a hook never keeps a tensor alive.
"""
import weakref

from .tensor_core import Tensor, as_tensor

__all__ = ["HookHandle", "add_hook", "add_post_accumulate_hook", "run_hooks",
           "run_post_accumulate_hooks", "watch", "unwatch", "watched_outputs"]


class HookHandle:
    """Returned by ``Tensor.register_hook``: ``handle.remove()`` takes the hook off again."""
    _next_id = 0

    def __init__(self, hooks):
        self.hooks, self.id = hooks, HookHandle._next_id
        HookHandle._next_id += 1

    def remove(self):
        self.hooks.pop(self.id, None)


def add_hook(tensor, hook):
    """Register ``hook(grad)`` on ``tensor`` (see ``Tensor.register_hook``); returns its handle."""
    if tensor._hooks is None:
        tensor._hooks = {}
    handle = HookHandle(tensor._hooks)
    tensor._hooks[handle.id] = hook
    watch(tensor)
    return handle


def add_post_accumulate_hook(tensor, hook):
    """Register ``hook(tensor)``, run after ``backward()`` added into the leaf's ``.grad``."""
    if tensor._post_accumulate_hooks is None:
        tensor._post_accumulate_hooks = {}
    handle = HookHandle(tensor._post_accumulate_hooks)
    tensor._post_accumulate_hooks[handle.id] = hook
    return handle


def run_post_accumulate_hooks(tensor):
    for hook in list(tensor._post_accumulate_hooks.values()):
        hook(tensor)


def watch(tensor):
    """Have ``tensor.grad_fn`` hand the walk this tensor's finished gradient.  Returns
    True if it was not watched before.  (A freed graph is left alone: the walk
    reports it.)"""
    fn = tensor.grad_fn
    if fn is None or fn._released:
        return False
    known = fn.watched_outputs.get(tensor._output_index)
    fn.watched_outputs[tensor._output_index] = weakref.ref(tensor)
    return known is None or known() is not tensor


def unwatch(tensor):
    """Undo ``watch``: the walk no longer hands this tensor its gradient."""
    fn = tensor.grad_fn
    if fn is not None and not fn._released:
        fn.watched_outputs.pop(tensor._output_index, None)


def watched_outputs(fn):
    """[(output index, tensor)]: the live watched tensors among ``fn``'s outputs."""
    tensors = [(index, ref()) for index, ref in fn.watched_outputs.items()]
    return [(index, tensor) for index, tensor in tensors if tensor is not None]


def run_hooks(tensor, gradient):
    """``gradient`` passed through ``tensor``'s hooks (each may return a replacement)."""
    for hook in list((tensor._hooks or {}).values()):
        replaced = hook(Tensor._from_array(gradient))
        if replaced is not None:
            gradient = as_tensor(replaced).data
    return gradient
