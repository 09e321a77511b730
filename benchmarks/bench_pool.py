"""Pooling and upsampling benchmark: max_pool2d and nearest interpolate, tinynet vs PyTorch.

For each op and shape: forward, and forward+backward (input gradient, from a
fixed random output gradient), in ms, and the ratio tinynet / PyTorch when
torch is importable.  float32, batch 8 unless ``--batch``.  The shapes are
those of a ResNet-18 step at 224x224 (the stem's 3x3/stride-2 max pool) and of
the ResUNet step (2x2 max pools of the encoder, 2x upsampling of the decoder).

As in bench_kernels.py, each framework runs in its own subprocess and the two
alternate round by round (see common.py for why).

    python benchmarks/bench_pool.py            # full run
    python benchmarks/bench_pool.py --quick    # batch 2, 1 round of 3 repeats
    python benchmarks/bench_pool.py --only max_pool2d --json out.json
"""
import json
import os
import sys

import numpy as np

from common import (alternate_workers, machine_description, op_benchmark_arguments,
                    print_table, summarize_ratios, time_cases, timing_rows, torch_available,
                    write_json)

# (name, C, H=W, keyword arguments of max_pool2d)
MAX_POOL_SHAPES = [
    ("resnet stem k3s2p1 64@112", 64, 112, dict(kernel_size=3, stride=2, padding=1)),
    ("resunet k2s2 16@256", 16, 256, dict(kernel_size=2, stride=2)),
    ("resunet k2s2 32@128", 32, 128, dict(kernel_size=2, stride=2)),
    ("resunet k2s2 64@64", 64, 64, dict(kernel_size=2, stride=2)),
]
# (name, C, H=W) for interpolate(scale_factor=2, mode="nearest")
UPSAMPLE_SHAPES = [("nearest x2 256@16", 256, 16), ("nearest x2 32@128", 32, 128)]
OPS = ("max_pool2d", "interpolate")


def make_cases(n, only=None):
    """Every benchmark case: op, name, input and output shapes, keyword arguments."""
    cases = []
    if only in (None, "max_pool2d"):
        for name, c, side, kwargs in MAX_POOL_SHAPES:
            k, s, p = kwargs["kernel_size"], kwargs["stride"], kwargs.get("padding", 0)
            out = (side + 2 * p - k) // s + 1
            cases.append(dict(op="max_pool2d", name=name, x=(n, c, side, side),
                              y=(n, c, out, out), kwargs=kwargs))
    if only in (None, "interpolate"):
        for name, c, side in UPSAMPLE_SHAPES:
            cases.append(dict(op="interpolate", name=name, x=(n, c, side, side),
                              y=(n, c, 2 * side, 2 * side),
                              kwargs=dict(scale_factor=2, mode="nearest")))
    return cases


def load_api(framework):
    """(tensor maker, functional module, no_grad context factory) of one framework."""
    if framework == "tinynet":
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
        import tinynet
        return (lambda a: tinynet.tensor(a, requires_grad=True), lambda a: a,
                tinynet.ops, tinynet.no_grad)
    import torch
    torch.set_num_threads(os.cpu_count())  # as many threads as NumPy's BLAS
    return (lambda a: torch.from_numpy(a).requires_grad_(), torch.from_numpy,
            torch.nn.functional, torch.no_grad)


def build(api, case, rng):
    """Closures (forward, forward+backward) running ``case`` with ``api``."""
    leaf, gradient, F, no_grad = api
    # ReLU'd inputs, as in the networks: many windows hold tied zeros.
    x = leaf(np.maximum(rng.standard_normal(case["x"]), 0).astype(np.float32))
    gy = gradient(rng.standard_normal(case["y"]).astype(np.float32))
    op = getattr(F, case["op"])

    def forward():
        with no_grad():
            op(x, **case["kwargs"])

    def forward_backward():
        x.grad = None
        op(x, **case["kwargs"]).backward(gy)
    return forward, forward_backward


def main(argv=None):
    parser = op_benchmark_arguments(__doc__.splitlines()[0], OPS, default_repeats=10)
    args = parser.parse_args(argv)
    n = args.batch or (2 if args.quick else 8)
    repeats = args.repeats or (3 if args.quick else 10)
    cases = make_cases(n, args.only)
    if args.worker:
        print(json.dumps(time_cases(cases, build, load_api(args.worker), repeats)))
        return
    rounds = args.rounds or (1 if args.quick else 3)
    frameworks = ["tinynet"] + ([] if args.no_torch or not torch_available() else ["torch"])

    print(f"machine: {machine_description()}")
    print(f"batch {n}; {rounds} round(s) x {repeats} repeats, median; "
          f"frameworks: {', '.join(frameworks)}\n", flush=True)
    worker_args = ["--batch", str(n), "--repeats", str(repeats)]
    worker_args += ["--only", args.only] if args.only else []
    rows = timing_rows(cases, alternate_workers(__file__, frameworks, rounds, worker_args))
    print()
    print_table(rows, ["op", "mode", "tinynet ms", "torch ms", "ratio"])
    summary = summarize_ratios(rows, OPS)
    write_json(args.json, {"machine": machine_description(), "batch": n, "rounds": rounds,
                           "repeats": repeats, "rows": rows, "summary": summary})


if __name__ == "__main__":
    main()
