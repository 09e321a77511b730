"""Reverse-mode automatic differentiation: ``Tensor``, ``Function`` and ``backward``.

How it works, in three sentences.  Every differentiable operation is a
``Function`` subclass with a ``forward`` on raw arrays (numpy or cupy) and a
``backward`` that maps the gradient of the outputs to the gradients of the
inputs.  Calling a Function on Tensors runs ``forward`` and, if any input
requires a gradient, records the Function as the ``grad_fn`` of its outputs, so
the Tensors and Functions form a directed acyclic graph.  ``Tensor.backward()``
walks that graph from the output back to the leaves in reverse topological
order, calling each ``backward`` once and summing gradients where a tensor was
used more than once.

The walk is iterative (an explicit stack, no recursion), so a chain of 10,000
operations backpropagates without hitting Python's recursion limit.  After the
walk each Function drops what it saved for backward, so the memory of the
graph is released as soon as it has been used (``retain_graph=True`` keeps it).
"""
import contextlib

import numpy as np

from . import backend


# ---------------------------------------------------------------------------
# Gradient mode
# ---------------------------------------------------------------------------

class _GradMode:
    enabled = True


def is_grad_enabled():
    """True unless inside a ``no_grad()`` block."""
    return _GradMode.enabled


@contextlib.contextmanager
def set_grad_enabled(mode):
    """Context manager that turns graph recording on or off inside its block."""
    previous = _GradMode.enabled
    _GradMode.enabled = bool(mode)
    try:
        yield
    finally:
        _GradMode.enabled = previous


def no_grad():
    """Context manager: operations inside record no graph (for inference, updates).

    >>> with tn.no_grad():
    ...     y = model(x)          # y.requires_grad is False, nothing is saved
    """
    return set_grad_enabled(False)


def enable_grad():
    """Context manager: record the graph again, even inside ``no_grad()``."""
    return set_grad_enabled(True)


# ---------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------

def _as_array(data, dtype=None, device=None):
    """Turn ``data`` (array, scalar, nested list, Tensor) into an array on ``device``.

    Python floats and lists of floats become float32 (tinynet's default);
    floating NumPy arrays keep their dtype (so gradient checks can use float64);
    integers stay integers (class indices).
    """
    if isinstance(data, Tensor):
        data = data.data
    xp_in = backend.get_array_module(data)
    if not isinstance(data, (np.ndarray, np.generic)) and xp_in is np:
        data = np.asarray(data)
        if data.dtype == np.float64:
            data = data.astype(backend.DEFAULT_DTYPE)
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    if isinstance(data, np.generic):
        data = np.asarray(data)
    if device is not None:
        data = backend.to_device(data, device)
    return data


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    Attributes
    ----------
    data : numpy.ndarray or cupy.ndarray
        The values.  Ops read and write ``data`` directly; users mostly don't.
    grad : Tensor or None
        After ``backward()``, the gradient of the output with respect to this
        tensor (same shape, device and dtype).  Gradients accumulate: call
        ``zero_grad()`` (or set ``grad = None``) between steps.
    requires_grad : bool
        Whether gradients flow to this tensor.
    grad_fn : Function or None
        The Function that produced this tensor (None for leaves).
    """

    __array_priority__ = 1000  # numpy scalar * Tensor -> Tensor.__rmul__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        self.data = _as_array(data, dtype=dtype, device=device)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.grad_fn = None
        self._output_index = 0  # which output of grad_fn this tensor is
        if self.requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.data.dtype}")

    # -- array-like properties ------------------------------------------------
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return int(self.data.size)

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def T(self):
        return self.transpose()

    def __len__(self):
        return self.data.shape[0]

    def numel(self):
        return self.size

    def dim(self):
        return self.ndim

    def __repr__(self):
        extra = ""
        if self.grad_fn is not None:
            extra = f", grad_fn={type(self.grad_fn).__name__}"
        elif self.requires_grad:
            extra = ", requires_grad=True"
        dev = "" if self.device == "cpu" else f", device='{self.device}'"
        body = np.array2string(backend.to_numpy(self.data), separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{dev}{extra})"

    # -- conversion -------------------------------------------------------------
    def numpy(self):
        """The values as a NumPy array (copied from the GPU if needed)."""
        return backend.to_numpy(self.data)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def to(self, device=None, dtype=None):
        """A tensor on ``device`` with ``dtype``; ``self`` if nothing changes.

        Like PyTorch, the copy is part of the graph: gradients flow back to the
        original device.
        """
        from .ops.shape import to_device
        out = self
        if device is not None and backend.normalize_device(device) != self.device:
            out = to_device(out, device)
        if dtype is not None and np.dtype(dtype) != self.dtype:
            out = out.astype(dtype)
        return out

    def cpu(self):
        return self.to("cpu")

    def gpu(self):
        return self.to("gpu")

    cuda = gpu

    def detach(self):
        """A tensor sharing this one's data, cut from the graph (no gradients flow)."""
        return Tensor(self.data, requires_grad=False)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place (leaves only, like PyTorch)."""
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_(False) is only allowed on leaf tensors; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def zero_grad(self):
        self.grad = None

    # -- backward ---------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=False):
        """Compute the gradient of this tensor with respect to every leaf that requires it.

        ``gradient`` is d(something)/d(self); it may be omitted only when this
        tensor has a single element (then it is 1).  Leaves' ``.grad`` are
        accumulated, never overwritten.
        """
        backward(self, gradient, retain_graph=retain_graph)

    # -- operators (implemented in tinynet.ops) -------------------------------------
    def __add__(self, other):
        return _math.add(self, other)

    def __radd__(self, other):
        return _math.add(other, self)

    def __sub__(self, other):
        return _math.sub(self, other)

    def __rsub__(self, other):
        return _math.sub(other, self)

    def __mul__(self, other):
        return _math.mul(self, other)

    def __rmul__(self, other):
        return _math.mul(other, self)

    def __truediv__(self, other):
        return _math.div(self, other)

    def __rtruediv__(self, other):
        return _math.div(other, self)

    def __pow__(self, exponent):
        return _math.pow(self, exponent)

    def __rpow__(self, base):
        return _math.pow(base, self)

    def __neg__(self):
        return _math.neg(self)

    def __matmul__(self, other):
        return _math.matmul(self, other)

    def __rmatmul__(self, other):
        return _math.matmul(other, self)

    def __getitem__(self, index):
        return _shape.getitem(self, index)

    # Comparisons give plain boolean tensors: they have no gradient.
    def __lt__(self, other):
        return Tensor(self.data < _raw(other))

    def __le__(self, other):
        return Tensor(self.data <= _raw(other))

    def __gt__(self, other):
        return Tensor(self.data > _raw(other))

    def __ge__(self, other):
        return Tensor(self.data >= _raw(other))

    __hash__ = object.__hash__  # tensors are graph nodes: identity, not value

    # -- methods that mirror torch.Tensor -----------------------------------------
    def sum(self, axis=None, keepdims=False):
        return _reduce.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return _reduce.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return _reduce.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return _reduce.min(self, axis, keepdims)

    def reshape(self, *shape):
        return _shape.reshape(self, *shape)

    def view(self, *shape):
        return _shape.reshape(self, *shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return _shape.flatten(self, start_dim, end_dim)

    def transpose(self, *axes):
        return _shape.transpose(self, *axes)

    def permute(self, *axes):
        return _shape.transpose(self, *axes)

    def squeeze(self, axis=None):
        return _shape.squeeze(self, axis)

    def unsqueeze(self, axis):
        return _shape.unsqueeze(self, axis)

    def astype(self, dtype):
        return _shape.astype(self, dtype)

    def float(self):
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    def exp(self):
        return _math.exp(self)

    def log(self):
        return _math.log(self)

    def sqrt(self):
        return _math.sqrt(self)

    def abs(self):
        return _math.abs(self)

    def clip(self, min=None, max=None):
        return _math.clip(self, min, max)

    clamp = clip

    def relu(self):
        from .ops.activation import relu
        return relu(self)

    def sigmoid(self):
        from .ops.activation import sigmoid
        return sigmoid(self)

    def tanh(self):
        from .ops.activation import tanh
        return tanh(self)


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def tensor(data, requires_grad=False, dtype=None, device=None):
    """Create a Tensor (like ``torch.tensor``): ``tn.tensor([[1., 2.]], requires_grad=True)``."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def as_tensor(x, like=None):
    """``x`` if it is a Tensor, else a constant Tensor holding it.

    Python scalars take the dtype and device of ``like`` (so ``x * 2`` stays
    float32 when ``x`` is float32, and stays on the GPU when ``x`` is there).
    """
    if isinstance(x, Tensor):
        return x
    if like is not None and np.isscalar(x):
        xp = backend.get_array_module(like.data)
        return Tensor(xp.asarray(x, dtype=like.dtype))
    return Tensor(x)


# ---------------------------------------------------------------------------
# Function
# ---------------------------------------------------------------------------

class Function:
    """One differentiable operation: subclass it and write ``forward`` and ``backward``.

    * ``forward(*arrays)`` receives raw arrays (one per Tensor input, ``None``
      for an absent optional input such as a missing bias) and returns an
      array or a tuple of arrays.  It stores on ``self`` only what backward
      needs (often nothing but a shape).
    * ``backward(*grad_outputs)`` receives one gradient array per output and
      returns one gradient per input (an array, or ``None`` for an input that
      needs none).  ``self.needs_input_grad[i]`` says whether input ``i``
      wants a gradient, so costly gradients can be skipped.

    Non-tensor arguments (stride, axis, ...) go to ``__init__``.  A Function
    object is used once: ``Conv2dFunction(stride=2)(x, w, b)``.
    """

    def __call__(self, *inputs):
        tensors = [None if x is None else as_tensor(x) for x in inputs]
        arrays = [None if t is None else t.data for t in tensors]
        self.needs_input_grad = tuple(t is not None and t.requires_grad for t in tensors)
        record = _GradMode.enabled and any(self.needs_input_grad)
        outputs = self.forward(*arrays)
        single = not isinstance(outputs, tuple)
        if single:
            outputs = (outputs,)
        results = [Tensor(y) for y in outputs]
        if record:
            self.inputs = tensors
            self._output_meta = [(y.shape, y.dtype) for y in outputs]
            for i, r in enumerate(results):
                r.requires_grad = r.dtype.kind == "f"
                r.grad_fn = self
                r._output_index = i
        # Without recording, this Function object (and anything forward saved
        # on it) becomes garbage as soon as we return.
        return results[0] if single else tuple(results)

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError

    def _release(self):
        """Drop everything forward saved (the graph below this node is freed)."""
        self.__dict__.clear()
        self._released = True


def _check_not_released(fn):
    if getattr(fn, "_released", False):
        raise RuntimeError(
            "trying to backward through a graph a second time, but its saved values "
            "were freed; pass retain_graph=True to the first backward() to keep them")


def _topological_order(root_fn):
    """The Functions reachable from ``root_fn``, every consumer before its producers.

    Iterative depth-first search: a node is appended after all of its inputs'
    producers (post-order), so the reversed list visits each Function before
    any Function whose output it consumed.
    """
    order, visited = [], set()
    stack = [(root_fn, False)]
    while stack:
        fn, inputs_done = stack.pop()
        if inputs_done:
            order.append(fn)
            continue
        if fn in visited:
            continue
        visited.add(fn)
        _check_not_released(fn)
        stack.append((fn, True))
        for x in fn.inputs:
            if x is not None and x.grad_fn is not None and x.grad_fn not in visited:
                stack.append((x.grad_fn, False))
    order.reverse()
    return order


def _accumulate(existing, new):
    # Out of place on purpose: several backward()s may return the same array
    # object (add returns its gradient twice), so an in-place += could corrupt it.
    return new if existing is None else existing + new


def _leaf_gradient(existing, new, handed_out):
    """The new ``.grad`` array of a leaf: an array that no one else holds.

    A leaf's gradient must own its memory, because optimizers update it in
    place, while ``new`` may be a broadcast view, or the very array that was
    given to another input (``add`` returns its gradient twice).  So ``new`` is
    kept as it is only if it owns its data and was not handed out before in
    this backward pass (``handed_out`` holds the ids); otherwise it is copied.
    Copying always would be simpler, but costs a full pass over every input
    gradient (measured: 2 ms of a 13 ms batch_norm forward+backward).
    """
    if existing is not None:
        return existing.data + new
    if not new.flags.owndata or id(new) in handed_out:
        new = new.copy()
    handed_out.add(id(new))
    return new


def backward(output, gradient=None, retain_graph=False):
    """Backpropagate from ``output``: see ``Tensor.backward``."""
    if not output.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad "
                           "(no input of the computation had requires_grad=True)")
    xp = backend.get_array_module(output.data)
    if gradient is None:
        if output.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a scalar output, got shape {output.shape}; "
                "pass gradient= (an array of the same shape) or reduce first (e.g. .sum())")
        gradient = xp.ones(output.shape, dtype=output.dtype)
    else:
        gradient = _as_array(gradient)
        if tuple(gradient.shape) != output.shape:
            raise ValueError(f"gradient shape {tuple(gradient.shape)} does not match "
                             f"output shape {output.shape}")
        gradient = gradient.astype(output.dtype, copy=False)

    # ids of arrays that a leaf's .grad must not take over: the caller's
    # gradient, then every array already stored in a leaf during this pass.
    handed_out = {id(gradient)}
    if output.grad_fn is None:  # backward on a leaf: d out / d out = gradient
        output.grad = Tensor(_leaf_gradient(output.grad, gradient, handed_out))
        return

    _check_not_released(output.grad_fn)
    # Gradients waiting for each Function, one slot per output.
    pending = {output.grad_fn: [None] * len(output.grad_fn._output_meta)}
    pending[output.grad_fn][output._output_index] = gradient

    for fn in _topological_order(output.grad_fn):
        grad_outputs = pending.pop(fn, None)
        if grad_outputs is None:  # no gradient reached this node
            if not retain_graph:
                fn._release()
            continue
        grad_outputs = [g if g is not None else xp.zeros(shape, dtype)
                        for g, (shape, dtype) in zip(grad_outputs, fn._output_meta)]
        grad_inputs = fn.backward(*grad_outputs)
        if not isinstance(grad_inputs, tuple):
            grad_inputs = (grad_inputs,)
        if len(grad_inputs) != len(fn.inputs):
            raise RuntimeError(f"{type(fn).__name__}.backward returned {len(grad_inputs)} "
                               f"gradients for {len(fn.inputs)} inputs")
        for x, g in zip(fn.inputs, grad_inputs):
            if x is None or g is None or not x.requires_grad:
                continue
            if tuple(g.shape) != x.shape:
                raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of shape "
                                   f"{tuple(g.shape)} for an input of shape {x.shape}")
            if x.grad_fn is None:  # a leaf: store in .grad
                x.grad = Tensor(_leaf_gradient(x.grad, g, handed_out))
            else:
                slots = pending.setdefault(x.grad_fn, [None] * len(x.grad_fn._output_meta))
                slots[x._output_index] = _accumulate(slots[x._output_index], g)
        if not retain_graph:
            fn._release()


# The operator methods of Tensor call into tinynet.ops, which itself needs
# Tensor and Function: importing them last breaks the cycle.
from .ops import math as _math  # noqa: E402
from .ops import reduce as _reduce  # noqa: E402
from .ops import shape as _shape  # noqa: E402
