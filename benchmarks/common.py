"""Shared helpers of the benchmarks: timing, GEMM peak, tables, JSON, machine info, devices.

Timing rule: tinynet and PyTorch run in separate processes (their BLAS/OpenMP
thread pools disturb each other inside one process), alternating round by round
(t, p, t, p, ...), and each side reports its median, so slow drifts of the
machine (heat, other processes) affect both sides alike.

``--device gpu`` runs the same benchmarks with tinynet on CuPy and PyTorch on
CUDA (cuDNN): each worker then times with CUDA events and reports peak device
memory (see gpu.py); the parent process only checks that a GPU is usable and
names the card.
"""
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def torch_available():
    """True when PyTorch can be imported (it is only ever imported in worker processes)."""
    import importlib.util
    return importlib.util.find_spec("torch") is not None


def time_call(fn, repeats):
    """Seconds of each of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def gemm_peak_gflops(n=2048, repeats=5):
    """float32 GFLOP/s of NumPy's matmul on an n x n x n product (the roof for conv)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    best = min(time_call(lambda: a @ b, repeats))
    return 2 * n ** 3 / best / 1e9


def machine_description():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}"


def import_tinynet():
    """Import tinynet from this checkout (the benchmarks run without installing it)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import tinynet
    return tinynet


# ---------------------------------------------------------------------------
# Devices: --device cpu|gpu and --tf32
# ---------------------------------------------------------------------------

def add_device_arguments(parser):
    """The ``--device`` and ``--tf32`` flags every benchmark takes."""
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu",
                        help="cpu: tinynet on NumPy against PyTorch on the CPU (default); gpu: "
                             "tinynet on CuPy against PyTorch on CUDA (cuDNN), timed with CUDA "
                             "events, with peak GPU memory")
    parser.add_argument("--tf32", action="store_true",
                        help="with --device gpu: allow TF32 tensor-core math in float32 GEMMs "
                             "and convolutions of both frameworks (default: full float32)")


def check_device(parser, args):
    """Refuse --tf32 without the GPU; exit with one line (status 2) if the GPU is not usable."""
    if args.tf32 and args.device != "gpu":
        parser.error("--tf32 only applies to --device gpu")
    if args.device == "gpu" and not args.worker:
        backend = import_tinynet().backend
        try:
            backend.xp_for_device("gpu")
        except backend.DeviceError as exc:  # no CuPy, no CUDA driver, or no GPU: say which
            print(f"{parser.prog}: --device gpu: {exc}", file=sys.stderr)
            sys.exit(2)


def load_framework(framework, device, tf32=False):
    """Import tinynet or torch in a worker, set up for ``device``.

    CPU: PyTorch gets as many threads as there are cores (as NumPy's BLAS).
    GPU: the float32 math mode of both is set explicitly (TF32 only with
    ``tf32``), before any GEMM, and PyTorch's cuDNN autotunes (gpu.py).
    """
    if device == "gpu":
        import gpu
    if framework == "tinynet":
        if device == "gpu":
            gpu.set_cupy_tf32(tf32)
        return import_tinynet()
    import torch
    if device == "gpu":
        gpu.configure_torch(torch, tf32)
    else:
        torch.set_num_threads(os.cpu_count())
    return torch


def device_worker_arguments(args):
    """The device flags handed on to each worker process."""
    return ["--device", args.device] + (["--tf32"] if args.tf32 else [])


def describe_machine(device):
    """(machine line of a report, the card's name or None); on the GPU the line names the card."""
    if device == "cpu":
        return machine_description(), None
    import gpu
    return f"{machine_description()}; GPU: {gpu.gpu_description()}", gpu.card_name()


class DeviceClock:
    """How a worker times calls and measures memory on its device.

    ``time_calls(fn, repeats)`` returns seconds per call (the host clock on
    the CPU, CUDA events on the GPU); ``warmup`` is how many untimed calls
    come first (on the GPU also CuPy's kernel compilation and cuDNN's
    autotuning); ``peak_memory(fn)`` returns (peak allocated, reserved) bytes
    of the device memory pool during one call, or None on the CPU.
    """

    def __init__(self, framework, device):
        self.framework, self.device = framework, device
        if device == "cpu":
            self.time_calls, self.warmup = time_call, 1
        else:
            import gpu
            self.time_calls, self.warmup = gpu.event_timer(framework), 3

    def warm_up(self, fn):
        for _ in range(self.warmup):
            fn()

    def peak_memory(self, fn):
        if self.device == "cpu":
            return None
        import gpu
        return gpu.peak_memory(self.framework, fn)


# ---------------------------------------------------------------------------
# The networks of the training benchmarks (bench_train_step.py, bench_distributed.py)
# ---------------------------------------------------------------------------

def make_batch(network, batch, side):
    """Seeded float32 images and targets: ResUNet masks (10% ones) or ResNet-18 class labels."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, side, side)).astype(np.float32)
    if network == "resunet":
        y = (rng.random((batch, 1, side, side)) < 0.1).astype(np.float32)
    else:
        y = rng.integers(0, 2, batch)
    return x, y


def tinynet_network(network):
    """tinynet's ResUNet, or ResNet-18 with 2 classes, and its loss ``fn(output, target)``."""
    from tinynet import ops
    from tinynet.models import ResUNet, resnet18
    if network == "resunet":
        return ResUNet(), lambda out, y: ops.focal_tversky_loss(ops.sigmoid(out), y)
    return resnet18(num_classes=2), ops.cross_entropy


def torch_network(torch, network):
    """The same network in plain PyTorch (tests/torch_models.py) and the same loss."""
    tests = str(REPO / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from torch_models import torch_resnet, torch_resunet
    if network == "resnet18":
        return torch_resnet(torch, False, [2, 2, 2, 2], 2), torch.nn.functional.cross_entropy

    def focal_tversky(out, t, alpha=0.7, beta=0.3, gamma=0.75, smooth=1.0):
        p = torch.sigmoid(out)
        tp = (p * t).sum()
        fn = ((1 - p) * t).sum()
        fp = (p * (1 - t)).sum()
        return (1 - (tp + smooth) / (tp + alpha * fn + beta * fp + smooth)) ** gamma
    return torch_resunet(torch), focal_tversky


def make_train_step(model, optimizer, loss_fn, x, y):
    """One training step (zero_grad, forward, loss, backward, step) as a function.

    The same code for both frameworks, as their APIs agree; returns the loss.
    """
    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


def print_table(rows, columns):
    """Print ``rows`` (dicts) as an aligned plain-text table with the given columns."""
    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
        return str(v)
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def geometric_mean(values):
    values = [v for v in values if v is not None]
    return float(np.exp(np.mean(np.log(values)))) if values else None


def write_json(path, payload):
    if path:
        Path(path).write_text(json.dumps(payload, indent=2))
        print(f"\nwrote {path}")


# ---------------------------------------------------------------------------
# The driver shared by the op benchmarks (bench_kernels.py, bench_pool.py)
# ---------------------------------------------------------------------------

def op_benchmark_arguments(description, ops, default_repeats, gpu_repeats=20):
    """The command line every op benchmark takes."""
    import argparse
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="batch 2, one round of 3 repeats")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"timed calls per round (default {default_repeats}; "
                             f"{gpu_repeats} with --device gpu)")
    parser.add_argument("--rounds", type=int, default=None, help="alternations of the frameworks")
    parser.add_argument("--only", choices=ops, help="benchmark one op only")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--json", help="also write the results to this JSON file")
    add_device_arguments(parser)
    parser.add_argument("--worker", choices=["tinynet", "torch"], help=argparse.SUPPRESS)
    return parser


def time_cases(cases, build, api, repeats, clock):
    """Worker side: median seconds of forward and forward+backward of every case.

    On the GPU also the peak device memory of one forward+backward (MiB).
    """
    rng = np.random.default_rng(0)
    results = {}
    for case in cases:
        forward, forward_backward = build(api, case, rng)
        clock.warm_up(forward_backward)
        results[case["name"]] = {
            "fwd": statistics.median(clock.time_calls(forward, repeats)),
            "fwd+bwd": statistics.median(clock.time_calls(forward_backward, repeats))}
        memory = clock.peak_memory(forward_backward)
        if memory is not None:
            results[case["name"]]["peak MiB"] = memory[0] / 2 ** 20
    return results


def alternate_workers(script, frameworks, rounds, worker_args):
    """Run ``script --worker F`` for each framework, ``rounds`` times in turn.

    Each worker prints ``{"cases": ..., "info": ...}`` as its last line.
    Returns ({framework: [cases of round 1, round 2, ...]}, {framework: info}).
    """
    per_round = {f: [] for f in frameworks}
    info = {}
    for r in range(rounds):
        for f in frameworks:
            cmd = [sys.executable, os.path.abspath(script), "--worker", f] + worker_args
            report = run_worker_process(cmd)
            per_round[f].append(report["cases"])
            info[f] = report["info"]
        print(f"  round {r + 1}/{rounds} done", flush=True)
    return per_round, info


def run_worker_process(cmd, cwd=None, env=None):
    """Run a worker (in ``env``, default this environment); return its last line's JSON.

    A failed worker's error output is passed on before the benchmark stops,
    so that a traceback from the GPU machine is not lost.
    """
    import subprocess
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        script = next((a for a in cmd if a.endswith(".py")), cmd[0])
        sys.exit(f"{os.path.basename(script)}: worker {' '.join(cmd[cmd.index(script) + 1:])} "
                 f"failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker_info(framework, device, tf32=False):
    """What a worker ran on: the library versions (and on the GPU the card and math mode)."""
    if device == "gpu":
        import gpu
        return gpu.framework_info(framework, tf32)
    if framework == "tinynet":
        return {"numpy": np.__version__}
    import torch
    return {"torch": torch.__version__, "threads": torch.get_num_threads()}


def timing_rows(cases, per_round):
    """One row per case and mode: the median over rounds of each framework, and the ratio."""
    rows = []
    for case in cases:
        for mode in ("fwd", "fwd+bwd"):
            t = {f: statistics.median(res[case["name"]][mode] for res in results)
                 for f, results in per_round.items()}
            row = {"op": case["name"], "kind": case["op"], "mode": mode,
                   "tinynet ms": t["tinynet"] * 1e3, "torch ms": None, "ratio": None}
            if "torch" in t:
                row["torch ms"] = t["torch"] * 1e3
                row["ratio"] = t["tinynet"] / t["torch"]
            if mode == "fwd+bwd":
                row.update(_peak_columns(case["name"], per_round))
            rows.append(row)
    return rows


def _peak_columns(name, per_round):
    """{"tinynet MiB": ..., "torch MiB": ...}: the largest peak over rounds (GPU runs only)."""
    columns = {}
    for f, results in per_round.items():
        peaks = [res[name]["peak MiB"] for res in results if "peak MiB" in res[name]]
        if peaks:
            columns[f"{f} MiB"] = max(peaks)
    return columns


def summarize_ratios(rows, ops):
    """Geometric mean and worst forward+backward ratio per op kind; printed, and returned."""
    summary = {}
    for op in ops:
        ratios = [r["ratio"] for r in rows if r["kind"] == op and r["mode"] == "fwd+bwd"]
        if ratios and None not in ratios:
            summary[op] = {"geomean": geometric_mean(ratios), "worst": max(ratios)}
    if summary:
        print("\nforward+backward time, tinynet / torch:")
        for op, s in summary.items():
            print(f"  {op:18s} geometric mean {s['geomean']:.2f}x, worst {s['worst']:.2f}x")
    return summary
