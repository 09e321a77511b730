"""Differentiable collectives, as ``torch.distributed.nn.functional``.

``tinynet.distributed.all_reduce`` changes an array in place and is invisible
to autograd.  ``all_reduce`` here is a Function: it returns a new Tensor, and
backward sends the gradient back across the ranks.  What it is for: a loss
made of sums over the *global* batch of data-parallel training, e.g. the soft
Dice of all ranks' pixels (``tn.ops.dice_loss(..., global_batch=True)``)::

    total = all_reduce(local_sums)          # the same value on every rank

Backward, with y = sum_r x_r on every rank and L the loss: each rank's gradient
of its own x_r is sum over the ranks of dL/dy computed there, an all-reduce of
the incoming gradients (for AVG, that sum divided by the world size).  Every
rank computes the same loss from the same y, so each rank's gradient is the
world size times its share; DistributedDataParallel's averaging divides that
back, and the ranks end with the gradient of the global batch's loss.

Without an initialized process group the world is this process: the result
is a copy of the input (as ``ops.sync_batch_norm`` then is ``batch_norm``).
"""
from ...autograd import Function, as_tensor
from .. import collectives
from ..process_group import is_initialized
from ..reduce_op import ReduceOp

__all__ = ["all_reduce"]


class AllReduce(Function):
    """y = the SUM (or AVG) over the ranks of x, any shape; dx = the same reduction of dy."""

    def __init__(self, op, group):
        self.op, self.group = op, group

    def forward(self, x):
        return self._reduced(x)

    def backward(self, grad):
        return self._reduced(grad)

    def _reduced(self, array):
        result = array.copy()         # the input (or incoming gradient) is never written into
        if is_initialized():
            collectives.all_reduce(result, op=self.op, group=self.group)
        return result


def all_reduce(tensor, op=ReduceOp.SUM, group=None):
    """A new Tensor: ``tensor`` reduced over the ranks of ``group`` (SUM or AVG), with a
    backward that reduces the gradient the same way (see the module docstring)."""
    if op not in (ReduceOp.SUM, ReduceOp.AVG):
        raise ValueError(f"distributed.nn.functional.all_reduce: op must be ReduceOp.SUM or "
                         f"ReduceOp.AVG (the ones with a gradient here), got {op}")
    return AllReduce(op, group)(as_tensor(tensor))
