"""A few training steps of a small BatchNorm network, data-parallel or in one process.

    mpiexec -n 2 python ddp_training.py OUT.npz ddp        # DDP + SyncBatchNorm, 4 samples a rank
    python ddp_training.py OUT.npz single                  # one process, the whole batch of 8
    mpiexec -n 2 python ddp_training.py OUT.npz ddp_no_sync / single_no_sync
    mpiexec -n 2 python ddp_training.py OUT.npz unused     # prints what DDP says, exit 0

Run by tests/test_nn_parallel.py, which compares the .npz files (rank 0
writes the data-parallel one): the state dict after the steps, and the
gradients of the last step.  Every rank starts from a different random model,
so equal results also show that DDP broadcast rank 0's at wrap time.
"""
import sys

import numpy as np

import tinynet as tn
import tinynet.distributed as dist
from tinynet import nn
from tinynet.utils.data import DataLoader, DistributedSampler, TensorDataset

GLOBAL_BATCH, STEPS = 8, 4


def network():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))


def data():
    rng = np.random.default_rng(7)
    images = rng.standard_normal((GLOBAL_BATCH * STEPS, 3, 6, 6)).astype(np.float32)
    labels = rng.integers(0, 2, GLOBAL_BATCH * STEPS)
    return TensorDataset(tn.tensor(images), tn.tensor(labels))


def train(model, loader, micro_steps_without_sync=0):
    """SGD with momentum over the loader; with ``micro_steps_without_sync`` k, every step
    accumulates k + 1 batches' gradients (the first k under ``no_sync`` when DDP)."""
    optimizer = tn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    batches = iter(loader)
    for _ in range(STEPS // (micro_steps_without_sync + 1)):
        optimizer.zero_grad()
        for k in range(micro_steps_without_sync + 1):
            images, labels = next(batches)
            sync = isinstance(model, nn.parallel.DistributedDataParallel) and \
                k < micro_steps_without_sync
            with model.no_sync() if sync else _nothing():
                tn.ops.cross_entropy(model(images), labels).backward()
        optimizer.step()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def save(path, model):
    arrays = {f"state/{k}": np.asarray(v) for k, v in model.state_dict().items()}
    arrays.update({f"grad/{n}": p.grad.numpy() for n, p in model.named_parameters()})
    np.savez(path, **arrays)


def main(path, mode):
    accumulate = 1 if mode.endswith("no_sync") else 0
    if mode.startswith("single"):
        tn.manual_seed(0)
        model = network()
        train(model, DataLoader(data(), batch_size=GLOBAL_BATCH), accumulate)
        save(path, model)
        return
    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    tn.manual_seed(rank)               # a different model on every rank before the wrap
    if mode == "unused":
        return check_unused_parameters(rank)
    model = nn.parallel.DistributedDataParallel(nn.SyncBatchNorm.convert_sync_batchnorm(
        network()))
    # Rank r gets samples r, r + world, ...: each global batch of 8 split 4 and 4.
    sampler = DistributedSampler(data(), shuffle=False)
    train(model, DataLoader(data(), batch_size=GLOBAL_BATCH // world, sampler=sampler),
          accumulate)
    if rank == 0:
        save(path, model.module)
    dist.destroy_process_group()


def check_unused_parameters(rank):
    """A branch the loss never uses: DDP's error names it; find_unused_parameters fixes it."""
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, x):
            return self.used(x)

    x = tn.randn(4, 3)
    model = nn.parallel.DistributedDataParallel(TwoHeads())
    model(x).sum().backward()
    try:
        model(x)
    except RuntimeError as exc:
        print(f"rank {rank}: {exc}")
    model = nn.parallel.DistributedDataParallel(TwoHeads(), find_unused_parameters=True)
    for _ in range(2):
        model(x).sum().backward()
    assert model.module.unused.weight.grad is None
    print(f"rank {rank}: with find_unused_parameters=True two steps ran")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
