"""Helpers that work on whole modules: gradient clipping and parameter counting."""

__all__ = ["clip_grad_norm_", "clip_grad_value_", "count_parameters"]


# The clipping functions live with the optimizers (tinynet.optim, a layer below
# nn in the package); they are imported on first use so nn never depends on optim
# at import time.

def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Rescale gradients so that their global norm is at most ``max_norm``; return the norm
    (``tinynet.optim.clip_grad_norm_``, under PyTorch's name ``nn.utils.clip_grad_norm_``)."""
    from ..optim import clip_grad_norm_ as _clip_grad_norm_
    return _clip_grad_norm_(parameters, max_norm, norm_type=norm_type,
                            error_if_nonfinite=error_if_nonfinite)


def clip_grad_value_(parameters, clip_value):
    """Clip every gradient element to [-clip_value, clip_value] (see ``tinynet.optim``)."""
    from ..optim import clip_grad_value_ as _clip_grad_value_
    return _clip_grad_value_(parameters, clip_value)


def count_parameters(module, only_trainable=False):
    """Number of scalar parameters of ``module`` (shared ones counted once).

    ``only_trainable=True`` skips frozen parameters (``requires_grad=False``).
    """
    return module.num_parameters(only_trainable=only_trainable)
