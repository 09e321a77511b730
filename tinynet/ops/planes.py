"""Block-wise work on a stack of (H, W) planes, for pooling and resizing on the CPU.

Pooling and nearest resizing treat every (sample, channel) plane of an
(N, C, H, W) array on its own, so they can run on the (N*C, H, W) stack a
block of planes at a time.  On the CPU that is faster than whole-batch
operations, because the temporaries of a block are small: they stay in the
cache and the allocator reuses their memory.  Whole-batch temporaries of tens
of MB are fresh pages on every call (glibc hands such blocks back to the
operating system when they are freed), and the page faults cost as much as
the arithmetic: a 3x3/2 max pool of (8, 64, 112, 112) float32, forward and
backward, took 54 ms on whole arrays and 28 ms by blocks of 2 MiB (AMD EPYC,
2 cores).  Blocks of 1 to 4 MiB measured alike; 256 KiB was slower (Python
overhead per block), and so was 8 MiB.

On a GPU there is one block: every extra block is more kernel launches, and
device memory comes from CuPy's pool without page faults.
"""
import numpy as np

from .. import backend

__all__ = ["plane_blocks"]

BLOCK_BYTES = 2 * 2**20


def plane_blocks(planes):
    """Slices along axis 0 of the (P, H, W) stack ``planes``, about BLOCK_BYTES each
    (at least one plane per slice; one slice for all of a GPU array)."""
    n = planes.shape[0]
    if backend.get_array_module(planes) is not np:
        yield slice(0, n)
        return
    plane_bytes = planes.itemsize * planes.shape[1] * planes.shape[2]
    step = max(1, BLOCK_BYTES // max(1, plane_bytes))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))
