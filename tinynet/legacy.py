"""PyTorch's typed tensor constructors, for old code: ``torch.FloatTensor([1, 2])``,
``torch.LongTensor(labels)``, ``torch.FloatTensor(3, 4)`` (sizes: uninitialized).

Each is ``tn.Tensor`` with a fixed dtype; ``x.type(torch.FloatTensor)`` is not supported
(write ``x.float()``).
"""
import numpy as np

from .autograd import Tensor

__all__ = ["FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor",
           "ByteTensor", "BoolTensor"]


def _typed(name, dtype):
    def construct(*args, device=None):
        if args and all(type(a) is int for a in args):       # sizes: uninitialized, typed
            return Tensor(np.empty(args, dtype=dtype), device=device)
        tensor = Tensor(*args, device=device)
        return tensor if tensor.dtype == dtype else tensor.to(dtype)
    construct.__name__ = construct.__qualname__ = name
    construct.__doc__ = f"``torch.{name}(data or sizes)``: a {np.dtype(dtype).name} tensor."
    return construct


FloatTensor = _typed("FloatTensor", np.float32)
DoubleTensor = _typed("DoubleTensor", np.float64)
HalfTensor = _typed("HalfTensor", np.float16)
LongTensor = _typed("LongTensor", np.int64)
IntTensor = _typed("IntTensor", np.int32)
ShortTensor = _typed("ShortTensor", np.int16)
ByteTensor = _typed("ByteTensor", np.uint8)
BoolTensor = _typed("BoolTensor", np.bool_)
