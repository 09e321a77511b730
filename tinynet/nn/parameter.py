"""``Parameter``: a Tensor that a Module learns.

Assigning a Parameter to a Module attribute (``self.weight = Parameter(...)``)
registers it, so it shows up in ``parameters()``, ``state_dict()`` and the
optimizer.  A plain Tensor assigned the same way is just an attribute.
"""
import numpy as np

from .. import backend
from ..autograd import Tensor

__all__ = ["Parameter", "empty_parameter"]


class Parameter(Tensor):
    """A leaf Tensor with ``requires_grad=True`` that Modules register as learnable.

    ``Parameter(data=None, requires_grad=True)``:

    * ``data`` may be a Tensor (its array is shared, not copied, like PyTorch),
      a NumPy/CuPy array, or a nested list.  ``None`` (an empty parameter) and
      lists or scalars of floats become float32, tinynet's default; a floating
      array keeps its dtype, so a module can be turned to float64 for gradient
      checks.  Integer data is refused, as in PyTorch: only floating tensors can
      require gradients.
    * The parameter is always a leaf: it is cut from any graph ``data`` was in.
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty((0,), dtype=backend.DEFAULT_DTYPE)
        if isinstance(data, Tensor):
            data = data.data  # share the array; drop the graph
        elif isinstance(data, int) and not isinstance(data, bool):
            data = np.asarray(data)   # a value (refused below, being an integer), not a size
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


def empty_parameter(shape, device=None, dtype=None):
    """An uninitialized Parameter of ``shape`` on ``device`` (float32 unless ``dtype``).

    Layers create their weights with it and fill them in ``reset_parameters``.
    """
    dtype = np.dtype(backend.DEFAULT_DTYPE if dtype is None else dtype)
    return Parameter(backend.xp_for_device(device or "cpu").empty(shape, dtype=dtype))
