"""``tn.amp``: mixed-precision training, as ``torch.amp``.  Off unless asked for.

``autocast`` (autocast_mode.py): inside ``with tn.autocast("gpu"):`` convolutions
and matrix products run in float16, losses, softmax, sums and norms in float32
(one table, ``POLICY``, says which op does what); the float32 weights get
float32 gradients.  ``GradScaler`` (grad_scaler.py): scales the loss so that
the float16 gradients of the backward pass do not underflow, and skips the
steps whose gradients overflowed.  The idiom is in grad_scaler.py's docstring.

Neither module imports the ops at load time: the ops import autocast_mode.py
(each op of the table wears its ``autocast_op`` decorator).  The module is not
called autocast.py so that ``tn.amp.autocast`` can be the class, as in PyTorch.
"""
from .autocast_mode import POLICY, autocast, get_autocast_dtype, is_autocast_enabled
from .grad_scaler import GradScaler

__all__ = ["autocast", "GradScaler", "is_autocast_enabled", "get_autocast_dtype", "POLICY"]
