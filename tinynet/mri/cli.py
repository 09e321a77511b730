"""Command-line pieces the commands share (``tinynet predict``, ``evaluate``, ``pack``, the
training examples).

Every command follows one rule for bad input: one clear line on stderr and
exit code 2, never a traceback.  ``main()`` functions raise ``UsageError``
(or one of the library's input errors, see ``INPUT_ERRORS``) and ``run_main``
turns it into that line::

    def main(argv=None, prog=None):
        return cli.run_main(lambda argv: run(build_parser(prog).parse_args(argv)), argv, prog)

    if __name__ == "__main__":
        sys.exit(main())
"""
import argparse
import os
import sys

from tinynet import backend
from . import parallel
from .data import DataError
from tinynet.io import CheckpointError, SafetensorsError, TorchFormatError

__all__ = ["ArgumentParser", "UsageError", "INPUT_ERRORS", "fail", "run_main", "check_device",
           "add_device_argument", "add_prediction_arguments", "add_threshold_arguments",
           "PIPELINE_DEFAULTS", "fill_pipeline_settings", "apply_shipped_settings",
           "check_output_file", "existing_path",
           "positive_int", "non_negative_int", "positive_float", "probability"]


class UsageError(ValueError):
    """A bad argument or input file: reported as one line, exit code 2."""


#: Errors that mean "your input is wrong" (a bad file, folder, checkpoint or
#: device), not "tinynet has a bug": reported in one line with exit code 2.
INPUT_ERRORS = (UsageError, DataError, CheckpointError, SafetensorsError, TorchFormatError,
                FileNotFoundError, NotADirectoryError, IsADirectoryError, FileExistsError,
                PermissionError, backend.DeviceError)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, but a bad argument is one line (not the whole usage) and exit code 2."""

    def error(self, message):
        fail(f"{message} (see --help)", prog=self.prog)


def fail(message, prog=None):
    """Print ``<prog>: error: message`` to stderr and exit with code 2 (argparse's convention).

    Under ``mpiexec -n N`` every rank meets the same bad argument: rank 0 alone prints
    the line, and every rank exits with code 2.
    """
    prog = prog or os.path.basename(sys.argv[0] or "tinynet")
    if parallel.is_main():
        print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def run_main(main, argv=None, prog=None):
    """Call ``main(argv)``; input errors become one line, ``<prog>: error: ...``, and exit code 2.

    ``prog`` names the command in that line (default: the script's file name).
    Returns main's return value (the exit code, 0 if it returns None).
    """
    try:
        code = main(argv)
    except INPUT_ERRORS as exc:
        fail(_one_line(exc), prog=prog)
    return 0 if code is None else code


def _one_line(exc):
    text = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]  # KeyError's str() adds quotes
    return " ".join(text.split())


def check_device(name):
    """``"cpu"`` or ``"gpu"``; for the GPU, check now that CuPy and a GPU are there.

    Raises DeviceError with the reason (CuPy missing, CUDA unusable, no GPU),
    so a run fails before it loads any data rather than at its first batch.
    """
    device = backend.normalize_device(name)
    if device == "gpu":
        backend.xp_for_device("gpu")
    return device


def add_device_argument(parser):
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu", "cuda"],
                        help="where to run: cpu (NumPy) or gpu (CuPy; needs "
                             "`pip install tinynet[gpu]` and a CUDA GPU). Default: cpu")


def add_prediction_arguments(parser):
    """The flags of ``tinynet predict`` and ``evaluate`` that choose the models and thresholds.

    --classifier, --segmenter, --device, --cls-threshold, --seg-threshold,
    --min-area, --min-component, --tta: the arguments of ``load_models`` and ``TwoStagePredictor``.
    """
    parser.add_argument("--classifier", metavar="CKPT",
                        help="classifier checkpoint (best.npz of examples/train_classifier.py)")
    parser.add_argument("--segmenter", metavar="CKPT",
                        help="segmenter checkpoint (best.npz of examples/train_resunet.py). "
                             "When neither --classifier nor --segmenter is given, the shipped "
                             "models (tinynet/mri/weights/classifier.npz and segmenter.npz, "
                             "installed with the package) are used")
    add_device_argument(parser)
    add_threshold_arguments(parser)


def add_threshold_arguments(parser):
    """The flags that say when a slice and a pixel are called tumour (``TwoStagePredictor``'s):
    --rule, --cls-threshold, --seg-threshold, --min-area, --min-component, --tta.

    They default to None, so that a command can tell what the user gave: it must call
    ``fill_pipeline_settings`` (or ``apply_shipped_settings``) before using them."""
    parser.add_argument("--rule", choices=["classifier", "segmenter", "both", "either"],
                        help="with both models, when a slice is called tumour: 'classifier' "
                             "(its probability >= --cls-threshold, the default), 'both' (that "
                             "and a mask of at least max(--min-area, 1) pixels), 'either' (one "
                             "of the two) or 'segmenter' (the mask alone). `tinynet crossval "
                             "tune` chooses it by cross-validation; with the shipped models the "
                             "default of this and the flags below comes from their "
                             "pipeline.json when there is one")
    parser.add_argument("--cls-threshold", type=probability, metavar="P",
                        help="a slice is called tumour when its probability >= P (default: "
                             "the classifier checkpoint's own threshold, usually 0.5)")
    parser.add_argument("--seg-threshold", type=probability, metavar="P",
                        help="a pixel is tumour when its probability >= P (default: the "
                             "segmenter checkpoint's own threshold, usually 0.5)")
    parser.add_argument("--min-area", type=non_negative_int, metavar="PIXELS",
                        help="clear predicted masks smaller than this many pixels; with a "
                             "segmenter alone a slice is called tumour when its mask keeps at "
                             "least max(PIXELS, 1) pixels (default 0)")
    parser.add_argument("--min-component", type=non_negative_int, metavar="PIXELS",
                        help="remove connected tumour regions smaller than this many pixels "
                             "from each mask before --min-area is applied (default 0: off)")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction,
                        help="test-time augmentation: average the segmenter over the slice and "
                             "its mirror image (twice the segmentation time); --no-tta turns "
                             "it off where pipeline.json turns it on (default: off)")


#: The settings of --rule, --cls-threshold, ... and their values when nobody gives them
#: (None: the predictor's own default, e.g. each checkpoint's threshold).
PIPELINE_DEFAULTS = {"rule": None, "cls_threshold": None, "seg_threshold": None,
                     "min_area": 0, "min_component": 0, "tta": False}


def fill_pipeline_settings(args, settings=None):
    """Give every pipeline flag the user left out its value from ``settings`` (the shipped
    models' pipeline.json, chosen by cross-validation), else its default, and set
    ``args.area_size``: the file's (its min_area and min_component were counted at that side,
    and are scaled to each slice) unless --min-area or --min-component was given (then
    pixels of each slice).  Returns the names of the flags taken from ``settings``."""
    settings = settings or {}
    areas_given = args.min_area is not None or args.min_component is not None
    taken = []
    for key, default in PIPELINE_DEFAULTS.items():
        if getattr(args, key) is None:
            if settings.get(key) is not None:
                setattr(args, key, settings[key])
                taken.append(key)
            else:
                setattr(args, key, default)
    args.area_size = None if areas_given else settings.get("area_size")
    return taken


def apply_shipped_settings(args, shipped, folder):
    """predict/evaluate: with the shipped models (``shipped``), their pipeline.json fills the
    flags left out (and says so on stderr); a rule that needs a model the shipped folder
    lacks is left out.  Always fills the defaults."""
    from .inference import SHIPPED_SETTINGS, shipped_settings   # (inference imports cli)
    settings = dict(shipped_settings()) if shipped else {}
    if settings.get("rule") in ("both", "either") and (args.classifier is None
                                                       or args.segmenter is None):
        settings.pop("rule")
    taken = fill_pipeline_settings(args, settings)
    if taken:
        print(f"the shipped models' settings ({folder / SHIPPED_SETTINGS}): " + ", ".join(
            f"{key} {getattr(args, key)}" for key in taken), file=sys.stderr)
    return taken


def check_output_file(flag, path):
    """UsageError unless ``path`` (or None) can be written as a file: not a folder, and its
    folder exists or can be made."""
    if path is None:
        return
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path} is a folder; give a file name")
    parent = os.path.dirname(os.path.abspath(path))
    existing = parent
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"{flag} {path}: {existing} is a file, not a folder")


def check_output_folder(flag, path):
    """UsageError unless ``path`` is a folder or can be made one: neither it nor a folder
    above it may be a file."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"{flag} {path}: {existing} is a file, not a folder")


# -- argparse types: a bad value is reported by argparse itself (exit code 2) --

def existing_path(text):
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"no such file or folder: {text}")
    return text


def positive_int(text):
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text):
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def positive_float(text):
    value = _number(text, float)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def probability(text):
    value = _number(text, float)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _number(text, kind):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
