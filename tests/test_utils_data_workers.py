"""tinynet.utils.data: DataLoader with worker threads (tinynet/utils/data/worker.py).

Order, prefetching, worker seeds and info, exceptions re-raised in the main thread,
timeouts, persistent workers, iterable datasets, and that no thread outlives its
iteration (every test here checks that none is left).
"""
import gc
import threading
import time

import numpy as np
import pytest

import tinynet as tn
from tinynet.utils.data import (DataLoader, Dataset, IterableDataset, TensorDataset,
                                get_worker_info)
from tinynet.utils.data.worker import WORKER_THREAD_NAME


def worker_threads():
    return [t for t in threading.enumerate() if t.name.startswith(WORKER_THREAD_NAME)]


def wait_until(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


@pytest.fixture(autouse=True)
def no_leaked_threads():
    assert worker_threads() == []
    yield
    gc.collect()
    assert wait_until(lambda: not worker_threads()), worker_threads()


class Slow(Dataset):
    """Sample i is i, after a random short sleep: workers finish out of order.
    Records which thread read each sample; raises at the indices in ``bad``."""

    def __init__(self, n, bad=(), error=ValueError, seconds=0.004):
        self.n, self.bad, self.error, self.seconds = n, set(bad), error, seconds
        self.threads = {}
        self.delays = np.random.default_rng(0).uniform(0, seconds, n)

    def __getitem__(self, i):
        time.sleep(self.delays[i])
        self.threads[i] = threading.current_thread().name
        if i in self.bad:
            raise self.error(f"bad sample {i}")
        return i

    def __len__(self):
        return self.n


def values(batches):
    return [b.tolist() for b in batches]


def test_batches_come_in_order_from_several_threads():
    ds = Slow(40)
    batches = values(DataLoader(ds, batch_size=3, num_workers=3))
    assert batches == values(DataLoader(Slow(40), batch_size=3))
    assert len(set(ds.threads.values())) == 3
    assert all(name.startswith(WORKER_THREAD_NAME) for name in ds.threads.values())


def test_batch_k_goes_to_worker_k_mod_num_workers():
    ds = Slow(12)
    list(DataLoader(ds, batch_size=2, num_workers=3))
    for i, name in ds.threads.items():
        assert name == f"{WORKER_THREAD_NAME}-{(i // 2) % 3}"


def test_shuffled_batches_equal_those_without_workers_for_the_same_seed():
    tn.manual_seed(9)
    plain = values(DataLoader(Slow(30), batch_size=4, shuffle=True))
    tn.manual_seed(9)
    threaded = values(DataLoader(Slow(30), batch_size=4, shuffle=True, num_workers=2))
    assert plain == threaded and sorted(sum(plain, [])) == list(range(30))


def test_each_epoch_reshuffles_with_workers():
    loader = DataLoader(Slow(20), batch_size=20, shuffle=True, num_workers=2)
    first, second = values(loader), values(loader)
    assert first != second and sorted(first[0]) == sorted(second[0]) == list(range(20))


def test_tensor_dataset_with_workers_and_len():
    ds = TensorDataset(tn.randn(10, 2, 3), tn.arange(10))
    loader = DataLoader(ds, batch_size=4, num_workers=2)
    shapes = [(tuple(x.shape), y.tolist()) for x, y in loader]
    assert shapes == [((4, 2, 3), [0, 1, 2, 3]), ((4, 2, 3), [4, 5, 6, 7]), ((2, 2, 3), [8, 9])]
    assert len(loader) == 3 and len(iter(loader)) == 3


def test_no_batching_and_out_of_order_delivery():
    assert [t for t in DataLoader(Slow(5), batch_size=None, num_workers=2)] == [0, 1, 2, 3, 4]
    unordered = values(DataLoader(Slow(30), batch_size=2, num_workers=3, in_order=False))
    assert sorted(map(tuple, unordered)) == [(i, i + 1) for i in range(0, 30, 2)]


class Counting(Dataset):
    def __init__(self, n):
        self.n, self.read = n, 0

    def __getitem__(self, i):
        self.read += 1
        return i

    def __len__(self):
        return self.n


@pytest.mark.parametrize("num_workers, prefetch_factor", [(2, 1), (2, 3), (1, 2)])
def test_prefetch_factor_batches_per_worker_in_flight(num_workers, prefetch_factor):
    ds = Counting(100)
    it = iter(DataLoader(ds, batch_size=1, num_workers=num_workers,
                         prefetch_factor=prefetch_factor))
    ahead = num_workers * prefetch_factor
    assert wait_until(lambda: ds.read == ahead)
    assert next(it).tolist() == [0]
    assert wait_until(lambda: ds.read == ahead + 1)
    time.sleep(0.05)
    assert ds.read == ahead + 1           # no more than that: the workers wait
    del it


def test_leaving_early_stops_the_workers_at_once():
    loader = DataLoader(Slow(100), batch_size=2, num_workers=3)
    for batch in loader:
        if batch[0].item() == 10:
            break
    assert worker_threads() == []          # joined when the loop dropped its iterator


def test_a_dropped_iterator_stops_its_workers():
    it = iter(DataLoader(Slow(100), batch_size=2, num_workers=2))
    next(it)
    assert len(worker_threads()) == 2
    del it
    assert worker_threads() == []


def test_an_exhausted_iteration_has_no_threads_left():
    loader = DataLoader(Slow(6), batch_size=2, num_workers=2)
    it = iter(loader)
    assert len(list(it)) == 3 and worker_threads() == []
    with pytest.raises(StopIteration):
        next(it)


def test_a_worker_exception_is_raised_in_the_main_thread_naming_worker_and_batch():
    loader = DataLoader(Slow(20, bad={9}), batch_size=2, num_workers=3)
    it = iter(loader)
    with pytest.raises(ValueError, match=r"Caught ValueError in DataLoader worker thread 1 "
                                         r"while loading batch 4 .*bad sample 9") as info:
        for _ in it:
            pass
    assert isinstance(info.value.__cause__, ValueError)     # the original, with its traceback
    assert str(info.value.__cause__) == "bad sample 9"
    assert worker_threads() == []
    with pytest.raises(StopIteration):                      # the iteration is over
        next(it)
    assert values(DataLoader(Slow(4), batch_size=2, num_workers=2)) == [[0, 1], [2, 3]]


def test_key_errors_and_unusual_exception_types():
    with pytest.raises(KeyError) as info:
        list(DataLoader(Slow(4, bad={2}, error=KeyError), batch_size=1, num_workers=2))
    assert str(info.value).startswith("Caught KeyError")    # not a quoted repr

    class Picky(Exception):
        def __init__(self, message, code):
            super().__init__(message)

    class Raises(Dataset):
        def __getitem__(self, i):
            raise Picky("picky", 3)

        def __len__(self):
            return 2

    with pytest.raises(RuntimeError, match="Caught Picky in DataLoader worker thread 0"):
        list(DataLoader(Raises(), num_workers=1))


def test_worker_info_and_worker_init_fn_run_in_each_worker():
    seen = []

    def init(worker_id):
        info = get_worker_info()
        seen.append((worker_id, info.id, info.num_workers, info.seed,
                     threading.current_thread().name))

    ds = Slow(8)
    tn.manual_seed(0)
    list(DataLoader(ds, batch_size=2, num_workers=3, worker_init_fn=init))
    seen.sort()
    assert [s[:3] for s in seen] == [(0, 0, 3), (1, 1, 3), (2, 2, 3)]
    seeds = [s[3] for s in seen]
    assert seeds[1] == seeds[0] + 1 and seeds[2] == seeds[0] + 2
    assert [s[4] for s in seen] == [f"{WORKER_THREAD_NAME}-{i}" for i in range(3)]
    assert get_worker_info() is None


def test_worker_seeds_come_from_the_generator():
    seeds = []

    def init(worker_id):
        seeds.append(get_worker_info().seed)

    for _ in range(2):
        list(DataLoader(Slow(2), num_workers=1, worker_init_fn=init,
                        generator=np.random.default_rng(3)))
    list(DataLoader(Slow(2), num_workers=1, worker_init_fn=init))
    assert seeds[0] == seeds[1] != seeds[2]


def test_a_failing_worker_init_fn_is_reported():
    def init(worker_id):
        raise OSError("no device")

    with pytest.raises(OSError, match="worker thread 0 in worker_init_fn: no device"):
        list(DataLoader(Slow(4), num_workers=1, worker_init_fn=init))


def test_timeout():
    loader = DataLoader(Slow(4), batch_size=1, num_workers=1, timeout=0.1)
    loader.dataset.delays[:] = 0.6
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.1 seconds"):
        next(iter(loader))
    assert time.monotonic() - start < 0.5        # not waiting for the stuck worker
    assert wait_until(lambda: not worker_threads(), seconds=10)


def test_persistent_workers_serve_every_epoch():
    ds = Slow(12)
    loader = DataLoader(ds, batch_size=3, shuffle=True, num_workers=2, persistent_workers=True)
    first = values(loader)
    threads = worker_threads()
    assert len(threads) == 2                                # kept between epochs
    second = values(loader)
    assert worker_threads() == threads and first != second
    assert sorted(sum(second, [])) == list(range(12))
    for batch in loader:                                    # left early: the next epoch
        break                                               # is whole nonetheless
    assert sorted(sum(values(loader), [])) == list(range(12))
    del loader
    gc.collect()
    assert wait_until(lambda: not worker_threads())


class Stream(IterableDataset):
    """0 .. n-1; with ``shard`` each worker yields its own part (ids i, i+W, i+2W, ...)."""

    def __init__(self, n, shard=False):
        self.n, self.shard = n, shard

    def __iter__(self):
        info = get_worker_info()
        if not self.shard or info is None:
            yield from range(self.n)
        else:
            yield from range(info.id, self.n, info.num_workers)


def test_iterable_dataset_workers_each_yield_the_stream_as_in_pytorch():
    batches = values(DataLoader(Stream(5), batch_size=2, num_workers=2))
    assert batches == [[0, 1], [0, 1], [2, 3], [2, 3], [4], [4]]


def test_iterable_dataset_sharded_by_worker_info():
    batches = values(DataLoader(Stream(11, shard=True), batch_size=2, num_workers=3))
    assert sorted(sum(batches, [])) == list(range(11))
    assert batches[:3] == [[0, 3], [1, 4], [2, 5]]
    dropped = values(DataLoader(Stream(11, shard=True), batch_size=2, num_workers=3,
                                drop_last=True))
    assert all(len(b) == 2 for b in dropped) and len(dropped) == 5   # worker 2's [8] dropped


def test_iterable_dataset_with_persistent_workers_restarts_each_epoch():
    loader = DataLoader(Stream(6, shard=True), batch_size=2, num_workers=2,
                        persistent_workers=True)
    assert values(loader) == values(loader) == [[0, 2], [1, 3], [4], [5]]


@pytest.mark.gpu
def test_worker_threads_collate_gpu_tensors_and_arrays():
    """Threads share the CUDA context: GPU samples are stacked on the GPU, in order."""
    ds = TensorDataset(tn.arange(10, device="gpu"), tn.randn(10, 3, device="gpu"))
    batches = list(DataLoader(ds, batch_size=4, shuffle=True, num_workers=2))
    assert all(str(x.device).startswith("gpu") and str(y.device).startswith("gpu")
               for x, y in batches)
    assert sorted(sum((x.tolist() for x, _ in batches), [])) == list(range(10))
    arrays = [tn.backend.xp_for_device("gpu").full((2,), i) for i in range(4)]
    stacked = next(iter(DataLoader(arrays, batch_size=4, num_workers=1)))
    assert str(stacked.device).startswith("gpu") and stacked.shape == (4, 2)
