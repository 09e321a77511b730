"""Helpers shared by test_io.py and test_io_pth.py.

* ``assert_same``: bit-exact, type-strict comparison of nested state.
* Crafting PyTorch ``.pth`` zips from raw pickle opcodes, so the torch-free
  reader's geometry and safety checks are tested without torch installed.
* ``torch_state_dict``: a small real state dict (when torch is installed).
* ``convert_module``: examples/convert_weights.py imported as a module.
"""
import importlib.util
import pathlib
import pickle
import struct
import zipfile

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]


def assert_same(a, b, where="value"):
    """Recursive equality that is bit-exact for arrays and strict about types."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def push(obj):
    """Pickle opcodes that push ``obj`` (a plain Python value) onto the stack."""
    return pickle.dumps(obj, protocol=2)[2:-1]  # strip PROTO header and STOP


def pickle_global(module, name):
    return f"c{module}\n{name}\n".encode()


def tensor_opcodes(key, numel, offset, size, stride, storage="FloatStorage"):
    storage_id = (b"(" + push("storage") + pickle_global("torch", storage) + push(key)
                  + push("cpu") + push(numel) + b"tQ")  # TUPLE, BINPERSID
    return (pickle_global("torch._utils", "_rebuild_tensor_v2") + b"(" + storage_id + push(offset)
            + push(tuple(size)) + push(tuple(stride)) + push(False)
            + pickle_global("collections", "OrderedDict") + b")R" + b"tR")


def tensor_v3_opcodes(key, n_bytes, offset, size, stride, dtype):
    """_rebuild_tensor_v3 over an untyped (byte) storage, as torch writes for uint16, float8..."""
    storage_id = (b"(" + push("storage") + pickle_global("torch.storage", "UntypedStorage")
                  + push(key) + push("cpu") + push(n_bytes) + b"tQ")
    return (pickle_global("torch._utils", "_rebuild_tensor_v3") + b"(" + storage_id
            + push(offset) + push(tuple(size)) + push(tuple(stride)) + push(False)
            + pickle_global("collections", "OrderedDict") + b")R"
            + pickle_global("torch", dtype) + b"tR")


def state_dict_pickle(entries):
    """A pickle of OrderedDict {name: opcodes pushing the value}, like torch.save writes."""
    body = pickle_global("collections", "OrderedDict") + b")R"
    for name, opcodes in entries:
        body += push(name) + opcodes + b"s"  # SETITEM
    return b"\x80\x02" + body + b"."


def write_pth(path, pickle_bytes, storages=None, folder="archive", byteorder=b"little"):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{folder}/data.pkl", pickle_bytes)
        if byteorder is not None:
            z.writestr(f"{folder}/byteorder", byteorder)
        for key, raw in (storages or {}).items():
            z.writestr(f"{folder}/data/{key}", raw)
        z.writestr(f"{folder}/version", b"3\n")
    return path


def crafted_pth(path, byteorder="little"):
    base = np.arange(6, dtype=np.float32)
    raw = base.astype(">f4" if byteorder == "big" else "<f4").tobytes()
    entries = [("grid", tensor_opcodes("0", 6, 0, (2, 3), (3, 1))),
               ("grid_t", tensor_opcodes("0", 6, 0, (3, 2), (1, 3))),
               ("tail", tensor_opcodes("0", 6, 1, (2, 2), (3, 1))),
               ("scalar", tensor_opcodes("1", 1, 0, (), (), storage="LongStorage"))]
    storages = {"0": raw, "1": struct.pack("<q" if byteorder == "little" else ">q", 42)}
    return write_pth(path, state_dict_pickle(entries), storages, "weird_name",
                      byteorder.encode())


def torch_state_dict(torch):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 2))
    net(torch.randn(2, 3, 5, 5))  # training-mode pass: non-trivial running stats
    sd = net.state_dict()
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    sd["transposed"] = net[3].weight.detach().t()  # non-contiguous
    sd["base64"] = base
    sd["view64"] = base[1:3, ::2]  # shares base's storage, offset 6, strides (6, 2)
    sd["ints"] = torch.tensor([-(2 ** 40), 0, 7], dtype=torch.int64)
    sd["half"] = torch.randn(3).half()
    sd["bf16"] = torch.randn(5).bfloat16()
    sd["int32"] = torch.arange(4, dtype=torch.int32)
    sd["u8"] = torch.tensor([0, 255], dtype=torch.uint8)
    sd["flags"] = torch.tensor([True, False])
    sd["empty"] = torch.zeros(0, 2)
    return sd


def expected_from_torch(torch, t):
    return t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()


def convert_module():
    spec = importlib.util.spec_from_file_location(
        "convert_weights", REPO / "examples" / "convert_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
