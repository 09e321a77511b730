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
