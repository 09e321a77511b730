"""Sorting, the k largest, and counting: sort, argsort, topk, unique, bincount.

The indices are found on the raw array (no gradient: they are integers); the
values are then gathered at those indices with ``gather``, so the gradient of
the values flows back to the elements they came from and every other element
gets 0.  Ties are kept in their original order (a stable sort), which is one
of the orders PyTorch may return.
"""
from collections import namedtuple

import numpy as np

from .. import backend
from ..autograd import Tensor, _wrap_dim, as_tensor
from .shape import gather, narrow

__all__ = ["sort", "argsort", "topk", "unique", "bincount"]

#: What ``sort`` and ``topk`` return, like ``torch.return_types.sort``.
SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])


def _order(x, dim, descending):
    """Stable argsort of the array ``x`` along ``dim`` (descending keeps ties in order)."""
    xp = backend.get_array_module(x)
    if descending:
        x = -(x.astype(np.int64) if x.dtype.kind in "bu" else x)
    return xp.argsort(x, axis=dim, kind="stable")


def argsort(input, dim=-1, descending=False, stable=False):
    """The indices that sort ``input`` along ``dim`` (int64)."""
    x = as_tensor(input)
    if x.ndim == 0:
        return Tensor._from_array(backend.get_array_module(x.data).zeros((), np.int64))
    dim = _wrap_dim(dim, x.ndim, "argsort")
    return Tensor._from_array(_order(x.data, dim, descending).astype(np.int64))


def sort(input, dim=-1, descending=False, stable=False):
    """``(values, indices)`` of ``input`` sorted along ``dim``; gradients reach the values."""
    x = as_tensor(input)
    if x.ndim == 0:
        return SortResult(x, argsort(x))
    indices = argsort(x, dim, descending)
    return SortResult(gather(x, dim, indices), indices)


def topk(input, k, dim=-1, largest=True, sorted=True):
    """``(values, indices)`` of the ``k`` largest (or smallest) elements along ``dim``."""
    x = as_tensor(input)
    dim = _wrap_dim(dim, x.ndim, "topk")
    if not 0 <= k <= (x.shape[dim] if x.ndim else 1):
        raise ValueError(f"topk: k={k} is out of range for dim {dim} of a tensor of "
                         f"shape {x.shape}")
    indices = narrow(argsort(x, dim, descending=largest), dim, 0, k)
    return TopkResult(gather(x, dim, indices), indices)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values, in increasing order (rows of ``dim=0`` if given), optionally with
    the index of each input element's value (``return_inverse``) and each value's count."""
    x = as_tensor(input).data
    xp = backend.get_array_module(x)
    values, inverse, counts = xp.unique(x, return_inverse=True, return_counts=True, axis=dim)
    out = [Tensor._from_array(values)]
    if return_inverse:
        shape = x.shape if dim is None else (x.shape[dim],)
        out.append(Tensor._from_array(inverse.reshape(shape).astype(np.int64)))
    if return_counts:
        out.append(Tensor._from_array(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def bincount(input, weights=None, minlength=0):
    """How often each value 0, 1, 2, ... occurs in a 1-D non-negative integer tensor
    (summing ``weights`` instead of counting ones, if given)."""
    x = as_tensor(input).data
    if x.ndim != 1 or x.dtype.kind not in "iu":
        raise ValueError(f"bincount: expects a 1-D integer tensor, got shape {x.shape}, dtype "
                         f"{x.dtype}")
    xp = backend.get_array_module(x)
    w = None if weights is None else as_tensor(weights).data
    counts = xp.bincount(x, weights=w, minlength=minlength)
    # NumPy sums weights in float64; PyTorch keeps a floating weights' dtype (float32 stays)
    dtype = np.int64 if w is None else (w.dtype if w.dtype.kind == "f" else np.float64)
    return Tensor._from_array(counts.astype(dtype, copy=False))
