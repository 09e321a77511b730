"""Pooling and upsampling benchmark: max_pool2d and nearest interpolate, tinynet vs PyTorch.

For each op and shape: forward, and forward+backward (input gradient, from a
fixed random output gradient), in ms, and the ratio tinynet / PyTorch when
torch is importable.  float32, batch 8 unless ``--batch``.  The shapes are
those of a ResNet-18 step at 224x224 (the stem's 3x3/stride-2 max pool) and of
the ResUNet step (2x2 max pools of the encoder, 2x upsampling of the decoder).

As in bench_kernels.py, each framework runs in its own subprocess and the two
alternate round by round (see common.py for why).

With ``--device gpu``: tinynet on CuPy against PyTorch on CUDA, CUDA-event
timing and each side's peak GPU memory, as in bench_kernels.py.

    python benchmarks/bench_pool.py            # full run
    python benchmarks/bench_pool.py --quick    # batch 2, 1 round of 3 repeats
    python benchmarks/bench_pool.py --only max_pool2d --json out.json
    python benchmarks/bench_pool.py --device gpu --batch 16
"""
import json

import numpy as np

from common import (DeviceClock, alternate_workers, check_device, describe_machine,
                    device_worker_arguments, load_framework, op_benchmark_arguments, print_table,
                    summarize_ratios, time_cases, timing_rows, torch_available, worker_info,
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
GPU_REPEATS = 20  # GPU calls take milliseconds: more repeats for a stable median


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


def load_api(framework, device, tf32=False):
    """(tensor maker, gradient maker, functional module, no_grad factory) of one framework."""
    lib = load_framework(framework, device, tf32)
    if framework == "tinynet":
        return (lambda a: lib.tensor(a, requires_grad=True, device=device),
                lambda a: lib.tensor(a, device=device), lib.ops, lib.no_grad)
    where = "cuda" if device == "gpu" else "cpu"
    return (lambda a: lib.from_numpy(a).to(where).requires_grad_(),
            lambda a: lib.from_numpy(a).to(where), lib.nn.functional, lib.no_grad)


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
    parser = op_benchmark_arguments(__doc__.splitlines()[0], OPS, default_repeats=10,
                                    gpu_repeats=GPU_REPEATS)
    args = parser.parse_args(argv)
    check_device(parser, args)
    on_gpu = args.device == "gpu"
    n = args.batch or (2 if args.quick else 8)
    repeats = args.repeats or (3 if args.quick else GPU_REPEATS if on_gpu else 10)
    cases = make_cases(n, args.only)
    if args.worker:
        api = load_api(args.worker, args.device, args.tf32)
        results = time_cases(cases, build, api, repeats, DeviceClock(args.worker, args.device))
        print(json.dumps({"cases": results,
                          "info": worker_info(args.worker, args.device, args.tf32)}))
        return
    rounds = args.rounds or (1 if args.quick else 3)
    frameworks = ["tinynet"] + ([] if args.no_torch or not torch_available() else ["torch"])

    machine, card = describe_machine(args.device)
    print(f"machine: {machine}")
    print(f"batch {n}; {rounds} round(s) x {repeats} repeats, median; "
          f"frameworks: {', '.join(frameworks)}\n", flush=True)
    worker_args = ["--batch", str(n), "--repeats", str(repeats)] + device_worker_arguments(args)
    worker_args += ["--only", args.only] if args.only else []
    per_round, info = alternate_workers(__file__, frameworks, rounds, worker_args)
    rows = timing_rows(cases, per_round)
    columns = ["op", "mode", "tinynet ms", "torch ms", "ratio"]
    columns += [f"{f} MiB" for f in frameworks] if on_gpu else []
    print()
    print_table(rows, columns)
    summary = summarize_ratios(rows, OPS)
    write_json(args.json, {"machine": machine, "card": card, "device": args.device,
                           "tf32": args.tf32, "frameworks": info, "batch": n, "rounds": rounds,
                           "repeats": repeats, "rows": rows, "summary": summary})


if __name__ == "__main__":
    main()
