"""Vector norms and what is built on them: norm, normalize, cosine_similarity.

``norm(x, p, dim)`` is the vector p-norm over ``dim`` (every element for None),
as ``torch.linalg.vector_norm``:

    p = 2 (default): sqrt(sum x^2)     p = 1: sum |x|      p = inf: max |x|
    p = -inf: min |x|                   p = 0: the number of nonzeros
    other p: (sum |x|^p)^(1/p)

Its gradient sign(x) |x|^(p-1) / ||x||^(p-1) is taken as 0 where the norm is 0
(PyTorch's choice: the norm has no derivative there); for p = +-inf it goes to
the extreme elements, split evenly among ties.
"""
import numpy as np

from .. import backend
from ..amp.autocast_mode import autocast_op
from ..autograd import Function, as_tensor
from .math import clamp_min, div, mul
from .reduce import _drop_dims, _expand_back, _normalize_dims, dims_argument, sum

__all__ = ["norm", "normalize", "cosine_similarity", "cdist"]


def _order(p):
    if p in ("fro", None):
        return 2.0
    if isinstance(p, str):
        raise NotImplementedError(f"norm: p={p!r} is not supported (vector norms only: "
                                  "a number, inf, -inf or 'fro')")
    return float(p)


class Norm(Function):
    """The vector p-norm of ``x`` over dims (see the module docstring for the gradients)."""

    def __init__(self, p, dim, keepdim):
        self.p, self.dim, self.keepdim = p, dim, keepdim

    def forward(self, x):
        xp = backend.get_array_module(x)
        if x.dtype.kind != "f":
            raise TypeError(f"norm: input dtype must be floating point, got {x.dtype}")
        self.dims = _normalize_dims(self.dim, x.ndim, "norm")
        self.in_shape = x.shape
        magnitude = xp.abs(x)
        p = self.p
        if p == np.inf or p == -np.inf:
            y = (magnitude.max if p > 0 else magnitude.min)(axis=self.dims, keepdims=True)
        elif p == 0:
            y = (magnitude != 0).sum(axis=self.dims, keepdims=True).astype(x.dtype)
        elif p == 1:
            y = magnitude.sum(axis=self.dims, keepdims=True)
        elif p == 2:
            y = xp.sqrt((x * x).sum(axis=self.dims, keepdims=True))
        else:
            y = (magnitude ** p).sum(axis=self.dims, keepdims=True) ** (1 / p)
        if self.needs_input_grad[0]:
            self.x, self.y = x, y
        return _drop_dims(y, self.dims, self.keepdim)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        gy = _expand_back(gy, self.in_shape, self.dims, self.keepdim)
        x, y, p = self.x, self.y, self.p
        if p == 0:
            return xp.zeros(self.in_shape, dtype=gy.dtype)
        if p == 1:
            return gy * xp.sign(x)
        if p == np.inf or p == -np.inf:
            hits = xp.abs(x) == y
            return gy * xp.sign(x) * hits / hits.sum(axis=self.dims, keepdims=True)
        safe_y = xp.where(y == 0, 1, y)
        if p == 2:
            scale = x / safe_y
        else:
            scale = xp.sign(x) * xp.abs(x) ** (p - 1) / safe_y ** (p - 1)
        return gy * xp.where(y == 0, 0, scale)


@autocast_op
def norm(input, p="fro", dim=None, keepdim=False, dtype=None, *, axis=None):
    """The vector p-norm over ``dim`` (``torch.norm`` / ``torch.linalg.vector_norm``).

    ``p``: 2 ("fro", the default), 1, inf, -inf, 0 or any other number.
    """
    input = as_tensor(input)
    if dtype is not None:
        input = input.to(dtype)
    return Norm(_order(p), dims_argument("norm", dim, axis), keepdim)(input)


@autocast_op
def normalize(input, p=2.0, dim=1, eps=1e-12):
    """``input / max(||input||_p, eps)`` over ``dim`` (``F.normalize``): unit vectors.

    For (N, C) features with dim=1 every row gets norm 1; ``eps`` keeps a zero
    row from dividing by zero.
    """
    return div(input, clamp_min(norm(input, p, dim, keepdim=True), eps))


@autocast_op
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """cos of the angle between ``x1`` and ``x2`` along ``dim`` (``F.cosine_similarity``).

    = sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) over ``dim``; the
    inputs broadcast, e.g. (N, D) with (1, D) gives (N,).
    """
    unit1 = div(x1, clamp_min(norm(x1, 2, dim, keepdim=True), eps))
    unit2 = div(x2, clamp_min(norm(x2, 2, dim, keepdim=True), eps))
    return sum(mul(unit1, unit2), dim)


def cdist(x1, x2, p=2.0, compute_mode=None):
    """Pairwise p-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M):
    (..., P, R), with d[i, j] = ||x1[i] - x2[j]||_p.  The norm's gradient at a zero
    distance is 0 (no NaN for a point and itself).  Memory P * R * M per batch."""
    a, b = as_tensor(x1), as_tensor(x2)
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-1]:
        raise ValueError(f"cdist: expected x1 (..., P, M) and x2 (..., R, M), got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if p < 0:
        raise ValueError(f"cdist: p must be non-negative, got {p}")
    return norm(a.unsqueeze(-2) - b.unsqueeze(-3), p, dim=-1)

