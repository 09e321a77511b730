"""Weight normalization and spectral normalization: a weight recomputed before every forward.

Both replace a module's parameter (``weight``, say) by other tensors and a
forward pre-hook (``nn/hooks.py``, ``Module.register_forward_pre_hook``) that
computes ``module.weight`` from them before each call, so ``forward`` reads
an ordinary attribute and autograd carries the gradient back to the new
parameters.  Names and shapes are PyTorch's (``torch.nn.utils.weight_norm``
and the classic ``torch.nn.utils.spectral_norm``), so state_dicts load by name.

``weight_norm`` (Salimans & Kingma 2016): ``weight = g * v / ||v||``.  The
parameter becomes ``weight_g`` (the magnitude) and ``weight_v`` (the
direction); the norm runs over every dim but ``dim``, so for a Linear
(O, I) weight and dim=0, weight_g is (O, 1): one length per output.
``dim=None`` (or -1, as in PyTorch) takes one norm of the whole tensor and a
0-d weight_g.

``spectral_norm`` (Miyato et al. 2018): ``weight = weight_orig / sigma``, sigma
the largest singular value of weight_orig seen as a matrix (``dim`` first,
the rest flattened: (O, I*KH*KW) for a conv weight; dim=1 for the transposed
convolutions, whose weight is (I, O, KH, KW)).  sigma is estimated by power
iteration on the buffers ``weight_u`` (O,) and ``weight_v`` (I*KH*KW,): in
training mode each forward first runs ``n_power_iterations`` steps ::

    v = normalize(W^T u),  u = normalize(W v)       (in place, without gradient)

and then ``sigma = u . (W v)``, differentiated through W only; in eval mode
the stored u, v are used as they are.  The parameter is ``weight_orig``.
"""
from ... import backend
from ...autograd import Tensor, no_grad
from ...ops.creation import randn
from ..parameter import Parameter

__all__ = ["weight_norm", "remove_weight_norm", "spectral_norm", "remove_spectral_norm"]


def _find_hook(module, kind, name):
    """(key, hook) of the ``kind`` pre-hook of ``module`` for parameter ``name``, or None."""
    for key, hook in module._forward_pre_hooks.items():
        if isinstance(hook, kind) and hook.name == name:
            return key, hook
    return None


# ---------------------------------------------------------------------------
# Weight normalization
# ---------------------------------------------------------------------------

def _norm_except_dim(v, dim):
    """The 2-norm of ``v`` over every dim but ``dim``, keeping dims (-1: one norm, 0-d)."""
    if dim == -1:
        return (v * v).sum().sqrt()
    axes = tuple(a for a in range(v.ndim) if a != dim % v.ndim)
    if not axes:                               # a 1-D v: one norm per entry
        return (v * v).sqrt()
    return (v * v).sum(dim=axes, keepdim=True).sqrt()


class WeightNorm:
    """The forward pre-hook of ``weight_norm``: ``module.<name> = g * v / ||v||``."""

    def __init__(self, name, dim):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module):
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return v * (g / _norm_except_dim(v, self.dim))

    @staticmethod
    def apply(module, name, dim):
        if _find_hook(module, WeightNorm, name) is not None:
            raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter "
                               f"{name}")
        weight = module._parameters.get(name)
        if weight is None:
            raise ValueError(f"weight_norm: {type(module).__name__} has no parameter {name!r}")
        fn = WeightNorm(name, dim)
        if fn.dim != -1 and not -weight.ndim <= fn.dim < weight.ndim:
            raise IndexError(f"weight_norm: dim {dim} is out of range for parameter {name!r} "
                             f"of shape {tuple(weight.shape)}")
        del module._parameters[name]
        with no_grad():
            g = _norm_except_dim(weight.detach(), fn.dim)
        module.register_parameter(name + "_g", Parameter(g.data))
        module.register_parameter(name + "_v", Parameter(weight.data))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.data))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Reparameterize ``module.<name>`` as ``g * v / ||v||`` (``torch.nn.utils.weight_norm``).

    Adds parameters ``<name>_g`` (the norms: the weight's shape with 1 in every dim
    but ``dim``; 0-d for ``dim=None``) and ``<name>_v`` (the weight itself at first),
    removes the parameter ``<name>`` and recomputes it before every forward.
    Returns ``module``.
    """
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name="weight"):
    """Undo ``weight_norm``: ``<name>`` becomes a plain parameter again, of the current
    ``g * v / ||v||``; ``<name>_g`` and ``<name>_v`` are removed.  Returns ``module``."""
    return _remove(module, WeightNorm, name, "weight_norm")


# ---------------------------------------------------------------------------
# Spectral normalization
# ---------------------------------------------------------------------------

def _normalized(array, eps):
    """``array / max(||array||, eps)`` (``F.normalize`` of a vector), on raw arrays."""
    xp = backend.get_array_module(array)
    return array / xp.maximum(xp.linalg.norm(array), eps)   # stays on the device


class SpectralNorm:
    """The forward pre-hook of ``spectral_norm``: ``module.<name> = weight_orig / sigma``."""

    def __init__(self, name="weight", n_power_iterations=1, dim=0, eps=1e-12):
        if n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.name = name
        self.n_power_iterations = n_power_iterations
        self.dim = dim
        self.eps = eps

    def reshape_weight_to_matrix(self, weight):
        """The weight as a matrix: dim ``dim`` first, the others flattened into columns."""
        if self.dim != 0:
            dim = self.dim % weight.ndim
            weight = weight.permute(dim, *[d for d in range(weight.ndim) if d != dim])
        return weight.reshape(weight.shape[0], -1)

    def compute_weight(self, module, do_power_iteration):
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            w = weight_mat.data
            for _ in range(self.n_power_iterations):
                # In place, as PyTorch's ``out=``: the buffers keep their identity.
                v.data[...] = _normalized(w.T @ u.data, self.eps)
                u.data[...] = _normalized(w @ v.data, self.eps)
            u, v = Tensor(u.data.copy()), Tensor(v.data.copy())   # constants of sigma
        sigma = u.dot(weight_mat.mv(v))
        return weight / sigma

    @staticmethod
    def apply(module, name, n_power_iterations, dim, eps):
        if _find_hook(module, SpectralNorm, name) is not None:
            raise RuntimeError(f"Cannot register two spectral_norm hooks on the same parameter "
                               f"{name}")
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        weight = module._parameters.get(name)
        if weight is None:
            raise ValueError(f"`SpectralNorm` cannot be applied as parameter `{name}` is None")
        if not -weight.ndim <= dim < weight.ndim:
            raise IndexError(f"spectral_norm: dim {dim} is out of range for parameter "
                             f"{name!r} of shape {tuple(weight.shape)}")
        with no_grad():
            h, w = fn.reshape_weight_to_matrix(weight).shape
            device = backend.device_of(weight.data)
            u = _normalized(randn(h, dtype=weight.dtype, device=device).data, eps)
            v = _normalized(randn(w, dtype=weight.dtype, device=device).data, eps)
        delattr(module, name)
        module.register_parameter(name + "_orig", weight)
        setattr(module, name, weight.detach())
        module.register_buffer(name + "_u", u)
        module.register_buffer(name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        delattr(module, self.name + "_u")
        delattr(module, self.name + "_v")
        delattr(module, self.name + "_orig")
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Divide ``module.<name>`` by its spectral norm before every forward
    (``torch.nn.utils.spectral_norm``, the classic hook version).

    The parameter becomes ``<name>_orig``; buffers ``<name>_u`` (rows of the
    weight matrix) and ``<name>_v`` (its columns) hold the power iteration's
    vectors, random unit vectors at first and updated in training mode only.
    ``dim`` (the output dim) defaults to 1 for ConvTranspose1d/2d/3d, else 0.
    Returns ``module``.
    """
    if dim is None:
        from ..conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
        transposed = (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)
        dim = 1 if isinstance(module, transposed) else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module, name="weight"):
    """Undo ``spectral_norm``: ``<name>`` becomes a plain parameter holding
    ``weight_orig / sigma`` with the stored u, v (no power iteration); the
    ``_orig``, ``_u`` and ``_v`` tensors are removed.  Returns ``module``."""
    return _remove(module, SpectralNorm, name, "spectral_norm")


def _remove(module, kind, name, label):
    """Take the ``kind`` hook of parameter ``name`` off ``module`` (its plain weight back)."""
    found = _find_hook(module, kind, name)
    if found is None:
        raise ValueError(f"{label} of '{name}' not found in {module}")
    key, hook = found
    hook.remove(module)
    del module._forward_pre_hooks[key]
    return module
