"""Read and write the safetensors format (Hugging Face) with NumPy alone.

Layout of a ``.safetensors`` file::

    8 bytes      N, the header length, unsigned little-endian
    N bytes      UTF-8 JSON: {"name": {"dtype": "F32", "shape": [64, 3, 7, 7],
                                       "data_offsets": [begin, end]}, ...,
                              "__metadata__": {"str": "str"}}   (optional)
    the rest     the byte buffer; tensor bytes are buffer[begin:end], little-endian,
                 C order

The tensors' byte ranges must tile the buffer exactly: sorted by ``begin``,
each starts where the previous one ends, the first at 0 and the last at the end
of the file.  So no two tensors share bytes and no byte belongs to none.

There is no code in the file, so loading is safe by construction; we still
validate every offset and size (and that the ranges tile the buffer, with no
tensor name given twice), because a truncated or crafted file must give a clear
error naming the tensor, not garbage, aliased tensors or a crash.
"""
import json
import math
import os
import struct
from collections import OrderedDict

import numpy as np

from ._arrays import to_host_array
from ._atomic import atomic_write

__all__ = ["load_safetensors", "save_safetensors", "SafetensorsError"]

# safetensors dtype name -> NumPy dtype (little-endian). BF16 has no NumPy dtype:
# it is read as uint16 and widened to float32 (bf16 = the top 16 bits of an f32).
_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?",
}
_NAMES = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items() if k != "BF16"}
#: The largest JSON header we read: even models with tens of thousands of tensors
#: have headers of a few MiB, so a larger length field means a corrupt file.
MAX_HEADER_BYTES = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    """The file is not valid safetensors (bad header, offsets, sizes or dtype)."""


def load_safetensors(path, return_metadata=False):
    """Load a ``.safetensors`` file as an OrderedDict {name: numpy array} in header order.

    BF16 tensors come back as float32 (exactly: the conversion is a bit shift).
    With ``return_metadata=True`` returns ``(arrays, metadata)``, metadata being
    the header's ``"__metadata__"`` dict (or {}).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_safetensors: no such file: {path}")
    file_size = os.path.getsize(path)
    with open(path, "rb") as f:
        header, metadata, data_start = _read_header(f, file_size, path)
        entries = OrderedDict((name, _check_entry(name, info, file_size - data_start, path))
                              for name, info in header.items())
        _check_tiling(entries, file_size - data_start, path)
        arrays = OrderedDict()
        for name, (dtype, shape, begin, end) in entries.items():
            f.seek(data_start + begin)
            data = _read_exact(f, end - begin, name, path)
            arrays[name] = _decode(data, dtype, shape, f"load_safetensors: {path}: tensor {name!r}")
    return (arrays, metadata) if return_metadata else arrays


def save_safetensors(path, arrays, metadata=None):
    """Atomically write {name: array} to ``path`` in safetensors format.

    ``metadata`` must be a dict of str -> str (the format allows nothing else).
    Arrays may be NumPy, CuPy or tinynet Tensors; dtypes as in the table above
    except BF16, which NumPy cannot hold.  Returns the path written.
    """
    header, blobs, offset = OrderedDict(), [], 0
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("save_safetensors: metadata must be a dict of str -> str")
        header["__metadata__"] = metadata
    for name, value in arrays.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"save_safetensors: invalid tensor name {name!r}")
        array = to_host_array(value, f"save_safetensors: {name!r}")
        kind = _NAMES.get(array.dtype.newbyteorder("="))
        if kind is None:
            raise TypeError(f"save_safetensors: {name!r} has dtype {array.dtype}, which "
                            f"safetensors cannot store (supported: {sorted(_NAMES.values())})")
        blob = np.ascontiguousarray(array, dtype=_DTYPES[kind]).tobytes()
        header[name] = {"dtype": kind, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad with spaces so the buffer starts 8-byte aligned

    def write(f):
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)

    return atomic_write(path, write)


# -- reading helpers -------------------------------------------------------------

def _header_length(f, file_size, path):
    raw = f.read(8)
    if len(raw) < 8:
        raise SafetensorsError(f"load_safetensors: {path} is too short ({file_size} bytes) "
                               "to hold the 8-byte header length")
    (n,) = struct.unpack("<Q", raw)
    if n > file_size - 8:
        raise SafetensorsError(f"load_safetensors: {path}: header length {n} exceeds the "
                               f"file ({file_size} bytes); the file is truncated or not "
                               "safetensors")
    if n > MAX_HEADER_BYTES:
        raise SafetensorsError(f"load_safetensors: {path}: header length {n} is over the "
                               f"{MAX_HEADER_BYTES}-byte limit; the file is corrupt or not "
                               "safetensors")
    return n


def _read_header(f, file_size, path):
    """Parse the JSON header; return (tensor entries, metadata, offset of the buffer)."""
    n = _header_length(f, file_size, path)
    try:
        header = json.loads(f.read(n).decode("utf-8"), object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise SafetensorsError(f"load_safetensors: {path}: the header names {exc.args[0]!r} "
                               "twice") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise SafetensorsError(f"load_safetensors: {path}: the header is not valid UTF-8 "
                               f"JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise SafetensorsError(f"load_safetensors: {path}: the header is a "
                               f"{type(header).__name__}, not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError(f"load_safetensors: {path}: __metadata__ must be an object "
                               f"of strings, got {metadata!r}")
    return header, metadata, 8 + n


class _DuplicateKey(ValueError):
    """A JSON object of the header has the same key twice (json would keep the last)."""


def _unique_keys(pairs):
    """json object_pairs_hook: an OrderedDict, refusing a key given twice."""
    result = OrderedDict()
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _check_tiling(entries, buffer_size, path):
    """Raise unless the tensors' [begin, end) ranges tile ``[0, buffer_size)`` exactly.

    ``entries``: {name: (dtype, shape, begin, end)}.  Sorted by (begin, end) (so
    empty tensors sit before a tensor starting at the same offset), each range
    must start where the previous one ended.
    """
    where = f"load_safetensors: {path}"
    ranges = sorted((begin, end, name) for name, (_, _, begin, end) in entries.items())
    previous_end, previous = 0, None
    for begin, end, name in ranges:
        if begin < previous_end:
            raise SafetensorsError(f"{where}: tensors {previous!r} and {name!r} overlap "
                                   f"(bytes {begin} to {previous_end} of the data buffer)")
        if begin > previous_end:
            after = f"after tensor {previous!r}" if previous else "at the start"
            raise SafetensorsError(f"{where}: bytes {previous_end} to {begin} of the data "
                                   f"buffer ({after}, before {name!r}) belong to no tensor")
        previous_end, previous = end, name
    if previous_end != buffer_size:
        raise SafetensorsError(f"{where}: the data buffer has {buffer_size} bytes but the "
                               f"tensors end at byte {previous_end}; the file has trailing "
                               "bytes or is not safetensors")


def _check_entry(name, info, buffer_size, path):
    """Validate one header entry; return (dtype name, shape, begin, end)."""
    where = f"load_safetensors: {path}: tensor {name!r}"
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
        raise SafetensorsError(f"{where}: entry needs dtype, shape and data_offsets, got {info!r}")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype not in _DTYPES:
        raise SafetensorsError(f"{where}: unsupported dtype {dtype!r} "
                               f"(supported: {', '.join(_DTYPES)})")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise SafetensorsError(f"{where}: shape must be a list of non-negative ints, "
                               f"got {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))):
        raise SafetensorsError(f"{where}: data_offsets must be [begin, end], got {offsets!r}")
    begin, end = offsets
    if not begin <= end <= buffer_size:
        raise SafetensorsError(f"{where}: data_offsets [{begin}, {end}] fall outside the "
                               f"data buffer of {buffer_size} bytes")
    expected = math.prod(shape) * np.dtype(_DTYPES[dtype]).itemsize
    if end - begin != expected:
        raise SafetensorsError(f"{where}: shape {tuple(shape)} of {dtype} needs {expected} "
                               f"bytes but data_offsets [{begin}, {end}] span {end - begin}")
    return dtype, tuple(shape), begin, end


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _read_exact(f, n, name, path):
    data = f.read(n)
    if len(data) != n:  # the file shrank while we read it
        raise SafetensorsError(f"load_safetensors: {path}: tensor {name!r} is truncated")
    return data


def _decode(data, dtype, shape, where):
    """Bytes -> writable native-endian array of ``shape``."""
    array = np.frombuffer(data, dtype=_DTYPES[dtype]).reshape(shape)
    if dtype == "BF16":
        return (array.astype(np.uint32) << 16).view(np.float32)
    if dtype == "BOOL" and array.size and array.view(np.uint8).max() > 1:
        raise SafetensorsError(f"{where}: BOOL data holds bytes other than 0 and 1")
    return array.astype(array.dtype.newbyteorder("="), copy=True)
