"""Every collective on every rank, checked against the values it must give (any world size).

Run by tests/test_distributed.py as ``mpiexec -n 2 python collectives.py`` and,
without mpiexec, as a world of size 1.  ``python collectives.py nccl`` asks for
the NCCL backend: without CuPy/NCCL it must fall back to MPI with a warning;
with a GPU it also runs the checks on GPU tensors (the NCCL check to run on a
GPU machine).  Each rank prints "rank R of N: K checks passed" at the end; a
failed check raises, which aborts every rank.
"""
import sys
import warnings

import numpy as np

import tinynet as tn
import tinynet.distributed as dist
from tinynet.distributed import ReduceOp

checks = 0


def same(actual, expected, what):
    """Values, shape and dtype (a Tensor's or an array's) must equal ``expected``'s."""
    global checks
    data = actual.numpy() if isinstance(actual, tn.Tensor) else tn.backend.to_numpy(actual)
    expected = np.asarray(expected)
    assert data.dtype == expected.dtype, f"{what}: dtype {data.dtype}, expected {expected.dtype}"
    assert data.shape == expected.shape, f"{what}: shape {data.shape}, expected {expected.shape}"
    assert np.array_equal(data, expected), f"{what}: {data.tolist()}, expected {expected.tolist()}"
    checks += 1


def raises(error, fragment, function, *args, **kwargs):
    """``function(...)`` must raise ``error`` with ``fragment`` in its message."""
    global checks
    try:
        function(*args, **kwargs)
    except error as exc:
        assert fragment in str(exc), f"{function.__name__}: {fragment!r} not in {exc}"
        checks += 1
        return
    raise AssertionError(f"{function.__name__}{args} did not raise {error.__name__}")


def check_all_reduce(rank, size, device):
    total = size * (size + 1) // 2                     # sum of (rank + 1) over the ranks
    base = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = tn.tensor(base * (rank + 1), device=device)
    dist.all_reduce(t)
    same(t, base * total, "all_reduce SUM float32 tensor")

    a = np.arange(4, dtype=np.float64) + rank           # a NumPy array, reduced in place
    for op, expected in ((ReduceOp.MAX, np.arange(4.) + size - 1), (ReduceOp.MIN, np.arange(4.)),
                         (ReduceOp.PRODUCT, np.prod([np.arange(4.) + r for r in range(size)], 0)),
                         (ReduceOp.AVG, np.arange(4.) + (size - 1) / 2)):
        b = tn.tensor(a.copy(), device=device)
        dist.all_reduce(b, op=op)
        same(b, expected, f"all_reduce {op!r} float64")

    i = tn.tensor(np.array([1, -2, 3 * 10**12]) * (rank + 1), device=device)
    dist.all_reduce(i)
    same(i, np.array([1, -2, 3 * 10**12]) * total, "all_reduce SUM int64 (large values)")
    i = tn.tensor(np.array([rank, -rank]), device=device)
    dist.all_reduce(i, op=ReduceOp.MAX)
    same(i, np.array([size - 1, 0]), "all_reduce MAX int64")

    scalar = tn.tensor(np.float32(rank + 1), device=device)
    dist.all_reduce(scalar, op=ReduceOp.AVG)
    same(scalar, np.float32(total / size), "all_reduce AVG 0-d float32")

    flags = tn.tensor(np.array([rank == 0, False, True]), device=device)
    dist.all_reduce(flags)                              # bools: SUM is a logical or
    same(flags, np.array([True, False, True]), "all_reduce SUM bool")
    flags = tn.tensor(np.array([rank == 0, False, True]), device=device)
    dist.all_reduce(flags, op=ReduceOp.MIN)             # ... and MIN a logical and
    same(flags, np.array([size == 1, False, True]), "all_reduce MIN bool")

    # Non-contiguous: a strided view of a NumPy array, and a transposed tensor.
    grid = np.arange(12, dtype=np.float32).reshape(3, 4) * (rank + 1)
    dist.all_reduce(grid[:, ::2])
    expected = np.arange(12, dtype=np.float32).reshape(3, 4) * (rank + 1)
    expected[:, ::2] *= total / (rank + 1)
    same(grid, expected, "all_reduce of a strided view (the other columns untouched)")
    t = tn.tensor(np.arange(6.).reshape(2, 3) * (rank + 1), device=device).transpose(0, 1)
    dist.all_reduce(t)
    same(t, np.arange(6.).reshape(2, 3).T * total, "all_reduce of a transposed tensor")


def check_async(rank, size, device):
    """Several buckets in flight at once, waited for in another order (as DDP does)."""
    total = size * (size + 1) // 2
    buckets = [np.full(n, float(rank + 1), np.float32) for n in (5, 1000, 3)]
    works = [dist.all_reduce(bucket, op=ReduceOp.AVG, async_op=True) for bucket in buckets]
    assert all(isinstance(work, dist.Work) for work in works)
    views = [bucket[:2] for bucket in buckets]          # views see the result in place
    for work in reversed(works):
        assert work.wait() is True
        assert work.is_completed()
    for n, bucket, view in zip((5, 1000, 3), buckets, views):
        same(bucket, np.full(n, total / size, np.float32), "async all_reduce AVG bucket")
        same(view, np.full(2, total / size, np.float32), "a view into the bucket")
    t = tn.tensor(np.float32([rank]), device=device)
    work = dist.all_reduce(t, async_op=True)
    while not work.is_completed():                      # polling also finishes it
        pass
    same(t, np.float32([size * (size - 1) / 2]), "async all_reduce, polled with is_completed")


def check_broadcast_and_gathers(rank, size, device):
    src = size - 1
    t = tn.tensor(np.full((2, 2), rank, np.int64), device=device)
    dist.broadcast(t, src=src)
    same(t, np.full((2, 2), src, np.int64), "broadcast int64")
    scalar = tn.tensor(np.float64(rank * 1.5), device=device)
    dist.broadcast(scalar, src=0)
    same(scalar, np.float64(0.0), "broadcast 0-d float64")

    mine = tn.tensor(np.arange(3) + 10 * rank, device=device)
    gathered = [tn.zeros(3, dtype=tn.int64, device=device) for _ in range(size)]
    dist.all_gather(gathered, mine)
    for r in range(size):
        same(gathered[r], np.arange(3) + 10 * r, f"all_gather [{r}]")

    piece = np.full((2, 3), rank, np.float32)
    concatenated = np.zeros((2 * size, 3), np.float32)
    dist.all_gather_into_tensor(concatenated, piece)
    same(concatenated, np.repeat(np.arange(size, dtype=np.float32), 2)[:, None].repeat(3, 1),
         "all_gather_into_tensor (concatenated)")
    stacked = tn.zeros(size, 2, 3, device=device)
    dist.all_gather_into_tensor(stacked, tn.tensor(piece, device=device))
    same(stacked, np.arange(size, dtype=np.float32)[:, None, None] * np.ones((2, 3), np.float32),
         "all_gather_into_tensor (stacked)")

    r = tn.tensor(np.float32([rank + 1, 1]), device=device)
    dist.reduce(r, dst=0)
    same(r, np.float32([size * (size + 1) / 2, size]) if rank == 0 else np.float32([rank + 1, 1]),
         "reduce to rank 0 (the others unchanged)")

    gather_list = [tn.zeros(2, device=device) for _ in range(size)] if rank == 0 else None
    dist.gather(tn.tensor(np.float32([rank, -rank]), device=device), gather_list, dst=0)
    if rank == 0:
        for q in range(size):
            same(gather_list[q], np.float32([q, -q]), f"gather [{q}]")

    received = tn.zeros(2, dtype=tn.int64, device=device)
    scatter_list = ([tn.tensor(np.array([q, q * q]), device=device) for q in range(size)]
                    if rank == 0 else None)
    dist.scatter(received, scatter_list, src=0)
    same(received, np.array([rank, rank * rank]), "scatter from rank 0")


def check_objects_and_barrier(rank, size):
    objects = [None] * size
    dist.all_gather_object(objects, {"rank": rank, "text": "x" * (10 * rank)})
    assert objects == [{"rank": r, "text": "x" * (10 * r)} for r in range(size)], objects
    mine = [f"from {rank}", list(range(rank + 2)), None]
    dist.broadcast_object_list(mine, src=0)
    assert mine == ["from 0", [0, 1], None], mine
    gathered = [None] * size if rank == 0 else None
    dist.gather_object((rank, "y" * rank), gathered, dst=0)
    assert rank != 0 or gathered == [(r, "y" * r) for r in range(size)], gathered
    dist.barrier()
    assert dist.barrier(async_op=True).wait()
    global checks
    checks += 4


def check_local_errors(rank, size):
    """Mistakes one rank can see alone raise before anything is sent, on every rank."""
    x = np.zeros(3, np.float32)
    raises(TypeError, "must be a tinynet Tensor or a NumPy/CuPy array", dist.all_reduce, [1, 2])
    raises(TypeError, "op must be a tinynet.distributed.ReduceOp", dist.all_reduce, x, op="sum")
    raises(RuntimeError, "ReduceOp.AVG of a int64 tensor", dist.all_reduce, np.zeros(2, np.int64),
           op=ReduceOp.AVG)
    raises(ValueError, "src (a rank) is required", dist.broadcast, x)
    raises(ValueError, f"src={size} is not a rank of the group", dist.broadcast, x, src=size)
    raises(ValueError, f"it needs one per rank ({size})", dist.all_gather, [x] * (size + 1), x)
    raises(ValueError, "every entry must match tensor", dist.all_gather,
           [np.zeros(4, np.float32)] * size, x)
    raises(ValueError, "read-only", dist.all_reduce, np.broadcast_to(x, (2, 3)))
    raises(ValueError, "one process group", dist.all_reduce, x, group="another")
    raises(ValueError, "twice", dist.init_process_group)


def main():
    backend = sys.argv[1] if len(sys.argv) > 1 else None
    assert not dist.is_initialized()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist.init_process_group(backend)
    rank, size = dist.get_rank(), dist.get_world_size()
    if backend == "nccl" and not dist.is_nccl_available():
        assert any("go through MPI on host copies" in str(w.message) for w in caught), caught
    assert dist.get_backend() == (backend or "mpi")
    devices = ["cpu"] + (["gpu"] if backend == "nccl" and tn.gpu_available() else [])
    for device in devices:
        check_all_reduce(rank, size, device)
        check_async(rank, size, device)
        check_broadcast_and_gathers(rank, size, device)
    check_objects_and_barrier(rank, size)
    check_local_errors(rank, size)

    # An async all-reduce never waited for is finished by destroy_process_group;
    # then a new group can be made in the same process.
    left_over = np.full(4, 1.0 + rank)
    strided = np.full((2, 2), 1.0 + rank)[:, 0]      # a copy travels, written back at the end
    dist.all_reduce(left_over, op=ReduceOp.SUM, async_op=True)
    dist.all_reduce(strided, op=ReduceOp.AVG, async_op=True)
    dist.destroy_process_group()
    same(left_over, np.full(4, size * (size + 1) / 2), "an unwaited async all_reduce, at destroy")
    same(strided, np.full(2, (size + 1) / 2), "... of a strided view, AVG")
    raises(ValueError, "call tinynet.distributed.init_process_group", dist.all_reduce, left_over)
    dist.init_process_group(backend)
    again = np.ones(2, np.int64)
    dist.all_reduce(again)
    same(again, np.full(2, size), "all_reduce in a second group")
    print(f"rank {rank} of {size}: {checks} checks passed", flush=True)
    # The script ends with the group still open: the exit hook leaves it.


if __name__ == "__main__":
    main()
