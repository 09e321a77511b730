"""The engine of reverse-mode automatic differentiation, read top to bottom.

1. A ``Function`` is one differentiable operation: ``forward`` maps input
   arrays (NumPy or CuPy) to output arrays, ``backward`` maps the gradients of
   the outputs to the gradients of the inputs.
2. Calling a Function on Tensors runs ``forward`` and, if grad mode is on and
   an input requires a gradient, *records* the call: the Function becomes the
   ``grad_fn`` of its outputs and keeps one ``Edge`` per input saying where
   that input's gradient goes (an output slot of the Function that produced
   it, or the ``.grad`` of a leaf).  Tensors and Functions form a DAG.
   ``no_grad()`` (grad_mode.py) only turns the recording off.
3. ``backward(output)`` orders the Functions reachable from ``output`` so that
   each comes before the Functions that produced its inputs (topological
   order), then walks them once in that order: each gets the sum of the
   gradients that reached its outputs, runs ``backward``, and passes its input
   gradients along its edges, down to the leaves.

The walk is iterative (no recursion: a chain of 10,000 operations is fine).
A Function keeps only what its forward saved (dropped once walked, unless
``retain_graph=True``) and, of its inputs, the leaves whose ``.grad`` it fills.

A Tensor (tensor_core.py) is its array ``data`` plus the fields the engine
fills: ``requires_grad``, ``grad_fn`` (None for a leaf), ``_output_index``
(which output of grad_fn it is) and ``grad``; ``Tensor._from_array`` wraps an
array as it is.  Beside this file: grad_mode.py, hooks.py, function_ctx.py
(PyTorch-style ``forward(ctx, ...)``), gradients.py (``autograd.grad``), debug.py.
"""
import inspect
from collections import namedtuple

from .. import backend
from . import debug, hooks
from .grad_mode import is_grad_enabled
from .tensor_core import Tensor, as_tensor, initial_gradient

__all__ = ["Function", "Edge", "backward", "backpropagate", "topological_order"]

Edge = namedtuple("Edge", "node index shape dtype")
Edge.__doc__ = """Where an input's gradient goes: output ``index`` of the Function ``node`` that
made the input, or the leaf Tensor ``node`` itself; ``shape``, ``dtype``: the input's."""


class Function:
    """One differentiable operation: subclass it and write ``forward`` and ``backward``.

    The contract (the engine relies on it, and the test suite checks it):

    * ``forward(*arrays)`` gets raw arrays (one per Tensor input, ``None`` for
      an absent optional input such as a missing bias) and returns an array or
      a tuple of them.  It saves what backward needs on ``self`` (``self.x =
      x``), and what only one gradient needs under ``self.needs_input_grad[i]``
      (all False under ``no_grad()``: inference saves nothing).
    * ``backward(*grad_outputs)`` gets one gradient array per output (zeros
      where none arrived) and returns one per input: of the input's shape, or
      ``None`` where ``needs_input_grad`` is False.  It never writes into the
      arrays it gets (``add`` hands one array to both inputs);
      ``debug.read_only_gradients()`` makes that an error in the tests.
    * The engine casts each gradient to its input's dtype and sums the
      gradients of an input used more than once.

    Non-tensor arguments (stride, dim, ...) go to ``__init__``; an object is
    used once: ``Conv2dReference(stride=2)(x, w, b)`` (ops/conv/reference.py).
    PyTorch's style (``forward(ctx, ...)``, ``MyFunction.apply(x)``) runs
    through function_ctx.py.
    """
    _released = False  # set by _release() after backward frees the saved arrays

    @classmethod
    def apply(cls, *args):
        """Call a Function the PyTorch way: ``MyFunction.apply(x, 2.0)``."""
        if isinstance(inspect.getattr_static(cls, "forward"), staticmethod):
            from .function_ctx import apply_context_function   # it subclasses Function
            return apply_context_function(cls, args)
        return cls()(*args)

    def __call__(self, *inputs):
        if "edges" in self.__dict__ or self._released:   # a second call would overwrite them
            raise RuntimeError(f"this {type(self).__name__} object was already called and "
                               "recorded; a Function object is used once: make a new one")
        tensors = [None if x is None else as_tensor(x) for x in inputs]
        arrays = [None if t is None else t.data for t in tensors]
        _check_one_device(self, arrays)
        enabled = is_grad_enabled()
        self.needs_input_grad = tuple(enabled and t is not None and t.requires_grad
                                      for t in tensors)
        outputs = self.forward(*arrays)
        single = not isinstance(outputs, tuple)
        results = [Tensor._from_array(y) for y in ((outputs,) if single else outputs)]
        if any(self.needs_input_grad):
            self._record(tensors, results)
        # Unrecorded, this Function (and what forward saved on it) is garbage on return.
        return results[0] if single else tuple(results)

    def _record(self, tensors, results):
        """Link this call into the graph: edges to the inputs, grad_fn of the outputs."""
        self.edges = tuple(
            None if not needed else
            Edge(t if t.grad_fn is None else t.grad_fn, t._output_index, t.shape, t.dtype)
            for t, needed in zip(tensors, self.needs_input_grad))
        self.output_meta = [(r.shape, r.dtype) for r in results]
        self.watched_outputs = {}  # output index -> weakref of a tensor with hooks (hooks.py)
        for i, r in enumerate(results):
            if r.dtype.kind == "f":  # integer outputs (indices) carry no gradient
                r.requires_grad, r.grad_fn, r._output_index = True, self, i

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError

    def _release(self):
        """Drop everything forward saved (the graph below this node is freed)."""
        self.__dict__.clear()
        self._released = True


def _check_one_device(fn, arrays):
    """PyTorch's rule: the tensors of one op live on one device (a NumPy array given to
    CuPy would fail deep inside the op, or be copied to the GPU on every call)."""
    if len({type(a) for a in arrays if a is not None}) < 2:
        return                                  # the usual case, checked cheaply
    devices = {backend.device_of(a) for a in arrays if a is not None}
    if len(devices) > 1:
        raise RuntimeError("Expected all tensors to be on the same device, but found at least "
                           f"two devices, gpu and cpu! ({type(fn).__name__}: move them with "
                           ".to(device), or make them with device=)")


def topological_order(roots):
    """The Functions reachable from ``roots``, each before the producers of its inputs:
    a depth-first search in post-order (a node after its inputs' producers), reversed."""
    order, visited = [], set()
    stack = [(fn, False) for fn in roots]
    while stack:
        fn, inputs_done = stack.pop()
        if inputs_done:
            order.append(fn)
            continue
        if fn in visited:
            continue
        visited.add(fn)
        if fn._released:
            raise RuntimeError(
                "trying to backward through a graph a second time, but its saved values "
                "were freed; pass retain_graph=True to the first backward() to keep them")
        stack.append((fn, True))
        for edge in fn.edges:
            if edge is not None and isinstance(edge.node, Function) and edge.node not in visited:
                stack.append((edge.node, False))
    order.reverse()
    return order


def backpropagate(roots, deliver, retain_graph=False):
    """The walk: gradients from ``roots`` [(tensor, gradient array)] down to the leaves.

    ``deliver(tensor, array, is_leaf)`` receives each finished gradient, after
    the tensor's hooks ran on it: of a non-leaf tensor that hooks.py watches
    (with hooks or retain_grad, or an input of ``autograd.grad``) when its
    grad_fn's turn comes, and of a leaf as soon as the last Function that
    uses it has sent its share (so optimizers' and DDP's hooks run during the walk).
    """
    order = topological_order([t.grad_fn for t, _ in roots if t.grad_fn is not None])
    waiting = _uses_of_leaves(roots, order)   # id(leaf) -> shares of its gradient to come
    pending = {}  # Function -> the gradients of its outputs so far, one slot per output
    leaves = {}   # id(leaf) -> [the leaf Tensor, its gradient so far]
    for tensor, gradient in roots:
        node = tensor if tensor.grad_fn is None else tensor.grad_fn
        _pass_on(node, tensor._output_index, gradient, pending, leaves)
    _deliver_done([t for t, _ in roots if t.grad_fn is None], waiting, leaves, deliver)
    xp = backend.get_array_module(roots[0][1])
    for fn in order:
        grad_outputs = pending.pop(fn, None)
        if grad_outputs is not None:      # None: no gradient reached fn (all were unused)
            for index, tensor in hooks.watched_outputs(fn) if fn.watched_outputs else ():
                if grad_outputs[index] is not None:
                    grad_outputs[index] = hooks.run_hooks(tensor, grad_outputs[index])
                    deliver(tensor, grad_outputs[index], False)
            grad_inputs = _call_backward(fn, grad_outputs, xp)
            for edge, g in zip(fn.edges, grad_inputs):
                if edge is not None and g is not None:
                    _pass_on(edge.node, edge.index, g, pending, leaves)
        _deliver_done([e.node for e in fn.edges if e is not None and isinstance(e.node, Tensor)],
                      waiting, leaves, deliver)
        if not retain_graph:
            fn._release()


def _uses_of_leaves(roots, order):
    """How many shares of its gradient each leaf waits for: one per edge into it (and one
    per root that is the leaf itself)."""
    counts = {}
    leaf_nodes = [t for t, _ in roots if t.grad_fn is None] + [
        e.node for fn in order for e in fn.edges if e is not None and isinstance(e.node, Tensor)]
    for leaf in leaf_nodes:
        counts[id(leaf)] = counts.get(id(leaf), 0) + 1
    return counts


def _deliver_done(arrivals, waiting, leaves, deliver):
    """Count one share as arrived for each leaf in ``arrivals``; a leaf whose last share
    came gets its summed gradient delivered (its hooks run once, on the sum)."""
    for leaf in arrivals:
        waiting[id(leaf)] -= 1
        if waiting[id(leaf)] == 0 and id(leaf) in leaves:
            _, gradient = leaves.pop(id(leaf))
            deliver(leaf, hooks.run_hooks(leaf, gradient) if leaf._hooks else gradient, True)


def _pass_on(node, index, gradient, pending, leaves):
    """Send a gradient along an edge: into a leaf's sum, or into a Function's output slot."""
    if isinstance(node, Tensor):      # a leaf
        slot = leaves.setdefault(id(node), [node, None])
        slot[1] = gradient if slot[1] is None else slot[1] + gradient
        return
    slots = pending.setdefault(node, [None] * len(node.output_meta))
    # Out of place on purpose: several backward()s may return the same array
    # object (add returns its gradient twice), so an in-place += could corrupt it.
    slots[index] = gradient if slots[index] is None else slots[index] + gradient


def _call_backward(fn, grad_outputs, xp):
    """``fn.backward`` on its output gradients (zeros where none came): the checked
    input gradients, each cast to its input's dtype."""
    grad_outputs = [g if g is not None else xp.zeros(shape, dtype)
                    for g, (shape, dtype) in zip(grad_outputs, fn.output_meta)]
    if debug.read_only_gradients.active:      # a debug mode of the tests (debug.py)
        grad_outputs = debug.read_only_views(grad_outputs)
    grad_inputs = fn.backward(*grad_outputs)
    if not isinstance(grad_inputs, tuple):
        grad_inputs = (grad_inputs,)
    if len(grad_inputs) != len(fn.edges):
        raise RuntimeError(f"{type(fn).__name__}.backward returned {len(grad_inputs)} "
                           f"gradients for {len(fn.edges)} inputs")
    checked = []
    for i, (edge, g) in enumerate(zip(fn.edges, grad_inputs)):
        if edge is not None and g is not None:
            if tuple(g.shape) != edge.shape:
                raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of shape "
                                   f"{tuple(g.shape)} for input {i} of shape {edge.shape}")
            g = g if g.dtype == edge.dtype else g.astype(edge.dtype)
        checked.append(g)
    if debug.is_anomaly_enabled():
        debug.check_for_nan(fn, checked)
    return checked


def backward(output, gradient=None, retain_graph=False):
    """Backpropagate from ``output``, accumulating into the leaves' ``.grad``
    (and the ``.grad`` of non-leaves that called ``retain_grad()``)."""
    gradient = initial_gradient(output, gradient)
    handed_out = {id(gradient)}   # arrays a .grad must not take over (see _owned_gradient)

    def store_in_grad(tensor, array, is_leaf):
        if is_leaf or tensor._retains_grad:       # not a non-leaf with hooks only
            tensor.grad = Tensor._from_array(_owned_gradient(tensor.grad, array, handed_out))
        if is_leaf and tensor._post_accumulate_hooks:
            hooks.run_post_accumulate_hooks(tensor)     # e.g. DDP: this .grad is ready

    backpropagate([(output, gradient)], store_in_grad, retain_graph)


def _owned_gradient(existing, new, handed_out):
    """The new ``.grad`` array of a tensor: one that no one else holds, since optimizers
    update ``.grad`` in place while ``new`` may be a broadcast view or an array also given
    to another input (``add`` returns its gradient twice).  Copying only then, not always,
    saves a pass over every gradient (measured: 2 ms of a 13 ms batch_norm fwd+bwd)."""
    if existing is not None:
        return existing.data + new
    if not new.flags.owndata or id(new) in handed_out:
        new = new.copy()
    handed_out.add(id(new))
    return new
