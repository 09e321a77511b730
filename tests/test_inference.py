"""Inference: classify, segment, the two-stage predictor and Grad-CAM.

Stub networks whose outputs are known functions of the input give hand-computed
expectations; tiny untrained ResUNet and ResNet-18 check shapes, batching,
test-time augmentation and Grad-CAM on the real architectures.  The helpers at
the top (tiny checkpoints, a kaggle_3m folder) are shared by test_predict.py
and test_evaluate.py.
"""
import warnings

import numpy as np
import pytest
from PIL import Image

import tinynet as tn
from tinynet.mri.checkpoint import build_model, load_model, model_spec
from tinynet.mri.gradcam import grad_cam
from tinynet.mri.data import find_slice_files, read_slice
from tinynet.mri.inference import (TwoStagePredictor, classify, predict_slices,
                                        resize_probabilities, segment)

NORMALIZATION = {"mean": [0.3, 0.3, 0.3], "std": [0.2, 0.2, 0.2]}
IDENTITY = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}   # the network sees x / 255

TINY = {"segmentation": ("resunet", {"base": 4, "depth": 2}, 32),
        "classification": ("resnet18", {"num_classes": 2}, 64)}  # 64 px: layer4 is 2x2


def save_tiny_checkpoint(path, task, threshold=0.5):
    """An untrained tiny model of ``task`` saved as a pipeline checkpoint at ``path``."""
    arch, arch_args, size = TINY[task]
    model = build_model(arch, arch_args)
    spec = model_spec(arch, arch_args, size, NORMALIZATION, threshold)
    tn.io.save_checkpoint(path, model=model, metadata={"model": spec})
    return str(path)


def tiny_checkpoints(folder):
    """(classifier path, segmenter path) of tiny untrained models saved in ``folder``."""
    return (save_tiny_checkpoint(folder / "classifier.npz", "classification"),
            save_tiny_checkpoint(folder / "segmenter.npz", "segmentation"))


def write_kaggle3m(root, patients=("TCGA_CS_0001_20000101", "TCGA_DU_0002_20000202",
                                   "TCGA_EZ_0003_20000303"), slices=4, size=32, seed=0):
    """A small kaggle_3m folder: per patient ``slices`` RGB TIFFs and 0/255 masks.

    The tumour is a bright square on the even-numbered slices (slice 1 of the
    first patient has none), so both classes and empty masks occur.
    Returns {patient: [(image, mask 0/1), ...]} as written.
    """
    rng = np.random.default_rng(seed)
    written = {}
    for p, patient in enumerate(patients):
        folder = root / patient
        folder.mkdir(parents=True)
        written[patient] = []
        for n in range(1, slices + 1):
            image = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
            mask = np.zeros((size, size), np.uint8)
            if n % 2 == 0:
                top = 4 + 3 * p
                mask[top:top + 8, 6:16] = 1
                image[mask == 1] = 220
            Image.fromarray(image).save(folder / f"{patient}_{n}.tif")
            Image.fromarray(mask * 255).save(folder / f"{patient}_{n}_mask.tif")
            written[patient].append((image, mask))
    return written


@pytest.fixture(scope="session")
def tiny_checkpoint_files(tmp_path_factory):
    """(classifier path, segmenter path), saved once per test session (ResNet-18 is 45 MB)."""
    return tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"))


@pytest.fixture(scope="session")
def tiny_models(tiny_checkpoint_files):
    """((classifier, spec), (segmenter, spec)), loaded back from the tiny checkpoints."""
    cls_path, seg_path = tiny_checkpoint_files
    return (load_model(cls_path, task="classification"),
            load_model(seg_path, task="segmentation"))


# ---------------------------------------------------------------------------
# Stub networks with known outputs
# ---------------------------------------------------------------------------

class MeanClassifier(tn.nn.Module):
    """logits (0, scale * (mean(x) - 0.5)) per slice: bright slices are 'tumour'."""

    def __init__(self, scale=40.0):
        super().__init__()
        self.scale = scale
        self.batches = []

    def forward(self, x):
        self.batches.append(x.shape[0])
        l1 = self.scale * (x.data.mean(axis=(1, 2, 3)) - 0.5)
        return tn.tensor(np.stack([np.zeros_like(l1), l1], axis=1))


class BrightSegmenter(tn.nn.Module):
    """logit = 8 x[:, 0] - 4 per pixel: p = sigmoid(8 v - 4) with v = red / 255."""

    def forward(self, x):
        return tn.tensor(8.0 * x.data[:, :1] - 4.0)


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
# Grad-CAM
# ---------------------------------------------------------------------------

def test_grad_cam_shape_range_and_not_constant(tiny_models, rng):
    (model, spec), _ = tiny_models
    images = rng.integers(0, 256, (3, 50, 60, 3), dtype=np.uint8)
    cams = grad_cam(model, spec, images, batch_size=2)
    assert cams.shape == (3, 50, 60) and cams.dtype == np.float32
    assert cams.min() >= 0.0 and cams.max() <= 1.0
    for cam in cams:
        assert cam.max() - cam.min() > 0.1


def test_grad_cam_equals_the_class_activation_map_of_a_resnet(tiny_models, rng):
    # Global average pooling + fc make d logit_1 / d A_k(i, j) = W[1, k] / (h w), so
    # Grad-CAM is relu(sum_k W[1, k] A_k) up to the positive factor removed by scaling.
    (model, spec), _ = tiny_models
    images = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    cams = grad_cam(model, spec, images)
    from tinynet.mri.data import normalize
    with tn.no_grad():
        features = model.features(tn.tensor(normalize(images, spec["normalization"]))).numpy()
    weights = model.fc.weight.numpy()[1]
    for cam, a in zip(cams, features):
        expected = np.maximum(np.tensordot(weights, a, axes=1), 0.0)
        expected = resize_probabilities(expected / expected.max(), (64, 64))
        np.testing.assert_allclose(cam, expected, atol=1e-5)


def test_grad_cam_leaves_the_model_as_it_was(tiny_models, rng):
    (model, spec), _ = tiny_models
    grad_cam(model, spec, rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8))
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    assert not model.layer4._forward_hooks


# ---------------------------------------------------------------------------
# Slices from files
# ---------------------------------------------------------------------------

def test_find_slice_files_orders_by_slice_number_and_skips_masks(tmp_path):
    write_kaggle3m(tmp_path / "k", patients=("TCGA_CS_0001_20000101",), slices=10, size=8)
    found = find_slice_files(tmp_path / "k")
    names = [name for _, name in found]
    assert names == [f"TCGA_CS_0001_20000101/TCGA_CS_0001_20000101_{n}" for n in range(1, 11)]


def test_read_slice_repeats_a_grayscale_image(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    Image.fromarray(gray).save(tmp_path / "g.png")
    rgb = read_slice(tmp_path / "g.png")
    assert rgb.shape == (3, 4, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, np.repeat(gray[..., None], 3, axis=2))


def test_read_slice_names_an_unreadable_file(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="cannot read the image .*broken.png"):
        read_slice(tmp_path / "broken.png")
