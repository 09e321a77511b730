"""Shared helpers of the benchmarks: timing, GEMM peak, tables, JSON, machine info.

Timing rule: tinynet and PyTorch run in separate processes (their BLAS/OpenMP
thread pools disturb each other inside one process), alternating round by round
(t, p, t, p, ...), and each side reports its median, so slow drifts of the
machine (heat, other processes) affect both sides alike.
"""
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np



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

def op_benchmark_arguments(description, ops, default_repeats):
    """The command line every op benchmark takes."""
    import argparse
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="batch 2, one round of 3 repeats")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"timed calls per round (default {default_repeats})")
    parser.add_argument("--rounds", type=int, default=None, help="alternations of the frameworks")
    parser.add_argument("--only", choices=ops, help="benchmark one op only")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--worker", choices=["tinynet", "torch"], help=argparse.SUPPRESS)
    return parser


def time_cases(cases, build, api, repeats):
    """Worker side: median seconds of forward and forward+backward of every case."""
    rng = np.random.default_rng(0)
    results = {}
    for case in cases:
        forward, forward_backward = build(api, case, rng)
        forward_backward()  # warm-up
        results[case["name"]] = {
            "fwd": statistics.median(time_call(forward, repeats)),
            "fwd+bwd": statistics.median(time_call(forward_backward, repeats))}
    return results


def alternate_workers(script, frameworks, rounds, worker_args):
    """Run ``script --worker F`` for each framework, ``rounds`` times in turn.

    Returns {framework: [results of round 1, round 2, ...]}, each the JSON the
    worker printed on its last line.
    """
    import subprocess
    per_round = {f: [] for f in frameworks}
    for r in range(rounds):
        for f in frameworks:
            cmd = [sys.executable, os.path.abspath(script), "--worker", f] + worker_args
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            per_round[f].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"  round {r + 1}/{rounds} done", flush=True)
    return per_round


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
            rows.append(row)
    return rows


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
