"""tinynet/mri/weights/, the trained models shipped in the package: they fit the budget, carry
their cards, load as the scripts' defaults, and make a sane prediction on real slices."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinynet import metrics
from tinynet.mri.data import read_slice
from tinynet.io import load_checkpoint, load_checkpoint_metadata
from tinynet.mri.checkpoint import load_model, read_spec
from tinynet.mri.inference import (SHIPPED_WEIGHTS, TwoStagePredictor, default_checkpoint,
                                   shipped_settings)

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "tinynet" / "mri" / "weights"
REAL_DATA = Path(os.environ.get("TINYNET_LGG")
                 or ROOT.parent / "shared/data/lgg/kaggle_3m")
needs_real_data = pytest.mark.skipif(not REAL_DATA.is_dir(),
                                     reason=f"no LGG data at {REAL_DATA}")

#: A patient of ../shared's 56. The shipped models trained on all of them (--val-fraction 0),
#: so the tests on it check that the models load and work end to end on real slices, not
#: how well they generalise (their cards give the cross-validated numbers).
PATIENT = "TCGA_HT_8111_19980330"
BUDGET_BYTES = 25_000_000


@pytest.fixture(autouse=True)
def repository_weights(monkeypatch):
    monkeypatch.delenv("TINYNET_WEIGHTS", raising=False)


def test_weights_fit_the_budget():
    """All shipped weight files together stay within 25 MB."""
    files = sorted(WEIGHTS.glob("*.npz"))
    assert {f.name for f in files} == set(SHIPPED_WEIGHTS.values())
    assert sum(f.stat().st_size for f in files) <= BUDGET_BYTES


@pytest.mark.parametrize("task", sorted(SHIPPED_WEIGHTS))
def test_each_model_has_a_card_with_its_recipe(task):
    """Every weights file has a markdown card naming its training command and metrics."""
    card = (WEIGHTS / SHIPPED_WEIGHTS[task]).with_suffix(".md")
    text = card.read_text()
    script = "train_classifier.py" if task == "classification" else "train_resunet.py"
    assert f"python examples/{script}" in text and "--val-fraction 0" in text
    # the recipe was chosen by cross-validation, and the card says how
    assert "python -m tinynet crossval train" in text
    assert "python -m tinynet crossval tune" in text


@pytest.mark.parametrize("task", sorted(SHIPPED_WEIGHTS))
def test_shipped_weights_are_the_defaults_and_load(task):
    """default_checkpoint finds the file, it is float16 on disk and loads as float32."""
    path = default_checkpoint(task)
    assert path is not None and Path(path) == WEIGHTS / SHIPPED_WEIGHTS[task]
    spec = read_spec(path)
    assert spec["task"] == task
    stored = load_checkpoint(path)
    assert stored["optimizer"] is None            # weights only, not a resumable run
    assert {a.dtype for a in stored["model"].values() if a.dtype.kind == "f"} == \
        {np.dtype(np.float16)}
    model, _ = load_model(path, task=task)
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float32)}
    # the final models: every patient trained (no validation), the recipe of the cards; an
    # ensemble (the segmenter) records each member's training, seeds apart
    trained = load_checkpoint_metadata(path)["metadata"]["trained"]
    members = trained if isinstance(trained, list) else [trained]
    card = (WEIGHTS / SHIPPED_WEIGHTS[task]).with_suffix(".md").read_text()
    for record in members:
        config = record["config"]
        assert config["val_fraction"] == 0 and config["intensity"] == "volume"
        assert f"--epochs {config['epochs']}" in card and f"--seed {config['seed']}" in card
    assert len({record["config"]["seed"] for record in members}) == len(members)


def test_the_pipeline_settings_ship_with_the_models():
    """weights/pipeline.json (from `tinynet crossval tune`) is there and reads as settings
    for every stage: the rule, both thresholds, the areas and the side they were counted
    at, and test-time augmentation (off: it did not help in the cross-validation)."""
    settings = shipped_settings()
    assert set(settings) == {"rule", "cls_threshold", "seg_threshold", "min_area",
                             "min_component", "area_size", "tta"}
    assert settings["tta"] is False
    record = json.loads((WEIGHTS / "pipeline.json").read_text())
    assert "crossval tune" in record["chosen_by"]


def patient_slices(patient):
    """The slice files (in slice order), images (N, 256, 256, 3) uint8 and masks
    (N, 256, 256) 0/1 of one patient."""
    folder = REAL_DATA / patient
    numbers = sorted(int(p.stem.rsplit("_", 1)[1]) for p in folder.glob(f"{patient}_*.tif")
                     if not p.stem.endswith("_mask"))
    files = [folder / f"{patient}_{n}.tif" for n in numbers]
    images = np.stack([read_slice(path) for path in files])
    masks = np.stack([read_slice(folder / f"{patient}_{n}_mask.tif")[..., 0] > 127
                      for n in numbers]).astype(np.uint8)
    return files, images, masks


@needs_real_data
def test_shipped_models_on_a_real_patient():
    """With their pipeline settings the two stages find the tumour slices and outline it."""
    _, images, masks = patient_slices(PATIENT)
    has_tumour = masks.reshape(len(masks), -1).any(axis=1)
    predictor = TwoStagePredictor(load_model(default_checkpoint("classification")),
                                  load_model(default_checkpoint("segmentation")),
                                  **shipped_settings())
    result = predictor(images)
    # The call on each slice: most slices right, and the biggest tumour found.
    assert np.mean(result.positive == has_tumour) >= 0.8
    biggest = int(np.argmax(masks.reshape(len(masks), -1).sum(axis=1)))
    assert result.positive[biggest]
    assert metrics.dice_score(result.masks[biggest], masks[biggest]) >= 0.7
    # The patient as one volume: a real overlap, not an empty or a flooded mask.
    assert metrics.dice_score(result.masks, masks) >= 0.6


@needs_real_data
def test_predict_script_with_the_shipped_weights(tmp_path):
    """`python examples/predict.py SLICE --out DIR` with no model runs on a real slice."""
    files, _, masks = patient_slices(PATIENT)
    biggest = int(np.argmax(masks.reshape(len(masks), -1).sum(axis=1)))
    scan = files[biggest]
    env = {k: v for k, v in os.environ.items() if k != "TINYNET_WEIGHTS"}
    done = subprocess.run([sys.executable, str(ROOT / "examples/predict.py"), str(scan),
                           "--out", str(tmp_path / "pred")], capture_output=True, text=True,
                          env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "using the shipped weights" in done.stderr
    mask = read_slice(tmp_path / "pred" / f"{scan.stem}_pred_mask.png")[..., 0] > 127
    assert metrics.dice_score(mask.astype(np.uint8), masks[biggest]) >= 0.7
