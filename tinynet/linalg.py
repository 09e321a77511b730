"""``tn.linalg``: ``torch.linalg``'s vector norms and its everyday matrix functions.

``tn.linalg.vector_norm(x, ord=2, dim=None, keepdim=False)`` and
``tn.linalg.norm(x, ord=None, dim=None)`` with a vector order are ``tn.norm``
with PyTorch's argument name ``ord``; see ``tinynet/ops/vector_norm.py``.
``inv``, ``det``, ``slogdet``, ``solve``, ``cholesky``, ``eigh`` (and ``eigvalsh``) are
``tinynet/ops/matrix.py``'s, with their gradients; ``matrix_norm`` is the Frobenius norm.
"""
from .autograd import as_tensor
from .ops.math import _cross
from .ops.matrix import cholesky, det, eigh, slogdet, solve
from .ops.matrix import inverse as inv
from .ops.vector_norm import norm as _norm

__all__ = ["vector_norm", "norm", "matrix_norm", "inv", "det", "slogdet", "solve",
           "cholesky", "eigh", "eigvalsh", "cross"]


def eigvalsh(A, UPLO="L"):
    """The eigenvalues (ascending) of symmetric matrices A (..., n, n)."""
    return eigh(A, UPLO)[0]


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """The Frobenius norm of the matrices in ``dim`` (other matrix norms are not in tinynet)."""
    if ord != "fro":
        raise NotImplementedError(f"linalg.matrix_norm: only ord='fro' is in tinynet, got "
                                  f"{ord!r}")
    return _norm(A, 2, tuple(dim), keepdim, dtype)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The vector ``ord``-norm of ``x`` over ``dim`` (all elements for None)."""
    return _norm(x, ord, dim, keepdim, dtype)


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """``vector_norm`` for a vector order (None, a number, inf), ``matrix_norm`` for "fro";
    other matrix norms are refused."""
    if ord == "fro":
        return matrix_norm(A, "fro", (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
    if isinstance(ord, str) or (ord is not None and dim is not None and not isinstance(dim, int)
                                and len(dim) == 2):
        raise NotImplementedError(f"linalg.norm: matrix norms (ord={ord!r}, dim={dim!r}) are "
                                  "not in tinynet; vector norms are")
    return _norm(A, 2 if ord is None else ord, dim, keepdim, dtype)


def cross(input, other, *, dim=-1):
    """The cross product of 3-vectors along ``dim`` (the last by default): see ``tn.cross``."""
    return _cross("linalg.cross", as_tensor(input), as_tensor(other), dim)
