"""tinynet.utils.data (main thread): datasets, random_split, samplers, collation, DataLoader.

Worker threads: test_utils_data_workers.py; DistributedSampler:
test_utils_data_distributed.py; the same code run with PyTorch: test_utils_data_parity.py.
"""
import collections
import warnings

import numpy as np
import pytest

import tinynet as tn
from tinynet.utils.data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset,
                                IterableDataset, RandomSampler, Sampler, SequentialSampler,
                                Subset, SubsetRandomSampler, TensorDataset,
                                WeightedRandomSampler, default_collate, default_convert,
                                get_worker_info, random_split)


class Squares(Dataset):
    """Sample i is i * i."""

    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i * i

    def __len__(self):
        return self.n


class Stream(IterableDataset):
    """0, 1, ..., n-1 as a stream."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        yield from range(self.n)

    def __len__(self):
        return self.n


def values(batches):
    return [b.tolist() for b in batches]


# --- datasets -------------------------------------------------------------------------------

def test_tinynet_exposes_utils_data_as_torch_does():
    assert tn.utils.data.DataLoader is DataLoader
    assert "utils" in tn.__all__


def test_dataset_base_class_needs_getitem_and_has_no_len():
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]
    with pytest.raises(TypeError):
        len(Dataset())
    assert Dataset[int] is not None        # usable in annotations, as torch's Dataset[T]


def test_tensor_dataset_rows_and_size_mismatch():
    x, y = tn.arange(12).reshape(4, 3), tn.tensor([0, 1, 0, 1])
    ds = TensorDataset(x, y)
    assert len(ds) == 4
    row, label = ds[2]
    assert row.tolist() == [6, 7, 8] and label.item() == 0
    with pytest.raises(AssertionError, match=r"Size mismatch.*\[4, 3\]"):
        TensorDataset(x, tn.zeros(3))


def test_subset_and_its_getitems():
    ds = Subset(Squares(10), [9, 2, 5])
    assert len(ds) == 3 and [ds[i] for i in range(3)] == [81, 4, 25]
    assert ds.__getitems__([2, 0]) == [25, 81]


def test_concat_dataset_and_add():
    ds = Squares(3) + Squares(2)
    assert isinstance(ds, ConcatDataset)
    assert [ds[i] for i in range(len(ds))] == [0, 1, 4, 0, 1]
    assert ds.cumulative_sizes == [3, 5]
    assert ds[-1] == 1 and ds[-5] == 0
    with pytest.raises(ValueError, match="absolute value"):
        ds[-6]
    with pytest.raises(IndexError):
        ds[5]
    with pytest.raises(AssertionError, match="empty"):
        ConcatDataset([])
    with pytest.raises(AssertionError, match="IterableDataset"):
        ConcatDataset([Squares(2), Stream(2)])


def test_iterable_datasets_chain():
    chained = Stream(2) + Stream(3)
    assert isinstance(chained, ChainDataset)
    assert list(chained) == [0, 1, 0, 1, 2] and len(chained) == 5
    with pytest.raises(NotImplementedError):
        iter(IterableDataset())


# --- random_split ---------------------------------------------------------------------------

def test_random_split_with_lengths_covers_every_index_once():
    parts = random_split(range(10), [3, 7])
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))


@pytest.mark.parametrize("n, fractions, sizes", [
    (10, [0.5, 0.3, 0.2], [5, 3, 2]),
    (11, [0.5, 0.3, 0.2], [6, 3, 2]),        # one left over: to part 0
    (13, [0.5, 0.3, 0.2], [7, 4, 2]),        # three left over: floor gives 6, 3, 2
    (7, [1 / 3, 1 / 3, 1 / 3], [3, 2, 2]),
    (10, [0.1] * 10, [1] * 10),              # sums to 0.9999999999999999: still fractions
])
def test_random_split_fractions_round_as_pytorch(n, fractions, sizes):
    assert [len(p) for p in random_split(range(n), fractions)] == sizes


def test_random_split_warns_on_an_empty_part_and_checks_lengths():
    with pytest.warns(UserWarning, match="index 1 is 0"):
        random_split(range(3), [0.9, 0.1])
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(10), [3, 6])
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(10), [0.5, 0.6])
    with pytest.raises(ValueError, match="Fraction at index 1"):
        random_split(range(10), [0.5, 1.5, -1.0])


def test_random_split_is_reproducible_with_a_seed_or_a_generator():
    tn.manual_seed(3)
    a = random_split(range(20), [0.5, 0.5])[0].indices
    tn.manual_seed(3)
    b = random_split(range(20), [0.5, 0.5])[0].indices
    c = random_split(range(20), [10, 10], generator=np.random.default_rng(7))[0].indices
    d = random_split(range(20), [10, 10], generator=np.random.default_rng(7))[0].indices
    assert a == b and c == d and a != list(range(10))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        random_split(range(4), [2, 2], generator=42)


# --- samplers -------------------------------------------------------------------------------

def test_sequential_sampler():
    sampler = SequentialSampler(range(4))
    assert list(sampler) == [0, 1, 2, 3] and len(sampler) == 4
    with pytest.raises(NotImplementedError):
        iter(Sampler())


def test_random_sampler_permutes_each_epoch_anew():
    sampler = RandomSampler(range(50))
    first, second = list(sampler), list(sampler)
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != second and len(sampler) == 50


def test_random_sampler_num_samples_and_replacement():
    sampler = RandomSampler(range(4), num_samples=10)
    drawn = list(sampler)
    assert len(drawn) == 10 == len(sampler)
    assert sorted(drawn[:4]) == sorted(drawn[4:8]) == [0, 1, 2, 3]   # whole permutations first
    with_replacement = list(RandomSampler(range(3), replacement=True, num_samples=100))
    assert len(with_replacement) == 100 and set(with_replacement) == {0, 1, 2}


def test_random_sampler_reproducible_by_seed_and_by_generator():
    tn.manual_seed(5)
    a = list(RandomSampler(range(30)))
    tn.manual_seed(5)
    b = list(RandomSampler(range(30)))
    g1, g2 = np.random.default_rng(1), np.random.default_rng(1)
    assert a == b
    assert list(RandomSampler(range(30), generator=g1)) == list(RandomSampler(range(30),
                                                                              generator=g2))


def test_random_sampler_epoch_order_is_fixed_when_the_epoch_starts():
    """Other draws from the global generator during the epoch do not change its order."""
    tn.manual_seed(0)
    quiet = list(RandomSampler(range(40), replacement=True))
    tn.manual_seed(0)
    busy = []
    for index in RandomSampler(range(40), replacement=True):
        busy.append(index)
        tn.randn(3)                   # e.g. dropout in the training step
    assert quiet == busy


def test_random_sampler_argument_errors():
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(ValueError, match="num_samples=0"):
        RandomSampler([])


def test_subset_random_sampler():
    sampler = SubsetRandomSampler([10, 20, 30, 40])
    drawn = list(sampler)
    assert sorted(drawn) == [10, 20, 30, 40] and len(sampler) == 4


def test_weighted_random_sampler_follows_the_weights():
    sampler = WeightedRandomSampler([0.0, 1.0, 3.0], num_samples=4000)
    counts = np.bincount(list(sampler), minlength=3)
    assert counts[0] == 0 and len(sampler) == 4000
    assert abs(counts[2] / counts[1] - 3) < 0.5
    no_repeats = list(WeightedRandomSampler(tn.tensor([1.0, 1.0, 5.0, 0.0]), 3,
                                            replacement=False))
    assert sorted(no_repeats) == [0, 1, 2]


def test_weighted_random_sampler_errors():
    with pytest.raises(ValueError, match="num_samples"):
        WeightedRandomSampler([1.0], num_samples=0)
    with pytest.raises(ValueError, match="replacement"):
        WeightedRandomSampler([1.0], 1, replacement="yes")
    with pytest.raises(ValueError, match=r"1d sequence.*\(2, 2\)"):
        WeightedRandomSampler([[1.0, 2.0], [3.0, 4.0]], 1)
    with pytest.raises(RuntimeError, match="invalid weights"):
        list(WeightedRandomSampler([1.0, -1.0], 1))
    with pytest.raises(RuntimeError, match="without replacement"):
        list(WeightedRandomSampler([1.0, 0.0], 2, replacement=False))


def test_batch_sampler_lengths_and_errors():
    kept = BatchSampler(range(7), 3, drop_last=False)
    dropped = BatchSampler(range(7), 3, drop_last=True)
    assert list(kept) == [[0, 1, 2], [3, 4, 5], [6]] and len(kept) == 3
    assert list(dropped) == [[0, 1, 2], [3, 4, 5]] and len(dropped) == 2
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="batch_size should be a positive integer"):
            BatchSampler(range(7), bad, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        BatchSampler(range(7), 2, 0)


# --- collation ------------------------------------------------------------------------------

Pair = collections.namedtuple("Pair", "image label")


def test_default_collate_tensors_arrays_and_numbers():
    batch = default_collate([tn.ones(2, 3), tn.zeros(2, 3)])
    assert batch.shape == (2, 2, 3) and batch.dtype == tn.float32
    arrays = default_collate([np.zeros((2,), np.float16), np.ones((2,), np.float16)])
    assert isinstance(arrays, tn.Tensor) and arrays.shape == (2, 2)
    assert arrays.dtype == np.float16
    assert default_collate([1.5, 2.0]).dtype == tn.float64
    assert default_collate([1, 2]).dtype == tn.int64
    assert default_collate([True, False]).dtype == tn.bool
    assert default_collate([np.float32(1), np.float32(2)]).dtype == tn.float32
    assert default_collate(["a", "b"]) == ["a", "b"]


def test_default_collate_recurses_through_containers():
    samples = [{"x": np.zeros(3), "meta": ("a", 1)}, {"x": np.ones(3), "meta": ("b", 2)}]
    batch = default_collate(samples)
    assert batch["x"].shape == (2, 3) and batch["x"].dtype == tn.float64
    assert batch["meta"][0] == ("a", "b")          # strings inside tuples: a tuple (PyTorch)
    assert batch["meta"][1].tolist() == [1, 2]
    pairs = default_collate([Pair(tn.zeros(4), 0), Pair(tn.ones(4), 1)])
    assert isinstance(pairs, Pair) and pairs.image.shape == (2, 4)
    assert pairs.label.tolist() == [0, 1]
    tuples = default_collate([(tn.zeros(1), 0), (tn.ones(1), 1)])
    assert isinstance(tuples, list) and len(tuples) == 2     # tuples become lists (PyTorch)


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="found <class 'object'>"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="found <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_default_convert_converts_arrays_inside_containers_only():
    converted = default_convert({"x": np.zeros(2), "n": 3, "t": (np.float32(1), "s")})
    assert isinstance(converted["x"], tn.Tensor) and converted["n"] == 3
    assert isinstance(converted["t"], list) and isinstance(converted["t"][0], tn.Tensor)
    assert converted["t"][1] == "s"


# --- DataLoader, main thread ----------------------------------------------------------------

def test_dataloader_batches_and_len():
    loader = DataLoader(Squares(7), batch_size=3)
    assert values(loader) == [[0, 1, 4], [9, 16, 25], [36]] and len(loader) == 3
    dropped = DataLoader(Squares(7), batch_size=3, drop_last=True)
    assert values(dropped) == [[0, 1, 4], [9, 16, 25]] and len(dropped) == 2


def test_dataloader_tensor_dataset_batches():
    ds = TensorDataset(tn.randn(10, 3, 4, 4), tn.arange(10))
    batches = list(DataLoader(ds, batch_size=4))
    assert [tuple(x.shape) for x, _ in batches] == [(4, 3, 4, 4), (4, 3, 4, 4), (2, 3, 4, 4)]
    assert batches[2][1].tolist() == [8, 9] and batches[0][1].dtype == tn.int64


def test_dataloader_shuffle_reshuffles_each_epoch_and_a_seed_fixes_it():
    loader = DataLoader(Squares(30), batch_size=30, shuffle=True)
    first, second = values(loader), values(loader)
    assert first != second and sorted(first[0]) == sorted(second[0])
    tn.manual_seed(11)
    a = values(loader)
    tn.manual_seed(11)
    assert values(loader) == a


def test_dataloader_generator_fixes_the_order():
    def epoch(seed):
        return values(DataLoader(Squares(20), batch_size=20, shuffle=True,
                                 generator=np.random.default_rng(seed)))
    assert epoch(4) == epoch(4) != epoch(5)


def test_dataloader_without_batching_converts_each_sample():
    loader = DataLoader([np.arange(2), np.arange(2) + 2], batch_size=None)
    items = list(loader)
    assert len(loader) == 2 and all(isinstance(t, tn.Tensor) for t in items)
    assert [t.tolist() for t in items] == [[0, 1], [2, 3]]
    assert list(DataLoader([5, 6], batch_size=None)) == [5, 6]     # numbers are left alone


def test_dataloader_with_samplers_and_custom_collate():
    loader = DataLoader(Squares(6), batch_size=2, sampler=[5, 4, 3, 2, 1, 0])
    assert values(loader) == [[25, 16], [9, 4], [1, 0]]
    by_batch = DataLoader(Squares(6), batch_sampler=[[0, 5], [1]])
    assert values(by_batch) == [[0, 25], [1]] and len(by_batch) == 2
    summed = DataLoader(Squares(4), batch_size=2, collate_fn=sum)
    assert list(summed) == [1, 13]


def test_dataloader_uses_a_datasets_getitems_for_whole_batches():
    class Batched(Squares):
        calls = 0

        def __getitems__(self, indices):
            Batched.calls += 1
            return [self[i] for i in indices]

    assert values(DataLoader(Batched(5), batch_size=5)) == [[0, 1, 4, 9, 16]]
    assert Batched.calls == 1


def test_dataloader_over_an_iterable_dataset():
    assert values(DataLoader(Stream(5), batch_size=2)) == [[0, 1], [2, 3], [4]]
    assert values(DataLoader(Stream(5), batch_size=2, drop_last=True)) == [[0, 1], [2, 3]]
    assert len(DataLoader(Stream(5), batch_size=2)) == 3
    assert len(DataLoader(Stream(5), batch_size=2, drop_last=True)) == 2
    assert list(DataLoader(Stream(3), batch_size=None)) == [0, 1, 2]
    assert get_worker_info() is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_workers=-1), "num_workers option should be non-negative"),
    (dict(timeout=-1), "timeout option should be non-negative"),
    (dict(timeout=5), "timeout option needs num_workers > 0"),
    (dict(prefetch_factor=2), "prefetch_factor option could only be specified"),
    (dict(num_workers=1, prefetch_factor=0), "prefetch_factor option should be positive"),
    (dict(persistent_workers=True), "persistent_workers option needs num_workers > 0"),
    (dict(multiprocessing_context="spawn"), "multiprocessing_context can only be used"),
    (dict(shuffle=True, sampler=[0, 1]), "sampler option is mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive"),
    (dict(batch_sampler=[[0]], shuffle=True), "batch_sampler option is mutually exclusive"),
    (dict(batch_sampler=[[0]], sampler=[0]), "batch_sampler option is mutually exclusive"),
    (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
    (dict(batch_size=None, drop_last=True), "batch_size=None option disables auto-batching"),
    (dict(batch_size=0), "batch_size should be a positive integer"),
])
def test_dataloader_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(Squares(4), **kwargs)


@pytest.mark.parametrize("kwargs", [dict(shuffle=True), dict(sampler=[0]),
                                    dict(batch_sampler=[[0]])])
def test_dataloader_iterable_dataset_refuses_orders(kwargs):
    with pytest.raises(ValueError, match="DataLoader with IterableDataset: expected unspecified"):
        DataLoader(Stream(3), **kwargs)


def test_dataloader_attributes_are_fixed_after_init():
    loader = DataLoader(Squares(4), batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after "
                                         "DataLoader is initialized"):
        loader.batch_size = 3
    loader.num_workers = 0            # not one of the fixed ones, as in PyTorch


def test_dataloader_pin_memory_is_accepted_and_changes_nothing():
    loader = DataLoader(Squares(3), batch_size=3, pin_memory=True, pin_memory_device="cuda")
    assert values(loader) == [[0, 1, 4]]


def test_dataloader_trains_a_model():
    """The usual loop: a linear model fits y = 2x + 1 from shuffled mini-batches."""
    x = tn.linspace(-1, 1, 64).reshape(64, 1)
    ds = TensorDataset(x, 2 * x + 1)
    model = tn.nn.Linear(1, 1)
    opt = tn.optim.SGD(model.parameters(), lr=0.2)
    for _ in range(30):
        for xb, yb in DataLoader(ds, batch_size=16, shuffle=True):
            opt.zero_grad()
            tn.nn.functional.mse_loss(model(xb), yb).backward()
            opt.step()
    assert abs(model.weight.item() - 2) < 0.05 and abs(model.bias.item() - 1) < 0.05


def test_no_warning_in_the_plain_path():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(DataLoader(Squares(5), batch_size=2, shuffle=True))
