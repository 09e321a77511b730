"""tn.save / tn.load (tinynet/io/torch_save.py): torch.save's format both ways, checkpoints that
resume training exactly, the objects torch.load(weights_only=True) reads and nothing else."""
import argparse
import io
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import tinynet as tn
from tinynet.io import TorchFormatError, UnsafePickleError


def small_model(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 2))


def batches(n, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((4, 3, 6, 6)).astype(np.float32), rng.integers(0, 2, 4))
            for _ in range(n)]


def train(model, optimizer, data):
    for x, y in data:
        optimizer.zero_grad()
        tn.nn.functional.cross_entropy(model(tn.tensor(x)), tn.tensor(y)).backward()
        optimizer.step()


def test_a_checkpoint_resumes_training_exactly(tmp_path):
    """2 steps, save, load into a fresh model and optimizer, 2 more steps: the same weights
    as 4 steps without stopping."""
    data = batches(4)
    tn.manual_seed(0)
    straight = small_model(tn)
    straight_opt = tn.optim.Adam(straight.parameters(), lr=0.01)
    train(straight, straight_opt, data)

    tn.manual_seed(0)
    first = small_model(tn)
    first_opt = tn.optim.Adam(first.parameters(), lr=0.01)
    train(first, first_opt, data[:2])
    tn.save({"epoch": 2, "model": first.state_dict(), "optimizer": first_opt.state_dict()},
            tmp_path / "checkpoint.pt")

    checkpoint = tn.load(tmp_path / "checkpoint.pt")
    resumed = small_model(tn)
    resumed_opt = tn.optim.Adam(resumed.parameters(), lr=0.5)     # replaced by the saved lr
    resumed.load_state_dict(checkpoint["model"])
    resumed_opt.load_state_dict(checkpoint["optimizer"])
    train(resumed, resumed_opt, data[2:])
    assert checkpoint["epoch"] == 2
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_plain_values_come_back_as_they_went(tmp_path):
    value = {"name": "run", "loss": 0.25, "epoch": 3, "flag": True, "none": None,
             "history": [1.0, 2.5], "pair": (1, "a"), "nested": {"k": [{"x": 1}]},
             "ordered": OrderedDict([("b", 1), ("a", 2)]), 7: "int key"}
    tn.save(value, tmp_path / "plain.pt")
    loaded = tn.load(tmp_path / "plain.pt")
    assert loaded == value
    assert type(loaded["ordered"]) is OrderedDict and list(loaded["ordered"]) == ["b", "a"]
    assert type(loaded["pair"]) is tuple and type(loaded["history"]) is list


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64", "int32", "int16",
                                   "int8", "uint8", "bool"])
def test_every_storage_dtype_round_trips_through_pytorch(torch, tmp_path, dtype):
    array = (np.arange(24).reshape(2, 3, 4) % 5).astype(dtype)
    tn.save({"t": tn.tensor(array), "scalar": tn.tensor(array[0, 0, 1])}, tmp_path / "a.pt")
    theirs = torch.load(tmp_path / "a.pt")                # weights_only=True, its default
    np.testing.assert_array_equal(theirs["t"].numpy(), array)
    assert theirs["scalar"].shape == () and str(theirs["t"].dtype) == f"torch.{dtype}"
    torch.save(theirs, tmp_path / "b.pt")
    ours = tn.load(tmp_path / "b.pt")
    np.testing.assert_array_equal(ours["t"].numpy(), array)
    assert ours["t"].dtype == np.dtype(dtype) and tuple(ours["scalar"].shape) == ()


def test_pytorch_loads_our_state_dict_into_its_model(torch, tmp_path):
    tn.manual_seed(0)
    ours = small_model(tn)
    ours.train()
    ours(tn.randn(4, 3, 6, 6))                       # running statistics move
    tn.save(ours.state_dict(), tmp_path / "weights.pth")
    theirs = small_model(torch)
    result = theirs.load_state_dict(torch.load(tmp_path / "weights.pth"))
    assert not result.missing_keys and not result.unexpected_keys
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32)
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(ours(tn.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_we_load_pytorchs_training_checkpoint(torch, tmp_path):
    """A torch.save'd checkpoint: model and optimizer state, a view, shared tensors."""
    torch.manual_seed(0)
    theirs = small_model(torch)
    optimizer = torch.optim.Adam(theirs.parameters(), lr=0.01)
    theirs(torch.randn(4, 3, 6, 6)).sum().backward()
    optimizer.step()
    base = torch.arange(12.0).reshape(3, 4)
    torch.save({"epoch": 1, "model_state_dict": theirs.state_dict(),
                "optimizer_state_dict": optimizer.state_dict(), "column": base[:, 1],
                "a": base, "b": base}, tmp_path / "theirs.pt")
    checkpoint = tn.load(tmp_path / "theirs.pt", map_location="cpu")
    ours = small_model(tn)
    ours.load_state_dict(checkpoint["model_state_dict"])
    ours_opt = tn.optim.Adam(ours.parameters(), lr=0.5)
    ours_opt.load_state_dict(checkpoint["optimizer_state_dict"])
    assert ours_opt.param_groups[0]["lr"] == 0.01
    np.testing.assert_array_equal(checkpoint["column"].numpy(), [1.0, 5.0, 9.0])
    assert checkpoint["a"] is checkpoint["b"]                    # one tensor, as saved
    for name, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[name].numpy(), value.numpy(),
                                      err_msg=name)


def test_a_tied_tensor_is_saved_once_and_stays_tied(torch):
    weight = tn.randn(3, 3)
    buffer = io.BytesIO()
    tn.save({"encoder": weight, "decoder": weight}, buffer)
    buffer.seek(0)
    theirs = torch.load(buffer)
    assert theirs["encoder"].data_ptr() == theirs["decoder"].data_ptr()
    buffer.seek(0)
    ours = tn.load(buffer)
    assert ours["encoder"] is ours["decoder"]


def test_numpy_values_are_saved_as_tensors_and_numbers(tmp_path):
    tn.save({"array": np.arange(3), "scalar": np.float32(1.5)}, tmp_path / "np.pt")
    loaded = tn.load(tmp_path / "np.pt")
    assert isinstance(loaded["array"], tn.Tensor) and loaded["array"].tolist() == [0, 1, 2]
    assert loaded["scalar"] == 1.5 and type(loaded["scalar"]) is float


def test_what_weights_only_reads_besides_tensors_comes_back(torch, tmp_path):
    """bytes, sets, shapes, dtypes and devices, from either library."""
    x = tn.zeros(2, 3)
    tn.save({"bytes": b"\x00ab", "set": {1, 2}, "shape": x.shape}, tmp_path / "ours.pt")
    theirs = torch.load(tmp_path / "ours.pt")
    assert theirs == {"bytes": b"\x00ab", "set": {1, 2}, "shape": (2, 3)}
    assert tn.load(tmp_path / "ours.pt") == theirs
    torch.save({"dtype": torch.float16, "device": torch.device("cuda", 1), "bytes": b"ab",
                "size": torch.Size([4, 5])}, tmp_path / "theirs.pt")
    assert tn.load(tmp_path / "theirs.pt") == {"dtype": tn.float16, "device": "cuda:1",
                                               "bytes": b"ab", "size": (4, 5)}


@pytest.mark.parametrize("map_location", [None, "cpu", tn.device("cpu"), {"cuda:0": "cpu"},
                                          lambda storage, location: storage])
def test_map_location_cpu(tmp_path, map_location):
    tn.save({"w": tn.ones(2)}, tmp_path / "w.pt")
    assert tn.load(tmp_path / "w.pt", map_location=map_location)["w"].device == "cpu"


@pytest.mark.gpu
def test_map_location_gpu_puts_every_tensor_on_the_gpu(tmp_path):
    tn.save({"w": tn.ones(2), "nested": [tn.zeros(3)]}, tmp_path / "w.pt")
    loaded = tn.load(tmp_path / "w.pt", map_location="cuda")
    assert loaded["w"].device == "gpu" and loaded["nested"][0].device == "gpu"
    tn.save(loaded, tmp_path / "from_gpu.pt")                  # and saves from the GPU
    assert tn.load(tmp_path / "from_gpu.pt")["w"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("value, message", [
    ({"model": tn.nn.Linear(2, 2)}, r"save: the object\['model'\] is a "
                                    r"tinynet.nn.linear.Linear: .* save module.state_dict\(\)"),
    ({"args": argparse.Namespace(lr=0.1)}, r"the object\['args'\] is a argparse.Namespace"),
    ([1, {object(): 2}], r"save: the object\[1\] has a key of type object"),
    ({"t": np.zeros(2, np.uint16)}, r"the object\['t'\] is a tensor of dtype uint16, which "
                                    r"has no PyTorch storage type"),
])
def test_what_weights_only_loading_would_refuse_is_not_saved(tmp_path, value, message):
    path = tmp_path / "keep.pt"
    tn.save({"old": 1}, path)
    with pytest.raises(TypeError, match=message):
        tn.save(value, path)
    assert tn.load(path) == {"old": 1}                          # the last good file is kept


def test_a_pickled_object_is_refused_on_loading(torch, tmp_path):
    torch.save({"args": argparse.Namespace(lr=0.1)}, tmp_path / "args.pt")
    with pytest.raises(UnsafePickleError, match="refusing to load argparse.Namespace"):
        tn.load(tmp_path / "args.pt")


def test_files_that_are_not_checkpoints_say_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="load: no such file: .*missing.pt"):
        tn.load(tmp_path / "missing.pt")
    (tmp_path / "plain.pt").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(TorchFormatError, match="plain.pt is not a PyTorch checkpoint"):
        tn.load(tmp_path / "plain.pt")
    tn.save({"w": tn.ones(2)}, tmp_path / "w.pt")
    with pytest.raises(ValueError, match="load: map_location 'mps' is not a device tinynet has"):
        tn.load(tmp_path / "w.pt", map_location="mps")


def test_pytorchs_legacy_format_is_named_from_a_path_or_a_stream(torch, tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    message = r"load: .*legacy.pt uses PyTorch's legacy \(pre-1.6\) format"
    with pytest.raises(TorchFormatError, match=message):
        tn.load(tmp_path / "legacy.pt")
    with open(tmp_path / "legacy.pt", "rb") as stream, \
            pytest.raises(TorchFormatError, match=message):
        tn.load(stream)
