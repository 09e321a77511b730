"""The architecture registry: the one place that maps a name to a network and its task.

The training scripts build their model from it, checkpoints record the name and
the constructor's keyword arguments (``checkpoint.model_spec``), and
``checkpoint.load_model`` rebuilds the network from them.  Built in:

    resunet                      tinynet.models.ResUNet     segmentation
    resnet18, resnet34, resnet50 tinynet.models.resnet*     classification
    segmentation_ensemble        ensemble.Ensemble of K      segmentation
    classification_ensemble      networks of one name        classification

An ensemble's arguments name its members: ``{"member_arch": "resunet", "member_args":
{"base": 16, "depth": 4}, "members": 3}`` (see ``build_ensemble``).

Your own network: register it under a name, then ``build_model``,
``model_spec``, ``load_model`` and the inference functions treat it like the
built-in ones, from Python.  The registration must run again (e.g. on import
of your module) in every process that loads such a checkpoint, so the
``tinynet`` command and the example scripts, which import only the built-in
networks, do not know it; ``replace=True`` lets a notebook cell run twice::

    import numpy as np
    import tinynet as tn
    from tinynet.mri.architectures import build_model, register_architecture
    from tinynet.mri.checkpoint import load_model, model_spec

    class SliceNet(tn.nn.Module):            # 3 channels in, 2 logits (no tumour, tumour) out
        def __init__(self, width=8):
            super().__init__()
            self.conv = tn.nn.Conv2d(3, width, 3, padding=1)
            self.head = tn.nn.Linear(width, 2)

        def forward(self, x):
            return self.head(tn.relu(self.conv(x)).mean(dim=(2, 3)))

    register_architecture("slicenet", SliceNet, task="classification")
    model = build_model("slicenet", width=8)
    optimizer = tn.optim.Adam(model.parameters(), lr=1e-3)
    images, labels = tn.randn(4, 3, 32, 32), tn.tensor(np.array([0, 1, 0, 1]))
    loss = tn.ops.cross_entropy(model(images), labels)        # one training step
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    spec = model_spec("slicenet", {"width": 8}, input_size=32,
                      normalization={"mean": [0.5] * 3, "std": [0.25] * 3})
    tn.io.save_checkpoint("slicenet.npz", model, metadata={"model": spec})
    model, spec = load_model("slicenet.npz")   # rebuilt by the registry, in eval mode

``tinynet.mri.inference.classify(model, spec, images)`` then predicts with it
as with the shipped classifier.  A classifier must output logits (N, 2), a
segmenter logits (N, 1, H, W) (see inference.py).
"""
import functools
from types import MappingProxyType
from typing import Callable, NamedTuple

import numpy as np

from tinynet import models
from .ensemble import Ensemble

__all__ = ["TASKS", "ARCHITECTURES", "Architecture", "register_architecture", "build_model",
           "inflate_stem", "build_ensemble", "ENSEMBLES", "member_arguments",
           "architecture_names"]

#: What a network is for: "segmentation" (logits (N, 1, H, W)) or "classification" ((N, 2)).
TASKS = ("segmentation", "classification")
#: The registered name of the ensemble of each task (``build_ensemble``).
ENSEMBLES = MappingProxyType({task: f"{task}_ensemble" for task in TASKS})


class Architecture(NamedTuple):
    """A registered network: ``constructor(**arch_args)`` builds it; ``task`` is one of TASKS."""
    constructor: Callable
    task: str


_REGISTRY = {}

#: Read-only view {name: Architecture(constructor, task)} of every registered architecture.
ARCHITECTURES = MappingProxyType(_REGISTRY)


def register_architecture(name, constructor, task, *, replace=False):
    """Make ``constructor`` buildable as ``name`` (for the scripts, checkpoints, ``load_model``).

    constructor : a callable taking keyword arguments (a Module class or a
        function) that returns a fresh ``tinynet.nn.Module``
    task : "segmentation" or "classification"
    replace : allow a new constructor under a name already registered (otherwise
        ValueError, so that two networks cannot silently share one name)
    Returns ``constructor``, so this can also decorate a class or function.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_architecture: name must be a non-empty string, got {name!r}")
    if not callable(constructor):
        raise TypeError(f"register_architecture: constructor of {name!r} is not callable: "
                        f"{constructor!r}")
    if task not in TASKS:
        raise ValueError(f"register_architecture: task must be one of {list(TASKS)}, "
                         f"got {task!r}")
    if name in _REGISTRY and not replace and _REGISTRY[name] != (constructor, task):
        raise ValueError(f"register_architecture: {name!r} is already registered "
                         f"({_REGISTRY[name].task}); pass replace=True to change it")
    _REGISTRY[name] = Architecture(constructor, task)
    return constructor


def build_model(name, arch_args=None, /, **kwargs):
    """A freshly initialized network of the registered architecture ``name``.

    ``build_model("resnet18", num_classes=2, width=32)``; a checkpoint spec's
    ``arch_args`` dict may be passed as the second argument instead,
    ``build_model(spec["arch"], spec["arch_args"])``.  Keyword arguments go to
    the constructor (e.g. ``weights=`` of the ResNets).
    """
    return _lookup(name).constructor(**{**(arch_args or {}), **kwargs})


def inflate_stem(state, in_channels, key="conv1.weight"):
    """Start weights (a state dict of 3-channel input) for a network of ``in_channels`` =
    3 (2K + 1) inputs, a slice with its K neighbours on each side (``--context K``).

    The 3-channel kernel goes to the channels of the slice itself (the middle group) and
    the neighbours' channels start at zero, so the inflated network first computes exactly
    what the 2-D one did and learns from training how much to look at the neighbours.
    Returns a new dict; the other entries are shared.
    """
    weight = np.asarray(state[key])
    if weight.ndim != 4 or weight.shape[1] != 3 or in_channels % 3:
        raise ValueError(f"inflate_stem: {key} must be (out, 3, kh, kw) and in_channels a "
                         f"multiple of 3, got {weight.shape} and {in_channels}")
    inflated = np.zeros(weight.shape[:1] + (in_channels,) + weight.shape[2:], weight.dtype)
    middle = (in_channels // 3) // 2 * 3
    inflated[:, middle:middle + 3] = weight
    return {**state, key: inflated}


def architecture_names(task=None, *, ensembles=True):
    """The registered names, sorted; only those of ``task`` when it is given, and without the
    ensembles with ``ensembles=False`` (what a training script can train)."""
    return sorted(name for name, entry in _REGISTRY.items() if task in (None, entry.task)
                  and (ensembles or name not in ENSEMBLES.values()))


def _lookup(name):
    if name not in _REGISTRY:
        raise ValueError(f"unknown architecture {name!r}; known: {architecture_names()} "
                         "(a network of your own must be registered first with "
                         "tinynet.mri.architectures.register_architecture)")
    return _REGISTRY[name]


def build_ensemble(task, member_arch, member_args, members):
    """An ``Ensemble`` of ``members`` fresh networks ``build_model(member_arch, member_args)``
    of ``task``: what the registry's "segmentation_ensemble" and "classification_ensemble"
    build (a checkpoint then loads each member's weights)."""
    if member_arch in ENSEMBLES.values():
        raise ValueError(f"an ensemble's members cannot be ensembles ({member_arch!r})")
    if _lookup(member_arch).task != task:
        raise ValueError(f"an ensemble for {task} cannot hold {member_arch!r}, a "
                         f"{_lookup(member_arch).task} network")
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise ValueError(f"an ensemble needs a whole number of members >= 1, got {members!r}")
    return Ensemble([build_model(member_arch, member_args) for _ in range(members)], task)


def member_arguments(arch, arch_args):
    """The arguments of the network that sees the input: ``arch_args`` itself, or for an
    ensemble its members' (``{"member_arch": ..., "member_args": THESE, "members": K}``)."""
    if arch in ENSEMBLES.values() and isinstance(arch_args, dict):
        inner = arch_args.get("member_args")
        return inner if isinstance(inner, dict) else {}
    return arch_args


register_architecture("resunet", models.ResUNet, "segmentation")
register_architecture("resnet18", models.resnet18, "classification")
register_architecture("resnet34", models.resnet34, "classification")
register_architecture("resnet50", models.resnet50, "classification")
for _task, _name in ENSEMBLES.items():
    register_architecture(_name, functools.partial(build_ensemble, _task), _task)
