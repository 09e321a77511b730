"""tinynet.mri.validate: validate_classifier / validate_segmenter score with the one tumour
probability of tinynet.mri.scoring (the AUC of validation is the report's) and give the
model back in the train/eval mode it came in, even when they fail."""
import numpy as np
import pytest

import tinynet as tn
from mrihelpers import modes
from tinynet import metrics
from tinynet.mri import report
from tinynet.mri.data import BatchLoader, channel_stats, make_phantom
from tinynet.mri.inference import classify
from tinynet.mri.validate import validate_classifier, validate_segmenter


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
