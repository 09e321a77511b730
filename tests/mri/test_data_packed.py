"""tinynet.mri.data.packed: pack / load_packed, the one-file .npz of a dataset (its command
line is test_commands_pack.py, open_dataset test_data_sources.py)."""
import importlib.util
import os

import numpy as np
import pytest

from datahelpers import PATIENT_A, PATIENT_B, assert_same_dataset, small_root  # noqa: F401
from tinynet.mri.data import DataError, load_packed, make_phantom, pack, read_kaggle3m


def test_pack_round_trip(small_root, tmp_path):
    dst = tmp_path / "small.npz"
    assert pack(small_root, dst, size=8) == dst
    packed = load_packed(dst)
    assert_same_dataset(packed, read_kaggle3m(small_root, size=8))
    assert packed.paths == [None] * 5 and packed.patients == [PATIENT_A, PATIENT_B]
    assert sorted(os.listdir(tmp_path)) == ["kaggle_3m", "small.npz"]  # no temporary left
    with np.load(dst) as archive:
        assert str(archive["format"]) == "tinynet-slices" and int(archive["size"]) == 8


def test_pack_a_dataset_resizes_it(tmp_path):
    phantom = make_phantom(n_patients=2, slices_per_patient=3, size=32)
    packed = load_packed(pack(phantom, tmp_path / "phantom.npz", size=16))
    assert packed.image_size == 16 and packed.names == phantom.names
    assert packed.arrays()[0].shape == (6, 16, 16, 3)


def test_pack_replaces_atomically(small_root, tmp_path, monkeypatch):
    dst = tmp_path / "data.npz"
    pack(small_root, dst, size=8)
    before = dst.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np, "savez_compressed", disk_full)
    with pytest.raises(DataError, match="data.npz: cannot write the packed file "
                                        r"\(No space left on device\)"):
        pack(small_root, dst, size=4)
    assert dst.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["data.npz", "kaggle_3m"]


def test_pack_bad_arguments(small_root, tmp_path):
    with pytest.raises(DataError, match="data.zip: the packed file's name must end in .npz"):
        pack(small_root, tmp_path / "data.zip")
    with pytest.raises(DataError, match="folder .*nowhere does not exist"):
        pack(small_root, tmp_path / "nowhere" / "data.npz")
    with pytest.raises(DataError, match="size must be given"):
        pack(small_root, tmp_path / "data.npz", size=None)


def write_npz(path, **arrays):
    np.savez_compressed(path, **arrays)
    return path


def good_arrays(n=2, size=4):
    return {"format": np.array("tinynet-slices"), "version": np.array(1), "size": np.array(size),
            "images": np.zeros((n, size, size, 3), np.uint8),
            "masks": np.zeros((n, size, size), np.uint8),
            "patient_of": np.array(["P_AA_1"] * n),
            "names": np.array([f"P_AA_1_{k}" for k in range(n)])}


@pytest.mark.parametrize("change, message", [
    ({"names": None, "masks": None}, "not a packed dataset: missing masks, names"),
    ({"format": np.array("something-else")},
     "format is .*something-else.*expected 'tinynet-slices'"),
    ({"version": np.array(2)}, "format version 2 is newer"),
    ({"masks": np.zeros((3, 4, 4), np.uint8)},
     r"masks has shape \(3, 4, 4\), expected \(2, 4, 4\)"),
    ({"size": np.array(5)}, r"images has shape \(2, 4, 4, 3\), expected \(2, 5, 5, 3\)"),
    ({"images": np.zeros((2, 4, 4, 3), np.float32)}, "images are float32, expected uint8"),
    ({"masks": np.full((2, 4, 4), 255, np.uint8)}, "masks hold the value 255, expected only 0/1"),
])
def test_load_packed_checks_the_file(tmp_path, change, message):
    arrays = {k: v for k, v in {**good_arrays(), **change}.items() if v is not None}
    path = write_npz(tmp_path / "bad_pack.npz", **arrays)
    with pytest.raises(DataError, match=f"bad_pack.npz: {message}"):
        load_packed(path)


def test_load_packed_unreadable_or_missing(tmp_path):
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DataError, match="text.npz: not a readable .npz archive"):
        load_packed(tmp_path / "text.npz")
    with pytest.raises(DataError, match="absent.npz: no such file"):
        load_packed(tmp_path / "absent.npz")


def test_the_old_pack_module_is_gone():
    """`python -m tinynet.mri.data.pack` was a module named like the function it did not hold."""
    import tinynet.mri.data
    assert tinynet.mri.data.pack is pack
    assert importlib.util.find_spec("tinynet.mri.data.pack") is None
