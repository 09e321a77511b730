"""Utilities beside the core (``torch.utils``): ``tinynet.utils.data``, datasets and loaders;
``tinynet.utils.checkpoint`` (PyTorch's activation checkpointing, as a plain call)."""
from . import checkpoint, data

__all__ = ["data", "checkpoint"]
