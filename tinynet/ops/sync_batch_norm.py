"""Synchronized batch normalization: the statistics of the global batch, over every rank.

In data-parallel training each rank holds a slice of the batch.  Plain batch
norm would normalize each slice with its own statistics; ``sync_batch_norm``
uses those of the whole batch, so 2 ranks x batch 4 normalize exactly as
1 process x batch 8.  The math is ``batch_norm.py``'s, with every per-channel
sum (and the count m) summed over the ranks by an all-reduce:

    forward:  m, sum(x)            -> all-reduce -> mean
              sum((x - mean)^2)    -> all-reduce -> var        (two passes, as batch_norm)
    backward: sum(g), sum(g * xhat) -> all-reduce -> dx of the global batch

The weight and bias gradients returned are this rank's sums, as PyTorch's
SyncBatchNorm returns them: DistributedDataParallel averages them with every
other gradient.  With each rank's loss a mean over its own slice that average
is exactly the gradient of the mean loss over the global batch (each rank's
dy is world_size times its share; the factor cancels in dx's global sums).

The sums travel in float64 in one all-reduce per call (per-channel vectors of
C numbers, not the data), so they add up alike on every rank.
"""
import numpy as np

from .. import backend
from ..amp.autocast_mode import autocast_op
from ..autograd import as_tensor
from .batch_norm import BatchNormFunction, batch_norm, checked_arguments

__all__ = ["sync_batch_norm"]


class SyncBatchNormFunction(BatchNormFunction):
    """``BatchNormFunction`` whose batch is every rank's (training only); see the module."""

    # A rank whose input needs no gradient still runs the backward all-reduce, so that every
    # rank runs the same collectives (its weight and bias make it part of the graph).
    sums_in_every_backward = True

    def __init__(self, momentum, eps, running_mean, running_var, process_group=None):
        super().__init__(True, momentum, eps, running_mean, running_var)
        self.process_group = process_group

    def _sum_and_count_over_batch(self, total, count):
        """The (C,) sum and the count m over every rank, in the forward's one all-reduce.

        The count travels as a float64 beside the sums (exact up to 2**53) and comes
        back as a Python int: with MPI the sums pass through the host anyway; with
        NCCL on a GPU this read is one small wait per layer (PyTorch keeps m on the
        device instead; not yet done here).
        """
        from .. import distributed
        if not (distributed.is_available() and distributed.is_initialized()):
            return total, count
        xp = backend.get_array_module(total)
        total, counts = self._sum_over_batch(total, xp.full(1, count, dtype=xp.float64))
        return total, int(counts[0])

    def _sum_over_batch(self, *vectors):
        """Each (C,) vector summed over the ranks: one all-reduce of them side by side.
        Without a process group the world is this process, and the sums are its own."""
        from .. import distributed          # the framework's ops load without MPI
        if not (distributed.is_available() and distributed.is_initialized()):
            return vectors
        xp = backend.get_array_module(vectors[0])
        flat = xp.concatenate([v.astype(np.float64).reshape(-1) for v in vectors])
        distributed.all_reduce(flat, op=distributed.ReduceOp.SUM, group=self.process_group)
        sums, start = [], 0
        for v in vectors:
            sums.append(flat[start:start + v.size].astype(v.dtype).reshape(v.shape))
            start += v.size
        return tuple(sums)


@autocast_op
def sync_batch_norm(input, running_mean, running_var, weight=None, bias=None, momentum=0.1,
                    eps=1e-5, process_group=None):
    """Batch normalization of (N, C, *) in training mode with the statistics of the batch
    of every rank of ``process_group`` (the default group when None).

    Arguments as ``batch_norm``'s (``training`` is implied).  Every rank must
    call it with the same C, in the same order (it runs collectives, forward
    and backward), and its graph must be alike on every rank: a call that no
    gradient reaches on one rank (no weight, an input without gradient) but
    does on another leaves the ranks' all-reduces out of step (an error names it).
    Without an initialized process group, or in a world of one, it is
    ``batch_norm(..., training=True)``.
    """
    from .. import distributed
    if not (distributed.is_available() and distributed.is_initialized()) or \
            distributed.get_world_size(process_group) == 1:
        return batch_norm(input, running_mean, running_var, weight, bias, True, momentum, eps)
    x = as_tensor(input)
    rm, rv, weight, bias = checked_arguments(x, running_mean, running_var, weight, bias)
    if momentum is None:
        raise ValueError("sync_batch_norm: momentum=None (cumulative average) is not "
                         "supported; pass a number")
    return SyncBatchNormFunction(momentum, eps, rm, rv, process_group)(x, weight, bias)

