"""Utilities beside the core (``torch.utils``): ``tinynet.utils.data``, datasets and loaders."""
from . import data

__all__ = ["data"]
