"""Training checkpoints: model weights, optimizer state, epoch and metadata in one ``.npz``.

File layout (a plain ``numpy.savez`` archive, readable with ``np.load(path,
allow_pickle=False)``; nothing in it is pickled, so loading cannot run code)::

    model/conv1.weight          one entry per model state-dict array
    model/bn1.running_mean
    ...
    optim/state/0/exp_avg       one entry per array inside the optimizer state
    extra/<name>                arrays passed as keyword arguments
    __tinynet__                 uint8 array: UTF-8 JSON with the format version,
                                epoch, metadata, the order of the model keys and
                                the optimizer state with arrays replaced by
                                references to their entries

Saving is atomic (``tinynet.io.atomic_write``): a crash mid-save leaves the previous
checkpoint intact.  A model whose weights contain NaN or inf is refused by
default, because a diverged run must never overwrite the last good state.
"""
import json
import os
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from ._arrays import to_host_array
from ._atomic import atomic_write
from ._state_json import decode_state, encode_state

__all__ = ["save_checkpoint", "load_checkpoint", "load_checkpoint_metadata", "CheckpointError",
           "NonFiniteWeightsError", "HEADER_KEY", "read_npz"]

FORMAT_NAME = "tinynet-checkpoint"
FORMAT_VERSION = 1
HEADER_KEY = "__tinynet__"  # the npz entry holding the JSON header


class CheckpointError(ValueError):
    """A checkpoint file is missing pieces, corrupt, or not a tinynet checkpoint."""


class NonFiniteWeightsError(ValueError):
    """save_checkpoint refused a model with NaN/inf weights (see allow_nonfinite)."""


def save_checkpoint(path, model=None, optimizer=None, epoch=None, metadata=None, *,
                    allow_nonfinite=False, **extra_arrays):
    """Atomically write a checkpoint to ``path`` (an ``.npz`` archive).

    Parameters
    ----------
    model : object with ``state_dict()``, or a dict {name: array/Tensor}, or None
    optimizer : object with ``state_dict()``, or a (nested) dict, or None.  Arrays
        inside it are stored as npz entries; numbers, strings, lists, tuples and
        dicts (int keys included) go to JSON and come back unchanged.
    epoch : JSON value (usually an int) or None
    metadata : JSON-serializable value (dict of run settings, metrics, ...) or None
    allow_nonfinite : save even if a model weight contains NaN or inf
    **extra_arrays : further named arrays (e.g. ``ema_loss=np.array(...)``)

    Returns the path written.  Raises ``NonFiniteWeightsError`` naming the first
    bad model entry, before anything is written.
    """
    path = os.fspath(path)
    model_state = _state_dict_of(model, "model")
    model_arrays = OrderedDict(
        (key, to_host_array(value, f"save_checkpoint: model entry {key!r}"))
        for key, value in _check_keys(model_state, "model").items())
    if not allow_nonfinite:
        _refuse_nonfinite(model_arrays, path)

    optim_json, optim_arrays = None, {}
    optim_state = _state_dict_of(optimizer, "optimizer")
    if optim_state is not None:
        optim_json, optim_arrays = encode_state(optim_state, "optim/", "optimizer state")

    extra = {name: to_host_array(value, f"save_checkpoint: extra array {name!r}")
             for name, value in extra_arrays.items()}

    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "epoch": epoch,
        "metadata": metadata,
        "model_keys": list(model_arrays) if model is not None else None,
        "optimizer": optim_json,
        "extra_keys": list(extra),
    }
    entries = OrderedDict()
    entries.update(("model/" + key, value) for key, value in model_arrays.items())
    entries.update(optim_arrays)
    entries.update(("extra/" + name, value) for name, value in extra.items())
    entries[HEADER_KEY] = _json_bytes(header)

    # np.savez writes into the open temp file (a file object, so numpy does not
    # append ".npz" to the name).  Nothing gets pickled: to_host_array refused
    # object arrays.  (savez's own allow_pickle flag only exists in numpy >= 2.1.)
    return atomic_write(path, lambda f: np.savez(f, **entries))


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``.

    Returns a dict with keys
    ``"model"`` (OrderedDict name -> numpy array, in the saved order, or None),
    ``"optimizer"`` (the nested state dict, or None), ``"epoch"``, ``"metadata"``
    and ``"extra"`` (dict of the extra arrays).
    """
    path = os.fspath(path)
    arrays = read_npz(path, "load_checkpoint")
    header = _header_of(arrays, path, "load_checkpoint")
    try:
        model = None
        if header["model_keys"] is not None:
            model = OrderedDict((k, arrays["model/" + k]) for k in header["model_keys"])
        optimizer = decode_state(header["optimizer"], arrays)
        extra = {name: arrays["extra/" + name] for name in header["extra_keys"]}
    except KeyError as exc:
        raise CheckpointError(
            f"load_checkpoint: {path} is corrupt: the header lists entry {exc} "
            "but the archive does not contain it") from exc
    return {"model": model, "optimizer": optimizer, "epoch": header["epoch"],
            "metadata": header["metadata"], "extra": extra}


def load_checkpoint_metadata(path):
    """``{"epoch", "metadata"}`` of a checkpoint, without reading its arrays.

    For a look at what a checkpoint holds (a run's settings, a model spec)
    before deciding to load it: only the small JSON header is decompressed.
    """
    path = os.fspath(path)
    header = _header_of(read_npz(path, "load_checkpoint_metadata", names=(HEADER_KEY,)), path,
                        "load_checkpoint_metadata")
    return {"epoch": header["epoch"], "metadata": header["metadata"]}


def _header_of(arrays, path, caller):
    """Pop and parse the JSON header entry of a checkpoint's arrays."""
    if HEADER_KEY not in arrays:
        raise CheckpointError(
            f"{caller}: {path} is an .npz file but not a tinynet checkpoint (no "
            f"{HEADER_KEY!r} entry); use tinynet.io.load_state_dict_file for plain arrays")
    return _parse_header(arrays.pop(HEADER_KEY), path)


def read_npz(path, caller, names=None):
    """The entries of an ``.npz`` file as {name: numpy array}, in file order:
    all of them, or those in ``names``.

    Never unpickles.  A missing file raises FileNotFoundError and an unreadable
    one CheckpointError; both messages name ``path``, and the entry if one
    entry is at fault (an object array, which only pickle could load).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{caller}: no such file: {path}")
    if os.path.isdir(path):
        raise CheckpointError(f"{caller}: {path} is a folder, not an .npz file")
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{caller}: cannot read {path}: it holds a single .npy "
                                  "array, not an .npz archive")
        with npz:
            return {name: _read_npz_entry(npz, name, path, caller) for name in npz.files
                    if names is None or name in names}
    except CheckpointError:
        raise  # one entry is at fault; its message says which
    except ValueError as exc:
        # NumPy took a file that is neither .npz nor .npy for pickled data, and its
        # message invites loading it unsafely: never repeat that advice.
        raise CheckpointError(f"{caller}: cannot read {path}: the file is corrupt or not an "
                              ".npz archive") from exc
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise CheckpointError(
            f"{caller}: cannot read {path}: the file is corrupt or not an .npz archive "
            f"({type(exc).__name__}: {exc})") from exc


def _read_npz_entry(npz, name, path, caller):
    try:
        return npz[name]
    except ValueError as exc:  # an object array (allow_pickle=False), or a broken header
        raise CheckpointError(
            f"{caller}: {path}: cannot read entry {name!r} ({exc}); an object array holds "
            "Python objects, which only unpickling could load, and tinynet never "
            "unpickles") from exc


# -- helpers -------------------------------------------------------------------

def _state_dict_of(obj, what):
    """``obj.state_dict()`` for a model/optimizer object; a dict (or None) as is."""
    if obj is None or isinstance(obj, dict):
        return obj
    if callable(getattr(obj, "state_dict", None)):
        return obj.state_dict()
    raise TypeError(f"save_checkpoint: {what} must have a state_dict() method or be a dict, "
                    f"got {type(obj).__name__}")


def _check_keys(state, what):
    state = state or {}
    for key in state:
        if not isinstance(key, str):
            raise TypeError(f"save_checkpoint: {what} state dict keys must be strings, "
                            f"got {key!r} ({type(key).__name__})")
    return state


def _refuse_nonfinite(arrays, path):
    for key, array in arrays.items():
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            n_bad = int(array.size - np.count_nonzero(np.isfinite(array)))
            raise NonFiniteWeightsError(
                f"save_checkpoint: model entry {key!r} (shape {array.shape}) contains "
                f"{n_bad} NaN/inf value(s); refusing to write {path} so the last good "
                "checkpoint is kept (pass allow_nonfinite=True to save anyway)")


def _json_bytes(header):
    try:
        text = json.dumps(header)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"save_checkpoint: epoch and metadata must be JSON-serializable: {exc}"
                        ) from exc
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _parse_header(raw, path):
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"load_checkpoint: {path}: the {HEADER_KEY!r} entry is not "
                              f"valid JSON ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise CheckpointError(f"load_checkpoint: {path}: the {HEADER_KEY!r} entry is not a "
                              "tinynet checkpoint header")
    if header.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"load_checkpoint: {path} has checkpoint format version {header.get('version')!r}; "
            f"this tinynet reads version {FORMAT_VERSION}")
    for key in ("epoch", "metadata", "model_keys", "optimizer", "extra_keys"):
        header.setdefault(key, None)
    header["extra_keys"] = header["extra_keys"] or []
    return header
