"""``--context K``: 2.5-D input, each slice with its K neighbours on each side of its volume
stacked as 3 (2K + 1) channels (channels [3 m, 3 m + 3) = slice j - K + m, the end slices
repeated at the volume's edges), from the data to the training scripts and prediction.

What is checked:

* ``context.py``: ``neighbour_positions`` clamps at both ends (volumes of 1, 2 and many slices,
  K = 0, 1, 3) and refuses positions outside the volume; ``neighbour_table`` keeps the
  neighbours within the patient, in dataset order, when the patients' slices alternate;
  ``stack_context`` is a plain concatenation of the neighbour slices (K = 0: the slice);
* the key property: what the BatchLoader feeds the network for a patient's slices equals
  ``inference.network_inputs`` at prediction time (dataset, slice and volume
  normalization), for the whole volume and for a chunk in its middle given ``volume=`` and
  ``positions=``; the centre group is the 2-D input, the mask the centre slice's, and
  augmentation acts on the slice as it does without context;
* ``Augment`` on (H, W, 3 m) images: one geometry for all channels and the same
  per-sequence jitter for each group, i.e. group m is the 3-channel result of slice m;
* ``normalize`` / ``slice_scales`` on 3 m channels are those of each group alone;
* the checkpoint spec: ``context`` stored only for K > 0, kept through save/load, and
  checked against ``arch_args["in_channels"]``; ``experiment.input_arguments``;
* ``inflate_stem``: the inflated ResNet-18 computes exactly the 2-D network's logits on the
  middle group whatever the neighbours; ``train_classifier.py --context 1 --weights`` uses it;
* prediction: a chunk given ``volume=`` and ``positions=`` gives the rows of the whole
  volume (two-stage predictor with the gated segmenter, grad_cam, ``report.evaluate`` on
  interleaved patients, ``predict_scan``); ``volume=`` without ``positions=`` is refused;
* end to end: ``train_resunet.py`` and ``train_classifier.py --context 1`` on a tiny phantom
  folder, then ``tinynet evaluate`` and ``predict`` give the same results with a small CHUNK
  as with a large one (and as the predictor on each whole volume); Ctrl-C and ``--resume``
  of a context run gives the weights of the uninterrupted run.
"""
import json
import shutil
import signal

import numpy as np
import pytest
from PIL import Image

import tinynet as tn
from commandhelpers import load_script, read_png
from mrihelpers import IDENTITY, STATS, mri_like, with_percentile
from tinynet.io import CheckpointError, load_checkpoint, save_checkpoint
from tinynet.mri import cli, experiment, report
from tinynet.mri.architectures import inflate_stem
from tinynet.mri.checkpoint import build_model, load_model, model_spec, read_spec
from tinynet.mri.commands import predict
from tinynet.mri.data import (Augment, BatchLoader, DataError, IntensityJitter, SliceDataset,
                             context_channels, find_slice_files, make_phantom,
                             neighbour_positions, neighbour_table, normalize, read_kaggle3m,
                             read_slice, slice_scales, stack_context, volume_levels,
                             volume_tables)
from tinynet.mri.data.context import check_context
from tinynet.mri.gradcam import grad_cam
from tinynet.mri.inference import TwoStagePredictor, classify, network_inputs, segment
from tinynet.mri.scan_prediction import predict_scan

#: The normalization ``--intensity volume`` stores (as in test_volume_intensity.py).
VOLUME = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "volume_percentiles": [10.0, 99.0]}

#: (id, normalization): dataset statistics, per-slice scaling, per-volume normalization.
NORMALIZATIONS = [("dataset", STATS), ("slice", with_percentile(STATS)), ("volume", VOLUME)]


def clamped(n, j, context):
    """The neighbour positions of slice j, written out: max(0, min(n - 1, j + o))."""
    return [max(0, min(n - 1, j + offset)) for offset in range(-context, context + 1)]


def direct_stack(volume, j, context):
    """The 2.5-D input of slice j straight from the definition: the neighbour slices
    j - K .. j + K (clamped) concatenated along the channel axis."""
    return np.concatenate([volume[p] for p in clamped(len(volume), j, context)], axis=-1)


def direct_stack_of(dataset, index, context):
    """``direct_stack`` of slice ``index`` of ``dataset`` within its patient's volume (the
    patient's slices in dataset order)."""
    indices = dataset.indices_of([dataset.patient_of[index]])
    volume = [dataset[int(i)][0] for i in indices]
    return direct_stack(volume, int(np.flatnonzero(indices == index)[0]), context)


def context_spec(task, context, normalization=IDENTITY, size=16, threshold=0.5, **arch_args):
    arch = "resunet" if task == "segmentation" else "resnet18"
    return model_spec(arch, {**arch_args, "in_channels": context_channels(context)}, size,
                      normalization, threshold, context=context)


# ---------------------------------------------------------------------------
# context.py
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 7])
@pytest.mark.parametrize("context", [0, 1, 3])
def test_neighbour_positions_clamp_at_both_ends(n, context):
    table = neighbour_positions(n, np.arange(n), context)
    assert table.dtype == np.int64 and table.shape == (n, 2 * context + 1)
    assert table.tolist() == [clamped(n, j, context) for j in range(n)]
    # the slice itself is in the middle, and any order or repetition of positions works
    np.testing.assert_array_equal(table[:, context], np.arange(n))
    some = [n - 1, 0, n - 1]
    assert neighbour_positions(n, some, context).tolist() == [clamped(n, j, context)
                                                               for j in some]


def test_neighbour_positions_written_out():
    assert neighbour_positions(1, [0], 3).tolist() == [[0] * 7]
    assert neighbour_positions(2, [0, 1], 1).tolist() == [[0, 0, 1], [0, 1, 1]]
    assert neighbour_positions(7, [0, 3, 6], 3).tolist() == [
        [0, 0, 0, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 6], [3, 4, 5, 6, 6, 6, 6]]
    assert neighbour_positions(5, [2], 0).tolist() == [[2]]
    assert neighbour_positions(5, [], 2).shape == (0, 5)


@pytest.mark.parametrize("positions", [[-1], [0, 5], [7], [2, -3, 1]])
def test_neighbour_positions_outside_the_volume_are_refused(positions):
    with pytest.raises(DataError, match=r"neighbour_positions: positions must be in 0 \.\. 4 "
                                        r"for a volume of 5 slices"):
        neighbour_positions(5, positions, 1)


def test_check_context_and_channels():
    assert check_context(0, "here") == 0 and check_context(np.int64(2), "here") == 2
    for bad in (-1, True, 1.5, "1", None):
        with pytest.raises(DataError, match="here: context must be a whole number >= 0"):
            check_context(bad, "here")
    assert [context_channels(k) for k in (0, 1, 2, 3)] == [3, 9, 15, 21]


def test_neighbour_table_keeps_neighbours_within_the_patient_in_dataset_order():
    """Slices of patients a and b alternate in the dataset (c has one slice)."""
    patient_of = ["a", "b", "a", "b", "a", "c", "b", "a"]
    table = neighbour_table(patient_of, 1)
    assert table.dtype == np.int64
    assert table.tolist() == [[0, 0, 2],      # a: slices 0, 2, 4, 7 of the dataset
                              [1, 1, 3],      # b: 1, 3, 6
                              [0, 2, 4],
                              [1, 3, 6],
                              [2, 4, 7],
                              [5, 5, 5],      # c: alone
                              [3, 6, 6],
                              [4, 7, 7]]
    wide = neighbour_table(patient_of, 3)
    for i, row in enumerate(wide):
        assert {patient_of[j] for j in row} == {patient_of[i]}
        assert row[3] == i and list(row) == sorted(row)
    assert wide[0].tolist() == [0, 0, 0, 0, 2, 4, 7]
    np.testing.assert_array_equal(neighbour_table(patient_of, 0), np.arange(8)[:, None])


@pytest.mark.parametrize("context", [0, 1, 2])
def test_stack_context_is_the_concatenation_of_the_neighbour_slices(context, rng):
    volume = rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)
    positions = [0, 2, 4, 1]
    stacked = stack_context(volume, positions, context)
    assert stacked.dtype == np.uint8 and stacked.shape == (4, 6, 7, 3 * (2 * context + 1))
    assert stacked.flags.c_contiguous
    for row, j in zip(stacked, positions):
        np.testing.assert_array_equal(row, direct_stack(volume, j, context))
        for m, p in enumerate(clamped(5, j, context)):       # channels [3m, 3m+3): slice j-K+m
            np.testing.assert_array_equal(row[..., 3 * m:3 * m + 3], volume[p])
    if context == 0:
        np.testing.assert_array_equal(stacked, volume[positions])


def test_stack_context_refuses_what_is_not_one_volume():
    for bad in (np.zeros((4, 4, 3), np.uint8), np.zeros((2, 4, 4, 9), np.uint8)):
        with pytest.raises(DataError, match=r"stack_context: expected the slices \(N, H, W, 3\)"):
            stack_context(bad, [0], 1)


# ---------------------------------------------------------------------------
# Training input == prediction input
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def phantom():
    """3 phantom patients x 5 slices at 32 px, their slices interleaved in the dataset
    (patient order a b c a b c ...), so that dataset neighbours are never volume neighbours."""
    plain = make_phantom(n_patients=3, slices_per_patient=5, size=32, seed=4)
    order = np.arange(15).reshape(3, 5).T.ravel()          # 0 5 10 1 6 11 ...
    images, masks = plain.arrays()
    return SliceDataset.from_arrays(images[order], masks[order],
                                    [plain.patient_of[i] for i in order],
                                    [plain.names[i] for i in order], image_size=32)


def loader_inputs(dataset, normalization, context, **kwargs):
    loader = BatchLoader(dataset, np.arange(len(dataset)), 4, shuffle=False, prefetch=0,
                         normalization=normalization, context=context, **kwargs)
    batches = list(loader)
    return (np.concatenate([b.images for b in batches]), np.concatenate([b.masks for b in batches]),
            np.concatenate([b.labels for b in batches]))


@pytest.mark.parametrize("context", [1, 2])
@pytest.mark.parametrize("name, normalization", NORMALIZATIONS,
                         ids=[name for name, _ in NORMALIZATIONS])
def test_the_loader_gives_a_patient_exactly_what_prediction_gives(phantom, name, normalization,
                                                                  context):
    spec = context_spec("segmentation", context, normalization, size=32, base=4, depth=2)
    inputs, masks, labels = loader_inputs(phantom, normalization, context)
    assert inputs.shape == (15, context_channels(context), 32, 32)
    plain, plain_masks, _ = loader_inputs(phantom, normalization, 0)
    # the slice itself is the middle group, normalized as without context; the mask is its own
    np.testing.assert_array_equal(inputs[:, 3 * context:3 * context + 3], plain)
    np.testing.assert_array_equal(masks, plain_masks)
    np.testing.assert_array_equal(labels, [phantom[i][1].any() for i in range(15)])
    for patient in phantom.patients:
        indices = phantom.indices_of([patient])
        slices = [phantom[int(i)][0] for i in indices]
        np.testing.assert_array_equal(network_inputs(spec, slices)(0, 5), inputs[indices])
        # a chunk in the middle of the volume, with the volume and its positions
        chunk = network_inputs(spec, slices[1:4], volume=slices, positions=[1, 2, 3])
        np.testing.assert_array_equal(chunk(0, 3), inputs[indices[1:4]])
        np.testing.assert_array_equal(chunk(1, 2), inputs[indices[2:3]])
        # the chunk taken as a volume of its own would not do (other neighbours at its ends)
        assert not np.array_equal(network_inputs(spec, slices[1:4])(0, 3), inputs[indices[1:4]])
        # the 2.5-D input of slice j is the normalization of the neighbours' concatenation
        for j in (0, 4):
            tables = volume_tables(volume_levels(np.stack(slices), [10.0, 99.0])) \
                if name == "volume" else None
            np.testing.assert_array_equal(
                inputs[indices[j]], normalize(direct_stack(slices, j, context), normalization,
                                              tables))


def test_augmentation_acts_on_the_slice_as_without_context(phantom):
    """Same seed: the augmented centre group and mask are those of the 2-D loader."""
    augment = Augment(elastic=0.05, intensity=0.2)
    kwargs = dict(normalization=with_percentile(STATS), augment=augment, seed=3)
    inputs, masks, labels = loader_inputs(phantom, context=1, **kwargs)
    plain, plain_masks, plain_labels = loader_inputs(phantom, context=0, **kwargs)
    np.testing.assert_array_equal(inputs[:, 3:6], plain)
    np.testing.assert_array_equal(masks, plain_masks)
    np.testing.assert_array_equal(labels, plain_labels)
    unaugmented, _, _ = loader_inputs(phantom, with_percentile(STATS), 1)
    assert not np.allclose(inputs, unaugmented, atol=1e-3)
    # the neighbours too: each input is the documented draw (seed, epoch, position) of
    # Augment on the whole stack, so a slice repeated at the volume's edge stays identical
    for i in range(len(phantom)):
        image, mask = augment(direct_stack_of(phantom, i, 1), phantom[i][1],
                              np.random.default_rng([3, 0, i]))
        np.testing.assert_array_equal(inputs[i], normalize(image, with_percentile(STATS)))
        np.testing.assert_array_equal(masks[i, 0], mask)
    first = phantom.indices_of([phantom.patients[0]])[0]
    np.testing.assert_array_equal(inputs[first, 0:3], inputs[first, 3:6])
    assert not np.array_equal(inputs[first, 6:9], inputs[first, 3:6])


def test_volume_jitter_is_the_same_for_every_group(phantom):
    """IntensityJitter (per-volume normalization) tables repeat for the neighbours."""
    kwargs = dict(normalization=VOLUME, intensity_jitter=IntensityJitter(0.3, 0.2, 0.1), seed=5)
    inputs, _, _ = loader_inputs(phantom, context=1, **kwargs)
    plain, _, _ = loader_inputs(phantom, context=0, **kwargs)
    np.testing.assert_array_equal(inputs[:, 3:6], plain)
    # a slice repeated at the volume's edge gets the very same numbers as the slice itself
    first = phantom.indices_of([phantom.patients[0]])[0]
    np.testing.assert_array_equal(inputs[first, 0:3], inputs[first, 3:6])


def test_loader_refuses_a_bad_context(phantom):
    for bad in (-1, 1.5, True):
        with pytest.raises(DataError, match="BatchLoader: context must be"):
            BatchLoader(phantom, [0, 1], 2, context=bad)


# ---------------------------------------------------------------------------
# Augment on (H, W, 3 m) images
# ---------------------------------------------------------------------------

AUGMENTS = {"default": Augment(), "elastic": Augment(elastic=0.05, intensity=0.3),
            "flip_only": Augment(rotate=0.0, scale=0.0, intensity=0.0),
            "intensity_only": Augment(flip=False, rotate=0.0, scale=0.0, intensity=0.3)}


@pytest.mark.parametrize("name", list(AUGMENTS))
def test_augment_transforms_each_group_as_the_slice_alone(name, rng):
    augment = AUGMENTS[name]
    slices = mri_like(rng, n=3, size=24, top=250)
    mask = np.zeros((24, 24), np.uint8)
    mask[6:12, 8:15] = 1
    stacked = np.concatenate(list(slices), axis=-1)           # (24, 24, 9)
    changed = False
    for seed in range(4):
        image, out_mask = augment(stacked, mask, np.random.default_rng(seed))
        assert image.shape == (24, 24, 9) and image.dtype == np.uint8
        for m in range(3):
            alone, alone_mask = augment(slices[m], mask, np.random.default_rng(seed))
            np.testing.assert_array_equal(image[..., 3 * m:3 * m + 3], alone)
            np.testing.assert_array_equal(out_mask, alone_mask)
        # three copies of one slice stay three identical groups
        same, _ = augment(np.concatenate([slices[1]] * 3, axis=-1), mask,
                          np.random.default_rng(seed))
        np.testing.assert_array_equal(same[..., 0:3], same[..., 3:6])
        np.testing.assert_array_equal(same[..., 6:9], same[..., 3:6])
        changed |= not np.array_equal(image, stacked)
    assert changed


def test_augment_still_refuses_images_that_are_not_groups_of_three():
    mask = np.zeros((8, 8), np.uint8)
    for channels in (0, 2, 4, 8):
        with pytest.raises(DataError, match="Augment: image must be uint8"):
            Augment()(np.zeros((8, 8, channels), np.uint8), mask, np.random.default_rng(0))
    image, _ = Augment()(np.zeros((8, 8, 6), np.uint8), mask, np.random.default_rng(0))
    assert image.shape == (8, 8, 6)


# ---------------------------------------------------------------------------
# normalize on 3 m channels
# ---------------------------------------------------------------------------

def groups_of(images):
    return [images[..., c:c + 3] for c in range(0, images.shape[-1], 3)]


@pytest.mark.parametrize("name, stats", NORMALIZATIONS[:2], ids=["dataset", "slice"])
def test_normalize_on_3m_channels_is_normalize_of_each_group(name, stats, rng):
    images = np.concatenate([mri_like(rng, n=4, size=12, top=top) for top in (90, 200, 140)],
                            axis=-1)                                  # (4, 12, 12, 9)
    z = normalize(images, stats)
    assert z.shape == (4, 9, 12, 12) and z.dtype == np.float32
    np.testing.assert_array_equal(z, np.concatenate([normalize(g, stats)
                                                     for g in groups_of(images)], axis=1))
    np.testing.assert_array_equal(normalize(images[2], stats), z[2])
    np.testing.assert_array_equal(
        slice_scales(images, 99.0), np.concatenate([slice_scales(g, 99.0)
                                                    for g in groups_of(images)], axis=1))
    # the groups differ in brightness: each neighbour's channels get their own scales
    scales = slice_scales(images, 99.0)
    assert not np.allclose(scales[:, 0:3], scales[:, 3:6])
    assert not np.allclose(scales[:, 3:6], scales[:, 6:9])


def test_normalize_per_volume_on_3m_channels(rng):
    volume = mri_like(rng, n=5, size=12, top=220)
    images = stack_context(volume, np.arange(5), 1)                   # (5, 12, 12, 9)
    shared = volume_tables(volume_levels(volume))
    z = normalize(images, VOLUME, shared)
    np.testing.assert_array_equal(z, np.concatenate([normalize(g, VOLUME, shared)
                                                     for g in groups_of(images)], axis=1))
    levels = volume_levels(volume)
    jitter = IntensityJitter(0.3, 0.2, 0.1)
    per_slice = np.stack([volume_tables(levels, jitter.draw(np.random.default_rng(n)))
                          for n in range(5)])
    z = normalize(images, VOLUME, per_slice)
    np.testing.assert_array_equal(z, np.concatenate([normalize(g, VOLUME, per_slice)
                                                     for g in groups_of(images)], axis=1))
    with pytest.raises(DataError, match="normalize: tables must be"):
        normalize(images, VOLUME, np.zeros((9, 256), np.float32))


@pytest.mark.parametrize("shape", [(2, 4, 4, 4), (2, 4, 4, 0), (4, 4, 8)])
def test_normalize_refuses_channels_that_are_not_groups_of_three(shape):
    with pytest.raises(DataError, match="normalize: expected uint8 images"):
        normalize(np.zeros(shape, np.uint8), STATS)


# ---------------------------------------------------------------------------
# The checkpoint spec
# ---------------------------------------------------------------------------

def test_the_spec_keeps_context_through_a_checkpoint(tmp_path, rng):
    arch_args = {"base": 4, "depth": 2, "in_channels": 9}
    spec = model_spec("resunet", arch_args, 16, STATS, context=1)
    assert spec["context"] == 1 and spec["arch_args"]["in_channels"] == 9
    model = build_model("resunet", arch_args)
    path = tmp_path / "segmenter.npz"
    save_checkpoint(path, model=model, metadata={"model": spec})
    assert read_spec(path) == spec
    loaded, loaded_spec = load_model(path, task="segmentation")
    assert loaded_spec == spec
    volume = mri_like(rng, n=4, size=16)
    maps = segment(loaded, loaded_spec, volume)
    np.testing.assert_array_equal(maps, segment(model, spec, volume))
    # the loaded network does look at the neighbours
    assert not np.allclose(segment(loaded, loaded_spec, volume[1:3]), maps[1:3], atol=1e-6)


def test_context_zero_leaves_no_key():
    assert "context" not in model_spec("resunet", {"base": 4}, 16, STATS)
    assert "context" not in model_spec("resunet", {"base": 4}, 16, STATS, context=0)
    assert "context" not in model_spec("resunet", {"base": 4, "in_channels": 3}, 16, STATS,
                                       context=0)


@pytest.mark.parametrize("context, arch_args", [
    (1, {"base": 4}), (1, {"in_channels": 3}), (1, {"in_channels": 15}),
    (0, {"in_channels": 9}), (2, {"in_channels": 9})])
def test_model_spec_refuses_in_channels_that_do_not_fit_context(context, arch_args):
    with pytest.raises(CheckpointError, match=r"model_spec: bad model spec: arch_args "
                                              r"in_channels \d+ does not fit context"):
        model_spec("resunet", arch_args, 16, STATS, context=context)


@pytest.mark.parametrize("context", [-1, True, False, 1.0, 0.0, "1", [1]])
def test_model_spec_refuses_a_context_that_is_not_a_whole_number(context):
    with pytest.raises(CheckpointError, match=r"context .* is not an int >= 0"):
        model_spec("resunet", {"in_channels": 9}, 16, STATS, context=context)


def test_read_spec_refuses_a_stored_context_that_does_not_fit(tmp_path):
    spec = model_spec("resunet", {"base": 4, "depth": 2, "in_channels": 9}, 16, STATS,
                      context=1)
    spec["context"] = 2                                    # as a hand-edited file would
    path = tmp_path / "bad.npz"
    save_checkpoint(path, model=build_model("resunet", spec["arch_args"]),
                    metadata={"model": spec})
    for read in (read_spec, load_model):
        with pytest.raises(CheckpointError, match="in_channels 9 does not fit context 2"):
            read(path)


def test_input_arguments():
    assert experiment.input_arguments({}) == {}
    assert experiment.input_arguments({"context": 0}) == {}
    assert experiment.input_arguments({"context": 1}) == {"in_channels": 9}
    assert experiment.input_arguments({"context": 3}) == {"in_channels": 21}


@pytest.mark.parametrize("script", ["train_resunet", "train_classifier"])
def test_the_scripts_parse_context(script, tmp_path, capsys):
    module = load_script(script)
    parser = module.build_parser()
    assert parser.parse_args([]).context == 0
    assert parser.parse_args(["--context", "2"]).context == 2
    with pytest.raises(SystemExit) as exit_info:
        cli.run_main(module.main, ["--context", "-1", "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    assert "--context" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# inflate_stem
# ---------------------------------------------------------------------------

def numpy_state(model):
    return {k: np.array(v) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("context", [1, 2])
def test_inflated_resnet_computes_the_2d_logits_of_the_middle_group(context, rng):
    tn.manual_seed(3)
    small = tn.models.resnet18(num_classes=2, width=8)
    state = numpy_state(small)
    channels = context_channels(context)
    inflated = inflate_stem(state, channels)
    kernel = inflated["conv1.weight"]
    assert kernel.shape == (8, channels, 7, 7) and kernel.dtype == state["conv1.weight"].dtype
    middle = 3 * context
    np.testing.assert_array_equal(kernel[:, middle:middle + 3], state["conv1.weight"])
    assert not kernel[:, :middle].any() and not kernel[:, middle + 3:].any()
    assert state["conv1.weight"].shape == (8, 3, 7, 7)               # the input is not changed
    assert all(inflated[k] is state[k] for k in state if k != "conv1.weight")
    wide = tn.models.resnet18(num_classes=2, width=8, in_channels=channels, weights=inflated)
    small.eval()
    wide.eval()
    x = rng.standard_normal((3, 3, 32, 32)).astype(np.float32)
    with tn.no_grad():
        expected = small(tn.tensor(x)).data
        for _ in range(2):                                  # any neighbour content
            stacked = rng.standard_normal((3, channels, 32, 32)).astype(np.float32) * 5
            stacked[:, middle:middle + 3] = x
            # the zero kernels add exact zeros; only the BLAS's order of summation over
            # 7 x 7 x 3 (2K + 1) terms may round differently (bit-exact for K = 1 here)
            np.testing.assert_allclose(wide(tn.tensor(stacked)).data, expected, rtol=1e-5,
                                       atol=1e-6)
        # the middle group is the one that counts
        shifted = np.concatenate([x] * (2 * context + 1), axis=1)
        shifted[:, middle:middle + 3] = 0
        assert not np.allclose(wide(tn.tensor(shifted)).data, expected)


def test_inflate_stem_refuses_bad_shapes():
    weight = np.zeros((8, 3, 7, 7), np.float32)
    for state, channels in (({"conv1.weight": weight}, 10),
                            ({"conv1.weight": weight}, 4),
                            ({"conv1.weight": np.zeros((8, 4, 7, 7), np.float32)}, 9),
                            ({"conv1.weight": np.zeros((8, 3), np.float32)}, 9)):
        with pytest.raises(ValueError, match="inflate_stem: conv1.weight must be"):
            inflate_stem(state, channels)
    # another key, and 3 channels (nothing to inflate) is the kernel itself
    out = inflate_stem({"stem.weight": weight + 1}, 3, key="stem.weight")
    np.testing.assert_array_equal(out["stem.weight"], weight + 1)


# ---------------------------------------------------------------------------
# Prediction: a chunk of a volume, with volume= and positions=
# ---------------------------------------------------------------------------

class GroupClassifier(tn.nn.Module):
    """logits (0, 40 (sum_m w_m mean(group m) / sum w - 0.5)), w_m = m + 1: every neighbour
    counts, each with its own weight."""

    def forward(self, x):
        groups = x.data.reshape(x.shape[0], -1, 3, *x.shape[2:]).mean(axis=(2, 3, 4))
        w = np.arange(1, groups.shape[1] + 1)
        l1 = 40.0 * ((groups * w).sum(axis=1) / w.sum() - 0.5)
        return tn.tensor(np.stack([np.zeros_like(l1), l1], axis=1))


class NeighbourSegmenter(tn.nn.Module):
    """logit = 8 (red of the slice + (red of the slice before - red of the one after) / 2) - 4
    per pixel, for context 1; keeps the number of slices of every batch it saw."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.shape[0])
        x = x.data
        return tn.tensor(8.0 * (x[:, 3:4] + 0.5 * (x[:, 0:1] - x[:, 6:7])) - 4.0)


def stub_models(normalization=IDENTITY):
    return ((GroupClassifier(), context_spec("classification", 1, normalization)),
            (NeighbourSegmenter(), context_spec("segmentation", 1, normalization)))


def stub_volume(rng, n=7, size=16):
    """n slices of different brightness (so the classifier's probabilities spread)."""
    scale = np.linspace(0.35, 1.0, n)[rng.permutation(n)]
    return (rng.integers(0, 256, (n, size, size, 3)) * scale[:, None, None, None]
            ).astype(np.uint8)


def assert_same_rows(part, whole, rows):
    for name in ("probability", "positive", "masks", "area", "classifier_probability",
                 "pixel_probabilities"):
        a, b = getattr(part, name), getattr(whole, name)
        if b is None:
            assert a is None, name
        else:
            np.testing.assert_array_equal(a, np.asarray(b)[rows], err_msg=name)


@pytest.mark.parametrize("rule", ["classifier", "both", "either"])
@pytest.mark.parametrize("name, normalization", [("identity", IDENTITY), ("volume", VOLUME)])
def test_a_chunk_predicts_as_in_the_whole_volume(rule, name, normalization, rng):
    volume = stub_volume(rng)
    classifier, segmenter = stub_models(normalization)
    probability = classify(*classifier, volume)
    threshold = float(np.median(probability))
    predictor = TwoStagePredictor(classifier, segmenter, cls_threshold=threshold,
                                  seg_threshold=0.5, rule=rule, seg_batch_size=2)
    assert predictor.needs_volume
    whole = predictor(volume)
    np.testing.assert_array_equal(whole.classifier_probability, probability)
    segmenter[0].seen.clear()
    parts = [(0, 3), (3, 5), (5, 7)]
    for first, stop in parts:
        rows = np.arange(first, stop)
        assert_same_rows(predictor(volume[first:stop], volume=volume, positions=rows), whole,
                         rows)
    seen = sum(segmenter[0].seen)
    if rule == "either":
        assert seen == 7
    else:                       # the gated segmenter saw only the positives, as in `whole`
        assert seen == int((probability >= threshold).sum()) and 0 < seen < 7
    # positions in any order, and a list of slices
    rows = np.array([5, 1, 3])
    assert_same_rows(predictor(list(volume[rows]), volume=volume, positions=rows), whole, rows)
    # the chunk as a volume of its own sees other neighbours at its ends
    alone = predictor(volume[2:5])
    assert not np.allclose(alone.classifier_probability, whole.classifier_probability[2:5])
    assert 0 < whole.masks.sum() < whole.masks.size


def test_classify_segment_and_grad_cam_of_a_chunk(rng):
    volume = stub_volume(rng)
    classifier, segmenter = stub_models()
    rows = np.arange(2, 6)
    np.testing.assert_array_equal(
        classify(*classifier, volume[2:6], volume=volume, positions=rows),
        classify(*classifier, volume)[rows])
    np.testing.assert_array_equal(
        segment(*segmenter, volume[2:6], volume=volume, positions=rows, tta=True),
        segment(*segmenter, volume, tta=True)[rows])
    tn.manual_seed(1)
    resnet = tn.models.resnet18(num_classes=2, width=8, in_channels=9)
    spec = context_spec("classification", 1, STATS, size=64, num_classes=2, width=8)
    big = np.stack([np.asarray(Image.fromarray(s).resize((64, 64))) for s in volume])
    heatmaps = grad_cam(resnet, spec, big, batch_size=3)
    np.testing.assert_allclose(grad_cam(resnet, spec, big[2:6], batch_size=3, volume=big,
                                        positions=rows), heatmaps[rows], rtol=1e-5, atol=1e-6)
    assert heatmaps.std() > 0


def test_volume_without_positions_is_refused_for_a_context_model(rng):
    volume = stub_volume(rng, n=4)
    classifier, segmenter = stub_models()
    for predictor in (TwoStagePredictor(classifier), TwoStagePredictor(segmenter=segmenter),
                      TwoStagePredictor(classifier, segmenter)):
        assert predictor.needs_volume
        with pytest.raises(ValueError, match="with volume= give positions="):
            predictor(volume[1:3], volume=volume)
    with pytest.raises(ValueError, match="classify: the model sees each slice with its 1 "
                                         "neighbours"):
        classify(*classifier, volume[1:3], volume=volume)
    with pytest.raises(ValueError, match="segment: .*positions="):
        segment(*segmenter, volume[1:3], volume=volume)
    with pytest.raises(ValueError, match="network_inputs: 1 positions for 2 slices"):
        network_inputs(segmenter[1], list(volume[1:3]), volume=list(volume), positions=[1])
    with pytest.raises(DataError, match="neighbour_positions"):
        classify(*classifier, volume[1:3], volume=volume, positions=[3, 4])


def test_needs_volume_only_for_context_or_volume_models():
    from mrihelpers import BrightSegmenter, MeanClassifier
    flat = ((MeanClassifier(), model_spec("resnet18", {}, 16, IDENTITY)),
            (BrightSegmenter(), model_spec("resunet", {}, 16, IDENTITY)))
    classifier, segmenter = stub_models()
    assert not TwoStagePredictor(*flat).needs_volume
    assert TwoStagePredictor(classifier, flat[1]).needs_volume
    assert TwoStagePredictor(flat[0], segmenter).needs_volume
    assert TwoStagePredictor(segmenter=segmenter).needs_volume


def test_report_evaluate_predicts_interleaved_patients_whatever_the_chunk(phantom,
                                                                          monkeypatch):
    classifier, segmenter = stub_models()
    classifier = (classifier[0], {**classifier[1], "input_size": 32})
    segmenter = (segmenter[0], {**segmenter[1], "input_size": 32})
    predictor = TwoStagePredictor(classifier, segmenter, segment_all=True)
    expected = np.zeros(len(phantom))
    expected_masks = np.zeros((len(phantom), 32, 32), np.uint8)
    for patient in phantom.patients:
        indices = phantom.indices_of([patient])
        result = predictor(np.stack([phantom[int(i)][0] for i in indices]))
        expected[indices] = result.classifier_probability
        expected_masks[indices] = result.segmenter_masks
    for chunk in (2, 64):
        monkeypatch.setattr(report, "CHUNK", chunk)
        evaluation = report.evaluate(phantom, classifier, segmenter)
        np.testing.assert_array_equal(evaluation.cls_probability, expected)
        np.testing.assert_array_equal(evaluation.seg_masks, expected_masks)
    assert expected_masks.any()


def test_predict_scan_with_context_whatever_the_chunk(rng):
    slices = stub_volume(rng, n=5, size=12)[:, :, 1:]          # 12 x 11: padded to a square
    predictor = TwoStagePredictor(*stub_models(), cls_threshold=0.5)
    predictor.classifier[1]["input_size"] = 12
    predictor.segmenter[1]["input_size"] = 12
    at_once = predict_scan(predictor, slices, (3.0, 1.0, 1.0), chunk_size=5)
    by_two = predict_scan(predictor, slices, (3.0, 1.0, 1.0), chunk_size=2)
    for a, b in zip(at_once[:4], by_two[:4]):
        np.testing.assert_array_equal(a, b)


def test_no_slices_give_no_predictions_with_context():
    classifier, _ = stub_models()
    assert classify(*classifier, np.zeros((0, 16, 16, 3), np.uint8)).shape == (0,)


# ---------------------------------------------------------------------------
# End to end: train both scripts with --context 1, evaluate, predict, resume
# ---------------------------------------------------------------------------

SEGMENTER_ARGS = ["--size", "32", "--batch-size", "4", "--base", "4", "--prefetch", "0",
                  "--context", "1"]


def seg_argv(data, out, epochs):
    return ["--data", str(data), "--out", str(out), "--epochs", str(epochs), *SEGMENTER_ARGS]


@pytest.fixture(scope="module")
def phantom_folder(tmp_path_factory):
    """A kaggle_3m folder of 4 phantom patients x 6 slices at 32 px (TIFF files)."""
    root = tmp_path_factory.mktemp("context_data") / "kaggle_3m"
    dataset = make_phantom(n_patients=4, slices_per_patient=6, size=32, seed=7)
    for i in range(len(dataset)):
        image, mask = dataset[i]
        folder = root / dataset.patient_of[i]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{dataset.names[i]}.tif")
        Image.fromarray(mask * 255).save(folder / f"{dataset.names[i]}_mask.tif")
    return root


@pytest.fixture(scope="module")
def context_runs(phantom_folder, tmp_path_factory):
    """train_resunet.py --context 1 (2 epochs) and train_classifier.py --context 1 (1 epoch):
    {"segmenter": run folder, "classifier": run folder}."""
    root = tmp_path_factory.mktemp("context_runs")
    assert cli.run_main(load_script("train_resunet").main,
                        seg_argv(phantom_folder, root / "segmenter", 2)) == 0
    assert cli.run_main(load_script("train_classifier").main,
                        ["--data", str(phantom_folder), "--out", str(root / "classifier"),
                         "--size", "32", "--batch-size", "4", "--width", "8", "--epochs", "1",
                         "--prefetch", "0", "--context", "1"]) == 0
    return {"segmenter": root / "segmenter", "classifier": root / "classifier"}


def test_context_runs_store_the_context_and_nine_input_channels(context_runs):
    model, spec = load_model(context_runs["segmenter"] / "best.npz", task="segmentation")
    assert spec["context"] == 1
    assert spec["arch_args"] == {"base": 4, "depth": 4, "in_channels": 9}
    model, spec = load_model(context_runs["classifier"] / "best.npz", task="classification")
    assert spec["context"] == 1
    assert spec["arch_args"] == {"num_classes": 2, "width": 8, "in_channels": 9}
    assert model.conv1.weight.shape == (8, 9, 7, 7)
    config = load_checkpoint(context_runs["segmenter"] / "last.npz")["metadata"]["run"]["config"]
    assert config["context"] == 1


def test_train_classifier_inflates_its_start_weights(phantom_folder, tmp_path, monkeypatch):
    """--context 1 --weights FILE: the 3-channel stem on the middle group, neighbours 0."""
    tn.manual_seed(2)
    start = numpy_state(tn.models.resnet18(num_classes=2, width=8))
    path = tmp_path / "start.npz"
    np.savez(path, **start)
    seen = {}

    class Built(Exception):
        pass

    def start_run(config, model, *args, **kwargs):
        seen["model"] = model
        raise Built()

    monkeypatch.setattr(experiment, "start_run", start_run)
    with pytest.raises(Built):
        cli.run_main(load_script("train_classifier").main,
                     ["--data", str(phantom_folder), "--out", str(tmp_path / "o"), "--size",
                      "32", "--width", "8", "--context", "1", "--weights", str(path)])
    state = numpy_state(seen["model"])
    np.testing.assert_array_equal(state["conv1.weight"],
                                  inflate_stem(start, 9)["conv1.weight"])
    for key in ("layer1.0.conv1.weight", "bn1.weight", "layer4.1.conv2.weight"):
        np.testing.assert_array_equal(state[key], start[key])


@pytest.fixture(scope="module")
def two_patients(phantom_folder, tmp_path_factory):
    """A folder of two patients' folders (images and masks) copied from the phantom."""
    two = tmp_path_factory.mktemp("two") / "scans"
    for patient in sorted(p.name for p in phantom_folder.iterdir())[:2]:
        shutil.copytree(phantom_folder / patient, two / patient)
    return two


@pytest.fixture(scope="module")
def context_predictor(context_runs, two_patients):
    """(classifier, segmenter, cls threshold, seg threshold, {patient: volume}): thresholds at
    the medians on the two patients, so that the gate and the masks both split the slices."""
    classifier = load_model(context_runs["classifier"] / "best.npz", task="classification")
    segmenter = load_model(context_runs["segmenter"] / "best.npz", task="segmentation")
    volumes = {}
    for path, name in find_slice_files(two_patients):
        volumes.setdefault(name.split("/")[0], []).append(read_slice(path))
    volumes = {p: np.stack(v) for p, v in volumes.items()}
    probabilities = np.concatenate([classify(*classifier, v) for v in volumes.values()])
    pixels = np.concatenate([segment(*segmenter, v).ravel() for v in volumes.values()])
    cls_threshold = float(np.median(probabilities))
    seg_threshold = float(np.median(pixels))
    return classifier, segmenter, cls_threshold, seg_threshold, volumes


def test_evaluate_gives_the_same_report_whatever_the_chunk(context_predictor, two_patients,
                                                           context_runs, tmp_path, monkeypatch):
    classifier, segmenter, cls_threshold, seg_threshold, volumes = context_predictor
    evaluate_script = load_script("evaluate")
    argv = [str(two_patients), "--classifier", str(context_runs["classifier"] / "best.npz"),
            "--segmenter", str(context_runs["segmenter"] / "best.npz"), "--rule", "both",
            "--cls-threshold", str(cls_threshold), "--seg-threshold", str(seg_threshold),
            "--batch-size", "2"]
    reports = {}
    for chunk in (2, 64):
        monkeypatch.setattr(report, "CHUNK", chunk)
        path = tmp_path / f"chunk{chunk}.json"
        assert evaluate_script.main([*argv, "--json", str(path)]) == 0
        reports[chunk] = json.loads(path.read_text())
        reports[chunk].pop("timings")
    assert reports[2] == reports[64]
    assert reports[2]["patients"] == 2 and reports[2]["slices"] == 12
    # ... and they are those of the predictor on each whole volume
    dataset = read_kaggle3m(two_patients)
    monkeypatch.setattr(report, "CHUNK", 4)
    evaluation = report.evaluate(dataset, classifier, segmenter, cls_threshold=cls_threshold,
                                 seg_threshold=seg_threshold, rule="both", batch_size=2)
    predictor = TwoStagePredictor(classifier, segmenter, cls_threshold=cls_threshold,
                                  seg_threshold=seg_threshold, rule="both", segment_all=True,
                                  cls_batch_size=2, seg_batch_size=2)
    for patient, volume in volumes.items():
        indices = dataset.indices_of([patient])
        whole = predictor(volume)
        np.testing.assert_allclose(evaluation.cls_probability[indices],
                                   whole.classifier_probability, rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(evaluation.pipeline_masks[indices], whole.masks)
    assert 0 < evaluation.pipeline_masks.sum() < evaluation.seg_masks.sum()


def test_predict_gives_the_same_results_whatever_the_chunk(context_predictor, two_patients,
                                                            context_runs, tmp_path,
                                                            monkeypatch):
    classifier, segmenter, cls_threshold, seg_threshold, volumes = context_predictor
    args = ["--classifier", str(context_runs["classifier"] / "best.npz"),
            "--segmenter", str(context_runs["segmenter"] / "best.npz"), "--rule", "both",
            "--cls-threshold", str(cls_threshold), "--seg-threshold", str(seg_threshold),
            "--batch-size", "2", "--gradcam"]
    for chunk in (3, 32):
        monkeypatch.setattr(predict, "CHUNK", chunk)
        assert predict.main([str(two_patients), "--out", str(tmp_path / f"c{chunk}"),
                             *args]) == 0
    small, large = (json.loads((tmp_path / f"c{c}" / "summary.json").read_text())
                    for c in (3, 32))
    keys = ("name", "tumour_probability", "positive", "tumour_area_pixels",
            "largest_extent_pixels")
    assert [[r[k] for k in keys] for r in small["slices"]] == \
        [[r[k] for k in keys] for r in large["slices"]]
    assert small["patients"] == large["patients"] and len(small["slices"]) == 12
    for suffix in ("_pred_mask.png", "_gradcam.png"):
        files = sorted((tmp_path / "c3").rglob(f"*{suffix}"))
        assert len(files) == 12
        for f in files:
            np.testing.assert_array_equal(
                read_png(f), read_png(tmp_path / "c32" / f.relative_to(tmp_path / "c3")))
    # ... and they are those of the predictor on each whole volume
    predictor = TwoStagePredictor(classifier, segmenter, cls_threshold=cls_threshold,
                                  seg_threshold=seg_threshold, rule="both")
    for patient, volume in volumes.items():
        whole = predictor(volume)
        records = [r for r in small["slices"] if r["name"].startswith(patient + "/")]
        assert [r["tumour_probability"] for r in records] == \
            [round(float(p), 6) for p in whole.probability]
        assert [r["positive"] for r in records] == whole.positive.tolist()
        for n, record in enumerate(records):
            np.testing.assert_array_equal(
                read_png(tmp_path / "c3" / f"{record['name']}_pred_mask.png") // 255,
                whole.masks[n])
    assert 0 < sum(r["positive"] for r in small["slices"]) < 12


def test_a_lone_slice_of_a_patient_folder_is_predicted_within_its_scan(
        context_predictor, two_patients, context_runs, tmp_path, capsys, monkeypatch):
    """`predict <patient>/<patient>_<n>.tif` with a context model: the same numbers and mask
    as for that slice when the whole folder is predicted (its neighbours are read)."""
    classifier, segmenter, cls_threshold, seg_threshold, volumes = context_predictor
    args = ["--classifier", str(context_runs["classifier"] / "best.npz"),
            "--segmenter", str(context_runs["segmenter"] / "best.npz"), "--rule", "both",
            "--cls-threshold", str(cls_threshold), "--seg-threshold", str(seg_threshold)]
    assert predict.main([str(two_patients), "--out", str(tmp_path / "all"), *args]) == 0
    whole = json.loads((tmp_path / "all" / "summary.json").read_text())
    patient = sorted(volumes)[0]
    for n in (0, 3, 5):                     # both ends and the middle of the 6 slices
        record = [r for r in whole["slices"] if r["name"].startswith(patient + "/")][n]
        path = two_patients / f"{record['name']}.tif"
        out = tmp_path / f"one{n}"
        capsys.readouterr()
        assert predict.main([str(path), "--out", str(out), *args]) == 0
        assert f"is predicted within its scan (6 slices of {patient})" in \
            capsys.readouterr().err
        summary = json.loads((out / "summary.json").read_text())
        assert [p["patient"] for p in summary["patients"]] == [patient]   # its folder's
        alone = summary["slices"]
        assert len(alone) == 1
        for key in ("tumour_probability", "positive", "tumour_area_pixels"):
            assert alone[0][key] == record[key], key
        np.testing.assert_array_equal(
            read_png(out / f"{path.stem}_pred_mask.png"),
            read_png(tmp_path / "all" / f"{record['name']}_pred_mask.png"))
    # ... also given relative to the patient's folder (whose name "." does not tell)
    monkeypatch.chdir(path.parent)
    assert predict.main([path.name, "--out", str(tmp_path / "here"), *args]) == 0
    assert "is predicted within its scan" in capsys.readouterr().err
    alone = json.loads((tmp_path / "here" / "summary.json").read_text())["slices"]
    assert alone[0]["tumour_probability"] == record["tumour_probability"]


def test_a_lone_image_outside_a_patient_folder_is_its_own_volume_with_a_note(
        context_predictor, two_patients, context_runs, tmp_path, capsys):
    classifier, segmenter, cls_threshold, seg_threshold, volumes = context_predictor
    patient = sorted(volumes)[0]
    image = tmp_path / "slice.tif"
    shutil.copy(two_patients / patient / f"{patient}_3.tif", image)
    assert predict.main([str(image), "--out", str(tmp_path / "out"),
                         "--segmenter", str(context_runs["segmenter"] / "best.npz")]) == 0
    err = capsys.readouterr().err
    assert f"note: {image} is predicted on its own" in err and "give the scan's folder" in err
    assert (tmp_path / "out" / "slice_pred_mask.png").exists()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [p["patient"] for p in summary["patients"]] == ["slice.tif"]   # no folder to name


def test_ctrl_c_then_resume_of_a_context_run_equals_uninterrupted(phantom_folder, context_runs,
                                                                  tmp_path, monkeypatch):
    script = load_script("train_resunet")
    out = tmp_path / "between"
    real_validate = script.validate_segmenter

    def validate_and_press_ctrl_c(*args):
        signal.raise_signal(signal.SIGINT)          # during the first validation pass
        return real_validate(*args)

    monkeypatch.setattr(script, "validate_segmenter", validate_and_press_ctrl_c)
    assert cli.run_main(script.main, seg_argv(phantom_folder, out, 2)) == 130
    assert load_checkpoint(out / "last.npz")["epoch"] == 1
    monkeypatch.setattr(script, "validate_segmenter", real_validate)
    assert cli.run_main(script.main, ["--resume", str(out / "last.npz")]) == 0
    resumed = load_checkpoint(out / "last.npz")
    reference = load_checkpoint(context_runs["segmenter"] / "last.npz")
    assert resumed["epoch"] == 2 and resumed["metadata"]["run"]["config"]["context"] == 1
    assert list(resumed["model"]) == list(reference["model"])
    for key, value in reference["model"].items():
        np.testing.assert_array_equal(resumed["model"][key], value, err_msg=key)
    assert read_spec(out / "best.npz")["context"] == 1
