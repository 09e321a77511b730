"""Argument checks shared by conv2d and conv_transpose2d: clear errors that name the shapes."""
from .im2col import pair

__all__ = ["geometry", "check_operands", "check_output_size", "check_groups"]


def geometry(name, stride, padding, dilation):
    """Normalize stride/padding/dilation to (h, w) pairs and check their signs."""
    stride, padding, dilation = (pair(stride, "stride"), pair(padding, "padding"),
                                 pair(dilation, "dilation"))
    if min(stride) < 1:
        raise ValueError(f"{name}: stride must be positive, got {stride}")
    if min(padding) < 0:
        raise ValueError(f"{name}: padding must be non-negative, got {padding}")
    if min(dilation) < 1:
        raise ValueError(f"{name}: dilation must be positive, got {dilation}")
    return stride, padding, dilation


def check_operands(name, x, weight, bias, transposed):
    """Check ranks, channels, bias length and dtypes; explain any mismatch with the shapes."""
    w_layout = "(C_in, C_out, KH, KW)" if transposed else "(C_out, C_in, KH, KW)"
    if x.ndim != 4:
        raise ValueError(f"{name}: input must be 4-D (N, C, H, W), got shape {tuple(x.shape)}")
    if weight.ndim != 4:
        raise ValueError(f"{name}: weight must be 4-D {w_layout}, got shape {tuple(weight.shape)}")
    in_axis, out_axis = (0, 1) if transposed else (1, 0)
    if x.shape[1] != weight.shape[in_axis]:
        raise ValueError(
            f"{name}: input has {x.shape[1]} channels but weight expects {weight.shape[in_axis]} "
            f"(input shape {tuple(x.shape)}, weight shape {tuple(weight.shape)})")
    out_channels = weight.shape[out_axis]
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(
            f"{name}: bias must have shape ({out_channels},), one value per output channel of "
            f"weight shape {tuple(weight.shape)}, got {tuple(bias.shape)}")
    for arg, a in (("weight", weight), ("bias", bias)):
        if a is not None and a.dtype != x.dtype:
            raise TypeError(f"{name}: input dtype {x.dtype} and {arg} dtype {a.dtype} differ")


def check_output_size(name, out_size, x_shape, kernel, stride, padding, dilation):
    """An output of at least 1x1, or an error saying why not."""
    if min(out_size) < 1:
        raise ValueError(
            f"{name}: output size would be {tuple(out_size)} for input shape {tuple(x_shape)} "
            f"with kernel {tuple(kernel)}, stride {stride}, padding {padding}, dilation "
            f"{dilation}: the padded input is smaller than the (dilated) kernel")


def check_groups(name, groups):
    if groups != 1:
        raise NotImplementedError(f"{name}: groups={groups} is not supported (only groups=1)")
