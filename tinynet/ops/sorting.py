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
from .math import add, mul, sub, where
from .shape import gather, narrow, select

__all__ = ["sort", "argsort", "topk", "unique", "bincount", "median", "kthvalue", "quantile",
           "searchsorted", "bucketize", "histc", "nanmedian", "mode", "unique_consecutive"]

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


# ---------------------------------------------------------------------------
# Order statistics: an element of the sorted input (so the gradient reaches that element)
# ---------------------------------------------------------------------------

#: What ``kthvalue`` and ``median`` with a ``dim`` return, like ``torch.return_types``.
KthvalueResult = namedtuple("kthvalue", ["values", "indices"])
MedianResult = namedtuple("median", ["values", "indices"])


def kthvalue(input, k, dim=-1, keepdim=False):
    """``(values, indices)`` of the k-th smallest element along ``dim`` (k counts from 1)."""
    x = as_tensor(input)
    dim = _wrap_dim(dim, x.ndim, "kthvalue")
    if not 1 <= k <= x.shape[dim]:
        raise ValueError(f"kthvalue: k={k} is out of range for dim {dim} of size "
                         f"{x.shape[dim]}")
    values, indices = sort(x, dim, stable=True)
    result = (narrow(values, dim, k - 1, 1), narrow(indices, dim, k - 1, 1))
    if not keepdim:
        result = tuple(r.squeeze(dim) for r in result)
    return KthvalueResult(*result)


def median(input, dim=None, keepdim=False):
    """The median, the lower of the two middle values for an even count (as PyTorch, not
    their mean); NaN where a slice holds a NaN.  With ``dim``, ``(values, indices)``."""
    x = as_tensor(input)
    if dim is None:
        return median(x.reshape(-1), 0).values
    dim = _wrap_dim(dim, x.ndim, "median")
    values, indices = sort(x, dim, stable=True)          # NaN sorts last
    xp = backend.get_array_module(x.data)
    n = x.shape[dim]
    # the middle, or the first NaN of a slice that has one (at the count of its numbers)
    numbers = xp.sum(~xp.isnan(x.data), axis=dim, keepdims=True) if x.dtype.kind == "f" \
        else xp.full(x.shape[:dim] + (1,) + x.shape[dim + 1:], n)
    position = xp.where(numbers < n, numbers, (n - 1) // 2).astype(np.int64)
    result = (gather(values, dim, Tensor._from_array(position)),
              gather(indices, dim, Tensor._from_array(position)))
    if not keepdim:
        result = tuple(r.squeeze(dim) for r in result)
    return MedianResult(*result)


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The ``q``-quantile(s) along ``dim`` (all elements if None): in the sorted values,
    position q (n - 1), between two neighbours by ``interpolation`` ("linear", "lower",
    "higher", "nearest", "midpoint").  ``q`` a number, or a 1-D tensor (a leading dim)."""
    x = as_tensor(input)
    kept_shape = (1,) * x.ndim                            # keepdim with dim=None: every dim 1
    if dim is None:
        x, dim, flat = x.reshape(-1), 0, True
    else:
        flat = False
    dim = _wrap_dim(dim, x.ndim, "quantile")
    # A tensor q is used in the input's dtype (as PyTorch); a number in float64.
    qs = backend.to_numpy(q.data).astype(x.dtype) if isinstance(q, Tensor) else \
        np.asarray(q, dtype=np.float64)
    if ((qs < 0) | (qs > 1)).any():
        raise ValueError(f"quantile: q must be in [0, 1], got {qs.tolist()}")
    modes = ("linear", "lower", "higher", "nearest", "midpoint")
    if interpolation not in modes:
        raise ValueError(f"quantile: interpolation must be one of {modes}, got "
                         f"{interpolation!r}")
    ordered = sort(x, dim).values
    results = [_quantile_at(ordered, p, dim, keepdim, interpolation) for p in qs.reshape(-1)]
    if x.dtype.kind == "f":
        # A slice with a NaN gives its first NaN (sorted last), and its gradient, as PyTorch.
        xp = backend.get_array_module(x.data)
        numbers = xp.sum(~xp.isnan(x.data), axis=dim, keepdims=True)
        has_nan = Tensor._from_array(numbers < x.shape[dim])
        first_nan = gather(ordered, dim, Tensor._from_array(
            xp.minimum(numbers, x.shape[dim] - 1).astype(np.int64)))
        if not keepdim:
            has_nan, first_nan = has_nan.squeeze(dim), first_nan.squeeze(dim)
        results = [where(has_nan, first_nan, r) for r in results]
    if flat and keepdim:
        results = [r.reshape(kept_shape) for r in results]
    if qs.ndim == 0:
        return results[0]
    from .shape import stack
    return stack(results, 0)


def _quantile_at(ordered, p, dim, keepdim, interpolation):
    position = float(p * p.dtype.type(ordered.shape[dim] - 1))     # in q's dtype
    low, high = int(np.floor(position)), int(np.ceil(position))
    fraction = {"linear": position - low, "lower": 0.0, "higher": 1.0,
                "midpoint": 0.5, "nearest": float(round(position) == high)}[interpolation]
    below, above = select(ordered, dim, low), select(ordered, dim, high)
    value = add(below, mul(sub(above, below), fraction)) if fraction else below
    return value.unsqueeze(dim) if keepdim else value


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None,
                 sorter=None):
    """Where each value of ``input`` would be inserted into ``sorted_sequence`` (its last dim
    sorted) to keep it sorted: the first such index, or the last with ``right=True``.
    A 1-D sequence serves every value; an N-D one, row by row (``input``'s rows)."""
    if sorter is not None:
        raise NotImplementedError("searchsorted: sorter is not supported")
    side = side or ("right" if right else "left")
    sequence, values = as_tensor(sorted_sequence).data, as_tensor(input).data
    xp = backend.get_array_module(sequence)
    if sequence.ndim == 1:
        result = xp.searchsorted(sequence, values, side=side)
    else:
        if sequence.shape[:-1] != values.shape[:-1]:
            raise ValueError(f"searchsorted: the leading dims of sorted_sequence "
                             f"{tuple(sequence.shape)} and input {tuple(values.shape)} differ")
        rows = [xp.searchsorted(s, v, side=side) for s, v in
                zip(sequence.reshape(-1, sequence.shape[-1]), values.reshape(-1, values.shape[-1]))]
        result = xp.stack(rows).reshape(values.shape)
    return Tensor._from_array(result.astype(np.int32 if out_int32 else np.int64))


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each value among the sorted 1-D ``boundaries`` (``searchsorted`` with
    the arguments the other way round; ``right=True``: a value on a boundary goes up)."""
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)



def histc(input, bins=100, min=0, max=0):
    """Histogram of a float tensor: ``bins`` equal-width bins over [min, max] (the data's
    range when min == max; widened by 1 each way if that is one value); element x goes to
    bin floor((x - min) bins / (max - min)), x == max to the last; elements outside the
    range are left out.  A (bins,) tensor of counts in the input's dtype; no gradient."""
    a = as_tensor(input).data
    xp = backend.get_array_module(a)
    if a.dtype.kind != "f":
        raise TypeError(f"histc: only floating-point tensors, got dtype {a.dtype}")
    if bins <= 0:
        raise ValueError(f"histc: bins must be > 0, but got {bins}")
    low, high = float(min), float(max)
    if low == high and a.size:
        low, high = float(a.min()), float(a.max())
    if low == high:
        low, high = low - 1, high + 1
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"histc: range of [{low}, {high}] is not finite")
    if not low < high:
        raise ValueError(f"histc: max must be larger than min, got min={min}, max={max}")
    low, high = np.array(low, a.dtype), np.array(high, a.dtype)     # as PyTorch: in x's dtype
    a = a[(a >= low) & (a <= high)]
    position = xp.minimum(xp.floor((a - low) * bins / (high - low)).astype(np.int64), bins - 1)
    return Tensor._from_array(xp.bincount(position, minlength=bins).astype(a.dtype))


# ---------------------------------------------------------------------------
# NaN-ignoring median, the most frequent value, runs of equal values
# ---------------------------------------------------------------------------

NanmedianResult = namedtuple("nanmedian", ["values", "indices"])
ModeResult = namedtuple("mode", ["values", "indices"])


def nanmedian(input, dim=None, keepdim=False):
    """The median of the non-NaN values (the lower middle one for an even count, as
    ``median``); NaN only where a slice is all NaN (``torch.nanmedian``).  With ``dim``,
    ``(values, indices)``; the gradient reaches the chosen element."""
    x = as_tensor(input)
    if dim is None:
        if x.numel() == 0:
            return Tensor._from_array(backend.get_array_module(x.data).full((), np.nan, x.dtype))
        return nanmedian(x.reshape(-1), 0).values
    dim = _wrap_dim(dim, x.ndim, "nanmedian")
    if x.ndim == 0:
        x = x.reshape(1)
    values, indices = sort(x, dim, stable=True)          # NaN sorts last
    xp = backend.get_array_module(x.data)
    if x.dtype.kind == "f":
        numbers = xp.sum(~xp.isnan(x.data), axis=dim, keepdims=True)
    else:
        numbers = xp.full(x.shape[:dim] + (1,) + x.shape[dim + 1:], x.shape[dim])
    position = xp.maximum((numbers - 1) // 2, 0).astype(np.int64)
    result = (gather(values, dim, Tensor._from_array(position)),
              gather(indices, dim, Tensor._from_array(position)))
    if not keepdim:
        result = tuple(r.squeeze(dim) for r in result)
    if as_tensor(input).ndim == 0:
        result = tuple(r.reshape(()) for r in result)
    return NanmedianResult(*result)


def mode(input, dim=-1, keepdim=False):
    """``(values, indices)``: the most frequent value along ``dim`` (the smallest of those
    tied for most frequent) and the index of its last occurrence, as PyTorch's CPU kernel
    (``torch.mode``); the gradient of the values reaches that element.

    The values are sorted (stably); in each run of equal values the count at position j
    is j - (the run's start) + 1, whose first maximum ends the winning run."""
    x = as_tensor(input)
    squeeze_0d = x.ndim == 0
    if squeeze_0d:
        x = x.reshape(1)
    dim = _wrap_dim(dim, x.ndim, "mode")
    if x.shape[dim] == 0:
        raise ValueError(f"mode: cannot compute on an empty dim {dim} of shape "
                         f"{tuple(x.shape)}")
    from .reduce import _accumulate
    ordered, order = sort(x, dim, stable=True)
    xp = backend.get_array_module(x.data)
    s = xp.moveaxis(ordered.data, dim, -1)
    n = s.shape[-1]
    positions = xp.broadcast_to(xp.arange(n), s.shape)
    starts = xp.concatenate([xp.ones(s.shape[:-1] + (1,), bool), s[..., 1:] != s[..., :-1]],
                            axis=-1)
    run_start = _accumulate(np.maximum, xp.where(starts, positions, 0), s.ndim - 1, xp)
    best = xp.argmax(positions - run_start, axis=-1)[..., None]     # the end of the longest run
    best = Tensor._from_array(xp.moveaxis(best, -1, dim).astype(np.int64))
    result = (gather(ordered, dim, best), gather(order, dim, best))
    if not keepdim or squeeze_0d:
        result = tuple(r.squeeze(dim) for r in result)
    return ModeResult(*result)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """Each run of equal consecutive values kept once (of the flattened input, or of the
    slices along ``dim``) (``torch.unique_consecutive``), optionally with each element's
    run number (``return_inverse``) and each run's length (``return_counts``).  No gradient.
    On the GPU the number of runs is read back to the host to size the output (a device
    wait, as ``unique``)."""
    x = as_tensor(input).data
    xp = backend.get_array_module(x)
    if dim is None:
        rows, shape = x.reshape(-1, 1), x.shape
    else:
        dim = _wrap_dim(dim, x.ndim, "unique_consecutive")
        rows, shape = xp.moveaxis(x, dim, 0), (x.shape[dim],)
        rows = rows.reshape(rows.shape[0], -1)
    n = rows.shape[0]
    changes = xp.ones(n, dtype=bool)
    if n > 1:
        changes[1:] = xp.any(rows[1:] != rows[:-1], axis=1)
    starts = xp.nonzero(changes)[0]                   # the host wait on the GPU
    if dim is None:
        values = x.reshape(-1)[starts]
    else:
        values = xp.take(x, starts, axis=dim)
    out = [Tensor._from_array(values)]
    if return_inverse:
        inverse = (xp.cumsum(changes) - 1).astype(np.int64)
        out.append(Tensor._from_array(inverse.reshape(shape)))
    if return_counts:
        counts = xp.diff(xp.concatenate([starts, xp.asarray([n])])).astype(np.int64)
        out.append(Tensor._from_array(counts))
    return out[0] if len(out) == 1 else tuple(out)
