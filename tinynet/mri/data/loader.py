"""BatchLoader: reproducible, resumable mini-batches, prepared in a background thread.

    loader = BatchLoader(ds, train_indices, 8, augment=Augment(), normalization=stats,
                         oversample_tumour=0.5, seed=0)
    for epoch in range(10):
        for batch in loader:            # Batch(images, masks, labels, indices)
            train_step(batch.images, batch.masks)

Everything random is a function of the seed and the position in the run:
the order of epoch e comes from ``np.random.default_rng([seed, e])`` and the
augmentation of the k-th sample of that epoch from
``np.random.default_rng([seed, e, k])``.  Hence the batches do not depend on
thread timing, and a run restored with ``load_state_dict`` yields exactly
the batches the uninterrupted run would have yielded, without computing the
skipped ones.

Iterating continues from ``(loader.epoch, loader.position)``: a loop that
stops early (``break``, an exception) leaves the position at the batches it
received, and the next ``for`` continues the same epoch; when an epoch is
exhausted ``epoch += 1`` and ``position = 0``.  Only one iteration should be
active at a time.

While the model trains on one batch, a worker thread prepares the next
``prefetch`` ones (NumPy, SciPy and Pillow release the GIL in their inner
loops, so this overlaps real work).  The thread stops when the iteration
ends, is left early or is garbage collected; an exception in the worker is
re-raised in the consumer with the worker's traceback.

Data-parallel training (``rank``, ``world_size``): ``batch_size`` stays the
*global* batch.  Every rank draws the same global order (same seed), and rank
r takes the r-th of ``world_size`` equal parts of each global batch, augmented
with the generator of its global position, so the ranks together see exactly
the batches, oversampling and augmentation of one process.  The position and
the state dict are those of the global batches: a run saved with one world
size resumes with another.
"""
import functools
import math
import queue
import threading
import time
from typing import NamedTuple

import numpy as np

from ._checks import check_whole_number, is_real_number
from .dataset import stack_slices
from .errors import DataError
from .preprocess import check_stats, normalize
from .context import check_context, neighbour_table
from .volume_intensity import volume_levels, volume_tables

__all__ = ["Batch", "BatchLoader"]

_UNIT_STATS = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}  # x / 255, no normalization


class Batch(NamedTuple):
    """One mini-batch: NumPy arrays, or the loader's ``transfer`` of them (e.g. GPU arrays);
    ``indices`` stays NumPy.

    images  float32 (B, 3, H, W), normalized (3 (2K + 1) channels with context K)
    masks   float32 (B, 1, H, W), 0/1
    labels  int64 (B,), 1 where the (augmented) mask has tumour pixels
    indices int64 (B,), the dataset indices of the slices
    """
    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    indices: np.ndarray


def _check_indices(indices, n):
    indices = np.asarray(indices)
    if indices.ndim != 1 or indices.size == 0 or not np.issubdtype(indices.dtype, np.integer):
        raise DataError(f"BatchLoader: indices must be a non-empty 1-D array of integers, "
                        f"got {indices.dtype} {indices.shape}")
    bad = indices[(indices < 0) | (indices >= n)]
    if bad.size:
        raise DataError(f"BatchLoader: index {int(bad[0])} is out of range for a dataset "
                        f"of {n} slices")
    return indices.astype(np.int64)


def _cycled(rng, group, count):
    """``count`` draws from ``group``: whole shuffled passes, then part of one more.

    Every element is drawn floor(count / len) or ceil(count / len) times,
    which varies less than drawing with replacement.
    """
    passes = [rng.permutation(group) for _ in range(math.ceil(count / len(group)))]
    return np.concatenate(passes)[:count] if passes else group[:0]


class BatchLoader:
    """Mini-batches of ``dataset[indices]`` (see the module docstring).

    Args:
        dataset:    a SliceDataset
        indices:    the dataset indices to draw from (e.g. ``ds.indices_of(split["train"])``)
        batch_size: slices per batch
        shuffle:    a new order every epoch; False keeps ``indices`` in their order (evaluation)
        oversample_tumour: None, or p in [0, 1]: every epoch draws len(indices) slices,
                    round(p * len(indices)) of them with tumour (needs shuffle=True)
        patient_area_sampling: None, or a floor f >= 0: every epoch draws len(indices)
                    slices, each from a patient drawn uniformly, then one of that patient's
                    slices with probability proportional to (its tumour area + f * the
                    patient's mean tumour area per slice), uniformly for a patient without
                    tumour (Buda et al. 2019 used f = 0.1).  Small tumours and patients with
                    few slices are seen as often as large ones.  Needs shuffle=True; not
                    with oversample_tumour
        augment:    None or a callable ``(image, mask, rng) -> (image, mask)`` such as Augment()
        normalization: ``{"mean", "std"}`` from ``channel_stats``; None gives x / 255.
                    With ``"volume_percentiles"`` (per-volume normalization), the loader
                    measures each patient's volume (all the dataset's slices of that
                    patient, ``volume_intensity.volume_levels``) once, here
        intensity_jitter: None, or an ``IntensityJitter`` applied to each slice's per-volume
                    normalization (needs ``"volume_percentiles"``)
        context:    K >= 0: each image is the slice with its K neighbours on each side in
                    its patient's volume, (3 (2K + 1), H, W) (``context.py``); the mask is
                    the slice's own
        seed:       the seed of every random choice
        drop_last:  drop the last batch of an epoch if it is smaller than batch_size
        prefetch:   batches prepared ahead by the worker thread; 0 = no thread
        rank, world_size: this process's part of every global batch (data-parallel
                    training); batch_size must be a multiple of world_size
        transfer:   None, or a callable applied to each array of a finished batch in the
                    worker thread, e.g. a copy to the GPU (``tinynet.backend.
                    upload_from_worker``), so that the copy overlaps the training step
    """

    def __init__(self, dataset, indices, batch_size, *, shuffle=True, oversample_tumour=None,
                 augment=None, normalization=None, seed=0, drop_last=False, prefetch=2,
                 rank=0, world_size=1, transfer=None, intensity_jitter=None,
                 patient_area_sampling=None, context=0):
        self.dataset = dataset
        self.indices = _check_indices(indices, len(dataset))
        self.batch_size = check_whole_number(batch_size, "batch_size", 1, "BatchLoader")
        self.prefetch = check_whole_number(prefetch, "prefetch", 0, "BatchLoader")
        self.shuffle, self.drop_last, self.seed = bool(shuffle), bool(drop_last), int(seed)
        self.augment = augment
        self.normalization = normalization if normalization is not None else _UNIT_STATS
        check_stats(self.normalization)  # fail here, not in the worker thread
        self.volume_levels = self._measure_volumes()
        if intensity_jitter is not None and self.volume_levels is None:
            raise DataError("BatchLoader: intensity_jitter acts on the per-volume normalization; "
                            "give normalization with volume_percentiles")
        self.intensity_jitter = intensity_jitter
        self.context = check_context(context, "BatchLoader")
        self._neighbours = neighbour_table(dataset.patient_of, self.context) \
            if self.context else None
        self.oversample_tumour = None
        if oversample_tumour is not None:
            self._set_oversampling(oversample_tumour)
        self.patient_area_sampling = None
        if patient_area_sampling is not None:
            self._set_patient_area_sampling(patient_area_sampling)
        if len(self) == 0:
            raise DataError(f"BatchLoader: {len(self.indices)} slices with batch_size "
                            f"{self.batch_size} and drop_last=True give no batch at all")
        self._set_rank(rank, world_size)
        self.transfer = transfer
        self.epoch = 0
        self.position = 0
        self.wait_seconds = 0.0

    def _set_rank(self, rank, world_size):
        self.world_size = check_whole_number(world_size, "world_size", 1, "BatchLoader")
        self.rank = check_whole_number(rank, "rank", 0, "BatchLoader")
        if self.rank >= self.world_size:
            raise DataError(f"BatchLoader: rank {rank} is not below world_size {world_size}")
        # Equal parts keep the ranks' mean of per-rank mean losses the loss of the global
        # batch, and the ranks in step (each runs the same number of collectives).
        if self.batch_size % self.world_size:
            raise DataError(f"BatchLoader: batch_size {self.batch_size} (the global batch) is "
                            f"not divisible by the {self.world_size} ranks")
        last = len(self.indices) - (len(self) - 1) * self.batch_size
        if not self.drop_last and last % self.world_size:   # with drop_last every batch is full
            raise DataError(f"BatchLoader: the last batch of {last} slices cannot be shared "
                            f"equally by {self.world_size} ranks (use drop_last)")

    def _set_oversampling(self, p):
        if not (is_real_number(p) and 0 <= p <= 1):
            raise DataError(f"BatchLoader: oversample_tumour must be None or in [0, 1], got {p!r}")
        if not self.shuffle:
            raise DataError("BatchLoader: oversample_tumour needs shuffle=True "
                            "(evaluation should see every slice once)")
        tumour = self.dataset.has_tumour[self.indices]
        self._tumour, self._background = self.indices[tumour], self.indices[~tumour]
        n_tumour = self._tumour_draws(p)
        if n_tumour > 0 and self._tumour.size == 0:
            raise DataError(f"BatchLoader: oversample_tumour={p} but none of the "
                            f"{len(self.indices)} slices has tumour")
        if n_tumour < len(self.indices) and self._background.size == 0:
            raise DataError(f"BatchLoader: oversample_tumour={p} but all of the "
                            f"{len(self.indices)} slices have tumour")
        self.oversample_tumour = float(p)

    def _set_patient_area_sampling(self, floor):
        if not (is_real_number(floor) and floor >= 0):
            raise DataError(f"BatchLoader: patient_area_sampling must be None or a floor >= 0, "
                            f"got {floor!r}")
        if not self.shuffle or self.oversample_tumour is not None:
            raise DataError("BatchLoader: patient_area_sampling needs shuffle=True and no "
                            "oversample_tumour (it replaces it)")
        self.patient_area_sampling = float(floor)
        # Per patient: its slices (dataset indices) and the probability of drawing each.
        by_patient = {}
        for index in self.indices:
            by_patient.setdefault(self.dataset.patient_of[int(index)], []).append(int(index))
        self._patient_slices = []
        for slices in by_patient.values():
            area = np.array([self.dataset.mask(i).sum() for i in slices], dtype=np.float64)
            weight = area + floor * area.mean() if area.sum() > 0 else np.ones(len(slices))
            self._patient_slices.append((np.array(slices, dtype=np.int64),
                                         weight / weight.sum()))

    def _patient_area_order(self, rng):
        """len(indices) draws: a patient uniformly, then a slice by its area weight."""
        patients = rng.integers(len(self._patient_slices), size=len(self.indices))
        order = np.empty(len(self.indices), dtype=np.int64)
        for k, patient in enumerate(patients):
            slices, probability = self._patient_slices[patient]
            order[k] = slices[rng.choice(len(slices), p=probability)]
        return order

    def _tumour_draws(self, p):
        return math.floor(p * len(self.indices) + 0.5)

    def __len__(self):
        """Batches per epoch."""
        n, b = len(self.indices), self.batch_size
        return n // b if self.drop_last else math.ceil(n / b)

    def epoch_order(self, epoch):
        """int64 (len(indices),): the dataset indices of epoch ``epoch``, in the order drawn."""
        if not self.shuffle:
            return self.indices.copy()
        rng = np.random.default_rng([self.seed, epoch])
        if self.patient_area_sampling is not None:
            return self._patient_area_order(rng)
        if self.oversample_tumour is None:
            return rng.permutation(self.indices)
        n_tumour = self._tumour_draws(self.oversample_tumour)
        draws = np.concatenate([_cycled(rng, self._tumour, n_tumour),
                                _cycled(rng, self._background, len(self.indices) - n_tumour)])
        return rng.permutation(draws)

    def state_dict(self):
        """Where the loader stands: plain ints, JSON-serializable (store it in a checkpoint)."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "batch_size": self.batch_size, "num_samples": len(self.indices)}

    def load_state_dict(self, state):
        """Continue from a ``state_dict()``; the loader must be built with the same arguments."""
        for key in ("seed", "batch_size", "num_samples"):
            if key in state and state[key] != self.state_dict()[key]:
                raise DataError(f"BatchLoader.load_state_dict: the state has {key}={state[key]}, "
                                f"this loader has {key}={self.state_dict()[key]}")
        epoch, position = int(state["epoch"]), int(state["position"])
        if epoch < 0 or not 0 <= position <= len(self):
            raise DataError(f"BatchLoader.load_state_dict: epoch {epoch}, position {position} "
                            f"out of range ({len(self)} batches per epoch)")
        self.epoch, self.position = epoch, position

    def __iter__(self):
        if self.position >= len(self):  # the last batch was received, the loop left before the end
            self.epoch, self.position = self.epoch + 1, 0
        epoch, start = self.epoch, self.position
        order = self.epoch_order(epoch)
        make = functools.partial(self._make_batch, order, epoch)
        batches = _Prefetcher(make, range(start, len(self)), self.prefetch)
        try:
            for k in range(start, len(self)):
                began = time.perf_counter()
                batch = batches.get()
                self.wait_seconds += time.perf_counter() - began
                self.position = k + 1
                yield batch
            self.epoch, self.position = epoch + 1, 0
        finally:
            batches.close()

    def _measure_volumes(self):
        """{patient: (3, 4) volume levels} of the patients of ``indices``, or None when the
        normalization is not per volume."""
        percentiles = self.normalization.get("volume_percentiles")
        if percentiles is None:
            return None
        patients = sorted({self.dataset.patient_of[int(i)] for i in self.indices})
        return {patient: volume_levels(self.dataset.subset([patient]).arrays()[0], percentiles)
                for patient in patients}

    def _level_tables(self, chosen, epoch, first):
        """float32 (B, 3, 256) per-volume normalization tables of the slices ``chosen``
        (jittered when there is an intensity_jitter), or None when not per volume."""
        if self.volume_levels is None:
            return None
        tables = []
        for offset, index in enumerate(chosen):
            jitter = None
            if self.intensity_jitter is not None:
                # a generator of its own, so the geometric augmentation draws as without it
                rng = np.random.default_rng([self.seed, epoch, first + offset, 1])
                jitter = self.intensity_jitter.draw(rng)
            levels = self.volume_levels[self.dataset.patient_of[int(index)]]
            tables.append(volume_tables(levels, jitter))
        return np.stack(tables)

    def _make_batch(self, order, epoch, k):
        """Batch number ``k`` of the epoch whose sample order is ``order``."""
        first = k * self.batch_size
        chosen = order[first:first + self.batch_size]
        if self.world_size > 1:    # this rank's part; ``first`` stays its global position
            share = len(chosen) // self.world_size
            first += self.rank * share
            chosen = chosen[self.rank * share:(self.rank + 1) * share]
        images, masks = [], []
        for offset, index in enumerate(chosen):
            image, mask = self.dataset[int(index)]
            if self.context:
                image = np.concatenate([self.dataset[int(j)][0]
                                        for j in self._neighbours[int(index)]], axis=-1)
            if self.augment is not None:
                rng = np.random.default_rng([self.seed, epoch, first + offset])
                image, mask = self.augment(image, mask, rng)
            images.append(image)
            masks.append(mask)
        names = [self.dataset.names[int(i)] for i in chosen]
        masks = stack_slices(masks, names)
        tables = self._level_tables(chosen, epoch, first)
        batch = Batch(images=normalize(stack_slices(images, names), self.normalization, tables),
                      masks=masks[:, None].astype(np.float32),
                      labels=masks.reshape(len(chosen), -1).any(axis=1).astype(np.int64),
                      indices=chosen.astype(np.int64))
        if self.transfer is None:
            return batch
        return batch._replace(images=self.transfer(batch.images), masks=self.transfer(batch.masks),
                              labels=self.transfer(batch.labels))


class _Prefetcher:
    """Calls ``make(key)`` for each key in a worker thread, ``depth`` results ahead.

    ``get()`` returns the results in order (re-raising a worker exception);
    ``close()`` stops the worker and waits for it.  ``depth=0``: no thread,
    ``get()`` calls ``make`` itself.
    """

    def __init__(self, make, keys, depth):
        self._make, self._keys = make, iter(keys)
        self._thread = None
        if depth > 0:
            self._queue = queue.Queue(maxsize=depth)
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._work, name="BatchLoader-worker",
                                            daemon=True)
            self._thread.start()

    def _work(self):
        try:
            for key in self._keys:
                if self._stop.is_set():
                    return
                self._queue.put((True, self._make(key)))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._queue.put((False, exc))

    def get(self):
        if self._thread is None:
            return self._make(next(self._keys))
        ok, value = self._queue.get()
        if not ok:
            raise value  # its __traceback__ still shows where in the worker it happened
        return value

    def close(self):
        if self._thread is None:
            return
        self._stop.set()
        # Empty the queue so that a worker blocked in put() can finish that put,
        # see the stop flag and return; it puts at most one more item.
        while self._thread.is_alive():
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.01)
