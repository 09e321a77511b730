"""Samplers: the order in which a ``DataLoader`` visits a map-style dataset.

A sampler is an iterable of indices (``BatchSampler``: of lists of indices) with a
``__len__``; iterating it again starts a new epoch.  As in ``torch.utils.data``:

- ``SequentialSampler``: 0, 1, ..., n-1.
- ``RandomSampler``: a new random permutation every epoch, or draws with replacement.
- ``SubsetRandomSampler``: the given indices in a new random order every epoch.
- ``WeightedRandomSampler``: index i drawn with probability proportional to weights[i].
- ``BatchSampler``: groups another sampler's indices into lists of ``batch_size``.

Randomness: with ``generator=None`` a sampler draws from tinynet's global generator,
so ``tn.manual_seed(s)`` makes it reproducible; or pass a ``tn.Generator`` (or a
``numpy.random.Generator``, see ``rng.py``).  The permutations differ from PyTorch's (another generator); their
distribution and every length and rule are PyTorch's.
"""
from typing import Generic, TypeVar

import numpy as np

from ... import backend
from ...autograd import Tensor, as_tensor
from .rng import draw_seed, numpy_generator, randperm

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]

T_co = TypeVar("T_co", covariant=True)

_CHUNK = 32   # draws with replacement are made this many at a time, lazily


def _is_positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _to_numpy(values):
    """A tinynet Tensor (on any device) as a NumPy array; other values unchanged."""
    return backend.to_numpy(values.data) if isinstance(values, Tensor) else values


class Sampler(Generic[T_co]):
    """Base class: subclasses define ``__iter__`` (the indices of one epoch) and usually
    ``__len__``.  ``data_source`` is accepted for compatibility and not used (PyTorch
    deprecated it); ``Sampler[int]`` may be written in type annotations."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler[int]):
    """Indices 0, 1, ..., len(data_source) - 1, in order."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """Random indices of ``data_source``, in a new order each epoch.

    replacement : False: a random permutation (repeated whole, then cut, if
        ``num_samples`` exceeds the dataset); True: ``num_samples`` independent
        uniform draws.
    num_samples : how many indices an epoch yields (default: ``len(data_source)``).
    generator : None (the global generator), a ``tn.Generator`` or a NumPy one.

    Without a generator, each epoch first draws one seed from the global generator
    and then uses a private generator made from it (as PyTorch does): the epoch's
    order is fixed by the global state when the epoch starts, whatever else draws
    from the global generator while the epoch runs (dropout, augmentation).
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got "
                            f"replacement={self.replacement}")
        if not _is_positive_int(self.num_samples):
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")

    @property
    def num_samples(self):
        """The number of indices per epoch (the dataset's size unless given)."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        rng = (np.random.default_rng(draw_seed()) if self.generator is None
               else numpy_generator(self.generator))
        if self.replacement:
            # Lazily, a chunk at a time: num_samples may be huge ("sample forever").
            for start in range(0, self.num_samples, _CHUNK):
                count = min(_CHUNK, self.num_samples - start)
                yield from rng.integers(0, n, size=count).tolist()
        else:
            for _ in range(self.num_samples // n):
                yield from rng.permutation(n).tolist()
            yield from rng.permutation(n).tolist()[:self.num_samples % n]

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given ``indices`` in a new random order each epoch (no replacement)."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = generator

    def __iter__(self):
        for i in randperm(len(self.indices), self.generator):
            yield self.indices[i]

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """``num_samples`` indices in ``0 .. len(weights)-1``, index i drawn with probability
    ``weights[i] / sum(weights)`` (the weights need not sum to 1).

    weights : 1-D sequence (list, array, Tensor) of non-negative numbers, shape (n,).
    replacement : True: independent draws; False: no index twice (then
        ``num_samples`` must not exceed the number of nonzero weights).

    Bad weights (negative, NaN, all zero) raise RuntimeError when iterated, as
    ``torch.multinomial`` does.
    """

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if not _is_positive_int(num_samples):
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={num_samples}")
        if not isinstance(replacement, bool):
            # ValueError here (TypeError in RandomSampler): PyTorch's types, both.
            raise ValueError(f"replacement should be a boolean value, but got "
                             f"replacement={replacement}")
        weights = np.asarray(_to_numpy(weights), dtype=np.float64)
        if weights.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{tuple(weights.shape)}")
        self.weights = as_tensor(weights)     # float64, as PyTorch keeps them
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self):
        w = backend.to_numpy(self.weights.data)
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise RuntimeError("WeightedRandomSampler: invalid weights: they must be finite, "
                               "non-negative and not all zero")
        if not self.replacement and self.num_samples > np.count_nonzero(w):
            raise RuntimeError(f"WeightedRandomSampler: cannot draw {self.num_samples} "
                               f"samples without replacement from {np.count_nonzero(w)} "
                               f"nonzero weights")
        rng = numpy_generator(self.generator)
        draws = rng.choice(w.size, self.num_samples, replace=self.replacement, p=w / w.sum())
        yield from draws.tolist()

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler[list]):
    """Lists of ``batch_size`` consecutive indices of ``sampler`` (any iterable of indices).

    drop_last : True drops the last, shorter list; False keeps it.
    ``len()`` is ``len(sampler) // batch_size``, or rounded up without ``drop_last``.

    >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler, batch_size, drop_last):
        if not _is_positive_int(batch_size):
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got "
                             f"drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self):
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return -(-len(self.sampler) // self.batch_size)   # ceil division
