"""Nested state (optimizer state dicts) <-> one JSON document plus a set of arrays.

An optimizer state dict, PyTorch style, mixes arrays and plain values::

    {"state": {0: {"step": 10, "exp_avg": <array>, "exp_avg_sq": <array>}, ...},
     "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1, ...]}]}

We store it without pickle: every array goes to its own ``.npz`` entry and is
replaced in the JSON by a reference ``{"__array__": "optim/state/0/exp_avg"}``.
JSON alone would lose three things, so they are tagged too:

* dicts whose keys are not all strings (``state`` is keyed by int)
  -> ``{"__dict__": [[key, value], ...]}``
* tuples (``betas``)  -> ``{"__tuple__": [...]}``
* NumPy scalars (``np.float32(0.1)``) -> an array reference with ``"scalar": true``,
  so they come back with their exact dtype and bits.

A dict whose string keys start with ``"__"`` is also written in the tagged form,
so user keys can never be mistaken for a tag.
"""
import numpy as np

from ._arrays import is_array, to_host_array

__all__ = ["encode_state", "decode_state"]

_ARRAY, _TUPLE, _DICT = "__array__", "__tuple__", "__dict__"


class _Encoder:
    """Walks a nested value, collecting arrays into ``self.arrays`` (npz key -> array)."""

    def __init__(self, prefix, what):
        self.prefix = prefix  # "optim/": npz keys start with it
        self.what = what      # "optimizer state": names the value in errors
        self.arrays = {}

    def encode(self, value, path):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if is_array(value) or isinstance(value, np.generic):
            key = self._unique_key(path)
            self.arrays[key] = to_host_array(value, f"{self.what} {_show(path)}")
            ref = {_ARRAY: key}
            if isinstance(value, np.generic):
                ref["scalar"] = True
            return ref
        if isinstance(value, tuple):
            return {_TUPLE: [self.encode(v, path + (i,)) for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, path + (i,)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in value):
                return {k: self.encode(v, path + (k,)) for k, v in value.items()}
            return {_DICT: [[self._encode_key(k, path), self.encode(v, path + (k,))]
                            for k, v in value.items()]}
        raise TypeError(
            f"{self.what} {_show(path)} is a {type(value).__name__}; only arrays, numbers, "
            "strings, None, lists, tuples and dicts can be saved without pickle")

    def _encode_key(self, key, path):
        if key is None or isinstance(key, (bool, int, float, str)):
            return key
        if isinstance(key, tuple):
            return {_TUPLE: [self._encode_key(k, path) for k in key]}
        raise TypeError(f"{self.what} {_show(path)} has a key of type {type(key).__name__}")

    def _unique_key(self, path):
        # Readable npz names ("optim/state/0/exp_avg"); a suffix only if two paths
        # collide (a key that itself contains "/").
        base = self.prefix + "/".join(str(p) for p in path)
        key, n = base, 1
        while key in self.arrays:
            key, n = f"{base}#{n}", n + 1
        return key


def encode_state(value, prefix, what):
    """Split ``value`` into (json_value, {npz_key: numpy array}); npz keys start with prefix."""
    encoder = _Encoder(prefix, what)
    return encoder.encode(value, ()), encoder.arrays


def decode_state(value, arrays):
    """Inverse of ``encode_state``: rebuild the nested value from JSON and the arrays."""
    if isinstance(value, list):
        return [decode_state(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if _ARRAY in value:
        array = arrays[value[_ARRAY]]  # KeyError: the caller reports a corrupt file
        return array[()] if value.get("scalar") else array
    if _TUPLE in value:
        return tuple(decode_state(v, arrays) for v in value[_TUPLE])
    if _DICT in value:
        return {_hashable(decode_state(k, arrays)): decode_state(v, arrays)
                for k, v in value[_DICT]}
    return {k: decode_state(v, arrays) for k, v in value.items()}


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def _show(path):
    return "'" + "/".join(str(p) for p in path) + "'" if path else "(top level)"
