"""Tests for tinynet.io.load_torchvision, the PyTorch .pth reader that never imports torch.

Crafted files (raw pickle opcodes, see iohelpers.py) test strided views, byte
order, corrupt geometry and malicious pickles without torch; parity with real
``torch.save`` output and the torch -> tinynet conversion run when torch is installed.
"""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import tinynet as tn
from tinynet.io import TorchFormatError, UnsafePickleError, load_checkpoint, load_torchvision

from iohelpers import (REPO, assert_same, convert_module, crafted_pth, expected_from_torch,
                       state_dict_pickle, tensor_opcodes, torch_state_dict, write_pth)


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
    with pytest.raises(TorchFormatError, match=message):
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

def test_load_torchvision_matches_torch_exactly(tmp_path):
    torch = pytest.importorskip("torch")
    sd = torch_state_dict(torch)
    torch.save(sd, tmp_path / "net.pth")
    loaded = load_torchvision(tmp_path / "net.pth")
    assert list(loaded) == list(sd)
    for key, t in sd.items():
        assert_same(loaded[key], expected_from_torch(torch, t).copy(), key)
    assert loaded["1.num_batches_tracked"].dtype == np.int64
    assert loaded["1.num_batches_tracked"].shape == ()


def test_load_torchvision_unwraps_training_checkpoints(tmp_path):
    torch = pytest.importorskip("torch")
    sd = torch_state_dict(torch)
    torch.save({"epoch": 3, "state_dict": sd, "note": "x"}, tmp_path / "ckpt.pt")
    assert list(load_torchvision(tmp_path / "ckpt.pt")) == list(sd)
    torch.save({"epoch": 3, "weights": sd}, tmp_path / "odd.pt")
    with pytest.raises(TorchFormatError,
                       match="entry 'epoch' holds a value of type int, not a tensor"):
        load_torchvision(tmp_path / "odd.pt")


def test_whole_pickled_module_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pth")
    with pytest.raises(UnsafePickleError, match="refusing to load torch.nn.modules.linear"):
        load_torchvision(tmp_path / "module.pth")


def test_convert_weights_from_torch_file(tmp_path, capsys):
    torch = pytest.importorskip("torch")
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


def test_convert_weights_checks_against_the_real_resnet18(tmp_path):
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("tinynet.models")
    reference = models.resnet18(num_classes=2).state_dict()
    sd = {k: torch.from_numpy(tn.backend.to_numpy(v)) for k, v in reference.items()}
    torch.save(sd, tmp_path / "r18.pth")
    argv = [str(tmp_path / "r18.pth"), str(tmp_path / "r18.npz"), "--arch", "resnet18"]
    assert convert_module().main(argv) == 0
    model = models.resnet18(num_classes=2, weights=str(tmp_path / "r18.npz"))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(tn.backend.to_numpy(value),
                                      tn.backend.to_numpy(reference[key]), err_msg=key)
