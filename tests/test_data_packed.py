"""pack / load_packed, the pack command line, and open_dataset."""
import importlib.util
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinynet.mri.data import DataError, load_packed, make_phantom, open_dataset, pack, read_kaggle3m
from test_data_kaggle3m import PATIENT_A, PATIENT_B, write_kaggle3m

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def small_root(tmp_path):
    return write_kaggle3m(tmp_path / "kaggle_3m", {PATIENT_A: [1, 2, 10], PATIENT_B: [4, 5]})


def assert_same_dataset(a, b):
    assert a.patient_of == b.patient_of and a.names == b.names and a.image_size == b.image_size
    for x, y in zip(a.arrays(), b.arrays()):
        assert x.dtype == y.dtype == np.uint8
        np.testing.assert_array_equal(x, y)


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


def test_open_dataset_every_kind(small_root, tmp_path):
    phantom = open_dataset(None, size=32, seed=3)
    assert phantom.image_size == 32 and phantom.patients[0].startswith("PHANTOM_")
    assert_same_dataset(open_dataset("phantom", size=32, seed=3), phantom)
    assert_same_dataset(open_dataset(small_root, size=8), read_kaggle3m(small_root, size=8))
    packed = pack(small_root, tmp_path / "small.npz", size=8)
    assert_same_dataset(open_dataset(packed), load_packed(packed))
    smaller = open_dataset(str(packed), size=4)
    assert smaller.image_size == 4 and smaller.arrays()[1].shape == (5, 4, 4)


def test_open_dataset_bad_paths(tmp_path):
    with pytest.raises(DataError, match="missing_data: no such file or folder"):
        open_dataset(tmp_path / "missing_data")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="notes.txt: not a folder or an .npz file"):
        open_dataset(tmp_path / "notes.txt")


def run_cli(*args):
    """``python -m tinynet pack ARGS`` in a subprocess, with this repository's tinynet."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "tinynet", "pack", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_cli_help():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "usage: python -m tinynet pack" in result.stdout and "--size" in result.stdout


def test_cli_packs(small_root, tmp_path):
    result = run_cli(small_root, tmp_path / "out.npz", "--size", "8")
    assert result.returncode == 0, result.stderr
    assert "2 patients, 5 slices (3 with tumour) at 8x8" in result.stdout
    assert_same_dataset(load_packed(tmp_path / "out.npz"), read_kaggle3m(small_root, size=8))


def test_cli_bad_path_is_one_line_and_exit_code_2(tmp_path):
    result = run_cli(tmp_path / "no_such_data", tmp_path / "out.npz")
    assert result.returncode == 2
    expected = f"python -m tinynet pack: error: {tmp_path / 'no_such_data'}: no such folder"
    assert result.stderr.strip().splitlines() == [expected]
    assert "Traceback" not in result.stderr and not (tmp_path / "out.npz").exists()


def test_cli_bad_size(tmp_path, monkeypatch, capsys):
    # In-process through runpy, which is what `python -m` uses (a subprocess costs seconds).
    monkeypatch.setattr(sys, "argv", ["tinynet", "pack", str(tmp_path), str(tmp_path / "out.npz"),
                                      "--size", "zero"])
    with pytest.raises(SystemExit) as info:
        runpy.run_module("tinynet", run_name="__main__")
    assert info.value.code == 2
    assert capsys.readouterr().err == ("python -m tinynet pack: error: argument --size: expected "
                                       "an integer, got 'zero' (see --help)\n")
    assert not (tmp_path / "out.npz").exists()


def test_the_old_pack_module_is_gone():
    """`python -m tinynet.mri.data.pack` was a module named like the function it did not hold."""
    import tinynet.mri.data
    assert tinynet.mri.data.pack is pack
    assert importlib.util.find_spec("tinynet.mri.data.pack") is None
