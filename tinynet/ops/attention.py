"""Scaled dot-product attention (``F.scaled_dot_product_attention``, Vaswani et al. 2017).

For queries Q (..., L, E), keys K (..., S, E) and values V (..., S, Ev):

    scores = Q K^T * scale + bias          (..., L, S), scale = 1 / sqrt(E) by default
    A      = softmax(scores, dim=-1)       each query's weights over the keys
    out    = dropout(A) V                  (..., L, Ev)

``bias`` is 0 where a query may look at a key and -inf where not: ``is_causal``
lets query i see keys 0..i only; a bool ``attn_mask`` lets it see where True,
a float one is added to the scores.  A query that may see no key at all gets
NaN weights, as in PyTorch's reference implementation.  Written with the
differentiable ops (matmul, softmax, dropout), so it needs no Function.
"""
import math

import numpy as np

from .. import backend
from ..autograd import as_tensor
from .activation import softmax
from .dropout import dropout
from .math import add, masked_fill, matmul, mul
from .shape import repeat_interleave, transpose

__all__ = ["scaled_dot_product_attention"]


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(Q K^T * scale + mask) V over the last two dims; see the module docstring.

    ``enable_gqa``: grouped-query attention, fewer key/value heads (dim -3) than query
    heads, each shared by a group of query heads.
    """
    q, k, v = as_tensor(query), as_tensor(key), as_tensor(value)
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim or q.shape[-1] != k.shape[-1] or \
            k.shape[-2] != v.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: expected query (..., L, E), key "
                         f"(..., S, E) and value (..., S, Ev), got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal, not both")
    if enable_gqa and q.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        groups = q.shape[-3] // k.shape[-3]
        k, v = (repeat_interleave(t, groups, dim=t.ndim - 3) for t in (k, v))
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = mul(matmul(q, transpose(k, -2, -1)), scale)
    length, keys = q.shape[-2], k.shape[-2]
    if is_causal:
        visible = np.tril(np.ones((length, keys), dtype=bool))
        scores = masked_fill(scores, backend.to_device(~visible, q.device), float("-inf"))
    elif attn_mask is not None:
        mask = as_tensor(attn_mask)
        if mask.dtype == np.bool_:
            scores = masked_fill(scores, ~mask, float("-inf"))
        elif mask.dtype in (np.float32, q.dtype):      # PyTorch's rule; the result keeps q's dtype
            scores = add(scores, mask.to(q.dtype))
        else:
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool, float32 "
                            f"or the query's dtype {q.dtype}, got {mask.dtype}")
    weights = softmax(scores, dim=-1)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p, training=True)
    return matmul(weights, v)
