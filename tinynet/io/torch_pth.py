"""Read PyTorch ``.pth`` state dicts (torchvision weights) without importing torch.

``torch.save(model.state_dict(), "model.pth")`` (torch >= 1.6) writes a zip::

    <name>/data.pkl        a pickle of the OrderedDict {key: tensor}
    <name>/data/<k>        the raw bytes of storage k (little-endian, C order)
    <name>/byteorder       "little" (absent in older files: then little)
    <name>/version, ...

``<name>`` is usually the file's stem or "archive"; we find ``data.pkl`` by suffix.
In the pickle each tensor is a call ``torch._utils._rebuild_tensor_v2(storage,
storage_offset, size, stride, requires_grad, backward_hooks)`` whose storage is
a *persistent id* ``("storage", torch.FloatStorage, "<k>", "cpu", numel)``.

A pickle can call any importable function (``os.system`` included), so loading
a downloaded ``.pth`` with plain ``pickle`` runs whatever its author wanted.  Our
``_TensorUnpickler`` resolves only the handful of names a state dict needs, to
our own harmless stand-ins, and refuses every other global with
``UnsafePickleError`` before anything is called.

Tensors are rebuilt with NumPy, in two stages.  While unpickling, a rebuild
call only records where the tensor lies (storage, offset, size, stride); once
the whole dict is read and every tensor's key is known, each record is copied
out: the storage bytes become a 1-D array, then ``as_strided(storage[offset:],
size, stride)`` (after checking the view stays inside the storage) and a copy
gives a contiguous array.  Deferring the copy lets every error name the entry.
Several tensors may share one storage (views, tied weights); each result is an
independent copy.

A view can repeat elements (``torch.zeros(1).expand(10**6, 10**6)`` is saved as
4 bytes of storage and stride 0), so the copy can be far larger than the file;
a view whose copy would exceed its storage by more than ``MAX_EXPANSION_BYTES``
is refused instead of exhausting memory.
"""
import io
import math
import os
import pickle
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

__all__ = ["load_torchvision", "UnsafePickleError", "TorchFormatError"]


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references a global that a tensor state dict never needs."""


class TorchFormatError(ValueError):
    """The file is not a PyTorch zip state dict we can read, or it is corrupt."""


# Storage classes (pickled as globals) -> element dtype.  They are only markers:
# nothing is ever constructed from them.
_STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}
# torch dtypes (pickled as globals torch.<name>), used by _rebuild_tensor_v3 with an
# untyped (byte) storage, e.g. for uint16 tensors that have no typed storage class.
_TORCH_DTYPES = {
    "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8",
    "uint8", "uint16", "uint32", "uint64", "bool", "complex64", "complex128",
}
# Dtypes torch can save but NumPy cannot hold (8- and 4-bit floats, complex32,
# quantized, sub-byte and raw-bit types).  They are recognized, so that a clean
# file holding one gets "unsupported dtype" naming the entry, not the "may be
# malicious" of an unknown global; nothing is ever rebuilt from them.
_UNSUPPORTED_DTYPES = {
    "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu",
    "float4_e2m1fn_x2", "complex32", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
    "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16",
    *(f"int{bits}" for bits in range(1, 8)), *(f"uint{bits}" for bits in range(1, 8)),
}
# The typed storages of quantized tensors, and the quantization schemes and sparse
# layouts (torch.<name> constants) found among the arguments of unsupported tensors.
_QUANTIZED_STORAGES = {"QInt8Storage": "qint8", "QUInt8Storage": "quint8",
                       "QInt32Storage": "qint32", "QUInt4x2Storage": "quint4x2",
                       "QUInt2x4Storage": "quint2x4"}
_OTHER_CONSTANTS = {
    "per_tensor_affine", "per_channel_affine", "per_channel_affine_float_qparams",
    "per_tensor_symmetric", "per_channel_symmetric",
    "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc",
}
_SUPPORTED = ("float16/32/64, bfloat16, int8/16/32/64, uint8/16/32/64, bool, "
              "complex64/128")
# bfloat16 has no NumPy dtype: read the raw 16-bit patterns, widen later.
_READ_AS = {"bfloat16": "uint16"}

# Wrappers around a state dict in training checkpoints, tried in this order.
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")

_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"  # pickled 0x1950a86a20f9469cfc6c

#: How many bytes a view that repeats elements (stride 0, overlapping strides) may
#: add beyond its storage when it is copied out.  Real checkpoints hold plain
#: tensors (their copy is never larger than the storage); an expanded bias or mask
#: is a few MiB.  More than this is a crafted or broken file.
MAX_EXPANSION_BYTES = 256 * 2 ** 20


def load_torchvision(path):
    """Load a PyTorch ``.pth``/``.pt`` state dict as an OrderedDict of NumPy arrays.

    Keys are the original ones (``"layer1.0.conv1.weight"``); BatchNorm's
    ``num_batches_tracked`` is included as a 0-d int64 array (drop it if unused).
    Float tensors keep their dtype, except bfloat16 which becomes float32.

    Torchvision files hold the bare state dict.  A training checkpoint that wraps
    it (``{"epoch": 3, "state_dict": {...}}``; also keys ``"model"`` and
    ``"model_state_dict"``) is unwrapped.  Pickled modules, optimizers or other
    Python objects are refused (``UnsafePickleError``): only tensors, dicts,
    lists and plain values can be in the file.

    Only the zip format of torch >= 1.6 is read; the legacy format raises
    ``TorchFormatError`` telling how to re-save the file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_torchvision: no such file: {path}")
    if not zipfile.is_zipfile(path):
        raise TorchFormatError(_not_zip_message(path))
    try:
        with zipfile.ZipFile(path) as archive:
            unpickler = _TensorUnpickler(archive, path)
            records = _as_state_dict(unpickler.load_state(), path)
            return OrderedDict((key, unpickler.copy_out(key, record))
                               for key, record in records.items())
    except (zipfile.BadZipFile, zlib.error) as exc:
        raise TorchFormatError(f"load_torchvision: {path} is a corrupt zip file ({exc})") from exc


# -- the restricted unpickler ----------------------------------------------------

class _StorageType:
    """Stands in for torch.FloatStorage & co: just remembers the element dtype."""

    def __init__(self, qualified_name, dtype):
        self.qualified_name = qualified_name
        self.dtype = dtype  # None for UntypedStorage (bytes; dtype comes from v3)


class _TorchConstant:
    """Stands in for a torch constant: a dtype (torch.float32), a layout, a qscheme."""

    def __init__(self, name):
        self.name = name


class _UnsupportedTensor:
    """Stands in for a tensor torch can save but tinynet cannot hold (float8, quantized,
    sparse, meta): loading stops at it with an error naming its entry and ``description``."""

    def __init__(self, description):
        self.description = description  # "dtype torch.float8_e4m3fn", "layout torch.sparse_coo"


def _constant_name(value):
    return f"torch.{value.name}" if isinstance(value, _TorchConstant) else "?"


# torch._utils rebuild functions of tensors we cannot hold; they see the pickled
# arguments only to name the dtype or layout in the error.
def _rebuild_qtensor(storage, *unused):
    """torch._utils._rebuild_qtensor(storage, offset, size, stride, quantizer_params, ...)."""
    dtype = storage.storage_type.dtype if isinstance(storage, _StorageRef) else "?"
    return _UnsupportedTensor(f"quantized dtype torch.{dtype}")


def _rebuild_sparse_tensor(layout, *unused):
    """torch._utils._rebuild_sparse_tensor(layout, data)."""
    return _UnsupportedTensor(f"layout {_constant_name(layout)} (a sparse tensor)")


def _rebuild_nested_tensor(*unused):
    """torch._utils._rebuild_nested_tensor(buffer, sizes, strides, storage_offsets)."""
    return _UnsupportedTensor("nested-tensor layout")


def _rebuild_meta_tensor_no_storage(dtype, *unused):
    """torch._utils._rebuild_meta_tensor_no_storage(dtype, size, stride, requires_grad)."""
    return _UnsupportedTensor(f"device 'meta' (a {_constant_name(dtype)} tensor without data)")


_UNSUPPORTED_REBUILDS = {f.__name__: f for f in (
    _rebuild_qtensor, _rebuild_sparse_tensor, _rebuild_nested_tensor,
    _rebuild_meta_tensor_no_storage)}


def _get_layout(name):
    """torch.serialization._get_layout("torch.sparse_coo"): the layout by its name."""
    return _TorchConstant(str(name).rpartition(".")[2])


class _StorageRef:
    """What a persistent id resolves to: which zip record, its type and its length."""

    def __init__(self, key, storage_type, numel):
        self.key, self.storage_type, self.numel = key, storage_type, numel


class _TensorRecord:
    """What a rebuild call returns: where a tensor's elements lie, not yet copied out.

    ``dtype`` is the torch dtype name; ``offset``, ``size`` and ``stride`` count
    elements, exactly as pickled (checked only when the tensor is copied out).
    """

    def __init__(self, storage, dtype, offset, size, stride):
        self.storage, self.dtype = storage, dtype
        self.offset, self.size, self.stride = offset, size, stride


class _TensorUnpickler(pickle.Unpickler):
    """An Unpickler that can only rebuild tensors (as records, see ``copy_out``) and dicts."""

    def __init__(self, archive, path):
        self.archive, self.path = archive, path
        self.prefix = _record_prefix(archive, path)
        self.byteorder = _byteorder(archive, self.prefix, path)
        self._storages = {}  # (key, dtype) -> 1-D array: shared storages are read once
        super().__init__(io.BytesIO(archive.read(self.prefix + "data.pkl")))

    def load_state(self):
        try:
            return self.load()
        except (UnsafePickleError, TorchFormatError):
            raise
        except (pickle.UnpicklingError, TypeError, ValueError, AttributeError, IndexError,
                KeyError, EOFError) as exc:
            raise TorchFormatError(
                f"load_torchvision: cannot unpickle {self.path} ({self.prefix}data.pkl): "
                f"{type(exc).__name__}: {exc}") from exc

    def find_class(self, module, name):
        allowed = self._allowed_global(module, name)
        if allowed is None:
            raise UnsafePickleError(
                f"refusing to load {module}.{name} from {self.path}: only tensor data is "
                "allowed (a state dict of tensors); the file may be malicious, or it pickles "
                "a whole model/object instead of model.state_dict()")
        return allowed

    def _allowed_global(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils":
            return {"_rebuild_tensor_v2": self._rebuild_tensor_v2,
                    "_rebuild_tensor_v3": self._rebuild_tensor_v3,
                    "_rebuild_parameter": _rebuild_parameter,
                    "_rebuild_parameter_with_state": _rebuild_parameter,
                    **_UNSUPPORTED_REBUILDS}.get(name)
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(f"torch.{name}", _STORAGE_DTYPES[name])
        if module == "torch" and name in _QUANTIZED_STORAGES:
            return _StorageType(f"torch.{name}", _QUANTIZED_STORAGES[name])
        if module in ("torch", "torch.storage") and name == "UntypedStorage":
            return _StorageType(f"{module}.{name}", None)
        if module == "torch" and name in _TORCH_DTYPES | _UNSUPPORTED_DTYPES | _OTHER_CONSTANTS:
            return _TorchConstant(name)
        if (module, name) == ("torch.serialization", "_get_layout"):
            return _get_layout
        if (module, name) == ("torch", "Size"):
            return tuple  # torch.Size((2, 3)) is a tuple subclass
        if (module, name) == ("torch", "device"):
            return _device_name  # torch.device("cuda", 0): kept as its name, "cuda:0"
        if module in ("builtins", "__builtin__") and name in ("set", "frozenset"):
            return {"set": set, "frozenset": frozenset}[name]
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes  # how protocol 2 pickles bytes
        return None

    def persistent_load(self, pid):
        # ("storage", storage_type, key, location, numel); location ("cpu",
        # "cuda:0") does not matter: the bytes are the same.
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and isinstance(pid[4], int) and not isinstance(pid[4], bool) and pid[4] >= 0):
            raise TorchFormatError(
                f"load_torchvision: {self.path}: unexpected persistent id {pid!r} "
                "(expected ('storage', <storage type>, key, location, numel))")
        return _StorageRef(pid[2], pid[1], pid[4])

    # torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
    #                                 requires_grad, backward_hooks, metadata=None)
    def _rebuild_tensor_v2(self, storage, offset, size, stride, *unused):
        _expect_storage(storage, self.path)
        dtype = storage.storage_type.dtype
        if dtype is None:
            raise TorchFormatError(f"load_torchvision: {self.path}: an untyped storage "
                                   "needs _rebuild_tensor_v3, which names the dtype")
        return _record_or_unsupported(storage, dtype, offset, size, stride)

    # torch._utils._rebuild_tensor_v3(storage, storage_offset, size, stride,
    #                                 requires_grad, backward_hooks, dtype, metadata=None)
    def _rebuild_tensor_v3(self, storage, offset, size, stride, requires_grad, hooks, dtype,
                           *unused):
        _expect_storage(storage, self.path)
        if not (isinstance(dtype, _TorchConstant)
                and dtype.name in _TORCH_DTYPES | _UNSUPPORTED_DTYPES):
            raise TorchFormatError(f"load_torchvision: {self.path}: _rebuild_tensor_v3 got "
                                   f"{_constant_name(dtype)} where a torch dtype belongs")
        return _record_or_unsupported(storage, dtype.name, offset, size, stride)

    def copy_out(self, key, record):
        """The tensor ``record`` of entry ``key`` as a new C-contiguous, writable array."""
        storage, dtype = record.storage, record.dtype
        where = f"{self.path}: entry {key!r} (storage {storage.key!r})"
        flat = self._storage_array(storage, dtype, where)
        view = _strided_view(flat, record.offset, record.size, record.stride, where)
        native = np.dtype(_READ_AS.get(dtype, dtype))  # native byte order
        out_itemsize = 4 if dtype == "bfloat16" else native.itemsize
        _refuse_large_expansion(view, flat, out_itemsize, where)
        array = np.array(view, dtype=native, order="C", copy=True)
        if dtype == "bfloat16":
            # bfloat16 is the top half of a float32: shift the bits into place.
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array

    def _storage_array(self, storage, dtype, where):
        """The storage's bytes as a 1-D array of ``dtype`` in the file's byte order."""
        cache_key = (storage.key, dtype)
        if cache_key not in self._storages:
            record = self.prefix + "data/" + storage.key
            try:
                raw = self.archive.read(record)
            except KeyError:
                raise TorchFormatError(f"load_torchvision: {where}: the file is missing the "
                                       f"storage record {record!r}") from None
            element = np.dtype(_READ_AS.get(dtype, dtype)).newbyteorder(self.byteorder)
            # Typed storages count elements; untyped ones count bytes.
            n_bytes = storage.numel * (element.itemsize if storage.storage_type.dtype else 1)
            if len(raw) < n_bytes:
                raise TorchFormatError(
                    f"load_torchvision: {where}: storage record {record!r} has {len(raw)} "
                    f"bytes but the pickle declares {n_bytes}")
            count = n_bytes // element.itemsize
            self._storages[cache_key] = np.frombuffer(raw, dtype=element, count=count)
        return self._storages[cache_key]


def _record_or_unsupported(storage, dtype, offset, size, stride):
    if dtype in _UNSUPPORTED_DTYPES:
        return _UnsupportedTensor(f"dtype torch.{dtype}")
    return _TensorRecord(storage, dtype, offset, size, stride)


def _device_name(kind, index=None):
    """torch.device(kind[, index]) as the name PyTorch prints: "cpu", "cuda:0"."""
    return str(kind) if index is None else f"{kind}:{index}"


def _latin1_bytes(text, encoding):
    """_codecs.encode(text, "latin1"): pickle protocol 2's way to write a bytes object."""
    if encoding != "latin1":
        raise UnsafePickleError(f"refusing _codecs.encode with encoding {encoding!r}: pickles of "
                                "bytes use 'latin1'")
    return text.encode("latin1")


def _rebuild_parameter(data, *unused):
    """torch._utils._rebuild_parameter(data, requires_grad, hooks): a Parameter is its data."""
    return data


def _expect_storage(storage, path):
    if not isinstance(storage, _StorageRef):
        raise TorchFormatError(f"load_torchvision: {path}: a tensor was rebuilt from "
                               f"{type(storage).__name__}, not from a storage record")


def _strided_view(flat, offset, size, stride, where):
    """``flat[offset:]`` viewed with shape ``size`` and element strides ``stride``.

    as_strided trusts its arguments blindly, so a crafted file could make it read
    outside the buffer; we check first that every element lies inside ``flat``.
    """
    well_formed = (isinstance(size, tuple) and isinstance(stride, tuple)
                   and len(size) == len(stride)
                   and all(isinstance(v, int) and not isinstance(v, bool)
                           for v in (offset, *size, *stride)))
    if not well_formed:
        raise TorchFormatError(f"load_torchvision: {where}: bad tensor geometry "
                               f"offset={offset!r} size={size!r} stride={stride!r}")
    if offset < 0 or any(v < 0 for v in size) or any(v < 0 for v in stride):
        raise TorchFormatError(f"load_torchvision: {where}: negative offset, size or stride "
                               f"(offset={offset}, size={size}, stride={stride})")
    if offset > flat.size:
        raise TorchFormatError(f"load_torchvision: {where}: storage offset {offset} is beyond "
                               f"the end of the storage ({flat.size} elements)")
    if 0 in size:
        return _numpy_call(np.empty, where, size, dtype=flat.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= flat.size:
        raise TorchFormatError(
            f"load_torchvision: {where}: tensor of size {size} with stride {stride} at offset "
            f"{offset} reads element {last}, but the storage has only {flat.size}")
    return _numpy_call(np.lib.stride_tricks.as_strided, where, flat[offset:], shape=size,
                       strides=[s * flat.itemsize for s in stride], writeable=False)


def _refuse_large_expansion(view, flat, out_itemsize, where):
    """Raise if copying ``view`` out would add more than MAX_EXPANSION_BYTES to its storage.

    A view that reads each storage element at most once is never larger than
    the storage; only repeated elements (stride 0, overlapping strides) make
    the copy grow, by (view.size - flat.size) elements of ``out_itemsize`` bytes.
    """
    extra_bytes = (view.size - flat.size) * out_itemsize
    if extra_bytes > MAX_EXPANSION_BYTES:
        total = view.size * out_itemsize
        raise TorchFormatError(
            f"load_torchvision: {where}: shape {view.shape} with strides (in elements) "
            f"{tuple(s // flat.itemsize for s in view.strides)} is a view that repeats "
            f"elements of its {flat.nbytes}-byte storage; copying it out would take {total} "
            f"bytes ({_human_bytes(total)}), more than {_human_bytes(MAX_EXPANSION_BYTES)} "
            "beyond the storage, so it is refused (if the tensor is real, save "
            "tensor.contiguous() in PyTorch)")


def _numpy_call(function, where, *args, **kwargs):
    """``function(*args, **kwargs)``, with NumPy's "too big" ValueError naming the entry."""
    try:
        return function(*args, **kwargs)
    except ValueError as exc:
        raise TorchFormatError(f"load_torchvision: {where}: {exc}") from exc


def _human_bytes(n):
    """1536 -> '1.5 KiB'."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


# -- zip layout ----------------------------------------------------------------

def _record_prefix(archive, path):
    """The folder inside the zip holding data.pkl ("archive/", "resnet18-f37072fd/", ...)."""
    names = archive.namelist()
    if any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names):
        raise TorchFormatError(
            f"load_torchvision: {path} is a TorchScript archive (torch.jit.save), not a state "
            "dict; in PyTorch, save torch.jit.load(path).state_dict() with torch.save instead")
    pickles = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
    if len(pickles) != 1:
        raise TorchFormatError(
            f"load_torchvision: {path} is a zip file but not a PyTorch checkpoint: expected one "
            f"'<folder>/data.pkl' record, found {len(pickles)}")
    return pickles[0][:-len("data.pkl")]


def _byteorder(archive, prefix, path):
    """'<' or '>' from the byteorder record; files written before it existed are little-endian."""
    try:
        order = archive.read(prefix + "byteorder").decode("ascii", "replace").strip()
    except KeyError:
        return "<"
    if order not in ("little", "big"):
        raise TorchFormatError(f"load_torchvision: {path}: unknown byteorder record {order!r}")
    return "<" if order == "little" else ">"


def _not_zip_message(path):
    with open(path, "rb") as f:
        head = f.read(len(_LEGACY_MAGIC))
    if head == _LEGACY_MAGIC:
        return (f"load_torchvision: {path} uses PyTorch's legacy (pre-1.6) serialization "
                "format, which tinynet does not read; re-save it with torch>=1.6: "
                "torch.save(torch.load(path), new_path)")
    return f"load_torchvision: {path} is not a PyTorch .pth file (not a zip archive)"


# -- picking the state dict out of what was pickled -----------------------------

def _as_state_dict(obj, path):
    """The {key: tensor record} mapping in ``obj``, unwrapping a training-checkpoint dict.

    A tensor pickled under two keys (pickle memo) is one record; each key still
    gets its own copy, since ``copy_out`` makes a new array per call.
    """
    if not isinstance(obj, dict):
        raise TorchFormatError(f"load_torchvision: {path} holds a {type(obj).__name__}, "
                               "not a state dict")
    if not all(isinstance(v, _TensorRecord) for v in obj.values()):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), dict):
                return _as_state_dict(obj[key], path)
        bad = next(k for k, v in obj.items() if not isinstance(v, _TensorRecord))
        if isinstance(obj[bad], _UnsupportedTensor):
            raise TorchFormatError(
                f"load_torchvision: {path}: entry {bad!r} has unsupported "
                f"{obj[bad].description}; tinynet reads dense tensors of dtype {_SUPPORTED}; "
                "convert it in PyTorch before saving (e.g. .float(), .dequantize(), "
                ".to_dense())")
        raise TorchFormatError(
            f"load_torchvision: {path}: entry {bad!r} holds a value of type "
            f"{type(obj[bad]).__name__}, not a tensor, and no "
            f"{'/'.join(_WRAPPER_KEYS)} entry holds a state dict")
    return OrderedDict((str(key), record) for key, record in obj.items())
