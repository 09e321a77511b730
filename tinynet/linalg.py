"""``tn.linalg``: the vector norms of ``torch.linalg`` (matrix functions are not in tinynet).

``tn.linalg.vector_norm(x, ord=2, dim=None, keepdim=False)`` and
``tn.linalg.norm(x, ord=None, dim=None)`` with a vector order are ``tn.norm``
with PyTorch's argument name ``ord``; see ``tinynet/ops/vector_norm.py``.
"""
from .ops.vector_norm import norm as _norm

__all__ = ["vector_norm", "norm"]


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The vector ``ord``-norm of ``x`` over ``dim`` (all elements for None)."""
    return _norm(x, ord, dim, keepdim, dtype)


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """``vector_norm`` for a vector order (None, a number, inf); matrix norms are refused."""
    if isinstance(ord, str) or (ord is not None and dim is not None and not isinstance(dim, int)
                                and len(dim) == 2):
        raise NotImplementedError(f"linalg.norm: matrix norms (ord={ord!r}, dim={dim!r}) are "
                                  "not in tinynet; vector norms are")
    return _norm(A, 2 if ord is None else ord, dim, keepdim, dtype)
