"""``weight_norm`` and ``spectral_norm`` as parametrizations (``torch.nn.utils.parametrizations``).

The same maths as the classic hook versions in ``weight_norms.py``, on the
newer API of ``parametrize.py``: the weight is computed when read, and the
tensors live under ``module.parametrizations.weight``, with PyTorch's names::

    weight_norm:   parametrizations.weight.original0   g  (norms, 1 in every dim but dim)
                   parametrizations.weight.original1   v  (the direction)
    spectral_norm: parametrizations.weight.original    the weight before normalization
                   parametrizations.weight.0._u, ._v   the power iteration's vectors

Spectral norm differs from the classic one in its power iteration order
(``u = normalize(W v)`` then ``v = normalize(W^T u)``), in running 15 steps at
registration, and in normalizing a 1-D weight directly (``weight / ||weight||``).
"""
from ... import backend
from ...autograd import Tensor, no_grad
from ...ops.creation import randn
from ...ops.vector_norm import normalize
from ..module import Module
from . import parametrize
from .weight_norms import _norm_except_dim

__all__ = ["weight_norm", "spectral_norm"]


class _WeightNorm(Module):
    """``weight = g * v / ||v||``, the norm over every dim but ``dim`` (-1: the whole tensor)."""

    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return weight_v * (weight_g / _norm_except_dim(weight_v, self.dim))

    def right_inverse(self, weight):
        return _norm_except_dim(weight.detach(), self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """Reparameterize ``module.<name>`` as ``g * v / ||v||`` (the norm over every dim but
    ``dim``; ``dim=None``: of the whole tensor).  ``g`` and ``v`` are stored as
    ``parametrizations.<name>.original0`` and ``original1``.  Returns ``module``."""
    weight = getattr(module, name, None)
    if weight is not None and dim is not None and dim != -1 \
            and not -weight.ndim <= dim < weight.ndim:
        raise IndexError(f"weight_norm: dim {dim} is out of range for {name!r} of shape "
                         f"{tuple(weight.shape)}")
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


def _normalized(array, eps):
    """``F.normalize`` of a vector, on raw arrays: ``array / max(||array||, eps)``."""
    xp = backend.get_array_module(array)
    return array / xp.maximum(xp.linalg.norm(array), eps)


class _SpectralNorm(Module):
    """``weight / sigma``, sigma the largest singular value of the weight seen as a matrix
    (dim ``dim`` first, the rest flattened), estimated by power iteration on the buffers
    ``_u`` and ``_v`` (``n_power_iterations`` steps per forward in training mode)."""

    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight.detach())
            h, w = weight_mat.shape
            device = backend.device_of(weight.data)
            with no_grad():
                u = randn(h, dtype=weight.dtype, device=device).data
                v = randn(w, dtype=weight.dtype, device=device).data
            self.register_buffer("_u", _normalized(u, eps))
            self.register_buffer("_v", _normalized(v, eps))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight):
        if self.dim != 0:
            weight = weight.permute(self.dim, *[d for d in range(weight.ndim) if d != self.dim])
        return weight.reshape(weight.shape[0], -1)

    def _power_method(self, weight_mat, n_power_iterations):
        """``u = normalize(W v)``, ``v = normalize(W^T u)``, in place (the buffers keep
        their identity) and without gradient."""
        w = weight_mat.data
        u, v = self._u, self._v
        for _ in range(n_power_iterations):
            u.data[...] = _normalized(w @ v.data, self.eps)
            v.data[...] = _normalized(w.T @ u.data, self.eps)

    def forward(self, weight):
        if weight.ndim == 1:
            return normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        u, v = self._u.detach().clone(), self._v.detach().clone()
        sigma = u.dot(weight_mat.mv(v))
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Divide ``module.<name>`` by its spectral norm, estimated by power iteration
    (``torch.nn.utils.parametrizations.spectral_norm``).  ``dim`` (the output dim)
    defaults to 1 for ConvTranspose1d/2d/3d, else 0.  Returns ``module``."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        from ..conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
        transposed = (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)
        dim = 1 if isinstance(module, transposed) else 0
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module
