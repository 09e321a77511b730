"""Vector norms and what is built on them: norm, normalize, cosine_similarity,
cdist, pairwise_distance and pdist.

``norm(x, p, dim)`` is the vector p-norm over ``dim`` (every element for None),
as ``torch.linalg.vector_norm``:

    p = 2 (default): sqrt(sum x^2)     p = 1: sum |x|      p = inf: max |x|
    p = -inf: min |x|                   p = 0: the number of nonzeros
    other p: (sum |x|^p)^(1/p)

Its gradient sign(x) |x|^(p-1) / ||x||^(p-1) is taken as 0 where the norm is 0
(PyTorch's choice: the norm has no derivative there); for p = +-inf it goes to
the extreme elements, split evenly among ties.

Distances (PyTorch's definitions):

    pairwise_distance(x1, x2)  ||x1 - x2 + eps||_p over the last dim (rows matched up)
    pdist(x)                   ||x_i - x_j||_p for the rows i < j of x (N, M), in
                               row-major order of the upper triangle: (N (N - 1) / 2,)
    cdist(x1, x2)              ||x1_i - x2_j||_p for every pair of rows: (P, R)
"""
import numpy as np

from .. import backend
from ..amp.autocast_mode import autocast_op
from ..autograd import Function, _wrap_dim, as_tensor
from .math import _broadcast_shapes, add, clamp_min, div, mul, sub, where
from .shape import broadcast_to, index_select
from .reduce import _drop_dims, _expand_back, _normalize_dims, dims_argument, sum

__all__ = ["norm", "normalize", "cosine_similarity", "cdist", "pairwise_distance", "pdist",
           "renorm", "dist"]


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
    inputs are first broadcast to one shape, which ``dim`` indexes: (N, D) with
    (1, D) or (D,) gives (N,).  As in PyTorch, the clamp at ``eps`` changes the
    norms' values but not their gradients (see ``clamp_min_value_only``).
    """
    x1, x2 = _broadcast_pair("cosine_similarity", x1, x2)
    unit1 = div(x1, clamp_min_value_only(norm(x1, 2, dim, keepdim=True), eps))
    unit2 = div(x2, clamp_min_value_only(norm(x2, 2, dim, keepdim=True), eps))
    return sum(mul(unit1, unit2), dim)


def _broadcast_pair(name, x1, x2):
    """x1 and x2 as Tensors broadcast to their common shape (a ValueError naming both if none)."""
    x1, x2 = as_tensor(x1), as_tensor(x2)
    shape = _broadcast_shapes(name, x1, x2)
    return tuple(x if tuple(x.shape) == shape else broadcast_to(x, shape) for x in (x1, x2))


def clamp_min_value_only(input, min):
    """max(input, min) in value, with the gradient of ``input`` itself (1 everywhere).

    PyTorch's cosine_similarity and gaussian_nll_loss clamp in place under
    ``no_grad``, so the clamp is invisible to autograd; this does the same.
    """
    input = as_tensor(input)
    return add(input, sub(clamp_min(input, min), input).detach())


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



def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim (``F.pairwise_distance``).

    x1, x2: (N, D) and (N, D), or any shapes that broadcast, e.g. (N, D) with
    (D,) or (1, D); the result drops the last dim of the broadcast shape: (N,)
    ((N, 1) with ``keepdim``).  ``eps`` (added to the difference, as PyTorch
    does) keeps the norm away from 0, where it has no gradient.
    """
    x1, x2 = _broadcast_pair("pairwise_distance", x1, x2)
    difference = add(sub(x1, x2), eps)
    return norm(difference, p, dim=difference.ndim - 1 if difference.ndim else None,
                keepdim=keepdim)


def pdist(input, p=2):
    """The p-norm distance between every pair of rows of ``input`` (N, M) (``F.pdist``).

    Returns (N (N - 1) / 2,): ||x_0 - x_1||, ||x_0 - x_2||, ..., ||x_{N-2} - x_{N-1}||,
    the upper triangle of cdist(input, input) above the diagonal, row by row.
    Memory N^2 / 2 * M.
    """
    x = as_tensor(input)
    if x.ndim != 2:
        raise ValueError(f"pdist: input must be 2-D (N, M), got shape {tuple(x.shape)}")
    if p < 0:
        raise ValueError(f"pdist: p must be non-negative, got {p}")
    n = x.shape[0]
    rows, cols = np.triu_indices(n, 1)
    first = index_select(x, 0, rows.astype(np.int64))
    second = index_select(x, 0, cols.astype(np.int64))
    return norm(sub(first, second), p, dim=-1)


def renorm(input, p, dim, maxnorm):
    """Each slice ``input.select(dim, i)`` whose p-norm exceeds ``maxnorm`` scaled down to
    norm ``maxnorm`` (by maxnorm / (norm + 1e-7), PyTorch's factor); the others unchanged.
    The norm is part of the graph, so the gradient includes its derivative, as PyTorch's."""
    x = as_tensor(input)
    if p <= 0:
        raise ValueError(f"renorm: non-positive norm p={p} is not supported")
    if maxnorm < 0:
        raise ValueError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if x.ndim < 2:
        raise ValueError(f"renorm: input needs at least 2 dimensions, got {x.ndim} dimensions")
    dim = _wrap_dim(dim, x.ndim, "renorm")
    norms = norm(x, p, tuple(d for d in range(x.ndim) if d != dim), keepdim=True)
    return mul(x, where(norms > maxnorm, div(maxnorm, add(norms, 1e-7)), 1.0))


def dist(input, other, p=2):
    """The p-norm of ``input - other`` (broadcast) over all their elements, a 0-d tensor
    (``torch.dist``); the gradient at a zero difference is 0, as PyTorch's."""
    from .math import sub
    return norm(sub(input, other), p)
