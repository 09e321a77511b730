"""``tn.testing.assert_close``: PyTorch's test assertion, for tests written against PyTorch.

    tn.testing.assert_close(actual, expected)             # dtype-aware default tolerances
    tn.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-5)

Close means ``|actual - expected| <= atol + rtol * |expected|`` for every element,
with PyTorch's defaults by dtype (float16 1e-3 / 1e-5, float32 1.3e-6 / 1e-5,
float64 1e-7 / 1e-7, integers and bools exact).  Tensors, arrays, Python
numbers, and lists, tuples and dicts of them (compared item by item) are taken.
The shapes must be equal, and the dtypes too unless ``check_dtype=False``.
"""
import numbers

import numpy as np

from . import backend
from .autograd import Tensor

__all__ = ["assert_close"]

#: (rtol, atol) by dtype, PyTorch's defaults
DEFAULT_TOLERANCES = {np.dtype(np.float16): (1e-3, 1e-5), np.dtype(np.float32): (1.3e-6, 1e-5),
                      np.dtype(np.float64): (1e-7, 1e-7)}


def assert_close(actual, expected, *, rtol=None, atol=None, equal_nan=False, check_dtype=True,
                 check_device=True, msg=None):
    """AssertionError saying where and by how much ``actual`` and ``expected`` differ."""
    if (rtol is None) != (atol is None):
        raise ValueError("assert_close: give both rtol and atol, or neither")
    _compare(actual, expected, rtol, atol, equal_nan, check_dtype, check_device, msg, "")


def _compare(actual, expected, rtol, atol, equal_nan, check_dtype, check_device, msg, where):
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            _fail(msg, f"the keys differ{where}: {sorted(map(str, actual))} vs "
                       f"{sorted(map(str, expected))}")
        for key in expected:
            _compare(actual[key], expected[key], rtol, atol, equal_nan, check_dtype,
                     check_device, msg, f"{where}[{key!r}]")
        return
    if isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            _fail(msg, f"the sequences differ in length{where}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, rtol, atol, equal_nan, check_dtype, check_device, msg,
                     f"{where}[{i}]")
        return
    a, e = _as_array(actual), _as_array(expected)
    if check_device and isinstance(actual, Tensor) and isinstance(expected, Tensor) and \
            actual.device != expected.device:
        _fail(msg, f"the devices differ{where}: {actual.device} vs {expected.device}")
    if a.shape != e.shape:
        _fail(msg, f"the shapes differ{where}: {a.shape} vs {e.shape}")
    if check_dtype and a.dtype != e.dtype:
        _fail(msg, f"the dtypes differ{where}: {a.dtype} vs {e.dtype}")
    if rtol is None:
        rtol, atol = DEFAULT_TOLERANCES.get(np.result_type(a.dtype, e.dtype), (0.0, 0.0))
    _check_values(a, e, rtol, atol, equal_nan, msg, where)


def _as_array(value):
    """A NumPy array of ``value`` (a Tensor, array or number)."""
    if isinstance(value, Tensor):
        return backend.to_numpy(value.data)
    if isinstance(value, (np.ndarray, np.generic, numbers.Number)):
        return np.asarray(value)
    return backend.to_numpy(value) if hasattr(value, "shape") else np.asarray(value)


def _check_values(a, e, rtol, atol, equal_nan, msg, where):
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore"):                  # inf - inf, nan
        difference = np.abs(a64 - e64)
    close = difference <= atol + rtol * np.abs(e64)
    close |= a64 == e64                                   # equal infinities
    if equal_nan:
        close |= np.isnan(a64) & np.isnan(e64)
    if close.all():
        return
    bad = ~close
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = difference / np.abs(e64)
    # the worst mismatch first; a NaN (no difference to measure) counts as the worst
    worst = _index(np.argmax(np.where(bad, np.nan_to_num(difference, nan=np.inf), -1.0)),
                   a.shape)
    worst_rel = _index(np.argmax(np.where(bad, np.nan_to_num(relative, nan=np.inf), -1.0)),
                       a.shape)
    _fail(msg, f"tensor-likes are not close{where}!\n\n"
               f"Mismatched elements: {int(bad.sum())} / {bad.size} "
               f"({100 * bad.mean():.1f}%)\n"
               f"Greatest absolute difference: {difference[worst]} at index {worst} "
               f"(up to {atol} allowed)\n"
               f"Greatest relative difference: {relative[worst_rel]} at index {worst_rel} "
               f"(up to {rtol} allowed)")


def _index(flat, shape):
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def _fail(msg, text):
    raise AssertionError(msg if msg is not None else text[0].upper() + text[1:])
