"""tinynet.mri.scoring: one tumour probability for validation, inference and the report, and
the eval-mode helper that gives a model back its train/eval state (that validation scores
with it and gives the mode back: test_validate.py)."""
import numpy as np
import pytest
from scipy.special import expit

import tinynet as tn
from mrihelpers import modes
from tinynet.mri.scoring import evaluation_mode, pixel_probabilities, tumour_probability


# ---------------------------------------------------------------------------
# The probabilities
# ---------------------------------------------------------------------------

def test_tumour_probability_is_the_float64_sigmoid_of_the_logit_gap():
    logits = np.array([[0.0, 0.0], [1.0, 3.0], [2.0, -1.0], [0.0, 20.0], [0.0, 30.0]],
                      np.float32)
    probability = tumour_probability(logits)
    assert probability.dtype == np.float64 and probability.shape == (5,)
    expected = 1.0 / (1.0 + np.exp(logits[:, 0].astype(np.float64) - logits[:, 1]))
    np.testing.assert_allclose(probability, expected, rtol=1e-15)
    # softmax's second column, but without float32's rounding: gaps of 20 and 30 stay apart
    assert probability[3] < probability[4] < 1.0
    assert tn.ops.softmax(tn.tensor(logits), dim=1).numpy()[3, 1] == 1.0
    np.testing.assert_allclose(probability[:3], tn.ops.softmax(tn.tensor(logits[:3]), dim=1)
                               .numpy()[:, 1], rtol=1e-6)


def test_tumour_probability_takes_tensors_and_refuses_other_shapes():
    logits = tn.tensor(np.array([[0.5, -0.5], [-800.0, 800.0]], np.float32))
    np.testing.assert_array_equal(tumour_probability(logits), expit([-1.0, 1600.0]))
    with pytest.raises(ValueError, match=r"logits \(N, 2\), got shape \(2, 3\)"):
        tumour_probability(np.zeros((2, 3)))


def test_pixel_probabilities_are_float32_maps():
    logits = np.array([[[[0.0, 100.0], [-100.0, 2.0]]]], np.float32)     # (1, 1, 2, 2)
    maps = pixel_probabilities(tn.tensor(logits))
    assert maps.dtype == np.float32 and maps.shape == (1, 2, 2)
    np.testing.assert_allclose(maps[0], [[0.5, 1.0], [0.0, expit(2.0)]], rtol=1e-6)
    with pytest.raises(ValueError, match=r"logits \(N, 1, H, W\), got shape \(1, 2, 2, 2\)"):
        pixel_probabilities(np.zeros((1, 2, 2, 2)))


# ---------------------------------------------------------------------------
# Eval mode, given back
# ---------------------------------------------------------------------------

def small_net():
    return tn.nn.Sequential(tn.nn.Conv2d(3, 4, 3, padding=1), tn.nn.BatchNorm2d(4),
                            tn.nn.ReLU(), tn.nn.Dropout(0.5))


def test_evaluation_mode_restores_every_module_even_after_an_error():
    model = small_net()
    model[1].eval()                                  # a BatchNorm frozen on purpose
    before = modes(model)
    assert before == [True, True, False, True, True]
    with evaluation_mode(model) as inside:
        assert inside is model and not any(modes(model))
    assert modes(model) == before
    with pytest.raises(RuntimeError, match="boom"):
        with evaluation_mode(model):
            raise RuntimeError("boom")
    assert modes(model) == before
    model.eval()
    with evaluation_mode(model):
        pass
    assert not any(modes(model))                     # an eval model stays in eval mode
