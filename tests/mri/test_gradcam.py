"""tinynet.mri.gradcam: grad_cam on a tiny ResNet-18, its shape and range, the class activation
map it equals for a ResNet, and the model left as it was."""
import numpy as np

import tinynet as tn
from tinynet.mri.gradcam import grad_cam
from tinynet.mri.inference import resize_probabilities


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
