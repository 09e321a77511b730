"""``MultiheadAttention``: attention with several heads, PyTorch's layer (parameters, masks, layout).

    attn = nn.MultiheadAttention(embed_dim=64, num_heads=8, batch_first=True)
    out, weights = attn(x, x, x)                # self-attention: (N, L, 64), (N, L, L)

The queries, keys and values are projected by one (3E, E) weight ``in_proj_weight``
(and bias), split into ``num_heads`` heads of E / num_heads features, each head
attends on its own (``F.scaled_dot_product_attention``'s math), and the heads'
outputs, concatenated, go through ``out_proj`` (a Linear):

    head_h = softmax(Q_h K_h^T / sqrt(E / heads) + mask) V_h,   out = [head_1 ... head_H] W_o^T + b_o

Masks as PyTorch takes them here (the opposite of scaled_dot_product_attention's
bool convention): a bool ``attn_mask`` (L, S) or (N * heads, L, S) is True where
a query may NOT look; ``key_padding_mask`` (N, S) is True at padding keys; float
masks are added to the scores.  The returned weights are averaged over the heads
(``average_attn_weights``), or None with ``need_weights=False``.
"""
import numpy as np

from ..autograd import as_tensor
from . import functional as F
from . import init
from .linear import Linear
from .module import Module
from .parameter import empty_parameter

__all__ = ["MultiheadAttention"]


class MultiheadAttention(Module):
    """Multi-head attention: (L, N, E) inputs, or (N, L, E) with ``batch_first=True``."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        if add_bias_kv or add_zero_attn or kdim not in (None, embed_dim) or \
                vdim not in (None, embed_dim):
            raise NotImplementedError("MultiheadAttention: add_bias_kv, add_zero_attn and "
                                      "kdim/vdim other than embed_dim are not supported")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.kdim = self.vdim = embed_dim
        self.dropout, self.batch_first = dropout, batch_first
        self.in_proj_weight = empty_parameter((3 * embed_dim, embed_dim), device, dtype)
        if bias:
            self.in_proj_bias = empty_parameter((3 * embed_dim,), device, dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's: Xavier-uniform projections, zero biases (out_proj's weight: Linear's)."""
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        query, key, value = as_tensor(query), as_tensor(key), as_tensor(value)
        unbatched = query.ndim == 2
        if unbatched:                                     # (L, E): one sequence
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = as_tensor(key_padding_mask).unsqueeze(0)
        elif self.batch_first:                            # (N, L, E) -> (L, N, E)
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if is_causal and attn_mask is None:
            raise ValueError("MultiheadAttention: is_causal is a hint about attn_mask; give "
                             "the causal attn_mask too (as PyTorch requires)")
        output, weights = self._attend(query, key, value, key_padding_mask, attn_mask,
                                       need_weights, average_attn_weights)
        if unbatched:
            output = output.squeeze(1)
            weights = None if weights is None else weights.squeeze(0)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, weights

    def _attend(self, query, key, value, key_padding_mask, attn_mask, need_weights, average):
        """The attention of (L, N, E) query and (S, N, E) key/value: (output, weights)."""
        (length, batch, embed), keys = query.shape, key.shape[0]
        heads, head_dim = self.num_heads, self.head_dim
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = (None,) * 3 if self.in_proj_bias is None else self.in_proj_bias.chunk(3)

        def split_heads(x, weight, bias, steps):          # (steps, N, E) -> (N * heads, steps, D)
            projected = F.linear(x, weight, bias)
            return projected.reshape(steps, batch * heads, head_dim).transpose(0, 1)

        q = split_heads(query, w_q, b_q, length) * (1.0 / np.sqrt(head_dim))
        k, v = split_heads(key, w_k, b_k, keys), split_heads(value, w_v, b_v, keys)
        scores = q @ k.transpose(-2, -1)                  # (N * heads, L, S)
        scores = scores + self._mask_bias(attn_mask, key_padding_mask, batch, length, keys,
                                          scores.dtype)
        weights = F.softmax(scores, dim=-1)
        if self.training and self.dropout > 0:
            weights = F.dropout(weights, self.dropout)
        heads_out = weights @ v                           # (N * heads, L, D)
        output = heads_out.transpose(0, 1).reshape(length, batch, embed)
        output = self.out_proj(output)
        if not need_weights:
            return output, None
        weights = weights.reshape(batch, heads, length, keys)
        return output, (weights.mean(dim=1) if average else weights)

    def _mask_bias(self, attn_mask, key_padding_mask, batch, length, keys, dtype):
        """The masks as one additive bias (0 or -inf, or their float values), broadcast to
        (N * heads, L, S); 0 when there are none."""
        bias = 0.0
        for mask, shape in ((attn_mask, None), (key_padding_mask, (batch, 1, 1, keys))):
            if mask is None:
                continue
            mask = as_tensor(mask)
            if mask.dtype == np.bool_:
                mask = mask.float().masked_fill(mask, float("-inf"))
            mask = mask.to(dtype)
            if shape is not None:                          # per key: (N, S) -> every head
                mask = mask.reshape(shape).expand(batch, self.num_heads, 1, keys).reshape(
                    batch * self.num_heads, 1, keys)
            elif mask.ndim == 2:
                mask = mask.reshape(1, length, keys)
            bias = bias + mask
        return bias

    def extra_repr(self):
        return ""
