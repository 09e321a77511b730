"""Datasets: what a ``DataLoader`` reads samples from (``torch.utils.data``'s datasets).

Two kinds, as in PyTorch:

- map-style, ``Dataset``: ``dataset[i]`` is sample ``i`` and ``len(dataset)`` their
  number; a sampler chooses the indices.
- iterable-style, ``IterableDataset``: ``iter(dataset)`` yields the samples, for
  streams where random access is impossible or expensive.

Built on them: ``TensorDataset`` (sample ``i`` is the ``i``-th row of each tensor),
``Subset`` (some indices of a dataset), ``ConcatDataset`` (datasets one after the
other; ``ds1 + ds2`` makes one), ``ChainDataset`` (iterable datasets one after the
other) and ``random_split`` (a dataset cut into random non-overlapping Subsets).
"""
import bisect
import itertools
import math
import warnings
from typing import Generic, TypeVar

from .rng import randperm

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "ChainDataset", "random_split"]

T_co = TypeVar("T_co", covariant=True)


class Dataset(Generic[T_co]):
    """A map-style dataset: subclasses define ``__getitem__(index)`` and, for the
    default samplers, ``__len__()``.

    There is deliberately no default ``__len__`` (as in PyTorch): ``len()`` of a
    dataset without one is a ``TypeError``, not a wrong number.
    ``Dataset[T]`` may be written in type annotations.
    """

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other):
        """``ds1 + ds2``: the samples of ``ds1`` followed by those of ``ds2``."""
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co]):
    """An iterable-style dataset: subclasses define ``__iter__()``, which yields samples.

    ``__iter__`` must return a new iterator at every call (a generator function
    does): a ``DataLoader`` with worker threads calls it once in each worker, all
    on this same object.  As in PyTorch, every worker then yields the whole
    stream; to split it between workers, look at ``get_worker_info()`` (its ``id``
    and ``num_workers``) inside ``__iter__``.
    """

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other):
        """``ds1 + ds2``: the stream of ``ds1`` followed by that of ``ds2``."""
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Sample ``i`` is ``(tensors[0][i], tensors[1][i], ...)``.

    tensors : Tensors (or arrays) with the same size N along dim 0, e.g. images
        (N, C, H, W) and labels (N,).
    """

    def __init__(self, *tensors):
        sizes = [tensor.shape[0] for tensor in tensors]
        if len(set(sizes)) > 1:
            # AssertionError, the type PyTorch raises here.
            raise AssertionError(f"Size mismatch between tensors: their sizes along dim 0 are "
                                 f"{sizes}, they must all be equal")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(tensor[index] for tensor in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (a sequence of indices), in that order:
    ``subset[i]`` is ``dataset[indices[i]]``."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        """A list of samples at once; uses the dataset's own ``__getitems__`` if it has one
        (the DataLoader fetches a whole batch through it)."""
        wanted = [self.indices[i] for i in indices]
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__(wanted)
        return [self.dataset[i] for i in wanted]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """Map-style datasets one after the other: index ``len(ds0) + j`` is ``ds1[j]``.

    ``cumulative_sizes[k]`` is the number of samples in datasets 0..k, as in PyTorch.
    """

    def __init__(self, datasets):
        self.datasets = list(datasets)
        # AssertionError for both, as PyTorch.
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        if any(isinstance(d, IterableDataset) for d in self.datasets):
            raise AssertionError("ConcatDataset does not support IterableDataset "
                                 "(use ChainDataset to chain iterable datasets)")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx += len(self)
        if idx >= len(self):
            raise IndexError(f"index {idx} is out of range for a ConcatDataset of "
                             f"{len(self)} samples")
        # The first dataset whose cumulative size exceeds idx holds it.
        k = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[k - 1] if k > 0 else 0
        return self.datasets[k][idx - start]


class ChainDataset(IterableDataset):
    """Iterable datasets one after the other (chained lazily, at iteration)."""

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self):
        return sum(len(d) for d in self.datasets)


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping random ``Subset``s of the given ``lengths``.

    lengths : the sizes of the parts (ints summing to ``len(dataset)``), or fractions
        summing to 1: then part ``i`` gets ``floor(len(dataset) * lengths[i])``
        samples and the leftover samples are handed out one each to parts 0, 1,
        2, ... in turn (PyTorch 2.x's rule: 10 samples with [0.5, 0.3, 0.2] give
        5, 3, 2; 11 samples give 6, 3, 2).  A part of size 0 gives a warning.
    generator : None (tinynet's global generator, see ``tn.manual_seed``), a
        ``tn.Generator`` or a ``numpy.random.Generator``.

    Raises ValueError when a fraction is outside [0, 1] or the lengths do not sum to
    ``len(dataset)``.
    """
    total = sum(lengths)
    # Fractions are recognized as PyTorch does: they sum to 1 (within rounding), never more.
    if math.isclose(total, 1) and total <= 1:
        n = len(dataset)
        sizes = []
        for i, fraction in enumerate(lengths):
            if not 0 <= fraction <= 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            sizes.append(math.floor(n * fraction))
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f"Length of split at index {i} is 0. "
                              f"This might result in an empty dataset.", stacklevel=2)
        lengths = sizes
    if sum(lengths) != len(dataset):
        raise ValueError(f"Sum of input lengths does not equal the length of the input dataset! "
                         f"(lengths {list(lengths)} sum to {sum(lengths)}, the dataset has "
                         f"{len(dataset)} samples)")
    order = randperm(len(dataset), generator)
    ends = itertools.accumulate(lengths)
    return [Subset(dataset, order[end - length:end]) for end, length in zip(ends, lengths)]
