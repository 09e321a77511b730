"""Data for the brain-MRI pipeline: reading, splitting, preprocessing, augmenting, batching.

    from tinynet.mri.data import open_dataset, split_patients, channel_stats, Augment, BatchLoader
    ds = open_dataset("kaggle_3m", size=128)          # or None / "phantom", or a packed .npz
    split = split_patients(ds.patients, val_fraction=0.2, seed=0)
    train = ds.indices_of(split["train"])
    stats = channel_stats(ds, train)
    loader = BatchLoader(ds, train, 8, augment=Augment(), normalization=stats)

One topic per module: ``dataset`` (SliceDataset), ``kaggle3m`` (the reader),
``phantom`` (synthetic data), ``packed`` (one-file .npz; CLI
``python -m tinynet pack``), ``sources`` (open_dataset), ``splits`` (train/validation
splits and cross-validation folds),
``preprocess`` (resize, channel_stats, normalize), ``volume_intensity`` (per-volume
normalization and its intensity augmentation), ``context`` (2.5-D input: a slice with
its neighbours), ``augment``, ``loader``,
``slice_files`` (image files to predict on, with or without masks).
This package knows arrays and files, never networks: it imports only NumPy,
SciPy, Pillow and the framework's atomic file writer (``tinynet.io``).
"""
from .augment import Augment
from .context import context_channels, neighbour_positions, neighbour_table, stack_context
from .dataset import SliceDataset
from .errors import DataError
from .kaggle3m import read_kaggle3m
from .loader import Batch, BatchLoader
from .packed import load_packed, pack
from .phantom import make_phantom
from .preprocess import channel_stats, normalize, resize_dataset, resize_image, resize_mask, \
    slice_scales
from .slice_files import IMAGE_SUFFIXES, find_slice_files, read_slice
from .sources import open_dataset
from .volume_intensity import VOLUME_PERCENTILES, IntensityJitter, volume_levels, volume_tables
from .splits import fold_split, institution_of, kfold_patients, load_folds, load_split, \
    save_folds, save_split, split_patients

__all__ = ["DataError", "SliceDataset", "read_kaggle3m", "make_phantom", "pack", "load_packed",
           "IMAGE_SUFFIXES", "find_slice_files", "read_slice", "open_dataset", "institution_of",
           "split_patients", "save_split", "load_split",
           "kfold_patients", "fold_split", "save_folds", "load_folds",
           "channel_stats", "normalize", "slice_scales", "resize_image", "resize_mask",
           "resize_dataset", "VOLUME_PERCENTILES", "volume_levels", "volume_tables",
           "IntensityJitter", "context_channels", "neighbour_positions", "neighbour_table",
           "stack_context",
           "Augment", "BatchLoader", "Batch"]
