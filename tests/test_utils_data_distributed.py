"""tinynet.utils.data.DistributedSampler (tinynet/utils/data/distributed_sampler.py).

Explicit ``num_replicas``/``rank`` throughout, plus the defaults taken from
``tinynet.distributed`` (a stand-in module here).  Parity with PyTorch's index
lists: test_utils_data_parity.py.
"""
import collections
import math
import sys
import types

import pytest

import tinynet as tn
from tinynet.utils.data import DataLoader, DistributedSampler


def shares(n, replicas, epoch=0, **kwargs):
    """Every rank's index list for one epoch."""
    samplers = [DistributedSampler(range(n), num_replicas=replicas, rank=r, **kwargs)
                for r in range(replicas)]
    for s in samplers:
        s.set_epoch(epoch)
    return [list(s) for s in samplers]


def test_the_docstrings_example_without_shuffle():
    assert shares(10, 4, shuffle=False) == [[0, 4, 8], [1, 5, 9], [2, 6, 0], [3, 7, 1]]
    assert shares(10, 4, shuffle=False, drop_last=True) == [[0, 4], [1, 5], [2, 6], [3, 7]]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("n, replicas", [(12, 4), (12, 3), (7, 7), (30, 5), (8, 1)])
def test_every_sample_once_per_epoch_when_it_divides(n, replicas, shuffle):
    for epoch in range(3):
        union = sum(shares(n, replicas, epoch, shuffle=shuffle), [])
        assert sorted(union) == list(range(n))


@pytest.mark.parametrize("drop_last", [False, True])
def test_lengths_and_padding_for_many_sizes(drop_last):
    for n in range(0, 23):
        for replicas in range(1, 9):
            ranks = shares(n, replicas, shuffle=True, seed=n, drop_last=drop_last)
            per_rank = n // replicas if drop_last else math.ceil(n / replicas)
            assert [len(r) for r in ranks] == [per_rank] * replicas, (n, replicas)
            sampler = DistributedSampler(range(n), replicas, 0, drop_last=drop_last)
            assert len(sampler) == sampler.num_samples == per_rank
            assert sampler.total_size == per_rank * replicas
            counts = collections.Counter(sum(ranks, []))
            if drop_last:       # each index at most once, n % replicas of them skipped
                assert max(counts.values(), default=1) == 1
                assert len(counts) == per_rank * replicas
            elif n:             # each index at least once, padding repeats the order's start
                assert set(counts) == set(range(n))
                assert sum(counts.values()) == per_rank * replicas


def test_padding_repeats_the_start_of_the_shuffled_order():
    ranks = shares(5, 4, epoch=2, shuffle=True)              # 8 = 5 + 3 padded
    order = [ranks[i % 4][i // 4] for i in range(8)]         # interleave back
    assert order[5:] == order[:3] and sorted(order[:5]) == list(range(5))
    many = shares(2, 7, shuffle=False)                       # more replicas than samples
    assert many == [[0], [1], [0], [1], [0], [1], [0]]


def test_epochs_reshuffle_and_the_same_epoch_and_seed_repeat():
    first, second = shares(40, 4, epoch=0), shares(40, 4, epoch=1)
    assert first != second
    assert shares(40, 4, epoch=1) == second                 # every rank agrees on the order
    assert shares(40, 4, epoch=1, seed=1) != second
    sampler = DistributedSampler(range(40), num_replicas=4, rank=0)
    assert list(sampler) == list(sampler) == first[0]       # no set_epoch: the same epoch
    sampler.set_epoch(1)
    assert list(sampler) == second[0] and sampler.epoch == 1


def test_it_does_not_draw_from_the_global_generator():
    tn.manual_seed(0)
    a = shares(20, 2)
    tn.manual_seed(1)
    assert shares(20, 2) == a


def test_with_a_dataloader():
    ds = tn.utils.data.TensorDataset(tn.arange(10))
    sampler = DistributedSampler(ds, num_replicas=3, rank=1, shuffle=False)
    batches = [b.tolist() for (b,) in DataLoader(ds, batch_size=2, sampler=sampler)]
    assert batches == [[1, 4], [7, 0]]


@pytest.mark.parametrize("rank", [-1, 3])
def test_invalid_rank(rank):
    with pytest.raises(ValueError, match=r"Invalid rank .*interval \[0, 2\]"):
        DistributedSampler(range(6), num_replicas=3, rank=rank)


def fake_distributed(monkeypatch, initialized, world_size=3, rank=1):
    """Put a stand-in tinynet.distributed in place of the real one (if any)."""
    dist = types.SimpleNamespace(is_available=lambda: True, is_initialized=lambda: initialized,
                                 get_world_size=lambda: world_size, get_rank=lambda: rank)
    monkeypatch.setitem(sys.modules, "tinynet.distributed", dist)
    monkeypatch.setattr(tn, "distributed", dist, raising=False)


def test_defaults_come_from_the_process_group(monkeypatch):
    fake_distributed(monkeypatch, initialized=True)
    sampler = DistributedSampler(range(9), shuffle=False)
    assert (sampler.num_replicas, sampler.rank, list(sampler)) == (3, 1, [1, 4, 7])


def test_no_process_group_raises_what_both_pytorch_versions_raise(monkeypatch):
    fake_distributed(monkeypatch, initialized=False)
    for error in (ValueError, RuntimeError):     # PyTorch 2.x: ValueError; 1.x: RuntimeError
        with pytest.raises(error, match="Default process group has not been initialized.*"
                                        "num_replicas= and rank="):
            DistributedSampler(range(9))
    DistributedSampler(range(9), num_replicas=2, rank=0)      # explicit: no process group needed


def test_without_a_usable_distributed_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "tinynet.distributed", None)     # import fails
    monkeypatch.delattr(tn, "distributed", raising=False)
    with pytest.raises(RuntimeError, match="Requires distributed package.*num_replicas= and rank="):
        DistributedSampler(range(9))
    dist = types.SimpleNamespace(is_available=lambda: False)
    monkeypatch.setitem(sys.modules, "tinynet.distributed", dist)
    with pytest.raises(RuntimeError, match="Requires distributed package to be available"):
        DistributedSampler(range(9), num_replicas=2)
