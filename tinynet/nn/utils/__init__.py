"""Helpers that work on whole modules: gradient clipping, parameter counting, and the
parameters as one flat vector (``parameters_to_vector``, ``vector_to_parameters``).
Submodule ``rnn``: padding and packing batches of sequences (``pad_sequence``, ...)."""
from . import rnn
from . import parametrizations, parametrize
from .weight_norms import remove_spectral_norm, remove_weight_norm, spectral_norm, weight_norm
from ...autograd import as_tensor, no_grad
from ...ops.shape import cat

__all__ = ["clip_grad_norm_", "clip_grad_value_", "count_parameters", "parameters_to_vector",
           "vector_to_parameters", "weight_norm", "remove_weight_norm", "spectral_norm",
           "remove_spectral_norm"]


# The clipping functions live with the optimizers (tinynet.optim, a layer below
# nn in the package); they are imported on first use so nn never depends on optim
# at import time.

def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Rescale gradients so that their global norm is at most ``max_norm``; return the norm
    (``tinynet.optim.clip_grad_norm_``, under PyTorch's name ``nn.utils.clip_grad_norm_``)."""
    from ...optim import clip_grad_norm_ as _clip_grad_norm_
    return _clip_grad_norm_(parameters, max_norm, norm_type=norm_type,
                            error_if_nonfinite=error_if_nonfinite)


def clip_grad_value_(parameters, clip_value):
    """Clip every gradient element to [-clip_value, clip_value] (see ``tinynet.optim``)."""
    from ...optim import clip_grad_value_ as _clip_grad_value_
    return _clip_grad_value_(parameters, clip_value)


def count_parameters(module, only_trainable=False):
    """Number of scalar parameters of ``module`` (shared ones counted once).

    ``only_trainable=True`` skips frozen parameters (``requires_grad=False``).
    """
    return module.num_parameters(only_trainable=only_trainable)


def parameters_to_vector(parameters):
    """The parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy the consecutive slices of the 1-D ``vec`` into ``parameters`` (in place)."""
    vec = as_tensor(vec)
    if vec.ndim != 1:
        raise TypeError(f"vector_to_parameters: expected a 1-D vector, got shape "
                        f"{tuple(vec.shape)}")
    parameters = list(parameters)
    total = sum(p.numel() for p in parameters)
    if vec.numel() != total:
        raise ValueError(f"vector_to_parameters: the vector has {vec.numel()} values, the "
                         f"parameters {total}")
    start = 0
    with no_grad():
        for p in parameters:
            p.copy_(vec[start:start + p.numel()].reshape(p.shape))
            start += p.numel()

