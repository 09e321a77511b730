"""``tn.save`` and ``tn.load``: ``torch.save``/``torch.load`` for checkpoints, in PyTorch's format.

    tn.save({"epoch": 3, "model": model.state_dict(), "optimizer": opt.state_dict()}, "ck.pt")
    checkpoint = tn.load("ck.pt")                    # the same dict, tensors as tn.Tensor
    model.load_state_dict(tn.load("weights.pth", map_location="cpu"))

The file is PyTorch's own zip format (``torch_pth.py`` describes it), so it goes
both ways: ``torch.load`` reads what ``tn.save`` wrote, and ``tn.load`` reads
what ``torch.save`` wrote.  What can be in it is what ``torch.load(...,
weights_only=True)`` accepts, PyTorch's default since 2.6: tensors, numbers,
strings, bytes, None, and lists, tuples, sets and dicts of them (a training
checkpoint, a state dict, an optimizer's state); loading also reads torch dtypes
(as tinynet's), devices (as their names, "cuda:0") and shapes (as tuples).  A pickled module or other Python object is
refused on both sides: unpickling one can run any code its author wrote.

Saving: every tensor becomes one storage record (its elements, C order,
little-endian) and, in the pickle, a call ``torch._utils._rebuild_tensor_v2(
storage, 0, size, stride, False, OrderedDict())`` whose storage is a
persistent id ``("storage", torch.FloatStorage, key, "cpu", numel)``.  Those
names are written as names (pickle's GLOBAL opcode) without importing torch:
``_TorchName`` is a stand-in that pickles as the name it carries.  NumPy arrays
are saved as tensors too, NumPy scalars as Python numbers.  A tensor that
appears twice (a tied weight) is one record, pickled once, as PyTorch does.

Loading: ``torch_pth._TensorUnpickler`` (the restricted unpickler) rebuilds the
object with a placeholder for each tensor, then each placeholder becomes a
``tn.Tensor`` on ``map_location``'s device.
"""
import io
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np

from .. import backend
from ..autograd import Size, Tensor
from ._atomic import atomic_write_bytes
from .. import dtypes
from .torch_pth import (_LEGACY_MAGIC, _TORCH_DTYPES, TorchFormatError, UnsafePickleError,
                        _TensorRecord, _TensorUnpickler, _TorchConstant, _UnsupportedTensor)

__all__ = ["save", "load"]

#: NumPy dtype -> the typed storage class torch pickles for it
_STORAGE_CLASSES = {
    "float32": "FloatStorage", "float64": "DoubleStorage", "float16": "HalfStorage",
    "int64": "LongStorage", "int32": "IntStorage", "int16": "ShortStorage",
    "int8": "CharStorage", "uint8": "ByteStorage", "bool": "BoolStorage",
}
_RECORD_FOLDER = "archive"         # what torch.save names the folder inside the zip
_PROTOCOL = 2                      # torch.save's default pickle protocol


class _TorchName:
    """A torch global (``torch.FloatStorage``, ``torch._utils._rebuild_tensor_v2``) written
    into the pickle by name; nothing here is ever called."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):          # pickle's save_reduce asks for a callable
        raise TypeError(f"{self.module}.{self.name} is only a name in a pickle")


class _Storage:
    """One tensor's elements, to be written as record ``key`` of the zip."""

    def __init__(self, key, array):
        self.key, self.array = key, array


class _CheckpointPickler(pickle._Pickler):
    """A pickler (the pure-Python one, whose ``save`` can be extended) that writes tensors
    as PyTorch does: a rebuild call on a storage record each."""

    def __init__(self, file):
        super().__init__(file, protocol=_PROTOCOL)
        self.storages = []          # _Storage records, in key order

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            storage_class = _TorchName("torch", _STORAGE_CLASSES[obj.array.dtype.name])
            return ("storage", storage_class, obj.key, "cpu", int(obj.array.size))
        return None

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _TorchName):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("ascii"))
        elif isinstance(obj, (Tensor, np.ndarray)):
            if id(obj) in self.memo:                     # met before: the same tensor again
                self.write(self.get(self.memo[id(obj)][0]))
                return
            self.save_reduce(_TorchName("torch._utils", "_rebuild_tensor_v2"),
                             self._tensor_arguments(obj), obj=obj)
        elif isinstance(obj, np.generic):
            super().save(obj.item(), save_persistent_id)
        elif isinstance(obj, tuple) and type(obj) is not tuple:    # tinynet's Size
            super().save(tuple(obj), save_persistent_id)
        else:
            super().save(obj, save_persistent_id)

    def _tensor_arguments(self, obj):
        """(storage, 0, size, stride, False, OrderedDict()): _rebuild_tensor_v2's arguments,
        for a new storage record holding the tensor's elements (C order, little-endian)."""
        array = backend.to_numpy(obj.data if isinstance(obj, Tensor) else obj)
        array = np.asarray(array, order="C").astype(array.dtype.newbyteorder("<"), copy=False)
        storage = _Storage(str(len(self.storages)), array)
        self.storages.append(storage)
        stride = tuple(int(np.prod(array.shape[i + 1:], dtype=np.int64))
                       for i in range(array.ndim))
        return (storage, 0, tuple(array.shape), stride, False, OrderedDict())


def _check_saveable(obj, path="the object"):
    """Raise a TypeError naming the first entry that ``torch.load(weights_only=True)`` would
    refuse (and that tinynet's load refuses too)."""
    if isinstance(obj, (Tensor, np.ndarray)):
        dtype = obj.dtype
        if np.dtype(dtype).name not in _STORAGE_CLASSES:
            raise TypeError(f"save: {path} is a tensor of dtype {dtype}, which has no PyTorch "
                            f"storage type; save one of {', '.join(_STORAGE_CLASSES)}")
        return
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)) or \
            (isinstance(obj, np.generic) and obj.dtype.kind in "biuf"):
        return
    if type(obj) in (dict, OrderedDict):
        for key, value in obj.items():
            if not (key is None or isinstance(key, (bool, int, float, str, tuple))):
                raise TypeError(f"save: {path} has a key of type {type(key).__name__}; keys "
                                "must be numbers, strings or tuples")
            _check_saveable(value, f"{path}[{key!r}]")
        return
    if type(obj) in (list, tuple, set, frozenset) or isinstance(obj, Size):
        for i, value in enumerate(obj):
            _check_saveable(value, f"{path}[{i}]")
        return
    raise TypeError(
        f"save: {path} is a {type(obj).__module__}.{type(obj).__qualname__}: tinynet saves "
        "what torch.load(weights_only=True) reads, tensors, numbers, strings, None and plain "
        "lists/tuples/dicts of them; save module.state_dict() rather than the module, "
        "vars(args) rather than args")


def _zip_bytes(obj):
    """The whole file: a zip of data.pkl, the storage records, byteorder and version."""
    _check_saveable(obj)
    pickled = io.BytesIO()
    pickler = _CheckpointPickler(pickled)
    pickler.dump(obj)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{_RECORD_FOLDER}/data.pkl", pickled.getvalue())
        archive.writestr(f"{_RECORD_FOLDER}/byteorder", "little")
        for storage in pickler.storages:
            archive.writestr(f"{_RECORD_FOLDER}/data/{storage.key}", storage.array.tobytes())
        archive.writestr(f"{_RECORD_FOLDER}/version", "3\n")
    return out.getvalue()


def save(obj, f, pickle_module=None, pickle_protocol=_PROTOCOL, **unused):
    """Save ``obj`` (a state dict, a checkpoint dict, ...) to ``f``, like ``torch.save``
    (its other keywords, such as ``_use_new_zipfile_serialization``, are accepted and ignored:
    the zip format is the only one written).

    ``f`` is a path (written atomically: a crash leaves the old file or the new one,
    never half of one) or a writable binary file object.  The file is PyTorch's zip
    format: ``torch.load`` reads it, and ``tn.load`` reads PyTorch's.  A TypeError names
    anything that is not a tensor, number, string, None or list/tuple/dict of them.
    """
    if pickle_module is not None and pickle_module is not pickle:
        raise ValueError("save: only the standard pickle module is supported")
    if pickle_protocol != _PROTOCOL:
        raise ValueError(f"save: only pickle_protocol={_PROTOCOL} (torch.save's default) is "
                         f"supported, got {pickle_protocol}")
    data = _zip_bytes(obj)
    if hasattr(f, "write"):
        f.write(data)
        return
    atomic_write_bytes(os.fspath(f), data)


def _device(map_location):
    """The device ``map_location`` names: None, "cpu" or a function (the old idiom
    ``lambda storage, location: storage``, which keeps tensors where they are read) is the CPU;
    "cuda", "cuda:0", "gpu" or a tn.device the GPU; a dict {saved: wanted} its one target."""
    if map_location is None or callable(map_location) and not isinstance(map_location, type):
        return "cpu"
    if isinstance(map_location, dict):
        targets = {str(v) for v in map_location.values()}
        if len(targets) != 1:
            raise ValueError(f"load: map_location {map_location!r} maps to several devices; "
                             "tinynet loads everything onto one")
        map_location = targets.pop()
    name = str(map_location)
    if name == "cpu" or name.startswith("cpu:"):
        return "cpu"
    if name in ("gpu", "cuda") or name.startswith(("cuda:", "gpu:")):
        return "gpu"
    raise ValueError(f"load: map_location {map_location!r} is not a device tinynet has; give "
                     "'cpu' or 'cuda'")


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None,
         **pickle_load_args):
    """Load what ``save`` or ``torch.save`` wrote, like ``torch.load``: the saved object with
    every tensor a ``tn.Tensor`` on ``map_location``'s device (default the CPU).

    Only what ``torch.load(weights_only=True)`` reads is loaded, whatever ``weights_only``
    says: a file that pickles a module or another Python object raises
    ``UnsafePickleError`` naming it (its unpickling could run any code).  The legacy
    pre-1.6 format and TorchScript archives are refused with how to convert them.
    """
    device = _device(map_location)
    where = os.fspath(f) if not hasattr(f, "read") else str(getattr(f, "name", "<file object>"))
    if not hasattr(f, "read"):
        if not os.path.exists(where):
            raise FileNotFoundError(f"load: no such file: {where}")
        with open(where, "rb") as stream:
            return _load_stream(stream, where, device)
    return _load_stream(f, where, device)


def _load_stream(stream, where, device):
    start = stream.tell()
    if stream.read(len(_LEGACY_MAGIC)) == _LEGACY_MAGIC:
        raise TorchFormatError(f"load: {where} uses PyTorch's legacy (pre-1.6) format, which "
                               "tinynet does not read; in PyTorch, torch.save(torch.load(path), "
                               "new_path) writes it again in the zip format")
    stream.seek(start)
    if not zipfile.is_zipfile(stream):
        raise TorchFormatError(f"load: {where} is not a PyTorch checkpoint (not a zip archive)")
    stream.seek(start)
    try:
        with zipfile.ZipFile(stream) as archive:
            unpickler = _TensorUnpickler(archive, where)
            return _with_tensors(unpickler.load_state(), unpickler, device, "", {})
    except (TorchFormatError, UnsafePickleError) as exc:
        # the restricted unpickler is shared with load_torchvision: name this function
        raise type(exc)(str(exc).replace("load_torchvision:", "load:", 1)) from None


def _with_tensors(obj, unpickler, device, path, done):
    """``obj`` with every tensor record made a Tensor (a record met twice, one Tensor)."""
    if isinstance(obj, _TensorRecord):
        if id(obj) not in done:
            array = unpickler.copy_out(path or "the object itself", obj)
            done[id(obj)] = Tensor._from_array(backend.to_device(array, device))
        return done[id(obj)]
    if isinstance(obj, _TorchConstant):           # torch.float32 & co: tinynet's dtype
        if obj.name not in _TORCH_DTYPES or not hasattr(dtypes, obj.name):
            raise TorchFormatError(f"load: {unpickler.path}: {path or 'the object'} is "
                                   f"torch.{obj.name}, which tinynet has no equivalent of")
        return getattr(dtypes, obj.name)
    if isinstance(obj, _UnsupportedTensor):
        raise TorchFormatError(f"load: {unpickler.path}: {path or 'the object'} is a tensor "
                               f"tinynet cannot hold ({obj.description})")
    if isinstance(obj, dict):
        items = [(k, _with_tensors(v, unpickler, device, f"{path}[{k!r}]", done))
                 for k, v in obj.items()]
        return type(obj)(items) if isinstance(obj, OrderedDict) else dict(items)
    if isinstance(obj, (list, tuple, set, frozenset)):
        values = [_with_tensors(v, unpickler, device, f"{path}[{i}]", done)
                  for i, v in enumerate(obj)]
        return values if isinstance(obj, list) else type(obj)(values)
    return obj
