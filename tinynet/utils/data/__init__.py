"""``tinynet.utils.data``: datasets, samplers and the DataLoader, with PyTorch's API.

Code written for ``torch.utils.data`` runs unchanged with ``import tinynet as torch``::

    import numpy as np
    import tinynet as torch
    from tinynet.utils.data import DataLoader, TensorDataset, random_split

    torch.manual_seed(0)                                   # fixes shuffles and splits
    x = torch.randn(100, 3, 8, 8)                          # 100 images (N, C, H, W)
    y = torch.randint(0, 2, (100,))                        # and their labels (N,)
    train, val = random_split(TensorDataset(x, y), [0.8, 0.2])      # 80 and 20 samples
    loader = DataLoader(train, batch_size=16, shuffle=True, num_workers=2)
    for epoch in range(3):
        for images, labels in loader:                      # (16, 3, 8, 8) float32, (16,) int64
            ...                                            # 5 batches, reshuffled each epoch

The pieces, one file each:

- ``dataset.py``: ``Dataset`` (map-style: ``ds[i]``, ``len(ds)``; ``ds1 + ds2``),
  ``IterableDataset`` (a stream), ``TensorDataset``, ``Subset``, ``ConcatDataset``,
  ``ChainDataset``, ``random_split`` (lengths or fractions);
- ``sampler.py``: ``Sampler``, ``SequentialSampler``, ``RandomSampler``,
  ``SubsetRandomSampler``, ``WeightedRandomSampler``, ``BatchSampler``;
- ``distributed_sampler.py``: ``DistributedSampler``, each rank's share of a dataset
  in data-parallel training (PyTorch's padding and striding, exactly);
- ``collate.py``: ``default_collate`` (samples -> batch: tensors, arrays and numbers
  stacked, dicts/tuples/namedtuples/lists recursively, strings kept as lists) and
  ``default_convert`` (for ``batch_size=None``);
- ``dataloader.py``: ``DataLoader``, PyTorch's arguments and checks; ``fetch.py``:
  indices -> collated batch; ``worker.py``: worker threads for ``num_workers > 0``
  (why threads, not processes: see there), ``get_worker_info``;
- ``rng.py``: the random generator everything draws from.

Randomness: with ``generator=None`` everything draws from tinynet's global generator,
so ``tn.manual_seed(s)`` makes shuffles, splits and samplers reproducible; or pass
``generator=tn.Generator().manual_seed(seed)`` (a ``numpy.random.Generator`` is
accepted too).  The permutations are not
PyTorch's (another generator); the rules, lengths and errors are.
"""
from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset,
                      TensorDataset, random_split)
from .distributed_sampler import DistributedSampler
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                      SubsetRandomSampler, WeightedRandomSampler)
from .worker import WorkerInfo, get_worker_info

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "ChainDataset", "random_split", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler", "DistributedSampler",
           "DataLoader", "default_collate", "default_convert", "get_worker_info", "WorkerInfo"]
