"""Ensembles (tinynet/mri/ensemble.py, checkpoint.export_ensemble, the registry's
"segmentation_ensemble" and "classification_ensemble"): the mean of the members'
probabilities, returned as logits, saved and loaded as one checkpoint.

The cross-validation step ``crossval ensemble`` is tested in test_crossval.py, on its runs.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinynet as tn
from mrihelpers import NORMALIZATION
from tinynet.io import CheckpointError, load_checkpoint, save_checkpoint
from tinynet.mri.architectures import ENSEMBLES, architecture_names, build_model
from tinynet.mri.checkpoint import export_ensemble, load_model, model_spec, read_spec
from tinynet.mri.ensemble import Ensemble, log_mean_softmax, logit_mean_sigmoid
from tinynet.mri.gradcam import grad_cam
from tinynet.mri.inference import TwoStagePredictor, classify, segment

REPO = Path(__file__).resolve().parents[2]
SEGMENTER = ("resunet", {"base": 4, "depth": 2}, 32)
CLASSIFIER = ("resnet18", {"num_classes": 2, "width": 8}, 32)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------
# The arithmetic: logits of the mean probability
# ---------------------------------------------------------------------------

def test_the_segmenters_logit_is_that_of_the_mean_probability(rng):
    logits = rng.normal(0, 4, size=(3, 2, 1, 5, 5))
    combined = logit_mean_sigmoid(tn.tensor(logits)).numpy()
    assert combined.shape == (2, 1, 5, 5)
    np.testing.assert_allclose(sigmoid(combined), sigmoid(logits).mean(axis=0), rtol=1e-12)


def test_the_classifiers_log_probabilities_are_those_of_the_mean(rng):
    logits = rng.normal(0, 3, size=(4, 6, 2))
    combined = log_mean_softmax(tn.tensor(logits)).numpy()
    np.testing.assert_allclose(np.exp(combined), softmax(logits).mean(axis=0), rtol=1e-12)
    # what the pipeline reads from it: softmax(l)[1] = sigmoid(l1 - l0)
    np.testing.assert_allclose(sigmoid(combined[:, 1] - combined[:, 0]),
                               softmax(logits).mean(axis=0)[:, 1], rtol=1e-12)


def test_one_member_gives_its_own_logits_back(rng):
    logits = rng.normal(0, 5, size=(1, 3, 1, 4, 4))
    np.testing.assert_allclose(logit_mean_sigmoid(tn.tensor(logits)).numpy(), logits[0],
                               rtol=1e-10, atol=1e-12)


def test_certain_members_give_finite_logits_in_float32():
    """sigmoid(40) rounds to 1 in float32, so a mean computed from p would give log(0)."""
    logits = np.array([[40.0, -40.0, 200.0, -200.0], [40.0, -40.0, 200.0, 0.0]], np.float32)
    with np.errstate(divide="raise", over="raise", invalid="raise"):   # underflow is fine
        combined = logit_mean_sigmoid(tn.tensor(logits)).numpy()
    np.testing.assert_allclose(combined[:3], [40.0, -40.0, 200.0], rtol=1e-6)
    # p = (sigmoid(-200) + sigmoid(0)) / 2 = 1/4: logit log(1/3)
    assert combined[3] == pytest.approx(np.log(1 / 3), abs=1e-6)


def test_gradients_flow_through_an_ensemble_float64(rng):
    logits = tn.tensor(rng.normal(0, 2, size=(3, 2, 1, 2, 2)), requires_grad=True)
    assert tn.gradcheck(logit_mean_sigmoid, [logits])
    logits = tn.tensor(rng.normal(0, 2, size=(2, 3, 2)), requires_grad=True)
    assert tn.gradcheck(log_mean_softmax, [logits])


def test_an_ensemble_module_averages_its_members_probabilities(rng):
    tn.manual_seed(0)
    arch, args, _ = SEGMENTER
    members = [build_model(arch, args) for _ in range(3)]
    ensemble = Ensemble(members, "segmentation")
    assert all(m.training for m in members)
    ensemble.eval()                                 # reaches the members (batch norm)
    assert not any(m.training for m in members)
    x = tn.tensor(rng.normal(size=(2, 3, 16, 16)).astype(np.float32))
    with tn.no_grad():
        expected = np.mean([sigmoid(m(x).numpy().astype(np.float64)) for m in members], axis=0)
        got = sigmoid(ensemble(x).numpy().astype(np.float64))
    np.testing.assert_allclose(got, expected, atol=1e-6)
    keys = ensemble.state_dict()
    for k, member in enumerate(members):
        assert {f"members.{k}.{key}" for key in member.state_dict()} <= set(keys)


def test_bad_ensembles_are_refused():
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([], "segmentation")
    with pytest.raises(ValueError, match="task must be"):
        Ensemble([build_model(*SEGMENTER[:2])], "detection")
    with pytest.raises(ValueError, match="cannot hold 'resunet'"):
        build_model("classification_ensemble", member_arch="resunet", member_args={},
                    members=2)
    with pytest.raises(ValueError, match="cannot be ensembles"):
        build_model("segmentation_ensemble", member_arch="segmentation_ensemble",
                    member_args={}, members=2)
    with pytest.raises(ValueError, match="whole number of members"):
        build_model("segmentation_ensemble", member_arch="resunet", member_args={}, members=0)


def test_the_ensembles_are_registered_but_not_offered_for_training():
    assert set(ENSEMBLES.values()) <= set(architecture_names())
    assert architecture_names("classification", ensembles=False) == \
        ["resnet18", "resnet34", "resnet50"]
    done = subprocess.run([sys.executable, str(REPO / "examples" / "train_classifier.py"),
                           "--arch", "classification_ensemble"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "invalid choice" in done.stderr


# ---------------------------------------------------------------------------
# One checkpoint: export_ensemble, load_model, the inference functions
# ---------------------------------------------------------------------------

def save_member(path, model_of=SEGMENTER, seed=0, threshold=0.5, normalization=NORMALIZATION,
                **changes):
    arch, args, size = model_of
    tn.manual_seed(seed)
    model = build_model(arch, {**args, **changes})
    with tn.no_grad():            # batch-norm statistics that differ from member to member
        model.train()(tn.randn(4, 3, size, size) * (1 + seed))
    spec = model_spec(arch, {**args, **changes}, size, normalization, threshold)
    save_checkpoint(path, model=model.eval(), epoch=3 + seed,
                    metadata={"model": spec, "config": {"seed": seed, "data": "/x/y.npz"},
                              "metrics": {"val_dice": 0.5}})
    return str(path)


def test_an_exported_ensemble_predicts_the_mean_of_its_members(tmp_path, rng):
    members = [save_member(tmp_path / f"m{seed}.npz", seed=seed) for seed in range(3)]
    path = export_ensemble(members, tmp_path / "ensemble.npz", dtype=np.float32)
    model, spec = load_model(path, task="segmentation")
    assert spec["arch"] == "segmentation_ensemble"
    assert spec["arch_args"] == {"member_arch": "resunet", "member_args": SEGMENTER[1],
                                 "members": 3}
    assert spec["input_size"] == 32 and spec["normalization"] == NORMALIZATION
    images = rng.integers(0, 256, size=(4, 40, 40, 3), dtype=np.uint8)
    expected = np.mean([segment(*load_model(m), images) for m in members], axis=0)
    np.testing.assert_allclose(segment(model, spec, images), expected, atol=1e-6)
    saved = load_checkpoint(path)
    assert [record["config"]["seed"] for record in saved["metadata"]["trained"]] == [0, 1, 2]
    assert saved["metadata"]["trained"][0]["config"]["data"] == "y.npz"   # no machine paths
    assert saved["epoch"] == 3


def test_a_classifier_ensemble_and_the_two_stages(tmp_path, rng):
    classifiers = [save_member(tmp_path / f"c{seed}.npz", CLASSIFIER, seed=seed, threshold=0.3)
                   for seed in range(2)]
    segmenters = [save_member(tmp_path / f"s{seed}.npz", seed=seed) for seed in range(2)]
    cls_path = export_ensemble(classifiers, tmp_path / "cls.npz")
    seg_path = export_ensemble(segmenters, tmp_path / "seg.npz", threshold=0.4)
    assert read_spec(cls_path)["threshold"] == 0.3          # the first member's
    assert read_spec(seg_path)["threshold"] == 0.4          # the one given
    images = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    classifier, segmenter = load_model(cls_path), load_model(seg_path)
    expected = np.mean([classify(*load_model(c), images) for c in classifiers], axis=0)
    np.testing.assert_allclose(classify(*classifier, images), expected, atol=2e-3)  # float16
    predictions = TwoStagePredictor(classifier, segmenter, rule="both", cls_threshold=0.0)(images)
    assert predictions.masks.shape == (3, 32, 32)
    np.testing.assert_array_equal(predictions.masks,
                                  predictions.pixel_probabilities >= 0.4)


def test_grad_cam_of_a_classifier_ensemble_is_the_mean_of_its_members_maps(tmp_path, rng):
    at_64 = (*CLASSIFIER[:2], 64)                          # layer4 is 2x2: maps with a shape
    classifiers = [save_member(tmp_path / f"c{seed}.npz", at_64, seed=seed)
                   for seed in range(2)]
    ensemble = load_model(export_ensemble(classifiers, tmp_path / "cls.npz", dtype=np.float32))
    images = rng.integers(0, 256, size=(3, 48, 40, 3), dtype=np.uint8)
    maps = [grad_cam(*load_model(c), images) for c in classifiers]
    assert all(m.max() > 0 for m in maps) and not np.allclose(maps[0], maps[1])
    np.testing.assert_allclose(grad_cam(*ensemble, images), np.mean(maps, axis=0), atol=1e-5)
    as_list = grad_cam(*ensemble, list(images))
    np.testing.assert_allclose(np.stack(as_list), np.mean(maps, axis=0), atol=1e-5)


def test_members_that_differ_are_named(tmp_path):
    first = save_member(tmp_path / "a.npz")
    wider = save_member(tmp_path / "b.npz", base=8)
    with pytest.raises(CheckpointError, match=r"b\.npz differs from .*a\.npz \(arch_args"):
        export_ensemble([first, wider], tmp_path / "e.npz")
    other_scale = save_member(tmp_path / "c.npz", normalization={"mean": [0.0] * 3,
                                                                  "std": [1.0] * 3})
    with pytest.raises(CheckpointError, match="normalization"):
        export_ensemble([first, other_scale], tmp_path / "e.npz")
    classifier = save_member(tmp_path / "d.npz", CLASSIFIER)
    with pytest.raises(CheckpointError, match="task"):
        export_ensemble([first, classifier], tmp_path / "e.npz")
    second = save_member(tmp_path / "second.npz", seed=1)
    ensemble = export_ensemble([first, second], tmp_path / "e.npz")
    with pytest.raises(CheckpointError, match="already an ensemble"):
        export_ensemble([first, ensemble], tmp_path / "f.npz")
    (tmp_path / "link.npz").symlink_to(first)
    with pytest.raises(CheckpointError, match=r"link\.npz is given twice \(also as .*a\.npz\)"):
        export_ensemble([first, second, tmp_path / "link.npz"], tmp_path / "f.npz")
    with pytest.raises(ValueError, match="no member"):
        export_ensemble([], tmp_path / "f.npz")
    assert not (tmp_path / "f.npz").exists()


@pytest.mark.parametrize("change, message", [
    ({"members": 0}, "members 0 is not a whole number"),
    ({"members": True}, "members True is not a whole number"),
    ({"member_arch": "resnet18"}, "cannot hold 'resnet18'"),
    ({"member_arch": "segmentation_ensemble"},
     "member_arch 'segmentation_ensemble' is not one of"),
    ({"member_arch": "nonesuch"}, "member_arch 'nonesuch'"),
    ({"member_args": None}, "member_args is not a dict"),
])
def test_a_bad_ensemble_spec_is_named_when_loaded(tmp_path, change, message):
    members = [save_member(tmp_path / f"m{seed}.npz", seed=seed) for seed in range(2)]
    path = export_ensemble(members, tmp_path / "e.npz")
    saved = load_checkpoint(path)
    spec = saved["metadata"]["model"]
    spec["arch_args"] = {**spec["arch_args"], **change}
    save_checkpoint(tmp_path / "bad.npz", saved["model"], metadata=saved["metadata"])
    with pytest.raises(CheckpointError, match=f"bad.npz: bad model spec: .*{message}"):
        load_model(tmp_path / "bad.npz")


def test_a_context_ensemble_checks_its_members_input_channels(tmp_path):
    arch, args, size = SEGMENTER
    model = build_model(arch, {**args, "in_channels": 9})
    spec = model_spec(arch, {**args, "in_channels": 9}, size, NORMALIZATION, context=1)
    save_checkpoint(tmp_path / "m.npz", model=model, metadata={"model": spec})
    save_checkpoint(tmp_path / "n.npz", model=model, metadata={"model": spec})
    path = export_ensemble([tmp_path / "m.npz", tmp_path / "n.npz"], tmp_path / "e.npz")
    loaded, loaded_spec = load_model(path)
    assert loaded_spec["context"] == 1
    saved = load_checkpoint(path)
    saved["metadata"]["model"]["context"] = 2
    save_checkpoint(tmp_path / "bad.npz", saved["model"], metadata=saved["metadata"])
    with pytest.raises(CheckpointError, match="in_channels 9 does not fit context 2"):
        load_model(tmp_path / "bad.npz")


def test_the_export_script_takes_several_checkpoints(tmp_path):
    members = [save_member(tmp_path / f"m{seed}.npz", seed=seed, threshold=0.5 + seed / 10)
               for seed in range(2)]
    done = subprocess.run([sys.executable, str(REPO / "examples" / "export_model.py"), *members,
                           str(tmp_path / "out.npz")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "an ensemble of 2 resunet" in done.stdout
    assert "the members' thresholds differ (0.5, 0.6); the ensemble keeps the first " \
        "one's, 0.5" in done.stdout
    assert read_spec(tmp_path / "out.npz")["arch"] == "segmentation_ensemble"


def test_an_ensemble_file_cannot_be_resumed_or_trained_on(tmp_path):
    members = [save_member(tmp_path / f"m{seed}.npz", seed=seed) for seed in range(2)]
    path = export_ensemble(members, tmp_path / "e.npz")
    script = str(REPO / "examples" / "train_resunet.py")
    for flags, message in ((["--resume", path], "is not a last.npz of a training run"),
                           (["--weights", path], "it is a segmentation_ensemble")):
        done = subprocess.run([sys.executable, script, "--out", str(tmp_path / "run"), *flags],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and message in done.stderr, done.stderr


def test_a_one_member_classifier_keeps_its_probabilities(rng):
    logits = rng.normal(0, 3, size=(1, 5, 2))
    np.testing.assert_allclose(softmax(log_mean_softmax(tn.tensor(logits)).numpy()),
                               softmax(logits[0]), rtol=1e-12)
