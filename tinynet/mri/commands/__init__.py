"""The ``tinynet`` command: the brain-MRI application's tools, one subcommand each.

    tinynet predict SLICE_OR_FOLDER --out DIR     # the shipped models unless others are given
    tinynet evaluate kaggle_3m --json report.json --html report.html
    tinynet pack kaggle_3m lgg128.npz --size 128
    tinynet crossval train segmenter kaggle_3m --out runs/cv/seg -- --epochs 4
    tinynet --help                                # the commands, one line each
    tinynet predict --help                        # one command's flags

``python -m tinynet ...`` is the same (tinynet/__main__.py); the console script
``tinynet`` is declared in setup.cfg.  ``main`` reads the command's name and
hands the rest of the arguments to that command's module (``predict``,
``evaluate``, ``pack``, ``crossval`` in this folder, each with ``build_parser(prog)`` and
``main(argv, prog)``); only the chosen module is imported, so ``--help`` is quick.
"""
import importlib
import sys

from tinynet import __version__
from .. import cli

__all__ = ["COMMANDS", "build_parser", "main"]

#: Each command's name (the module of this package that holds it) and its line in --help.
COMMANDS = {
    "predict": "find and outline tumours in MRI slices",
    "evaluate": "score models on slices with true masks",
    "pack": "resize a kaggle_3m folder into one .npz",
    "crossval": "k-fold cross-validation by patient: train, score, compare",
}


def build_parser(prog="tinynet"):
    """The parser of the command's first argument: a command's name, --help or --version."""
    parser = cli.ArgumentParser(
        prog=prog, description="Brain-MRI tumour detection with tinynet models.",
        epilog=f"`{prog} COMMAND --help` shows a command's flags. Exit codes: 0 done, "
               "2 bad arguments or input.")
    parser.add_argument("--version", action="version", version=f"tinynet {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND",
                                     required=True)
    for name, summary in COMMANDS.items():
        # Only the name is parsed here: the command's own parser reads the rest.
        commands.add_parser(name, help=summary, add_help=False)
    return parser


def main(argv=None, prog="tinynet"):
    """Run ``prog COMMAND ARGS...`` (``argv`` default: the command line); returns the exit code.

    ``prog`` is how messages name the program: ``tinynet`` for the console
    script, ``python -m tinynet`` for the module.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    name = build_parser(prog).parse_args(argv[:1]).command  # exits on --help, --version, errors
    command = importlib.import_module(f"{__name__}.{name}")
    return command.main(argv[1:], prog=f"{prog} {name}")
