"""DataLoader: iterate over a dataset in batches (``torch.utils.data.DataLoader``).

    loader = DataLoader(dataset, batch_size=32, shuffle=True, num_workers=2)
    for epoch in range(epochs):
        for images, labels in loader:       # each iteration is one epoch, reshuffled
            ...

It combines a dataset, a sampler (the order: ``SequentialSampler``, or
``RandomSampler`` with ``shuffle=True``, or your own), a ``BatchSampler`` (groups
of ``batch_size`` indices) and ``collate_fn`` (a list of samples -> a batch,
``default_collate``).  With ``num_workers > 0`` worker THREADS prepare whole
batches ahead (``worker.py`` explains why threads and how).  The arguments, their
defaults, their checks and error messages are PyTorch's.
"""
from typing import Generic, TypeVar

from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .fetch import DatasetExhausted, IterableFetcher, MapFetcher
from .rng import draw_seed
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler
from .worker import ThreadedLoaderIter

__all__ = ["DataLoader"]

T_co = TypeVar("T_co", covariant=True)

# Attributes that define the batches: changing them on a live loader would desynchronize it.
_FIXED_AFTER_INIT = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
                     "persistent_workers")


class _InfiniteConstantSampler(Sampler):
    """The sampler of an iterable dataset: None forever (only the batch size counts)."""

    def __iter__(self):
        while True:
            yield None


class DataLoader(Generic[T_co]):
    """Batches of ``dataset``, one epoch per iteration.

    dataset : a map-style ``Dataset`` (``__getitem__``, ``__len__``) or an ``IterableDataset``.
    batch_size : samples per batch; None turns batching off (each sample is only
        passed through ``default_convert``, or your ``collate_fn``).
    shuffle : a new random order every epoch (a ``RandomSampler``).
    sampler : the order of the indices (any iterable of indices with a ``len``);
        excludes ``shuffle``.
    batch_sampler : yields whole lists of indices; excludes ``batch_size``,
        ``shuffle``, ``sampler`` and ``drop_last``.
    num_workers : 0 loads in the main thread; N > 0 starts N worker threads.
    collate_fn : list of samples -> batch (default ``default_collate``).
    pin_memory, pin_memory_device : accepted and ignored.  Pinned (page-locked) host
        memory speeds up CUDA copies from the host; on the CPU there is nothing to
        pin, and on the GPU tinynet moves data with ``.to("gpu")`` as usual.
    drop_last : drop the last, incomplete batch.
    timeout : seconds to wait for a batch from the workers before a RuntimeError
        (0: forever); needs ``num_workers > 0``.
    worker_init_fn : called as ``worker_init_fn(worker_id)`` in each worker thread
        when it starts.
    multiprocessing_context : accepted for compatibility (there are no processes);
        needs ``num_workers > 0``, as in PyTorch.
    generator : None (tinynet's global generator), a ``tn.Generator`` or a NumPy one,
        for the ``RandomSampler`` of ``shuffle`` and the workers' base seed.
    prefetch_factor : batches each worker prepares ahead (default 2 with workers;
        must stay None without).
    persistent_workers : keep the worker threads between epochs.
    in_order : hand out the batches in the sampler's order (False: as they are ready).

    Differences from PyTorch: workers are threads (no pickling, shared dataset
    object, shared global generator); ``timeout`` with ``num_workers=0`` and
    ``prefetch_factor=0`` are ValueErrors here (PyTorch fails later, with an
    AssertionError, when iterating).
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; "
                             "use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if timeout > 0 and num_workers == 0:
            raise ValueError(f"timeout option needs num_workers > 0 (it limits the wait for "
                             f"the workers), but got timeout={timeout} with num_workers=0")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set "
                             "prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 1:
            raise ValueError(f"prefetch_factor option should be positive (batches per worker "
                             f"in flight), but got prefetch_factor={prefetch_factor}")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if multiprocessing_context is not None and num_workers == 0:
            raise ValueError(f"multiprocessing_context can only be used with multi-process "
                             f"loading (num_workers > 0), but got num_workers={num_workers}")

        if isinstance(dataset, IterableDataset):
            # An iterable dataset decides its own order.
            if shuffle not in {False, None}:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"shuffle option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"sampler option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")

        if sampler is None:
            if isinstance(dataset, IterableDataset):
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator = None       # the persistent workers' iteration
        self._initialized = True

    def __setattr__(self, name, value):
        if getattr(self, "_initialized", False) and name in _FIXED_AFTER_INIT:
            raise ValueError(f"{name} attribute should not be set after "
                             f"{type(self).__name__} is initialized")
        super().__setattr__(name, value)

    @property
    def _auto_collation(self):
        """Whether samples are grouped into batches (a batch sampler yields index lists)."""
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        """What yields one fetch's indices: the batch sampler, or the sampler unbatched."""
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self):
        """A new epoch: a new iterator (or, with persistent workers, the same one reset)."""
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None or self._iterator.closed:
                self._iterator = self._get_iterator()
            else:
                self._iterator.reset()
            return self._iterator
        return self._get_iterator()

    def _get_iterator(self):
        # Drawn whatever num_workers is (as PyTorch does), so that a seed gives the same
        # shuffled order with and without workers.
        base_seed = draw_seed(self.generator)
        if self.num_workers == 0:
            return _SingleThreadLoaderIter(self)
        return ThreadedLoaderIter(self, base_seed)

    def __len__(self):
        """The number of batches of an epoch (for an iterable dataset: from its ``len``)."""
        if isinstance(self.dataset, IterableDataset):
            length = len(self.dataset)
            if self.batch_size is None:
                return length
            if self.drop_last:
                return length // self.batch_size
            return -(-length // self.batch_size)   # ceil division
        return len(self._index_sampler)


class _SingleThreadLoaderIter:
    """An iteration with ``num_workers=0``: each batch is fetched when asked for."""

    def __init__(self, loader):
        self._index_sampler = loader._index_sampler
        self._sampler_iter = iter(self._index_sampler)
        fetcher_class = (IterableFetcher if isinstance(loader.dataset, IterableDataset)
                         else MapFetcher)
        self._fetcher = fetcher_class(loader.dataset, loader._auto_collation, loader.collate_fn,
                                      loader.drop_last)

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._index_sampler)

    def __next__(self):
        index = next(self._sampler_iter)
        try:
            return self._fetcher.fetch(index)
        except DatasetExhausted:
            raise StopIteration from None
