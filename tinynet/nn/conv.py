"""Convolution layers: ``Conv2d``, ``ConvTranspose2d``, and ``Conv1d``, ``ConvTranspose1d``
(the same on (N, C, L) signals; see ``ops/conv/one_d.py``) and ``Conv3d``, ``ConvTranspose3d``
(on (N, C, D, H, W) volumes; ``ops/conv/three_d.py``), PyTorch's arguments and init.

Weights are stored as PyTorch/torchvision store them, so checkpoints load by name:

* Conv2d:          weight (out_channels, in_channels // groups, kH, kW), bias (out_channels,)
* ConvTranspose2d: weight (in_channels, out_channels // groups, kH, kW), bias (out_channels,)
* Conv1d, ConvTranspose1d: the same with one kernel size K for (kH, kW)
* Conv3d, ConvTranspose3d: the same with (kD, kH, kW)

Default initialization (PyTorch's ``reset_parameters``): weight
``kaiming_uniform_(a=sqrt(5))``, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and bias
U(-1/sqrt(fan_in), 1/sqrt(fan_in)), with fan_in = weight.shape[1] * kH * kW
(for ConvTranspose2d that is out_channels // groups * kH * kW, as in PyTorch).
"""

from ..ops.conv.arguments import conv2d_padding, pair, transposed_output_size, triple
from ..ops.conv.one_d import _single
from ..ops.conv.three_d import _depth_padding
from . import functional as F
from . import init
from .arguments import check_size
from .module import Module
from .parameter import empty_parameter

__all__ = ["Conv2d", "ConvTranspose2d", "Conv1d", "ConvTranspose1d", "Conv3d", "ConvTranspose3d"]


def _at_least(layer, name, values, minimum):
    """The (h, w) pair ``values`` if both are >= ``minimum``, else a ValueError naming them."""
    if min(values) < minimum:
        raise ValueError(f"{layer}: {name} must be >= {minimum}, got {values}")
    return values


#: Conv2d's ``padding_mode``s: zeros, or the input padded by F.pad's other modes
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """What the convolution layers share: arguments, parameters, init, repr.  ``_dims``: the
    spatial dims (2 for Conv2d, 1 for Conv1d, 3 for Conv3d), the length of its size tuples."""
    _dims = 2

    def _sizes(self, name, value):
        """``value`` as a tuple of ``_dims`` ints (PyTorch's 1-D layers store 1-tuples)."""
        layer = type(self).__name__
        if self._dims == 1:
            return (_single(layer, name, value),)
        return (pair if self._dims == 2 else triple)(layer, name, value)

    def _border_widths(self):
        """F.pad's widths for ``padding`` (tuples, "valid" or "same"), last axis first:
        (left, right, top, bottom[, front, back]); for the non-zero ``padding_mode``s."""
        if self.padding == "valid":
            sides = [(0, 0)] * self._dims
        elif self.padding == "same":     # an odd total puts its extra zero at the end
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            sides = [(t // 2, t - t // 2) for t in totals]
        else:
            sides = [(p, p) for p in self.padding]
        return tuple(width for side in reversed(sides) for width in side)

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 transposed, output_padding, groups, bias, padding_mode, device, dtype):
        super().__init__()
        name = type(self).__name__
        in_channels = check_size(name, "in_channels", in_channels)
        out_channels = check_size(name, "out_channels", out_channels)
        groups = check_size(name, "groups", groups)
        if groups == 0:
            raise ValueError(f"{name}: groups must be >= 1, got 0")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of "
                             f"{', '.join(map(repr, PADDING_MODES))}, got {padding_mode!r}")
        if transposed and padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported (as in PyTorch)")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _at_least(name, "kernel_size", self._sizes("kernel_size", kernel_size),
                                     1)
        self.stride = _at_least(name, "stride", self._sizes("stride", stride), 1)
        self.padding = padding if isinstance(padding, str) else \
            _at_least(name, "padding", self._sizes("padding", padding), 0)
        self.dilation = _at_least(name, "dilation", self._sizes("dilation", dilation), 1)
        self.transposed = transposed
        self.output_padding = _at_least(name, "output_padding",
                                        self._sizes("output_padding", output_padding), 0)
        self.groups = groups
        self.padding_mode = padding_mode
        if transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = empty_parameter(shape, device, dtype)
        if bias:
            self.bias = empty_parameter((out_channels,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's default init (see the module docstring)."""
        init.default_weight_and_bias_(self.weight, self.bias)

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._dims:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._dims:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution layer: (N, in_channels, H, W) -> (N, out_channels, OH, OW).

    ``OH = (H + 2*padding - dilation*(kH-1) - 1) // stride + 1`` (likewise OW).
    ``padding`` is an int, a pair, ``"valid"`` (no padding) or ``"same"``
    (output size = input size; stride 1 only; where the total padding
    ``dilation*(k-1)`` is odd, e.g. an even kernel, its extra zero row/column
    goes at the bottom/right, as in PyTorch).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, 0, groups, bias, padding_mode, device, dtype)
        # A bad padding string is refused now, not at the first forward (as in PyTorch).
        conv2d_padding("Conv2d", self.padding, self.kernel_size, self.stride, self.dilation)

    def forward(self, input):
        if self.padding_mode == "zeros":
            return F.conv2d(input, self.weight, self.bias, self.stride, self.padding,
                            self.dilation, self.groups)
        # reflect, replicate, circular: pad the input that way, then convolve without padding
        padded = F.pad(input, self._border_widths(), mode=self.padding_mode)
        return F.conv2d(padded, self.weight, self.bias, self.stride, 0, self.dilation,
                        self.groups)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution layer (the adjoint of Conv2d; learned upsampling).

    (N, in_channels, H, W) -> (N, out_channels, OH, OW) with
    ``OH = (H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1``.
    ``forward(input, output_size)`` may name the wanted (OH, OW) instead of
    ``output_padding``, as in PyTorch.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a pair, got "
                             f"{padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         True, output_padding, groups, bias, padding_mode, device, dtype)

    def _output_padding(self, input, output_size):
        """The output_padding that makes the output ``output_size`` (H, W) (PyTorch's rule)."""
        if output_size is None:
            return self.output_padding
        dims, name = self._dims, type(self).__name__
        given = tuple(output_size)
        batch_dims = input.ndim - dims                  # (N, C) or, for one sample, (C,)
        if len(given) not in (dims, dims + batch_dims):
            raise ValueError(f"{name}: output_size must have {dims} or {dims + batch_dims} "
                             f"elements for input of shape {tuple(input.shape)}, got {given}")
        output_size = given[-dims:]
        spatial = input.shape[-dims:]
        padding = []
        for d in range(dims):
            smallest = transposed_output_size(spatial[d], self.kernel_size[d],
                                              self.stride[d], self.padding[d], self.dilation[d])
            largest = smallest + self.stride[d] - 1
            if not smallest <= output_size[d] <= largest:
                raise ValueError(f"{name}: requested output size {output_size} is not "
                                 f"reachable from input {tuple(input.shape)}: dimension {d} "
                                 f"must be between {smallest} and {largest}")
            padding.append(output_size[d] - smallest)
        return tuple(padding)

    def forward(self, input, output_size=None):
        output_padding = self._output_padding(input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  output_padding, self.groups, self.dilation)


class Conv1d(_ConvNd):
    """1-D convolution layer: (N, in_channels, L) -> (N, out_channels, OL), Conv2d's rules
    along L (``padding`` an int, "valid" or "same"; ``padding_mode`` zeros only)."""
    _dims = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise NotImplementedError(f"Conv1d: padding_mode={padding_mode!r} is not supported "
                                      "(only 'zeros'; pad with F.pad first)")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, 0, groups, bias, padding_mode, device, dtype)
        conv2d_padding("Conv1d", self.padding, (1,) + self.kernel_size, (1,) + self.stride,
                       (1,) + self.dilation)

    def forward(self, input):
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding,
                        self.dilation, self.groups)


class ConvTranspose1d(ConvTranspose2d):
    """1-D transposed convolution layer: (N, in_channels, L) -> (N, out_channels, OL) with
    ``OL = (L-1)*stride - 2*padding + dilation*(K-1) + output_padding + 1``; ``forward``
    may name the wanted ``output_size`` instead."""
    _dims = 1

    def forward(self, input, output_size=None):
        output_padding = self._output_padding(input, output_size)
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding,
                                  output_padding, self.groups, self.dilation)



class Conv3d(_ConvNd):
    """3-D convolution layer: (N, in_channels, D, H, W) -> (N, out_channels, OD, OH, OW),
    Conv2d's rules along each of D, H, W (``padding`` an int, a triple, "valid" or "same";
    every ``padding_mode``).  Volumetric networks (3-D U-Nets, V-Net) are built from it."""
    _dims = 3

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, 0, groups, bias, padding_mode, device, dtype)
        _depth_padding("Conv3d", self.padding, self.kernel_size, self.stride, self.dilation)

    def forward(self, input):
        if self.padding_mode == "zeros":
            return F.conv3d(input, self.weight, self.bias, self.stride, self.padding,
                            self.dilation, self.groups)
        padded = F.pad(input, self._border_widths(), mode=self.padding_mode)
        return F.conv3d(padded, self.weight, self.bias, self.stride, 0, self.dilation,
                        self.groups)


class ConvTranspose3d(ConvTranspose2d):
    """3-D transposed convolution layer: (N, in_channels, D, H, W) -> (N, out_channels, OD, OH,
    OW), ``OD = (D-1)*stride - 2*padding + dilation*(kD-1) + output_padding + 1`` (likewise OH,
    OW); ``forward`` may name the wanted ``output_size`` instead."""
    _dims = 3

    def forward(self, input, output_size=None):
        output_padding = self._output_padding(input, output_size)
        return F.conv_transpose3d(input, self.weight, self.bias, self.stride, self.padding,
                                  output_padding, self.groups, self.dilation)
