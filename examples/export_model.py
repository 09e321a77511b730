"""Turn a training checkpoint into a small file to ship or share.

    python examples/export_model.py runs/resunet/best.npz tinynet/mri/weights/segmenter.npz
    python examples/export_model.py runs/classifier/best.npz tinynet/mri/weights/classifier.npz \
        --threshold 0.42            # the Youden threshold evaluate.py printed on validation
    python examples/export_model.py runs/seg-seed0/last.npz runs/seg-seed1/last.npz \
        runs/seg-seed2/last.npz tinynet/mri/weights/segmenter.npz      # an ensemble of 3

The exported file holds the network's weights (float16 unless --float32), its
spec (architecture, input size, normalization, threshold) and a record of how
it was trained (settings, epoch, validation metrics); no optimizer state, so
it cannot be resumed.  Several checkpoints of the same network (e.g. one recipe
trained with different --seed) make one ensemble file, whose probabilities are
the mean of theirs (tinynet/mri/ensemble.py); they must be trained on the same
patients (the same --split, or --val-fraction 0), so that they are fed alike.
predict.py and evaluate.py load it like any best.npz, and the files in
tinynet/mri/weights/ are the ones they use when no model is given.
"""
import os
import sys

# Run from a clone without `pip install -e .`: the repository's own tinynet comes first.
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from tinynet.mri import cli  # noqa: E402
from tinynet.mri.architectures import ENSEMBLES  # noqa: E402
from tinynet.mri.checkpoint import export_ensemble, export_model, read_spec  # noqa: E402


def build_parser():
    parser = cli.ArgumentParser(
        description="Export a training checkpoint (best.npz) as a small weights file.",
        epilog="Exit codes: 0 done, 2 bad arguments or checkpoint.")
    parser.add_argument("checkpoint", type=cli.existing_path, nargs="+",
                        help="best.npz (or last.npz) written by a training script; several "
                             "of the same network make one ensemble")
    parser.add_argument("output", help="the .npz file to write")
    parser.add_argument("--threshold", type=cli.probability, default=None, metavar="P",
                        help="store this decision threshold instead of the checkpoint's own "
                             "(for a classifier: the one chosen on validation patients; for "
                             "an ensemble the default is the first member's)")
    parser.add_argument("--float32", action="store_true",
                        help="keep float32 weights (default: float16, half the size)")
    return parser


def main(argv=None):
    """Run the script on ``argv`` (default: the command line); bad input exits with code 2."""
    return cli.run_main(export, argv)


def export(argv):
    args = build_parser().parse_args(argv)
    cli.check_output_file("output", args.output)
    dtype = np.float32 if args.float32 else np.float16
    if len(args.checkpoint) == 1:
        path = export_model(args.checkpoint[0], args.output, dtype=dtype,
                            threshold=args.threshold)
    else:
        path = export_ensemble(args.checkpoint, args.output, dtype=dtype,
                               threshold=args.threshold)
    spec = read_spec(path)
    thresholds = sorted({read_spec(c)["threshold"] for c in args.checkpoint})
    if args.threshold is None and len(thresholds) > 1:
        print(f"note: the members' thresholds differ ({', '.join(f'{t:g}' for t in thresholds)}); "
              f"the ensemble keeps the first one's, {spec['threshold']:g} (--threshold P to "
              "choose)")
    what = f"{spec['arch']} {spec['arch_args']}"
    if spec["arch"] in ENSEMBLES.values():
        members = spec["arch_args"]
        what = f"an ensemble of {members['members']} {members['member_arch']} " \
               f"{members['member_args']}"
    print(f"wrote {path}: {what} for {spec['task']}, input "
          f"{spec['input_size']}x{spec['input_size']}, threshold {spec['threshold']:g}, "
          f"{np.dtype(dtype).name} weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
