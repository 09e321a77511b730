"""Reverse-mode automatic differentiation: ``Tensor``, ``Function`` and ``backward``.

How it works, in three sentences.  Every differentiable operation is a
``Function`` subclass with a ``forward`` on raw arrays (numpy or cupy) and a
``backward`` that maps the gradient of the outputs to the gradients of the
inputs.  Calling a Function on Tensors runs ``forward`` and, if any input
requires a gradient, records the Function as the ``grad_fn`` of its outputs,
together with one *edge* per input saying where that input's gradient goes (the
output slot of the Function that produced it, or the ``.grad`` of a leaf), so
the Tensors and Functions form a directed acyclic graph.  ``Tensor.backward()``
walks that graph from the output back to the leaves in reverse topological
order, calling each ``backward`` once and summing gradients where a tensor was
used more than once.

The walk is iterative (an explicit stack, no recursion), so a chain of 10,000
operations backpropagates without hitting Python's recursion limit.  After the
walk each Function drops what it saved for backward, so the memory of the
graph is released as soon as it has been used (``retain_graph=True`` keeps it).
A Function keeps its inputs only through the arrays its forward chose to save,
never the input Tensors themselves, so an activation that no backward needs is
freed as soon as the Python code drops it.

Where Tensor's methods live
---------------------------
This file defines the core of ``Tensor``: its data, gradient and graph fields,
``backward``, and what needs no operation (``size()``, ``dim()``, ``item()``,
``numpy()``, ``detach()``, ...).  Every method that computes (``x + y``,
``x.sum(dim=1)``, ``x.reshape(2, -1)``, ``x.relu()``, ``x.add_(1)``) is a
function of ``tinynet.ops`` (``x.sum(1)`` is ``tn.sum(x, 1)``, as in PyTorch),
attached to ``Tensor`` in one table in ``tinynet/tensor_methods.py``, which
``tinynet/__init__.py`` imports after the ops.  So this file imports no op, and
no import order can leave it half-initialized.
"""
import builtins
import contextlib
import functools
import inspect
import weakref
from collections import namedtuple

import numpy as np

from . import backend
from .device import device as _device

__all__ = ["Tensor", "Size", "Function", "FunctionCtx", "tensor", "as_tensor", "from_numpy",
           "is_tensor", "no_grad", "enable_grad", "set_grad_enabled", "inference_mode",
           "is_grad_enabled",
           "backward", "grad", "read_only_gradients", "HookHandle"]


# ---------------------------------------------------------------------------
# Gradient mode
# ---------------------------------------------------------------------------

class _GradMode:
    enabled = True


def is_grad_enabled():
    """True unless inside a ``no_grad()`` block."""
    return _GradMode.enabled


class _GradModeContext:
    """Base of the grad-mode switches: a context manager that is also a decorator.

    ``with tn.no_grad(): ...``, ``@tn.no_grad()`` and ``@tn.no_grad`` all work,
    as in PyTorch.  Subclasses set ``_mode`` (the grad mode inside the block).
    """
    _mode = True

    def __new__(cls, *args):
        # ``@tn.no_grad`` without parentheses passes the decorated function here.
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]):
            return cls()(args[0])
        return super().__new__(cls)

    def __enter__(self):
        self._previous = _GradMode.enabled
        _GradMode.enabled = self._mode

    def __exit__(self, *exc_info):
        _GradMode.enabled = self._previous
        return False

    def _clone(self):
        return type(self)()

    def __call__(self, function):
        @functools.wraps(function)
        def with_grad_mode(*args, **kwargs):
            with self._clone():
                return function(*args, **kwargs)
        return with_grad_mode


class no_grad(_GradModeContext):
    """Record no graph inside the block (inference, parameter updates).

    >>> with tn.no_grad():
    ...     y = model(x)          # y.requires_grad is False, nothing is saved
    """
    _mode = False


class enable_grad(_GradModeContext):
    """Record the graph again, even inside ``no_grad()``."""
    _mode = True


class inference_mode(_GradModeContext):
    """``inference_mode(True)`` is ``no_grad()``; ``inference_mode(False)`` changes nothing."""

    def __init__(self, mode=True):
        self.mode = builtins.bool(mode)

    def __enter__(self):
        self._previous = _GradMode.enabled
        if self.mode:
            _GradMode.enabled = False

    def _clone(self):
        return type(self)(self.mode)


class set_grad_enabled(_GradModeContext):
    """Turn graph recording on or off: now (``tn.set_grad_enabled(False)``), or for a block.

    As in PyTorch the mode changes when the object is created, and a ``with``
    block restores the previous mode at its end.
    """

    def __init__(self, mode):
        self._mode = builtins.bool(mode)
        self._previous = _GradMode.enabled
        _GradMode.enabled = self._mode

    def __enter__(self):
        pass

    def _clone(self):
        return type(self)(self._mode)


# ---------------------------------------------------------------------------
# Arrays from Python data
# ---------------------------------------------------------------------------

_SUPPORTED_KINDS = "biuf"  # bool, signed and unsigned integers, floats


def _first_non_number(array):
    """The first element of an object/str array that is not a number (for the error)."""
    for value in array.reshape(-1):
        if not isinstance(value, (builtins.bool, builtins.int, builtins.float, np.number,
                                  np.bool_)):
            return value.item() if isinstance(value, np.generic) else value
    return None


def _check_supported(array, where):
    if array.dtype.kind in _SUPPORTED_KINDS:
        return
    if array.dtype.kind in "OUS":
        bad = _first_non_number(array)
        error = ValueError if isinstance(bad, (str, bytes)) else TypeError
        raise error(f"{where}: tensors hold numbers and bools only, got a value of type "
                    f"{type(bad).__name__} ({bad!r})")
    raise TypeError(f"{where}: arrays of dtype {array.dtype} are not supported "
                    "(tinynet has bool, integer and floating-point tensors)")


def _array_from_python(data, where):
    """A NumPy array from a Python scalar or (nested) list, with PyTorch's dtypes.

    Python floats become float32 (the default dtype), ints int64, bools bool;
    NumPy scalars keep their dtype.  ``None``, strings and ragged lists are refused.
    """
    if data is None:
        raise TypeError(f"{where}: could not infer a dtype from None")
    if isinstance(data, (str, bytes)):
        raise ValueError(f"{where}: a string ({data!r}) is not a number")
    try:
        array = np.asarray(data)
    except ValueError as exc:
        raise ValueError(f"{where}: the nested sequence is not rectangular ({exc})") from None
    _check_supported(array, where)
    if array.dtype == np.float64 and not isinstance(data, np.generic):
        array = array.astype(backend.DEFAULT_DTYPE)
    return array


def _as_array(data, dtype=None, device=None, copy=False, where="tensor"):
    """Turn ``data`` (array, scalar, nested list, Tensor) into an array on ``device``.

    Python floats and lists of floats become float32 (tinynet's default);
    NumPy arrays keep their dtype (so gradient checks can use float64);
    integers stay integers (class indices).  ``copy=True`` never shares memory
    with ``data``.
    """
    if isinstance(data, Tensor):
        data = data.data
    if backend.get_array_module(data) is np and not isinstance(data, np.ndarray):
        data = _array_from_python(data, where)
    else:
        _check_supported(data, where)
        if copy:
            data = data.copy()
    if dtype is not None:
        data = data.astype(np.dtype(dtype), copy=False)
    if device is not None:
        data = backend.to_device(data, device)
    return data


# ---------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------

class Size(tuple):
    """A shape, ``x.shape`` or ``x.size()``: a tuple of ints, with ``numel()`` (``torch.Size``)."""

    def numel(self):
        n = 1
        for size in self:
            n *= size
        return n


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

    The methods that compute (arithmetic, reductions, shape, activations,
    in-place updates) are attached in ``tinynet/tensor_methods.py``; see the
    module docstring.
    """

    # ``numpy_array + tensor`` and ``np.float32(2) * tensor``: NumPy hands the
    # operation to Tensor's reflected operator instead of converting the tensor.
    __array_ufunc__ = None
    __array_priority__ = 1000
    # Comparisons are elementwise (``a == b`` is a bool Tensor), so hashing
    # cannot follow equality: tensors are hashed by identity, as in PyTorch.
    __hash__ = object.__hash__
    _hooks = None          # {id: hook} once register_hook is called
    _retains_grad = False  # set by retain_grad()

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        self.data = _as_array(data, dtype=dtype, device=device)
        self.grad = None
        self.requires_grad = False
        self.grad_fn = None
        self._output_index = 0  # which output of grad_fn this tensor is
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_array(cls, array):
        """A constant Tensor around ``array`` as it is (ops' outputs: no checks, no copies)."""
        t = cls.__new__(cls)
        t.data, t.grad, t.requires_grad, t.grad_fn, t._output_index = array, None, False, None, 0
        return t

    # -- array-like properties ------------------------------------------------
    @property
    def shape(self):
        return Size(self.data.shape)

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return _device(backend.device_of(self.data))

    @property
    def is_cuda(self):
        return self.device == "gpu"

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def size(self, dim=None):
        """The shape (``x.size()``), or the length of one dimension (``x.size(0)``)."""
        if dim is None:
            return self.shape
        return self.shape[_wrap_dim(dim, self.ndim, "size")]

    def dim(self):
        """The number of dimensions."""
        return self.ndim

    ndimension = dim

    def numel(self):
        """The number of elements."""
        return int(self.data.size)

    nelement = numel

    def element_size(self):
        """Bytes per element (4 for float32)."""
        return self.data.dtype.itemsize

    def is_floating_point(self):
        return self.data.dtype.kind == "f"

    def is_contiguous(self):
        return builtins.bool(self.data.flags.c_contiguous)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self):
        extra = ""
        if self.grad_fn is not None:
            extra = f", grad_fn={type(self.grad_fn).__name__}"
        elif self.requires_grad:
            extra = ", requires_grad=True"
        dev = "" if self.device == "cpu" else f", device='{self.device}'"
        body = np.array2string(backend.to_numpy(self.data), separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{dev}{extra})"

    # -- conversion to Python and NumPy ------------------------------------------
    def numpy(self):
        """The values as a NumPy array (copied from the GPU if needed).

        PyTorch refuses this for a tensor that requires grad (``detach()``
        first); tinynet allows it, since the array carries no graph anyway.
        """
        return backend.to_numpy(self.data)

    def __array__(self, dtype=None, copy=None):
        array = backend.to_numpy(self.data)
        return array if dtype is None else array.astype(dtype, copy=False)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted "
                               f"to Scalar (shape {self.shape})")
        return self.data.reshape(()).item()

    def tolist(self):
        """The values as (nested) Python lists; a 0-d tensor gives a number."""
        return backend.to_numpy(self.data).tolist()

    def _scalar(self, kind):
        if self.numel() != 1:
            raise ValueError(f"only one element tensors can be converted to Python scalars "
                             f"(converting shape {self.shape} to {kind})")
        return self.item()

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return builtins.bool(self.item())

    def __float__(self):
        return builtins.float(self._scalar("float"))

    def __int__(self):
        return builtins.int(self._scalar("int"))

    def __index__(self):
        if self.numel() != 1 or self.dtype.kind not in "iu":
            raise TypeError("only integer tensors of a single element can be converted "
                            f"to an index (got shape {self.shape}, dtype {self.dtype})")
        return builtins.int(self.item())

    def __format__(self, spec):
        """``f"{loss:.4f}"`` formats a 0-d tensor's value; other tensors take no format spec."""
        if self.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    # -- graph ------------------------------------------------------------------
    def detach(self):
        """A tensor sharing this one's data, cut from the graph (no gradients flow)."""
        return Tensor._from_array(self.data)

    def detach_(self):
        """Cut this tensor from the graph in place; it becomes a leaf."""
        self.grad_fn, self.requires_grad, self._output_index = None, False, 0
        return self

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place (leaves only, like PyTorch)."""
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("requires_grad_(False) is only allowed on leaf tensors; "
                               "use detach()")
        if requires_grad and self.data.dtype.kind != "f":
            raise RuntimeError("only Tensors of floating point dtype can require gradients, "
                               f"got dtype {self.data.dtype}")
        self.requires_grad = builtins.bool(requires_grad)
        return self

    def retain_grad(self):
        """Keep the gradient of this non-leaf tensor in ``.grad`` after ``backward()``."""
        if self.grad_fn is None:
            if not self.requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return  # leaves keep their gradient anyway
        self._retains_grad = True
        self._watch()

    @property
    def retains_grad(self):
        return self._retains_grad

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; if it returns a
        Tensor, that replaces the gradient.  Returns a handle: ``handle.remove()``."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._hooks is None:
            self._hooks = {}
        handle = HookHandle(self._hooks)
        self._hooks[handle.id] = hook
        self._watch()
        return handle

    def _watch(self):
        """Have grad_fn hand this tensor its finished gradient (for hooks, retain_grad)."""
        if self.grad_fn is not None:
            self.grad_fn.watched_outputs[self._output_index] = weakref.ref(self)

    def zero_grad(self):
        self.grad = None

    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Compute the gradient of this tensor with respect to every leaf that requires it.

        ``gradient`` is d(something)/d(self); it may be omitted only when this
        tensor has a single element (then it is 1).  Leaves' ``.grad`` are
        accumulated, never overwritten.
        """
        if create_graph:
            raise NotImplementedError("backward(create_graph=True): tinynet computes first "
                                      "derivatives only")
        backward(self, gradient, retain_graph=builtins.bool(retain_graph))


def _wrap_dim(dim, ndim, name):
    """``dim`` as an index in [0, ndim), or an IndexError naming ``name`` and the range."""
    n = builtins.max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{name}: dimension {dim} is out of range for a tensor with "
                         f"{ndim} dims (expected to be in range of [{-n}, {n - 1}])")
    return dim % n


def tensor(data, requires_grad=False, dtype=None, device=None):
    """A new Tensor holding a copy of ``data`` (``torch.tensor``).

    ``data``: a number, a nested list of numbers or bools, a NumPy/CuPy array
    or a Tensor.  Python floats become float32, ints int64, bools bool; arrays
    keep their dtype unless ``dtype`` is given.  None and strings are refused.

    >>> tn.tensor([[1., 2.]], requires_grad=True)
    """
    return Tensor(_as_array(data, dtype=dtype, device=device, copy=True),
                  requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None):
    """``data`` as a Tensor, sharing its memory where it can (``torch.as_tensor``).

    A Tensor with the right dtype and device is returned as it is.
    """
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)
    return Tensor(_as_array(data, dtype=dtype, device=device, where="as_tensor"))


def from_numpy(ndarray):
    """A Tensor sharing the memory of a NumPy array (``torch.from_numpy``)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(ndarray).__name__}")
    return Tensor(_as_array(ndarray, where="from_numpy"))


def is_tensor(obj):
    """True if ``obj`` is a tinynet Tensor."""
    return isinstance(obj, Tensor)


# ---------------------------------------------------------------------------
# Function
# ---------------------------------------------------------------------------

Edge = namedtuple("Edge", "node index shape dtype")
Edge.__doc__ = """Where the gradient of one input of a Function goes.

``node`` is the Function that produced the input (the gradient is added to its
output number ``index``) or, for a leaf, the leaf Tensor itself (added to its
``.grad``).  ``shape`` and ``dtype`` are the input's: the engine checks the
gradient's shape and casts it to that dtype.
"""


class Function:
    """One differentiable operation: subclass it and write ``forward`` and ``backward``.

    The contract (the engine relies on it, and the test suite checks it):

    * ``forward(*arrays)`` receives raw arrays (one per Tensor input, ``None``
      for an absent optional input such as a missing bias) and returns an
      array or a tuple of arrays.  It saves on ``self`` what backward needs,
      as explicit attributes assigned in forward (``self.x = x``); backward
      reads them directly, never through ``getattr`` with a default.  What is
      saved only for some gradient is saved under the same
      ``self.needs_input_grad[i]`` test that backward uses.
    * ``self.needs_input_grad[i]`` says whether input ``i`` wants a gradient.
      It is all False under ``no_grad()`` and when no input requires grad, so
      a forward that follows the rule above saves nothing for inference.
    * ``backward(*grad_outputs)`` receives one gradient array per output
      (zeros for an output no gradient reached) and returns one gradient per
      input: an array of the input's shape, or ``None`` where
      ``needs_input_grad`` is False.  The incoming arrays may be shared (add
      hands one array to both of its inputs), so backward must never write
      into them; returning one unchanged is fine.  ``read_only_gradients()``
      turns a violation into an error, and the tests run every gradient check
      that way.
    * The engine casts each returned gradient to its input's dtype (a float32
      leaf gets a float32 ``.grad`` even where it met a float64 tensor), and
      adds gradients of inputs used more than once.

    Non-tensor arguments (stride, dim, ...) go to ``__init__``.  A Function
    object is used once: ``Conv2dFunction(stride=2)(x, w, b)``.

    PyTorch's own style works too: ``forward(ctx, ...)`` and ``backward(ctx,
    ...)`` as staticmethods on Tensors, ``ctx.save_for_backward`` and
    ``ctx.saved_tensors``, called as ``MyFunction.apply(x)`` (see ``apply``).
    """
    _released = False  # set by _release() after backward frees the saved arrays

    @classmethod
    def apply(cls, *args):
        """Call a Function the PyTorch way: ``MyFunction.apply(x, 2.0)``.

        For a subclass written in PyTorch's style (``forward``/``backward`` are
        staticmethods taking ``ctx`` and Tensors) the arguments are passed as
        they are; for a tinynet-style subclass this is ``cls()(*args)``.
        """
        if isinstance(inspect.getattr_static(cls, "forward"), staticmethod):
            positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
            return _ContextFunction(cls, args, positions)(*(args[i] for i in positions))
        return cls()(*args)

    def __call__(self, *inputs):
        tensors = [None if x is None else as_tensor(x) for x in inputs]
        arrays = [None if t is None else t.data for t in tensors]
        enabled = _GradMode.enabled
        self.needs_input_grad = tuple(enabled and t is not None and t.requires_grad
                                      for t in tensors)
        outputs = self.forward(*arrays)
        single = not isinstance(outputs, tuple)
        if single:
            outputs = (outputs,)
        results = [Tensor._from_array(y) for y in outputs]
        if any(self.needs_input_grad):
            self._record(tensors, results)
        # Without recording, this Function object (and anything forward saved
        # on it) becomes garbage as soon as we return.
        return results[0] if single else tuple(results)

    def _record(self, tensors, results):
        """Link this Function into the graph: edges to the inputs, grad_fn of the outputs."""
        self.edges = tuple(
            None if not needed else
            Edge(t if t.grad_fn is None else t.grad_fn, t._output_index, t.shape, t.dtype)
            for t, needed in zip(tensors, self.needs_input_grad))
        self.output_meta = [(r.shape, r.dtype) for r in results]
        self.watched_outputs = {}  # output index -> weakref of a tensor with hooks or retain_grad
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


# ---------------------------------------------------------------------------
# backward: the walk over the graph
# ---------------------------------------------------------------------------

class _Debug:
    read_only_gradients = False


@contextlib.contextmanager
def read_only_gradients():
    """Debug mode: every backward() receives read-only gradient arrays (NumPy only).

    A Function whose backward writes into an incoming gradient (forbidden by
    the contract in ``Function``) then raises ``ValueError: assignment
    destination is read-only`` instead of silently corrupting a gradient that
    another Function shares.  CuPy arrays cannot be made read-only; on the GPU
    this mode changes nothing.
    """
    previous = _Debug.read_only_gradients
    _Debug.read_only_gradients = True
    try:
        yield
    finally:
        _Debug.read_only_gradients = previous


def _read_only_view(array):
    if not isinstance(array, np.ndarray):
        return array
    view = array.view()
    view.flags.writeable = False
    return view


def _check_not_released(fn):
    if fn._released:
        raise RuntimeError(
            "trying to backward through a graph a second time, but its saved values "
            "were freed; pass retain_graph=True to the first backward() to keep them")


def _topological_order(roots):
    """The Functions reachable from the ``roots``, every consumer before its producers.

    Iterative depth-first search: a node is appended after all of its inputs'
    producers (post-order), so the reversed list visits each Function before
    any Function whose output it consumed.
    """
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
        _check_not_released(fn)
        stack.append((fn, True))
        for edge in fn.edges:
            if edge is not None and isinstance(edge.node, Function) and edge.node not in visited:
                stack.append((edge.node, False))
    order.reverse()
    return order


def _accumulate(existing, new):
    # Out of place on purpose: several backward()s may return the same array
    # object (add returns its gradient twice), so an in-place += could corrupt it.
    return new if existing is None else existing + new


def _owned_gradient(existing, new, handed_out):
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


def _checked_gradient(fn, i, edge, g):
    """Input ``i``'s gradient from ``fn.backward``: shape checked, cast to the input's dtype."""
    if tuple(g.shape) != edge.shape:
        raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of shape "
                           f"{tuple(g.shape)} for input {i} of shape {edge.shape}")
    return g if g.dtype == edge.dtype else g.astype(edge.dtype)


def _initial_gradient(output, gradient):
    xp = backend.get_array_module(output.data)
    if not output.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad "
                           "(no input of the computation had requires_grad=True)")
    if gradient is None:
        if output.numel() != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a scalar output, got shape {output.shape}; "
                "pass gradient= (an array of the same shape) or reduce first (e.g. .sum())")
        return xp.ones(output.shape, dtype=output.dtype)
    gradient = backend.to_device(_as_array(gradient, where="backward"), output.device)
    if tuple(gradient.shape) != output.shape:
        raise ValueError(f"gradient shape {tuple(gradient.shape)} does not match "
                         f"output shape {output.shape}")
    return gradient.astype(output.dtype, copy=False)


class HookHandle:
    """Returned by ``Tensor.register_hook``: ``handle.remove()`` takes the hook off again."""
    _next_id = 0

    def __init__(self, hooks):
        self.hooks, self.id = hooks, HookHandle._next_id
        HookHandle._next_id += 1

    def remove(self):
        self.hooks.pop(self.id, None)


def _after_hooks(tensor, gradient):
    """``gradient`` passed through ``tensor``'s hooks (each may return a replacement)."""
    for hook in list((tensor._hooks or {}).values()):
        replaced = hook(Tensor._from_array(gradient))
        if replaced is not None:
            gradient = as_tensor(replaced).data
    return gradient


def _watched(fn):
    """The live tensors among ``fn``'s outputs that have hooks or retain their grad."""
    tensors = [(index, ref()) for index, ref in fn.watched_outputs.items()]
    return [(index, tensor) for index, tensor in tensors if tensor is not None]


def _backpropagate(roots, retain_graph, deliver, wanted, wanted_outputs=lambda fn: []):
    """The walk: gradients from ``roots`` [(tensor, gradient array)] down to the leaves.

    ``deliver(tensor, array)`` receives each finished gradient of a leaf, and
    of every non-leaf tensor for which ``wanted(tensor)`` is True (those that
    retain their grad, or that ``wanted_outputs(fn)`` lists as [(output index,
    tensor)]): ``backward()`` stores them in ``.grad``, ``grad()`` returns them.
    A tensor's hooks run on its gradient first.
    """
    pending = {}  # gradients waiting for each Function, one slot per output
    for tensor, gradient in roots:
        if tensor.grad_fn is None:  # a leaf: d tensor / d tensor = gradient
            deliver(tensor, _after_hooks(tensor, gradient))
            continue
        _check_not_released(tensor.grad_fn)
        slots = pending.setdefault(tensor.grad_fn, [None] * len(tensor.grad_fn.output_meta))
        slots[tensor._output_index] = _accumulate(slots[tensor._output_index], gradient)
    xp = backend.get_array_module(roots[0][1])
    for fn in _topological_order(list(pending)):
        grad_outputs = pending.pop(fn, None)
        if grad_outputs is not None:
            outputs = dict(_watched(fn) + wanted_outputs(fn))  # output index -> tensor
            for index, tensor in outputs.items():
                if grad_outputs[index] is not None:
                    grad_outputs[index] = _after_hooks(tensor, grad_outputs[index])
                    if wanted(tensor):
                        deliver(tensor, grad_outputs[index])
            _run_backward(fn, grad_outputs, pending, deliver, xp)
        if not retain_graph:
            fn._release()


def _run_backward(fn, grad_outputs, pending, deliver, xp):
    """Call ``fn.backward`` and send each input gradient along its edge."""
    grad_outputs = [g if g is not None else xp.zeros(shape, dtype)
                    for g, (shape, dtype) in zip(grad_outputs, fn.output_meta)]
    if _Debug.read_only_gradients:
        grad_outputs = [_read_only_view(g) for g in grad_outputs]
    grad_inputs = fn.backward(*grad_outputs)
    if not isinstance(grad_inputs, tuple):
        grad_inputs = (grad_inputs,)
    if len(grad_inputs) != len(fn.edges):
        raise RuntimeError(f"{type(fn).__name__}.backward returned {len(grad_inputs)} "
                           f"gradients for {len(fn.edges)} inputs")
    for i, (edge, g) in enumerate(zip(fn.edges, grad_inputs)):
        if edge is None or g is None:
            continue
        g = _checked_gradient(fn, i, edge, g)
        if isinstance(edge.node, Tensor):  # a leaf
            deliver(edge.node, _after_hooks(edge.node, g))
        else:
            slots = pending.setdefault(edge.node, [None] * len(edge.node.output_meta))
            slots[edge.index] = _accumulate(slots[edge.index], g)


def backward(output, gradient=None, retain_graph=False):
    """Backpropagate from ``output``, accumulating into the leaves' ``.grad`` (see
    ``Tensor.backward``)."""
    gradient = _initial_gradient(output, gradient)
    # ids of arrays that a leaf's .grad must not take over: the caller's
    # gradient, then every array already stored in a leaf during this pass.
    handed_out = {id(gradient)}

    def store_in_grad(tensor, array):
        tensor.grad = Tensor._from_array(_owned_gradient(tensor.grad, array, handed_out))

    _backpropagate([(output, gradient)], retain_graph, store_in_grad,
                   wanted=lambda tensor: tensor._retains_grad)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """The gradients of ``outputs`` with respect to ``inputs``, returned, not stored
    (``torch.autograd.grad``): no ``.grad`` anywhere is touched.

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
    roots = [(o, _initial_gradient(o, g)) for o, g in zip(outputs, grad_outputs)]
    found = {}

    def is_input(tensor):
        return any(tensor is t for t in inputs)

    def keep_if_wanted(tensor, array):
        if is_input(tensor):
            found[id(tensor)] = _accumulate(found.get(id(tensor)), array)

    by_node = {}
    for t in inputs:
        if t.grad_fn is not None:
            by_node.setdefault(t.grad_fn, []).append((t._output_index, t))
    _backpropagate(roots, builtins.bool(retain_graph), keep_if_wanted, is_input,
                   lambda fn: by_node.get(fn, []))
    results = []
    for i, t in enumerate(inputs):
        if id(t) not in found and not allow_unused:
            raise RuntimeError(f"grad: input {i} (shape {t.shape}) was not used to compute the "
                               "outputs; pass allow_unused=True to get None for it")
        results.append(Tensor._from_array(found[id(t)].copy()) if id(t) in found else None)
    return tuple(results)
