"""Data-parallel training throughput: tinynet and PyTorch, one process against two ranks.

One step = forward, loss, backward, Adam update, float32, global batch 8, on
the networks of bench_train_step.py (ResUNet with focal Tversky loss at
128x128 and 256x256, ResNet-18 with cross-entropy at 224x224).  Four
configurations, each in its own process(es), on the same cores:

* ``tinynet 1 proc``: one process, ``--threads`` (2) OpenBLAS threads, batch 8;
* ``tinynet 2 ranks``: ``mpiexec -n 2``, 1 thread a rank, DistributedDataParallel
  + SyncBatchNorm, batch 4 a rank;
* ``torch 1 proc``: one process, ``torch.set_num_threads(2)``, batch 8;
* ``torch DDP 2 ranks``: two processes (MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE),
  gloo backend, 1 thread a rank, batch 4 a rank, with plain BatchNorm (each
  rank normalizes over its own 4 samples): PyTorch's SyncBatchNorm only runs
  on CUDA.  tinynet's SyncBatchNorm waits for three small blocking
  all-reduces per BatchNorm layer and step (two in forward, one in backward)
  that PyTorch's ranks skip here.

The configurations alternate round by round (``--rounds``), so slow drifts of
the machine affect all alike.  Each run takes ``--warmup`` untimed steps, then
times ``--steps`` steps; a data-parallel step's time is the slowest rank's.
The report gives the median over rounds of each run's median step, as slices
(images) per second, the spread over rounds, and the ratios of throughput.

    python benchmarks/bench_distributed.py --quick          # ResUNet 128x128 only
    python benchmarks/bench_distributed.py --json out.json  # all three cases
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
from pathlib import Path

from common import (import_tinynet, machine_description, make_batch, make_train_step,
                    print_table, run_worker_process, time_call, tinynet_network,
                    torch_available, torch_network, write_json)

HERE = Path(__file__).resolve().parent
GLOBAL_BATCH = 8
CASES = [("resunet", 128), ("resunet", 256), ("resnet18", 224)]  # (network, side)
QUICK_CASES = CASES[:1]
#: (key, label): the configurations, in the order each round runs them.
CONFIGS = [("tinynet", "tinynet 1 proc"), ("tinynet-ddp", "tinynet 2 ranks"),
           ("torch", "torch 1 proc"), ("torch-ddp", "torch DDP 2 ranks")]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# ---------------------------------------------------------------------------
# Worker side: one process of one configuration
# ---------------------------------------------------------------------------

def tinynet_setup(network, x, y, distributed):
    """tinynet's step on this process's slice; returns (step, gather of timings, info)."""
    tn = import_tinynet()
    tn.manual_seed(0)
    model, loss_fn = tinynet_network(network)
    gather, rank, world, info = None, 0, 1, {}
    if distributed:
        import mpi4py
        from mpi4py import MPI
        dist = tn.distributed
        dist.init_process_group()
        rank, world = dist.get_rank(), dist.get_world_size()
        model = tn.nn.parallel.DistributedDataParallel(
            tn.nn.SyncBatchNorm.convert_sync_batchnorm(model))
        gather = _gatherer(dist.all_gather_object, world)
        info = {"mpi4py": mpi4py.__version__,
                "mpi": MPI.Get_library_version().splitlines()[0].strip()}
    model.train()
    x, y = _shard(x, rank, world), _shard(y, rank, world)
    optimizer = tn.optim.Adam(model.parameters(), lr=1e-3)
    step = make_train_step(model, optimizer, loss_fn, tn.tensor(x), tn.tensor(y))
    import numpy as np
    info.update({"numpy": np.__version__, "ranks": world,
                 "blas_threads": sorted(set(tn.distributed.blas_num_threads().values()))})
    return step, gather, rank, info


def torch_setup(network, x, y, distributed, threads):
    """PyTorch's step on this process's slice (gloo DDP when distributed)."""
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, loss_fn = torch_network(torch, network)
    model.train()
    gather, rank, world = None, 0, 1
    if distributed:
        import torch.distributed as dist
        dist.init_process_group("gloo")          # MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
        rank, world = dist.get_rank(), dist.get_world_size()
        model = torch.nn.parallel.DistributedDataParallel(model)
        gather = _gatherer(dist.all_gather_object, world)
    x, y = _shard(x, rank, world), _shard(y, rank, world)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    step = make_train_step(model, optimizer, loss_fn, torch.from_numpy(x), torch.from_numpy(y))
    info = {"torch": torch.__version__, "ranks": world, "threads": torch.get_num_threads()}
    if distributed:
        info.update(backend="gloo", batch_norm="plain BatchNorm2d (per-rank statistics)")
    return step, gather, rank, info


def _shard(array, rank, world):
    """This rank's contiguous slice of the global batch."""
    share = len(array) // world
    return array[rank * share:(rank + 1) * share]


def _gatherer(all_gather_object, world):
    """``gather(obj)``: the list of every rank's ``obj`` (torch's and tinynet's API alike)."""
    def gather(obj):
        objects = [None] * world
        all_gather_object(objects, obj)
        return objects
    return gather


def worker(kind, network, side, steps, warmup, threads):
    """Time ``steps`` steps after ``warmup``; rank 0 (or the one process) prints JSON."""
    distributed = kind.endswith("-ddp")
    x, y = make_batch(network, GLOBAL_BATCH, side)
    if kind.startswith("tinynet"):
        step, gather, rank, info = tinynet_setup(network, x, y, distributed)
    else:
        step, gather, rank, info = torch_setup(network, x, y, distributed, threads)
    for _ in range(warmup):
        step()
    if gather:
        gather(None)                             # start the timed steps together
    times = time_call(step, steps)
    if gather:                                   # a step lasts as long as its slowest rank
        times = [max(per_rank) for per_rank in zip(*gather(times))]
    if rank == 0:
        print(json.dumps({"median_s": statistics.median(times), "times_s": times, "info": info}),
              flush=True)
    if kind == "tinynet-ddp":
        import_tinynet().distributed.destroy_process_group()
    elif kind == "torch-ddp":
        import torch.distributed
        torch.distributed.barrier()    # no rank leaves while gloo still talks to it
        # Then leave without gloo's teardown: destroy_process_group() or the interpreter's
        # exit aborted a rank now and then ("terminate called without an active exception",
        # exit -6; twice in about twenty runs, once in CI) after the results were complete.
        sys.stderr.flush()
        os._exit(0)


# ---------------------------------------------------------------------------
# Parent side: start the configurations, round by round
# ---------------------------------------------------------------------------

def mpiexec_path():
    """The mpich wheel's mpiexec beside this Python, else the one on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        sys.exit("bench_distributed.py: no mpiexec beside this Python or on PATH: "
                 "pip install 'tinynet[distributed]'")
    return found


def environment(threads):
    """This environment with every BLAS/OpenMP thread count set to ``threads``."""
    env = dict(os.environ)
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_config(kind, network, side, args):
    """Run one configuration once; returns rank 0's report."""
    ranks = 2 if kind.endswith("-ddp") else 1
    threads = max(1, args.threads // ranks)
    worker_cmd = [sys.executable, __file__, "--worker", kind, network, str(side),
                  str(args.steps), str(args.warmup), str(threads)]
    env = environment(threads)
    if kind == "torch-ddp":
        return run_torch_ranks(worker_cmd, ranks, env)
    if kind == "tinynet-ddp":
        worker_cmd = [mpiexec_path(), "-n", str(ranks)] + worker_cmd
    return run_worker_process(worker_cmd, cwd=HERE, env=env)


def run_torch_ranks(cmd, ranks, env):
    """Start ``ranks`` processes of ``cmd`` as torch.distributed's env:// wants; rank 0's JSON."""
    env = dict(env, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
               WORLD_SIZE=str(ranks))
    procs = [subprocess.Popen(cmd, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=dict(env, RANK=str(r), LOCAL_RANK=str(r)))
             for r in range(ranks)]
    outputs = [p.communicate() for p in procs]
    for r, (p, (_, err)) in enumerate(zip(procs, outputs)):
        if p.returncode != 0:
            sys.stderr.write(err)
            sys.exit(f"bench_distributed.py: torch rank {r} of {' '.join(cmd[2:])} failed "
                     f"(exit {p.returncode})")
    return json.loads(outputs[0][0].strip().splitlines()[-1])


def summary_row(network, side, results):
    """Median step over rounds per configuration, slices/s, spread, and the ratios."""
    row = {"network": network, "input": f"{GLOBAL_BATCH}x3x{side}x{side}"}
    rates = {}
    for kind, label in CONFIGS:
        if kind not in results:
            continue
        medians = [r["median_s"] for r in results[kind]]
        rates[kind] = GLOBAL_BATCH / statistics.median(medians)
        row[f"{label} slices/s"] = rates[kind]
        slowest, fastest = GLOBAL_BATCH / max(medians), GLOBAL_BATCH / min(medians)
        row[f"{label} range"] = f"{slowest:.1f}-{fastest:.1f}"
    row["tinynet 2 ranks / 1 proc"] = rates["tinynet-ddp"] / rates["tinynet"]
    if "torch-ddp" in rates:
        row["tinynet 2 ranks / torch DDP"] = rates["tinynet-ddp"] / rates["torch-ddp"]
        row["torch DDP / 1 proc"] = rates["torch-ddp"] / rates["torch"]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="ResUNet at 128x128 only, 3 steps after 1 warm-up step")
    parser.add_argument("--rounds", type=int, default=3, help="alternations (default 3)")
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per run (default 5; 3 with --quick)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed steps first (default 2; 1 with --quick)")
    parser.add_argument("--threads", type=int, default=2,
                        help="cores used by every configuration: threads of one process, "
                             "shared out among the 2 ranks (default 2)")
    parser.add_argument("--no-torch", action="store_true", help="tinynet's two configurations")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, network, side, steps, warmup, threads = args.worker
        return worker(kind, network, int(side), int(steps), int(warmup), int(threads))
    args.steps = args.steps or (3 if args.quick else 5)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    kinds = [k for k, _ in CONFIGS if not (k.startswith("torch") and
                                           (args.no_torch or not torch_available()))]
    started = datetime.datetime.now(datetime.timezone.utc)
    machine = machine_description()
    print(f"machine: {machine}\ndate: {started:%Y-%m-%d %H:%M} UTC; global batch "
          f"{GLOBAL_BATCH}; {args.rounds} round(s) of {args.warmup} warm-up + {args.steps} "
          f"timed steps; {args.threads} cores for every configuration\n"
          "torch DDP uses plain BatchNorm (torch.nn.SyncBatchNorm needs CUDA); tinynet's 2 "
          "ranks use SyncBatchNorm\n", flush=True)
    rows, info = [], {}
    for network, side in (QUICK_CASES if args.quick else CASES):
        results = {k: [] for k in kinds}
        for r in range(args.rounds):
            for kind in kinds:
                results[kind].append(run_config(kind, network, side, args))
                info[kind] = results[kind][-1]["info"]
            print(f"  {network} {side}: round {r + 1}/{args.rounds} done", flush=True)
        rows.append(summary_row(network, side, results))
        rows[-1]["runs"] = results
    seconds = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
    labels = [label for kind, label in CONFIGS if kind in kinds]
    columns = ["network", "input"] + [f"{label} slices/s" for label in labels]
    columns += [c for c in ("tinynet 2 ranks / 1 proc", "tinynet 2 ranks / torch DDP",
                            "torch DDP / 1 proc") if c in rows[0]]
    print()
    print_table(rows, columns)
    print("\nslices/s over rounds (min-max):")
    print_table(rows, ["network", "input"] + [f"{label} range" for label in labels])
    for kind, label in CONFIGS:
        if kind in info:
            print(f"{label}: {info[kind]}")
    print(f"\ntook {seconds:.0f} s")
    write_json(args.json, {
        "machine": machine, "date": started.isoformat(timespec="seconds"),
        "python": platform.python_version(), "command": " ".join(["python"] + sys.argv),
        "global_batch": GLOBAL_BATCH, "rounds": args.rounds, "steps": args.steps,
        "warmup": args.warmup, "threads": args.threads, "seconds": round(seconds),
        "configurations": {label: info.get(kind) for kind, label in CONFIGS if kind in kinds},
        "rows": rows})


if __name__ == "__main__":
    main()
