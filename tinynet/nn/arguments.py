"""Checks of layer constructor arguments: a bad size names the layer, the argument and the value.

Without them ``nn.Linear(-3, 2)`` fails deep inside NumPy with "negative
dimensions are not allowed", which names neither ``in_features`` nor -3.
"""
import numbers

__all__ = ["check_size"]


def check_size(layer, name, value):
    """``value`` as an int if it is a valid size (an integer >= 0), else raise.

    ``layer`` and ``name`` label the error, e.g. ``check_size("Linear",
    "in_features", -3)`` raises "Linear: in_features must be >= 0, got -3".
    Sizes of 0 are allowed, as in PyTorch (the layer then holds empty weights).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{layer}: {name} must be an int, got {value!r} "
                        f"({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{layer}: {name} must be >= 0, got {value}")
    return int(value)
