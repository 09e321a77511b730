"""``--intensity volume``: per-volume intensity normalization (Buda et al. 2019) from the
numbers of one volume to the training scripts and `tinynet predict`.

What is checked:

* ``volume_levels`` equals a direct NumPy computation (np.percentile of the channel's pixels
  over the whole volume, u = clip((x - lo) / (hi - lo), 0, 1), mean and std of u), constant
  and empty channels and one-slice volumes included; bad input names the function and shape;
* ``normalize`` with volume stats is (u - m) / s (shared or per-slice tables), and refuses
  missing, misshapen or misplaced tables;
* the key property: what the BatchLoader feeds the network for a patient's slices equals
  what ``inference.prepare_batch`` gives at prediction time with ``volume_normalization``
  of that patient, and differs from measuring only part of the volume;
* prediction sees the whole volume whatever the chunk: the two-stage predictor's segmenter
  (behind the classifier's gate), classify, grad_cam, ``report.evaluate`` (patient by
  patient, the dataset order kept) and ``predict_scan``;
* ``IntensityJitter``: one draw per (seed, epoch, position) from its own generator, the
  loader's batches reproducible and resumable, zero jitter is no jitter, bad arguments;
* the checkpoint spec keeps ``volume_percentiles`` and refuses bad ones;
* end to end: ``train_resunet.py --intensity volume`` for one epoch on a tiny folder, then
  ``predict`` on the folder of two patients equals predicting each patient's folder alone;
  ``make_augment`` leaves the uint8 intensity jitter to the per-volume normalization.
"""
import json
import shutil

import numpy as np
import pytest

import tinynet as tn
from commandhelpers import load_script, read_png, write_png
from mrihelpers import (IDENTITY, STATS, BrightSegmenter, MeanClassifier, mri_like,
                        with_percentile, write_kaggle3m)
from tinynet.io import CheckpointError, save_checkpoint
from tinynet.mri import cli, experiment, report
from tinynet.mri.checkpoint import build_model, load_model, model_spec, read_spec
from tinynet.mri.commands import predict
from tinynet.mri.data import (Augment, BatchLoader, DataError, IntensityJitter, SliceDataset,
                             find_slice_files, make_phantom, normalize, read_kaggle3m,
                             resize_image, volume_levels, volume_tables)
from tinynet.mri.gradcam import grad_cam
from tinynet.mri.inference import (TwoStagePredictor, classify, prepare_batch, segment,
                                   volume_normalization)
from tinynet.mri.scan_prediction import predict_scan

#: The normalization ``--intensity volume`` stores (experiment._normalization).
VOLUME = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "volume_percentiles": [10.0, 99.0]}


def reference_levels(images, percentiles=(10, 99)):
    """(3, 4) per channel (lo, hi, mean, std of u), straight from the pixels in float64."""
    levels = []
    for c in range(3):
        x = images[..., c].ravel().astype(np.float64)
        lo, hi = np.percentile(x, percentiles)
        # volume_levels keeps hi - lo >= 1 level: hi = lo + 1 for a constant channel, and
        # also where hi - lo < 1 (the "faint" case), not only where they are equal
        hi = max(hi, lo + 1.0)
        u = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
        levels.append((lo, hi, u.mean(), u.std() if u.std() > 1e-6 else 1.0))
    return np.array(levels)


def reference_normalize(images, levels, stats=VOLUME):
    """float64 (N, 3, H, W): ((u - m) / s - mean) / std per channel, from the pixels."""
    out = np.empty((len(images), 3) + images.shape[1:3])
    for c, (lo, hi, m, s) in enumerate(levels):
        u = np.clip((images[..., c].astype(np.float64) - lo) / (hi - lo), 0.0, 1.0)
        out[:, c] = ((u - m) / s - stats["mean"][c]) / stats["std"][c]
    return out


def two_level_volume(rng, n=6, size=16):
    """A volume whose first half is dark (levels 10..60) and second half bright (150..250);
    the first slice has a bright 3x4 patch (BrightSegmenter sees it, MeanClassifier not)."""
    dark = rng.integers(10, 61, (n // 2, size, size, 3), dtype=np.uint8)
    dark[0, 2:5, 2:6] = 255
    bright = rng.integers(150, 251, (n - n // 2, size, size, 3), dtype=np.uint8)
    return np.concatenate([dark, bright])


def volume_stub(task, size=16, threshold=0.5):
    """A stub network (MeanClassifier / BrightSegmenter) with a per-volume spec."""
    model = MeanClassifier() if task == "classification" else BrightSegmenter()
    arch = "resnet18" if task == "classification" else "resunet"
    return model, model_spec(arch, {}, size, VOLUME, threshold)


class RecordingSegmenter(BrightSegmenter):
    """BrightSegmenter that keeps every input it was given."""

    def __init__(self):
        super().__init__()
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.data.copy())
        return super().forward(x)


# ---------------------------------------------------------------------------
# volume_levels, volume_tables
# ---------------------------------------------------------------------------

def volumes():
    """(name, uint8 volume) cases: random, MRI-like with a black background, edge cases."""
    rng = np.random.default_rng(5)
    random = rng.integers(0, 256, (5, 12, 10, 3), dtype=np.uint8)
    black_channel = mri_like(rng, n=4, size=16)
    black_channel[..., 1] = 0
    constant_channel = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    constant_channel[..., 2] = 77
    one_slice = rng.integers(30, 200, (1, 9, 7, 3), dtype=np.uint8)
    faint = np.zeros((1, 16, 16, 3), np.uint8)     # 99th percentile between levels 0 and 1
    faint[0, 0, :3] = 1
    return [("random", random), ("mri_like", mri_like(rng, n=6, size=16)),
            ("black_channel", black_channel), ("constant_channel", constant_channel),
            ("one_slice", one_slice), ("faint", faint)]


@pytest.mark.parametrize("name, images", volumes(), ids=[name for name, _ in volumes()])
def test_volume_levels_equal_numpy_percentiles_and_moments(name, images):
    levels = volume_levels(images)
    assert levels.shape == (3, 4) and levels.dtype == np.float64
    np.testing.assert_allclose(levels, reference_levels(images), rtol=1e-12, atol=1e-12)


def test_volume_levels_of_empty_and_constant_channels():
    images = np.zeros((2, 8, 8, 3), np.uint8)
    images[..., 1] = 200
    images[..., 2] = np.arange(64, dtype=np.uint8).reshape(8, 8)   # 0..63 on both slices
    levels = volume_levels(images)
    np.testing.assert_array_equal(levels[0], [0.0, 1.0, 0.0, 1.0])      # all black
    np.testing.assert_array_equal(levels[1], [200.0, 201.0, 0.0, 1.0])  # constant
    lo, hi = np.percentile(np.tile(np.arange(64), 2), [10, 99])    # 6.3, 62.73
    assert levels[2, :2].tolist() == pytest.approx([lo, hi], abs=1e-12)
    # A constant channel normalizes to zero: u = 0 = m everywhere.
    z = normalize(images, VOLUME, volume_tables(levels))
    assert not z[:, :2].any()


def test_volume_levels_follow_the_percentiles_asked():
    images = np.random.default_rng(2).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    np.testing.assert_allclose(volume_levels(images, (2, 80)),
                               reference_levels(images, (2, 80)), rtol=1e-12)
    np.testing.assert_allclose(volume_levels(images, (0, 100))[:, :2],
                               [[images[..., c].min(), images[..., c].max()] for c in range(3)])


@pytest.mark.parametrize("images, shown", [
    (np.zeros((8, 8, 3), np.uint8), "(8, 8, 3)"),
    (np.zeros((2, 8, 8, 4), np.uint8), "(2, 8, 8, 4)"),
    (np.zeros((0, 8, 8, 3), np.uint8), "(0, 8, 8, 3)"),
    (np.zeros((2, 8, 8, 3), np.float32), "float32"),
])
def test_volume_levels_bad_images_name_the_function_and_shape(images, shown):
    with pytest.raises(DataError, match="volume_levels") as info:
        volume_levels(images)
    assert shown in str(info.value)


@pytest.mark.parametrize("percentiles", [(99, 10), (10, 10), (5,), (-1, 50), (10, 101),
                                         ("10", "99"), (True, 99), None])
def test_volume_levels_bad_percentiles(percentiles):
    with pytest.raises(DataError, match="volume_levels: volume_percentiles"):
        volume_levels(np.zeros((1, 4, 4, 3), np.uint8), percentiles)


def test_volume_tables_map_every_level_and_check_the_shape():
    levels = np.array([[10.0, 110.0, 0.5, 0.25], [0.0, 255.0, 0.4, 0.2], [50.0, 51.0, 0.0, 1.0]])
    tables = volume_tables(levels)
    assert tables.shape == (3, 256) and tables.dtype == np.float32
    x = np.arange(256.0)
    for c, (lo, hi, m, s) in enumerate(levels):
        np.testing.assert_allclose(tables[c], (np.clip((x - lo) / (hi - lo), 0, 1) - m) / s,
                                   rtol=1e-6, atol=1e-6)
    # jitter (gamma, contrast, brightness) acts on u before the z-score
    jitter = np.array([[2.0, 1.1, 0.05], [1.0, 1.0, 0.0], [0.5, 0.9, -0.05]])
    u = np.clip((x - 10.0) / 100.0, 0, 1)
    np.testing.assert_allclose(volume_tables(levels, jitter)[0],
                               (1.1 * u ** 2.0 + 0.05 - 0.5) / 0.25, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(volume_tables(levels, jitter)[1], tables[1])
    with pytest.raises(DataError, match=r"volume_tables.*\(4, 3\)"):
        volume_tables(levels.T)


# ---------------------------------------------------------------------------
# normalize with per-volume stats
# ---------------------------------------------------------------------------

def test_normalize_per_volume_is_u_minus_m_over_s(rng):
    images = mri_like(rng, n=5, size=16, top=220)
    levels = volume_levels(images)
    z = normalize(images, VOLUME, volume_tables(levels))
    assert z.dtype == np.float32 and z.shape == (5, 3, 16, 16)
    np.testing.assert_allclose(z, reference_normalize(images, levels), rtol=1e-6, atol=1e-6)
    # the volume's own moments: every channel of the volume comes out with mean 0, std 1
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1.0, atol=1e-5)
    # the stats' mean and std still apply on top of the table
    stats = {**STATS, "volume_percentiles": [10, 99]}
    np.testing.assert_allclose(normalize(images, stats, volume_tables(levels)),
                               reference_normalize(images, levels, stats), rtol=1e-5, atol=1e-5)
    # one image (H, W, 3) -> (3, H, W)
    np.testing.assert_array_equal(normalize(images[2], VOLUME, volume_tables(levels)), z[2])


def test_normalize_with_one_table_per_slice(rng):
    images = mri_like(rng, n=3, size=16)
    levels = volume_levels(images)
    jitter = IntensityJitter(0.3, 0.2, 0.1)
    tables = np.stack([volume_tables(levels, jitter.draw(np.random.default_rng(n)))
                       for n in range(3)])
    z = normalize(images, VOLUME, tables)
    for n in range(3):
        np.testing.assert_array_equal(z[n], normalize(images[n:n + 1], VOLUME, tables[n])[0])
    assert not np.array_equal(z[0], normalize(images[:1], VOLUME, tables[1])[0])


def test_normalize_refuses_missing_misshapen_or_misplaced_tables(rng):
    images = mri_like(rng, n=3, size=8)
    tables = volume_tables(volume_levels(images))
    with pytest.raises(DataError, match="volume_percentiles.*tables="):
        normalize(images, VOLUME)
    for shape in [(2, 3, 256), (3, 255), (4, 256), (3, 3, 3, 256)]:
        with pytest.raises(DataError, match="normalize: tables must be") as info:
            normalize(images, VOLUME, np.zeros(shape, np.float32))
        assert f"got shape {shape}" in str(info.value)
    for stats in (IDENTITY, with_percentile(STATS)):
        with pytest.raises(DataError, match="tables= is for stats with volume_percentiles"):
            normalize(images, stats, tables)
    with pytest.raises(DataError, match="both per slice .* and per volume"):
        normalize(images, {**VOLUME, "slice_percentile": 99.0}, tables)
    with pytest.raises(DataError, match="volume_percentiles"):
        normalize(images, {**VOLUME, "volume_percentiles": [99, 10]}, tables)


# ---------------------------------------------------------------------------
# Training input == prediction input
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def phantom():
    """3 phantom patients x 5 slices at 32 px (the size a 32 px model sees)."""
    return make_phantom(n_patients=3, slices_per_patient=5, size=32, seed=4)


def test_the_loader_gives_a_patient_exactly_what_prediction_gives(phantom):
    """The key property: the network sees the same floats in training and at prediction."""
    spec = model_spec("resunet", {"base": 4, "depth": 2}, 32,
                      experiment._normalization({"intensity": "volume"}, phantom, None))
    assert spec["normalization"] == VOLUME
    # Every slice of the data, in batches that mix patients.
    loader = BatchLoader(phantom, np.arange(len(phantom)), 4, shuffle=False, prefetch=0,
                         normalization=spec["normalization"])
    inputs = np.concatenate([batch.images for batch in loader])
    for patient in phantom.patients:
        indices = phantom.indices_of([patient])
        slices = [phantom[int(i)][0] for i in indices]
        tables = volume_normalization(spec, slices)
        np.testing.assert_array_equal(inputs[indices], prepare_batch(slices, spec, tables))
        # Measuring only part of the volume would not do.
        part = volume_normalization(spec, slices[:2])
        assert not np.array_equal(prepare_batch(slices[:2], spec, part), inputs[indices[:2]])
    # A loader given a few of a patient's slices still measures the patient's whole volume.
    patient = phantom.patients[1]
    indices = phantom.indices_of([patient])
    few = next(iter(BatchLoader(phantom, indices[[3, 0]], 2, shuffle=False, prefetch=0,
                                normalization=VOLUME)))
    np.testing.assert_array_equal(few.images, inputs[indices[[3, 0]]])


def test_volume_normalization_measures_the_volume_at_the_input_size(phantom):
    spec = model_spec("resunet", {"base": 4, "depth": 2}, 16, VOLUME)
    slices = [phantom[i][0] for i in range(5)]                     # 32 px, input 16 px
    small = np.stack([resize_image(s, 16) for s in slices])
    np.testing.assert_array_equal(volume_normalization(spec, slices),
                                  volume_tables(volume_levels(small)))
    plain = model_spec("resunet", {"base": 4, "depth": 2}, 16, STATS)
    assert volume_normalization(plain, slices) is None


# ---------------------------------------------------------------------------
# Prediction sees the whole volume, whatever the chunk
# ---------------------------------------------------------------------------

def test_the_gated_segmenter_is_normalized_by_the_whole_volume(rng):
    volume = two_level_volume(rng)
    segmenter = RecordingSegmenter()
    seg_spec = volume_stub("segmentation")[1]
    predictor = TwoStagePredictor(volume_stub("classification"), (segmenter, seg_spec))
    assert predictor.needs_volume
    result = predictor(volume)
    positive = np.flatnonzero(result.positive)
    assert 0 < len(positive) < len(volume)              # the gate lets only some slices through
    (seen,) = segmenter.inputs                          # the positive slices only ...
    whole = prepare_batch(list(volume[positive]), seg_spec,
                          volume_normalization(seg_spec, volume))
    np.testing.assert_array_equal(seen, whole)         # ... normalized by the whole volume
    alone = prepare_batch(list(volume[positive]), seg_spec,
                          volume_normalization(seg_spec, volume[positive]))
    assert not np.allclose(seen, alone, atol=0.1)


def test_a_chunk_with_volume_equals_the_whole_volume_and_differs_without(rng):
    volume = two_level_volume(rng)
    predictor = TwoStagePredictor(volume_stub("classification"), volume_stub("segmentation"))
    whole = predictor(volume)
    chunk = predictor(volume[2:5], volume=volume)
    np.testing.assert_array_equal(chunk.masks, whole.masks[2:5])
    np.testing.assert_array_equal(chunk.probability, whole.probability[2:5])
    np.testing.assert_array_equal(chunk.pixel_probabilities, whole.pixel_probabilities[2:5])
    alone = predictor(volume[2:5])                      # the chunk taken for a whole scan
    assert not np.array_equal(alone.masks, whole.masks[2:5])
    assert not np.allclose(alone.probability, whole.probability[2:5])
    # classify and segment on their own take volume= too
    cls_model, cls_spec = volume_stub("classification")
    np.testing.assert_array_equal(classify(cls_model, cls_spec, volume[2:5], volume=volume),
                                  classify(cls_model, cls_spec, volume)[2:5])
    seg_model, seg_spec = volume_stub("segmentation")
    np.testing.assert_array_equal(segment(seg_model, seg_spec, volume[2:5], volume=volume),
                                  segment(seg_model, seg_spec, volume)[2:5])


def test_needs_volume_only_for_per_volume_models():
    plain = (BrightSegmenter(), model_spec("resunet", {}, 16, IDENTITY))
    assert not TwoStagePredictor(segmenter=plain).needs_volume
    assert TwoStagePredictor(segmenter=volume_stub("segmentation")).needs_volume
    assert TwoStagePredictor(volume_stub("classification"), plain).needs_volume


def test_grad_cam_of_a_chunk_with_volume_equals_the_whole_volume(rng):
    arch_args = {"num_classes": 2, "width": 8}
    model = build_model("resnet18", arch_args)
    spec = model_spec("resnet18", arch_args, 64, VOLUME)
    volume = mri_like(rng, n=4, size=64, top=250)
    whole = grad_cam(model, spec, volume, batch_size=4)
    np.testing.assert_allclose(grad_cam(model, spec, volume[1:3], volume=volume), whole[1:3],
                               atol=1e-6)
    assert not np.allclose(classify(model, spec, volume[1:3]),
                           classify(model, spec, volume)[1:3], rtol=0, atol=1e-9)


def test_evaluate_predicts_each_patient_whole_and_keeps_the_dataset_order(rng, monkeypatch):
    """Two patients whose slices alternate in the dataset, evaluated CHUNK = 2 slices at a
    time: the same numbers as predicting each patient's volume at once, in dataset order."""
    volumes = {"TCGA_CS_0001_20000101": two_level_volume(rng, n=5),
               "TCGA_DU_0002_20000202": two_level_volume(rng, n=4) // 2 + 40}
    patient_of = ["TCGA_CS_0001_20000101", "TCGA_DU_0002_20000202"] * 4 + \
        ["TCGA_CS_0001_20000101"]
    taken = {p: 0 for p in volumes}
    images, masks = [], []
    for p in patient_of:
        images.append(volumes[p][taken[p]])
        masks.append(np.eye(16, dtype=np.uint8) * (taken[p] % 2))
        taken[p] += 1
    dataset = SliceDataset.from_arrays(np.stack(images), np.stack(masks), patient_of,
                                       [f"{p}_{n}" for n, p in enumerate(patient_of)])
    classifier, segmenter = volume_stub("classification"), volume_stub("segmentation")
    monkeypatch.setattr(report, "CHUNK", 2)
    evaluation = report.evaluate(dataset, classifier, segmenter)

    predictor = TwoStagePredictor(classifier, segmenter, segment_all=True)
    expected_probability = np.zeros(len(dataset))
    expected_seg = np.zeros((len(dataset), 16, 16), np.uint8)
    expected_pipeline = np.zeros_like(expected_seg)
    for p, volume in volumes.items():
        result = predictor(volume)
        indices = dataset.indices_of([p])
        expected_probability[indices] = result.classifier_probability
        expected_seg[indices] = result.segmenter_masks
        expected_pipeline[indices] = result.masks
    np.testing.assert_array_equal(evaluation.cls_probability, expected_probability)
    np.testing.assert_array_equal(evaluation.seg_masks, expected_seg)
    np.testing.assert_array_equal(evaluation.pipeline_masks, expected_pipeline)
    np.testing.assert_array_equal(evaluation.labels, [m.any() for m in masks])
    assert 0 < expected_pipeline.sum() < expected_seg.sum()     # the gate did something
    # chunked as before this feature (2 slices, patients mixed), the numbers would differ
    mixed = np.concatenate([predictor(np.stack(images[i:i + 2])).classifier_probability
                            for i in range(0, len(images), 2)])
    assert not np.allclose(mixed, expected_probability)


def test_predict_scan_measures_the_whole_scan_whatever_the_chunk(rng):
    slices = two_level_volume(rng, n=5)
    slices[:, :, :3] = 0                                # a black border
    predictor = TwoStagePredictor(volume_stub("classification"), volume_stub("segmentation"))
    at_once = predict_scan(predictor, slices, (3.0, 1.0, 1.0), chunk_size=5)
    by_two = predict_scan(predictor, slices, (3.0, 1.0, 1.0), chunk_size=2)
    for a, b in zip(at_once[:4], by_two[:4]):
        np.testing.assert_array_equal(a, b)
    # a non-square field of view: the whole padded scan is the volume
    wide = predict_scan(predictor, slices[:, :, 3:], (3.0, 1.0, 1.0), chunk_size=2)
    assert wide.padding == ((0, 0), (1, 2))
    np.testing.assert_array_equal(
        wide.probability,
        predictor(np.pad(slices[:, :, 3:], ((0, 0), (0, 0), (1, 2), (0, 0)))).probability)


# ---------------------------------------------------------------------------
# IntensityJitter
# ---------------------------------------------------------------------------

def test_intensity_jitter_draws_within_its_ranges_from_the_generator():
    jitter = IntensityJitter(gamma=0.2, contrast=0.1, brightness=0.05)
    draws = np.stack([jitter.draw(np.random.default_rng([0, 0, k, 1])) for k in range(200)])
    assert draws.shape == (200, 3, 3)
    gamma, contrast, brightness = draws[..., 0], draws[..., 1], draws[..., 2]
    assert np.all((np.exp(-0.2) <= gamma) & (gamma <= np.exp(0.2)))
    assert np.all((0.9 <= contrast) & (contrast <= 1.1))
    assert np.all((-0.05 <= brightness) & (brightness <= 0.05))
    assert gamma.std() > 0 and contrast.std() > 0 and brightness.std() > 0
    np.testing.assert_array_equal(jitter.draw(np.random.default_rng([3, 1, 7, 1])),
                                  jitter.draw(np.random.default_rng([3, 1, 7, 1])))
    assert not np.array_equal(jitter.draw(np.random.default_rng([3, 1, 7, 1])),
                              jitter.draw(np.random.default_rng([3, 1, 8, 1])))
    np.testing.assert_array_equal(IntensityJitter(0, 0, 0).draw(np.random.default_rng(1)),
                                  [[1.0, 1.0, 0.0]] * 3)


@pytest.mark.parametrize("name, value", [("gamma", 1.0), ("gamma", -0.1), ("contrast", 1.5),
                                         ("brightness", True), ("contrast", "0.1"),
                                         ("brightness", float("nan"))])
def test_intensity_jitter_bad_arguments_name_the_argument(name, value):
    with pytest.raises(DataError, match=f"IntensityJitter: {name} must be"):
        IntensityJitter(**{name: value})


def test_loader_jitter_is_the_documented_draw_of_each_position(phantom):
    indices = np.arange(len(phantom))
    jitter = IntensityJitter(0.3, 0.2, 0.1)
    loader = BatchLoader(phantom, indices, 4, seed=9, normalization=VOLUME,
                         intensity_jitter=jitter, prefetch=0)
    levels = {p: volume_levels(phantom.subset([p]).arrays()[0]) for p in phantom.patients}
    for _ in range(2):                       # epochs 0 and 1
        epoch = loader.epoch
        for k, batch in enumerate(loader):
            for j, index in enumerate(batch.indices):
                draw = jitter.draw(np.random.default_rng([9, epoch, 4 * k + j, 1]))
                tables = volume_tables(levels[phantom.patient_of[index]], draw)
                np.testing.assert_array_equal(
                    batch.images[j], normalize(phantom[int(index)][0], VOLUME, tables))


def collect(loader, epochs=1):
    return [batch for _ in range(epochs) for batch in loader]


def assert_same_batches(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_loader_jitter_is_reproducible_and_resumable(phantom):
    def loader(**kwargs):
        return BatchLoader(phantom, np.arange(len(phantom)), 4, seed=2, normalization=VOLUME,
                           augment=Augment(intensity=0.0), intensity_jitter=IntensityJitter(),
                           **kwargs)
    uninterrupted = collect(loader(), epochs=2)
    assert_same_batches(collect(loader(prefetch=0), epochs=2), uninterrupted)
    stopped = loader()
    collect(stopped)
    for n, _ in enumerate(stopped):             # leave epoch 1 after two batches
        if n == 1:
            break
    resumed = loader()
    resumed.load_state_dict(json.loads(json.dumps(stopped.state_dict())))
    assert_same_batches(collect(resumed), uninterrupted[len(stopped) + 2:])


def test_jitter_draws_apart_from_the_geometric_augmentation(phantom):
    """The jitter has its own generator: the flips and rotations (hence the masks) are the
    same with and without it; only the intensities change.  Zero jitter is no jitter."""
    def batches(jitter):
        return collect(BatchLoader(phantom, np.arange(len(phantom)), 5, seed=1,
                                   normalization=VOLUME, augment=Augment(intensity=0.0),
                                   intensity_jitter=jitter, prefetch=0))
    plain, jittered = batches(None), batches(IntensityJitter())
    assert_same_batches(batches(IntensityJitter(0, 0, 0)), plain)
    for a, b in zip(plain, jittered):
        np.testing.assert_array_equal(a.masks, b.masks)
        np.testing.assert_array_equal(a.indices, b.indices)
        assert not np.allclose(a.images, b.images, atol=1e-3)


@pytest.mark.parametrize("normalization", [None, STATS, with_percentile(STATS)])
def test_jitter_without_volume_normalization_is_refused(phantom, normalization):
    with pytest.raises(DataError, match="intensity_jitter.*volume_percentiles"):
        BatchLoader(phantom, [0, 1], 2, normalization=normalization,
                    intensity_jitter=IntensityJitter())


# ---------------------------------------------------------------------------
# The checkpoint spec
# ---------------------------------------------------------------------------

def test_the_spec_keeps_volume_percentiles_through_a_checkpoint(tmp_path, rng):
    arch_args = {"base": 4, "depth": 2}
    spec = model_spec("resunet", arch_args, 32, {**VOLUME, "volume_percentiles": (10, 99)})
    assert spec["normalization"]["volume_percentiles"] == [10.0, 99.0]
    model = build_model("resunet", arch_args)
    path = tmp_path / "segmenter.npz"
    save_checkpoint(path, model=model, metadata={"model": spec})
    assert read_spec(path) == spec
    loaded, loaded_spec = load_model(path, task="segmentation")
    assert loaded_spec == spec
    volume = mri_like(rng, n=3, size=32)
    np.testing.assert_array_equal(segment(loaded, loaded_spec, volume),
                                  segment(model, spec, volume))
    assert "volume_percentiles" not in model_spec("resunet", arch_args, 32, STATS)["normalization"]


BAD_VOLUME_PERCENTILES = [[99, 10], [10, 10], [5], [10, 101], [-1, 99], [10, float("nan")], "10,99",
                          [10, 99, 100]]


@pytest.mark.parametrize("percentiles", BAD_VOLUME_PERCENTILES)
def test_model_spec_refuses_bad_volume_percentiles(percentiles):
    with pytest.raises(CheckpointError, match="volume_percentiles"):
        model_spec("resunet", {}, 32, {**VOLUME, "volume_percentiles": percentiles})


def test_model_spec_refuses_both_slice_and_volume_scaling():
    with pytest.raises(CheckpointError, match="both slice_percentile and volume_percentiles"):
        model_spec("resunet", {}, 32, {**VOLUME, "slice_percentile": 99.0})


@pytest.mark.parametrize("percentiles", [[99.0, 10.0], [5.0]])
def test_read_spec_refuses_stored_bad_volume_percentiles(tmp_path, percentiles):
    spec = model_spec("resunet", {"base": 4, "depth": 2}, 32, VOLUME)
    spec["normalization"]["volume_percentiles"] = percentiles     # as a hand-edited file would
    path = tmp_path / "bad.npz"
    save_checkpoint(path, model=tn.models.ResUNet(base=4, depth=2), metadata={"model": spec})
    with pytest.raises(CheckpointError, match="volume_percentiles"):
        read_spec(path)
    with pytest.raises(CheckpointError, match="volume_percentiles"):
        load_model(path)


# ---------------------------------------------------------------------------
# End to end: train_resunet.py --intensity volume, then predict
# ---------------------------------------------------------------------------

def test_make_augment_leaves_the_intensity_to_the_volume_normalization():
    config = {"augment": True, "elastic": 0.02}
    for intensity, expected in (("volume", 0.0), ("slice", 0.1), ("dataset", 0.1), (None, 0.1)):
        augment = experiment.make_augment({**config, "intensity": intensity})
        assert isinstance(augment, Augment)
        assert augment.intensity == expected and augment.elastic == 0.02
    assert experiment.make_augment({**config, "augment": False, "intensity": "volume"}) is None


@pytest.fixture(scope="module")
def volume_run(tmp_path_factory):
    """One epoch of train_resunet.py --intensity volume on 3 patients x 4 slices at 32 px:
    (data folder, run folder, the TrainingData it built)."""
    root = tmp_path_factory.mktemp("volume_run")
    data = root / "kaggle_3m"
    write_kaggle3m(data)
    seen = {}
    real_prepare_data = experiment.prepare_data

    def prepare_data(config, *, augment, multiple=1):
        seen["augment"] = augment
        seen["data"] = real_prepare_data(config, augment=augment, multiple=multiple)
        return seen["data"]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(experiment, "prepare_data", prepare_data)
        code = cli.run_main(load_script("train_resunet").main,
                            ["--data", str(data), "--out", str(root / "run"), "--size", "32",
                             "--batch-size", "4", "--base", "4", "--epochs", "1",
                             "--prefetch", "0", "--intensity", "volume"])
    assert code == 0
    return data, root / "run", seen


def test_training_with_volume_intensity_stores_and_jitters_it(volume_run):
    _, run, seen = volume_run
    _, spec = load_model(run / "best.npz", task="segmentation")
    assert spec["normalization"] == VOLUME
    assert seen["augment"].intensity == 0.0
    data = seen["data"]
    assert isinstance(data.train_loader.intensity_jitter, IntensityJitter)
    assert data.val_loader.intensity_jitter is None
    assert set(data.train_loader.volume_levels) == set(data.split["train"])
    assert set(data.val_loader.volume_levels) == set(data.split["val"])


def test_predict_groups_the_slices_of_a_folder_into_one_volume(volume_run, tmp_path,
                                                                 monkeypatch):
    """`tinynet predict` on a folder of two patient folders, 2 slices a chunk, gives the masks
    of predicting each patient's folder alone; one volume of both would not."""
    data, run, _ = volume_run
    best = str(run / "best.npz")
    model, spec = load_model(best, task="segmentation")
    dataset = read_kaggle3m(data)
    patients = dataset.patients[:2]
    volumes = {p: dataset.subset([p]).arrays()[0] for p in patients}
    maps = {p: segment(model, spec, v, batch_size=2) for p, v in volumes.items()}
    threshold = float(np.median(np.concatenate([m.ravel() for m in maps.values()])))
    both = np.concatenate(list(volumes.values()))
    assert not np.allclose(segment(model, spec, both)[:len(volumes[patients[0]])],
                           maps[patients[0]], atol=1e-4)

    two = tmp_path / "two"
    for p in patients:
        shutil.copytree(data / p, two / p)
    monkeypatch.setattr(predict, "CHUNK", 2)
    args = ["--segmenter", best, "--seg-threshold", str(threshold), "--batch-size", "2"]
    assert predict.main([str(two), "--out", str(tmp_path / "all"), *args]) == 0
    for p in patients:
        assert predict.main([str(data / p), "--out", str(tmp_path / p), *args]) == 0
    summary = json.loads((tmp_path / "all" / "summary.json").read_text())
    assert [r["patient"] for r in summary["patients"]] == list(patients)
    for p in patients:
        alone = json.loads((tmp_path / p / "summary.json").read_text())
        for n in range(1, len(volumes[p]) + 1):
            together = read_png(tmp_path / "all" / p / f"{p}_{n}_pred_mask.png")
            np.testing.assert_array_equal(
                together, read_png(tmp_path / p / f"{p}_{n}_pred_mask.png"))
            np.testing.assert_array_equal(together // 255, maps[p][n - 1] >= threshold)
        assert [r["tumour_probability"] for r in summary["slices"] if r["name"].startswith(p)] \
            == [r["tumour_probability"] for r in alone["slices"]]
    masks = np.stack([read_png(f) for f in sorted((tmp_path / "all").rglob("*_pred_mask.png"))])
    assert 0 < masks.mean() < 255                     # the threshold splits the pixels


def test_every_slice_of_a_folder_is_in_its_volume(tmp_path):
    """The loose slices of the input folder (a.png, z.png) are one volume, as are p/1.png and
    p/2.png, even where another folder's files sort between them."""
    scans = tmp_path / "scans"
    for name in ["a.png", "m/1.png", "m/2.png", "z.png", "p/1.png", "p/1/x.png", "p/2.png"]:
        write_png(scans / name, shape=(8, 8, 3))
    files = find_slice_files(scans)
    volumes = {}
    for chunk, images, volume, positions in predict._slice_chunks(files, scans, 32, True):
        for (_, name), image, position in zip(chunk, images, positions):
            volumes[name] = len(volume)
            assert image is volume[position]        # positions say where each image lies
    assert volumes == {"a": 2, "z": 2, "m/1": 2, "m/2": 2, "p/1": 2, "p/2": 2, "p/1/x": 1}
