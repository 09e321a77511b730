"""Command line: pack a kaggle_3m folder into one .npz file.

    python -m tinynet.mri.data.pack kaggle_3m lgg128.npz --size 128

Run this module, do not import it: ``import tinynet.mri.data.pack`` would make
the name ``tinynet.mri.data.pack`` refer to this module instead of the function
``pack`` (call ``tinynet.mri.data.pack(...)`` from Python).  Exit code 0 on
success, 2 with a one-line message on bad input.
"""
import argparse
import os
import sys

from tinynet.mri.data.errors import DataError
from tinynet.mri.data.packed import load_packed, pack


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv=None):
    """Parse ``argv``, pack, print one summary line; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m tinynet.mri.data.pack",
        description="Resize every slice of a kaggle_3m folder and write them, with their "
                    "masks and patient ids, to one compressed .npz (read it back with "
                    "tinynet.mri.data.load_packed or open_dataset).")
    parser.add_argument("src", help="the kaggle_3m folder (one sub-folder per patient)")
    parser.add_argument("dst", help="the .npz file to write (replaced atomically)")
    parser.add_argument("--size", type=_positive_int, default=128,
                        help="side of the resized slices in pixels (default: 128)")
    args = parser.parse_args(argv)
    try:
        pack(args.src, args.dst, size=args.size)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    dataset = load_packed(args.dst)  # read back: the summary describes what was written
    print(f"{args.dst}: {len(dataset.patients)} patients, {len(dataset)} slices "
          f"({int(dataset.has_tumour.sum())} with tumour) at {args.size}x{args.size}, "
          f"{os.path.getsize(args.dst) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
