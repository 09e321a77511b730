"""Argument checks shared by the modules of tinynet.mri.data (they raise DataError)."""
import numpy as np

from .errors import DataError

__all__ = ["is_whole_number", "is_real_number", "check_whole_number"]


def is_whole_number(value):
    """True for Python and NumPy integers, False for bools (which are ints in Python)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_real_number(value):
    """True for Python and NumPy integers and floats, False for bools."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_whole_number(value, name, minimum, where):
    """``int(value)`` if it is a whole number >= minimum, else a DataError naming the argument."""
    if not is_whole_number(value) or value < minimum:
        raise DataError(f"{where}: {name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)
