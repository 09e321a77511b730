"""Filling a module of the stand-in with CuPy's names, each backed by NumPy's (or SciPy's).

Only the names that CuPy 14 really has exist (``cupy14_names.json``, listed by
``list_cupy_names.py`` from an installed CuPy), so code that reaches for a
NumPy-only function fails here with AttributeError as it would on a GPU.  A
name CuPy has but NumPy cannot stand in for is a stub that raises
NotImplementedError when called, naming itself.
"""
import json
from pathlib import Path

import numpy as np

from . import _strict

NAMES_FILE = Path(__file__).resolve().parents[1] / "cupy14_names.json"
_LISTED = json.loads(NAMES_FILE.read_text())
CUPY_VERSION = _LISTED["cupy_version"]
NAMES = _LISTED["names"]

#: Functions that CuPy answers with a 0-d device array where NumPy gives a Python value.
DEVICE_SCALAR_RESULTS = {"allclose", "array_equal", "array_equiv", "count_nonzero"}


class ufunc:
    """CuPy's ufunc: NumPy's, called on the device arrays' data."""

    def __init__(self, numpy_ufunc):
        self._numpy = numpy_ufunc
        self.name = self.__name__ = numpy_ufunc.__name__
        self.nin, self.nout, self.nargs = numpy_ufunc.nin, numpy_ufunc.nout, numpy_ufunc.nargs
        self.types = numpy_ufunc.types

    def __call__(self, *args, **kwargs):
        return call(self._numpy, self.name, args, kwargs)

    def __repr__(self):
        return f"<ufunc 'cupy.{self.name}' (strict stand-in)>"

    def reduce(self, *args, **kwargs):
        return call(self._numpy.reduce, f"{self.name}.reduce", args, kwargs)

    def accumulate(self, *args, **kwargs):
        return call(self._numpy.accumulate, f"{self.name}.accumulate", args, kwargs)

    def reduceat(self, *args, **kwargs):
        return call(self._numpy.reduceat, f"{self.name}.reduceat", args, kwargs)

    def outer(self, *args, **kwargs):
        return call(self._numpy.outer, f"{self.name}.outer", args, kwargs)

    def at(self, a, indices, b=None):
        host_b = () if b is None else (_strict.unwrap(b),)
        self._numpy.at(_strict.unwrap(a), _strict.unwrap(indices), *host_b)


def call(function, name, args, kwargs):
    """``function`` on the arguments' NumPy data; the results as device arrays."""
    with np.errstate(all="ignore"):        # CuPy never warns about inf or NaN
        result = function(*_strict.unwrap(args, f"cupy.{name}"),
                          **_strict.unwrap(kwargs, f"cupy.{name}"))
    if name in DEVICE_SCALAR_RESULTS and not isinstance(result, np.ndarray):
        result = np.asarray(result)
    return _strict.wrap(result, out=kwargs.get("out"))


def device_function(name, function):
    def on_device(*args, **kwargs):
        return call(function, name, args, kwargs)
    on_device.__name__ = on_device.__qualname__ = name
    on_device.__doc__ = f"cupy.{name} of the strict stand-in: {function.__module__}.{name}."
    return on_device


def missing(qualified_name):
    def stub(*args, **kwargs):
        raise NotImplementedError(f"{qualified_name} is not emulated by the strict CuPy "
                                  "stand-in (tests/strict_gpu); add it there if tinynet needs it")
    stub.__name__ = qualified_name.rsplit(".", 1)[-1]
    return stub


_PASSED_TYPES = (np.dtype, np.finfo, np.iinfo, np.errstate, np.ndindex)


def stand_in_for(obj, qualified_name):
    """What the stand-in puts under a name whose NumPy (or SciPy) object is ``obj``."""
    if obj is None:
        return missing(qualified_name)
    if isinstance(obj, np.ufunc):
        return ufunc(obj)
    if isinstance(obj, type):
        if issubclass(obj, (np.generic, BaseException, Warning)) or obj in _PASSED_TYPES:
            return obj
        return missing(qualified_name)
    if callable(obj):
        return device_function(qualified_name.rsplit(".", 1)[-1], obj)
    return obj          # constants: pi, inf, newaxis, ...


def populate(namespace, listed, source, prefix, skip=()):
    """Set every name of ``NAMES[listed]`` in ``namespace`` not already there nor in ``skip``."""
    for name in NAMES[listed]:
        if name in namespace or name in skip or name == "annotations":
            continue
        namespace[name] = stand_in_for(getattr(source, name, None), f"{prefix}.{name}")
