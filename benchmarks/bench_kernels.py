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

With ``--device gpu`` tinynet runs on CuPy and PyTorch on CUDA with cuDNN
(autotuned), each call timed with CUDA events, and the GFLOP/s are put
against cuBLAS's float32 GEMM instead of NumPy's; the table gains each
side's peak GPU memory of one forward+backward (see gpu.py).

    python benchmarks/bench_kernels.py            # full run
    python benchmarks/bench_kernels.py --quick    # batch 2, 1 round of 3 repeats
    python benchmarks/bench_kernels.py --only conv2d --json out.json
    python benchmarks/bench_kernels.py --device gpu --batch 16 --json gpu.json
"""
import json

import numpy as np

from common import (DeviceClock, alternate_workers, check_device, describe_machine,
                    device_worker_arguments, gemm_peak_gflops, load_framework,
                    op_benchmark_arguments, print_table, summarize_ratios, time_cases, timing_rows,
                    torch_available, worker_info, write_json)

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
GPU_REPEATS = 20  # GPU calls take milliseconds: more repeats for a stable median


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
    """The few calls the benchmark needs, for tinynet on ``device`` ("cpu" or "gpu")."""

    def __init__(self, device, tf32=False):
        self.tn = load_framework("tinynet", device, tf32)
        self.F, self.device = self.tn.ops, device

    def leaf(self, a):
        return self.tn.tensor(a, requires_grad=True, device=self.device)

    def buffer(self, a):
        return self.tn.tensor(a.copy(), device=self.device)

    def gradient(self, a):
        return self.tn.tensor(a, device=self.device)

    def no_grad(self):
        return self.tn.no_grad()


class TorchAPI:
    """The same calls for PyTorch, on the CPU or on CUDA."""

    def __init__(self, device, tf32=False):
        self.torch = load_framework("torch", device, tf32)
        self.F = self.torch.nn.functional
        self.device = "cuda" if device == "gpu" else "cpu"

    def leaf(self, a):
        return self.torch.from_numpy(a).to(self.device).requires_grad_()

    def buffer(self, a):
        return self.torch.from_numpy(a.copy()).to(self.device)

    def gradient(self, a):
        return self.torch.from_numpy(a).to(self.device)

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
    parser = op_benchmark_arguments(__doc__.splitlines()[0], OPS, default_repeats=5,
                                    gpu_repeats=GPU_REPEATS)
    args = parser.parse_args(argv)
    check_device(parser, args)
    on_gpu = args.device == "gpu"
    n = args.batch or (2 if args.quick else 8)
    repeats = args.repeats or (3 if args.quick else GPU_REPEATS if on_gpu else 5)
    cases = make_cases(n, args.only)
    if args.worker:
        api_class = TinynetAPI if args.worker == "tinynet" else TorchAPI
        api = api_class(args.device, args.tf32)
        results = time_cases(cases, build, api, repeats, DeviceClock(args.worker, args.device))
        print(json.dumps({"cases": results,
                          "info": worker_info(args.worker, args.device, args.tf32)}))
        return
    rounds = args.rounds or (1 if args.quick else 3)
    frameworks = ["tinynet"] + ([] if args.no_torch or not torch_available() else ["torch"])

    machine, card = describe_machine(args.device)
    print(f"machine: {machine}")
    if on_gpu:
        import gpu
        gpu.set_cupy_tf32(args.tf32)
        peak, roof = gpu.cupy_gemm_peak_gflops(), "cuBLAS"
    else:
        peak, roof = gemm_peak_gflops(), "NumPy"
    print(f"{roof} float32 GEMM peak{' (TF32 allowed)' if args.tf32 else ''}: {peak:.0f} GFLOP/s; "
          f"batch {n}; {rounds} round(s) x {repeats} repeats, median; "
          f"frameworks: {', '.join(frameworks)}\n", flush=True)
    worker_args = ["--batch", str(n), "--repeats", str(repeats)] + device_worker_arguments(args)
    worker_args += ["--only", args.only] if args.only else []
    per_round, info = alternate_workers(__file__, frameworks, rounds, worker_args)
    rows = timing_rows(cases, per_round)
    for row, case in zip(rows, [c for c in cases for _ in range(2)]):
        if case["flops"] is not None:  # forward: one GEMM's work; fwd+bwd: three
            work = case["flops"] * (1 if row["mode"] == "fwd" else 3)
            row["GFLOP/s"] = work / row["tinynet ms"] / 1e6
            row["% peak"] = 100 * row["GFLOP/s"] / peak
    columns = ["op", "mode", "tinynet ms", "torch ms", "ratio", "GFLOP/s", "% peak"]
    columns += [f"{f} MiB" for f in frameworks] if on_gpu else []
    print()
    print_table(rows, columns)
    summary = summarize_ratios(rows, OPS)
    write_json(args.json, {"machine": machine, "card": card, "device": args.device,
                           "tf32": args.tf32, "frameworks": info, "gemm_peak_gflops": peak,
                           "gemm_roof": roof, "batch": n, "rounds": rounds, "repeats": repeats,
                           "rows": rows, "summary": summary})


if __name__ == "__main__":
    main()
