"""`tinynet pack` (tinynet.mri.commands.pack): `python -m tinynet pack` packs a kaggle_3m folder,
its help, and its one-line errors."""
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from datahelpers import assert_same_dataset, small_root  # noqa: F401 (a fixture)
from tinynet.mri.data import load_packed, read_kaggle3m

REPO = Path(__file__).resolve().parents[2]


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
