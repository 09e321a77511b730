"""Classify and segment uint8 MRI slices with loaded models: the two-stage prediction.

Both models are fed exactly as they were trained, from what their checkpoint
spec says (see checkpoint.py)::

    slice uint8 (H, W, 3) --resize (bilinear)--> (s, s, 3), s = spec["input_size"]
        --normalize: (k x / 255 - mean) / std--> float32 (3, s, s)
                                (k = 1, or per slice: see tinynet.mri.data.normalize;
                                 or per volume, from all the slices of the scan)
        --network, eval mode, no gradients--> logits
    classifier: logits (N, 2)       -> tumour probability softmax(logits)[:, 1]
    segmenter:  logits (N, 1, s, s) -> sigmoid -> resized back (bilinear) to (H, W)
                (both as validation computes them: scoring.py)

so a 256x256 slice gets a 256x256 probability map from a network that saw
128x128 inputs.  Slices go through the network ``batch_size`` at a time, which
bounds the memory whatever the number of slices.

The two stages (``TwoStagePredictor``): the classifier decides per slice
whether there is a tumour; the segmenter outlines it on the slices called
positive, and the mask of every slice called negative is all zero.  Either
stage may be left out: with a segmenter alone, a slice is positive when its
mask has at least ``max(min_area, 1)`` pixels; with a classifier alone there
are no masks.

A model trained with ``--intensity volume`` normalizes each slice by numbers
of its whole volume (``data/volume_intensity.py``), so the slices of one scan
are predicted together: ``classify``, ``segment`` and ``TwoStagePredictor``
take ``volume=``, every slice of the scan the images belong to (default: the
images themselves, which is right when they are one whole scan).
"""
import json
import os
import sys
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
from scipy import ndimage

from tinynet import autograd, backend
from ._lazy import Image  # Pillow, imported at first use
from .data import normalize, resize_image, stack_context, volume_levels, volume_tables
from tinynet.io import CheckpointError
from .checkpoint import load_model
from .cli import UsageError
from .scoring import evaluation_mode, pixel_probabilities, tumour_probability

__all__ = ["RULES", "classify", "segment", "prepare_batch", "volume_normalization",
           "network_inputs",
           "resize_probabilities", "evaluation_mode",
           "TwoStagePredictor", "SlicePredictions", "predict_slices",
           "default_checkpoint", "resolve_checkpoints", "load_models", "shipped_settings",
           "SHIPPED_SETTINGS", "PIPELINE_SETTINGS", "weights_folder",
           "remove_small_components", "scale_area"]


# ---------------------------------------------------------------------------
# Feeding a network: resize, normalize, batch
# ---------------------------------------------------------------------------

def _as_slices(images, fn):
    """``images`` as a list of uint8 (H, W, 3) arrays, and whether it came as one stacked array.

    A stacked uint8 (N, H, W, 3) array is the usual input; a list of (H, W, 3)
    arrays may mix sizes (a folder of slices of different sizes).
    """
    stacked = isinstance(images, np.ndarray)
    if stacked and (images.ndim != 4 or images.shape[-1] != 3):
        raise ValueError(f"{fn}: images must be uint8 (N, H, W, 3), got shape {images.shape}")
    slices = list(images)
    for i, image in enumerate(slices):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError(f"{fn}: slice {i} must be uint8 (H, W, 3), got {image.dtype} "
                             f"{image.shape}")
    return slices, stacked


def _check_task(spec, task, fn):
    if spec.get("task") != task:
        raise ValueError(f"{fn} needs a {task} model, but the spec is of a "
                         f"{spec.get('task')} model ({spec.get('arch')})")


def prepare_batch(slices, spec, tables=None):
    """The network input of a list of uint8 (H, W, 3) slices: float32 (N, 3, s, s).

    Each slice is resized to s = ``spec["input_size"]`` as the training data
    was (``tinynet.mri.data.resize_image``: bilinear, antialiased) and normalized
    with ``spec["normalization"]``: (k x / 255 - mean) / std per channel, k = 1 or
    the slice's own intensity scale (``tinynet.mri.data.normalize``); or, for a
    model normalized per volume, with ``tables`` from ``volume_normalization``.
    """
    size = spec["input_size"]
    return normalize(np.stack([resize_image(image, size) for image in slices]),
                     spec["normalization"], tables)


def volume_normalization(spec, volume):
    """The per-volume normalization tables (3, 256) of ``volume`` (the uint8 (H, W, 3) slices
    of one scan) for a model whose spec normalizes per volume; None for any other model.

    The volume is measured at the model's input size, as the training data was.
    """
    percentiles = spec["normalization"].get("volume_percentiles")
    if percentiles is None:
        return None
    size = spec["input_size"]
    resized = np.stack([resize_image(np.asarray(image), size) for image in volume])
    return volume_tables(volume_levels(resized, percentiles))


def network_inputs(spec, slices, volume=None, positions=None, fn="network_inputs"):
    """A function ``(first, stop) -> float32 (stop - first, C, s, s)``: the network inputs of
    ``slices[first:stop]`` as the model of ``spec`` was trained on them.

    volume : every slice of the scan the slices belong to (default: ``slices``), measured
        by a model normalized per volume and the source of neighbours for a model with
        context (``spec["context"]`` = K: each input is the slice with its K neighbours on
        each side, ``tinynet.mri.data.stack_context``)
    positions : where each slice lies in ``volume`` (default: 0, 1, ... when ``volume`` is
        not given); needed by a model with context when ``volume`` is given
    """
    context = spec.get("context", 0)
    whole = slices if volume is None else volume
    if not context or not len(slices):
        tables = volume_normalization(spec, whole) if len(slices) else None
        return lambda first, stop: prepare_batch(slices[first:stop], spec, tables)
    if volume is not None and positions is None:
        raise ValueError(f"{fn}: the model sees each slice with its {context} neighbours on "
                         "each side: with volume= give positions=, where each slice lies in "
                         "the volume")
    positions = np.arange(len(slices)) if positions is None else np.asarray(positions)
    if len(positions) != len(slices):
        raise ValueError(f"{fn}: {len(positions)} positions for {len(slices)} slices")
    size = spec["input_size"]
    resized = np.stack([resize_image(np.asarray(image), size) for image in whole])
    percentiles = spec["normalization"].get("volume_percentiles")
    tables = volume_tables(volume_levels(resized, percentiles)) if percentiles else None
    return lambda first, stop: normalize(
        stack_context(resized, positions[first:stop], context), spec["normalization"], tables)


def resize_probabilities(probabilities, shape):
    """A float (h, w) probability map resized bilinearly to ``shape`` = (H, W), float32.

    Pillow's float ("F") images resize without rounding; bilinear interpolation
    of values in [0, 1] stays in [0, 1].
    """
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.shape == tuple(shape):
        return probabilities
    height, width = shape
    resized = Image.fromarray(probabilities).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def _batch_starts(n, batch_size):
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return range(0, n, batch_size)


def _forward(model, inputs, device):
    """The model's output (a Tensor) on float32 (B, C, s, s) ``inputs`` (C = 3, or 3 (2K + 1)
    with context K), without a graph."""
    with autograd.no_grad():
        return model(autograd.tensor(inputs, device=device))


# ---------------------------------------------------------------------------
# The two networks
# ---------------------------------------------------------------------------

def classify(model, spec, images, device="cpu", batch_size=16, volume=None, positions=None):
    """Tumour probability of every slice: (N,) float64 in [0, 1].

    ``images``: uint8 (N, H, W, 3) (or a list of (H, W, 3) arrays of any
    sizes); ``volume`` and ``positions``: all the slices of their scan and where the
    images lie in it, for a model normalized per volume or with context (see
    ``network_inputs``; default: the images are the scan).  The classifier gives
    logits (l0, l1) per slice; the tumour probability is ``scoring.tumour_probability``:
    sigmoid(l1 - l0) = softmax(l)[1] in float64, the number validation scores too.
    """
    _check_task(spec, "classification", "classify")
    slices, _ = _as_slices(images, "classify")
    inputs = network_inputs(spec, slices, volume, positions, "classify")
    probabilities = []
    with evaluation_mode(model):
        for first in _batch_starts(len(slices), batch_size):
            logits = _forward(model, inputs(first, first + batch_size), device)
            probabilities.append(tumour_probability(logits))
    return np.concatenate(probabilities) if probabilities else np.zeros(0, np.float64)


def segment(model, spec, images, device="cpu", batch_size=8, tta=False, volume=None,
            positions=None):
    """Tumour probability of every pixel, at each input slice's own size.

    ``images``: uint8 (N, H, W, 3) -> float32 (N, H, W) in [0, 1]; a list of
    (H, W, 3) arrays of different sizes gives a list of (H, W) maps.
    ``volume`` and ``positions``: all the slices of their scan and where the images
    lie in it, for a model normalized per volume or with context (see
    ``network_inputs``; default: the images are the scan).  The segmenter's logits
    (N, 1, s, s) at s = ``spec["input_size"]`` go through a sigmoid and are resized
    back bilinearly.

    ``tta=True`` (test-time augmentation) averages the probabilities of the
    slice and of its horizontal mirror image (mirrored back): p = (f(x) +
    flip(f(flip(x)))) / 2, which is why ``segment(flip(x))`` is then exactly
    ``flip(segment(x))``.  It costs a second forward pass.
    """
    _check_task(spec, "segmentation", "segment")
    slices, stacked = _as_slices(images, "segment")
    make_inputs = network_inputs(spec, slices, volume, positions, "segment")
    maps = []
    with evaluation_mode(model):
        for first in _batch_starts(len(slices), batch_size):
            chunk = slices[first:first + batch_size]
            inputs = make_inputs(first, first + batch_size)
            probabilities = _segmenter_probabilities(model, inputs, device)
            if tta:
                mirrored = _segmenter_probabilities(model, inputs[..., ::-1].copy(), device)
                probabilities = (probabilities + mirrored[..., ::-1]) / 2
            maps += [resize_probabilities(p, image.shape[:2])
                     for p, image in zip(probabilities, chunk)]
    if not stacked:
        return maps
    if not maps:
        return np.zeros(images.shape[:3], np.float32)
    return np.stack(maps)


def _segmenter_probabilities(model, inputs, device):
    """sigmoid of the segmenter's logits (B, 1, s, s) -> float32 (B, s, s)."""
    return pixel_probabilities(_forward(model, inputs, device))


# ---------------------------------------------------------------------------
# Two stages: classify every slice, segment the positive ones
# ---------------------------------------------------------------------------

class SlicePredictions(NamedTuple):
    """What the two-stage pipeline says about N slices.

    probability : (N,) float64 tumour probability of each slice: the
        classifier's, or with a segmenter alone the largest pixel probability
    positive : (N,) bool, the call "this slice shows tumour"
    masks : (N, H, W) uint8 0/1 tumour masks, all zero on negative slices
        (a list of (H, W) masks for a list input); None without a segmenter
    area : (N,) int64 tumour pixels of each mask; None without a segmenter
    classifier_probability : (N,) float64 or None without a classifier
    segmenter_masks : the segmenter's own masks, before the classifier zeroes
        the negative slices (only with ``segment_all=True``, else None)
    pixel_probabilities : (N, H, W) float32 tumour probability of every pixel
        from the segmenter (a list of (H, W) maps for a list input), 0 on the
        slices it did not see; None without a segmenter.  ``masks`` are these
        >= seg_threshold (before min_component and min_area), on positive slices
    """
    probability: np.ndarray
    positive: np.ndarray
    masks: Optional[object]
    area: Optional[np.ndarray]
    classifier_probability: Optional[np.ndarray]
    segmenter_masks: Optional[object]
    pixel_probabilities: Optional[object] = None


def scale_area(count, side, shape):
    """``count`` pixels counted on a ``side`` x ``side`` slice, as pixels of a slice of
    ``shape`` = (H, W): count H W / side^2, rounded, and at least 1 unless ``count`` is 0
    (a minimum area of 5 pixels at 128x128 is 20 at 256x256, and never vanishes)."""
    if not count:
        return count
    return max(1, round(count * shape[0] * shape[1] / side ** 2))


class TwoStagePredictor:
    """Classify every slice, then segment the slices called positive.

    Parameters
    ----------
    classifier, segmenter : ``(model, spec)`` pairs from ``load_model``, or None
        (at least one is needed)
    cls_threshold : a slice is positive when its tumour probability >= this;
        None takes the classifier checkpoint's own threshold
    seg_threshold : a pixel is tumour when its probability >= this; None takes
        the segmenter checkpoint's own threshold
    min_component : connected tumour regions (8-neighbour) smaller than this
        many pixels are removed from each mask, so a speck beside the tumour
        goes and the tumour stays (default 0: off)
    min_area : masks with fewer tumour pixels than this, after
        ``min_component``, are cleared; with a segmenter alone a slice is
        positive when its mask keeps at least ``max(min_area, 1)`` pixels
    rule : when a slice is called tumour, with both models: "classifier" (its
        probability >= cls_threshold; the default), "both" (that, and its mask keeps
        at least max(min_area, 1) pixels), "either" (one of the two), or
        "segmenter" (the mask alone; the classifier's probability is still computed
        and returned as ``classifier_probability``, and ``probability`` is then the
        largest pixel probability).  A segmenter alone
        always uses "segmenter", a classifier alone "classifier".  Slices called
        negative get empty masks.  ``tinynet crossval tune`` chooses among them
    tta : average the segmenter over the horizontal flip (see ``segment``)
    area_size : None (min_area and min_component count each slice's own pixels), or the
        side S of the S x S slices they were chosen at (``crossval tune`` at 128x128):
        then a slice of H x W pixels uses them times H W / S^2, the same share of the slice
    segment_all : also segment the slices the classifier calls negative, and
        return those masks as ``segmenter_masks`` (evaluation scores the
        segmenter alone); off by default, since skipping negatives is what
        makes the two stages cheaper than segmenting everything
    """

    def __init__(self, classifier=None, segmenter=None, *, cls_threshold=None,
                 seg_threshold=None, min_area=0, min_component=0, tta=False, device="cpu",
                 cls_batch_size=16, seg_batch_size=8, segment_all=False, rule=None,
                 area_size=None):
        if classifier is None and segmenter is None:
            raise ValueError("TwoStagePredictor needs a classifier, a segmenter or both")
        self.rule = _check_rule(rule, classifier, segmenter)
        if classifier is not None:
            _check_task(classifier[1], "classification", "TwoStagePredictor(classifier=)")
        if segmenter is not None:
            _check_task(segmenter[1], "segmentation", "TwoStagePredictor(segmenter=)")
        for name, value in (("min_area", min_area), ("min_component", min_component)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        self.classifier, self.segmenter = classifier, segmenter
        self.cls_threshold = _threshold(cls_threshold, classifier, "cls_threshold")
        self.seg_threshold = _threshold(seg_threshold, segmenter, "seg_threshold")
        self.min_area = int(min_area)
        self.min_component = int(min_component)
        if area_size is not None and not area_size >= 1:
            raise ValueError(f"area_size must be a side in pixels >= 1, got {area_size!r}")
        self.area_size = area_size
        self.tta = bool(tta)
        self.device = backend.normalize_device(device)
        self.cls_batch_size, self.seg_batch_size = cls_batch_size, seg_batch_size
        self.segment_all = bool(segment_all)

    @property
    def needs_volume(self):
        """Whether a model normalizes each slice by its whole volume (``--intensity volume``)
        or sees its neighbours (``--context``): then the slices of a scan must be predicted
        with ``volume=`` the whole scan (and ``positions=``)."""
        return any(pair is not None and ("volume_percentiles" in pair[1]["normalization"]
                                         or pair[1].get("context", 0))
                   for pair in (self.classifier, self.segmenter))

    def settings(self):
        """The thresholds and options, as plain values (for summary.json and reports)."""
        return {"rule": self.rule, "cls_threshold": self.cls_threshold,
                "seg_threshold": self.seg_threshold, "min_area": self.min_area,
                "min_component": self.min_component, "area_size": self.area_size,
                "tta": self.tta, "device": self.device}

    def __call__(self, images, volume=None, positions=None):
        """Predict uint8 (N, H, W, 3) slices (or a list of (H, W, 3)): a ``SlicePredictions``.

        volume : every slice of the scan the images belong to, for models normalized per
            volume or with context (default: the images, right when they are one whole scan)
        positions : where each image lies in ``volume`` (needed with volume= by a model
            with context)
        """
        slices, stacked = _as_slices(images, "TwoStagePredictor")
        # The segmenter may see only the classifier's positives: its normalization and
        # neighbours are still those of the whole volume.
        if volume is None:
            volume = slices
            positions = np.arange(len(slices)) if positions is None else positions
        cls_probability = None
        if self.classifier is not None:
            model, spec = self.classifier
            cls_probability = classify(model, spec, slices, self.device, self.cls_batch_size,
                                       volume=volume, positions=positions)
        if self.segmenter is None:
            return SlicePredictions(cls_probability, cls_probability >= self.cls_threshold,
                                    None, None, cls_probability, None)

        # Which slices the segmenter sees: all of them, or those the classifier calls
        # positive when no other slice can be positive (rules classifier and both).
        gated = cls_probability is not None and self.rule in ("classifier", "both")
        if gated and not self.segment_all:
            to_segment = np.flatnonzero(cls_probability >= self.cls_threshold)
        else:
            to_segment = np.arange(len(slices))
        model, spec = self.segmenter
        pixel_maps = segment(model, spec, [slices[i] for i in to_segment], self.device,
                             self.seg_batch_size, self.tta, volume=volume,
                             positions=None if positions is None
                             else np.asarray(positions)[to_segment])
        seg_masks = [np.zeros(image.shape[:2], np.uint8) for image in slices]
        pixel_probabilities = [np.zeros(image.shape[:2], np.float32) for image in slices]
        max_pixel = np.zeros(len(slices), np.float64)
        for i, p in zip(to_segment, pixel_maps):
            seg_masks[i] = self._binary_mask(p)
            pixel_probabilities[i] = p
            max_pixel[i] = p.max() if p.size else 0.0
        seg_area = np.array([int(m.sum()) for m in seg_masks], dtype=np.int64)

        by_segmenter = seg_area >= np.array(
            [max(self._pixels(self.min_area, image.shape[:2]), 1) for image in slices])
        if cls_probability is None or self.rule == "segmenter":
            probability, positive = max_pixel, by_segmenter
        else:
            by_classifier = cls_probability >= self.cls_threshold
            probability = cls_probability
            positive = {"classifier": by_classifier, "both": by_classifier & by_segmenter,
                        "either": by_classifier | by_segmenter}[self.rule]
        masks = [m if call else np.zeros_like(m) for m, call in zip(seg_masks, positive)]
        area = np.where(positive, seg_area, 0)
        segmenter_masks = seg_masks if self.segment_all else None
        if stacked:
            masks = _stack(masks, images)
            segmenter_masks = None if segmenter_masks is None else _stack(segmenter_masks, images)
            pixel_probabilities = _stack(pixel_probabilities, images, np.float32)
        return SlicePredictions(probability, positive, masks, area, cls_probability,
                                segmenter_masks, pixel_probabilities)

    def _pixels(self, count, shape):
        """``count`` pixels (min_area, min_component) at a slice of ``shape``: as given, or
        scaled by the slice's area when they were given at ``area_size`` x ``area_size``."""
        if self.area_size is None:
            return count
        return scale_area(count, self.area_size, shape)

    def _binary_mask(self, probabilities):
        """uint8 0/1 mask of pixels with probability >= seg_threshold, without the regions
        smaller than min_component; cleared when fewer than min_area pixels remain."""
        mask = (probabilities >= self.seg_threshold).astype(np.uint8)
        if self.min_component:
            mask = remove_small_components(mask, self._pixels(self.min_component, mask.shape))
        if self.min_area and mask.sum() < self._pixels(self.min_area, mask.shape):
            mask[:] = 0
        return mask


def remove_small_components(mask, min_pixels):
    """``mask`` (H, W) 0/1 without its connected regions of fewer than ``min_pixels`` pixels.

    Regions are 8-connected (pixels touching at a corner belong together), as a
    tumour outline drawn on the slice would be.
    """
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())          # sizes[0] counts the background
    keep = sizes >= min_pixels
    keep[0] = False
    return keep[labels].astype(mask.dtype)


def _stack(maps, images, dtype=np.uint8):
    return np.stack(maps) if maps else np.zeros(images.shape[:3], dtype)


#: The rules for calling a slice tumour (``TwoStagePredictor``'s ``rule``).
RULES = ("classifier", "segmenter", "both", "either")


def _check_rule(rule, classifier, segmenter):
    """The rule to use: the one given (checked against the models), else the natural one."""
    if rule is None:
        return "classifier" if classifier is not None else "segmenter"
    if rule not in RULES:
        raise UsageError(f"rule must be one of {list(RULES)}, got {rule!r}")
    needs = {"classifier": ("a classifier", classifier), "segmenter": ("a segmenter", segmenter),
             "both": ("both models", classifier if segmenter is not None else None),
             "either": ("both models", classifier if segmenter is not None else None)}[rule]
    if needs[1] is None:
        raise UsageError(f"rule {rule!r} needs {needs[0]}")
    return rule


def _threshold(value, pair, name):
    """An explicit threshold, else the checkpoint's own one (None without that model)."""
    if value is None:
        return None if pair is None else float(pair[1]["threshold"])
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
    return value


def predict_slices(images, classifier=None, segmenter=None, cls_threshold=None,
                   seg_threshold=None, min_area=0, **options):
    """Two-stage prediction of uint8 (N, H, W, 3) slices in one call: a ``SlicePredictions``.

    A shorthand for ``TwoStagePredictor(classifier, segmenter, ...)(images)``;
    ``options`` are the predictor's other keyword arguments (tta, device, ...).
    """
    predictor = TwoStagePredictor(classifier, segmenter, cls_threshold=cls_threshold,
                                  seg_threshold=seg_threshold, min_area=min_area, **options)
    return predictor(images)


# ---------------------------------------------------------------------------
# Which checkpoints to use
# ---------------------------------------------------------------------------

#: Where the trained weights of the repository live (weights/ beside the package), and
#: their file per task; the environment variable TINYNET_WEIGHTS names another folder.
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"   # package data: installed with tinynet
SHIPPED_WEIGHTS = {"classification": "classifier.npz", "segmentation": "segmenter.npz"}


def default_checkpoint(task):
    """The shipped checkpoint for ``task`` ("classification" or "segmentation"), or None.

    ``classifier.npz`` and ``segmenter.npz`` in ``tinynet/mri/weights/``, package
    data installed with tinynet (their model cards beside them say how they were
    trained), or the same names in the folder ``$TINYNET_WEIGHTS``.  None when
    the file is not there (e.g. a ``$TINYNET_WEIGHTS`` folder without it).
    """
    if task not in SHIPPED_WEIGHTS:
        raise ValueError(f"default_checkpoint: task must be one of {list(SHIPPED_WEIGHTS)}, "
                         f"got {task!r}")
    path = weights_folder() / SHIPPED_WEIGHTS[task]
    return str(path) if path.is_file() else None


#: Beside the shipped weights: the pipeline's settings chosen by cross-validation
#: (``tinynet crossval tune``), used when the shipped models are.
SHIPPED_SETTINGS = "pipeline.json"


def weights_folder():
    """Where the shipped weights are: ``$TINYNET_WEIGHTS``, else weights/ in the package."""
    return Path(os.environ.get("TINYNET_WEIGHTS") or WEIGHTS_DIR)


#: The entries of pipeline.json's "settings", and what each must be.
PIPELINE_SETTINGS = {"rule": "one of " + ", ".join(RULES),
                     "cls_threshold": "a probability", "seg_threshold": "a probability",
                     "min_area": "a whole number >= 0", "min_component": "a whole number >= 0",
                     "area_size": "a whole number >= 1 (the side the areas were counted at)",
                     "tta": "true or false (average the segmenter over the mirror image)"}


def shipped_settings():
    """The shipped models' pipeline settings from ``pipeline.json`` beside them (written by
    ``tinynet crossval tune``), or {} when there is none.

    The file is ``{"settings": {"rule", "cls_threshold", "seg_threshold", "min_area",
    "min_component", "area_size", "tta"}, ...}`` (any entry may be left out; the rest of the file
    records how they were chosen).  A bad file is a CheckpointError naming it.
    """
    path = weights_folder() / SHIPPED_SETTINGS
    if not path.is_file():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))["settings"]
        checked = {key: settings[key] for key in PIPELINE_SETTINGS if key in settings}
        for key, value in checked.items():
            if not _valid_setting(key, value):
                raise ValueError(f"{key} {value!r} is not {PIPELINE_SETTINGS[key]}")
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a pipeline settings file ({exc}); expected "
                              '{"settings": {"rule": ..., "cls_threshold": ..., ...}}') from exc
    return checked


def _valid_setting(key, value):
    if value is None:
        return True
    if key == "rule":
        return value in RULES
    if key == "tta":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if key in ("cls_threshold", "seg_threshold"):
        return 0 <= value <= 1
    return isinstance(value, int) and value >= (1 if key == "area_size" else 0)


def resolve_checkpoints(classifier=None, segmenter=None):
    """The checkpoint paths to use: the ones given, or the shipped ones when both are None.

    Says on stderr when it falls back to the shipped weights; UsageError when
    there is nothing to use.
    """
    if classifier is None and segmenter is None:
        classifier = default_checkpoint("classification")
        segmenter = default_checkpoint("segmentation")
        if classifier is None and segmenter is None:
            folder = weights_folder()
            names = " or ".join(SHIPPED_WEIGHTS.values())
            raise UsageError(f"no model given and no shipped weights ({names}) in {folder}: "
                             "pass --classifier CKPT and/or --segmenter CKPT (checkpoints "
                             "written by examples/train_classifier.py and "
                             "examples/train_resunet.py)")
        shipped = ", ".join(p for p in (classifier, segmenter) if p is not None)
        print(f"no model given: using the shipped weights {shipped}", file=sys.stderr)
    return classifier, segmenter


def load_models(classifier=None, segmenter=None, device="cpu"):
    """Load the two stages: ``(classifier, segmenter)``, each a ``(model, spec)`` pair or None.

    ``classifier`` and ``segmenter`` are checkpoint paths; when both are None
    the shipped defaults (``default_checkpoint``) are used.  A checkpoint of
    the wrong task (a segmenter given as the classifier) raises CheckpointError;
    no checkpoint at all raises UsageError.
    """
    classifier, segmenter = resolve_checkpoints(classifier, segmenter)
    return (_load_or_none(classifier, device, "classification"),
            _load_or_none(segmenter, device, "segmentation"))


def _load_or_none(path, device, task):
    return None if path is None else load_model(path, device, task=task)
