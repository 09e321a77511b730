"""Dropout: zero each element with probability p while training (inverted dropout).

    y = x * mask,   mask = keep / (1 - p),   keep ~ Bernoulli(1 - p), one per element

Scaling the kept elements by 1 / (1 - p) at training time keeps E[y] = x, so
evaluation is the identity and needs no rescaling.  Backward is g * mask.

Randomness: on the CPU the mask is drawn from ``backend.get_rng()``, the
generator ``tn.manual_seed`` resets, so a seed fixes the masks; on the GPU it
is drawn on the device by ``cupy.random`` (also seeded by ``tn.manual_seed``),
to avoid copying a full-size mask over the bus every step.
"""
from .. import backend
from ..autograd import Function, as_tensor

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d"]


def _uniform(xp, shape):
    """float32 uniform [0, 1) samples of ``shape`` on the device of ``xp``."""
    if xp is backend.np:
        return backend.get_rng().random(shape, dtype=backend.np.float32)
    return xp.random.random(shape, dtype=xp.float32)


class DropoutFunction(Function):
    """y = x * mask with mask in {0, 1 / (1 - p)} (x's dtype); saves only the mask.

    ``whole_channels``: one draw per (sample, channel), broadcast over the positions
    (``dropout2d``: the mask is (N, C, 1, 1) for x (N, C, H, W)).
    """

    def __init__(self, p, whole_channels=False):
        self.p = p
        self.whole_channels = whole_channels

    def forward(self, x):
        xp = backend.get_array_module(x)
        shape = x.shape[:2] + (1,) * (x.ndim - 2) if self.whole_channels else x.shape
        if self.p == 1:  # everything dropped; 1 / (1 - p) would be inf, and 0 * inf is nan
            mask = xp.zeros(shape, dtype=x.dtype)
        else:
            # u >= p has probability 1 - p for u uniform in [0, 1).
            mask = (_uniform(xp, shape) >= self.p).astype(x.dtype)
            mask *= x.dtype.type(1 / (1 - self.p))
        self.mask = mask
        return x * mask

    def backward(self, g):
        return g * self.mask


def dropout(input, p=0.5, training=True, inplace=False):
    """Inverted dropout, like ``torch.nn.functional.dropout``.

    While ``training``, each element is zeroed with probability ``p`` and the
    others are scaled by 1 / (1 - p); with ``training=False`` or ``p=0`` the
    input is returned unchanged.  ``inplace`` is accepted for signature
    compatibility and ignored (the result is always a new tensor).
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: probability p has to be between 0 and 1, but got {p}")
    x = as_tensor(input)
    if not training or p == 0:
        return x
    if x.dtype.kind != "f":
        raise TypeError(f"dropout: expected a floating-point input, got dtype {x.dtype}")
    return DropoutFunction(float(p))(x)


def _channel_dropout(op, input, p, training, layout):
    """Zero whole channels of an input of ``layout`` (e.g. "(N, C, H, W)") with probability
    ``p``; one sample without its batch dim (one rank less) is taken too, as PyTorch does."""
    if not 0 <= p <= 1:
        raise ValueError(f"{op}: probability p has to be between 0 and 1, but got {p}")
    x = as_tensor(input)
    rank = layout.count(",") + 1
    if x.ndim == rank - 1:
        return _channel_dropout(op, x.unsqueeze(0), p, training, layout).squeeze(0)
    if x.ndim != rank:
        raise ValueError(f"{op}: expected input {layout} (or one sample without N), got shape "
                         f"{tuple(x.shape)}")
    if not training or p == 0:
        return x
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")
    return DropoutFunction(float(p), whole_channels=True)(x)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Channel dropout, like ``torch.nn.functional.dropout2d``: input (N, C, H, W).

    While ``training``, each whole channel of each sample is zeroed with
    probability ``p`` (neighbouring pixels of a feature map are correlated, so
    dropping single pixels regularizes little) and the kept ones are scaled by
    1 / (1 - p).  ``inplace`` is accepted and ignored, as in ``dropout``.
    """
    x = as_tensor(input)
    if x.ndim != 4:      # PyTorch reads a 3-D input ambiguously (and warns); refuse it here
        raise ValueError(f"dropout2d: expected input (N, C, H, W), got shape {tuple(x.shape)}")
    return _channel_dropout("dropout2d", x, p, training, "(N, C, H, W)")


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Channel dropout of (N, C, L) signals (or one (C, L)), like ``F.dropout1d``."""
    return _channel_dropout("dropout1d", input, p, training, "(N, C, L)")


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Channel dropout of (N, C, D, H, W) volumes (or one (C, D, H, W)), like ``F.dropout3d``."""
    return _channel_dropout("dropout3d", input, p, training, "(N, C, D, H, W)")
