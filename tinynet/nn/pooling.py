"""Pooling layers: ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``, ``AdaptiveMaxPool2d``,
and their 1-D (N, C, L) and 3-D (N, C, D, H, W) twins.

Modules around the pooling functions of ``tinynet.ops`` (PyTorch's arguments);
they have no parameters.  Inputs are (N, C, H, W); ``stride`` defaults to
``kernel_size`` (non-overlapping windows), as in PyTorch.
"""
from . import functional as F
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "MaxPool1d",
           "AvgPool1d", "AdaptiveAvgPool1d", "AdaptiveMaxPool1d", "MaxPool3d", "AvgPool3d",
           "AdaptiveAvgPool3d", "AdaptiveMaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"]


class MaxPool2d(Module):
    """Maximum over each kH x kW window: (N, C, H, W) -> (N, C, OH, OW)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over each kH x kW window: (N, C, H, W) -> (N, C, OH, OW)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Mean pooling to a fixed output size: (N, C, H, W) -> (N, C, *output_size).

    ``AdaptiveAvgPool2d(1)`` (or ``(1, 1)``) is global average pooling, as in ResNet.
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(AdaptiveAvgPool2d):
    """Max pooling to a fixed output size: (N, C, H, W) -> (N, C, *output_size)."""

    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)


class MaxPool1d(MaxPool2d):
    """Maximum over each window of ``kernel_size`` along L: (N, C, L) -> (N, C, OL)."""

    def forward(self, input):
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class AvgPool1d(AvgPool2d):
    """Mean over each window of ``kernel_size`` along L: (N, C, L) -> (N, C, OL)."""

    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self):         # PyTorch's 1-D average pool shows 1-tuples
        return (f"kernel_size={_one(self.kernel_size)}, stride={_one(self.stride)}, "
                f"padding={_one(self.padding)}")


class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    """Mean pooling of (N, C, L) to (N, C, output_size)."""

    def forward(self, input):
        return F.adaptive_avg_pool1d(input, self.output_size)


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    """Max pooling of (N, C, L) to (N, C, output_size)."""

    def forward(self, input):
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)


class MaxPool3d(MaxPool2d):
    """Maximum over each kD x kH x kW window: (N, C, D, H, W) -> (N, C, OD, OH, OW)."""

    def forward(self, input):
        return F.max_pool3d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)


class AvgPool3d(AvgPool2d):
    """Mean over each kD x kH x kW window: (N, C, D, H, W) -> (N, C, OD, OH, OW)."""

    def forward(self, input):
        return F.avg_pool3d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class AdaptiveAvgPool3d(AdaptiveAvgPool2d):
    """Mean pooling of (N, C, D, H, W) to (N, C, *output_size); 1 is the global average."""

    def forward(self, input):
        return F.adaptive_avg_pool3d(input, self.output_size)


class AdaptiveMaxPool3d(AdaptiveMaxPool2d):
    """Max pooling of (N, C, D, H, W) to (N, C, *output_size)."""

    def forward(self, input):
        return F.adaptive_max_pool3d(input, self.output_size, self.return_indices)


class MaxUnpool2d(Module):
    """The partial inverse of MaxPool2d(return_indices=True): ``unpool(values, indices)``
    puts each value back where its maximum was, zeros elsewhere (SegNet's decoder);
    ``forward(input, indices, output_size)`` may name the pool's input size."""
    _function = staticmethod(F.max_unpool2d)

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def forward(self, input, indices, output_size=None):
        return self._function(input, indices, self.kernel_size, self.stride, self.padding,
                              output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(MaxUnpool2d):
    """The partial inverse of MaxPool1d(return_indices=True), on (N, C, L)."""
    _function = staticmethod(F.max_unpool1d)


class MaxUnpool3d(MaxUnpool2d):
    """The partial inverse of MaxPool3d(return_indices=True), on (N, C, D, H, W)."""
    _function = staticmethod(F.max_unpool3d)


def _one(value):
    return value if isinstance(value, tuple) else (value,)

