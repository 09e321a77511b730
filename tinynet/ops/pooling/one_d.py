"""1-D pooling of (N, C, L) signals (or one (C, L)): the 2-D pools on an image one row high
(see ``ops/conv/one_d.py`` for why that is the same computation, gradients included)."""
from ...autograd import as_tensor
from ..conv.arguments import takes_one_sample
from ..conv.one_d import _single
from .avg_pool import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d
from .max_pool import max_pool2d

__all__ = ["max_pool1d", "avg_pool1d", "adaptive_avg_pool1d", "adaptive_max_pool1d"]


def _as_row(op, input):
    x = as_tensor(input)
    if x.ndim != 3:
        raise ValueError(f"{op}: expected input (N, C, L), got shape {tuple(x.shape)}")
    return x.unsqueeze(2)


@takes_one_sample(3)
def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """The maximum of each window of ``kernel_size`` along L (stride defaults to the kernel)."""
    op = "max_pool1d"
    kernel = _single(op, "kernel_size", kernel_size)
    stride = kernel if stride is None or stride == [] else _single(op, "stride", stride)
    y = max_pool2d(_as_row(op, input), (1, kernel), (1, stride),
                   (0, _single(op, "padding", padding)), (1, _single(op, "dilation", dilation)),
                   ceil_mode, return_indices)
    if return_indices:           # on a one-row image the index h * W + w is w
        return y[0].squeeze(2), y[1].squeeze(2)
    return y.squeeze(2)


@takes_one_sample(3)
def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """The mean of each window of ``kernel_size`` along L (stride defaults to the kernel)."""
    op = "avg_pool1d"
    kernel = _single(op, "kernel_size", kernel_size)
    stride = kernel if stride is None or stride == [] else _single(op, "stride", stride)
    y = avg_pool2d(_as_row(op, input), (1, kernel), (1, stride),
                   (0, _single(op, "padding", padding)), ceil_mode, count_include_pad)
    return y.squeeze(2)


@takes_one_sample(3)
def adaptive_avg_pool1d(input, output_size):
    """Mean pooling of (N, C, L) to (N, C, output_size) (PyTorch's windows)."""
    size = _single("adaptive_avg_pool1d", "output_size", output_size)
    return adaptive_avg_pool2d(_as_row("adaptive_avg_pool1d", input), (1, size)).squeeze(2)


@takes_one_sample(3)
def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max pooling of (N, C, L) to (N, C, output_size) (PyTorch's windows)."""
    size = _single("adaptive_max_pool1d", "output_size", output_size)
    y = adaptive_max_pool2d(_as_row("adaptive_max_pool1d", input), (1, size), return_indices)
    return (y[0].squeeze(2), y[1].squeeze(2)) if return_indices else y.squeeze(2)
