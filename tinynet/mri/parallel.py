"""What the training scripts share to run data-parallel under MPI's launcher.

    mpiexec -n 2 python examples/train_resunet.py ...

Each rank trains its part of every global batch (``--batch-size`` stays the
global batch, ``BatchLoader(rank=, world_size=)``), DistributedDataParallel
averages the gradients, and the pieces here keep the ranks in agreement:

* ``start()``: when the launcher started more than one process, join the
  process group (``tinynet.distributed.init_process_group``); without a
  launcher nothing starts and the script runs as it always did;
* ``rank_and_size()`` / ``is_main()``: rank 0 alone prints, logs and writes files;
* ``unwrap(model)``: the model inside DistributedDataParallel, whose state
  dict (no ``module.`` prefix) goes into the checkpoints;
* ``mean_over_ranks(vector)``: one all-reduce of a few numbers (the step's
  loss and its stop flags, see ``run.TrainingRun.check_finite``);
* ``gather_validation(arrays)``: every rank's share of the validation
  predictions, put together in the order of one process, on every rank, so
  that all compute the same metrics and choose the same best epoch.

The scripts show the model's own steps (SyncBatchNorm, DistributedDataParallel)
themselves; this module holds only what would otherwise be written twice.
"""
import sys

import numpy as np

import tinynet.distributed as dist
from tinynet.distributed.launch_env import launcher_rank_and_size
from tinynet.nn.parallel import DistributedDataParallel

__all__ = ["start", "rank_and_size", "is_main", "unwrap", "mean_over_ranks",
           "gather_validation"]


def start():
    """Join the process group if an MPI launcher started several processes; ``(rank, size)``.

    Only the launcher's environment is read first, so a plain ``python
    script.py`` never starts MPI (nor needs mpi4py).  The scripts call this
    after parsing their arguments, so ``--help`` and a bad flag never touch MPI.
    torchrun's ``RANK``/``WORLD_SIZE`` (names other tools set too) do not start
    MPI: with them alone the run is one process, and a note says so.
    """
    launched = launcher_rank_and_size(mpi_only=True)
    if launched is not None and launched[1] > 1 and not dist.is_initialized():
        dist.init_process_group()      # also pins each rank to its share of the BLAS threads
    elif launched is None and (launcher_rank_and_size() or (0, 1))[1] > 1:
        print(f"note: {launcher_rank_and_size()[2]} is set, but tinynet trains data-parallel "
              "under MPI's launcher (mpiexec -n N); this run is one process", file=sys.stderr)
    return rank_and_size()


def rank_and_size():
    """``(rank, world size)`` of this process: ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main():
    """True on rank 0 (and in a world of one): the process that prints and writes.  Before
    the group starts (a bad flag), the MPI launcher's variables say which rank this is."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    launched = launcher_rank_and_size(mpi_only=True)
    return launched is None or launched[0] == 0


def unwrap(model):
    """The module that DistributedDataParallel wraps, or ``model`` itself."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def mean_over_ranks(values):
    """float64 array: the element-wise mean of ``values`` over the ranks (one all-reduce)."""
    array = np.array(values, dtype=np.float64)
    if rank_and_size()[1] > 1:
        dist.all_reduce(array, op=dist.ReduceOp.AVG)
    return array


def gather_validation(arrays):
    """Put together the ranks' validation predictions, on every rank.

    arrays : dict of arrays whose first axis runs over this rank's slices, with
        ``"indices"`` (their dataset indices) among them; the ranks' shards are disjoint

    Returns the dict of all slices ordered by dataset index, the order one process
    sees them in (``SliceDataset.indices_of`` is ascending).  In a world of one,
    ``arrays`` comes back as it is.
    """
    world = rank_and_size()[1]
    if world == 1:
        return arrays
    parts = [None] * world
    dist.all_gather_object(parts, arrays)
    merged = {key: np.concatenate([part[key] for part in parts]) for key in arrays}
    order = np.argsort(merged["indices"], kind="stable")
    return {key: value[order] for key, value in merged.items()}
