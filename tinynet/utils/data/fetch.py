"""Fetchers: what the sampler chose -> one batch, read from the dataset and collated.

One fetcher per iteration (per worker thread with ``num_workers > 0``):

- map-style datasets: ``fetch([i, j, ...])`` is ``collate_fn([dataset[i], dataset[j], ...])``
  (or the dataset's ``__getitems__`` for the whole list, if it has one); without
  batching (``batch_size=None``) ``fetch(i)`` is ``collate_fn(dataset[i])``;
- iterable datasets: the fetcher holds ``iter(dataset)``, and ``fetch(batch)`` takes
  ``len(batch)`` samples from it (the batch sampler yields lists of None for these,
  only their length counts); a short last batch is kept unless ``drop_last``.

When the stream is exhausted ``fetch`` raises ``DatasetExhausted`` (a private
signal, so that a ``StopIteration`` cannot leak out of a worker thread).
"""

__all__ = ["DatasetExhausted", "StopRequested", "MapFetcher", "IterableFetcher"]


class DatasetExhausted(Exception):
    """The iterable dataset has no more samples (or too few for a full batch with
    ``drop_last``)."""


class StopRequested(Exception):
    """The loader is shutting down: a worker stops between two samples of a batch."""


class MapFetcher:
    """Batches of a map-style dataset.

    auto_collation : True when a batch sampler yields lists of indices (``batch_size``
        given); False for ``batch_size=None`` (one index, one sample).
    stop : a ``threading.Event`` (or None): once set, fetch stops between samples.
    """

    def __init__(self, dataset, auto_collation, collate_fn, drop_last, stop=None):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.stop = stop

    def fetch(self, index):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return self.collate_fn(getitems(index))
        samples = []
        for i in index:
            if self.stop is not None and self.stop.is_set():
                raise StopRequested
            samples.append(self.dataset[i])
        return self.collate_fn(samples)


class IterableFetcher:
    """Batches of an iterable dataset, taken from one ``iter(dataset)``."""

    def __init__(self, dataset, auto_collation, collate_fn, drop_last, stop=None):
        self.samples = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.stop = stop
        self.ended = False

    def _next_sample(self):
        if not self.ended:
            try:
                return next(self.samples)
            except StopIteration:
                self.ended = True
        raise DatasetExhausted

    def fetch(self, index):
        if not self.auto_collation:
            return self.collate_fn(self._next_sample())
        samples = []
        try:
            for _ in index:
                if self.stop is not None and self.stop.is_set():
                    raise StopRequested
                samples.append(self._next_sample())
        except DatasetExhausted:
            if not samples or self.drop_last:
                raise
        return self.collate_fn(samples)
