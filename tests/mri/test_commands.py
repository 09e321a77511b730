"""The `tinynet` command (tinynet.mri.commands, its __init__.py): dispatch to predict / evaluate /
pack, their help and one-line errors, `python -m tinynet`, the example scripts that run the same
code, and the framework's `import tinynet` staying free of the application.  Each command's own
tests: test_commands_predict.py, test_commands_evaluate.py, test_commands_pack.py."""
import runpy
import sys
from pathlib import Path

import pytest

import commandhelpers
from commandhelpers import write_png
from tinynet.mri import commands
from tinynet.mri.commands import evaluate, pack, predict

REPO = Path(__file__).resolve().parents[2]


def run_tinynet(capsys, *argv):
    """``tinynet ARGV`` in-process: (exit code, stdout, stderr); --help exits like the command."""
    try:
        code = commands.main(list(argv))
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_command_on_one_line(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")       # argparse wraps to the terminal's width
    code, out, err = run_tinynet(capsys, "--help")
    assert code == 0 and err == ""
    assert out.startswith("usage: tinynet ")
    lines = out.splitlines()
    for name, summary in commands.COMMANDS.items():
        assert [line.split() for line in lines if line.split()[:1] == [name]] == \
            [[name, *summary.split()]]
    assert set(commands.COMMANDS) == {"predict", "evaluate", "pack", "crossval"}


@pytest.mark.parametrize("name, module", [("predict", predict), ("evaluate", evaluate),
                                          ("pack", pack)])
def test_a_commands_help_is_its_own_full_help(capsys, name, module):
    code, out, _ = run_tinynet(capsys, name, "--help")
    assert code == 0
    assert out == module.build_parser(prog=f"tinynet {name}").format_help()
    assert out.startswith(f"usage: tinynet {name} ")


def test_predict_help_names_every_flag(capsys):
    _, out, _ = run_tinynet(capsys, "predict", "-h")
    for flag in ("--out", "--classifier", "--segmenter", "--device", "--cls-threshold",
                 "--seg-threshold", "--min-area", "--min-component", "--tta", "--gradcam",
                 "--batch-size"):
        assert flag in out


@pytest.mark.parametrize("argv, message", [
    ([], "tinynet: error: the following arguments are required: COMMAND"),
    (["train"], "tinynet: error: argument COMMAND: invalid choice: 'train'"),
    (["--out", "x"], "tinynet: error: "),
])
def test_no_or_unknown_command_is_one_line_and_exit_code_2(capsys, argv, message):
    code, out, err = run_tinynet(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(message) and len(err.splitlines()) == 1


def test_version(capsys):
    import tinynet
    code, out, _ = run_tinynet(capsys, "--version")
    assert code == 0 and out.strip() == f"tinynet {tinynet.__version__}"


def test_dispatch_runs_predict_and_names_it_in_errors(tmp_path, capsys, tiny_checkpoint_files):
    write_png(tmp_path / "slice.png")
    code, out, _ = run_tinynet(capsys, "predict", str(tmp_path / "slice.png"), "--out",
                               str(tmp_path / "out"), "--segmenter", tiny_checkpoint_files[1])
    assert code == 0 and "slices called tumour" in out
    assert (tmp_path / "out" / "summary.json").exists()
    assert (tmp_path / "out" / "slice_pred_mask.png").exists()

    code, _, err = run_tinynet(capsys, "predict", str(tmp_path / "nope.png"), "--out",
                               str(tmp_path / "out"))
    assert code == 2
    assert err == f"tinynet predict: error: argument input: no such file or folder: " \
                  f"{tmp_path / 'nope.png'} (see --help)\n"
    code, _, err = run_tinynet(capsys, "evaluate", "--subset", "val")
    assert code == 2
    assert err == "tinynet evaluate: error: --subset needs --split FILE (the split.json of a " \
                  "training run)\n"


def test_python_m_tinynet_runs_the_commands(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["tinynet", "evaluate", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("tinynet", run_name="__main__")
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: python -m tinynet evaluate ")


@pytest.mark.parametrize("name", ["predict", "evaluate"])
def test_the_example_scripts_run_the_package_command(name, capsys, monkeypatch):
    script = commandhelpers.load_script(name)
    assert script.main is getattr(commands, name).main
    assert f"tinynet/mri/commands/{name}.py" in script.__doc__   # says where the code is
    monkeypatch.setattr(sys, "argv", [f"{name}.py", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(REPO / "examples" / f"{name}.py"), run_name="__main__")
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {name}.py ")


def test_an_example_script_error_names_the_script(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["examples/predict.py", str(tmp_path / "nope.png"),
                                      "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(REPO / "examples" / "predict.py"), run_name="__main__")
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == ("predict.py: error: argument input: no such file or "
                                       f"folder: {tmp_path / 'nope.png'} (see --help)\n")
