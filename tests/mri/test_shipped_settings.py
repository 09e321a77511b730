"""The shipped models' pipeline settings (weights/pipeline.json, chosen by cross-validation):
used by predict and evaluate when no model is given and no flag overrides them, ignored with
models of one's own, and a bad file is one clear error naming it."""
import json

import numpy as np
import pytest

from tinynet.mri import cli, inference
from tinynet.mri.commands import crossval as crossval_command
from tinynet.mri.commands import evaluate, predict
from tinynet.io import CheckpointError
from commandhelpers import write_png
from mrihelpers import tiny_checkpoints


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """A $TINYNET_WEIGHTS folder with tiny classifier.npz and segmenter.npz."""
    folder = tmp_path / "weights"
    folder.mkdir()
    tiny_checkpoints(folder)             # classifier.npz and segmenter.npz
    monkeypatch.setenv("TINYNET_WEIGHTS", str(folder))
    return folder


SETTINGS = {"rule": "both", "cls_threshold": 0.05, "seg_threshold": 0.9, "min_area": 0,
            "min_component": 20}


def write_settings(folder, settings):
    (folder / "pipeline.json").write_text(json.dumps({"settings": settings,
                                                      "chosen_by": "a test"}))


def test_no_file_no_settings(weights):
    assert inference.shipped_settings() == {}


def test_the_file_is_read(weights):
    write_settings(weights, SETTINGS)
    assert inference.shipped_settings() == SETTINGS


@pytest.mark.parametrize("settings, message", [
    ({"rule": "sometimes"}, "rule 'sometimes' is not one of"),
    ({"cls_threshold": 1.5}, "cls_threshold 1.5 is not a probability"),
    ({"min_area": -1}, "min_area -1 is not a whole number"),
    ({"min_component": 2.5}, "min_component 2.5 is not a whole number"),
    ({"cls_threshold": "0.5"}, "cls_threshold '0.5' is not a probability"),
    ({"min_area": True}, "min_area True is not a whole number"),
    ({"area_size": 0}, "area_size 0 is not a whole number >= 1"),
    ({"tta": "yes"}, "tta 'yes' is not true or false"),
    ({"tta": 1}, "tta 1 is not true or false"),
])
def test_a_bad_file_names_itself(weights, settings, message):
    write_settings(weights, settings)
    with pytest.raises(CheckpointError, match=f"pipeline.json: not a pipeline settings file "
                                              f"\\({message}"):
        inference.shipped_settings()


def test_not_json_names_the_file(weights):
    (weights / "pipeline.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="pipeline.json: not a pipeline settings file"):
        inference.shipped_settings()


def parse(argv):
    return predict.build_parser().parse_args(argv)


@pytest.fixture
def slices(tmp_path):
    folder = tmp_path / "slices"
    folder.mkdir()
    write_png(folder / "a.png")
    return folder


def test_fill_takes_the_settings_only_for_flags_left_out(slices):
    args = parse([str(slices), "--out", "o", "--seg-threshold", "0.3", "--min-area", "5"])
    taken = cli.fill_pipeline_settings(args, SETTINGS)
    assert sorted(taken) == ["cls_threshold", "min_component", "rule"]
    assert (args.rule, args.cls_threshold, args.seg_threshold, args.min_area,
            args.min_component) == ("both", 0.05, 0.3, 5, 20)


def test_fill_without_settings_gives_the_defaults(slices):
    args = parse([str(slices), "--out", "o"])
    assert cli.fill_pipeline_settings(args) == []
    assert (args.rule, args.cls_threshold, args.seg_threshold, args.min_area,
            args.min_component, args.tta) == (None, None, None, 0, 0, False)


def run_predict(monkeypatch, argv):
    """predict's run() up to the predictor: the settings it was built with."""
    built = {}

    class Stop(Exception):
        pass

    def record(classifier, segmenter, **kwargs):
        built.update(kwargs)
        raise Stop

    monkeypatch.setattr(predict, "TwoStagePredictor", record)
    with pytest.raises(Stop):
        predict.run(parse(argv))
    return built


def test_predict_uses_them_with_the_shipped_models_only(weights, slices, tmp_path, monkeypatch,
                                                         capsys):
    write_settings(weights, SETTINGS)
    folder = slices
    built = run_predict(monkeypatch, [str(folder), "--out", str(tmp_path / "o1"),
                                      "--min-component", "0"])
    assert (built["rule"], built["cls_threshold"], built["seg_threshold"], built["min_area"],
            built["min_component"]) == ("both", 0.05, 0.9, 0, 0)     # the flag wins
    assert "the shipped models' settings" in capsys.readouterr().err
    own = run_predict(monkeypatch, [str(folder), "--out", str(tmp_path / "o2"), "--segmenter",
                                    str(weights / "segmenter.npz")])
    assert (own["rule"], own["seg_threshold"], own["min_area"],
            own["min_component"]) == (None, None, 0, 0)              # a model of one's own


def test_tta_from_the_file_and_the_flags_that_override_it(weights, slices, tmp_path,
                                                          monkeypatch):
    write_settings(weights, {**SETTINGS, "tta": True})
    built = run_predict(monkeypatch, [str(slices), "--out", str(tmp_path / "o1")])
    assert built["tta"] is True
    built = run_predict(monkeypatch, [str(slices), "--out", str(tmp_path / "o2"), "--no-tta"])
    assert built["tta"] is False
    write_settings(weights, SETTINGS)                                # no tta: off
    assert run_predict(monkeypatch, [str(slices), "--out", str(tmp_path / "o3")])["tta"] is False
    built = run_predict(monkeypatch, [str(slices), "--out", str(tmp_path / "o4"), "--tta"])
    assert built["tta"] is True
    write_settings(weights, {**SETTINGS, "tta": True})               # a model of one's own
    own = run_predict(monkeypatch, [str(slices), "--out", str(tmp_path / "o5"), "--segmenter",
                                    str(weights / "segmenter.npz")])
    assert own["tta"] is False


def test_evaluate_takes_tta_from_the_file(weights, monkeypatch, capsys):
    write_settings(weights, {**SETTINGS, "tta": True})
    given = {}

    class Stop(Exception):
        pass

    def record(*args, **kwargs):
        given.update(kwargs)
        raise Stop

    monkeypatch.setattr(evaluate.report, "evaluate", record)
    with pytest.raises(Stop):
        evaluate.run(evaluate.build_parser().parse_args([]))
    assert given["tta"] is True and given["rule"] == "both"
    with pytest.raises(Stop):
        evaluate.run(evaluate.build_parser().parse_args(["--no-tta"]))
    assert given["tta"] is False


def test_evaluate_and_crossval_score_parse_the_same_flags():
    args = evaluate.build_parser().parse_args([])
    assert cli.fill_pipeline_settings(args) == [] and args.min_area == 0
    assert args.tta is False
    args = crossval_command.build_parser().parse_args(["score", "runs/x"])
    assert args.min_component is None      # filled with the defaults when the step runs
    assert cli.fill_pipeline_settings(args) == [] and args.tta is False


def test_areas_chosen_at_another_size_are_scaled_to_each_slice(weights):
    classifier, segmenter = inference.load_models(str(weights / "classifier.npz"),
                                                  str(weights / "segmenter.npz"))
    scaled = inference.TwoStagePredictor(classifier, segmenter, min_area=10, min_component=5,
                                         area_size=128)
    assert scaled._pixels(10, (256, 256)) == 40 and scaled._pixels(10, (128, 128)) == 10
    assert scaled._pixels(5, (64, 64)) == 1                   # never below one pixel
    probabilities = np.zeros((256, 256), np.float32)
    probabilities[:5, :6] = 1.0                              # a 30-pixel tumour
    assert scaled._binary_mask(probabilities).sum() == 0     # under 40 pixels at 256
    plain = inference.TwoStagePredictor(classifier, segmenter, min_area=10)
    assert plain._binary_mask(probabilities).sum() == 30     # 10 pixels of this slice
    with pytest.raises(ValueError, match="area_size"):
        inference.TwoStagePredictor(classifier, segmenter, area_size=0)


def test_the_file_area_size_applies_only_to_its_own_areas(slices):
    settings = {**SETTINGS, "area_size": 128}
    args = parse([str(slices), "--out", "o"])
    cli.fill_pipeline_settings(args, settings)
    assert args.area_size == 128
    args = parse([str(slices), "--out", "o", "--min-area", "3"])
    cli.fill_pipeline_settings(args, settings)
    assert args.area_size is None and args.min_component == 20   # pixels of each slice


def test_a_rule_the_shipped_folder_cannot_follow_is_left_out(weights, slices, capsys):
    write_settings(weights, SETTINGS)
    (weights / "classifier.npz").unlink()
    args = parse([str(slices), "--out", "o"])
    args.classifier, args.segmenter = inference.resolve_checkpoints(None, None)
    taken = cli.apply_shipped_settings(args, True, weights)
    assert "rule" not in taken and args.rule is None and args.seg_threshold == 0.9
    assert str(weights / "pipeline.json") in capsys.readouterr().err
