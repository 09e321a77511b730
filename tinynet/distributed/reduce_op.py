"""``ReduceOp``: how ``all_reduce`` and ``reduce`` combine the ranks' tensors.

The names are PyTorch's (``dist.ReduceOp.SUM``, ...), and so are the rules for
the dtypes they take:

* ``AVG`` is the sum divided by the world size, a float: integer and bool
  tensors cannot hold it, so it is refused for them (PyTorch's Gloo refuses it
  the same way: "result type Float can't be cast to the desired output type Long");
* on bool tensors ``SUM`` and ``MAX`` are a logical or, ``PRODUCT`` and ``MIN``
  a logical and (what NCCL does with bools in PyTorch);
* the bitwise ``BAND``, ``BOR``, ``BXOR`` take integer and bool tensors only.
"""
import enum

import numpy as np

__all__ = ["ReduceOp", "check_reduce_op"]


class ReduceOp(enum.Enum):
    """A reduction of ``all_reduce``/``reduce`` (``torch.distributed.ReduceOp``)."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"

    def __repr__(self):
        return f"ReduceOp.{self.name}"


_BITWISE = (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR)


def check_reduce_op(op, dtype, where):
    """Return ``op`` as a ReduceOp after checking that tensors of ``dtype`` can take it."""
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{where}: op must be a tinynet.distributed.ReduceOp "
                        f"(ReduceOp.SUM, AVG, PRODUCT, MIN, MAX, ...), got {op!r}")
    kind = np.dtype(dtype).kind
    if op is ReduceOp.AVG and kind != "f":
        raise RuntimeError(f"{where}: ReduceOp.AVG of a {np.dtype(dtype)} tensor: the mean is a "
                           f"float, which a {np.dtype(dtype)} tensor cannot hold (reduce with "
                           "SUM and divide, or use a floating-point tensor)")
    if op in _BITWISE and kind not in "biu":
        raise RuntimeError(f"{where}: {op!r} needs an integer or bool tensor, "
                           f"got {np.dtype(dtype)}")
    return op
