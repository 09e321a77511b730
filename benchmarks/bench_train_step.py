"""Training-step benchmark: ResUNet and ResNet-18, tinynet vs the same network in PyTorch.

One step = forward, loss, backward, Adam update, in training mode, float32.
ResUNet: focal Tversky loss on sigmoid probabilities, batch 8 at 256x256 (and
128x128).  ResNet-18: cross-entropy over 2 classes, batch 8 at 224x224.

Each (framework, network, size) runs in its own subprocess, so that its peak
resident memory (``ru_maxrss``) is its own; the report gives the peak over
the process's resident size after imports and data creation ("peak +MB"),
which leaves out the size of the libraries themselves.  Frameworks alternate
round by round so drift cancels.

With ``--device gpu`` both networks train on the GPU (tinynet on CuPy,
PyTorch on CUDA with cuDNN), each step timed with CUDA events after three
warm-up steps, and the memory columns are the device memory pools' peak
allocated bytes during one step ("GPU peak MiB": weights, Adam state, inputs
and activations; see gpu.py) and their reserved bytes.

    python benchmarks/bench_train_step.py            # full run
    python benchmarks/bench_train_step.py --quick    # one round, fewer steps
    python benchmarks/bench_train_step.py --json out.json
    python benchmarks/bench_train_step.py --device gpu --network resunet --batch 16 --size 256
"""
import argparse
import json
import os
import resource
import statistics
import sys
from pathlib import Path

from common import (DeviceClock, add_device_arguments, check_device, describe_machine,
                    device_worker_arguments, geometric_mean, load_framework, make_batch,
                    make_train_step, print_table, run_worker_process, tinynet_network,
                    torch_available, torch_network, worker_info, write_json)

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


def tinynet_step_fn(network, x, y, device="cpu", tf32=False):
    tn = load_framework("tinynet", device, tf32)
    model, loss_fn = tinynet_network(network)
    model.to(device)
    model.train()
    opt = tn.optim.Adam(model.parameters(), lr=1e-3)
    return make_train_step(model, opt, loss_fn, tn.tensor(x, device=device),
                           tn.tensor(y, device=device))


def torch_step_fn(network, x, y, device="cpu", tf32=False):
    torch = load_framework("torch", device, tf32)
    model, loss_fn = torch_network(torch, network)
    where = "cuda" if device == "gpu" else "cpu"
    model.to(where)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return make_train_step(model, opt, loss_fn, torch.from_numpy(x).to(where),
                           torch.from_numpy(y).to(where))


def worker(framework, network, batch, side, steps, device="cpu", tf32=False):
    """Run in a subprocess: time ``steps`` steps after the warm-up, print JSON."""
    x, y = make_batch(network, batch, side)
    build = tinynet_step_fn if framework == "tinynet" else torch_step_fn
    step = build(network, x, y, device, tf32)
    clock = DeviceClock(framework, device)
    baseline = current_rss_mb()
    clock.warm_up(step)  # allocates optimizer state, first-touch of buffers (GPU: compiles)
    times = clock.time_calls(step, steps)
    report = {"median_s": statistics.median(times), "baseline_mb": baseline,
              "peak_mb": peak_rss_mb(), "info": worker_info(framework, device, tf32)}
    memory = clock.peak_memory(step)
    if memory is not None:
        report["gpu_peak_mib"], report["gpu_reserved_mib"] = (b / 2 ** 20 for b in memory)
    print(json.dumps(report))


def run_worker(framework, network, batch, side, steps, device_args):
    cmd = [sys.executable, __file__, "--worker", framework, network, str(batch), str(side),
           str(steps)] + device_args
    return run_worker_process(cmd, cwd=HERE)


def selected_cases(args):
    """CASES, or the one case that --network/--batch/--size describe."""
    if args.network is None and args.batch is None and args.size is None:
        return CASES
    network = args.network or "resunet"
    default_side = 256 if network == "resunet" else 224
    return [(network, args.batch or 8, args.size or default_side)]


def summary_row(network, batch, side, results, on_gpu):
    """One table row: each framework's median time over rounds and its worst memory."""
    row = {"network": network, "input": f"{batch}x3x{side}x{side}"}
    for f, runs in results.items():
        t = statistics.median(r["median_s"] for r in runs)
        row[f"{f} s/step"] = t
        row[f"{f} img/s"] = batch / t
        if on_gpu:
            row[f"{f} GPU peak MiB"] = max(r["gpu_peak_mib"] for r in runs)
            row[f"{f} GPU reserved MiB"] = max(r["gpu_reserved_mib"] for r in runs)
        else:
            row[f"{f} peak MB"] = max(r["peak_mb"] for r in runs)
            row[f"{f} peak +MB"] = max(r["peak_mb"] - r["baseline_mb"] for r in runs)
    if "torch" in results:
        memory = "GPU peak MiB" if on_gpu else "peak +MB"
        row["time ratio"] = row["tinynet s/step"] / row["torch s/step"]
        row["memory ratio"] = row[f"tinynet {memory}"] / row[f"torch {memory}"]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of 2 steps")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per run (default 3; 10 with --device gpu)")
    parser.add_argument("--network", choices=["resunet", "resnet18"],
                        help="benchmark only this network (with --batch and --size)")
    parser.add_argument("--batch", type=int, help="batch size of the one case (default 8)")
    parser.add_argument("--size", type=int,
                        help="image side of the one case (default 256 ResUNet, 224 ResNet-18)")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--json")
    add_device_arguments(parser)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    check_device(parser, args)
    if args.worker:
        framework, network, batch, side, steps = args.worker
        return worker(framework, network, int(batch), int(side), int(steps), args.device,
                      args.tf32)

    on_gpu = args.device == "gpu"
    rounds = args.rounds or (1 if args.quick else 2)
    steps = args.steps or (2 if args.quick else 10 if on_gpu else 3)
    frameworks = ["tinynet"] + ([] if args.no_torch or not torch_available() else ["torch"])
    machine, card = describe_machine(args.device)
    print(f"machine: {machine}; {rounds} round(s) of {steps} steps"
          f"{'; TF32 allowed' if args.tf32 else ''}\n")
    rows, info = [], {}
    for network, batch, side in selected_cases(args):
        results = {f: [] for f in frameworks}
        for _ in range(rounds):
            for f in frameworks:
                results[f].append(run_worker(f, network, batch, side, steps,
                                             device_worker_arguments(args)))
                info[f] = results[f][-1]["info"]
        row = summary_row(network, batch, side, results, on_gpu)
        rows.append(row)
        print(f"  {row}", flush=True)
    memory_columns = ("GPU peak MiB", "GPU reserved MiB") if on_gpu else ("peak MB", "peak +MB")
    columns = ["network", "input"] + [f"{f} {m}" for f in frameworks
                                      for m in ("s/step", "img/s") + memory_columns]
    if "torch" in frameworks:
        columns += ["time ratio", "memory ratio"]
    print()
    print_table(rows, columns)
    write_json(args.json, {"machine": machine, "card": card, "device": args.device,
                           "tf32": args.tf32, "frameworks": info, "rounds": rounds,
                           "steps": steps, "rows": rows,
                           "time_ratio_geomean": geometric_mean(
                               [r.get("time ratio") for r in rows])})


if __name__ == "__main__":
    main()
