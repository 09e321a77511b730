"""Tests for tinynet.io: checkpoints, safetensors, load_state_dict_file, convert_weights.

The .pth reader has its own file, test_io_pth.py; shared helpers are in iohelpers.py.
"""
import errno
import json
import os
import struct
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest

import tinynet as tn
from tinynet.io import (CheckpointError, NonFiniteWeightsError, SafetensorsError,
                        load_checkpoint, load_safetensors, load_state_dict_file,
                        save_checkpoint, save_safetensors)

from tinynet.io import atomic_copy, atomic_write, atomic_write_bytes, atomic_write_text

from iohelpers import assert_same, convert_module, write_pth


def sample_model_state(rng):
    # Deliberately not alphabetical, to check the saved order survives.
    return OrderedDict([
        ("conv1.weight", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
        ("bn1.running_var", np.array([1e-45, -0.0, 3.4e38, 1.0], dtype=np.float32)),
        ("bn1.num_batches_tracked", np.array(7, dtype=np.int64)),
        ("fc.weight", rng.standard_normal((2, 5))),  # float64
        ("half", rng.standard_normal(3).astype(np.float16)),
        ("mask", np.array([True, False])),
        ("empty", np.zeros((0, 3), dtype=np.float32)),
    ])


def sample_optimizer_state(rng):
    return {
        "state": {0: {"step": 12, "exp_avg": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
                      "exp_avg_sq": rng.random((4, 3, 3, 3)).astype(np.float32)},
                  3: {"momentum_buffer": None, "step": np.float32(12.0)}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False,
                          "params": [0, 1, 2, 3], "name": "backbone", "__weird": [1, (2, 3)]}],
    }


# -- checkpoints -------------------------------------------------------------------

def test_checkpoint_round_trip_is_bit_exact(tmp_path, rng):
    model, optim = sample_model_state(rng), sample_optimizer_state(rng)
    metadata = {"arch": "resnet18", "dice": 0.8125, "classes": ["no tumour", "tumour"], "µ": None}
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, model, optim, epoch=5, metadata=metadata, ema=np.arange(3.0))
    ckpt = load_checkpoint(path)
    assert_same(ckpt["model"], model, "model")
    assert_same(ckpt["optimizer"], optim, "optimizer")
    assert ckpt["epoch"] == 5 and ckpt["metadata"] == metadata
    assert_same(ckpt["extra"], {"ema": np.arange(3.0)}, "extra")
    # A plain npz that np.load reads without pickle, with prefixed entries.
    with np.load(path, allow_pickle=False) as npz:
        assert "model/conv1.weight" in npz.files and "optim/state/0/exp_avg" in npz.files


def test_checkpoint_accepts_objects_with_state_dict_and_tensors(tmp_path):
    class Holder:
        def __init__(self, state):
            self.state = state

        def state_dict(self):
            return self.state

    weight = tn.tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    save_checkpoint(tmp_path / "c.npz", Holder({"w": weight}), Holder({"state": {}}), epoch=0)
    ckpt = load_checkpoint(tmp_path / "c.npz")
    assert isinstance(ckpt["model"]["w"], np.ndarray)
    np.testing.assert_array_equal(ckpt["model"]["w"], weight.numpy())
    assert ckpt["optimizer"] == {"state": {}} and ckpt["epoch"] == 0


class _FakeGpuArray:
    """Quacks like a CuPy array (CUDA interface + get()) so the host copy is tested on CPU."""

    def __init__(self, array):
        self.array = array
        self.__cuda_array_interface__ = {"shape": array.shape}

    def get(self):
        return self.array.copy()


def test_checkpoint_copies_gpu_arrays_to_the_host(tmp_path):
    weight, moment = np.arange(6.0).reshape(2, 3), np.ones(3, dtype=np.float32)
    save_checkpoint(tmp_path / "c.npz", {"w": _FakeGpuArray(weight)},
                    {"state": {0: {"exp_avg": _FakeGpuArray(moment)}}})
    ckpt = load_checkpoint(tmp_path / "c.npz")
    assert_same(ckpt["model"]["w"], weight)
    assert_same(ckpt["optimizer"]["state"][0]["exp_avg"], moment)


def test_checkpoint_rejects_values_json_cannot_hold(tmp_path):
    with pytest.raises(TypeError, match="optimizer state 'state/0/fn' is a builtin_function"):
        save_checkpoint(tmp_path / "c.npz", optimizer={"state": {0: {"fn": print}}})
    with pytest.raises(TypeError, match="metadata must be JSON-serializable"):
        save_checkpoint(tmp_path / "c.npz", metadata={"when": object()})
    assert os.listdir(tmp_path) == []


def _break_savez(monkeypatch):
    def savez_then_crash(f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")  # something partial reaches the temp file
        raise OSError("No space left on device")
    monkeypatch.setattr(np, "savez", savez_then_crash)
    return OSError


def _break_replace(monkeypatch):
    def interrupted(src, dst):
        raise KeyboardInterrupt  # Ctrl-C just before the rename
    monkeypatch.setattr(os, "replace", interrupted)
    return KeyboardInterrupt


@pytest.mark.parametrize("break_step", [_break_savez, _break_replace])
def test_crash_mid_write_keeps_previous_checkpoint(tmp_path, rng, monkeypatch, break_step):
    path = tmp_path / "last.npz"
    good = sample_model_state(rng)
    save_checkpoint(path, good, epoch=1)
    newer = OrderedDict((k, v + 1 if v.dtype.kind == "f" else v) for k, v in good.items())
    error = break_step(monkeypatch)
    with pytest.raises(error):
        save_checkpoint(path, newer, epoch=2)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["last.npz"]  # no temporary file left behind
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 1
    assert_same(ckpt["model"], good, "model")


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_names_the_path_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "last.npz"
    path.write_bytes(b"old checkpoint")

    def write_half_then_fail(f):
        f.write(b"half of the new one")
        _disk_full()

    with pytest.raises(OSError, match=r"cannot save \(No space left on device\); any previous "
                                      r"file at this path is unchanged: '.*last\.npz'") as info:
        atomic_write(path, write_half_then_fail)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.filename is None
    assert path.read_bytes() == b"old checkpoint"
    assert os.listdir(tmp_path) == ["last.npz"]  # the temporary file was removed


@pytest.mark.parametrize("save, name, break_at", [
    (lambda path: save_checkpoint(path, {"w": np.ones(2)}), "c.npz", (np, "savez")),
    (lambda path: save_safetensors(path, {"w": np.ones(2)}), "w.safetensors", (os, "fsync")),
])
def test_savers_name_the_path_when_the_disk_is_full(tmp_path, monkeypatch, save, name,
                                                    break_at):
    monkeypatch.setattr(*break_at, _disk_full)
    with pytest.raises(OSError, match=rf"No space left on device.*{name}") as info:
        save(tmp_path / name)
    assert info.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == []


def test_saving_into_a_missing_folder_names_the_target_not_the_temp_file(tmp_path):
    target = tmp_path / "no_such_dir" / "m.safetensors"
    with pytest.raises(FileNotFoundError) as info:
        save_safetensors(target, {"w": np.ones(2)})
    assert info.value.filename == str(target)


def test_errors_other_than_oserror_pass_through_unchanged(tmp_path):
    def bad_writer(f):
        raise TypeError("not bytes")

    with pytest.raises(TypeError, match="^not bytes$"):
        atomic_write(tmp_path / "x.bin", bad_writer)
    assert os.listdir(tmp_path) == []


def test_the_bytes_text_and_copy_helpers_write_atomically(tmp_path, monkeypatch):
    text = "Dice 0.91 – ÷ ✓\n"
    assert atomic_write_text(tmp_path / "a.txt", text) == str(tmp_path / "a.txt")
    assert (tmp_path / "a.txt").read_bytes() == text.encode("utf-8")   # no newline translation
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert atomic_copy(tmp_path / "b.bin", tmp_path / "c.bin") == str(tmp_path / "c.bin")
    assert (tmp_path / "c.bin").read_bytes() == b"\x00\x01"

    synced = []
    monkeypatch.setattr("tinynet.io._atomic._fsync_directory", synced.append)
    atomic_write_text(tmp_path / "a.txt", "new")
    assert synced == [str(tmp_path)]           # the rename is made durable too

    def copy_half_then_fail(source, target):
        target.write(source.read(1))
        _disk_full()
    monkeypatch.setattr("shutil.copyfileobj", copy_half_then_fail)
    with pytest.raises(OSError, match="No space left on device.*a.txt"):
        atomic_copy(tmp_path / "b.bin", tmp_path / "a.txt")
    assert (tmp_path / "a.txt").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.bin", "c.bin"]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_weights_never_overwrite_last_good_state(tmp_path, rng, bad):
    path = tmp_path / "last.npz"
    good = sample_model_state(rng)
    save_checkpoint(path, good, epoch=1)
    diverged = OrderedDict(good)
    diverged["fc.weight"] = good["fc.weight"].copy()
    diverged["fc.weight"][1, 2] = bad
    with pytest.raises(NonFiniteWeightsError, match=r"'fc.weight' \(shape \(2, 5\)\) contains 1"):
        save_checkpoint(path, diverged, epoch=2)
    assert os.listdir(tmp_path) == ["last.npz"]
    assert load_checkpoint(path)["epoch"] == 1
    save_checkpoint(path, diverged, epoch=2, allow_nonfinite=True)
    assert load_checkpoint(path)["epoch"] == 2


def test_loading_missing_or_corrupt_checkpoints_names_the_path(tmp_path, rng):
    missing = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_checkpoint(missing)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"\x00not a zip" * 10)
    with pytest.raises(CheckpointError, match="garbage.npz"):
        load_checkpoint(garbage)
    good = tmp_path / "good.npz"
    save_checkpoint(good, sample_model_state(rng))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.npz"):
        load_checkpoint(truncated)
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.ones(2))
    with pytest.raises(CheckpointError, match="not a tinynet checkpoint"):
        load_checkpoint(plain)


def test_unreadable_checkpoints_get_a_message_that_never_suggests_unpickling(tmp_path):
    """A short junk file (NumPy takes it for pickled data and suggests allow_pickle=True),
    a folder and a single .npy array each get one plain message naming the path."""
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"hello")
    single = tmp_path / "single.npz"
    with open(single, "wb") as file:
        np.save(file, np.ones(3))
    cases = [(junk, r"junk\.npz: the file is corrupt or not an \.npz archive$"),
             (tmp_path, r"is a folder, not an \.npz file$"),
             (single, r"single\.npz: it holds a single \.npy array, not an \.npz archive$")]
    for path, message in cases:
        with pytest.raises(CheckpointError, match=r"^load_checkpoint: .*" + message) as info:
            load_checkpoint(path)
        assert "pickle" not in str(info.value)


def test_npz_with_an_object_array_names_the_entry_and_is_never_unpickled(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, w=np.ones(2), names=np.array(["a", None], dtype=object))
    for load in (load_state_dict_file, load_checkpoint):
        with pytest.raises(CheckpointError, match=r"^load_\w+: .*objects\.npz: cannot read entry "
                                                  r"'names' \(Object arrays cannot be loaded"):
            load(path)


def test_load_state_dict_file_dispatches_on_extension(tmp_path, rng):
    model = sample_model_state(rng)
    save_checkpoint(tmp_path / "ckpt.npz", model)
    assert_same(load_state_dict_file(tmp_path / "ckpt.npz"), model)
    np.savez(tmp_path / "plain.npz", b=np.ones(2), a=np.zeros(3))
    assert list(load_state_dict_file(tmp_path / "plain.npz")) == ["b", "a"]
    save_safetensors(tmp_path / "w.safetensors", {"x": np.arange(4, dtype=np.int32)})
    assert_same(dict(load_state_dict_file(tmp_path / "w.safetensors")),
                {"x": np.arange(4, dtype=np.int32)})
    with pytest.raises(ValueError, match="extension '.h5'"):
        load_state_dict_file(tmp_path / "w.h5")


# -- safetensors ---------------------------------------------------------------------

def _handwritten_safetensors(entries, metadata=None, pad=True):
    """Bytes of a safetensors file built with struct + json only (not save_safetensors).

    ``entries``: list of (name, dtype, shape, raw bytes).
    """
    header, buffer = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(buffer), len(buffer) + len(raw)]}
        buffer += raw
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + buffer


def test_handwritten_safetensors_loads_exactly(tmp_path):
    entries = [
        ("f32", "F32", [2, 2], struct.pack("<4f", 1.5, -2.0, 0.0, 3.25)),
        ("f64", "F64", [1], struct.pack("<d", 0.1)),
        ("f16", "F16", [2], struct.pack("<2e", 0.5, -1.0)),
        ("bf16", "BF16", [3], struct.pack("<3H", 0x3F80, 0xC020, 0x0000)),  # 1.0, -2.5, 0
        ("i64", "I64", [], struct.pack("<q", -(2 ** 40))),
        ("i32", "I32", [2], struct.pack("<2i", -7, 9)),
        ("i16", "I16", [1], struct.pack("<h", -300)),
        ("i8", "I8", [2], struct.pack("<2b", -128, 127)),
        ("u8", "U8", [2], bytes([0, 255])),
        ("flags", "BOOL", [3], bytes([1, 0, 1])),
        ("nothing", "F32", [0, 4], b""),
    ]
    path = tmp_path / "hand.safetensors"
    path.write_bytes(_handwritten_safetensors(entries, metadata={"format": "pt"}))
    arrays, metadata = load_safetensors(path, return_metadata=True)
    expected = {
        "f32": np.array([[1.5, -2.0], [0.0, 3.25]], dtype=np.float32),
        "f64": np.array([0.1]), "f16": np.array([0.5, -1.0], dtype=np.float16),
        "bf16": np.array([1.0, -2.5, 0.0], dtype=np.float32),
        "i64": np.array(-(2 ** 40), dtype=np.int64), "i32": np.array([-7, 9], dtype=np.int32),
        "i16": np.array([-300], dtype=np.int16), "i8": np.array([-128, 127], dtype=np.int8),
        "u8": np.array([0, 255], dtype=np.uint8), "flags": np.array([True, False, True]),
        "nothing": np.zeros((0, 4), dtype=np.float32),
    }
    assert_same(dict(arrays), expected)
    assert metadata == {"format": "pt"}
    assert all(a.flags.writeable for a in arrays.values())


def test_safetensors_round_trip(tmp_path, rng):
    arrays = OrderedDict([("z.weight", rng.standard_normal((3, 4)).astype(np.float32)),
                          ("a.bias", rng.standard_normal(2)),
                          ("steps", np.arange(5, dtype=np.int64)),
                          ("t", rng.standard_normal((3, 2)).astype(np.float32).T)])  # strided
    path = tmp_path / "m.safetensors"
    save_safetensors(path, arrays, metadata={"note": "hi"})
    loaded, metadata = load_safetensors(path, return_metadata=True)
    assert_same(dict(loaded), {k: np.ascontiguousarray(v) for k, v in arrays.items()})
    assert list(loaded) == list(arrays) and metadata == {"note": "hi"}
    (header_len,) = struct.unpack("<Q", path.read_bytes()[:8])
    assert header_len % 8 == 0  # data buffer aligned
    with pytest.raises(TypeError, match="'c' has dtype complex128"):
        save_safetensors(tmp_path / "c.safetensors", {"c": np.ones(2, dtype=complex)})


def _entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


@pytest.mark.parametrize("make, message", [
    (lambda: b"\x01\x02", "too short"),
    (lambda: struct.pack("<Q", 10 ** 6) + b"{}", "header length 1000000 exceeds"),
    (lambda: struct.pack("<Q", 4) + b"{oops", "not valid UTF-8 JSON"),
    (lambda: struct.pack("<Q", 2) + b"[]", "not a JSON object"),
    (lambda: _raw_header({"w": _entry(offsets=(0, 16))}, 8), r"'w': data_offsets \[0, 16\] fall"),
    (lambda: _raw_header({"w": _entry(shape=(3,))}, 8), r"'w': shape \(3,\) of F32 needs 12"),
    (lambda: _raw_header({"w": _entry(dtype="F8_E4M3")}, 8), "'w': unsupported dtype 'F8_E4M3'"),
    (lambda: _raw_header({"w": _entry(shape=(-2,))}, 8), "'w': shape must be a list"),
    (lambda: _raw_header({"w": {"dtype": "F32"}}, 8), "'w': entry needs dtype"),
    (lambda: _raw_header({"w": _entry(dtype="BOOL", shape=(8,))}, 8, fill=7), "'w': BOOL data"),
])
def test_safetensors_bad_files_raise_clear_errors(tmp_path, make, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(make())
    with pytest.raises(SafetensorsError, match=message):
        load_safetensors(path)


def _raw_header(header, n_data_bytes, fill=0):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + bytes([fill]) * n_data_bytes


@pytest.mark.parametrize("header, n_bytes, message", [
    # Two names for the same 8 bytes used to load as two aliases of one buffer.
    ({"a": _entry(), "b": _entry()}, 8, r"tensors 'a' and 'b' overlap \(bytes 0 to 8"),
    ({"a": _entry(offsets=(0, 8)), "b": _entry(shape=(1,), offsets=(4, 8)),
      "c": _entry(shape=(1,), offsets=(8, 12))}, 12, r"tensors 'a' and 'b' overlap"),
    ({"a": _entry(shape=(1,), offsets=(4, 8))}, 8, r"bytes 0 to 4 .*at the start.*'a'"),
    ({"a": _entry(shape=(1,), offsets=(0, 4)), "b": _entry(shape=(1,), offsets=(8, 12))}, 12,
     r"bytes 4 to 8 .*after tensor 'a', before 'b'\) belong to no tensor"),
    ({"a": _entry()}, 12, r"the data buffer has 12 bytes but the tensors end at byte 8"),
    (b'{"a": ' + json.dumps(_entry()).encode() + b', "a": ' + json.dumps(_entry()).encode()
     + b"}", 8, r"the header names 'a' twice"),
    ({"__metadata__": {"epochs": 3}, "a": _entry()}, 8, r"__metadata__ must be an object of "
                                                        r"strings"),
])
def test_safetensors_offsets_must_tile_the_buffer_exactly(tmp_path, header, n_bytes, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(_raw_header(header, n_bytes))
    with pytest.raises(SafetensorsError, match=message):
        load_safetensors(path)


def test_safetensors_header_length_over_the_limit_is_refused(tmp_path, monkeypatch):
    from tinynet.io import safetensors
    monkeypatch.setattr(safetensors, "MAX_HEADER_BYTES", 16)
    path = tmp_path / "big.safetensors"
    path.write_bytes(_raw_header({"a": _entry()}, 8))
    with pytest.raises(SafetensorsError, match=r"header length \d+ is over the 16-byte limit"):
        load_safetensors(path)


def test_safetensors_empty_tensors_may_sit_anywhere_on_a_boundary(tmp_path):
    header = {"e0": _entry(shape=(0,), offsets=(0, 0)), "a": _entry(shape=(1,), offsets=(0, 4)),
              "e4": _entry(shape=(0, 3), offsets=(4, 4)), "b": _entry(shape=(1,), offsets=(4, 8)),
              "e8": _entry(shape=(0,), offsets=(8, 8))}
    path = tmp_path / "ok.safetensors"
    path.write_bytes(_raw_header(header, 8))
    arrays = load_safetensors(path)
    assert list(arrays) == ["e0", "a", "e4", "b", "e8"]
    assert arrays["e4"].shape == (0, 3) and arrays["b"].shape == (1,)


# -- examples/convert_weights.py ---------------------------------------------------

def test_convert_weights_from_safetensors(tmp_path):
    weights = OrderedDict([("w", np.linspace(0, 1, 6).reshape(2, 3)),
                           ("bn.num_batches_tracked", np.array(3, dtype=np.int64))])
    save_safetensors(tmp_path / "w.safetensors", weights)
    convert = convert_module()
    assert convert.main([str(tmp_path / "w.safetensors"), str(tmp_path / "a.npz")]) == 0
    assert_same(dict(load_state_dict_file(tmp_path / "a.npz")),
                {"w": weights["w"].astype(np.float32)})
    assert convert.main([str(tmp_path / "w.safetensors"), str(tmp_path / "b.npz"),
                         "--keep-dtype"]) == 0
    assert load_state_dict_file(tmp_path / "b.npz")["w"].dtype == np.float64


def test_convert_weights_reports_bad_input(tmp_path, capsys):
    convert = convert_module()
    assert convert.main([str(tmp_path / "absent.pth"), str(tmp_path / "out.npz")]) == 1
    assert "absent.pth" in capsys.readouterr().err
    evil = write_pth(tmp_path / "evil.pth", b"cos\nsystem\n(S'true'\ntR.")
    assert convert.main([str(evil), str(tmp_path / "out.npz")]) == 1
    assert "refusing to load os.system" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        convert.main([str(evil), str(tmp_path / "out.pth")])  # DST must be .npz
    assert not (tmp_path / "out.npz").exists()


class _FakeResNet:
    """Stands in for tinynet.models.resnet18: fixes the expected keys and shapes."""

    def __init__(self, num_classes=1000):
        self.shapes = {"conv1.weight": (4, 3, 3, 3), "bn1.num_batches_tracked": (),
                       "fc.weight": (num_classes, 4)}

    def state_dict(self):
        return OrderedDict((k, np.zeros(s)) for k, s in self.shapes.items())


def test_convert_weights_verifies_keys_and_shapes(tmp_path, monkeypatch, capsys):
    fake = types.ModuleType("tinynet.models")
    fake.resnet18 = _FakeResNet
    monkeypatch.setitem(sys.modules, "tinynet.models", fake)
    monkeypatch.setattr(tn, "models", fake, raising=False)
    convert = convert_module()
    good = {"conv1.weight": np.ones((4, 3, 3, 3)), "fc.weight": np.ones((2, 4))}
    save_safetensors(tmp_path / "good.safetensors", good)
    assert convert.main([str(tmp_path / "good.safetensors"), str(tmp_path / "g.npz"),
                         "--arch", "resnet18"]) == 0  # 2-class head sized from the weights
    bad = {"conv1.weight": np.ones((4, 3, 5, 5)), "extra": np.ones(1)}
    save_safetensors(tmp_path / "bad.safetensors", bad)
    assert convert.main([str(tmp_path / "bad.safetensors"), str(tmp_path / "b.npz"),
                         "--arch", "resnet18"]) == 1
    err = capsys.readouterr().err
    assert "missing key 'fc.weight'" in err and "unexpected key 'extra'" in err
    assert "'conv1.weight': weights have shape (4, 3, 5, 5), resnet18 expects (4, 3, 3, 3)" in err
    assert not (tmp_path / "b.npz").exists()


def test_checkpoint_round_trips_a_real_tinynet_model_and_optimizer(tmp_path):
    model = tn.nn.Linear(3, 2)
    optimizer = tn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(tn.tensor(np.ones((4, 3), dtype=np.float32))).sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path / "c.npz", model, optimizer, epoch=1)
    ckpt = load_checkpoint(tmp_path / "c.npz")
    assert_same(ckpt["optimizer"], optimizer.state_dict(), "optimizer")
    fresh = tn.nn.Linear(3, 2)
    fresh.load_state_dict(ckpt["model"])
    for key, value in model.state_dict().items():
        assert_same(fresh.state_dict()[key].numpy(), value.numpy(), key)
    tn.optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9).load_state_dict(ckpt["optimizer"])


def test_checkpoint_metadata_is_read_without_the_arrays(tmp_path, monkeypatch):
    import tinynet.io.checkpoint as checkpoint_module
    path = tmp_path / "c.npz"
    tn.io.save_checkpoint(path, model={"w": np.ones((50, 50), np.float32)}, epoch=4,
                          metadata={"run": {"lr": 0.1}})
    read = []
    real_entry = checkpoint_module._read_npz_entry
    monkeypatch.setattr(checkpoint_module, "_read_npz_entry",
                        lambda npz, name, *args: read.append(name) or real_entry(npz, name, *args))
    assert tn.io.load_checkpoint_metadata(path) == {"epoch": 4, "metadata": {"run": {"lr": 0.1}}}
    assert read == [tn.io.HEADER_KEY]
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.ones(3))
    with pytest.raises(tn.io.CheckpointError, match="not a tinynet checkpoint"):
        tn.io.load_checkpoint_metadata(plain)
