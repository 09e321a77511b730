"""``tinynet pack``: resize a kaggle_3m folder into one compressed .npz file.

    tinynet pack kaggle_3m lgg128.npz --size 128      # or: python -m tinynet pack ...

Reading and resizing thousands of TIFFs takes a while on every run; a packed
file loads in one go (``tinynet.mri.data.open_dataset`` and the training
scripts' ``--data`` read it; from Python, ``tinynet.mri.data.pack`` writes one).
Prints one summary line; exit code 0 on success, 2 with a one-line message on
bad input.
"""
import os

from .. import cli
from ..data import load_packed, pack

__all__ = ["build_parser", "main", "run"]


def build_parser(prog=None):
    """The argument parser of ``tinynet pack`` (``prog``: the name its messages use)."""
    parser = cli.ArgumentParser(
        prog=prog,
        description="Resize every slice of a kaggle_3m folder and write them, with their "
                    "masks and patient ids, to one compressed .npz (read it back with "
                    "tinynet.mri.data.load_packed or open_dataset).",
        epilog="Exit codes: 0 done, 2 bad arguments or data.")
    parser.add_argument("src", help="the kaggle_3m folder (one sub-folder per patient)")
    parser.add_argument("dst", help="the .npz file to write (replaced atomically)")
    parser.add_argument("--size", type=cli.positive_int, default=128,
                        help="side of the resized slices in pixels (default: 128)")
    return parser


def main(argv=None, prog=None):
    """Run ``tinynet pack`` on ``argv`` (default: the command line); returns the exit code.

    Bad input exits with code 2 and one line on stderr, ``<prog>: error: ...``.
    """
    return cli.run_main(lambda argv: run(build_parser(prog).parse_args(argv)), argv, prog)


def run(args):
    """Pack ``args.src`` into ``args.dst`` and print one line about what was written."""
    pack(args.src, args.dst, size=args.size)
    dataset = load_packed(args.dst)  # read back: the summary describes what was written
    print(f"{args.dst}: {len(dataset.patients)} patients, {len(dataset)} slices "
          f"({int(dataset.has_tumour.sum())} with tumour) at {args.size}x{args.size}, "
          f"{os.path.getsize(args.dst) / 1e6:.1f} MB")
    return 0
