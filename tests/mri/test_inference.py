"""tinynet.mri.inference: classify, segment, the two-stage predictor, prepare_batch,
remove_small_components and the shipped checkpoints' lookup (default_checkpoint, load_models).

Stub networks whose outputs are known functions of the input give hand-computed
expectations; tiny untrained ResUNet and ResNet-18 check shapes, batching and
test-time augmentation on the real architectures.  default_checkpoint/load_models
always look in a tmp folder $TINYNET_WEIGHTS (conftest.py): the repository's weights
must not leak into the tests.
"""
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from mrihelpers import (IDENTITY, STATS, BrightSegmenter, MeanClassifier, bright_segmenter,
                        mri_like, speck_slices, with_percentile)
from tinynet.mri import cli
from tinynet.mri.checkpoint import model_spec
from tinynet.mri.data import normalize
from tinynet.mri.inference import (TwoStagePredictor, classify, default_checkpoint, load_models,
                                   predict_slices, prepare_batch, remove_small_components,
                                   resize_probabilities, segment)

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------
# Stub networks with known outputs (MeanClassifier, BrightSegmenter: mrihelpers.py)
# ---------------------------------------------------------------------------

def stub_spec(task, size, threshold=0.5):
    arch = "resnet18" if task == "classification" else "resunet"
    return model_spec(arch, {}, size, IDENTITY, threshold)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def uniform_slices(values, size=(8, 8)):
    """uint8 (N, H, W, 3) slices, slice i filled with values[i]."""
    return np.stack([np.full((*size, 3), v, np.uint8) for v in values])


# ---------------------------------------------------------------------------
# classify
# ---------------------------------------------------------------------------

def test_classify_is_softmax_of_the_tumour_logit():
    values = [0, 64, 128, 255]
    probs = classify(MeanClassifier(), stub_spec("classification", 8), uniform_slices(values))
    logits = 40.0 * (np.array(values) / 255 - 0.5)
    expected = np.exp(logits) / (np.exp(0.0) + np.exp(logits))   # softmax(0, l)[1]
    assert probs.dtype == np.float64 and probs.shape == (4,)
    np.testing.assert_allclose(probs, expected, rtol=1e-6)


def test_classify_huge_logits_do_not_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probs = classify(MeanClassifier(scale=4000.0), stub_spec("classification", 8),
                         uniform_slices([0, 255]))
    np.testing.assert_array_equal(probs, [0.0, 1.0])


def test_classify_runs_in_batches_of_the_given_size():
    model = MeanClassifier()
    classify(model, stub_spec("classification", 8), uniform_slices(range(0, 250, 25)),
             batch_size=4)
    assert model.batches == [4, 4, 2]


def test_classify_refuses_a_segmentation_spec():
    with pytest.raises(ValueError, match="classify needs a classification model"):
        classify(MeanClassifier(), stub_spec("segmentation", 8), uniform_slices([0]))


def test_classify_refuses_images_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"uint8 \(N, H, W, 3\), got shape \(2, 8, 8\)"):
        classify(MeanClassifier(), stub_spec("classification", 8), np.zeros((2, 8, 8), np.uint8))


# ---------------------------------------------------------------------------
# segment
# ---------------------------------------------------------------------------

def test_segment_at_the_model_size_is_the_sigmoid_of_the_logits(rng):
    images = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    probs = segment(BrightSegmenter(), stub_spec("segmentation", 16), images)
    expected = sigmoid(8.0 * images[..., 0] / 255.0 - 4.0)
    np.testing.assert_allclose(probs, expected, rtol=1e-5)


def test_segment_returns_maps_at_the_input_size():
    # Left half bright, right half dark, 70x90, through a 32x32 model input.
    images = np.zeros((2, 70, 90, 3), np.uint8)
    images[:, :, :45] = 255
    probs = segment(BrightSegmenter(), stub_spec("segmentation", 32), images)
    assert probs.shape == (2, 70, 90) and probs.dtype == np.float32
    np.testing.assert_allclose(probs[:, :, :35], sigmoid(4.0), rtol=1e-5)    # away from the edge
    np.testing.assert_allclose(probs[:, :, 55:], sigmoid(-4.0), rtol=1e-5)


def test_segment_list_of_sizes_gives_list_of_maps():
    images = [np.zeros((20, 30, 3), np.uint8), np.full((40, 12, 3), 255, np.uint8)]
    maps = segment(BrightSegmenter(), stub_spec("segmentation", 16), images)
    assert [m.shape for m in maps] == [(20, 30), (40, 12)]
    np.testing.assert_allclose(maps[1], sigmoid(4.0), rtol=1e-5)


def test_resize_probabilities_keeps_a_constant_map_and_the_range(rng):
    np.testing.assert_allclose(resize_probabilities(np.full((4, 4), 0.25), (9, 7)), 0.25)
    resized = resize_probabilities(rng.random((8, 8)), (70, 90))
    assert resized.shape == (70, 90) and resized.min() >= 0.0 and resized.max() <= 1.0


def test_tiny_resunet_round_trips_the_size(tiny_models, rng):
    _, (model, spec) = tiny_models
    images = rng.integers(0, 256, (3, 70, 90, 3), dtype=np.uint8)
    probs = segment(model, spec, images)
    assert probs.shape == (3, 70, 90)
    assert probs.min() >= 0.0 and probs.max() <= 1.0


def test_segment_batch_size_does_not_change_the_result(tiny_models, rng):
    _, (model, spec) = tiny_models
    images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(segment(model, spec, images, batch_size=2),
                               segment(model, spec, images, batch_size=5), atol=1e-6)


def test_inference_uses_eval_mode_and_gives_the_mode_back(tiny_models, rng):
    _, (model, spec) = tiny_models
    images = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    in_eval = segment(model, spec, images)
    model.train()
    try:
        in_training = segment(model, spec, images)   # BatchNorm still uses running stats
        assert model.training and model.stem[2].training
    finally:
        model.eval()
    np.testing.assert_array_equal(in_training, in_eval)


def test_tta_is_symmetric_under_a_horizontal_flip(tiny_models, rng):
    _, (model, spec) = tiny_models
    images = rng.integers(0, 256, (2, 48, 40, 3), dtype=np.uint8)
    plain = segment(model, spec, images, tta=True)
    mirrored = segment(model, spec, images[:, :, ::-1].copy(), tta=True)
    np.testing.assert_allclose(mirrored[:, :, ::-1], plain, atol=1e-5)
    # ... and it is the mean of the two passes, not the plain pass.
    without = segment(model, spec, images)
    flipped = segment(model, spec, images[:, :, ::-1].copy())[:, :, ::-1]
    np.testing.assert_allclose(plain, (without + flipped) / 2, atol=1e-5)


# ---------------------------------------------------------------------------
# The two stages
# ---------------------------------------------------------------------------

def two_stage_slices():
    """Slice 0 bright (tumour everywhere), slice 1 dark with a bright 3x4 patch, slice 2 dark."""
    images = uniform_slices([255, 0, 0])
    images[1, :3, :4] = 255
    return images


def stub_pair(task, threshold=0.5):
    model = MeanClassifier() if task == "classification" else BrightSegmenter()
    return model, stub_spec(task, 8, threshold)


def test_two_stages_zero_the_masks_of_negative_slices():
    result = predict_slices(two_stage_slices(), classifier=stub_pair("classification"),
                            segmenter=stub_pair("segmentation"))
    np.testing.assert_array_equal(result.positive, [True, False, False])
    assert result.masks.shape == (3, 8, 8) and result.masks.dtype == np.uint8
    np.testing.assert_array_equal(result.masks[0], 1)
    np.testing.assert_array_equal(result.masks[1:], 0)    # the patch of slice 1 is dropped
    np.testing.assert_array_equal(result.area, [64, 0, 0])
    assert result.segmenter_masks is None


def test_segment_all_keeps_the_segmenter_masks_before_the_classifier():
    result = predict_slices(two_stage_slices(), classifier=stub_pair("classification"),
                            segmenter=stub_pair("segmentation"), segment_all=True)
    assert result.segmenter_masks[1].sum() == 12 and result.masks[1].sum() == 0


def test_thresholds_default_to_the_checkpoints_and_can_be_overridden():
    predictor = TwoStagePredictor(stub_pair("classification", 0.7), stub_pair("segmentation", 0.2))
    assert (predictor.cls_threshold, predictor.seg_threshold) == (0.7, 0.2)
    forced = predict_slices(two_stage_slices(), stub_pair("classification"),
                            stub_pair("segmentation"), cls_threshold=1.0)
    assert not forced.positive.any() and forced.masks.sum() == 0


def test_segmenter_alone_calls_a_slice_positive_from_its_mask_area():
    images = two_stage_slices()
    result = predict_slices(images, segmenter=stub_pair("segmentation"))
    np.testing.assert_array_equal(result.positive, [True, True, False])
    np.testing.assert_array_equal(result.area, [64, 12, 0])
    np.testing.assert_allclose(result.probability, sigmoid([4.0, 4.0, -4.0]), rtol=1e-5)
    assert result.classifier_probability is None
    # min_area 13 clears the 12-pixel patch: slice 1 becomes negative.
    result = predict_slices(images, segmenter=stub_pair("segmentation"), min_area=13)
    np.testing.assert_array_equal(result.positive, [True, False, False])
    assert result.masks[1].sum() == 0


def test_classifier_alone_has_no_masks():
    result = predict_slices(two_stage_slices(), classifier=stub_pair("classification"))
    assert result.masks is None and result.area is None
    np.testing.assert_array_equal(result.positive, [True, False, False])


def test_predictor_needs_a_model_and_the_right_tasks():
    with pytest.raises(ValueError, match="needs a classifier, a segmenter or both"):
        TwoStagePredictor()
    with pytest.raises(ValueError, match="needs a classification model"):
        TwoStagePredictor(classifier=stub_pair("segmentation"))


# ---------------------------------------------------------------------------
# prepare_batch
# ---------------------------------------------------------------------------

def test_prediction_input_follows_the_spec_slice_percentile(rng):
    """prepare_batch with a spec holding slice_percentile scales each slice like normalize."""
    images = mri_like(rng, n=2, top=127)
    spec = model_spec("resnet18", {"num_classes": 2}, 16, with_percentile(STATS))
    batch = prepare_batch(list(images), spec)
    np.testing.assert_array_equal(batch, normalize(images, with_percentile(STATS)))
    brighter = images.copy()
    brighter[0] *= 2
    np.testing.assert_array_equal(prepare_batch(list(brighter), spec), batch)


# ---------------------------------------------------------------------------
# default_checkpoint and load_models
# ---------------------------------------------------------------------------

def test_default_checkpoint_is_none_in_an_empty_weights_folder(tmp_path, monkeypatch, capsys):
    """No classifier.npz/segmenter.npz in $TINYNET_WEIGHTS: None, and load_models() refuses."""
    monkeypatch.setenv("TINYNET_WEIGHTS", str(tmp_path))
    (tmp_path / "classifier.npz").mkdir()          # a folder of that name is not a checkpoint
    assert default_checkpoint("classification") is None
    assert default_checkpoint("segmentation") is None
    with pytest.raises(cli.UsageError, match="no model given"):
        load_models()
    assert "using the shipped weights" not in capsys.readouterr().err


def test_default_checkpoint_finds_the_files_in_the_weights_folder(tmp_path, monkeypatch,
                                                                   checkpoints):
    """classifier.npz and segmenter.npz in $TINYNET_WEIGHTS are the defaults of their task."""
    monkeypatch.setenv("TINYNET_WEIGHTS", str(tmp_path))
    os.symlink(checkpoints[1], tmp_path / "segmenter.npz")
    assert default_checkpoint("segmentation") == str(tmp_path / "segmenter.npz")
    assert default_checkpoint("classification") is None
    os.symlink(checkpoints[0], tmp_path / "classifier.npz")
    assert default_checkpoint("classification") == str(tmp_path / "classifier.npz")


def test_default_checkpoint_without_the_variable_is_the_package_folder(monkeypatch):
    """Without $TINYNET_WEIGHTS (or with it empty) the package's weights/ is looked in."""
    folder = REPO / "tinynet" / "mri" / "weights"
    expected = {task: (str(folder / name) if (folder / name).is_file()
                       else None)
                for task, name in (("classification", "classifier.npz"),
                                   ("segmentation", "segmenter.npz"))}
    monkeypatch.delenv("TINYNET_WEIGHTS")
    assert {task: default_checkpoint(task) for task in expected} == expected
    monkeypatch.setenv("TINYNET_WEIGHTS", "")
    assert {task: default_checkpoint(task) for task in expected} == expected


def test_default_checkpoint_refuses_an_unknown_task():
    """A task other than classification/segmentation raises ValueError naming it."""
    with pytest.raises(ValueError, match="'detection'"):
        default_checkpoint("detection")


def test_load_models_uses_the_shipped_segmenter_and_says_so(tmp_path, monkeypatch, checkpoints,
                                                           capsys):
    """load_models() with only segmenter.npz shipped loads it alone and notes it on stderr."""
    monkeypatch.setenv("TINYNET_WEIGHTS", str(tmp_path))
    os.symlink(checkpoints[1], tmp_path / "segmenter.npz")
    classifier, segmenter = load_models()
    assert classifier is None and segmenter[1]["task"] == "segmentation"
    err = capsys.readouterr().err
    assert f"no model given: using the shipped weights {tmp_path / 'segmenter.npz'}" in err
    # An explicit path takes precedence and prints no note.
    classifier, segmenter = load_models(segmenter=checkpoints[1])
    assert classifier is None and segmenter is not None
    assert "shipped" not in capsys.readouterr().err


# ---------------------------------------------------------------------------
# remove_small_components
# ---------------------------------------------------------------------------

def test_remove_small_components_keeps_the_blob_not_the_speck():
    """A 2x2 blob and a lone pixel, min_pixels 2: the blob stays, the pixel goes."""
    mask = np.zeros((6, 6), np.uint8)
    mask[1:3, 1:3] = 1
    mask[5, 5] = 1
    expected = mask.copy()
    expected[5, 5] = 0
    kept = remove_small_components(mask, 2)
    np.testing.assert_array_equal(kept, expected)
    assert kept.dtype == np.uint8
    np.testing.assert_array_equal(remove_small_components(mask, 1), mask)   # 1: nothing goes
    np.testing.assert_array_equal(remove_small_components(mask, 4), expected)  # 4 px: kept


def test_remove_small_components_is_8_connected():
    """Pixels touching only at corners form one region of their total size."""
    mask = np.zeros((5, 5), np.uint8)
    mask[[0, 1, 2], [0, 1, 2]] = 1          # a diagonal of 3 pixels
    mask[4, 0] = 1                          # alone (not touching the diagonal)
    expected = mask.copy()
    expected[4, 0] = 0
    np.testing.assert_array_equal(remove_small_components(mask, 3), expected)
    np.testing.assert_array_equal(remove_small_components(mask, 4), np.zeros_like(mask))


def test_remove_small_components_larger_than_every_region_clears_the_mask():
    """min_pixels above the largest region's size leaves an empty mask of the same dtype."""
    mask = np.zeros((8, 8), np.int32)
    mask[0:3, 0:3] = 1                      # 9 pixels
    mask[5:7, 5:8] = 1                      # 6 pixels
    cleared = remove_small_components(mask, 10)
    assert cleared.dtype == np.int32 and cleared.shape == mask.shape and not cleared.any()
    kept = remove_small_components(mask, 7)
    assert kept.dtype == np.int32 and kept.sum() == 9 and kept[0:3, 0:3].all()
    boolean = remove_small_components(mask.astype(bool), 7)
    assert boolean.dtype == bool and boolean.sum() == 9
    empty = np.zeros((4, 4), np.uint8)
    result = remove_small_components(empty, 3)
    assert result.dtype == np.uint8 and not result.any()


# ---------------------------------------------------------------------------
# TwoStagePredictor(min_component=)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("min_component, min_area, areas", [
    (0, 0, [13, 1, 6, 0]),
    (2, 0, [12, 0, 6, 0]),     # the specks go, the patches stay
    (7, 0, [12, 0, 0, 0]),     # the 6-pixel patch goes too
    (2, 12, [12, 0, 0, 0]),    # min_area counts what min_component left: 12 >= 12, 6 < 12
    (2, 13, [0, 0, 0, 0]),     # 12 pixels left after the speck went: < 13, cleared
    (0, 13, [13, 0, 0, 0]),    # without min_component the speck still counts
])
def test_min_component_runs_before_min_area(min_component, min_area, areas):
    """Segmenter alone: specks go first; a slice is positive iff its area >= max(min_area, 1)."""
    result = predict_slices(speck_slices(), segmenter=bright_segmenter(),
                            min_component=min_component, min_area=min_area)
    np.testing.assert_array_equal(result.area, areas)
    np.testing.assert_array_equal(result.masks.reshape(4, -1).sum(axis=1), areas)
    np.testing.assert_array_equal(result.positive, np.array(areas) >= max(min_area, 1))


def test_min_component_in_the_two_stage_pipeline_and_segment_all():
    """With a classifier too, segmenter_masks and masks both lose the speck."""
    images = speck_slices()
    images[0, :, :, 1:] = 255    # green and blue: slice 0's mean > 0.5, red unchanged
    classifier = (MeanClassifier(), model_spec("resnet18", {}, 16, IDENTITY, 0.5))
    probability = classify(*classifier, images)
    assert probability[0] >= 0.5 and (probability[1:] < 0.5).all()
    result = predict_slices(images, classifier=classifier, segmenter=bright_segmenter(),
                            min_component=2, segment_all=True)
    np.testing.assert_array_equal(result.positive, [True, False, False, False])
    np.testing.assert_array_equal(result.segmenter_masks.reshape(4, -1).sum(axis=1),
                                  [12, 0, 6, 0])
    np.testing.assert_array_equal(result.area, [12, 0, 0, 0])


def test_negative_min_component_is_refused_and_settings_report_it():
    """min_component < 0 raises ValueError; settings() carries the value given."""
    with pytest.raises(ValueError, match="min_component must be >= 0, got -1"):
        TwoStagePredictor(segmenter=bright_segmenter(), min_component=-1)
    predictor = TwoStagePredictor(segmenter=bright_segmenter(), min_component=5, min_area=3)
    settings = predictor.settings()
    assert settings["min_component"] == 5 and settings["min_area"] == 3
    assert TwoStagePredictor(segmenter=bright_segmenter()).settings()["min_component"] == 0
