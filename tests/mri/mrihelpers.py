"""Helpers shared by the application's tests: normalizations, tiny checkpoints, stub networks,
slices and a kaggle_3m folder.

* ``NORMALIZATION``, ``IDENTITY`` (the network sees x / 255), ``STATS``, ``with_percentile``:
  the normalization of a model spec;
* ``save_tiny_checkpoint``, ``tiny_checkpoints``: tiny untrained ResNet-18 / ResUNet saved as
  pipeline checkpoints (conftest.py's ``tiny_checkpoint_files`` and ``tiny_models`` use them);
  ``save_segmenter``, ``float_entries``: an untrained ResUNet with a training record, and the
  floating-point arrays of a checkpoint (the export tests);
* ``MeanClassifier``, ``BrightSegmenter`` (and ``bright_segmenter``, with its spec): stub
  networks whose outputs are known functions of the input; ``speck_slices`` for the segmenter;
* ``write_kaggle3m``: a small kaggle_3m folder of ``PATIENTS`` (conftest.py's ``folder``);
* ``mri_like``: uint8 slices with a zero background around a 'head';
* ``modes``: the train/eval flag of every module of a model.
"""
import numpy as np
from PIL import Image

import tinynet as tn
from tinynet.io import load_checkpoint
from tinynet.mri.checkpoint import build_model, model_spec

NORMALIZATION = {"mean": [0.3, 0.3, 0.3], "std": [0.2, 0.2, 0.2]}
IDENTITY = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}   # the network sees x / 255

STATS = {"mean": [0.2, 0.3, 0.25], "std": [0.15, 0.2, 0.1]}


def with_percentile(stats, percentile=99.0):
    return {**stats, "slice_percentile": percentile}


# ---------------------------------------------------------------------------
# Checkpoints of untrained models
# ---------------------------------------------------------------------------

TINY = {"segmentation": ("resunet", {"base": 4, "depth": 2}, 32),
        "classification": ("resnet18", {"num_classes": 2}, 64)}  # 64 px: layer4 is 2x2


def save_tiny_checkpoint(path, task, threshold=0.5):
    """An untrained tiny model of ``task`` saved as a pipeline checkpoint at ``path``."""
    arch, arch_args, size = TINY[task]
    model = build_model(arch, arch_args)
    spec = model_spec(arch, arch_args, size, NORMALIZATION, threshold)
    tn.io.save_checkpoint(path, model=model, metadata={"model": spec})
    return str(path)


def tiny_checkpoints(folder):
    """(classifier path, segmenter path) of tiny untrained models saved in ``folder``."""
    return (save_tiny_checkpoint(folder / "classifier.npz", "classification"),
            save_tiny_checkpoint(folder / "segmenter.npz", "segmentation"))


#: A ResUNet big enough (about 150k weights) that the per-entry overhead of the npz is small.
MEDIUM_RESUNET = {"base": 16, "depth": 3}


def save_segmenter(path, arch_args=MEDIUM_RESUNET, threshold=0.5, epoch=None, **metadata):
    """An untrained ResUNet saved as a pipeline checkpoint with extra ``metadata``
    (as run.py writes best.npz: ``epoch`` and {"model", "metrics", "config"})."""
    model = build_model("resunet", arch_args)
    spec = model_spec("resunet", arch_args, 32, NORMALIZATION, threshold)
    tn.io.save_checkpoint(path, model=model, epoch=epoch, metadata={"model": spec, **metadata})
    return str(path), spec


def float_entries(path):
    return {k: v for k, v in load_checkpoint(path)["model"].items() if v.dtype.kind == "f"}


# ---------------------------------------------------------------------------
# Stub networks with known outputs
# ---------------------------------------------------------------------------

class MeanClassifier(tn.nn.Module):
    """logits (0, scale * (mean(x) - 0.5)) per slice: bright slices are 'tumour'."""

    def __init__(self, scale=40.0):
        super().__init__()
        self.scale = scale
        self.batches = []

    def forward(self, x):
        self.batches.append(x.shape[0])
        l1 = self.scale * (x.data.mean(axis=(1, 2, 3)) - 0.5)
        return tn.tensor(np.stack([np.zeros_like(l1), l1], axis=1))


class BrightSegmenter(tn.nn.Module):
    """logit = 8 x[:, 0] - 4 per pixel: p = sigmoid(8 v - 4) with v = red / 255."""

    def forward(self, x):
        return tn.tensor(8.0 * x.data[:, :1] - 4.0)


def bright_segmenter():
    spec = model_spec("resunet", {}, 16, IDENTITY, 0.5)
    return BrightSegmenter(), spec


def speck_slices():
    """16x16 slices for BrightSegmenter (bright = tumour):
    0: a 3x4 patch and a lone speck; 1: only a lone speck; 2: a 2x3 patch; 3: nothing."""
    images = np.zeros((4, 16, 16, 3), np.uint8)
    images[0, 2:5, 2:6] = 255
    images[0, 12, 12] = 255
    images[1, 8, 8] = 255
    images[2, 10:12, 3:6] = 255
    return images


# ---------------------------------------------------------------------------
# Slices and files
# ---------------------------------------------------------------------------

PATIENTS = ("TCGA_CS_0001_20000101", "TCGA_DU_0002_20000202", "TCGA_EZ_0003_20000303")


def write_kaggle3m(root, patients=("TCGA_CS_0001_20000101", "TCGA_DU_0002_20000202",
                                   "TCGA_EZ_0003_20000303"), slices=4, size=32, seed=0):
    """A small kaggle_3m folder: per patient ``slices`` RGB TIFFs and 0/255 masks.

    The tumour is a bright square on the even-numbered slices (slice 1 of the
    first patient has none), so both classes and empty masks occur.
    Returns {patient: [(image, mask 0/1), ...]} as written.
    """
    rng = np.random.default_rng(seed)
    written = {}
    for p, patient in enumerate(patients):
        folder = root / patient
        folder.mkdir(parents=True)
        written[patient] = []
        for n in range(1, slices + 1):
            image = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
            mask = np.zeros((size, size), np.uint8)
            if n % 2 == 0:
                top = 4 + 3 * p
                mask[top:top + 8, 6:16] = 1
                image[mask == 1] = 220
            Image.fromarray(image).save(folder / f"{patient}_{n}.tif")
            Image.fromarray(mask * 255).save(folder / f"{patient}_{n}_mask.tif")
            written[patient].append((image, mask))
    return written


def mri_like(rng, n=3, size=16, top=150):
    """uint8 (n, size, size, 3): a zero background around a 'head' of values 1..top."""
    images = np.zeros((n, size, size, 3), np.uint8)
    lo, hi = size // 4, size - size // 4
    images[:, lo:hi, lo:hi] = rng.integers(1, top + 1, (n, hi - lo, hi - lo, 3))
    return images


def modes(model):
    return [m.training for m in model.modules()]
