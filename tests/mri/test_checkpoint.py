"""tinynet.mri.checkpoint: model_spec / read_spec / load_model (the normalization's
slice_percentile, the width, float16 weights) and export_model (float16 storage, the training
record kept, optimizer and run state dropped).  Its command line, examples/export_model.py,
is test_export_script.py."""
import os

import numpy as np
import pytest

import tinynet as tn
from fp16_weights import half_weights, randomized_resnet
from mrihelpers import (NORMALIZATION, STATS, float_entries, mri_like, save_segmenter,
                        with_percentile)
from tinynet.io import CheckpointError, load_checkpoint, load_checkpoint_metadata, save_checkpoint
from tinynet.io.safetensors import save_safetensors
from tinynet.models import resnet18
from tinynet.mri.checkpoint import build_model, export_model, load_model, model_spec, read_spec
from tinynet.mri.inference import classify, prepare_batch, segment

BAD_PERCENTILES = [0, 150, "99", True]


# ---------------------------------------------------------------------------
# model_spec, read_spec, load_model
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("percentile", [0, 150, "99", True])
def test_model_spec_refuses_a_bad_slice_percentile(percentile):
    """model_spec refuses 0, 150, "99", True with a CheckpointError naming slice_percentile."""
    with pytest.raises(CheckpointError, match="slice_percentile"):
        model_spec("resnet18", {"num_classes": 2}, 64, with_percentile(STATS, percentile))


@pytest.mark.parametrize("percentile", BAD_PERCENTILES)
def test_read_spec_refuses_a_stored_bad_slice_percentile(tmp_path, percentile):
    """A checkpoint whose stored spec has a bad slice_percentile is refused on reading."""
    spec = model_spec("resunet", {"base": 4, "depth": 2}, 32, STATS)
    spec["normalization"]["slice_percentile"] = percentile    # as a hand-edited file would
    path = tmp_path / "bad.npz"
    save_checkpoint(path, model=tn.models.ResUNet(base=4, depth=2), metadata={"model": spec})
    with pytest.raises(CheckpointError, match="slice_percentile"):
        read_spec(path)
    with pytest.raises(CheckpointError, match="slice_percentile"):
        load_model(path)


def test_pipeline_checkpoint_round_trips_slice_percentile_and_width(tmp_path, rng):
    """slice_percentile and width survive model_spec -> save -> read_spec / load_model."""
    arch_args = {"num_classes": 2, "width": 8}
    model = resnet18(**arch_args).eval()
    spec = model_spec("resnet18", arch_args, 64, with_percentile(STATS, 99))
    assert spec["normalization"]["slice_percentile"] == 99.0
    path = tmp_path / "classifier.npz"
    save_checkpoint(path, model=model, metadata={"model": spec})
    assert read_spec(path) == spec
    loaded, loaded_spec = load_model(path, task="classification")
    assert loaded_spec == spec
    assert loaded.conv1.weight.shape == (8, 3, 7, 7) and loaded.fc.weight.shape == (2, 64)
    x = prepare_batch(list(mri_like(rng, n=2, size=64)), loaded_spec)
    with tn.no_grad():
        np.testing.assert_array_equal(loaded(tn.tensor(x)).data, model(tn.tensor(x)).data)


def test_model_spec_without_slice_percentile_has_no_key():
    """Dataset scaling keeps the old normalization dict: mean and std only."""
    spec = model_spec("resnet18", {"num_classes": 2}, 64, STATS)
    assert set(spec["normalization"]) == {"mean", "std"}


def test_float16_weights_load_as_float32(tmp_path):
    """fp16 weights (state dict, .safetensors, pipeline .npz) give float32(fp16) parameters."""
    source = randomized_resnet()
    half = half_weights(source)
    save_safetensors(tmp_path / "w.safetensors",
                     {k: v for k, v in half.items() if v.dtype == np.float16})
    spec = model_spec("resnet18", {"num_classes": 2, "width": 8}, 64, STATS)
    save_checkpoint(tmp_path / "w.npz", model=half, metadata={"model": spec})
    models = [resnet18(num_classes=2, width=8),
              resnet18(num_classes=2, width=8, weights=tmp_path / "w.safetensors"),
              load_model(tmp_path / "w.npz")[0]]
    models[0].load_state_dict(half)
    for model in models:
        for name, param in model.named_parameters():
            assert param.data.dtype == np.float32, name
            np.testing.assert_array_equal(param.data, half[name].astype(np.float32))
        for name, buffer in model.named_buffers():
            if name.endswith("running_var"):
                assert buffer.data.dtype == np.float32
                np.testing.assert_array_equal(buffer.data, half[name].astype(np.float32))


# ---------------------------------------------------------------------------
# export_model
# ---------------------------------------------------------------------------

def rounded_model(path, task):
    """The model of ``path`` with its floating-point weights rounded through float16."""
    model, spec = load_model(path, task=task)
    state = {k: (v.astype(np.float16).astype(np.float32) if v.dtype.kind == "f" else v)
             for k, v in load_checkpoint(path)["model"].items()}
    model.load_state_dict(state, strict=True)
    return model.eval(), spec


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
