"""Saving and loading a Module's state: ``state_dict()`` and ``load_state_dict()``.

A state dict is an ordered mapping from dotted names to arrays, with PyTorch's
key names and order: for each module (depth first, in registration order) its
parameters, then its persistent buffers, e.g.::

    conv1.weight, bn1.weight, bn1.bias, bn1.running_mean, bn1.running_var,
    bn1.num_batches_tracked, layer1.0.conv1.weight, ..., fc.weight, fc.bias

so that torchvision checkpoints load by name.  Values are Tensors detached from
the graph that share the module's own arrays (not copies, like PyTorch): an
in-place change of one (``v.copy_(...)``, how EMA code updates a model) changes
the module, and you copy them if you keep them while training.

Loading converts and checks every value first (shape, a numeric dtype) and
copies only if nothing is wrong, so a failed ``load_state_dict`` leaves the
model untouched.
"""
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from .. import backend
from ..autograd import Tensor

__all__ = ["IncompatibleKeys", "module_state_dict", "load_module_state_dict"]

#: What ``load_state_dict`` returns: the model's keys absent from the
#: checkpoint, and the checkpoint's keys the model does not have.
IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def module_state_dict(module, destination=None, prefix="", keep_vars=False):
    """Fill ``destination`` (a new OrderedDict by default) with ``module``'s state.

    Values are Tensors that require no gradient, on the module's own arrays (NumPy or
    CuPy, wherever the module lives); with ``keep_vars=True`` they are the Parameter /
    buffer Tensors themselves.
    """
    if destination is None:
        destination = OrderedDict()
    for name, param in module._parameters.items():
        if param is not None:
            destination[prefix + name] = param if keep_vars else Tensor._from_array(param.data)
    for name, buf in module._buffers.items():
        if buf is not None and name not in module._non_persistent_buffers:
            destination[prefix + name] = buf if keep_vars else Tensor._from_array(buf.data)
    for name, child in module._modules.items():
        if child is not None:
            module_state_dict(child, destination, prefix + name + ".", keep_vars)
    return destination


def _source_array(value):
    """The array behind a checkpoint value: a Tensor's data, a NumPy/CuPy array,
    or anything NumPy can convert (a number, a list, a CPU torch tensor)."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "__array__"):
        if backend.get_array_module(value) is not np:
            return value  # CuPy: np.asarray would refuse the implicit copy
    return np.asarray(value)


# NumPy dtype kinds a parameter can be loaded from: bool, signed and unsigned
# integers, floats and complex (strings, bytes, objects and dates cannot).
_NUMERIC_KINDS = "biufc"


def _converted_source(key, value, target):
    """``(array, "")``: ``value`` converted to ``target``'s dtype, ready to copy;
    or ``(None, error)`` where the error message names ``key``."""
    where = f'While copying the parameter named "{key}"'
    try:
        source = _source_array(value)
    except (TypeError, ValueError, RuntimeError) as exc:  # ragged lists, torch grad tensors
        return None, (f"{where}, the checkpoint value ({type(value).__name__}) cannot be "
                      f"converted to an array: {exc}")
    if tuple(source.shape) != target.shape:
        return None, (f"size mismatch for {key}: checkpoint {tuple(source.shape)} "
                      f"vs model {target.shape}")
    if source.dtype.kind not in _NUMERIC_KINDS:
        return None, (f"{where}, expected a numeric array or Tensor in the checkpoint, but "
                      f"received {type(value).__name__} of dtype {source.dtype}")
    return source.astype(target.data.dtype, copy=False), ""


def _upgraded(module, state_dict):
    """A shallow copy of ``state_dict`` where layers filled in keys that old
    checkpoints lack (the caller's dict is never modified)."""
    state_dict = dict(state_dict)
    for name, sub in module.named_modules():
        sub._upgrade_state_dict(state_dict, name + "." if name else "")
    return state_dict


def load_module_state_dict(module, state_dict, strict=True):
    """Copy ``state_dict``'s values into ``module``'s parameters and persistent buffers.

    * Values are copied into the existing arrays, so they keep the model's
      device and dtype (a NumPy float64 checkpoint loads into a float32 model
      on the GPU); values may be NumPy arrays, CuPy arrays or Tensors.
    * A shape mismatch, or a value that is not numeric (strings, None, ragged
      lists), is always an error naming the key (also with ``strict=False``).
    * With ``strict=True``, missing and unexpected keys are errors too.
    * All errors are reported together in one RuntimeError, and nothing is
      copied if there is any.

    Returns ``IncompatibleKeys(missing_keys, unexpected_keys)``.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"load_state_dict: expected a dict-like state_dict, "
                        f"got {type(state_dict).__name__}")
    own = module_state_dict(module, keep_vars=True)
    original_keys = list(state_dict.keys())
    state_dict = _upgraded(module, state_dict)

    missing = [key for key in own if key not in state_dict]
    unexpected = [key for key in original_keys if key not in own]
    sources, bad_values = {}, []
    for key, target in own.items():
        if key in state_dict:
            sources[key], error = _converted_source(key, state_dict[key], target)
            if error:
                bad_values.append(error)

    errors = []
    if strict and missing:
        errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
    if strict and unexpected:
        errors.append("Unexpected key(s) in state_dict: "
                      + ", ".join(f'"{k}"' for k in unexpected))
    errors.extend(bad_values)
    if errors:
        raise RuntimeError(f"Error(s) in loading state_dict for {module._get_name()}:\n\t"
                           + "\n\t".join(errors))

    for key, source in sources.items():
        target = own[key].data
        # In place: keeps the target's device and dtype, and keeps any
        # reference to the array (an earlier state_dict(), an optimizer) valid.
        target[...] = backend.to_device(source, backend.device_of(target))
    return IncompatibleKeys(missing, unexpected)
