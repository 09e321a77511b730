"""tinynet.mri.data.loader, BatchLoader: coverage, oversampling, determinism, resuming, and the
worker thread's lifetime."""
import gc
import threading
import traceback

import numpy as np
import pytest

from tinynet.mri.data import Augment, Batch, BatchLoader, DataError, make_phantom


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(n_patients=4, slices_per_patient=10, size=32, seed=1)


def collect(loader, epochs=1):
    return [batch for _ in range(epochs) for batch in loader]


def assert_same_batches(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        for name in Batch._fields:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_every_index_once_per_epoch_in_a_new_order(phantom):
    indices = np.arange(3, 33)
    loader = BatchLoader(phantom, indices, 8, seed=0)
    assert len(loader) == 4
    epochs = [np.concatenate([b.indices for b in loader]) for _ in range(2)]
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), indices)
    assert not np.array_equal(epochs[0], epochs[1])
    assert loader.epoch == 2 and loader.position == 0


def test_shuffle_false_keeps_the_order_and_drop_last(phantom):
    indices = np.array([7, 3, 9, 1, 0, 5, 2, 8, 4, 6])
    batches = collect(BatchLoader(phantom, indices, 4, shuffle=False))
    assert [len(b.indices) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b.indices for b in batches]), indices)
    dropped = BatchLoader(phantom, indices, 4, shuffle=False, drop_last=True)
    assert len(dropped) == 2 and [len(b.indices) for b in dropped] == [4, 4]


def test_batch_contents(phantom):
    stats = {"mean": [0.5, 0.25, 0.0], "std": [0.5, 0.25, 1.0]}
    batch = next(iter(BatchLoader(phantom, [4, 11, 30], 3, shuffle=False, normalization=stats)))
    assert batch.images.dtype == np.float32 and batch.images.shape == (3, 3, 32, 32)
    assert batch.masks.dtype == np.float32 and batch.masks.shape == (3, 1, 32, 32)
    assert batch.labels.dtype == np.int64 and batch.indices.dtype == np.int64
    image, mask = phantom[11]
    np.testing.assert_allclose(batch.images[1, 1], (image[..., 1] / 255 - 0.25) / 0.25, atol=1e-6)
    np.testing.assert_array_equal(batch.masks[1, 0], mask)
    np.testing.assert_array_equal(batch.labels, phantom.has_tumour[[4, 11, 30]])
    plain = next(iter(BatchLoader(phantom, [11], 1)))  # no normalization: x / 255
    np.testing.assert_allclose(plain.images[0].transpose(1, 2, 0), image / 255, atol=1e-7)


def test_oversampling_draws_the_asked_share_of_tumour_slices(phantom):
    indices = np.arange(40)
    tumour = phantom.has_tumour
    assert 0.4 < tumour.mean() < 0.8  # the phantom has both kinds
    loader = BatchLoader(phantom, indices, 8, oversample_tumour=0.25, seed=2)
    for _ in range(2):
        drawn = np.concatenate([b.indices for b in loader])
        assert len(drawn) == 40
        assert tumour[drawn].sum() == 10  # round(0.25 * 40)
        # The 30 background draws cycle through the background slices: each is drawn
        # floor or ceil of 30 / (their number) times, and so are the tumour slices.
        for kind in (~tumour, tumour):
            counts = np.bincount(drawn, minlength=40)[kind]
            assert counts.max() - counts.min() <= 1


def test_labels_follow_the_masks_without_augmentation(phantom):
    loader = BatchLoader(phantom, np.arange(40), 8, oversample_tumour=0.75, seed=2)
    for batch in loader:
        np.testing.assert_array_equal(batch.labels, phantom.has_tumour[batch.indices])
        per_slice_max = batch.masks.reshape(len(batch.labels), -1).max(axis=1)
        np.testing.assert_array_equal(batch.labels, per_slice_max)


def test_same_seed_same_batches_with_augmentation(phantom):
    def make(prefetch):
        return BatchLoader(phantom, np.arange(40), 8, augment=Augment(elastic=0.01), seed=4,
                           prefetch=prefetch)
    threaded = collect(make(2), epochs=2)
    assert_same_batches(threaded, collect(make(2), epochs=2))
    assert_same_batches(threaded, collect(make(0), epochs=2))  # threads change nothing
    other_seed = collect(BatchLoader(phantom, np.arange(40), 8, augment=Augment(), seed=5))
    assert not np.array_equal(other_seed[0].images, threaded[0].images)


class CountingAugment:
    """Augment() that counts its calls (to prove skipped batches are not computed)."""

    def __init__(self):
        self.augment, self.calls = Augment(), 0

    def __call__(self, image, mask, rng):
        self.calls += 1
        return self.augment(image, mask, rng)


def test_resume_mid_epoch_equals_the_uninterrupted_run(phantom):
    def make(augment):
        return BatchLoader(phantom, np.arange(40), 6, augment=augment, oversample_tumour=0.5,
                           seed=9)
    uninterrupted = collect(make(Augment()), epochs=2)  # 7 batches per epoch
    interrupted = make(Augment())
    for k, batch in enumerate(interrupted):
        if k == 2:
            break
    state = interrupted.state_dict()
    assert state["epoch"] == 0 and state["position"] == 3
    augment = CountingAugment()
    resumed = make(augment)
    resumed.load_state_dict(state)
    rest = collect(resumed, epochs=2)
    assert augment.calls == 40 - 3 * 6 + 40  # the 3 batches already seen were not recomputed
    assert_same_batches(uninterrupted[3:], rest)
    assert resumed.state_dict()["epoch"] == 2


def test_loop_left_after_the_last_batch_starts_the_next_epoch(phantom):
    loader = BatchLoader(phantom, np.arange(8), 4, seed=0)
    for k, _ in enumerate(loader):
        if k == 1:
            break  # the last batch of epoch 0 was received
    assert (loader.epoch, loader.position) == (0, 2)
    second = [b.indices for b in loader]
    reference = BatchLoader(phantom, np.arange(8), 4, seed=0)
    reference.load_state_dict({"epoch": 1, "position": 0})
    np.testing.assert_array_equal(np.concatenate(second),
                                  np.concatenate([b.indices for b in reference]))


def test_state_dict_of_another_loader_is_refused(phantom):
    state = BatchLoader(phantom, np.arange(40), 8, seed=1).state_dict()
    with pytest.raises(DataError, match="the state has batch_size=8, this loader has batch_size=4"):
        BatchLoader(phantom, np.arange(40), 4, seed=1).load_state_dict(state)
    with pytest.raises(DataError, match="position 9 out of range"):
        BatchLoader(phantom, np.arange(40), 8, seed=1).load_state_dict({"epoch": 0, "position": 9})


def broken_augment(image, mask, rng):
    """Fails on the slice with index 13 (as a decoding error deep in a worker would)."""
    if image is broken_augment.poisoned:
        raise RuntimeError("augmentation exploded")
    return image, mask


def test_worker_exception_surfaces_with_its_traceback(phantom):
    broken_augment.poisoned = phantom[13][0]
    threads = threading.active_count()
    loader = BatchLoader(phantom, np.arange(40), 4, shuffle=False, augment=broken_augment)
    with pytest.raises(RuntimeError, match="augmentation exploded") as info:
        collect(loader)
    functions = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "broken_augment" in functions and "_make_batch" in functions
    assert loader.position == 3  # the batches before the broken one were delivered
    gc.collect()
    assert threading.active_count() == threads


def test_leaving_early_stops_the_thread(phantom):
    threads = threading.active_count()
    loader = BatchLoader(phantom, np.arange(40), 2, augment=Augment(), prefetch=3)
    for k, _ in enumerate(loader):
        assert threading.active_count() == threads + 1
        if k == 1:
            break
    assert threading.active_count() == threads
    with pytest.raises(KeyError):
        for _ in loader:
            raise KeyError("the training step failed")
    assert threading.active_count() == threads
    iterator = iter(loader)
    next(iterator)
    del iterator  # garbage collected mid-epoch
    gc.collect()
    assert threading.active_count() == threads
    assert loader.position == 4  # 2 + 1 + 1 batches received in all


def test_wait_seconds_accumulates(phantom):
    loader = BatchLoader(phantom, np.arange(40), 8, prefetch=0)
    assert loader.wait_seconds == 0.0
    collect(loader)
    assert loader.wait_seconds > 0.0  # without a thread, making the batch is waiting


@pytest.mark.parametrize("kwargs, message", [
    ({"indices": []}, "indices must be a non-empty 1-D array of integers"),
    ({"indices": [0, 40]}, "index 40 is out of range for a dataset of 40 slices"),
    ({"batch_size": 0}, "batch_size must be a whole number >= 1, got 0"),
    ({"prefetch": -1}, "prefetch must be a whole number >= 0"),
    ({"oversample_tumour": 1.5}, r"oversample_tumour must be None or in \[0, 1\], got 1.5"),
    ({"oversample_tumour": 0.5, "shuffle": False}, "oversample_tumour needs shuffle=True"),
    ({"normalization": {"mean": [0, 0, 0], "std": [0, 1, 1]}}, "std must be > 0"),
    ({"batch_size": 50, "drop_last": True}, "give no batch at all"),
])
def test_bad_arguments(phantom, kwargs, message):
    arguments = {"indices": np.arange(40), "batch_size": 8, **kwargs}
    with pytest.raises(DataError, match=message):
        BatchLoader(phantom, arguments.pop("indices"), arguments.pop("batch_size"), **arguments)


def test_oversampling_needs_both_kinds(phantom):
    background = np.flatnonzero(~phantom.has_tumour)
    with pytest.raises(DataError, match=f"none of the {len(background)} slices has tumour"):
        BatchLoader(phantom, background, 4, oversample_tumour=0.5)
    BatchLoader(phantom, background, 4, oversample_tumour=0.0)  # no tumour asked: fine


@pytest.mark.parametrize("prefetch", [0, 2])
def test_transfer_is_applied_to_each_batch_array_in_the_worker(phantom, prefetch):
    """``transfer`` (the GPU upload in training) sees images, masks and labels of every batch,
    in the worker thread when there is one; the batches are otherwise the same."""
    threads = set()

    def transfer(array):
        threads.add(threading.current_thread().name)
        return array * 2

    plain = collect(BatchLoader(phantom, np.arange(20), 8, seed=3, prefetch=prefetch))
    moved = collect(BatchLoader(phantom, np.arange(20), 8, seed=3, prefetch=prefetch,
                                transfer=transfer))
    for a, b in zip(plain, moved):
        for name in ("images", "masks", "labels"):
            np.testing.assert_array_equal(getattr(b, name), 2 * getattr(a, name))
        np.testing.assert_array_equal(b.indices, a.indices)
    assert threads == ({"BatchLoader-worker"} if prefetch else {threading.main_thread().name})


# ---------------------------------------------------------------------------
# patient_area_sampling (--sampler patient-area, Buda et al. 2019)
# ---------------------------------------------------------------------------

def area_weights(dataset, indices, floor):
    """The documented probabilities, computed directly: {index: P(draw)} over one draw."""
    patients = sorted({dataset.patient_of[i] for i in indices})
    expected = {}
    for patient in patients:
        mine = [i for i in indices if dataset.patient_of[i] == patient]
        area = np.array([dataset.mask(i).sum() for i in mine], dtype=np.float64)
        weight = area + floor * area.mean() if area.sum() else np.ones(len(mine))
        for i, w in zip(mine, weight / weight.sum()):
            expected[i] = w / len(patients)
    return expected


def test_patient_area_sampling_draws_patients_uniformly_then_slices_by_area(phantom):
    indices = np.arange(len(phantom))
    loader = BatchLoader(phantom, indices, 8, patient_area_sampling=0.1, seed=3)
    draws = np.concatenate([loader.epoch_order(epoch) for epoch in range(300)])
    assert len(loader.epoch_order(0)) == len(indices)
    assert set(draws) <= set(indices.tolist())
    expected = area_weights(phantom, indices.tolist(), 0.1)
    frequency = np.bincount(draws, minlength=len(phantom)) / len(draws)
    # 12,000 draws: each frequency within ~4 binomial standard deviations of its probability
    for index, p in expected.items():
        assert abs(frequency[index] - p) <= 4 * np.sqrt(p * (1 - p) / len(draws)) + 1e-9
    patients = np.array([phantom.patient_of[i] for i in draws])
    shares = [np.mean(patients == p) for p in phantom.patients]
    np.testing.assert_allclose(shares, 1 / len(phantom.patients), atol=0.02)


def test_patient_area_sampling_never_draws_a_tumour_free_slice_without_a_floor(phantom):
    indices = np.arange(len(phantom))
    loader = BatchLoader(phantom, indices, 8, patient_area_sampling=0.0, seed=0)
    draws = np.concatenate([loader.epoch_order(epoch) for epoch in range(20)])
    assert phantom.has_tumour[draws].all()


def test_patient_area_sampling_is_reproducible_and_resumes(phantom):
    def make():
        return BatchLoader(phantom, np.arange(len(phantom)), 8, patient_area_sampling=0.1,
                           seed=5, prefetch=0)
    whole = collect(make(), epochs=2)
    first = make()
    for k, _ in enumerate(first):
        if k == 2:
            break                       # three batches received
    resumed = make()
    resumed.load_state_dict(first.state_dict())
    # the rest of epoch 0, then epoch 1
    assert_same_batches(collect(resumed, epochs=2), whole[3:])


@pytest.mark.parametrize("kwargs, message", [
    ({"patient_area_sampling": -0.1}, "patient_area_sampling must be None or a floor >= 0"),
    ({"patient_area_sampling": "0.1"}, "patient_area_sampling must be None or a floor >= 0"),
    ({"patient_area_sampling": 0.1, "oversample_tumour": 0.5}, "no oversample_tumour"),
    ({"patient_area_sampling": 0.1, "shuffle": False}, "needs shuffle=True"),
])
def test_patient_area_sampling_bad_arguments(phantom, kwargs, message):
    with pytest.raises(DataError, match=message):
        BatchLoader(phantom, np.arange(len(phantom)), 8, **kwargs)
