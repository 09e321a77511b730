"""Which tinynet files and functions one ``nn.Conv2d`` forward + backward runs.

    python benchmarks/trace_conv.py                 # the algorithm choose_algorithm picks
    python benchmarks/trace_conv.py --reference     # under use_algorithm("reference")

A reading aid, not a benchmark: it lists every tinynet source file (and the
number of distinct functions in it) that Python enters while one convolution
layer runs forward and backward, so a learner knows which files to open.
The layer, its input and the output's gradient are made before tracing starts.
"""
import argparse
import os
import sys

import numpy as np

import tinynet as tn

PACKAGE = os.path.dirname(os.path.abspath(tn.__file__))


def trace(reference, channels=16, size=32):
    layer = tn.nn.Conv2d(channels, channels, 3, padding=1)
    x = tn.tensor(np.random.default_rng(0).standard_normal((2, channels, size, size),
                                                           dtype=np.float32), requires_grad=True)
    upstream = np.ones((2, channels, size, size), dtype=np.float32)   # d loss / d output
    functions = set()

    def profile(frame, event, arg):
        if event == "call":
            code = frame.f_code
            if code.co_filename.startswith(PACKAGE):
                functions.add((os.path.relpath(code.co_filename, os.path.dirname(PACKAGE)),
                               code.co_name))

    algorithm = tn.ops.conv.use_algorithm("reference") if reference else None
    if algorithm is not None:
        algorithm.__enter__()
    sys.setprofile(profile)
    try:
        layer(x).backward(upstream)
    finally:
        sys.setprofile(None)
        if algorithm is not None:
            algorithm.__exit__(None, None, None)
    return functions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true",
                        help='trace under tn.ops.conv.use_algorithm("reference")')
    args = parser.parse_args(argv)
    functions = trace(args.reference)
    by_file = {}
    for filename, name in functions:
        by_file.setdefault(filename, set()).add(name)
    for filename in sorted(by_file):
        print(f"{len(by_file[filename]):3d}  {filename}: {', '.join(sorted(by_file[filename]))}")
    root = os.path.dirname(PACKAGE)
    lines = sum(len(open(os.path.join(root, f)).read().splitlines()) for f in by_file)
    print(f"{len(by_file)} files, {len(functions)} functions, {lines} lines in those files")


if __name__ == "__main__":
    main()
