"""Tests for tinynet.io.load_torchvision, the PyTorch .pth reader that never imports torch.

Crafted files (raw pickle opcodes, see iohelpers.py) test strided views, byte
order, corrupt geometry and malicious pickles without torch; parity with real
``torch.save`` output and the torch -> tinynet conversion run when torch is installed.
"""
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

import tinynet as tn
from tinynet.io import TorchFormatError, UnsafePickleError, load_checkpoint, load_torchvision

from iohelpers import (REPO, assert_same, convert_module, crafted_pth, expected_from_torch,
                       state_dict_pickle, tensor_opcodes, tensor_v3_opcodes, torch_state_dict,
                       write_pth)


@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_crafted_pth_rebuilds_strided_views(tmp_path, byteorder):
    sd = load_torchvision(crafted_pth(tmp_path / "m.pth", byteorder))
    grid = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert_same(dict(sd), {"grid": grid, "grid_t": grid.T.copy(),
                           "tail": np.array([[1, 2], [4, 5]], dtype=np.float32),
                           "scalar": np.array(42, dtype=np.int64)})
    assert all(a.flags.c_contiguous and a.flags.writeable for a in sd.values())
    sd["grid"][0, 0] = 99  # shared storage, but independent copies
    assert sd["grid_t"][0, 0] == 0


@pytest.mark.parametrize("entry, storages, message", [
    (tensor_opcodes("0", 6, 0, (3, 3), (3, 1)), {"0": bytes(24)}, "storage has only 6"),
    (tensor_opcodes("0", 6, 0, (2,), (-1,)), {"0": bytes(24)}, "negative"),
    (tensor_opcodes("0", 6, 0, (2,), (1,)), {"0": bytes(8)}, "has 8 bytes but"),
    (tensor_opcodes("7", 6, 0, (2,), (1,)), {"0": bytes(24)}, "missing the storage record"),
])
def test_crafted_pth_with_bad_geometry_is_rejected(tmp_path, entry, storages, message):
    path = write_pth(tmp_path / "bad.pth", state_dict_pickle([("w", entry)]), storages)
    with pytest.raises(TorchFormatError, match=message) as info:
        load_torchvision(path)
    assert "entry 'w'" in str(info.value)


def test_view_that_would_expand_to_terabytes_is_refused_with_its_size(tmp_path):
    # torch.zeros(1).expand(10**6, 10**6): 4 bytes of storage, strides (0, 0).
    entries = [("ok", tensor_opcodes("0", 2, 0, (2,), (1,))),
               ("huge", tensor_opcodes("1", 1, 0, (10 ** 6, 10 ** 6), (0, 0)))]
    path = write_pth(tmp_path / "expand.pth", state_dict_pickle(entries),
                     {"0": bytes(8), "1": bytes(4)})
    with pytest.raises(TorchFormatError,
                       match=r"entry 'huge' .*shape \(1000000, 1000000\) with strides .*\(0, 0\)"
                             r".*4-byte storage.*4000000000000 bytes \(3\.6 TiB\)"):
        load_torchvision(path)


def test_modest_expanded_views_are_copied_out(tmp_path):
    row = np.array([1, 2, 3, 4], dtype=np.float32)
    entries = [("rows", tensor_opcodes("0", 4, 0, (3, 4), (0, 1))),     # expand(3, 4)
               ("windows", tensor_opcodes("0", 4, 0, (3, 2), (1, 1)))]  # overlapping strides
    sd = load_torchvision(write_pth(tmp_path / "e.pth", state_dict_pickle(entries),
                                    {"0": row.tobytes()}))
    assert_same(sd["rows"], np.tile(row, (3, 1)))
    assert_same(sd["windows"], np.array([[1, 2], [2, 3], [3, 4]], dtype=np.float32))
    sd["rows"][0, 0] = 99  # a real copy, not a view repeating one element
    assert sd["rows"][1, 0] == 1


@pytest.mark.parametrize("length, refused", [(9, False), (10, True)])
def test_expansion_limit_counts_the_bytes_added_beyond_the_storage(tmp_path, monkeypatch,
                                                                   length, refused):
    from tinynet.io import torch_pth
    monkeypatch.setattr(torch_pth, "MAX_EXPANSION_BYTES", 32)
    # One float32 expanded to `length`: the copy adds (length - 1) * 4 bytes.
    entries = [("w", tensor_opcodes("0", 1, 0, (length,), (0,)))]
    path = write_pth(tmp_path / "e.pth", state_dict_pickle(entries), {"0": bytes(4)})
    if refused:
        with pytest.raises(TorchFormatError, match=r"entry 'w'.*40 bytes"):
            load_torchvision(path)
    else:
        assert_same(load_torchvision(path)["w"], np.zeros(length, dtype=np.float32))


def test_empty_tensor_offset_must_lie_within_its_storage(tmp_path):
    # x[2:] of a 2-element tensor has offset 2 (the end): valid; offset 3 is not.
    entries = [("end", tensor_opcodes("0", 2, 2, (0,), (1,)))]
    sd = load_torchvision(write_pth(tmp_path / "a.pth", state_dict_pickle(entries),
                                    {"0": bytes(8)}))
    assert sd["end"].shape == (0,)
    entries = [("past", tensor_opcodes("0", 2, 3, (0,), (1,)))]
    path = write_pth(tmp_path / "b.pth", state_dict_pickle(entries), {"0": bytes(8)})
    with pytest.raises(TorchFormatError, match=r"entry 'past'.*offset 3 is beyond the end"):
        load_torchvision(path)


@pytest.mark.parametrize("entry, description", [
    (tensor_v3_opcodes("1", 3, 0, (3,), (1,), "float8_e4m3fn"), r"dtype torch\.float8_e4m3fn"),
    (tensor_opcodes("1", 3, 0, (3,), (1,), storage="QUInt8Storage"), r"dtype torch\.quint8"),
])
def test_clean_pth_with_an_unsupported_dtype_names_dtype_and_entry(tmp_path, entry, description):
    entries = [("fine", tensor_opcodes("0", 2, 0, (2,), (1,))), ("odd", entry)]
    path = write_pth(tmp_path / "f8.pth", state_dict_pickle(entries),
                     {"0": bytes(8), "1": bytes(3)})
    with pytest.raises(TorchFormatError,
                       match=rf"entry 'odd' has unsupported {description}; tinynet reads"):
        load_torchvision(path)


def test_unknown_torch_dtype_name_is_still_refused_as_unsafe(tmp_path):
    # Only dtypes torch really has are "unsupported"; any other global stays suspicious.
    entries = [("odd", tensor_v3_opcodes("0", 3, 0, (3,), (1,), "float9_fake"))]
    path = write_pth(tmp_path / "x.pth", state_dict_pickle(entries), {"0": bytes(3)})
    with pytest.raises(UnsafePickleError, match=r"refusing to load torch\.float9_fake"):
        load_torchvision(path)


class _Exploit:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("payload", ["protocol0", "reduce", "inside_state_dict"])
def test_malicious_pickle_is_refused_before_running(tmp_path, payload):
    marker = tmp_path / "pwned"
    command = f"touch {marker}"
    if payload == "protocol0":  # hand-written: GLOBAL os.system, MARK, STRING, TUPLE, REDUCE
        data = b"cos\nsystem\n(S'" + command.encode() + b"'\ntR."
    elif payload == "reduce":  # what pickle writes for a __reduce__ exploit (posix.system)
        data = pickle.dumps(_Exploit(command), protocol=2)
    else:  # a valid-looking state dict with one poisoned value
        poison = pickle.dumps(_Exploit(command), protocol=2)[2:-1]
        data = state_dict_pickle([("w", tensor_opcodes("0", 2, 0, (2,), (1,))),
                                   ("b", poison)])
    path = write_pth(tmp_path / "evil.pth", data, {"0": bytes(8)})
    with pytest.raises(UnsafePickleError,
                       match=r"refusing to load (os|posix)\.system from .*evil\.pth: "
                             r"only tensor data is allowed"):
        load_torchvision(path)
    assert not marker.exists()
    assert issubclass(UnsafePickleError, pickle.UnpicklingError)


def test_non_zip_and_legacy_files_get_clear_errors(tmp_path):
    legacy = tmp_path / "old.pth"
    legacy.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[:-1] + b"rest")
    with pytest.raises(TorchFormatError, match="legacy .*torch>=1.6"):
        load_torchvision(legacy)
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    with pytest.raises(TorchFormatError, match="notes.pth is not a PyTorch .pth file"):
        load_torchvision(text)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_torchvision(tmp_path / "missing.pth")


def test_pth_reader_never_imports_torch(tmp_path):
    path = crafted_pth(tmp_path / "m.pth")
    code = ("import sys; sys.modules['torch'] = None  # any 'import torch' now fails\n"
            "import tinynet\n"
            f"sd = tinynet.io.load_torchvision({str(path)!r})\n"
            "assert sys.modules['torch'] is None\n"
            "print(sorted(sd), float(sd['grid'].sum()))\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['grid', 'grid_t', 'scalar', 'tail'] 15.0"


# -- parity with real torch.save output -------------------------------------------

def test_load_torchvision_matches_torch_exactly(torch, tmp_path):
    sd = torch_state_dict(torch)
    torch.save(sd, tmp_path / "net.pth")
    loaded = load_torchvision(tmp_path / "net.pth")
    assert list(loaded) == list(sd)
    for key, t in sd.items():
        assert_same(loaded[key], expected_from_torch(torch, t).copy(), key)
    assert loaded["1.num_batches_tracked"].dtype == np.int64
    assert loaded["1.num_batches_tracked"].shape == ()


def test_torch_expanded_views_load_small_and_refuse_huge(torch, tmp_path):
    torch.save({"bias": torch.arange(4.0).expand(3, 4)}, tmp_path / "small.pth")
    assert_same(load_torchvision(tmp_path / "small.pth")["bias"],
                np.tile(np.arange(4, dtype=np.float32), (3, 1)))
    torch.save({"w": torch.zeros(1).expand(10 ** 6, 10 ** 6)}, tmp_path / "huge.pth")
    with pytest.raises(TorchFormatError, match=r"entry 'w'.*\(3\.6 TiB\)"):
        load_torchvision(tmp_path / "huge.pth")


@pytest.mark.parametrize("make, description", [
    (lambda torch: torch.zeros(3, dtype=torch.float8_e4m3fn), r"dtype torch\.float8_e4m3fn"),
    (lambda torch: torch.zeros(3, dtype=torch.float8_e5m2), r"dtype torch\.float8_e5m2"),
    (lambda torch: torch.zeros(3, dtype=torch.complex32), r"dtype torch\.complex32"),
    (lambda torch: torch.quantize_per_tensor(torch.zeros(3), 0.1, 0, torch.quint8),
     r"quantized dtype torch\.quint8"),
    (lambda torch: torch.quantize_per_channel(torch.zeros(2, 3), torch.tensor([0.1, 0.2]),
                                              torch.tensor([0, 0]), 0, torch.qint8),
     r"quantized dtype torch\.qint8"),
    (lambda torch: torch.eye(3).to_sparse(), r"layout torch\.sparse_coo"),
    (lambda torch: torch.eye(3).to_sparse_csr(), r"layout torch\.sparse_csr"),
    (lambda torch: torch.empty(3, device="meta"), r"device 'meta'"),
])
def test_torch_tensors_numpy_cannot_hold_are_unsupported_not_malicious(torch, tmp_path, make,
                                                                       description):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized / complex32 creation warns
        torch.save({"fc.weight": torch.ones(2), "odd": make(torch)}, tmp_path / "m.pth")
    with pytest.raises(TorchFormatError, match=rf"entry 'odd' has unsupported {description}"):
        load_torchvision(tmp_path / "m.pth")


def test_load_torchvision_unwraps_training_checkpoints(torch, tmp_path):
    sd = torch_state_dict(torch)
    torch.save({"epoch": 3, "state_dict": sd, "note": "x"}, tmp_path / "ckpt.pt")
    assert list(load_torchvision(tmp_path / "ckpt.pt")) == list(sd)
    torch.save({"epoch": 3, "weights": sd}, tmp_path / "odd.pt")
    with pytest.raises(TorchFormatError,
                       match="entry 'epoch' holds a value of type int, not a tensor"):
        load_torchvision(tmp_path / "odd.pt")


def test_whole_pickled_module_is_refused(torch, tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pth")
    with pytest.raises(UnsafePickleError, match="refusing to load torch.nn.modules.linear"):
        load_torchvision(tmp_path / "module.pth")


def test_convert_weights_from_torch_file(torch, tmp_path, capsys):
    sd = torch_state_dict(torch)
    torch.save(sd, tmp_path / "net.pth")
    assert convert_module().main([str(tmp_path / "net.pth"), str(tmp_path / "net.npz")]) == 0
    ckpt = load_checkpoint(tmp_path / "net.npz")
    assert "1.num_batches_tracked" not in ckpt["model"]
    assert list(ckpt["model"]) == [k for k in sd if not k.endswith("num_batches_tracked")]
    for key, array in ckpt["model"].items():
        want = expected_from_torch(torch, sd[key])
        want = want.astype(np.float32) if want.dtype.kind == "f" else want
        assert_same(array, np.ascontiguousarray(want), key)
    assert ckpt["metadata"]["source"] == "net.pth"
    assert "to " + str(tmp_path / "net.npz") in capsys.readouterr().out


def test_convert_weights_checks_against_the_real_resnet18(torch, tmp_path):
    models = pytest.importorskip("tinynet.models")
    reference = models.resnet18(num_classes=2).state_dict()
    sd = {k: torch.from_numpy(v.numpy()) for k, v in reference.items()}
    torch.save(sd, tmp_path / "r18.pth")
    argv = [str(tmp_path / "r18.pth"), str(tmp_path / "r18.npz"), "--arch", "resnet18"]
    assert convert_module().main(argv) == 0
    model = models.resnet18(num_classes=2, weights=str(tmp_path / "r18.npz"))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(tn.backend.to_numpy(value),
                                      tn.backend.to_numpy(reference[key]), err_msg=key)
