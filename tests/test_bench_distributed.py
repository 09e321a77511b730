"""benchmarks/bench_distributed.py runs its configurations and writes what it measured.

One short run (ResUNet 128x128, one round of one step): every configuration
reports back with the thread counts it was given, and the JSON has the rates
and ratios.  No timing is checked: the numbers depend on the machine.
"""
import json
import subprocess
import sys
from pathlib import Path

from test_distributed import mpiexec_or_skip

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_distributed.py"


def test_quick_run_reports_every_configuration(tmp_path):
    mpiexec_or_skip()
    with_torch = True
    try:
        import torch  # noqa: F401
    except ImportError:
        with_torch = False
    out = tmp_path / "out.json"
    cmd = [sys.executable, str(SCRIPT), "--quick", "--rounds", "1", "--steps", "1",
           "--warmup", "0", "--json", str(out)] + ([] if with_torch else ["--no-torch"])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    configurations = report["configurations"]
    assert configurations["tinynet 1 proc"]["blas_threads"] == [2]
    assert configurations["tinynet 2 ranks"]["ranks"] == 2
    assert configurations["tinynet 2 ranks"]["blas_threads"] == [1]
    (row,) = report["rows"]
    assert row["input"] == "8x3x128x128"
    assert row["tinynet 2 ranks / 1 proc"] > 0
    if with_torch:
        assert configurations["torch 1 proc"]["threads"] == 2
        assert configurations["torch DDP 2 ranks"]["threads"] == 1
        assert configurations["torch DDP 2 ranks"]["backend"] == "gloo"
        assert row["tinynet 2 ranks / torch DDP"] > 0
    else:
        assert "torch 1 proc" not in configurations
    assert "torch DDP uses plain BatchNorm" in done.stdout


def test_each_of_two_ranks_gets_its_half_of_the_batch(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    import bench_distributed
    batch = list(range(8))
    assert bench_distributed._shard(batch, 0, 2) == [0, 1, 2, 3]
    assert bench_distributed._shard(batch, 1, 2) == [4, 5, 6, 7]
    assert bench_distributed._shard(batch, 0, 1) == batch
