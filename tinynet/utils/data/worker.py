"""Worker threads for ``DataLoader(num_workers > 0)``: batches prepared ahead, delivered in order.

Threads, not processes (PyTorch's workers are processes), because:

- the work of loading runs outside the GIL: NumPy, SciPy and Pillow release it in
  their inner loops (decoding, resizing, array math), so worker threads overlap
  reading and augmenting the next batches with the training step;
- nothing is pickled: the workers share the dataset object itself (open files,
  lambdas, big in-memory arrays: no copy per worker, no start-up cost);
- it works with CuPy: a CUDA context cannot be used in a forked child process,
  and threads share the parent's.

What threads cannot do: run pure-Python per-sample code in parallel (the GIL).
They share the process's state: tinynet's global random generator (draws from
several workers interleave, so use ``get_worker_info().seed`` for reproducible
per-worker randomness: batch k always goes to worker k % num_workers while all are
active).  The grad mode is per thread, as in PyTorch: a dataset may use
``no_grad`` without touching the training step in the main thread.

How it runs: the main thread iterates the (batch) sampler and sends batch k to
worker ``k % num_workers`` (skipping workers whose iterable dataset has ended),
keeping ``prefetch_factor`` batches per worker in flight; each worker fetches and
collates whole batches; the main thread hands them out in the sampler's order
(``in_order=True``) or as they come.  An exception in a worker is raised again in
the main thread, naming the worker and the batch, and ends the iteration.  The
workers stop when the iteration ends or is left early and the iterator is garbage
collected: they finish the sample in hand, then exit.
"""
import functools
import queue
import threading
import time

from .dataset import IterableDataset
from .fetch import DatasetExhausted, IterableFetcher, MapFetcher, StopRequested

__all__ = ["WorkerInfo", "get_worker_info", "ThreadedLoaderIter", "WORKER_THREAD_NAME"]

WORKER_THREAD_NAME = "tinynet-DataLoader-worker"   # threads are named f"{this}-{worker_id}"

_POLL_SECONDS = 5.0    # how often a waiting main thread checks that the workers are alive
_JOIN_SECONDS = 10.0   # how long shutting down waits for the workers to finish their sample

_local = threading.local()   # the WorkerInfo of the worker thread running


class WorkerInfo:
    """What a worker thread knows about itself (``get_worker_info()`` inside it).

    id : this worker's number, 0 .. num_workers - 1.
    num_workers : how many workers the DataLoader runs.
    seed : a seed for this worker, ``base_seed + id``, the base drawn afresh for each
        iteration from the DataLoader's ``generator`` (or tinynet's global generator).
    dataset : the dataset (the same object in every worker, not a copy).
    """

    def __init__(self, id, num_workers, seed, dataset):
        self.id = id
        self.num_workers = num_workers
        self.seed = seed
        self.dataset = dataset

    def __repr__(self):
        return (f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, "
                f"dataset={self.dataset!r})")


def get_worker_info():
    """The ``WorkerInfo`` of the DataLoader worker thread calling this, or None outside
    workers (in the main thread, or with ``num_workers=0``)."""
    return getattr(_local, "info", None)


class _Failure:
    """An exception raised in a worker, carried to the main thread."""

    def __init__(self, exception, worker_id, where):
        self.exception = exception
        self.worker_id = worker_id
        self.where = where

    def reraise(self):
        """Raise an exception of the same type naming the worker and the batch, chained to
        the original (whose traceback shows the worker's frames)."""
        exc = self.exception
        message = (f"Caught {type(exc).__name__} in DataLoader worker thread {self.worker_id} "
                   f"{self.where}: {exc}")
        if isinstance(exc, KeyError):
            message = _ShownAsIs(message)   # str(KeyError(m)) is repr(m): quotes, escapes
        try:
            error = type(exc)(message)
        except Exception:                   # a type that needs other constructor arguments
            error = RuntimeError(message)
        raise error from exc


class _ShownAsIs(str):
    """A message whose repr is itself."""

    def __repr__(self):
        return str(self)


class _Exhausted:
    """A worker's answer when its iterable dataset has no more batches."""


_EXHAUSTED = _Exhausted()


class _Shared:
    """What the main thread and the workers share.  Never the iterator itself: workers
    holding it would keep it from being garbage collected, and so from stopping them."""

    def __init__(self):
        self.stop = threading.Event()
        self.generation = 0     # the epoch of persistent workers; tasks of older ones are dropped


def _worker_loop(worker_id, make_fetcher, tasks, results, shared, info, worker_init_fn):
    """A worker thread: take (generation, batch number, indices) tasks, put back
    (generation, batch number, batch | _Failure | _EXHAUSTED), until told to stop."""
    _local.info = info
    init_failure = None
    if worker_init_fn is not None:
        try:
            worker_init_fn(worker_id)
        except Exception as exc:
            init_failure = _Failure(exc, worker_id, "in worker_init_fn")
    fetcher, fetcher_generation = None, None
    while True:
        task = tasks.get()
        if task is None or shared.stop.is_set():
            return
        generation, number, index = task
        if generation != shared.generation:
            continue       # left over from an epoch that was stopped early
        if init_failure is not None:
            results.put((generation, number, init_failure))
            continue
        try:
            if fetcher_generation != generation:
                # A new epoch: an iterable dataset starts its stream again.
                fetcher, fetcher_generation = make_fetcher(), generation
            outcome = fetcher.fetch(index)
        except DatasetExhausted:
            outcome = _EXHAUSTED
        except StopRequested:
            return
        except Exception as exc:
            outcome = _Failure(exc, worker_id, f"while loading batch {number} of the epoch "
                                               f"(counting from 0)")
        results.put((generation, number, outcome))


class ThreadedLoaderIter:
    """An iteration of a DataLoader over ``num_workers`` worker threads (see the module
    docstring).  ``base_seed`` gives the workers' ``WorkerInfo.seed``."""

    def __init__(self, loader, base_seed):
        dataset = loader.dataset
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        self._max_in_flight = loader.prefetch_factor * loader.num_workers
        self._timeout = loader.timeout
        self._in_order = loader.in_order
        self._persistent = loader.persistent_workers
        self.closed = False
        self._shared = _Shared()
        self._results = queue.Queue()
        self._queues = [queue.Queue() for _ in range(self._num_workers)]
        fetcher_class = IterableFetcher if isinstance(dataset, IterableDataset) else MapFetcher
        make_fetcher = functools.partial(fetcher_class, dataset, loader._auto_collation,
                                         loader.collate_fn, loader.drop_last, self._shared.stop)
        self._threads = []
        for worker_id in range(self._num_workers):
            info = WorkerInfo(worker_id, self._num_workers, base_seed + worker_id, dataset)
            thread = threading.Thread(
                target=_worker_loop, name=f"{WORKER_THREAD_NAME}-{worker_id}", daemon=True,
                args=(worker_id, make_fetcher, self._queues[worker_id], self._results,
                      self._shared, info, loader.worker_init_fn))
            thread.start()
            self._threads.append(thread)
        self._start_epoch()

    def _start_epoch(self):
        self._sampler_iter = iter(self._index_sampler)
        self._tasks = {}      # batch number -> worker, for the batches sent and not yet handed out
        self._arrived = {}    # batch number -> outcome, for those already back
        self._sent = 0
        self._active = [True] * self._num_workers   # False once a worker's stream has ended
        self._next_worker = 0
        self._dispatch()

    def reset(self):
        """Start a new epoch on the same (persistent) workers."""
        self._shared.generation += 1
        self._start_epoch()

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._index_sampler)

    def __next__(self):
        while True:
            if self.closed or not self._tasks:
                self._end_epoch()
                raise StopIteration
            number, outcome = self._next_outcome()
            worker = self._tasks.pop(number)
            if outcome is _EXHAUSTED:
                self._active[worker] = False
            self._dispatch()
            if outcome is _EXHAUSTED:
                continue
            if isinstance(outcome, _Failure):
                self._shutdown()
                outcome.reraise()
            return outcome

    def _dispatch(self):
        """Send batches to the workers until ``prefetch_factor`` per worker are in flight."""
        while self._sampler_iter is not None and len(self._tasks) < self._max_in_flight:
            worker = self._next_active_worker()
            if worker is None:
                return
            try:
                index = next(self._sampler_iter)
            except StopIteration:
                self._sampler_iter = None
                return
            self._queues[worker].put((self._shared.generation, self._sent, index))
            self._tasks[self._sent] = worker
            self._sent += 1

    def _next_active_worker(self):
        """Round robin over the workers whose stream has not ended; None if none is left."""
        for step in range(self._num_workers):
            worker = (self._next_worker + step) % self._num_workers
            if self._active[worker]:
                self._next_worker = (worker + 1) % self._num_workers
                return worker
        return None

    def _next_outcome(self):
        """(batch number, outcome) of the next batch to hand out: the oldest one sent
        (``in_order``) or any that is back."""
        while True:
            if self._in_order:
                number = next(iter(self._tasks))   # dicts keep insertion order: the oldest
                if number in self._arrived:
                    return number, self._arrived.pop(number)
            elif self._arrived:
                number = next(iter(self._arrived))
                return number, self._arrived.pop(number)
            self._receive()

    def _receive(self):
        """Wait for one outcome from the workers and file it; time out, or notice dead workers."""
        wait = self._timeout if self._timeout > 0 else _POLL_SECONDS
        try:
            generation, number, outcome = self._results.get(timeout=wait)
        except queue.Empty:
            if self._timeout > 0:
                self._shutdown(join=False)     # a worker is stuck: do not wait for it too
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
            dead = sorted({w for w in self._tasks.values() if not self._threads[w].is_alive()})
            if dead:
                self._shutdown()
                raise RuntimeError(f"DataLoader worker thread(s) {dead} exited unexpectedly")
            return
        if generation == self._shared.generation:
            self._arrived[number] = outcome

    def _end_epoch(self):
        if not self._persistent:
            self._shutdown()

    def _shutdown(self, join=True):
        """Tell the workers to stop and (``join``) wait a while for them to finish their
        sample; they exit after it in any case."""
        if self.closed:
            return
        self.closed = True
        self._shared.stop.set()
        for tasks in self._queues:
            tasks.put(None)
        if not join:
            return
        deadline = time.monotonic() + _JOIN_SECONDS
        for thread in self._threads:
            # The garbage collector may run this in a worker thread, which cannot join itself.
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def __del__(self):
        # The iteration was left early (break, an exception) and the iterator dropped.
        # At interpreter exit the modules used here may be gone; the threads are daemons.
        try:
            self._shutdown()
        except Exception:
            pass
