"""The heart of the strict CuPy stand-in: a device array that is not a NumPy array.

``ndarray`` holds a NumPy array (``_host``, the "device memory") and lets it
out only through the doors CuPy has, each one counted:

* device -> host: ``.get()``, ``cupy.asnumpy``, ``float()``, ``int()``,
  ``bool()``, ``complex()``, ``operator.index``, ``.item()``, ``.tolist()``,
  ``.tobytes()``, ``repr``/``str``/``format`` and pickling.  On a GPU each one
  waits for the device and copies over PCIe; in a training step there should
  be none (tests/test_gpu_host_sync.py).
* host -> device: ``cupy.asarray``/``cupy.array`` of host data, ``.set()``,
  and a Python list used as an index.

What CuPy refuses, the stand-in refuses, with CuPy's TypeError:

* ``numpy.asarray(device_array)`` and anything else that asks NumPy to
  convert it (``__array__``): "Implicit conversion to a NumPy array is not
  allowed";
* a NumPy array handed to a CuPy function, operator, index or assignment:
  "Unsupported type <class 'numpy.ndarray'>".

Stricter than CuPy, on purpose: a NumPy function or ufunc given a device
array raises too (CuPy would dispatch ``numpy.sum(a)`` to ``cupy.sum``
through ``__array_function__``).  tinynet's ops pick their module with
``xp = backend.get_array_module(...)``; a bare ``np.`` call on device data is
a bug waiting for the first input that CuPy does not dispatch.

Like CuPy, reductions and full integer indexing give 0-d device arrays, never
host scalars, so ``if a.sum() > 0:`` costs a transfer here as on a GPU.
"""
import contextlib
import traceback

import numpy as np

# --------------------------------------------------------------------------------------
# Counting transfers
# --------------------------------------------------------------------------------------


class DeviceSynchronized(RuntimeError):
    """A transfer to the host inside ``cupyx.allow_synchronize(False)`` (as CuPy raises)."""


class Transfers:
    """Counts of copies between host and device.

    ``events`` keeps (direction, what, where) for each one, ``where`` being the
    innermost frame outside the stand-in, so a test can say which line did it;
    ``stacks`` the matching call stacks ("file:line in function", outermost first).
    """

    def __init__(self):
        self.device_to_host = 0
        self.host_to_device = 0
        self.events = []
        self.stacks = []

    def add(self, direction, what, stack):
        setattr(self, direction, getattr(self, direction) + 1)
        self.events.append((direction, what, stack[-1] if stack else "?"))
        self.stacks.append(stack)

    def summary(self):
        lines = [f"{d} {what} at {where}" for d, what, where in self.events]
        return "\n".join(lines) or "no transfers"


class _Ledger:
    """Every transfer of the process (``transfers``) and of each open ``count_transfers``."""

    def __init__(self):
        self.synchronize_allowed = True
        self.open_counts = []

    def record(self, direction, what):
        if direction == "device_to_host" and not self.synchronize_allowed:
            raise DeviceSynchronized(f"{what}: a device-to-host transfer waits for the GPU, "
                                     "and synchronization is disallowed here")
        stack = _callers()
        for tally in [transfers] + self.open_counts:
            tally.add(direction, what, stack)


def _callers():
    """The call stack outside the stand-in, as 'file:line in function', outermost first."""
    return tuple(f"{frame.filename}:{frame.lineno} in {frame.name}"
                 for frame in traceback.extract_stack()[:-2]
                 if "strict_gpu" not in frame.filename)


transfers = Transfers()      # since the process started
ledger = _Ledger()


@contextlib.contextmanager
def count_transfers():
    """``with count_transfers() as t:`` ... then ``t.device_to_host``, ``t.summary()``:
    the transfers made inside the block."""
    tally = Transfers()
    ledger.open_counts.append(tally)
    try:
        yield tally
    finally:
        ledger.open_counts.remove(tally)


# --------------------------------------------------------------------------------------
# Crossing between the stand-in's arrays and NumPy's
# --------------------------------------------------------------------------------------

NUMPY_GIVEN = ("Unsupported type <class 'numpy.ndarray'> (strict CuPy stand-in: a NumPy "
               "array was given where CuPy wants device arrays; move it with cupy.asarray, "
               "or make it with xp)")


def unwrap(value, what="argument"):
    """The NumPy data under ``value``: device arrays opened, NumPy arrays refused.

    Goes into lists, tuples and dicts; scalars, dtypes, slices, None and
    strings pass as they are.
    """
    if isinstance(value, ndarray):
        return value._host
    if isinstance(value, np.ndarray):
        raise TypeError(f"{NUMPY_GIVEN} ({what})")
    if isinstance(value, list):
        return [unwrap(v, what) for v in value]
    if isinstance(value, tuple):
        items = [unwrap(v, what) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, dict):
        return {k: unwrap(v, what) for k, v in value.items()}
    return value


def wrap(value, out=None):
    """NumPy results as device arrays; ``out``'s own object when NumPy wrote into it.

    NumPy scalars (np.float32(...), np.bool_) become 0-d device arrays, as
    CuPy returns them; Python numbers, dtypes and other values pass.
    """
    if out is not None and isinstance(value, np.ndarray):
        outs = out if isinstance(out, tuple) else (out,)
        for o in outs:
            if isinstance(o, ndarray) and o._host is value:
                return o
    if isinstance(value, np.ndarray):
        if not value.flags.writeable:   # CuPy has no read-only arrays; NumPy's diagonal is one
            try:
                value.setflags(write=True)
            except ValueError:          # a view of read-only memory stays so
                pass
        return ndarray._from_host(value)
    if isinstance(value, np.generic):
        return ndarray._from_host(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(wrap(v) for v in value)
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


def upload(value, what):
    """Host data (NumPy arrays, lists, scalars) copied to the "device", counted."""
    if isinstance(value, ndarray):
        return value._host
    ledger.record("host_to_device", what)
    if isinstance(value, (list, tuple)) and any(isinstance(v, ndarray) for v in value):
        return np.asarray([unwrap(v) for v in value])
    return np.asarray(value)


def refuse_numpy(name):
    raise TypeError(
        f"numpy.{name} was given a device array (strict CuPy stand-in): "
        f"use xp.{name} with xp = tinynet.backend.get_array_module(...), "
        "or move the array to the host explicitly with .get()")


# --------------------------------------------------------------------------------------
# The device array
# --------------------------------------------------------------------------------------


class Flags:
    """CuPy's ``ndarray.flags``: three flags, and no ``writeable`` (CuPy has none)."""

    def __init__(self, host):
        self.c_contiguous = host.flags.c_contiguous
        self.f_contiguous = host.flags.f_contiguous
        self.owndata = host.flags.owndata

    def __getitem__(self, name):
        return getattr(self, {"C_CONTIGUOUS": "c_contiguous", "F_CONTIGUOUS": "f_contiguous",
                              "OWNDATA": "owndata"}[name])


class MemoryPointer:
    """``ndarray.data``: only its address, as NCCL and DLPack callers read it."""

    def __init__(self, host):
        self.ptr = host.__array_interface__["data"][0]


def _host_index(index):
    """An index with device arrays opened; a Python list in it is an upload, NumPy refused."""
    if isinstance(index, tuple):
        return tuple(_host_index(i) for i in index)
    if isinstance(index, list):
        return upload(index, "a list used as an index")
    return unwrap(index, "index")


class ndarray:
    """A CuPy array of the stand-in: NumPy data that only leaves through counted doors."""

    __array_priority__ = 100
    __slots__ = ("_host", "__weakref__")

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("strict CuPy stand-in: ndarray(memptr=, strides=)")
        self._host = np.empty(shape, dtype=dtype, order=order)

    @classmethod
    def _from_host(cls, host):
        array = object.__new__(cls)
        array._host = host
        return array

    # -- what NumPy must not do to it ---------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        refuse_numpy(ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}")

    def __array_function__(self, func, types, args, kwargs):
        refuse_numpy(func.__name__)

    # -- attributes ---------------------------------------------------------------------
    shape = property(lambda self: self._host.shape)
    dtype = property(lambda self: self._host.dtype)
    ndim = property(lambda self: self._host.ndim)
    size = property(lambda self: self._host.size)
    itemsize = property(lambda self: self._host.itemsize)
    nbytes = property(lambda self: self._host.nbytes)
    strides = property(lambda self: self._host.strides)
    flags = property(lambda self: Flags(self._host))
    data = property(lambda self: MemoryPointer(self._host))
    T = property(lambda self: wrap(self._host.T))
    mT = property(lambda self: wrap(self._host.mT))
    real = property(lambda self: wrap(self._host.real))
    imag = property(lambda self: wrap(self._host.imag))
    flat = property(lambda self: wrap(self._host.reshape(-1)))

    @property
    def base(self):
        base = self._host.base
        return None if base is None else wrap(base)

    @property
    def device(self):
        from .cuda import Device
        return Device(0)

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "version": 3,
                "data": (self.data.ptr, False),
                "strides": None if self._host.flags.c_contiguous else self.strides}

    # -- the counted doors to the host --------------------------------------------------
    def _to_host(self, what):
        ledger.record("device_to_host", what)
        return self._host

    def get(self, stream=None, order="C", out=None, blocking=True):
        host = self._to_host(".get()")
        if out is not None:
            out[...] = host
            return out
        return np.array(host, order=order)

    def set(self, arr, stream=None):
        self._host[...] = upload(arr, ".set()")

    def item(self, *args):
        return self._to_host(".item()").item(*args)

    def tolist(self):
        return self._to_host(".tolist()").tolist()

    def tobytes(self, order="C"):
        return self._to_host(".tobytes()").tobytes(order)

    def __float__(self):
        return float(self._to_host("float()"))

    def __int__(self):
        return int(self._to_host("int()"))

    def __complex__(self):
        return complex(self._to_host("complex()"))

    def __bool__(self):
        return bool(self._to_host("bool()"))

    def __index__(self):
        return self._to_host("an index (operator.index)").__index__()

    def __repr__(self):
        return repr(self._to_host("repr()"))

    def __str__(self):
        return str(self._to_host("str()"))

    def __format__(self, spec):
        return format(self._to_host("format()"), spec)

    def __reduce__(self):
        return (_from_pickle, (self._to_host("pickling").copy(),))

    # -- staying on the device ----------------------------------------------------------
    def __len__(self):
        return len(self._host)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (wrap(row) for row in self._host)

    def __getitem__(self, index):
        return wrap(self._host[_host_index(index)])

    def __setitem__(self, index, value):
        self._host[_host_index(index)] = unwrap(value, "a value assigned into a device array")

    def __copy__(self):
        return wrap(self._host.copy())

    def __deepcopy__(self, memo):
        return wrap(self._host.copy())

    __hash__ = None

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        return wrap(self._host.astype(dtype, order=order, copy=copy))

    def scatter_add(self, slices, values):
        np.add.at(self._host, _host_index(slices), unwrap(values))


def _from_pickle(host):
    ledger.record("host_to_device", "unpickling")
    return ndarray._from_host(host)


def _method(name):
    """ndarray.<name> as NumPy's method on the data, arguments opened, results wrapped."""
    def method(self, *args, **kwargs):
        with np.errstate(all="ignore"):        # CuPy never warns about inf or NaN
            result = getattr(self._host, name)(*unwrap(args), **unwrap(kwargs))
        return wrap(result, out=kwargs.get("out"))
    method.__name__ = name
    return method


def _operator(name):
    def operator(self, other):
        if isinstance(other, (np.ndarray, list)):
            raise TypeError(f"{NUMPY_GIVEN} (operand of {name})")
        with np.errstate(all="ignore"):
            result = getattr(self._host, name)(unwrap(other))
        if result is NotImplemented:
            return result
        if name.startswith("__i"):          # in place: the same device array
            return self
        return wrap(result)
    operator.__name__ = name
    return operator


_UNARY = ("__neg__", "__pos__", "__abs__", "__invert__")


def _unary(name):
    def operator(self):
        return wrap(getattr(self._host, name)())
    operator.__name__ = name
    return operator


def install_methods(method_names, dunder_names):
    """Give ``ndarray`` the methods and operators CuPy's has (names from cupy14_names.json)."""
    for name in method_names:
        if name in ndarray.__dict__ or not hasattr(np.ndarray, name):
            continue
        if callable(getattr(np.ndarray, name)):
            setattr(ndarray, name, _method(name))
    for name in dunder_names:
        if name in ndarray.__dict__ or name in ("__init__", "__new__") or \
                not hasattr(np.ndarray, name):
            continue
        if name in _UNARY:
            setattr(ndarray, name, _unary(name))
        elif name.strip("_") in _BINARY:          # __add__, __iadd__, __radd__, __lt__, ...
            setattr(ndarray, name, _operator(name))


_BINARY = {prefix + op for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow",
                                  "matmul", "and", "or", "xor", "lshift", "rshift", "divmod")
           for prefix in ("", "i", "r")} | {"lt", "le", "gt", "ge", "eq", "ne"}
