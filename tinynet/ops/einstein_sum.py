"""``einsum``: products and sums of tensors written as index equations (``torch.einsum``).

``einsum("bij,bjk->bik", a, b)`` is a batched matmul, ``einsum("ij->j", a)`` a
column sum, ``einsum("bhqd,bhkd->bhqk", q, k)`` the attention scores.  Every
letter names a dimension; letters missing from the output are summed over.

The gradient is an einsum too.  With y[out] = sum over the other letters of
prod_j x_j[s_j], the gradient of operand i is

    dx_i[s_i] = sum over the letters not in s_i of  dy[out] * prod_{j != i} x_j[s_j]

i.e. ``einsum("out,s_1,...(without s_i)...->s_i", dy, others)``.  A letter that
only operand i has (summed away in forward) appears in neither dy nor the
others: along it the gradient is constant, so it is computed without that
letter and broadcast.  ``...`` is spelled out as letters first, so it works the
same way (size-1 broadcast dims are summed back with ``sum_to``).
"""
import string

from .. import backend
from ..amp.autocast_mode import autocast_op
from ..autograd import Function, as_tensor
from ..dtypes import result_type
from .math import sum_to

__all__ = ["einsum"]


def _spell_out_ellipsis(inputs, output, ndims):
    """Replace ``...`` with explicit letters (the same letters, right-aligned, everywhere)."""
    used = set("".join(inputs) + (output or ""))
    spare = [c for c in string.ascii_letters if c not in used]
    n_broadcast = max((n - (len(s) - 3) for s, n in zip(inputs, ndims) if "..." in s), default=0)
    letters = "".join(spare[:n_broadcast])
    inputs = [s.replace("...", letters[n_broadcast - (n - (len(s) - 3)):]) if "..." in s else s
              for s, n in zip(inputs, ndims)]
    if output is not None:
        output = output.replace("...", letters)
    return inputs, output, letters


def _parse(equation, ndims):
    """(input subscripts, output subscripts) with ``...`` spelled out and implicit output made
    explicit (the letters used once, in alphabetical order, after the broadcast letters)."""
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    inputs = inputs.split(",")
    if len(inputs) != len(ndims):
        raise ValueError(f"einsum: the equation {equation!r} has {len(inputs)} operands, "
                         f"got {len(ndims)} tensors")
    inputs, output, broadcast = _spell_out_ellipsis(inputs, output if arrow else None, ndims)
    if not arrow:
        letters = "".join(inputs)
        output = broadcast + "".join(sorted(c for c in set(letters) if letters.count(c) == 1
                                            and c not in broadcast))
    for s, n in zip(inputs, ndims):
        if len(s) != n:
            raise ValueError(f"einsum: subscripts {s!r} name {len(s)} dims, but the tensor has "
                             f"{n} (equation {equation!r})")
    return inputs, output


class Einsum(Function):
    """``einsum(equation, *operands)``; see the module docstring for the gradient."""

    def __init__(self, equation, dtype):
        self.equation, self.dtype = equation, dtype

    def forward(self, *xs):
        xp = backend.get_array_module(*xs)
        self.inputs, self.output = _parse(self.equation, [x.ndim for x in xs])
        for s in self.inputs:
            if len(set(s)) != len(s):
                raise NotImplementedError(f"einsum: a letter repeated within one operand "
                                          f"({s!r}, a diagonal) is not supported")
        xs = [x.astype(self.dtype, copy=False) for x in xs]
        self.xs = xs if any(self.needs_input_grad) else None
        return xp.einsum(f"{','.join(self.inputs)}->{self.output}", *xs)

    def backward(self, gy):
        return tuple(self._gradient(i, gy) if needed else None
                     for i, needed in enumerate(self.needs_input_grad))

    def _gradient(self, i, gy):
        xp = backend.get_array_module(gy)
        target, x = self.inputs[i], self.xs[i]
        others = [s for j, s in enumerate(self.inputs) if j != i]
        reachable = set(self.output + "".join(others))
        kept = "".join(c for c in target if c in reachable)
        operands = [gy] + [xj for j, xj in enumerate(self.xs) if j != i]
        g = xp.einsum(f"{','.join([self.output] + others)}->{kept}", *operands)
        g = g.reshape([g.shape[kept.index(c)] if c in kept else 1 for c in target])
        return xp.broadcast_to(sum_to(g, tuple(n if c in kept else 1
                                               for c, n in zip(target, x.shape))), x.shape)


@autocast_op
def einsum(equation, *operands):
    """Sum of products of ``operands`` as the index ``equation`` says (``torch.einsum``).

    ``einsum("ij,jk->ik", a, b)`` is ``a @ b``; operands may also be given as one list.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    tensors = [as_tensor(x) for x in operands]
    return Einsum(equation, result_type(*tensors))(*tensors)
