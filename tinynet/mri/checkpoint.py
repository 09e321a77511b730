"""Model checkpoints that carry everything inference needs.

A pipeline checkpoint is an ordinary ``tn.io`` checkpoint (``.npz``, written
atomically) whose metadata holds a *model spec*::

    metadata["model"] = {
        "task": "segmentation" | "classification",
        "arch": "resunet" | "resnet18" | "resnet34" | "resnet50" | a registered name,
        "arch_args": {"base": 16, "depth": 4},      # keyword arguments of the constructor
        "input_size": 128,                          # slices are resized to this side
        "normalization": {"mean": [...], "std": [...]},  # per channel, on intensities in [0, 1]
                                    # (+ "slice_percentile": 99.0 with --intensity slice,
                                    #  or "volume_percentiles": [10.0, 99.0] with volume)
        "threshold": 0.5,                           # probability above which we say "tumour"
        "context": 1,       # only with --context K > 0: K neighbours on each side of a slice
    }

so ``load_model(path)`` can rebuild the network, and ``inference.py`` can feed
it exactly as training did, from the file alone.  An ensemble (``export_ensemble``)
has the same spec with ``"arch": "segmentation_ensemble"`` (or
``"classification_ensemble"``) and ``"arch_args": {"member_arch": "resunet",
"member_args": {"base": 16, "depth": 4}, "members": 3}``.  The names and their
constructors are those of the architecture registry (``architectures.py``),
which a network of your own can join.
"""
import math
import numbers
import os

import numpy as np

from tinynet.io import CheckpointError, load_checkpoint, load_checkpoint_metadata, save_checkpoint
from .architectures import (ARCHITECTURES, ENSEMBLES, TASKS, architecture_names, build_model,
                            member_arguments)

__all__ = ["ARCHITECTURES", "TASKS", "build_model", "model_spec", "load_model", "read_spec",
           "export_model", "export_ensemble", "ensemble_spec"]


def model_spec(arch, arch_args, input_size, normalization, threshold=0.5, context=0):
    """The spec dict stored in a checkpoint (see the module docstring), checked.

    ``arch`` is a name of the architecture registry; the task comes from it.
    ``context``: K neighbours on each side of a slice in the input (``--context``;
    stored only when K > 0, and then ``arch_args["in_channels"]`` is 3 (2K + 1)).
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {architecture_names()} "
                         "(register your own with tinynet.mri.architectures."
                         "register_architecture)")
    spec = {"task": ARCHITECTURES[arch].task, "arch": arch, "arch_args": dict(arch_args),
            "input_size": int(input_size),
            "normalization": {"mean": [float(m) for m in normalization["mean"]],
                              "std": [float(s) for s in normalization["std"]]},
            "threshold": float(threshold)}
    percentile = normalization.get("slice_percentile")
    if percentile is not None:       # a bad value is left as it is for _check_spec to name
        spec["normalization"]["slice_percentile"] = (
            float(percentile) if _finite(percentile) else percentile)
    volume = normalization.get("volume_percentiles")
    if volume is not None:
        spec["normalization"]["volume_percentiles"] = (
            [float(p) if _finite(p) else p for p in volume] if isinstance(volume, (list, tuple))
            else volume)
    if isinstance(context, numbers.Integral) and not isinstance(context, bool):
        context = int(context)                        # a NumPy integer is stored as an int
    if not (type(context) is int and context == 0):   # a bad value is left for _check_spec
        spec["context"] = context
    _check_spec(spec, "model_spec")
    return spec


def read_spec(path):
    """The model spec of a pipeline checkpoint (reads only its header, not the weights)."""
    metadata = load_checkpoint_metadata(path)["metadata"]
    if not isinstance(metadata, dict) or not isinstance(metadata.get("model"), dict):
        raise CheckpointError(f"{os.fspath(path)} is a tinynet checkpoint but not one of the MRI "
                              "pipeline: its metadata has no 'model' spec")
    _check_spec(metadata["model"], os.fspath(path))
    return metadata["model"]


def load_model(path, device="cpu", task=None):
    """Rebuild the network of a pipeline checkpoint: returns ``(model, spec)``.

    The model is in eval mode on ``device``.  With ``task`` given
    ("segmentation" or "classification") a checkpoint of the other kind is
    refused, so that swapping ``--classifier`` and ``--segmenter`` is caught.
    """
    path = os.fspath(path)
    checkpoint = load_checkpoint(path)
    spec = _spec_of(checkpoint, path)
    if task is not None and spec["task"] != task:
        raise CheckpointError(f"{path} holds a {spec['task']} model ({spec['arch']}), "
                              f"but a {task} model is needed here")
    model = build_model(spec["arch"], **spec["arch_args"])
    model.load_state_dict(checkpoint["model"], strict=True)   # keys and shapes checked
    return model.to(device).eval(), spec


def _spec_of(checkpoint, path):
    metadata = checkpoint["metadata"]
    if not isinstance(metadata, dict) or "model" not in metadata:
        raise CheckpointError(
            f"{path} is a tinynet checkpoint but not one of the MRI pipeline: its metadata "
            "has no 'model' spec (train with examples/train_resunet.py or train_classifier.py)")
    if checkpoint["model"] is None:
        raise CheckpointError(f"{path} holds no model weights")
    spec = metadata["model"]
    _check_spec(spec, path)
    return spec


def _check_spec(spec, where):
    problems = []
    if spec.get("arch") not in ARCHITECTURES:
        problems.append(f"arch {spec.get('arch')!r} is not one of {architecture_names()} "
                        "(a network of your own must be registered with tinynet.mri."
                        "architectures.register_architecture before it is loaded)")
    if spec.get("task") not in TASKS:
        problems.append(f"task {spec.get('task')!r} is not one of {list(TASKS)}")
    if not isinstance(spec.get("arch_args"), dict):
        problems.append("arch_args is not a dict")
    size = spec.get("input_size")
    if not isinstance(size, int) or size < 1:
        problems.append(f"input_size {size!r} is not a positive int")
    norm = spec.get("normalization") or {}
    for key in ("mean", "std"):
        values = norm.get(key)
        if not (isinstance(values, list) and values and all(_finite(v) for v in values)):
            problems.append(f"normalization {key} {values!r} is not a list of numbers")
    if any(_finite(s) and s <= 0 for s in norm.get("std") or []):
        problems.append(f"normalization std {norm.get('std')} has a value <= 0")
    percentile = norm.get("slice_percentile")
    if percentile is not None and not (_finite(percentile) and 0 < percentile <= 100):
        problems.append(f"normalization slice_percentile {percentile!r} is not in (0, 100]")
    volume = norm.get("volume_percentiles")
    if volume is not None and not (isinstance(volume, list) and len(volume) == 2
                                   and all(_finite(p) for p in volume)
                                   and 0 <= volume[0] < volume[1] <= 100):
        problems.append(f"normalization volume_percentiles {volume!r} is not [low, high] with "
                        "0 <= low < high <= 100")
    if volume is not None and percentile is not None:
        problems.append("normalization has both slice_percentile and volume_percentiles")
    context = spec.get("context", 0)
    if isinstance(context, bool) or not isinstance(context, int) or context < 0:
        problems.append(f"context {context!r} is not an int >= 0")
    elif isinstance(spec.get("arch_args"), dict):
        channels = member_arguments(spec.get("arch"), spec["arch_args"]).get("in_channels", 3)
        if channels != 3 * (2 * context + 1):
            problems.append(f"arch_args in_channels {channels} does not fit context {context} "
                            f"(3 (2K + 1) = {3 * (2 * context + 1)} channels)")
    if spec.get("arch") in ENSEMBLES.values() and isinstance(spec.get("arch_args"), dict):
        problems += _ensemble_problems(spec["arch"], spec["arch_args"])
    threshold = spec.get("threshold")
    if not (_finite(threshold) and 0.0 <= threshold <= 1.0):
        problems.append(f"threshold {threshold!r} is not a probability in [0, 1]")
    if problems:
        raise CheckpointError(f"{where}: bad model spec: " + "; ".join(problems))


def _ensemble_problems(arch, arch_args):
    """What is wrong with an ensemble's arguments {"member_arch", "member_args", "members"},
    in words."""
    problems = []
    member = arch_args.get("member_arch")
    if member not in ARCHITECTURES or member in ENSEMBLES.values():
        problems.append(f"the ensemble's member_arch {member!r} is not one of "
                        f"{architecture_names(ensembles=False)}")
    elif ENSEMBLES[ARCHITECTURES[member].task] != arch:
        problems.append(f"{arch} cannot hold {member!r}, a {ARCHITECTURES[member].task} network")
    if not isinstance(arch_args.get("member_args"), dict):
        problems.append("the ensemble's member_args is not a dict")
    members = arch_args.get("members")
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        problems.append(f"the ensemble's members {members!r} is not a whole number >= 1")
    return problems


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def export_model(source, destination, *, dtype=np.float16, threshold=None):
    """Write the model of a training checkpoint as a small file to ship: returns its path.

    source : a best.npz or last.npz of the training scripts
    destination : the .npz to write (atomically)
    dtype : storage type of the floating-point weights and buffers (float16
        halves the size; ``load_model`` casts them back into the float32
        network, so only their rounding, about 3 significant digits, changes)
    threshold : a new decision threshold for the spec (e.g. the classifier's
        chosen on validation with examples/evaluate.py), or None to keep it

    The optimizer state and the run's resume state are left out; the spec and
    a record of where the weights came from (the training settings, the epoch
    and its validation metrics) are kept in the metadata, with absolute paths
    cut to their file names so a shipped file does not carry the folders of
    the machine it was trained on.
    """
    source = os.fspath(source)
    checkpoint = load_checkpoint(source)
    spec = dict(_spec_of(checkpoint, source))
    if threshold is not None:
        spec["threshold"] = float(threshold)
    _check_spec(spec, f"export_model({source!r})")
    dtype = np.dtype(dtype)
    weights = {key: _cast(value, dtype, key, source) for key, value in checkpoint["model"].items()}
    metadata = {"model": spec, "trained": _training_record(checkpoint), "storage": dtype.name}
    folder = os.path.dirname(os.path.abspath(os.fspath(destination)))
    os.makedirs(folder, exist_ok=True)
    return save_checkpoint(destination, weights, epoch=checkpoint["epoch"], metadata=metadata)


def _training_record(checkpoint):
    """How a checkpoint's weights were trained: its epoch, settings and validation metrics
    (an export of an export keeps the first record)."""
    saved = checkpoint["metadata"] or {}
    if saved.get("trained"):
        return saved["trained"]
    # best.npz keeps the run's settings under "config", last.npz under "run"
    config = saved.get("config") or (saved.get("run") or {}).get("config")
    return {"epoch": checkpoint["epoch"], "config": _portable(config),
            "metrics": saved.get("metrics")}


def _portable(config):
    """The training settings without the training machine's folders: an absolute path
    (of --data, --out, --resume, ...) is cut to its file name; relative ones are kept."""
    if not isinstance(config, dict):
        return config
    return {key: os.path.basename(value) if isinstance(value, str) and os.path.isabs(value)
            else value for key, value in config.items()}


def _cast(value, dtype, key, source):
    """A floating weight in ``dtype``; integer buffers (num_batches_tracked) stay as they are."""
    if not np.issubdtype(value.dtype, np.floating):
        return value
    limit = np.finfo(dtype).max
    if np.isfinite(value).all() and np.abs(value).max(initial=0) > limit:
        raise CheckpointError(f"export_model: {source} entry {key!r} holds values beyond "
                              f"{dtype.name}'s range (|w| up to {np.abs(value).max():.3g} > "
                              f"{limit:.3g}); export it as float32")
    return value.astype(dtype)


#: What the members of an ensemble must share: the network and how it is fed.
ENSEMBLE_SHARED = ("task", "arch", "arch_args", "input_size", "normalization", "context")


def ensemble_spec(specs, sources, threshold=None):
    """The spec of the ensemble of members with these ``specs`` (read from ``sources``, the
    files named in errors): CheckpointError naming the first member that differs from the
    first in ``ENSEMBLE_SHARED``, that is an ensemble itself, or that is given twice.

    The ensemble's spec is the members' (input size, normalization, context) with ``arch``
    "segmentation_ensemble" or "classification_ensemble", ``arch_args`` {"member_arch",
    "member_args", "members"} and ``threshold`` the one given, else the first member's.
    """
    sources = [os.fspath(source) for source in sources]
    if not sources:
        raise ValueError("export_ensemble: no member checkpoints given")
    seen = {}
    for source in sources:
        real = os.path.normcase(os.path.realpath(source))
        if real in seen:
            raise CheckpointError(f"export_ensemble: {source} is given twice (also as "
                                  f"{seen[real]}); an ensemble's members must differ")
        seen[real] = source
    first = specs[0]
    for source, spec in zip(sources, specs):
        if spec["arch"] in ENSEMBLES.values():
            raise CheckpointError(f"export_ensemble: {source} is already an ensemble; give "
                                  "the members' own checkpoints")
    for source, spec in zip(sources[1:], specs[1:]):
        differ = [key for key in ENSEMBLE_SHARED if spec.get(key) != first.get(key)]
        if differ:
            values = "; ".join(f"{key} {spec.get(key)!r} against {first.get(key)!r}"
                               for key in differ)
            raise CheckpointError(f"export_ensemble: {source} differs from {sources[0]} "
                                  f"({values}); the members of an ensemble must be the same "
                                  "network fed the same way (trained on the same patients)")
    arch_args = {"member_arch": first["arch"], "member_args": first["arch_args"],
                 "members": len(specs)}
    spec = {**first, "arch": ENSEMBLES[first["task"]], "arch_args": arch_args}
    if threshold is not None:
        spec["threshold"] = float(threshold)
    _check_spec(spec, f"export_ensemble({sources[0]!r}, ...)")
    return spec


def export_ensemble(sources, destination, *, dtype=np.float16, threshold=None, metadata=None):
    """Write several trained networks as one ensemble checkpoint: returns its path.

    sources : checkpoints of the training scripts (best.npz, last.npz) or exported models,
        all of the same network fed the same way (``ensemble_spec``: architecture and its
        arguments, input size, normalization, context), e.g. one recipe trained on the same
        patients with different ``--seed``s; CheckpointError naming the first that differs
    destination : the .npz to write (atomically)
    dtype : as in ``export_model``
    threshold : the ensemble's decision threshold; default the first member's (the
        members' own thresholds are not averaged: give one when they differ)
    metadata : more entries for the file's metadata (``crossval ensemble`` records there
        the number of epochs its fold runs were set to train)

    ``load_model`` rebuilds it as an ``ensemble.Ensemble`` whose output is the mean of the
    members' probabilities; the metadata keeps each member's training record under
    "trained" (a list, in the members' order).
    """
    sources = [os.fspath(source) for source in sources]
    dtype = np.dtype(dtype)
    checkpoints = [load_checkpoint(source) for source in sources]
    specs = [_spec_of(checkpoint, source) for checkpoint, source in zip(checkpoints, sources)]
    spec = ensemble_spec(specs, sources, threshold)
    weights = {f"members.{k}.{key}": _cast(value, dtype, key, source)
               for k, (checkpoint, source) in enumerate(zip(checkpoints, sources))
               for key, value in checkpoint["model"].items()}
    trained = [_training_record(checkpoint) for checkpoint in checkpoints]
    metadata = {**(metadata or {}), "model": spec, "trained": trained, "storage": dtype.name}
    folder = os.path.dirname(os.path.abspath(os.fspath(destination)))
    os.makedirs(folder, exist_ok=True)
    # the fewest epochs any member trained (None when a member's file does not say)
    epochs = [checkpoint["epoch"] for checkpoint in checkpoints]
    epoch = None if None in epochs else min(int(e) for e in epochs)
    return save_checkpoint(destination, weights, epoch=epoch, metadata=metadata)
