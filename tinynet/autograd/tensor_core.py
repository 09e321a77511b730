"""``Tensor``: an array that remembers how it was computed, and the ways to make one.

A Tensor holds its values in ``data`` (a NumPy or CuPy array) and four fields
for the graph: ``requires_grad``, ``grad``, ``grad_fn`` (the Function that
made it; None for a leaf) and ``_output_index`` (which output of grad_fn it
is).  The engine (``engine.py``) fills ``grad_fn`` when a Function records a
call and ``grad`` when ``backward()`` reaches a leaf.

This file holds Tensor's core: the fields, what needs no operation
(``size()``, ``dim()``, ``item()``, ``numpy()``, ``detach()``, ...) and
``backward()``.  Every method that computes (``x + y``, ``x.sum(dim=1)``,
``x.reshape(2, -1)``, ``x.relu()``, ``x.add_(1)``) is the ``tinynet.ops``
function of the same name (``x.sum(1)`` is ``tn.sum(x, 1)``, as in PyTorch),
attached to ``Tensor`` in one table in ``tinynet/tensor_methods.py``.

Imports: the engine and the hooks import this file (they create Tensors), so
the methods that need them (``backward``, ``detach_``, ``retain_grad`` and the
``register_*hook`` methods) import them when called; nothing here imports them
at load time, so no import order can leave a module half-initialized.
"""
import builtins
import operator

import numpy as np

from .. import backend
from ..device import device as _device

__all__ = ["Tensor", "Size", "tensor", "as_tensor", "from_numpy", "is_tensor", "initial_gradient"]


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


def _array_from_python(data, where, dtype=None):
    """A NumPy array from a Python scalar or (nested) list, with PyTorch's dtypes.

    Python floats become float32 (the default dtype), ints int64, bools bool;
    NumPy scalars keep their dtype; a ``dtype`` given is read straight from the
    values (0.1 as float64 is not 0.1 rounded to float32 first).  ``None``,
    strings and ragged lists are refused.
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
    if dtype is not None:
        return array.astype(np.dtype(dtype), copy=False)
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
        data = _array_from_python(data, where, dtype)
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

def _are_sizes(values):
    """Whether ``Tensor(*values)`` is the legacy sizes form: every value a Python int (not a
    bool; a NumPy integer is data, as tinynet's own code wraps arrays and scalars)."""
    return all(type(v) is builtins.int for v in values)


class Size(tuple):
    """A shape, ``x.shape`` or ``x.size()``: a tuple of ints, with ``numel()`` (``torch.Size``)."""

    def numel(self):
        n = 1
        for size in self:
            n *= size
        return n

    def __getitem__(self, index):
        item = super().__getitem__(index)
        return Size(item) if isinstance(index, slice) else item      # x.shape[1:] is a Size


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    Attributes
    ----------
    data : numpy.ndarray or cupy.ndarray
        The values.  Ops read and write ``data`` directly; users mostly don't.
    grad : Tensor or None
        After ``backward()``, the gradient of the output with respect to this
        tensor (same shape, device and dtype).  Gradients accumulate: call
        ``optimizer.zero_grad()`` or ``model.zero_grad()`` (or set ``grad = None``)
        between steps.
    requires_grad : bool
        Whether gradients flow to this tensor.
    grad_fn : Function or None
        The Function that produced this tensor (None for leaves).

    The methods that compute (arithmetic, reductions, shape, activations,
    in-place updates) are attached in ``tinynet/tensor_methods.py``; see the
    module docstring.

    Constructing one directly is PyTorch's legacy ``torch.Tensor``: ``Tensor(2, 3)``
    (ints: sizes) is an uninitialized float32 tensor of shape (2, 3), ``Tensor([1, 2])``
    (a list or tuple) a float32 copy of the values, ``Tensor()`` an empty one.  An
    array or a Tensor keeps its dtype (PyTorch would cast it to float32; tinynet's own
    code wraps arrays this way).  ``tn.tensor(data)`` is the everyday constructor.
    """

    # ``numpy_array + tensor`` and ``np.float32(2) * tensor``: NumPy hands the
    # operation to Tensor's reflected operator instead of converting the tensor.
    __array_ufunc__ = None
    __array_priority__ = 1000
    # Comparisons are elementwise (``a == b`` is a bool Tensor), so hashing
    # cannot follow equality: tensors are hashed by identity, as in PyTorch.
    __hash__ = object.__hash__
    _hooks = None          # {id: hook} once register_hook is called
    _post_accumulate_hooks = None  # {id: hook}, once register_post_accumulate_grad_hook is called
    _retains_grad = False  # set by retain_grad()

    def __init__(self, data=(), *sizes, requires_grad=False, dtype=None, device=None):
        if _are_sizes((data,) + sizes):           # Tensor(2, 3): the legacy sizes form
            shape = tuple(operator.index(n) for n in (data,) + sizes)
            data = np.empty(shape, dtype=backend.DEFAULT_DTYPE)
        elif sizes:
            raise TypeError(f"Tensor(): after the data, only keyword arguments (requires_grad, "
                            f"dtype, device) are taken; got {len(sizes)} more positional "
                            "argument(s)")
        elif dtype is None and isinstance(data, (list, tuple)):
            dtype = backend.DEFAULT_DTYPE          # torch.Tensor([1, 2]) is float32
        self.data = _as_array(data, dtype=dtype, device=device)
        self.grad = None
        self.requires_grad = False
        self.grad_fn = None
        self._output_index = 0  # which output of grad_fn this tensor is
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_array(cls, array):
        """A constant Tensor around ``array`` as it is (ops' outputs: no checks, no copies).

        A NumPy scalar (what ``a.sum()`` or ``a[0, 1]`` return) becomes a 0-d array, so
        that the tensor can be changed in place like any other (``cm[t, p] += 1``).
        """
        if isinstance(array, np.generic):
            array = np.asarray(array)
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
        """NumPy's conversion protocol: ``np.array(t)`` copies (``copy=True``), as NumPy
        promises; ``np.asarray(t)`` of a CPU tensor shares its memory."""
        array = backend.to_numpy(self.data)
        needs_copy = array is not self.data or (dtype is not None and
                                                np.dtype(dtype) != array.dtype)
        if copy is False and needs_copy:
            raise ValueError("Tensor.__array__: a copy is needed (another dtype, or a GPU "
                             "tensor) but copy=False")
        if dtype is not None:
            return array.astype(dtype, copy=bool(copy))
        return array.copy() if copy and array is self.data else array

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted "
                               f"to Scalar (shape {self.shape})")
        return backend.to_numpy(self.data.reshape(())).item()

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
        from . import hooks
        hooks.unwatch(self)          # its old grad_fn must no longer hand it a gradient
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
        from . import hooks
        self._retains_grad = True
        hooks.watch(self)

    @property
    def retains_grad(self):
        return self._retains_grad

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; if it returns a
        Tensor, that replaces the gradient.  Returns a handle: ``handle.remove()``."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        from . import hooks
        return hooks.add_hook(self, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` after ``backward()`` has added into this leaf's ``.grad``
        (as soon as every use of the leaf has sent its share, during the walk).
        Returns a handle: ``handle.remove()``."""
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                               "tensors")
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        from . import hooks
        return hooks.add_post_accumulate_hook(self, hook)

    def zero_grad(self):
        self.grad = None

    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        """Compute the gradient of this tensor with respect to every leaf that requires it.

        ``gradient`` is d(something)/d(self); it may be omitted only when this
        tensor has a single element (then it is 1).  Leaves' ``.grad`` are
        accumulated, never overwritten.  The walk itself is ``engine.backward``.
        """
        if create_graph:
            raise NotImplementedError("backward(create_graph=True): tinynet computes first "
                                      "derivatives only")
        from . import engine
        engine.backward(self, gradient, retain_graph=builtins.bool(retain_graph))


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


def initial_gradient(output, gradient, caller="backward()", argument="gradient"):
    """The gradient the walk starts from: ``gradient`` checked, or 1 for a scalar output
    (``caller`` and ``argument`` name the call and its argument in the messages)."""
    if not output.requires_grad:
        raise RuntimeError(f"{caller} on a tensor that does not require grad "
                           "(no input of the computation had requires_grad=True)")
    if gradient is None:
        if output.numel() != 1:
            raise RuntimeError(
                f"{caller} without {argument} needs a scalar output, got shape {output.shape}; "
                f"pass {argument}= (of the output's shape) or reduce first (e.g. .sum())")
        return backend.get_array_module(output.data).ones(output.shape, dtype=output.dtype)
    gradient = backend.to_device(_as_array(gradient, where=caller), output.device)
    if tuple(gradient.shape) != output.shape:
        raise ValueError(f"gradient shape {tuple(gradient.shape)} does not match "
                         f"output shape {output.shape}")
    return gradient.astype(output.dtype, copy=False)
