"""Collectives on picklable Python objects: ``all_gather_object``, ``broadcast_object_list``, ...

As PyTorch's: each object is pickled into bytes, the byte counts are exchanged
first (so every rank can make room), then the bytes, which every receiver
unpickles.  They always go through MPI on the host, blocking.

Unpickling runs code chosen by whoever made the bytes: use these only among
ranks you trust (your own job), as PyTorch warns too.
"""
import pickle

import numpy as np

from .collectives import rank_argument
from .process_group import default_group
from .work import Work

__all__ = ["all_gather_object", "broadcast_object_list", "gather_object"]


def _bytes_of(obj):
    return np.frombuffer(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), np.uint8)


def _object_of(array):
    return pickle.loads(array.tobytes())


def _wait(mpi, pending):
    Work(mpi, pending).wait()


def _padded_all_gather(mpi, payload):
    """Every rank's ``payload`` bytes, as ``(rows, lengths)``: rows padded to the longest."""
    lengths = np.empty(mpi.size, np.int64)
    _wait(mpi, mpi.all_gather(np.array(payload.size, np.int64), lengths))
    row = np.zeros(int(lengths.max()), np.uint8)
    row[:payload.size] = payload
    return row, lengths


def all_gather_object(object_list, obj, group=None):
    """Set ``object_list[r]`` to rank r's ``obj`` on every rank (``object_list``: one per rank)."""
    group = default_group(group, "all_gather_object")
    if len(object_list) != group.size():
        raise ValueError(f"all_gather_object: object_list holds {len(object_list)} item(s); it "
                         f"needs one per rank ({group.size()}), e.g. [None] * world_size")
    mpi = group.mpi
    row, lengths = _padded_all_gather(mpi, _bytes_of(obj))
    rows = np.empty((mpi.size, row.size), np.uint8)
    _wait(mpi, mpi.all_gather(row, rows))
    for rank in range(mpi.size):
        object_list[rank] = _object_of(rows[rank, :lengths[rank]])


def gather_object(obj, object_gather_list=None, dst=None, group=None, group_dst=None):
    """Collect every rank's ``obj`` into ``object_gather_list`` on rank ``dst`` (default 0)."""
    group = default_group(group, "gather_object")
    dst = rank_argument(dst, group_dst, group, "gather_object", "dst", default=0)
    mpi = group.mpi
    is_dst = mpi.rank == dst
    if is_dst and (object_gather_list is None or len(object_gather_list) != mpi.size):
        raise ValueError("gather_object: on the destination rank object_gather_list must hold "
                         f"one item per rank ({mpi.size}), e.g. [None] * world_size")
    row, lengths = _padded_all_gather(mpi, _bytes_of(obj))
    rows = np.empty((mpi.size, row.size), np.uint8) if is_dst else None
    _wait(mpi, mpi.gather(row, rows, dst))
    if is_dst:
        for rank in range(mpi.size):
            object_gather_list[rank] = _object_of(rows[rank, :lengths[rank]])


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """Replace ``object_list``'s items with rank ``src``'s (default 0), on every other rank.

    Every rank passes a list of the same length (the other ranks' items are
    placeholders, e.g. ``[None] * n``).
    """
    group = default_group(group, "broadcast_object_list")
    src = rank_argument(src, group_src, group, "broadcast_object_list", "src", default=0)
    mpi = group.mpi
    if mpi.rank == src:
        payloads = [_bytes_of(obj) for obj in object_list]
        lengths = np.array([p.size for p in payloads], np.int64)
    else:
        lengths = np.empty(len(object_list), np.int64)
    _wait(mpi, mpi.broadcast(lengths, src))      # a list of another length: signature error
    if mpi.rank == src:
        data = np.concatenate(payloads) if payloads else np.empty(0, np.uint8)
    else:
        data = np.empty(int(lengths.sum()), np.uint8)
    _wait(mpi, mpi.broadcast(data, src))
    if mpi.rank != src:
        ends = np.cumsum(lengths)
        for index, end in enumerate(ends):
            object_list[index] = _object_of(data[end - lengths[index]:end])
