"""examples/export_model.py, the command line of tinynet.mri.checkpoint.export_model:
--threshold, --float32, the output's folder made, and its one-line errors (exit code 2)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinynet as tn
from commandhelpers import expect_exit_2, load_script
from mrihelpers import float_entries, save_segmenter
from tinynet.io import CheckpointError, load_checkpoint_metadata
from tinynet.mri import cli
from tinynet.mri.checkpoint import export_model, read_spec

REPO = Path(__file__).resolve().parents[2]
export_script = load_script("export_model")


def run_export(argv):
    """examples/export_model.py as its command line runs it (cli.run_main around main)."""
    return cli.run_main(export_script.main, argv)


def test_cli_threshold_replaces_the_spec_threshold(tmp_path, capsys):
    """--threshold 0.3 is stored in the exported spec, the rest of the spec is unchanged."""
    source, spec = save_segmenter(tmp_path / "best.npz", arch_args={"base": 4, "depth": 2})
    out = tmp_path / "segmenter.npz"
    assert run_export([source, str(out), "--threshold", "0.3"]) == 0
    exported = read_spec(out)
    assert exported["threshold"] == 0.3
    assert {k: v for k, v in exported.items() if k != "threshold"} == \
        {k: v for k, v in spec.items() if k != "threshold"}
    printed = capsys.readouterr().out
    assert str(out) in printed and "threshold 0.3" in printed and "float16" in printed
    assert load_checkpoint_metadata(out)["metadata"]["storage"] == "float16"
    # Without --threshold the checkpoint's own is kept; --float32 keeps float32 weights.
    assert run_export([source, str(tmp_path / "same.npz"), "--float32"]) == 0
    assert read_spec(tmp_path / "same.npz")["threshold"] == spec["threshold"] == 0.5
    assert load_checkpoint_metadata(tmp_path / "same.npz")["metadata"]["storage"] == "float32"
    assert {v.dtype for v in float_entries(tmp_path / "same.npz").values()} == \
        {np.dtype(np.float32)}


def test_cli_creates_the_folder_of_the_output(tmp_path):
    """Exporting to weights/segmenter.npz where weights/ does not exist yet makes the folder."""
    source, _ = save_segmenter(tmp_path / "best.npz", arch_args={"base": 4, "depth": 2})
    out = tmp_path / "weights" / "segmenter.npz"
    assert run_export([source, str(out)]) == 0
    assert read_spec(out)["task"] == "segmentation"


def test_cli_refuses_a_threshold_outside_0_1(tmp_path, capsys):
    """--threshold 1.5 exits with code 2 and one line, writing nothing."""
    source, _ = save_segmenter(tmp_path / "best.npz", arch_args={"base": 4, "depth": 2})
    expect_exit_2(capsys, [source, str(tmp_path / "out.npz"), "--threshold", "1.5"],
                  "must be in [0, 1], got 1.5", script=export_script)
    assert not (tmp_path / "out.npz").exists()
    with pytest.raises(CheckpointError, match="threshold 1.5 is not a probability"):
        export_model(source, tmp_path / "out.npz", threshold=1.5)
    assert not (tmp_path / "out.npz").exists()


def test_export_of_a_checkpoint_without_a_spec_names_the_file(tmp_path, capsys):
    """A plain tn.io checkpoint (no model spec): CheckpointError naming it; exit 2 in the CLI."""
    plain = tmp_path / "plain.npz"
    tn.io.save_checkpoint(plain, model=tn.nn.Linear(3, 2))
    with pytest.raises(CheckpointError, match="not one of the MRI pipeline") as error:
        export_model(plain, tmp_path / "out.npz")
    assert str(plain) in str(error.value)
    assert not (tmp_path / "out.npz").exists()
    with pytest.raises(SystemExit) as exit_info:
        run_export([str(plain), str(tmp_path / "out.npz")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert str(plain) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_script_from_the_command_line_reports_a_bad_checkpoint_in_one_line(tmp_path):
    """export_model.py on a checkpoint without a spec: exit 2, one line, no traceback."""
    plain = tmp_path / "plain.npz"
    tn.io.save_checkpoint(plain, model=tn.nn.Linear(3, 2))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(REPO / "examples" / "export_model.py"),
                           str(plain), str(tmp_path / "out.npz")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2
    assert str(plain) in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_missing_input_is_exit_2_naming_the_path(tmp_path, capsys):
    """A checkpoint path that does not exist is exit 2 with the path in the message."""
    missing = tmp_path / "runs" / "best.npz"
    expect_exit_2(capsys, [str(missing), str(tmp_path / "out.npz")],
                  f"no such file or folder: {missing}", script=export_script)
    assert not (tmp_path / "out.npz").exists()
