"""``linear``: the fully connected layer as a function, like ``torch.nn.functional.linear``.

    y = input @ weight.T + bias

Shapes: input (N, *, in_features), weight (out_features, in_features) (PyTorch's
layout), bias (out_features,) -> y (N, *, out_features).

It is a composition of existing ops (transpose, matmul, add), so it needs no
Function of its own: their backward passes give
    d input  = dy @ weight                       (N, *, in_features)
    d weight = sum over N, * of dy^T @ input     (out_features, in_features)
    d bias   = sum over N, * of dy               (out_features,)
"""
from ..amp.autocast_mode import autocast_op
from ..autograd import as_tensor
from .math import add, matmul
from .shape import transpose

__all__ = ["linear"]


@autocast_op
def linear(input, weight, bias=None):
    """``input @ weight.T + bias``: input (N, *, in), weight (out, in), bias (out,) -> (N, *, out).

    Raises ValueError naming the shapes when in_features or the bias size disagree.
    """
    input, weight = as_tensor(input), as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), "
                         f"got shape {weight.shape}")
    if input.ndim < 1 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input has {input.shape[-1] if input.ndim else 0} features "
                         f"(shape {input.shape}) but weight expects {weight.shape[1]} "
                         f"(weight shape {weight.shape})")
    out = matmul(input, transpose(weight, 1, 0))
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},) to match "
                             f"weight shape {weight.shape}, got {bias.shape}")
        out = add(out, bias)
    return out
