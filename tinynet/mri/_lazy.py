"""Pillow and tqdm, imported when first used rather than when tinynet.mri is imported.

The framework needs only NumPy and SciPy; the application also reads and writes images
(Pillow) and shows progress bars (tqdm).  Both are installed with tinynet, but a clone
used without ``pip install`` may lack them: importing lazily lets ``--help``, the
architecture registry and checkpoints work there, and the first real use says in one line
what is missing::

    from ._lazy import Image          # use as PIL.Image: Image.fromarray(...)
"""
import importlib

__all__ = ["Image", "ImageDraw", "ImageFont", "tqdm"]

MISSING = ("tinynet.mri needs Pillow and tqdm ({exc}): pip install -e . in the repository, "
           "or pip install tinynet")


def _import(name):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(MISSING.format(exc=exc)) from exc


class _LazyModule:
    """Stands for the module ``name``; imports it at the first attribute read."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attribute):
        return getattr(_import(self._name), attribute)

    def __repr__(self):
        return f"<lazily imported {self._name}>"


Image = _LazyModule("PIL.Image")
ImageDraw = _LazyModule("PIL.ImageDraw")
ImageFont = _LazyModule("PIL.ImageFont")


def tqdm(*args, **kwargs):
    """``tqdm.tqdm(*args, **kwargs)``: a progress bar."""
    return _import("tqdm").tqdm(*args, **kwargs)
