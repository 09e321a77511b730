"""SliceDataset: the 2-D slices of a set of patients, with their tumour masks.

Every source of data (the kaggle_3m reader, a packed ``.npz``, the phantom)
ends up as a ``SliceDataset``, so everything downstream (splits, statistics,
the batch loader) sees one interface::

    ds = read_kaggle3m("kaggle_3m", size=128)
    image, mask = ds[0]          # uint8 (H, W, 3), uint8 (H, W) with values 0/1
    ds.patients                  # sorted patient ids
    ds.patient_of[i], ds.names[i], ds.paths[i]
    train = ds.subset(["TCGA_CS_4943_20000902"])

Slices are decoded on first access and then kept in memory (a 128x128 slice
and its mask take 64 KiB, all 2094 slices of kaggle_3m about 130 MiB), so the
second epoch reads no file.  Cached arrays are read-only: a caller that wants
to change one must copy it first, and can never corrupt the cache by mistake.

A dataset is a *view* on a store of slices: ``subset`` makes a new view on the
same store, so a slice decoded through the training subset is cached for the
full dataset as well.
"""
import threading

import numpy as np

from .errors import DataError

__all__ = ["SliceDataset", "stack_slices"]


class _SliceStore:
    """The decoded slices behind one or more dataset views, decoded at most once each.

    ``source`` decodes slice ``row`` with ``read_image(row)`` and
    ``read_mask(row)``; it is None for data that is already in memory.
    A lock makes decoding safe when the loader's worker thread and the main
    thread ask for the same slice at once.
    """

    def __init__(self, images, masks, source=None):
        self.images = images          # list: uint8 (H, W, 3) or None (not decoded yet)
        self.masks = masks            # list: uint8 (H, W) 0/1 or None
        self.source = source
        self.decode_count = 0         # files decoded so far (an image and its mask are two)
        self._lock = threading.Lock()

    def image(self, row):
        return self._get(self.images, row, "read_image")

    def mask(self, row):
        return self._get(self.masks, row, "read_mask")

    def _get(self, cache, row, reader):
        value = cache[row]
        if value is None:
            with self._lock:
                value = cache[row]            # another thread may have decoded it meanwhile
                if value is None:
                    value = getattr(self.source, reader)(row)
                    value.flags.writeable = False
                    cache[row] = value
                    self.decode_count += 1
        return value


def _read_only_views(array):
    """The rows of a stacked array as a list of read-only views (no copy)."""
    views = list(array)
    for view in views:
        view.flags.writeable = False
    return views


class SliceDataset:
    """Slices of patients: ``ds[i] -> (image uint8 (H, W, 3), mask uint8 (H, W) in {0, 1})``.

    Build one with ``SliceDataset.from_arrays`` (data in memory) or from a
    file source (see ``read_kaggle3m``); the constructor itself is the
    common low-level form.

    Attributes (one entry per slice unless said otherwise):
        patients    sorted list of the distinct patient ids
        patient_of  the patient id of each slice
        names       the image file stem, e.g. "TCGA_CS_4943_20000902_12"
        paths       the image file, or None for data that came from memory
        mask_paths  the mask file, or None
        image_size  the side every slice was resized to, or None (as stored)
        decode_count  files decoded so far (shared with subsets of the same data)
    """

    def __init__(self, patient_of, names, store, *, rows=None, paths=None, mask_paths=None,
                 image_size=None):
        n = len(store.images)
        self._store = store
        self._rows = np.arange(n, dtype=np.int64) if rows is None else np.asarray(rows, np.int64)
        if len(patient_of) != len(self._rows) or len(names) != len(self._rows):
            raise DataError(f"SliceDataset: {len(self._rows)} slices but {len(patient_of)} "
                            f"patient ids and {len(names)} names")
        self.patient_of = list(patient_of)
        self.names = list(names)
        self.paths = list(paths) if paths is not None else [None] * len(self._rows)
        self.mask_paths = list(mask_paths) if mask_paths is not None else [None] * len(self._rows)
        self.image_size = image_size
        self.patients = sorted(set(self.patient_of))

    @classmethod
    def from_arrays(cls, images, masks, patient_of, names, image_size=None):
        """A dataset held in memory: images uint8 (N, H, W, 3), masks (N, H, W) with values 0/1.

        ``images`` is kept without a copy (its slices become read-only views).
        """
        images, masks = np.asarray(images), np.asarray(masks)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
            raise DataError(f"SliceDataset.from_arrays: images must be uint8 (N, H, W, 3), "
                            f"got {images.dtype} {images.shape}")
        if masks.shape != images.shape[:3]:
            raise DataError(f"SliceDataset.from_arrays: masks must be (N, H, W) = "
                            f"{images.shape[:3]}, got {masks.shape}")
        if masks.size and masks.max() > 1:
            raise DataError("SliceDataset.from_arrays: masks must hold only 0 and 1, "
                            f"found {int(masks.max())}")
        store = _SliceStore(_read_only_views(images), _read_only_views(masks.astype(np.uint8)))
        return cls(patient_of, names, store, image_size=image_size)

    def __len__(self):
        return len(self._rows)

    def __getitem__(self, index):
        """``(image uint8 (H, W, 3), mask uint8 (H, W))`` of slice ``index`` (read-only arrays)."""
        row = self._rows[index]
        # The mask first: a file reader checks the image against its mask's
        # size, and a slice whose mask was read already (has_tumour) then
        # decodes just the image here.
        mask = self._store.mask(row)
        return self._store.image(row), mask

    def __repr__(self):
        return (f"SliceDataset({len(self.patients)} patients, {len(self)} slices, "
                f"image_size={self.image_size})")

    @property
    def decode_count(self):
        """How many files were decoded so far (an image and its mask count as two)."""
        return self._store.decode_count

    def mask(self, index):
        """The mask of slice ``index`` alone (decodes only the mask file)."""
        return self._store.mask(self._rows[index])

    @property
    def has_tumour(self):
        """bool (N,): True where the slice's mask has at least one tumour pixel.

        Decodes the masks (not the images) of slices not read yet.
        """
        return np.array([bool(self.mask(i).any()) for i in range(len(self))], dtype=bool)

    def indices_of(self, patients):
        """int64 array of the indices (ascending) of all slices of ``patients``."""
        wanted = set(patients)
        unknown = sorted(wanted - set(self.patients))
        if unknown:
            raise DataError(f"indices_of: patient(s) {', '.join(unknown)} not in this dataset "
                            f"({len(self.patients)} patients)")
        return np.array([i for i, p in enumerate(self.patient_of) if p in wanted], dtype=np.int64)

    def subset(self, patients):
        """A dataset of the slices of ``patients`` only, sharing this one's decoded cache."""
        keep = self.indices_of(patients)
        return SliceDataset([self.patient_of[i] for i in keep], [self.names[i] for i in keep],
                            self._store, rows=self._rows[keep],
                            paths=[self.paths[i] for i in keep],
                            mask_paths=[self.mask_paths[i] for i in keep],
                            image_size=self.image_size)

    def arrays(self):
        """``(images uint8 (N, H, W, 3), masks uint8 (N, H, W))``: every slice, stacked (a copy)."""
        indices = range(len(self))
        images = stack_slices([self[i][0] for i in indices], [self.names[i] for i in indices])
        masks = stack_slices([self.mask(i) for i in indices], [self.names[i] for i in indices])
        return images, masks


def stack_slices(arrays, names):
    """``np.stack(arrays)``, or a DataError naming two slices whose sizes differ."""
    if not arrays:
        raise DataError("no slices to stack")
    first = arrays[0].shape
    for array, name in zip(arrays, names):
        if array.shape != first:
            raise DataError(f"slices differ in size: {names[0]} is {first[0]}x{first[1]}, "
                            f"{name} is {array.shape[0]}x{array.shape[1]}; read the data "
                            "with size=... to resize every slice to one size")
    return np.stack(arrays)
