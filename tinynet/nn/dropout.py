"""``Dropout``: random zeroing of elements while training (a regularizer).

In training mode each element is zeroed with probability ``p`` and the
survivors are scaled by 1 / (1 - p), so the expected output equals the input;
in evaluation mode the layer is the identity.  The mask is drawn by the
dropout op (reproducible with ``tn.manual_seed``).
"""
import numbers

from . import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"]


class Dropout(Module):
    """Zero each element with probability ``p`` in training (scale the rest by 1/(1-p))."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        name = type(self).__name__
        if isinstance(p, bool) or not isinstance(p, numbers.Real):
            raise TypeError(f"{name}: p (the dropout probability) must be a number, got {p!r} "
                            f"({type(p).__name__})")
        if not 0 <= p <= 1:  # also refuses NaN
            raise ValueError(f"{name}: p (the dropout probability) must be between 0 and 1, "
                             f"got {p}")
        self.p = p
        self.inplace = inplace  # accepted for PyTorch compatibility; never in place

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Zero whole channels of (N, C, H, W) with probability ``p`` in training (``F.dropout2d``)."""

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training)


class Dropout1d(Dropout):
    """Zero whole channels of (N, C, L) with probability ``p`` in training (``F.dropout1d``)."""

    def forward(self, input):
        return F.dropout1d(input, self.p, self.training)


class Dropout3d(Dropout):
    """Zero whole channels of (N, C, D, H, W) with probability ``p`` in training
    (``F.dropout3d``)."""

    def forward(self, input):
        return F.dropout3d(input, self.p, self.training)
