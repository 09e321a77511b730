"""conv_transpose2d: a convolution's input gradient, used as a layer (learned upsampling).

Shapes (weights as PyTorch/torchvision store them)::

    conv_transpose2d  x (N, C_in, H, W)  *  weight (C_in, C_out, KH, KW)  ->  (N, C_out, OH, OW)

A transposed convolution *is* the input gradient of a convolution, read the
other way round, so it reuses the three GEMM pieces of ``gemm.py`` with the
roles swapped::

    forward          = conv_gemm_adjoint(x, weight)   y = col2im(Wm.T @ x)
    input gradient   = conv_gemm(dy, weight)          dx = Wm @ im2col(dy)
    weight gradient  = weight_gemm(im2col(dy), x)

Its weight (C_in, C_out, KH, KW) is exactly the OIHW weight of the convolution
that maps its output back to its input, which is why PyTorch stores it "IOHW".

With ``groups`` G the input channels split into G blocks of C_in/G, each
transposed-convolved with its own C_in/G rows of the weight (C_in, C_out/G, KH,
KW) into C_out/G output channels; the G results are concatenated (``cat``
differentiates the pieces), which is simple and, for the small G of decoders,
cheap next to the GEMMs.
"""
from ...amp.autocast_mode import autocast_op
from ...autograd import Function, as_tensor
from ..shape import cat
from .arguments import check_groups, check_operands, conv_geometry, pair, takes_one_sample
from .columns import im2col
from .gemm import conv_gemm, conv_gemm_adjoint, weight_gemm

__all__ = ["ConvTranspose2dFunction", "conv_transpose2d"]


class ConvTranspose2dFunction(Function):
    """y = conv_transpose2d(x, weight, bias): see ``conv_transpose2d``.

    Saved for backward: the geometry, the weight (for dx) and x (for dW),
    each None when that gradient is not wanted.
    """

    def __init__(self, stride=1, padding=0, output_padding=0, dilation=1):
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.output_padding = pair("conv_transpose2d", "output_padding", output_padding)

    def forward(self, x, weight, bias=None):
        name = "conv_transpose2d"
        check_operands(name, x, weight, bias, transposed=True)
        geo = conv_geometry(name, x.shape, weight.shape, self.stride, self.padding,
                            self.dilation, transposed=True, output_padding=self.output_padding)
        for op, s, d in zip(self.output_padding, geo.stride, geo.dilation):
            # Larger values would add rows that no input pixel reaches (PyTorch's rule too).
            if not 0 <= op < max(s, d):
                raise ValueError(
                    f"{name}: output_padding {self.output_padding} must be non-negative and "
                    f"smaller than stride {geo.stride} or dilation {geo.dilation}")
        y_shape = (x.shape[0], weight.shape[1]) + geo.out_size
        y = conv_gemm_adjoint(x, weight, y_shape, geo.stride, geo.padding, geo.dilation)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        self.geo = geo
        self.weight = weight if self.needs_input_grad[0] else None
        self.x = x if self.needs_input_grad[1] else None
        return y

    def backward(self, dy):
        geo = self.geo
        geometry = (geo.stride, geo.padding, geo.dilation)
        in_size = geo.x_shape[2:]  # with output_padding >= stride, the conv of dy is larger
        dx = dw = db = cols = None
        if self.weight is not None:
            dx, cols = conv_gemm(dy, self.weight, *geometry, in_size)
        if self.x is not None:
            if cols is None:  # the im2col of dy serves both gradients: build it once
                cols = im2col(dy, geo.kernel, *geometry, in_size)
            dw = weight_gemm(cols, self.x).reshape(geo.weight_shape)
        if self.needs_input_grad[2]:
            db = dy.sum(axis=(0, 2, 3))
        return dx, dw, db


@takes_one_sample(4)
@autocast_op
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-D transposed convolution, like ``torch.nn.functional.conv_transpose2d``.

    Each input pixel scatters ``x[n, c, h, w] * weight[c, o, :, :]`` onto the
    output at (h*sh - ph, w*sw - pw) with dilated taps, overlaps summed: the
    input gradient of ``conv2d(y, weight, stride, padding, dilation)``.

    Shapes: input (N, C_in, H, W), weight (C_in, C_out, KH, KW) (PyTorch's
    layout), bias (C_out,) -> (N, C_out, OH, OW) with
    ``OH = (H-1)*sh - 2*ph + dh*(KH-1) + output_padding_h + 1`` (likewise OW).
    ``output_padding`` (smaller than stride or dilation) adds rows/columns at
    the bottom/right, to pick among the input sizes a strided conv2d maps to
    the same output size.  Argument order is PyTorch's (``groups`` before
    ``dilation``).  ``groups`` G: weight (C_in, C_out/G, KH, KW), and input
    channel block g (of C_in/G) makes output channel block g (of C_out/G).
    """
    groups = check_groups("conv_transpose2d", groups)
    if groups == 1:
        function = ConvTranspose2dFunction(stride, padding, output_padding, dilation)
        return function(input, weight, bias)
    return _grouped(input, weight, bias, groups, (stride, padding, output_padding, dilation))


def _grouped(input, weight, bias, groups, geometry):
    """conv_transpose2d with ``groups`` > 1: one transposed convolution a group, concatenated.

    ``geometry`` is (stride, padding, output_padding, dilation), the same for every group.
    """
    x, weight = as_tensor(input), as_tensor(weight)
    name = "conv_transpose2d"
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[0] or \
            x.shape[1] % groups:
        raise ValueError(
            f"{name}: input shape {tuple(x.shape)} and weight shape {tuple(weight.shape)} do "
            f"not fit groups={groups}: need input (N, C_in, H, W) and weight (C_in, C_out/G, "
            "KH, KW) with C_in divisible by groups")
    if bias is not None:
        bias = as_tensor(bias)
        out_channels = weight.shape[1] * groups
        if tuple(bias.shape) != (out_channels,):
            raise ValueError(f"{name}: bias must have shape ({out_channels},), C_out = "
                             f"weight.shape[1] * groups, got {tuple(bias.shape)}")
        if bias.dtype != x.dtype:
            raise TypeError(f"{name}: input dtype {x.dtype} and bias dtype {bias.dtype} differ")
    block = x.shape[1] // groups
    pieces = [ConvTranspose2dFunction(*geometry)(x[:, g * block:(g + 1) * block],
                                                 weight[g * block:(g + 1) * block], None)
              for g in range(groups)]
    y = cat(pieces, dim=1)
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)
