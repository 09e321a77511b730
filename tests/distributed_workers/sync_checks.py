"""SyncBatchNorm and DistributedDataParallel cases that each rank checks itself (2 ranks).

    mpiexec -n 2 python sync_checks.py

* SyncBatchNorm with uneven batches (3 and 5 samples) and ``momentum=None`` (the
  cumulative average): forward, input gradient, the ranks' summed weight gradient
  and the running statistics equal BatchNorm2d's on the whole batch of 8, which
  every rank computes itself from the same seed.
* DDP with ``find_unused_parameters=True`` where only rank 0 uses a parameter,
  a SyncBatchNorm behind it: the ranks end with the same gradients.
* DDP with the forward outside ``no_sync()`` and the backward inside it: the
  gradients are still averaged (the decision is the forward's, as in PyTorch).
Each rank prints "rank R: N checks passed"; a failed check raises, which aborts both.
"""
import numpy as np

import tinynet as tn
import tinynet.distributed as dist
from tinynet import nn

checks = 0


def close(actual, expected, what, rtol=1e-5, atol=1e-6):
    global checks
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol,
                               err_msg=what)
    checks += 1


def same_on_every_rank(array, what):
    gathered = [None, None]
    dist.all_gather_object(gathered, np.asarray(array))
    close(gathered[0], gathered[1], f"{what}: rank 0 against rank 1", rtol=0, atol=0)


def uneven_sync_batchnorm(rank):
    rng = np.random.default_rng(3)
    batches = [rng.standard_normal((8, 3, 2, 2)).astype(np.float32) for _ in range(2)]
    upstream = rng.standard_normal((8, 3, 2, 2)).astype(np.float32)
    rows = slice(0, 3) if rank == 0 else slice(3, 8)
    sync, whole = nn.SyncBatchNorm(3, momentum=None), nn.BatchNorm2d(3, momentum=None)
    for step, batch in enumerate(batches):
        mine = tn.tensor(batch[rows], requires_grad=True)
        everything = tn.tensor(batch, requires_grad=True)
        ours, reference = sync(mine), whole(everything)
        close(ours.numpy(), reference.numpy()[rows], f"step {step}: output")
        ours.backward(upstream[rows])
        reference.backward(upstream)
        close(mine.grad.numpy(), everything.grad.numpy()[rows], f"step {step}: input gradient")
    for name in ("running_mean", "running_var"):
        close(getattr(sync, name).numpy(), getattr(whole, name).numpy(), name)
    summed = sync.weight.grad.numpy().copy()
    dist.all_reduce(summed)
    close(summed, whole.weight.grad.numpy(), "weight gradient summed over the ranks")


class ExtraOnRankZero(nn.Module):
    def __init__(self):
        super().__init__()
        self.extra = nn.Parameter(tn.ones(1, 3, 1, 1).data)
        self.norm = nn.SyncBatchNorm(3)
        self.head = nn.Conv2d(3, 2, 1)

    def forward(self, x, use_extra):
        return self.head(self.norm(x * self.extra if use_extra else x))


def unused_on_one_rank(rank):
    tn.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(ExtraOnRankZero(), find_unused_parameters=True,
                                                bucket_cap_mb=1e-6)   # a bucket a parameter
    x = tn.tensor(np.random.default_rng(rank).standard_normal((4, 3, 2, 2)).astype(np.float32))
    for _ in range(2):
        (model(x, rank == 0) ** 2).sum().backward()
    for name, p in model.module.named_parameters():
        same_on_every_rank(p.grad.numpy(), f"find_unused_parameters: {name}.grad")


def backward_inside_no_sync(rank):
    tn.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(nn.Linear(3, 1))
    y = model(tn.full((2, 3), float(rank + 1))).sum()
    with model.no_sync():
        y.backward()
    same_on_every_rank(model.module.weight.grad.numpy(), "backward inside no_sync")


def main():
    dist.init_process_group()
    rank = dist.get_rank()
    uneven_sync_batchnorm(rank)
    unused_on_one_rank(rank)
    backward_inside_no_sync(rank)
    print(f"rank {rank}: {checks} checks passed", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
