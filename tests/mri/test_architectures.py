"""The architecture registry (tinynet.mri.architectures): the built-in names, a network of
one's own registered, saved in a pipeline checkpoint and loaded back, and the errors."""
import re
import textwrap

import numpy as np
import pytest

import tinynet as tn
from tinynet.io import CheckpointError, load_checkpoint, save_checkpoint
from tinynet.mri import architectures
from tinynet.mri.architectures import (ARCHITECTURES, architecture_names, build_model,
                                       register_architecture)
from tinynet.mri.checkpoint import load_model, model_spec
from tinynet.mri.inference import classify

NORMALIZATION = {"mean": [0.5, 0.4, 0.3], "std": [0.25, 0.2, 0.3]}


@pytest.fixture(autouse=True)
def registry_restored():
    """Each test's registrations are undone afterwards, so tests do not see each other's."""
    saved = dict(architectures._REGISTRY)
    yield
    architectures._REGISTRY.clear()
    architectures._REGISTRY.update(saved)


class TinySegmenter(tn.nn.Module):
    """A one-layer segmenter: logits (N, 1, H, W)."""

    def __init__(self, channels=4):
        super().__init__()
        self.conv = tn.nn.Conv2d(3, channels, 3, padding=1)
        self.bn = tn.nn.BatchNorm2d(channels)
        self.out = tn.nn.Conv2d(channels, 1, 1)

    def forward(self, x):
        return self.out(tn.relu(self.bn(self.conv(x))))


def test_the_built_in_names_and_tasks_are_those_checkpoints_record():
    assert architecture_names(ensembles=False) == ["resnet18", "resnet34", "resnet50", "resunet"]
    assert architecture_names("segmentation") == ["resunet", "segmentation_ensemble"]
    assert architecture_names("classification") == ["classification_ensemble", "resnet18",
                                                    "resnet34", "resnet50"]
    assert ARCHITECTURES["resunet"] == (tn.models.ResUNet, "segmentation")
    constructor, task = ARCHITECTURES["resnet34"]           # still a (constructor, task) pair
    assert constructor is tn.models.resnet34 and task == "classification"
    with pytest.raises(TypeError):
        ARCHITECTURES["mine"] = (TinySegmenter, "segmentation")   # a read-only view


def test_build_model_takes_keywords_or_a_spec_dict():
    a = build_model("resnet18", num_classes=2, width=8)
    b = build_model("resnet18", {"num_classes": 2, "width": 8})
    assert a.fc.weight.shape == b.fc.weight.shape == (2, 64)
    assert type(build_model("resunet", base=4, depth=2)) is tn.models.ResUNet


def test_a_registered_network_saves_and_loads_like_the_built_in_ones(tmp_path, rng):
    register_architecture("tiny_segmenter", TinySegmenter, task="segmentation")
    assert "tiny_segmenter" in architecture_names("segmentation")
    tn.manual_seed(0)
    model = build_model("tiny_segmenter", channels=6)
    model(tn.randn(2, 3, 8, 8))                      # a training-mode pass moves the BN stats
    spec = model_spec("tiny_segmenter", {"channels": 6}, input_size=8,
                      normalization=NORMALIZATION, threshold=0.4)
    assert spec["task"] == "segmentation" and spec["arch_args"] == {"channels": 6}
    path = save_checkpoint(tmp_path / "mine.npz", model, epoch=1, metadata={"model": spec})

    loaded, loaded_spec = load_model(path, task="segmentation")
    assert type(loaded) is TinySegmenter and loaded_spec == spec and not loaded.training
    saved = load_checkpoint(path)["model"]
    for key, value in loaded.state_dict().items():
        np.testing.assert_array_equal(np.asarray(value), saved[key], err_msg=key)
    x = tn.tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
    model.eval()
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    with pytest.raises(CheckpointError, match="holds a segmentation model"):
        load_model(path, task="classification")


def test_the_module_docstring_example_runs(tmp_path, monkeypatch):
    """The documented example, run as written: register, train a step, save, load."""
    example = re.search(r"::\n\n(.*?)\n\n``tinynet", architectures.__doc__, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(textwrap.dedent(example), namespace)
    model, spec = namespace["model"], namespace["spec"]
    assert spec["arch"] == "slicenet" and spec["task"] == "classification"
    assert type(model).__name__ == "SliceNet" and not model.training
    images = np.random.default_rng(0).integers(0, 256, (3, 40, 40, 3), dtype=np.uint8)
    probability = classify(model, spec, images)        # predicts like the shipped classifier
    assert probability.shape == (3,) and ((probability >= 0) & (probability <= 1)).all()


def test_loading_a_network_that_is_not_registered_says_how_to_fix_it(tmp_path):
    register_architecture("tiny_segmenter", TinySegmenter, task="segmentation")
    spec = model_spec("tiny_segmenter", {}, 8, NORMALIZATION)
    path = save_checkpoint(tmp_path / "m.npz", TinySegmenter(), metadata={"model": spec})
    del architectures._REGISTRY["tiny_segmenter"]      # a new process that did not register it
    with pytest.raises(CheckpointError, match="'tiny_segmenter' is not one of .*"
                                              "register_architecture"):
        load_model(path)


def test_registration_errors():
    with pytest.raises(ValueError, match="task must be one of"):
        register_architecture("x", TinySegmenter, task="detection")
    with pytest.raises(TypeError, match="not callable"):
        register_architecture("x", "TinySegmenter", task="segmentation")
    with pytest.raises(ValueError, match="'resunet' is already registered"):
        register_architecture("resunet", TinySegmenter, task="segmentation")
    register_architecture("resunet", tn.models.ResUNet, task="segmentation")   # the same: fine
    register_architecture("mine", TinySegmenter, "segmentation")
    register_architecture("mine", tn.models.resnet18, "classification", replace=True)
    assert ARCHITECTURES["mine"].task == "classification"
    with pytest.raises(ValueError, match="unknown architecture 'nope'.*register_architecture"):
        build_model("nope")
    with pytest.raises(ValueError, match="unknown architecture 'nope'"):
        model_spec("nope", {}, 8, NORMALIZATION)
