"""``tn.utils.checkpoint``: PyTorch's activation checkpointing, as a plain call.

``torch.utils.checkpoint.checkpoint(block, x)`` saves memory by forgetting the
block's intermediate results in forward and recomputing them in backward.
tinynet runs ``block(x)`` as it is: the values and gradients are the same, the
memory is not saved.  Code written for PyTorch runs unchanged; a model that
only fits in memory with checkpointing will not fit better here.
"""
__all__ = ["checkpoint", "checkpoint_sequential"]


def checkpoint(function, *args, use_reentrant=None, context_fn=None, determinism_check=None,
               debug=None, preserve_rng_state=True, **kwargs):
    """``function(*args, **kwargs)`` (no recomputation; see the module docstring)."""
    return function(*args, **kwargs)


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Run ``functions`` (a Sequential or a list of modules) one after another on ``input``."""
    for function in (list(functions.children()) if hasattr(functions, "children")
                     else functions):
        input = function(input)
    return input
