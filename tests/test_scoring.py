"""tinynet.mri.scoring: one tumour probability for validation, inference and the report, and
the eval-mode helper that gives a model back its train/eval state."""
import numpy as np
import pytest
from scipy.special import expit

import tinynet as tn
from tinynet import metrics
from tinynet.mri import report
from tinynet.mri.data import BatchLoader, channel_stats, make_phantom
from tinynet.mri.inference import classify
from tinynet.mri.scoring import evaluation_mode, pixel_probabilities, tumour_probability
from tinynet.mri.validate import validate_classifier, validate_segmenter


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


def modes(model):
    return [m.training for m in model.modules()]


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


class MeanIntensityClassifier(tn.nn.Module):
    """Logits (0, 40 m + 24), m the mean of the normalized FLAIR channel: on the phantom
    the tumour logit gaps run from about 14 to 35, where a float32 softmax rounds
    many slices to exactly 1.0 and float64 keeps them apart."""

    def __init__(self):
        super().__init__()
        self.norm = tn.nn.BatchNorm2d(3)             # so that the train/eval mode matters
        self.head = tn.nn.Linear(3, 2)
        self.head.load_state_dict({"weight": np.array([[0, 0, 0], [0, 40, 0]], np.float32),
                                   "bias": np.array([0, 24], np.float32)})

    def forward(self, x):
        return self.head(self.norm(x).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def phantom():
    dataset = make_phantom(n_patients=4, slices_per_patient=8, size=16, seed=1)
    return dataset, channel_stats(dataset, np.arange(len(dataset)))


def loader_of(phantom, batch_size=16):
    dataset, stats = phantom
    return BatchLoader(dataset, np.arange(len(dataset)), batch_size, shuffle=False,
                       normalization=stats, prefetch=0)


def test_validation_auc_is_the_report_auc_on_the_same_slices_and_model(phantom):
    dataset, stats = phantom
    model = MeanIntensityClassifier()
    spec = {"task": "classification", "arch": "mean_intensity", "arch_args": {},
            "input_size": 16, "normalization": stats, "threshold": 0.5}
    scores, predictions = validate_classifier(model, loader_of(phantom))
    evaluation = report.evaluate(dataset, classifier=(model, spec))
    assert predictions["scores"].dtype == np.float64
    np.testing.assert_array_equal(predictions["scores"], evaluation.cls_probability)
    np.testing.assert_array_equal(predictions["scores"],
                                  classify(model, spec, dataset.arrays()[0]))
    assert scores["val_auc"] == evaluation.report["classifier"]["auc"]
    # The float32 softmax column that validation used to score ties the confident slices
    # at 1.0 and gives another AUC: the test would catch a return to it.
    with tn.no_grad():
        logits = model.eval()(tn.tensor(next(iter(loader_of(phantom, 64))).images))
    softmax32 = tn.ops.softmax(logits, dim=1).numpy()[:, 1]
    assert softmax32.dtype == np.float32 and (softmax32 == 1.0).sum() > 1
    assert metrics.roc_auc(predictions["labels"], softmax32) != scores["val_auc"]


def test_validation_gives_the_model_back_in_its_mode(phantom):
    classifier = MeanIntensityClassifier()
    validate_classifier(classifier, loader_of(phantom), criterion=tn.ops.cross_entropy)
    assert all(modes(classifier))                    # still training, as it came
    classifier.norm.eval()
    validate_classifier(classifier, loader_of(phantom))
    assert modes(classifier) == [True, False, True]

    segmenter = tn.nn.Sequential(tn.nn.Conv2d(3, 1, 3, padding=1), tn.nn.BatchNorm2d(1))
    metrics_, predictions = validate_segmenter(segmenter, loader_of(phantom),
                                               phantom[0].patient_of)
    assert all(modes(segmenter))
    assert predictions["probabilities"].dtype == np.float32
    assert 0.0 <= metrics_["val_dice"] <= 1.0


def test_validation_gives_the_mode_back_when_it_fails(phantom):
    model = MeanIntensityClassifier()

    def failing_loss(logits, labels):
        raise FloatingPointError("bad loss")

    with pytest.raises(FloatingPointError, match="bad loss"):
        validate_classifier(model, loader_of(phantom), criterion=failing_loss)
    assert all(modes(model))
