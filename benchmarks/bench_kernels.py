"""Kernel benchmark: conv2d, conv_transpose2d and batch_norm, tinynet vs PyTorch.

For each op and shape: forward, and forward+backward (input and weight
gradients, from a fixed random output gradient), in ms; GFLOP/s and share of
NumPy's GEMM peak for convolutions; the ratio tinynet / PyTorch when torch is
importable.  float32, batch 8 unless ``--batch``.

Each framework runs in its own subprocess, and the two alternate round by
round.  Timing both in one process is wrong: measured here, a PyTorch
convolution took 52 ms alone and 103 ms right after a NumPy matmul, because
OpenBLAS's worker threads keep spinning after a call and steal the cores
from PyTorch's threads (and the other way round).

    python benchmarks/bench_kernels.py            # full run
    python benchmarks/bench_kernels.py --quick    # batch 2, 1 round of 3 repeats
    python benchmarks/bench_kernels.py --only conv2d --json out.json
"""
import json
import os
import sys

import numpy as np

from common import (alternate_workers, gemm_peak_gflops, machine_description,
                    op_benchmark_arguments, print_table, summarize_ratios, time_cases, timing_rows,
                    torch_available, write_json)

# (name, C_in, C_out, H=W, kernel, stride, padding)
CONV_SHAPES = [
    ("resunet 3->16@256", 3, 16, 256, 3, 1, 1),
    ("resunet 16->32@128", 16, 32, 128, 3, 1, 1),
    ("resunet 32->64@64", 32, 64, 64, 3, 1, 1),
    ("resunet 64->128@32", 64, 128, 32, 3, 1, 1),
    ("resunet 128->256@16", 128, 256, 16, 3, 1, 1),
    ("resnet conv1 3->64@224 7x7s2", 3, 64, 224, 7, 2, 3),
    ("resnet 64->64@56", 64, 64, 56, 3, 1, 1),
    ("resnet 128->128@28", 128, 128, 28, 3, 1, 1),
    ("resnet 256->256@14", 256, 256, 14, 3, 1, 1),
    ("resnet 512->512@7", 512, 512, 7, 3, 1, 1),
]
# (name, C_in, C_out, H=W) for conv_transpose2d with kernel 2, stride 2
TRANSPOSE_SHAPES = [("convT k2s2 256->128@16", 256, 128, 16), ("convT k2s2 64->32@64", 64, 32, 64)]
# (name, C, H=W) for batch_norm in training mode
BN_SHAPES = [("bn 16@256", 16, 256), ("bn 64@64", 64, 64), ("bn 256@16", 256, 16)]
OPS = ("conv2d", "conv_transpose2d", "batch_norm")


def make_cases(n, only=None):
    """Every benchmark case: op, name, input shapes, keyword arguments, forward FLOPs."""
    cases = []
    if only in (None, "conv2d"):
        for name, cin, cout, side, k, stride, pad in CONV_SHAPES:
            out = (side + 2 * pad - k) // stride + 1
            cases.append(dict(op="conv2d", name=name, x=(n, cin, side, side), w=(cout, cin, k, k),
                              y=(n, cout, out, out), kwargs=dict(stride=stride, padding=pad),
                              flops=2 * n * cout * out * out * cin * k * k))
    if only in (None, "conv_transpose2d"):
        for name, cin, cout, side in TRANSPOSE_SHAPES:
            cases.append(dict(op="conv_transpose2d", name=name, x=(n, cin, side, side),
                              w=(cin, cout, 2, 2), y=(n, cout, 2 * side, 2 * side),
                              kwargs=dict(stride=2), flops=2 * n * cin * side * side * cout * 4))
    if only in (None, "batch_norm"):
        for name, c, side in BN_SHAPES:
            cases.append(dict(op="batch_norm", name=name, x=(n, c, side, side), w=(c,),
                              y=(n, c, side, side), kwargs=dict(training=True), flops=None))
    return cases


class TinynetAPI:
    """The few calls the benchmark needs, for tinynet."""

    def __init__(self):
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
        import tinynet
        self.tn, self.F = tinynet, tinynet.ops

    def leaf(self, a):
        return self.tn.tensor(a, requires_grad=True)

    def buffer(self, a):
        return self.tn.tensor(a.copy())

    def gradient(self, a):
        return a

    def no_grad(self):
        return self.tn.no_grad()


class TorchAPI:
    """The same calls for PyTorch, with as many threads as there are cores (as NumPy's BLAS)."""

    def __init__(self):
        import torch
        torch.set_num_threads(os.cpu_count())
        self.torch, self.F = torch, torch.nn.functional

    def leaf(self, a):
        return self.torch.from_numpy(a).requires_grad_()

    def buffer(self, a):
        return self.torch.from_numpy(a.copy())

    def gradient(self, a):
        return self.torch.from_numpy(a)

    def no_grad(self):
        return self.torch.no_grad()


def build(api, case, rng):
    """Closures (forward, forward+backward) running ``case`` with ``api``."""
    x = api.leaf(rng.standard_normal(case["x"]).astype(np.float32))
    w = api.leaf((rng.standard_normal(case["w"]) * 0.1).astype(np.float32))
    gy = api.gradient(rng.standard_normal(case["y"]).astype(np.float32))
    if case["op"] == "batch_norm":
        c = case["w"][0]
        b = api.leaf(np.zeros(c, np.float32))
        mean, var = api.buffer(np.zeros(c, np.float32)), api.buffer(np.ones(c, np.float32))
        params = [x, w, b]

        def call():
            return api.F.batch_norm(x, mean, var, w, b, **case["kwargs"])
    else:
        params = [x, w]
        op = getattr(api.F, case["op"])

        def call():
            return op(x, w, **case["kwargs"])

    def forward():
        with api.no_grad():
            call()

    def forward_backward():
        for p in params:
            p.grad = None
        call().backward(gy)
    return forward, forward_backward


def main(argv=None):
    parser = op_benchmark_arguments(__doc__.splitlines()[0], OPS, default_repeats=5)
    args = parser.parse_args(argv)
    n = args.batch or (2 if args.quick else 8)
    repeats = args.repeats or (3 if args.quick else 5)
    cases = make_cases(n, args.only)
    if args.worker:
        api = TinynetAPI() if args.worker == "tinynet" else TorchAPI()
        print(json.dumps(time_cases(cases, build, api, repeats)))
        return
    rounds = args.rounds or (1 if args.quick else 3)
    frameworks = ["tinynet"] + ([] if args.no_torch or not torch_available() else ["torch"])

    print(f"machine: {machine_description()}")
    peak = gemm_peak_gflops()
    print(f"NumPy float32 GEMM peak: {peak:.0f} GFLOP/s; batch {n}; {rounds} round(s) x "
          f"{repeats} repeats, median; frameworks: {', '.join(frameworks)}\n", flush=True)
    worker_args = ["--batch", str(n), "--repeats", str(repeats)]
    worker_args += ["--only", args.only] if args.only else []
    rows = timing_rows(cases, alternate_workers(__file__, frameworks, rounds, worker_args))
    for row, case in zip(rows, [c for c in cases for _ in range(2)]):
        if case["flops"] is not None:  # forward: one GEMM's work; fwd+bwd: three
            work = case["flops"] * (1 if row["mode"] == "fwd" else 3)
            row["GFLOP/s"] = work / row["tinynet ms"] / 1e6
            row["% peak"] = 100 * row["GFLOP/s"] / peak
    print()
    print_table(rows, ["op", "mode", "tinynet ms", "torch ms", "ratio", "GFLOP/s", "% peak"])
    summary = summarize_ratios(rows, OPS)
    write_json(args.json, {"machine": machine_description(), "gemm_peak_gflops": peak,
                           "batch": n, "rounds": rounds, "repeats": repeats, "rows": rows,
                           "summary": summary})


if __name__ == "__main__":
    main()
