"""tinynet.mri.report: report.evaluate (its numbers are tinynet.metrics' and
patient_metrics'; undefined ones are None; the Youden threshold; min_component), the worst
patients, the JSON without NaN, a real patient scored at its own size, the tumour sizes and a
slice viewer per patient.  Its command line, `tinynet evaluate`, is test_commands_evaluate.py."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from mrihelpers import IDENTITY, MeanClassifier, bright_segmenter, speck_slices
from tinynet import metrics
from tinynet.mri import report
from tinynet.mri.checkpoint import load_model, model_spec
from tinynet.mri.data import SliceDataset, read_kaggle3m
from tinynet.mri.inference import classify, segment
from tinynet.mri.patient_metrics import segmentation_metrics
from tinynet.mri.tumour_size import tumour_size

REAL_DATA = Path(os.environ.get("TINYNET_LGG")
                 or Path(__file__).resolve().parents[3] / "shared/data/lgg/kaggle_3m")


def test_numbers_agree_with_tinynet_metrics(folder, checkpoints):
    dataset = read_kaggle3m(folder)
    classifier = load_model(checkpoints[0], task="classification")
    segmenter = load_model(checkpoints[1], task="segmentation")
    result = report.evaluate(dataset, classifier, segmenter, seg_threshold=0.6).report

    images, true_masks = dataset.arrays()
    labels = true_masks.reshape(len(true_masks), -1).any(axis=1)
    probability = classify(*classifier, images)
    seg_masks = segment(*segmenter, images) >= 0.6
    pipeline_masks = seg_masks & (probability >= 0.5)[:, None, None]
    expected_cls = metrics.classification_metrics(labels, probability, threshold=0.5)
    expected_seg = segmentation_metrics(seg_masks, true_masks, dataset.patient_of)
    expected_pipe = segmentation_metrics(pipeline_masks, true_masks, dataset.patient_of)
    assert result["classifier"]["confusion_matrix"] == expected_cls["confusion_matrix"]
    for key in ("accuracy", "precision", "sensitivity", "specificity", "f1", "auc"):
        assert result["classifier"][key] == pytest.approx(expected_cls[key])
    for key in ("dice_per_patient_mean", "dice_per_patient_median", "iou_per_patient_mean",
                "dice_tumour_slices_mean"):
        assert result["segmenter"][key] == pytest.approx(expected_seg[key])
        assert result["pipeline"][key] == pytest.approx(expected_pipe[key])
    assert result["segmenter"]["per_patient"] == expected_seg["per_patient"]
    assert result["pipeline"]["per_patient"] == expected_pipe["per_patient"]


def test_undefined_numbers_are_none_without_tumour_slices(tmp_path, tiny_models, rng):
    # No slice has tumour: AUC (one class) and the tumour-slice Dice are undefined.
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    dataset = SliceDataset.from_arrays(images, np.zeros((3, 32, 32), np.uint8),
                                       ["TCGA_CS_0001_20000101"] * 3, ["a_1", "a_2", "a_3"])
    evaluation = report.evaluate(dataset, *tiny_models)
    report.save_json(evaluation.report, tmp_path / "r.json")
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["classifier"]["auc"] is None and result["classifier"]["roc_curve"] is None
    assert result["segmenter"]["dice_tumour_slices_mean"] is None
    assert "n/a" in report.format_table(evaluation.report)
    assert "data:image/png" in report.render_html(evaluation)


def test_worst_patients_are_the_lowest_dice_and_skip_perfect_ones():
    per_patient = {"A": {"dice": 0.9}, "B": {"dice": 0.2}, "C": {"dice": 1.0}, "D": {"dice": 0.5}}
    assert report.worst_patients({"segmenter": {"per_patient": per_patient}}, count=3) == \
        ["B", "D", "A"]
    assert report.worst_patients({"segmenter": {"per_patient": per_patient}}, count=4) == \
        ["B", "D", "A"]
    assert report.worst_patients({"classifier": {}}) == []


def test_json_has_no_nan(tmp_path):
    report.save_json({"auc": float("nan"), "x": [1.0, float("inf")]}, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == {"auc": None, "x": [1.0, None]}


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason="the LGG kaggle_3m data is not here")
def test_real_patient_is_scored_at_its_own_size(tiny_models):
    dataset = read_kaggle3m(REAL_DATA)
    patient = dataset.subset(dataset.patients[:1])
    result = report.evaluate(patient, segmenter=tiny_models[1]).report
    assert result["image_size"] == [256, 256]          # not the model's 32x32
    assert (result["patients"], result["slices"]) == (1, len(patient))
    assert result["tumour_slices"] == int(patient.has_tumour.sum())
    row = result["segmenter"]["per_patient"][dataset.patients[0]]
    assert row["true_pixels"] == sum(int(patient.mask(i).sum()) for i in range(len(patient)))


def test_tumour_sizes_in_pixels_and_a_slice_viewer_per_patient(folder, tiny_models):
    """report["tumour_size"]: per patient, tumour_size of its true and its predicted (pipeline)
    masks, in pixels; the HTML page has a viewer per patient holding all its slices (its
    behaviour in a browser: test_report_viewer.py)."""
    dataset = read_kaggle3m(folder)
    evaluation = report.evaluate(dataset, *tiny_models, cls_threshold=0.0, seg_threshold=0.5)
    sizes = evaluation.report["tumour_size"]
    assert "pixels" in sizes["units"] and list(sizes["per_patient"]) == dataset.patients
    _, true_masks = dataset.arrays()
    for pid in dataset.patients:
        indices = dataset.indices_of([pid])
        assert sizes["per_patient"][pid]["true"] == tumour_size(true_masks[indices])
        assert sizes["per_patient"][pid]["predicted"] == \
            tumour_size(evaluation.pipeline_masks[indices])
        assert sizes["per_patient"][pid]["true"]["volume_ml"] is None
    page = report.render_html(evaluation)
    assert page.count("class='viewer'") == len(dataset.patients)
    # every slice once in a viewer's frames, plus the slice each viewer opens on
    assert page.count("data:image/jpeg") == len(dataset) + len(dataset.patients)
    assert "Tumour size per patient" in page and "<script src" not in page


# ---------------------------------------------------------------------------
# The Youden threshold, min_component
# ---------------------------------------------------------------------------

#: Uniform slices seen by MeanClassifier (probability grows with the value) and their truth.
VALUES = [10, 40, 70, 100, 130, 160, 190, 220]
TUMOUR = [0, 0, 1, 0, 1, 1, 0, 1]


def youden_dataset(tumour=TUMOUR):
    images = np.stack([np.full((8, 8, 3), v, np.uint8) for v in VALUES])
    masks = np.zeros((len(VALUES), 8, 8), np.uint8)
    masks[np.array(tumour, bool), 2:5, 2:5] = 1
    patients = ["TCGA_CS_0001_20000101"] * 4 + ["TCGA_DU_0002_20000202"] * 4
    return SliceDataset.from_arrays(images, masks, patients, [f"s_{n}" for n in range(8)])


def stub_classifier():
    return MeanClassifier(), model_spec("resnet18", {}, 8, IDENTITY, 0.5)


def test_report_youden_threshold_matches_tinynet_metrics(capsys):
    """youden_threshold is metrics.youden_threshold of the slices' labels and probabilities."""
    dataset = youden_dataset()
    evaluation = report.evaluate(dataset, classifier=stub_classifier())
    section = evaluation.report["classifier"]
    probability = classify(*stub_classifier(), np.stack([dataset[i][0] for i in range(8)]))
    expected = metrics.youden_threshold(np.array(TUMOUR, bool), probability)
    assert section["youden_threshold"] == pytest.approx(expected)
    # By hand: J = tpr - fpr peaks at 0.5 for thresholds p(130) (tpr 3/4, fpr 1/4) and
    # p(70) (tpr 1, fpr 1/2); the highest of the two is returned.
    assert section["youden_threshold"] == pytest.approx(probability[VALUES.index(130)])
    table = report.format_table(evaluation.report)
    assert ("threshold with the highest sensitivity + specificity on these slices (Youden): "
            f"{expected:.6g}") in table
    assert json.loads(json.dumps(evaluation.report["classifier"]))["youden_threshold"] == \
        pytest.approx(expected)


@pytest.mark.parametrize("label", [0, 1])
def test_report_youden_threshold_is_none_with_one_class(label):
    """With only tumour (or only healthy) slices there is no Youden threshold, nor its line."""
    evaluation = report.evaluate(youden_dataset([label] * 8), classifier=stub_classifier())
    assert evaluation.report["classifier"]["youden_threshold"] is None
    assert "Youden" not in report.format_table(evaluation.report)


def test_report_evaluate_passes_min_component_to_the_masks():
    """report.evaluate(min_component=2) scores the masks without their specks."""
    images = speck_slices()
    masks = (images[..., 0] == 255).astype(np.uint8)      # the truth: every bright pixel
    dataset = SliceDataset.from_arrays(images, masks, ["TCGA_CS_0001_20000101"] * 4,
                                       [f"s_{n}" for n in range(4)])
    plain = report.evaluate(dataset, segmenter=bright_segmenter())
    cleaned = report.evaluate(dataset, segmenter=bright_segmenter(), min_component=2)
    assert plain.seg_masks.reshape(4, -1).sum(axis=1).tolist() == [13, 1, 6, 0]
    assert cleaned.seg_masks.reshape(4, -1).sum(axis=1).tolist() == [12, 0, 6, 0]
    assert cleaned.report["settings"]["min_component"] == 2
    assert plain.report["segmenter"]["dice_per_patient_mean"] == pytest.approx(1.0)
    assert cleaned.report["segmenter"]["dice_per_patient_mean"] < 1.0
