"""Training-step benchmark: ResUNet and ResNet-18, tinynet vs the same network in PyTorch.

One step = forward, loss, backward, Adam update, in training mode, float32.
ResUNet: focal Tversky loss on sigmoid probabilities, batch 8 at 256x256 (and
128x128).  ResNet-18: cross-entropy over 2 classes, batch 8 at 224x224.

Each (framework, network, size) runs in its own subprocess, so that its peak
resident memory (``ru_maxrss``) is its own; the report gives the peak over
the process's resident size after imports and data creation ("peak +MB"),
which leaves out the size of the libraries themselves.  Frameworks alternate
round by round so drift cancels.

    python benchmarks/bench_train_step.py            # full run
    python benchmarks/bench_train_step.py --quick    # one round, fewer steps
    python benchmarks/bench_train_step.py --json out.json
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import geometric_mean, machine_description, print_table, torch_available, write_json

HERE = Path(__file__).resolve().parent
CASES = [  # (network, batch, side)
    ("resunet", 8, 256),
    ("resunet", 8, 128),
    ("resnet18", 8, 224),
]


def current_rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_batch(network, batch, side):
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, side, side)).astype(np.float32)
    if network == "resunet":
        y = (rng.random((batch, 1, side, side)) < 0.1).astype(np.float32)
    else:
        y = rng.integers(0, 2, batch)
    return x, y


def tinynet_step_fn(network, x, y):
    sys.path.insert(0, str(HERE.parent))
    import tinynet as tn
    from tinynet import ops
    from tinynet.models import ResUNet, resnet18
    model = ResUNet() if network == "resunet" else resnet18(num_classes=2)
    model.train()
    opt = tn.optim.Adam(model.parameters(), lr=1e-3)
    tx, ty = tn.tensor(x), tn.tensor(y)

    def step():
        opt.zero_grad()
        out = model(tx)
        if network == "resunet":
            loss = ops.focal_tversky_loss(ops.sigmoid(out), ty)
        else:
            loss = ops.cross_entropy(out, ty)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def torch_step_fn(network, x, y):
    import torch
    torch.set_num_threads(os.cpu_count())
    sys.path.insert(0, str(HERE.parent / "tests"))
    from torch_models import torch_resnet, torch_resunet
    model = torch_resunet(torch) if network == "resunet" else torch_resnet(torch, False,
                                                                            [2, 2, 2, 2], 2)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def focal_tversky(p, t, alpha=0.7, beta=0.3, gamma=0.75, smooth=1.0):
        tp = (p * t).sum()
        fn = ((1 - p) * t).sum()
        fp = (p * (1 - t)).sum()
        return (1 - (tp + smooth) / (tp + alpha * fn + beta * fp + smooth)) ** gamma

    def step():
        opt.zero_grad()
        out = model(tx)
        if network == "resunet":
            loss = focal_tversky(torch.sigmoid(out), ty)
        else:
            loss = torch.nn.functional.cross_entropy(out, ty)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def worker(framework, network, batch, side, steps):
    """Run in a subprocess: time ``steps`` steps after one warm-up, print JSON."""
    x, y = make_batch(network, batch, side)
    build = tinynet_step_fn if framework == "tinynet" else torch_step_fn
    step = build(network, x, y)
    baseline = current_rss_mb()
    step()  # warm-up: allocates optimizer state, first-touch of buffers
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(json.dumps({"median_s": statistics.median(times), "baseline_mb": baseline,
                      "peak_mb": peak_rss_mb()}))


def run_worker(framework, network, batch, side, steps):
    cmd = [sys.executable, __file__, "--worker", framework, network, str(batch), str(side),
           str(steps)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=HERE)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of 2 steps")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        framework, network, batch, side, steps = args.worker
        return worker(framework, network, int(batch), int(side), int(steps))

    rounds = args.rounds or (1 if args.quick else 2)
    steps = args.steps or (2 if args.quick else 3)
    frameworks = ["tinynet"] + ([] if args.no_torch or not torch_available() else ["torch"])
    print(f"machine: {machine_description()}; {rounds} round(s) of {steps} steps\n")
    rows = []
    for network, batch, side in CASES:
        results = {f: [] for f in frameworks}
        for _ in range(rounds):
            for f in frameworks:
                results[f].append(run_worker(f, network, batch, side, steps))
        row = {"network": network, "input": f"{batch}x3x{side}x{side}"}
        for f in frameworks:
            t = statistics.median(r["median_s"] for r in results[f])
            peak = max(r["peak_mb"] for r in results[f])
            growth = max(r["peak_mb"] - r["baseline_mb"] for r in results[f])
            row[f"{f} s/step"] = t
            row[f"{f} img/s"] = batch / t
            row[f"{f} peak MB"] = peak
            row[f"{f} peak +MB"] = growth
        if "torch" in frameworks:
            row["time ratio"] = row["tinynet s/step"] / row["torch s/step"]
            row["memory ratio"] = row["tinynet peak +MB"] / row["torch peak +MB"]
        rows.append(row)
        print(f"  {row}", flush=True)
    columns = ["network", "input"] + [f"{f} {m}" for f in frameworks
                                      for m in ("s/step", "img/s", "peak MB", "peak +MB")]
    if "torch" in frameworks:
        columns += ["time ratio", "memory ratio"]
    print()
    print_table(rows, columns)
    write_json(args.json, {"machine": machine_description(), "rounds": rounds, "steps": steps,
                           "rows": rows,
                           "time_ratio_geomean": geometric_mean(
                               [r.get("time ratio") for r in rows])})


if __name__ == "__main__":
    main()
