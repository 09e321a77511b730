"""Working in cache-sized blocks: one idea, used by pooling, resizing, batch norm and convolution.

Many ops make temporaries several times the size of their input (im2col
columns are KH*KW times x, Winograd's transformed input 4 times).  Built for
the whole batch at once, such a temporary streams through main memory between
the steps that write and read it, and on the CPU every call gets it as fresh
pages from the operating system (glibc returns large blocks when they are
freed), whose page faults cost as much as the arithmetic.  Cut into blocks of
a few MiB, the temporaries of one block stay in the CPU cache from one step to
the next and the allocator reuses their memory for the next block.

On a GPU there is one block: every extra block is more kernel launches, and
device memory comes from CuPy's pool without page faults.

Each op bounds a different buffer, so each has its own limit, named by what it
bounds (``BlockLimits``).  The values were measured: the tables are in
``benchmarks/NOTES.md`` ("Block sizes").  ``override_limits`` changes them
inside a ``with`` block: tests use it to force one-sample or one-row blocks,
and a learner can use it to see what the blocks buy.
"""
import contextlib
import contextvars
import dataclasses

import numpy as np

from .. import backend

__all__ = ["MiB", "BlockLimits", "limits", "override_limits", "spans", "batch_chunks",
           "plane_blocks"]

MiB = 2**20


@dataclasses.dataclass(frozen=True)
class BlockLimits:
    """Byte limits of the block-wise loops, each named by the buffer it bounds."""

    #: Temporaries of one block of (H, W) planes or samples: max pooling,
    #: nearest resizing, the batch-norm input gradient.
    plane_block: int = 2 * MiB
    #: im2col columns of one batch chunk (conv2d's im2col algorithm, when the
    #: columns of the whole batch are not kept for backward).
    im2col_chunk: int = 8 * MiB
    #: Winograd's transformed input V of one batch chunk.
    winograd_chunk: int = 4 * MiB
    #: The shifted copies of one row block of the rows algorithm.
    rows_block: int = 6 * MiB
    #: What a convolution may keep from forward for the weight gradient (im2col
    #: columns, Winograd's V); a larger buffer is rebuilt from x in backward.
    kept_for_backward: int = 64 * MiB


#: On a GPU: the im2col columns of up to 1 GiB at a time (so that a large batch never asks
#: for tens of GB at once), every other buffer whole, and nothing kept for backward (one
#: kernel rebuilds the columns).  Set from the reasoning above, not yet measured on a GPU.
GPU_LIMITS = BlockLimits(plane_block=2**62, im2col_chunk=1024 * MiB, winograd_chunk=2**62,
                         rows_block=2**62, kept_for_backward=0)

_limits = contextvars.ContextVar("tinynet_block_limits", default=None)


def limits(xp=np):
    """The BlockLimits in force for arrays of module ``xp``: ``override_limits``'s inside
    such a block (on both devices), else the measured CPU defaults or ``GPU_LIMITS``."""
    overridden = _limits.get()
    if overridden is not None:
        return overridden
    return BlockLimits() if xp is np else GPU_LIMITS


@contextlib.contextmanager
def override_limits(**changes):
    """Use other limits inside a ``with`` block, e.g. ``override_limits(rows_block=1)``.

    Field names as in ``BlockLimits``; 1 byte means "the smallest block there
    is" (one plane, one sample, one output row), 0 for ``kept_for_backward``
    means "keep nothing, rebuild in backward".
    """
    unknown = set(changes) - {f.name for f in dataclasses.fields(BlockLimits)}
    if unknown:
        raise TypeError(f"override_limits: unknown limit(s) {sorted(unknown)}; "
                        f"known: {[f.name for f in dataclasses.fields(BlockLimits)]}")
    token = _limits.set(dataclasses.replace(_limits.get() or BlockLimits(), **changes))
    try:
        yield _limits.get()
    finally:
        _limits.reset(token)


def spans(total, most):
    """``range(total)`` as about equal consecutive [start, stop) spans of at most ``most``."""
    count = -(-total // max(1, most))
    size = -(-total // count)
    return [(start, min(total, start + size)) for start in range(0, total, size)]


def batch_chunks(n, sample_bytes, chunk_bytes):
    """About equal slices [n0, n1) of a batch of n, each with about ``chunk_bytes`` of buffer.

    ``sample_bytes``: one sample's share of the buffer (its im2col columns, its
    Winograd V).  There are as many slices as the whole buffer has
    ``chunk_bytes`` (rounded up, at most n), so a slice may hold up to about
    twice ``chunk_bytes``; the measured limits were chosen with this rule.
    """
    count = min(n, max(1, -(-n * sample_bytes // max(1, chunk_bytes))))
    return spans(n, -(-n // count))


def plane_blocks(a):
    """Slices along axis 0 of ``a`` with about ``limits().plane_block`` bytes each.

    ``a`` is a stack of planes (P, H, W), or a batch (N, ...); each slice holds
    at least one of them.  A GPU array is one slice.
    """
    n = a.shape[0]
    if backend.get_array_module(a) is not np or n == 0:
        return [slice(0, n)]
    per_item = max(1, a.nbytes // n)
    return [slice(start, stop) for start, stop in spans(n, limits().plane_block // per_item)]
