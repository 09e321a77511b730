"""Convert PyTorch / safetensors weights into a tinynet checkpoint (.npz).

    python examples/convert_weights.py resnet18-f37072fd.pth resnet18.npz --arch resnet18
    python examples/convert_weights.py model.safetensors model.npz

Reads SRC (.pth/.pt via the torch-free reader, .safetensors, or .npz), drops
BatchNorm's ``num_batches_tracked`` counters (tinynet does not need them),
casts floating-point weights to float32 (tinynet's default; --keep-dtype to
keep them), and with --arch checks every key and shape against the tinynet
model before writing DST atomically.  Load the result with
``tinynet.io.load_checkpoint(DST)["model"]`` or ``tinynet.io.load_state_dict_file(DST)``.
"""
import argparse
import os
import sys
from collections import OrderedDict

import numpy as np

# Run from a clone without `pip install -e .`: the repository's own tinynet comes first.
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tinynet.io as tio  # noqa: E402

ARCHES = ("resnet18", "resnet34", "resnet50")
# Errors that mean "bad input file or arguments", reported without a traceback.
_USER_ERRORS = (OSError, ValueError, KeyError, tio.UnsafePickleError)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", help="weights to read: .pth, .pt, .safetensors or .npz")
    parser.add_argument("dst", help="tinynet checkpoint to write (.npz)")
    parser.add_argument("--arch", choices=ARCHES,
                        help="check keys and shapes against this tinynet model first")
    parser.add_argument("--keep-dtype", action="store_true",
                        help="keep float16/float64 weights instead of casting to float32")
    args = parser.parse_args(argv)
    if not args.dst.endswith(".npz"):
        parser.error(f"DST must end in .npz, got {args.dst!r}")
    return args


def convert(state, keep_dtype=False):
    """Drop num_batches_tracked and (unless keep_dtype) cast floats to float32."""
    out = OrderedDict()
    for key, array in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        if not keep_dtype and array.dtype.kind == "f":
            array = array.astype(np.float32, copy=False)
        out[key] = array
    return out


def verify(state, arch):
    """Compare keys/shapes with tinynet's ``arch``; return a list of problems ([] = fits).

    Returns None when tinynet.models is not available, so the caller can say
    that nothing was checked.
    """
    try:
        import tinynet.models as models  # imported lazily: optional for conversion
        build = getattr(models, arch)
    except (ImportError, AttributeError):
        return None
    # Size the head like the weights, so a fine-tuned 2-class model verifies too.
    num_classes = state["fc.weight"].shape[0] if "fc.weight" in state else 1000
    expected = OrderedDict((k, tuple(v.shape)) for k, v in build(num_classes=num_classes)
                           .state_dict().items() if not k.endswith("num_batches_tracked"))
    problems = [f"missing key {k!r} (shape {s})" for k, s in expected.items() if k not in state]
    problems += [f"unexpected key {k!r}" for k in state if k not in expected]
    problems += [f"{k!r}: weights have shape {state[k].shape}, {arch} expects {s}"
                 for k, s in expected.items() if k in state and tuple(state[k].shape) != s]
    return problems


def main(argv=None):
    """Run the conversion; returns the process exit code (0 ok, 1 error)."""
    args = parse_args(argv)
    try:
        state = convert(tio.load_state_dict_file(args.src), args.keep_dtype)
    except _USER_ERRORS as exc:
        print(f"convert_weights: error: cannot read {args.src}: {exc}", file=sys.stderr)
        return 1
    if args.arch:
        problems = verify(state, args.arch)
        if problems is None:
            print(f"convert_weights: tinynet.models.{args.arch} is not available; "
                  "skipping the key/shape check", file=sys.stderr)
        elif problems:
            shown = problems[:20] + ([f"... and {len(problems) - 20} more"]
                                     if len(problems) > 20 else [])
            print(f"convert_weights: error: {args.src} does not fit {args.arch} "
                  f"({len(problems)} problem(s)):\n  " + "\n  ".join(shown), file=sys.stderr)
            return 1
    metadata = {"source": os.path.basename(args.src), "arch": args.arch,
                "converted_by": "examples/convert_weights.py"}
    try:
        tio.save_checkpoint(args.dst, model=state, metadata=metadata)
    except _USER_ERRORS as exc:
        print(f"convert_weights: error: cannot write {args.dst}: {exc}", file=sys.stderr)
        return 1
    n_params = sum(int(a.size) for a in state.values())
    print(f"wrote {len(state)} arrays ({n_params:,} values) to {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
