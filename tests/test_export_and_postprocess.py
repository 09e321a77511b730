"""Exported checkpoints, the shipped weights, small-component removal and the Youden threshold.

tinynet.mri.checkpoint.export_model and examples/export_model.py;
default_checkpoint/load_models with $TINYNET_WEIGHTS (always a tmp folder here:
the repository's weights/ must not leak into the tests); remove_small_components
and TwoStagePredictor(min_component=); the "youden_threshold" of the evaluation
report and evaluate.py --min-component.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinynet as tn
import test_predict
from test_inference import (BrightSegmenter, IDENTITY, MeanClassifier, NORMALIZATION,  # noqa: F401
                            tiny_checkpoint_files, write_kaggle3m)
from tinynet import metrics
from tinynet.mri.data import SliceDataset
from tinynet.io import CheckpointError, load_checkpoint, load_checkpoint_metadata
from tinynet.mri import cli, report
from tinynet.mri.checkpoint import (build_model, export_model, load_model, model_spec,
                                         read_spec)
from tinynet.mri.inference import (TwoStagePredictor, classify, default_checkpoint,
                                        load_models, predict_slices, remove_small_components,
                                        segment)

REPO = Path(__file__).resolve().parents[1]
export_script = test_predict.load_script("export_model")
predict = test_predict.predict
evaluate_script = test_predict.load_script("evaluate")
write_png = test_predict.write_png
expect_exit_2 = test_predict.expect_exit_2

#: A ResUNet big enough (about 150k weights) that the per-entry overhead of the npz is small.
MEDIUM_RESUNET = {"base": 16, "depth": 3}


@pytest.fixture
def checkpoints(tiny_checkpoint_files):
    return tiny_checkpoint_files


@pytest.fixture(autouse=True)
def _no_repository_weights(tmp_path, monkeypatch):
    """Every test sees an empty TINYNET_WEIGHTS folder unless it points it elsewhere."""
    empty = tmp_path / "no_weights"
    empty.mkdir()
    monkeypatch.setenv("TINYNET_WEIGHTS", str(empty))


def save_segmenter(path, arch_args=MEDIUM_RESUNET, threshold=0.5, epoch=None, **metadata):
    """An untrained ResUNet saved as a pipeline checkpoint with extra ``metadata``
    (as run.py writes best.npz: ``epoch`` and {"model", "metrics", "config"})."""
    model = build_model("resunet", arch_args)
    spec = model_spec("resunet", arch_args, 32, NORMALIZATION, threshold)
    tn.io.save_checkpoint(path, model=model, epoch=epoch, metadata={"model": spec, **metadata})
    return str(path), spec


def float_entries(path):
    return {k: v for k, v in load_checkpoint(path)["model"].items() if v.dtype.kind == "f"}


def rounded_model(path, task):
    """The model of ``path`` with its floating-point weights rounded through float16."""
    model, spec = load_model(path, task=task)
    state = {k: (v.astype(np.float16).astype(np.float32) if v.dtype.kind == "f" else v)
             for k, v in load_checkpoint(path)["model"].items()}
    model.load_state_dict(state, strict=True)
    return model.eval(), spec


def run_export(argv):
    """examples/export_model.py as its command line runs it (cli.run_main around main)."""
    return cli.run_main(export_script.main, argv)


# ---------------------------------------------------------------------------
# export_model
# ---------------------------------------------------------------------------

def test_float16_export_is_about_half_the_bytes_of_float32(tmp_path):
    """A float16 export is 2 bytes per weight smaller than the float32 one: about half its size."""
    source, _ = save_segmenter(tmp_path / "best.npz")
    half = export_model(source, tmp_path / "half.npz")
    full = export_model(source, tmp_path / "full.npz", dtype=np.float32)
    n_floats = sum(v.size for v in float_entries(source).values())
    size_half, size_full = os.path.getsize(half), os.path.getsize(full)
    assert size_full - size_half == pytest.approx(2 * n_floats, abs=256)
    assert 0.5 < size_half / size_full < 0.55
    assert {v.dtype for v in float_entries(half).values()} == {np.dtype(np.float16)}
    assert {v.dtype for v in float_entries(full).values()} == {np.dtype(np.float32)}


def test_float16_export_stores_the_rounded_weights_and_segments_like_the_original(tmp_path, rng):
    """A float16 export loads the float16-rounded weights and segments within that rounding."""
    source, spec = save_segmenter(tmp_path / "best.npz")
    exported = export_model(source, tmp_path / "seg16.npz")
    original = float_entries(source)
    for key, value in float_entries(exported).items():
        np.testing.assert_array_equal(value, original[key].astype(np.float16))
    model, exported_spec = load_model(exported, task="segmentation")
    assert exported_spec == spec
    assert all(p.numpy().dtype == np.float32 for p in model.parameters())

    images = rng.integers(0, 256, (3, 40, 36, 3), dtype=np.uint8)
    reference = segment(*load_model(source), images)
    got = segment(model, exported_spec, images)
    # Exactly what the original network computes with its weights rounded to float16 ...
    np.testing.assert_allclose(got, segment(*rounded_model(source, "segmentation"), images),
                               atol=1e-6)
    # ... which is close to, but not bit-identical with, the float32 original.
    np.testing.assert_allclose(got, reference, atol=2e-2)
    assert np.abs(got - reference).max() > 0
    # A float32 export changes nothing.
    full = export_model(source, tmp_path / "seg32.npz", dtype=np.float32)
    np.testing.assert_array_equal(segment(*load_model(full), images), reference)


def test_float16_export_of_a_classifier_classifies_within_rounding(tmp_path, checkpoints, rng):
    """The float16 export of the ResNet-18 classifier gives the rounded model's probabilities."""
    cls_path, _ = checkpoints
    exported = export_model(cls_path, tmp_path / "cls16.npz")
    images = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    got = classify(*load_model(exported, task="classification"), images)
    np.testing.assert_allclose(got, classify(*rounded_model(cls_path, "classification"), images),
                               atol=1e-6)
    np.testing.assert_allclose(got, classify(*load_model(cls_path), images), atol=2e-2)


def test_cli_threshold_replaces_the_spec_threshold(tmp_path, capsys):
    """--threshold 0.3 is stored in the exported spec, the rest of the spec is unchanged."""
    source, spec = save_segmenter(tmp_path / "best.npz", arch_args={"base": 4, "depth": 2})
    out = tmp_path / "segmenter.npz"
    assert run_export([source, str(out), "--threshold", "0.3"]) == 0
    exported = read_spec(out)
    assert exported["threshold"] == 0.3
    assert {k: v for k, v in exported.items() if k != "threshold"} == \
        {k: v for k, v in spec.items() if k != "threshold"}
    printed = capsys.readouterr().out
    assert str(out) in printed and "threshold 0.3" in printed and "float16" in printed
    assert load_checkpoint_metadata(out)["metadata"]["storage"] == "float16"
    # Without --threshold the checkpoint's own is kept; --float32 keeps float32 weights.
    assert run_export([source, str(tmp_path / "same.npz"), "--float32"]) == 0
    assert read_spec(tmp_path / "same.npz")["threshold"] == spec["threshold"] == 0.5
    assert load_checkpoint_metadata(tmp_path / "same.npz")["metadata"]["storage"] == "float32"
    assert {v.dtype for v in float_entries(tmp_path / "same.npz").values()} == \
        {np.dtype(np.float32)}


def test_cli_creates_the_folder_of_the_output(tmp_path):
    """Exporting to weights/segmenter.npz where weights/ does not exist yet makes the folder."""
    source, _ = save_segmenter(tmp_path / "best.npz", arch_args={"base": 4, "depth": 2})
    out = tmp_path / "weights" / "segmenter.npz"
    assert run_export([source, str(out)]) == 0
    assert read_spec(out)["task"] == "segmentation"


def test_cli_refuses_a_threshold_outside_0_1(tmp_path, capsys):
    """--threshold 1.5 exits with code 2 and one line, writing nothing."""
    source, _ = save_segmenter(tmp_path / "best.npz", arch_args={"base": 4, "depth": 2})
    expect_exit_2(capsys, [source, str(tmp_path / "out.npz"), "--threshold", "1.5"],
                  "must be in [0, 1], got 1.5", script=export_script)
    assert not (tmp_path / "out.npz").exists()
    with pytest.raises(CheckpointError, match="threshold 1.5 is not a probability"):
        export_model(source, tmp_path / "out.npz", threshold=1.5)
    assert not (tmp_path / "out.npz").exists()


def test_export_of_a_best_npz_keeps_its_training_record(tmp_path):
    """The metadata of an export of a best.npz keeps its epoch, config and metrics."""
    config = {"epochs": 30, "lr": 0.001, "batch_size": 8, "image_size": 32}
    record = {"epoch": 7, "val_dice": 0.81, "train_loss": 0.12}
    source, spec = save_segmenter(tmp_path / "best.npz", arch_args={"base": 4, "depth": 2},
                                  epoch=7, metrics=record, config=config)
    exported = export_model(source, tmp_path / "exported.npz")
    header = load_checkpoint_metadata(exported)
    assert header["epoch"] == 7
    assert header["metadata"] == {"model": spec, "storage": "float16",
                                  "trained": {"epoch": 7, "config": config, "metrics": record}}


def test_export_of_a_last_npz_has_no_optimizer_or_resume_state(tmp_path):
    """A last.npz exports without optimizer entries or run state, its config kept from the run."""
    config = {"epochs": 5, "lr": 0.01}
    model = build_model("resunet", {"base": 4, "depth": 2})
    spec = model_spec("resunet", {"base": 4, "depth": 2}, 32, NORMALIZATION)
    first = next(iter(model.state_dict()))
    optimizer = {"state": {0: {"exp_avg": np.ones(5, np.float32), "step": 3}},
                 "param_groups": [{"lr": 0.01, "params": [0]}]}
    tn.io.save_checkpoint(tmp_path / "last.npz", model=model, optimizer=optimizer, epoch=4,
                          metadata={"model": spec, "run": {"config": config, "epoch": 4,
                                                           "step": 40}})
    assert load_checkpoint(tmp_path / "last.npz")["optimizer"] is not None   # the source has one
    exported = export_model(tmp_path / "last.npz", tmp_path / "exported.npz")
    loaded = load_checkpoint(exported)
    assert loaded["optimizer"] is None and loaded["extra"] == {}
    assert "run" not in loaded["metadata"]
    assert loaded["metadata"]["trained"] == {"epoch": 4, "config": config, "metrics": None}
    with np.load(exported, allow_pickle=False) as npz:
        assert not [name for name in npz.files if name.startswith("optim/")]
        assert "model/" + first in npz.files


def test_export_of_a_checkpoint_without_a_spec_names_the_file(tmp_path, capsys):
    """A plain tn.io checkpoint (no model spec): CheckpointError naming it; exit 2 in the CLI."""
    plain = tmp_path / "plain.npz"
    tn.io.save_checkpoint(plain, model=tn.nn.Linear(3, 2))
    with pytest.raises(CheckpointError, match="not one of the MRI pipeline") as error:
        export_model(plain, tmp_path / "out.npz")
    assert str(plain) in str(error.value)
    assert not (tmp_path / "out.npz").exists()
    with pytest.raises(SystemExit) as exit_info:
        run_export([str(plain), str(tmp_path / "out.npz")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert str(plain) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_script_from_the_command_line_reports_a_bad_checkpoint_in_one_line(tmp_path):
    """export_model.py on a checkpoint without a spec: exit 2, one line, no traceback."""
    plain = tmp_path / "plain.npz"
    tn.io.save_checkpoint(plain, model=tn.nn.Linear(3, 2))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(REPO / "examples" / "export_model.py"),
                           str(plain), str(tmp_path / "out.npz")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2
    assert str(plain) in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_missing_input_is_exit_2_naming_the_path(tmp_path, capsys):
    """A checkpoint path that does not exist is exit 2 with the path in the message."""
    missing = tmp_path / "runs" / "best.npz"
    expect_exit_2(capsys, [str(missing), str(tmp_path / "out.npz")],
                  f"no such file or folder: {missing}", script=export_script)
    assert not (tmp_path / "out.npz").exists()


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


def test_predict_without_models_uses_the_shipped_weights(tmp_path, monkeypatch, checkpoints,
                                                        capsys):
    """predict.py with no --classifier/--segmenter runs the shipped pair (Grad-CAM included)."""
    cls_path, seg_path = checkpoints
    weights = tmp_path / "weights"
    weights.mkdir()
    os.symlink(cls_path, weights / "classifier.npz")
    os.symlink(seg_path, weights / "segmenter.npz")
    monkeypatch.setenv("TINYNET_WEIGHTS", str(weights))
    image = write_png(tmp_path / "slice.png")
    out = tmp_path / "out"
    assert predict.main([str(tmp_path / "slice.png"), "--out", str(out), "--gradcam"]) == 0
    err = capsys.readouterr().err
    assert ("no model given: using the shipped weights "
            f"{weights / 'classifier.npz'}, {weights / 'segmenter.npz'}") in err

    summary = json.loads((out / "summary.json").read_text())
    (record,) = summary["slices"]
    assert summary["cls_threshold"] == 0.5 and summary["seg_threshold"] == 0.5
    # the summary names the files that ran, not the flags' None
    assert summary["classifier"] == str(weights / "classifier.npz")
    assert summary["segmenter"] == str(weights / "segmenter.npz")
    expected = classify(*load_model(cls_path), image[None])[0]
    assert record["tumour_probability"] == pytest.approx(expected, abs=1e-6)
    mask = test_predict.read_png(out / "slice_pred_mask.png")
    assert record["tumour_area_pixels"] == int((mask == 255).sum())
    assert test_predict.read_png(out / "slice_gradcam.png").shape == image.shape


def test_gradcam_with_only_a_shipped_segmenter_is_refused(tmp_path, monkeypatch, checkpoints,
                                                         capsys):
    """--gradcam with no model given and no shipped classifier: exit 2 asking for --classifier."""
    monkeypatch.setenv("TINYNET_WEIGHTS", str(tmp_path))
    os.symlink(checkpoints[1], tmp_path / "segmenter.npz")
    write_png(tmp_path / "slice.png")
    expect_exit_2(capsys, [str(tmp_path / "slice.png"), "--out", str(tmp_path / "o"),
                           "--gradcam"], "--gradcam explains the classifier's decision")


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

def speck_slices():
    """16x16 slices for BrightSegmenter (bright = tumour):
    0: a 3x4 patch and a lone speck; 1: only a lone speck; 2: a 2x3 patch; 3: nothing."""
    images = np.zeros((4, 16, 16, 3), np.uint8)
    images[0, 2:5, 2:6] = 255
    images[0, 12, 12] = 255
    images[1, 8, 8] = 255
    images[2, 10:12, 3:6] = 255
    return images


def bright_segmenter():
    spec = model_spec("resunet", {}, 16, IDENTITY, 0.5)
    return BrightSegmenter(), spec


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


def test_predict_script_passes_min_component(tmp_path, checkpoints, capsys):
    """predict.py --min-component lands in summary.json; a negative value is exit 2."""
    write_png(tmp_path / "slice.png")
    assert predict.main([str(tmp_path / "slice.png"), "--out", str(tmp_path / "out"),
                         "--segmenter", checkpoints[1], "--min-component", "4"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["min_component"] == 4
    expect_exit_2(capsys, [str(tmp_path / "slice.png"), "--out", str(tmp_path / "o"),
                           "--segmenter", checkpoints[1], "--min-component", "-1"],
                  "must be >= 0, got -1")


# ---------------------------------------------------------------------------
# The Youden threshold of the evaluation report, evaluate.py --min-component
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


def test_evaluate_script_accepts_min_component(tmp_path, checkpoints, capsys):
    """evaluate.py --min-component N is in the JSON report's settings; -1 is exit 2."""
    write_kaggle3m(tmp_path / "kaggle_3m", patients=("TCGA_CS_0001_20000101",), slices=2)
    code = evaluate_script.main([str(tmp_path / "kaggle_3m"), "--segmenter", checkpoints[1],
                                 "--min-component", "6", "--json", str(tmp_path / "r.json")])
    assert code == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["settings"]["min_component"] == 6 and result["settings"]["min_area"] == 0
    capsys.readouterr()
    test_predict.expect_exit_2(capsys, [str(tmp_path / "kaggle_3m"), "--segmenter",
                                        checkpoints[1], "--min-component", "-1"],
                               "must be >= 0, got -1", script=evaluate_script)


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


def test_export_cuts_the_training_machines_folders_from_the_record(tmp_path):
    """Absolute paths in the training settings become file names; relative ones stay."""
    source, _ = save_segmenter(tmp_path / "best.npz", arch_args={"base": 4, "depth": 2})
    checkpoint = load_checkpoint(source)
    metadata = dict(checkpoint["metadata"])
    metadata["config"] = {"data": str(tmp_path / "data" / "lgg128.npz"),
                          "out": str(tmp_path / "runs" / "seg"),
                          "split": "splits/lgg56_seed0.json", "epochs": 3}
    tn.io.save_checkpoint(tmp_path / "with_paths.npz", checkpoint["model"], metadata=metadata)
    export_model(tmp_path / "with_paths.npz", tmp_path / "out.npz")
    config = load_checkpoint_metadata(tmp_path / "out.npz")["metadata"]["trained"]["config"]
    assert config == {"data": "lgg128.npz", "out": "seg", "split": "splits/lgg56_seed0.json",
                      "epochs": 3}
