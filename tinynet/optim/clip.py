"""Gradient clipping, applied between ``backward()`` and ``optimizer.step()``.

``clip_grad_norm_`` treats all gradients as one long vector and, if its norm
exceeds ``max_norm``, scales them all by the same factor so the norm becomes
(almost exactly) ``max_norm``: the update keeps its direction, only its size
is capped.  ``clip_grad_value_`` clamps every gradient element instead.

Both replace each gradient's array by a new one rather than writing into it:
autograd may hand the same array to several leaves (the two inputs of an
addition), and an in-place scale would then be applied twice.
"""
import math

from .. import backend
from ..autograd import Tensor
from .optimizer import _grad_array, _set_grad_array

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(parameters):
    """The parameters (a Tensor or an iterable of them) that have a gradient."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if _grad_array(p) is not None]


def _vector_norm(array, norm_type):
    """The ``norm_type``-norm of ``array`` flattened, as a 0-d array on its device."""
    xp = backend.get_array_module(array)
    magnitude = xp.abs(array.ravel())
    if norm_type == math.inf:
        return magnitude.max() if magnitude.size else xp.zeros((), array.dtype)
    if norm_type == 2.0:
        return xp.sqrt(xp.sum(magnitude * magnitude))  # the common case, without pow
    if norm_type == 0:
        return xp.sum(magnitude != 0).astype(array.dtype)
    return xp.sum(magnitude ** norm_type) ** (1.0 / norm_type)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale gradients in place so that their total norm is at most ``max_norm``.

    The total norm is the ``norm_type``-norm of the per-parameter gradient
    norms (equal to the norm of all gradients concatenated).  If
    ``coef = max_norm / (total + 1e-6)`` is below 1, every gradient is
    multiplied by ``coef`` (PyTorch semantics; the 1e-6 avoids dividing by 0).

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor; those without ``.grad`` are ignored.
    max_norm : float, the largest allowed total norm.
    norm_type : float, the p of the p-norm; ``math.inf`` (or "inf") for the max-norm.
    error_if_nonfinite : bool, raise if the total norm is nan or inf instead of
        scaling the gradients by it.

    Returns
    -------
    Tensor, 0-d, the total norm of the gradients before clipping, on their device
    and of their dtype (as PyTorch: ``clip_grad_norm_(...).item()`` is the float).
    Deciding whether to scale reads it on the host: one device sync a call, where
    PyTorch multiplies by min(coef, 1) on the device instead.
    """
    norm_type = float(norm_type)
    params = _with_grads(parameters)
    if not params:
        return Tensor(backend.np.zeros((), backend.DEFAULT_DTYPE))
    grads = [_grad_array(p) for p in params]
    xp = backend.get_array_module(grads[0])
    norms = xp.stack([_vector_norm(g, norm_type) for g in grads])
    total_norm = _vector_norm(norms, norm_type)
    total = float(total_norm)                      # one device sync, here
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
            f"{total}, so they cannot be clipped; pass error_if_nonfinite=False to scale "
            "them by it anyway")
    coef = float(max_norm) / (total + 1e-6)
    if coef < 1.0 or math.isnan(coef):  # torch multiplies by nan too, poisoning the step
        for p, g in zip(params, grads):
            _set_grad_array(p, g * coef)
    return Tensor(total_norm)


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element into ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in _with_grads(parameters):
        g = _grad_array(p)
        xp = backend.get_array_module(g)
        _set_grad_array(p, xp.clip(g, -clip_value, clip_value))
