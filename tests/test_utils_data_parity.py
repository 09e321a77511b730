"""tinynet.utils.data against torch.utils.data: the same user code, run with ``lib = torch``
and with ``lib = tinynet``, gives the same lengths, batch structures, shapes and dtypes,
and the same error types (and messages) for bad arguments; DistributedSampler gives
PyTorch's index lists without shuffle and the same padding structure with it.

The random orders differ (two different generators), so shuffled runs are compared
by what does not depend on the draw.
"""
import collections
import math

import numpy as np
import pytest

import tinynet as tn
from torch_parity import dtype_name, to_numpy

X = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)                          # two classes

Pair = collections.namedtuple("Pair", "image label")


def describe(value):
    """A library-neutral picture of a batch: containers kept, tensors as
    ("tensor", shape, dtype, values), numbers with their type."""
    if isinstance(value, tn.Tensor) or hasattr(value, "detach"):
        return ("tensor", tuple(value.shape), dtype_name(value), to_numpy(value).tolist())
    if isinstance(value, dict):
        return {key: describe(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [describe(v) for v in value])
    return (type(value).__name__, value)


def shapes_only(picture):
    """``describe`` without the values (for shuffled batches)."""
    if isinstance(picture, dict):
        return {k: shapes_only(v) for k, v in picture.items()}
    if isinstance(picture, tuple) and picture and picture[0] == "tensor":
        return picture[:3]
    if isinstance(picture, tuple) and len(picture) == 2 and isinstance(picture[1], list):
        return (picture[0], [shapes_only(v) for v in picture[1]])
    return picture


def training_run(lib):
    """A small classifier trained the usual way: split, shuffled loader, SGD."""
    data = lib.utils.data
    lib.manual_seed(0)
    dataset = data.TensorDataset(lib.tensor(X), lib.tensor(Y))
    train, val = data.random_split(dataset, [0.7, 0.3])
    loader = data.DataLoader(train, batch_size=8, shuffle=True)
    val_loader = data.DataLoader(val, batch_size=16)
    model = lib.nn.Linear(4, 2)
    opt = lib.optim.SGD(model.parameters(), lr=0.5)
    record = [len(train), len(val), len(loader), len(val_loader)]
    for _ in range(4):
        for xb, yb in loader:
            loss = lib.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            record.append(shapes_only(describe([xb, yb])))
    correct = 0
    with lib.no_grad():
        for xb, yb in val_loader:
            record.append(shapes_only(describe([xb, yb])))
            correct += (model(xb).argmax(1) == yb).sum().item()
    return record, sorted(train.indices + val.indices), correct / len(val)


def test_the_same_training_loop_runs_with_both(torch):
    ours, our_indices, our_accuracy = training_run(tn)
    theirs, their_indices, their_accuracy = training_run(torch)
    assert ours == theirs
    assert our_indices == their_indices == list(range(50))
    assert our_accuracy > 0.8 and their_accuracy > 0.8


def samples():
    """Samples of every kind default_collate handles."""
    return [{"image": np.full((2, 2), i, np.float32), "label": i, "weight": i / 2,
             "name": f"s{i}", "flag": i % 2 == 0, "pair": (i, np.float64(i)),
             "named": Pair(np.arange(3) + i, np.int32(i)), "list": [i, [i, i + 1]]}
            for i in range(5)]


@pytest.mark.parametrize("kwargs", [dict(batch_size=2), dict(batch_size=2, drop_last=True),
                                    dict(batch_size=None), dict(batch_size=3, num_workers=2)])
def test_collation_of_dicts_tuples_namedtuples_and_lists(torch, kwargs):
    def batches(lib):
        return [describe(b) for b in lib.utils.data.DataLoader(samples(), **kwargs)]
    assert batches(tn) == batches(torch)


@pytest.mark.parametrize("batch", [
    [np.zeros((2, 3), np.float16), np.ones((2, 3), np.float16)],
    [np.float32(1), np.float32(2)], [np.int32(1), np.int32(2)], [np.bool_(True), np.bool_(0)],
    [1.5, 2], [3, 4], [True, False], ["a", "b"], [b"a", b"b"],
    [(1, "x"), (2, "y")], [Pair(1.0, 2), Pair(3.0, 4)],
])
def test_default_collate_and_convert(torch, batch):
    for name in ("default_collate", "default_convert"):
        def run(lib):
            function = getattr(lib.utils.data, name)
            if name == "default_collate":
                return describe(function(batch))
            return [describe(function(sample)) for sample in batch]
        assert run(tn) == run(torch), name


def test_collating_tensors(torch):
    def run(lib):
        return describe(lib.utils.data.default_collate([lib.ones(2, 3), lib.zeros(2, 3)]))
    assert run(tn) == run(torch)


def dataset(lib):
    return lib.utils.data.TensorDataset(lib.arange(6))


def stream(lib):
    class Stream(lib.utils.data.IterableDataset):
        def __iter__(self):
            yield from range(5)
    return Stream()


BAD_ARGUMENTS = {
    "num_workers": lambda lib: lib.utils.data.DataLoader(dataset(lib), num_workers=-1),
    "timeout": lambda lib: lib.utils.data.DataLoader(dataset(lib), timeout=-1),
    "prefetch_no_workers": lambda lib: lib.utils.data.DataLoader(dataset(lib), prefetch_factor=2),
    "persistent": lambda lib: lib.utils.data.DataLoader(dataset(lib), persistent_workers=True),
    "context": lambda lib: lib.utils.data.DataLoader(dataset(lib), multiprocessing_context="fork"),
    "shuffle_sampler": lambda lib: lib.utils.data.DataLoader(dataset(lib), shuffle=True,
                                                             sampler=[0, 1]),
    "batch_sampler_size": lambda lib: lib.utils.data.DataLoader(dataset(lib), batch_size=2,
                                                                batch_sampler=[[0]]),
    "batch_sampler_drop": lambda lib: lib.utils.data.DataLoader(dataset(lib), drop_last=True,
                                                                batch_sampler=[[0]]),
    "no_batch_drop": lambda lib: lib.utils.data.DataLoader(dataset(lib), batch_size=None,
                                                           drop_last=True),
    "batch_size_0": lambda lib: lib.utils.data.DataLoader(dataset(lib), batch_size=0),
    "iterable_shuffle": lambda lib: lib.utils.data.DataLoader(stream(lib), shuffle=True),
    "iterable_sampler": lambda lib: lib.utils.data.DataLoader(stream(lib), sampler=[0]),
    "iterable_batch_sampler": lambda lib: lib.utils.data.DataLoader(stream(lib),
                                                                    batch_sampler=[[0]]),
    "set_batch_size": lambda lib: setattr(lib.utils.data.DataLoader(dataset(lib)),
                                          "batch_size", 2),
    "tensor_sizes": lambda lib: lib.utils.data.TensorDataset(lib.zeros(3), lib.zeros(4)),
    "concat_empty": lambda lib: lib.utils.data.ConcatDataset([]),
    "concat_negative": lambda lib: lib.utils.data.ConcatDataset([dataset(lib)])[-7],
    "split_sum": lambda lib: lib.utils.data.random_split(range(10), [3, 3]),
    "split_fraction": lambda lib: lib.utils.data.random_split(range(10), [0.5, 1.5, -1.0]),
    "random_replacement": lambda lib: lib.utils.data.RandomSampler(range(3), replacement=1),
    "random_num_samples": lambda lib: lib.utils.data.RandomSampler(range(3), num_samples=-2),
    "weighted_num_samples": lambda lib: lib.utils.data.WeightedRandomSampler([1.0], 0),
    "weighted_replacement": lambda lib: lib.utils.data.WeightedRandomSampler([1.0], 1,
                                                                             replacement=2),
    "weighted_shape": lambda lib: lib.utils.data.WeightedRandomSampler([[1.0]], 1),
    "weighted_negative": lambda lib: list(lib.utils.data.WeightedRandomSampler([1.0, -1.0], 1)),
    "batch_sampler_args": lambda lib: lib.utils.data.BatchSampler(range(3), 2, drop_last=1),
    "collate_sizes": lambda lib: lib.utils.data.default_collate([[1, 2], [3]]),
    "collate_type": lambda lib: lib.utils.data.default_collate([object()]),
    "dataset_getitem": lambda lib: lib.utils.data.Dataset()[0],
    "distributed_rank": lambda lib: lib.utils.data.DistributedSampler(range(4), num_replicas=2,
                                                                      rank=2),
}

# Ours says more after PyTorch's words (the sizes, what to do) or, for these, other words.
OWN_WORDS = {"prefetch_no_workers", "weighted_negative"}


@pytest.mark.parametrize("name", sorted(BAD_ARGUMENTS))
def test_bad_arguments_raise_pytorchs_errors(torch, name):
    errors = []
    for lib in (tn, torch):
        with pytest.raises(Exception) as info:
            BAD_ARGUMENTS[name](lib)
        errors.append(info.value)
    ours, theirs = errors
    assert type(ours) is type(theirs), (ours, theirs)
    if name not in OWN_WORDS:
        assert str(ours).startswith(str(theirs)), (str(ours), str(theirs))


def distributed_shares(lib, n, replicas, **kwargs):
    samplers = [lib.utils.data.DistributedSampler(range(n), num_replicas=replicas, rank=r,
                                                  **kwargs) for r in range(replicas)]
    return [(len(s), s.num_samples, s.total_size, list(s)) for s in samplers]


@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_index_lists_equal_pytorchs_without_shuffle(torch, drop_last):
    for n in range(0, 26):
        for replicas in range(1, 10):
            ours = distributed_shares(tn, n, replicas, shuffle=False, drop_last=drop_last)
            theirs = distributed_shares(torch, n, replicas, shuffle=False, drop_last=drop_last)
            assert ours == theirs, (n, replicas, drop_last)


def padding_structure(shares, replicas):
    """What a shuffled epoch has in common with PyTorch's: lengths, how many indices
    appear how often, and that the padding repeats the start of the order."""
    lengths = [length for length, _, _, _ in shares]
    order = [shares[i % replicas][3][i // replicas] for i in range(sum(lengths))]
    counts = sorted(collections.Counter(order).values())
    n_distinct = len(set(order))
    repeats_start = all(order[i] == order[i % n_distinct] for i in range(len(order)))
    return lengths, [s[1:3] for s in shares], counts, repeats_start


@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_shuffled_shares_have_pytorchs_structure(torch, drop_last):
    for n in (1, 5, 10, 17, 24):
        for replicas in (1, 2, 3, 4, 7):
            for epoch in (0, 1):
                shares = []
                for lib in (tn, torch):
                    samplers = [lib.utils.data.DistributedSampler(
                        range(n), num_replicas=replicas, rank=r, seed=3, drop_last=drop_last)
                        for r in range(replicas)]
                    for s in samplers:
                        s.set_epoch(epoch)
                    shares.append([(len(s), s.num_samples, s.total_size, list(s))
                                   for s in samplers])
                ours, theirs = (padding_structure(s, replicas) for s in shares)
                assert ours == theirs, (n, replicas, drop_last)
                if not drop_last:
                    assert ours[3], (n, replicas)


def test_distributed_sampler_lengths_equal_pytorchs_formula(torch):
    for n in range(0, 40):
        for replicas in range(1, 12):
            for drop_last in (False, True):
                ours = tn.utils.data.DistributedSampler(range(n), replicas, 0,
                                                        drop_last=drop_last)
                theirs = torch.utils.data.DistributedSampler(range(n), replicas, 0,
                                                             drop_last=drop_last)
                assert (len(ours), ours.total_size) == (len(theirs), theirs.total_size)
                assert len(ours) == (n // replicas if drop_last else math.ceil(n / replicas))


def test_iterable_dataset_with_workers_interleaves_as_pytorch(torch):
    def run(lib):
        data = lib.utils.data

        class Sharded(data.IterableDataset):
            def __iter__(self):
                info = data.get_worker_info()
                yield from range(info.id, 7, info.num_workers)

        return ([b.tolist() for b in data.DataLoader(stream(lib), batch_size=2, num_workers=2)],
                [b.tolist() for b in data.DataLoader(Sharded(), batch_size=2, num_workers=2)])

    assert run(tn) == run(torch)
