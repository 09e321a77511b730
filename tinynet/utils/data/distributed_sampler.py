"""DistributedSampler: each of ``num_replicas`` processes reads its own share of a dataset.

In data-parallel training every process (rank) runs the same script on a different
part of the data.  ``DistributedSampler`` gives rank ``r`` of ``R`` the indices
``r, r + R, r + 2R, ...`` of one epoch's order, with PyTorch's exact arithmetic:

1. the epoch's order: ``0 .. n-1``, or with ``shuffle`` a permutation drawn from a
   generator seeded with ``seed + epoch``: the same on every rank (they share
   ``seed``), new each epoch (call ``set_epoch(epoch)`` before each epoch);
2. equal shares: the order is padded by repeating its first indices until its
   length is a multiple of R (every rank then has ``ceil(n / R)`` indices, a few
   samples being seen twice), or with ``drop_last`` its tail is cut to a multiple
   of R (``n // R`` each; the cut samples are skipped this epoch);
3. rank r takes ``order[r::R]``.

Example: n = 10, R = 4, no shuffle: the order padded to 12 is 0..9, 0, 1; rank 0
gets [0, 4, 8], rank 1 [1, 5, 9], rank 2 [2, 6, 0], rank 3 [3, 7, 1].

    sampler = DistributedSampler(ds, num_replicas=4, rank=rank, shuffle=True, seed=0)
    loader = DataLoader(ds, batch_size=32, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for batch in loader: ...

The permutation comes from NumPy (``np.random.default_rng(seed + epoch)``), so it
differs from PyTorch's for the same seed; steps 2 and 3 are PyTorch's exactly.
"""
import math

import numpy as np

from .sampler import Sampler

__all__ = ["DistributedSampler"]


class DefaultProcessGroupError(ValueError, RuntimeError):
    """No process group to take the world size or rank from.

    PyTorch 2.x raises ValueError here and PyTorch 1.x raised RuntimeError: this is
    both, so ``except`` clauses written for either version catch it.
    """


def _world():
    """``tinynet.distributed``, checked to be usable for the world size and rank.

    Imported here, not at the top: the data API must import without the
    distributed package (and its MPI or NCCL back ends).
    """
    what_to_pass = ("or pass num_replicas= and rank= to DistributedSampler explicitly "
                    "(e.g. num_replicas=1, rank=0 for a single process)")
    try:
        from ... import distributed as dist
    except ImportError as exc:
        raise RuntimeError(f"Requires distributed package to be available: tinynet.distributed "
                           f"cannot be imported ({exc}); {what_to_pass}") from exc
    if not dist.is_available():
        raise RuntimeError(f"Requires distributed package to be available; {what_to_pass}")
    if not dist.is_initialized():
        raise DefaultProcessGroupError(
            f"Default process group has not been initialized, please make sure to call "
            f"init_process_group (tinynet.distributed.init_process_group), {what_to_pass}")
    return dist


class DistributedSampler(Sampler[int]):
    """Rank ``rank``'s share of ``dataset`` (a map-style dataset, only its ``len`` is used).

    num_replicas : the number of processes R (default: the process group's world size).
    rank : this process's rank in 0 .. R-1 (default: the process group's rank).
    shuffle : shuffle the order each epoch (with ``seed + epoch``).
    seed : the same on every rank, or the ranks' shares overlap.
    drop_last : cut the tail of the order to a multiple of R instead of padding it.

    Attributes as PyTorch's: ``num_samples`` (this rank's count, ``len(sampler)``),
    ``total_size`` (``num_samples * R``), ``epoch``.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if num_replicas is None:
            num_replicas = _world().get_world_size()
        if rank is None:
            rank = _world().get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        self.shuffle = shuffle
        self.seed = seed
        n = len(dataset)
        if drop_last:
            self.num_samples = n // num_replicas
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            order = list(range(n))
        if self.drop_last:
            order = order[:self.total_size]
        else:
            # Repeat the order from its start (several times over when R > n) to total_size.
            padding = self.total_size - n
            repeats = math.ceil(padding / n) if n else 0
            order += (order * repeats)[:padding]
        assert len(order) == self.total_size, (len(order), self.total_size)
        mine = order[self.rank:self.total_size:self.num_replicas]
        assert len(mine) == self.num_samples, (len(mine), self.num_samples)
        return iter(mine)

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Set the epoch whose order ``__iter__`` yields (with ``shuffle``: a new
        permutation per epoch).  Call it on every rank before each epoch's loop."""
        self.epoch = epoch
