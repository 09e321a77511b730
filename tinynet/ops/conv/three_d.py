"""3-D convolutions: ``conv3d`` and ``conv_transpose3d`` on (N, C, D, H, W) volumes (CT, MRI).

A 3-D convolution is a 2-D one whose input channels are the depth slices under
the kernel.  Output slice od of a kernel (KD, KH, KW) reads input slices
``od*sd + kd*dd`` for kd = 0 .. KD-1; stack those KD slices as channels and
the sum over (kd, c, i, j) of the 3-D convolution is the sum over (channel,
i, j) of a 2-D one::

    y[n, o, od] = conv2d(slab[n, od], W2)[o]          every od at once: (N*OD) images
    slab[n, od] = x_pad[n, :, od*sd + kd*dd]  for kd < KD, stacked: (KD*C, H, W)
    W2          = weight (O, C, KD, KH, KW) -> (O, KD, C, KH, KW) -> (O, KD*C, KH, KW)

That is "im2col along depth": every (H, W) slice is copied KD / sd times,
then conv2d (``dispatch.py``) runs one batch of N*OD images, with its fast
algorithms and its gradients; the stacking, reshapes and depth padding are
tinynet ops, so autograd differentiates the whole composition.  With groups G
the channels of group g must stay together, so a slab is ordered (g, kd, c).

A transposed convolution is the adjoint, read backwards: ``conv_transpose2d``
of every input slice with the same stacked weight gives, for every kd, that
slice's contribution to output slice ``d*sd + kd*dd - pd``; the KD
contributions are spread out by the stride (zeros between them) and added at
their offsets (``_fold_depth``).
"""
from ...autograd import as_tensor
from ..creation import zeros
from ..shape import cat, pad, stack
from .arguments import output_size, pair, transposed_output_size, triple
from .dispatch import conv2d
from .transpose import conv_transpose2d

__all__ = ["conv3d", "conv_transpose3d"]


def _volumes(op, input, weight, transposed):
    """input and weight as tensors, a single (C, D, H, W) volume given its batch dim; checked."""
    x, w = as_tensor(input), as_tensor(weight)
    unbatched = x.ndim == 4
    if unbatched:
        x = x.unsqueeze(0)
    layout = "(C_in, C_out/G, KD, KH, KW)" if transposed else "(C_out, C_in/G, KD, KH, KW)"
    if x.ndim != 5:
        raise ValueError(f"{op}: expected input (N, C, D, H, W) or (C, D, H, W), got shape "
                         f"{tuple(as_tensor(input).shape)}")
    if w.ndim != 5:
        raise ValueError(f"{op}: weight must be 5-D {layout}, got shape {tuple(w.shape)}")
    return x, w, unbatched


def _check_operands(op, x, w, bias, groups, transposed):
    """Channels, bias and dtypes agree (PyTorch's rules), checked here so that an error names
    the 3-D op and shapes, not the 2-D call they are passed on to."""
    expected = w.shape[0] if transposed else w.shape[1] * groups
    if x.shape[1] != expected or (transposed and w.shape[0] % groups):
        raise ValueError(f"{op}: input has {x.shape[1]} channels but weight of shape "
                         f"{tuple(w.shape)} with groups={groups} expects {expected}")
    out_channels = w.shape[1] * groups if transposed else w.shape[0]
    if bias is not None and tuple(as_tensor(bias).shape) != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},), one value per output "
                         f"channel of weight shape {tuple(w.shape)}, got "
                         f"{tuple(as_tensor(bias).shape)}")
    for name, a in (("weight", w), ("bias", bias)):
        if a is not None and as_tensor(a).dtype != x.dtype:
            raise TypeError(f"{op}: input dtype {x.dtype} and {name} dtype "
                            f"{as_tensor(a).dtype} differ")


def _check_output(op, out, x, w, stride, padding, dilation):
    """Every output side is at least 1, else an error with the 3-D shapes."""
    if min(out) < 1:
        raise ValueError(f"{op}: output size would be {tuple(out)} for input shape "
                         f"{tuple(x.shape)} with weight shape {tuple(w.shape)}, stride {stride}, "
                         f"padding {padding!r}, dilation {dilation}: the padded input is "
                         f"smaller than the (dilated) kernel")


def _depth_padding(op, padding, kernel, stride, dilation):
    """((front, back) zeros along D, the conv2d padding for (H, W)) from ``padding``."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), 0
        if padding != "same":
            raise ValueError(f"{op}: invalid padding string {padding!r}, "
                             "should be one of 'valid', 'same'")
        if stride != (1, 1, 1):
            raise ValueError(f"{op}: padding='same' is not supported for strided "
                             f"convolutions, got stride {stride}")
        total = dilation[0] * (kernel[0] - 1)   # an odd total: the extra slice at the back
        return (total // 2, total - total // 2), "same"
    pd, ph, pw = triple(op, "padding", padding)
    if min(pd, ph, pw) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {(pd, ph, pw)}")
    return (pd, pd), (ph, pw)


def _depth_slabs(x, kernel_depth, stride, dilation, out_depth, groups):
    """(N*OD, G*KD*C/G, H, W): for every output slice, the KD input slices under the kernel,
    stacked as channels in (group, kd, channel) order."""
    n, c, _, h, w = x.shape
    slices = x.permute(0, 2, 1, 3, 4)                                  # (N, D, C, H, W)
    last = stride * (out_depth - 1) + 1
    taps = [slices[:, k * dilation:k * dilation + last:stride] for k in range(kernel_depth)]
    slab = stack(taps, dim=2)                                          # (N, OD, KD, C, H, W)
    slab = slab.reshape(n, out_depth, kernel_depth, groups, c // groups, h, w)
    slab = slab.permute(0, 1, 3, 2, 4, 5, 6)                           # (N, OD, G, KD, C/G, ..)
    return slab.reshape(n * out_depth, c * kernel_depth, h, w)


def _stacked_weight(weight):
    """(A, B, KD, KH, KW) -> (A, KD*B, KH, KW), ordered (kd, b): the depth taps as channels."""
    a, b, kd, kh, kw = weight.shape
    return weight.permute(0, 2, 1, 3, 4).reshape(a, kd * b, kh, kw)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D cross-correlation, like ``torch.nn.functional.conv3d``.

    ``y[n, o, od, oh, ow] = bias[o] + sum_{c, kd, i, j} weight[o, c, kd, i, j] *
    x_pad[n, c, od*sd + kd*dd, oh*sh + i*dh, ow*sw + j*dw]``.

    Shapes: input (N, C_in, D, H, W) (or one volume (C_in, D, H, W)), weight
    (C_out, C_in/G, KD, KH, KW), bias (C_out,) -> (N, C_out, OD, OH, OW),
    ``OD = (D + 2*pd - dd*(KD-1) - 1) // sd + 1`` (likewise OH, OW).
    ``stride``, ``padding``, ``dilation``: an int or a (d, h, w) triple;
    ``padding`` may be "valid" or "same" (stride 1; an odd total puts the extra
    zero at the back/bottom/right, as PyTorch).  Computed as one conv2d over
    the depth slabs (module docstring).
    """
    op = "conv3d"
    x, w, unbatched = _volumes(op, input, weight, transposed=False)
    groups = int(groups)
    _check_operands(op, x, w, bias, groups, transposed=False)
    stride, dilation = triple(op, "stride", stride), triple(op, "dilation", dilation)
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{op}: stride and dilation must be positive, got {stride} and "
                         f"{dilation}")
    kernel = tuple(w.shape[2:])
    (front, back), hw_padding = _depth_padding(op, padding, kernel, stride, dilation)
    if hw_padding != "same":             # ("same" keeps every size)
        added = (front + back,) + tuple(2 * p for p in hw_padding)
        _check_output(op, [output_size(n + a, k, s, 0, d) for n, a, k, s, d in
                           zip(x.shape[2:], added, kernel, stride, dilation)],
                      x, w, stride, padding, dilation)
    if front or back:
        x = pad(x, (0, 0, 0, 0, front, back))
    out_depth = output_size(x.shape[2], kernel[0], stride[0], 0, dilation[0])
    slabs = _depth_slabs(x, kernel[0], stride[0], dilation[0], out_depth, groups)
    y = conv2d(slabs, _stacked_weight(w), bias, stride[1:], hw_padding, dilation[1:], groups)
    y = y.reshape((x.shape[0], out_depth) + tuple(y.shape[1:])).permute(0, 2, 1, 3, 4)
    return y.squeeze(0) if unbatched else y


def _spread(r, stride):
    """(N, D, ...) -> (N, (D-1)*stride + 1, ...): stride-1 zero slices after every slice but
    the last (how a strided layer's slices sit on the output)."""
    if stride == 1:
        return r
    n, d = r.shape[:2]
    gaps = zeros((n, d, stride - 1) + tuple(r.shape[2:]), dtype=r.dtype, device=r.device)
    spread = cat([r.unsqueeze(2), gaps], dim=2).reshape((n, d * stride) + tuple(r.shape[2:]))
    return spread[:, :(d - 1) * stride + 1]


def _fold_depth(r, stride, dilation, padding, out_depth):
    """Add the KD depth contributions r (N, D, KD, C, OH, OW) of every input slice d to output
    slices d*stride + kd*dilation - padding; (N, out_depth, C, OH, OW)."""
    kernel_depth = r.shape[2]
    spread = _spread(r, stride)                                    # (N, S, KD, C, OH, OW)
    full = (spread.shape[1] - 1) + dilation * (kernel_depth - 1) + 1
    end_room = max(0, padding + out_depth - full)                  # output_padding past the end
    total = None
    for k in range(kernel_depth):
        before = k * dilation
        after = full - before - spread.shape[1] + end_room
        shifted = pad(spread[:, :, k], (0, 0, 0, 0, 0, 0, before, after))
        total = shifted if total is None else total + shifted
    return total[:, padding:padding + out_depth]


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """3-D transposed convolution, like ``torch.nn.functional.conv_transpose3d`` (the adjoint
    of conv3d: learned upsampling of volumes).

    Shapes: input (N, C_in, D, H, W) (or one volume), weight (C_in, C_out/G, KD, KH, KW),
    bias (C_out,) -> (N, C_out, OD, OH, OW) with
    ``OD = (D-1)*sd - 2*pd + dd*(KD-1) + output_padding_d + 1`` (likewise OH, OW).
    """
    op = "conv_transpose3d"
    x, w, unbatched = _volumes(op, input, weight, transposed=True)
    groups = int(groups)
    _check_operands(op, x, w, bias, groups, transposed=True)
    stride, dilation = triple(op, "stride", stride), triple(op, "dilation", dilation)
    padding, out_pad = triple(op, "padding", padding), triple(op, "output_padding", output_padding)
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"{op}: stride and dilation must be positive and padding "
                         f"non-negative, got {stride}, {dilation} and {padding}")
    if not all(0 <= p < max(s, d) for p, s, d in zip(out_pad, stride, dilation)):
        raise ValueError(f"{op}: output_padding {out_pad} must be non-negative and smaller "
                         f"than stride {stride} or dilation {dilation}")
    n, _, depth = x.shape[:3]
    kernel_depth, out_channels = w.shape[2], w.shape[1] * groups
    out = [transposed_output_size(*args) for args in
           zip(x.shape[2:], w.shape[2:], stride, padding, dilation, out_pad)]
    _check_output(op, out, x, w, stride, padding, dilation)
    out_depth = out[0]
    slices = x.permute(0, 2, 1, 3, 4).reshape((n * depth,) + tuple(x.shape[1:2] + x.shape[3:]))
    r = conv_transpose2d(slices, _stacked_weight(w), None, stride[1:], padding[1:],
                         pair(op, "output_padding", out_pad[1:]), groups, dilation[1:])
    oh, ow = r.shape[2:]
    r = r.reshape(n, depth, groups, kernel_depth, out_channels // groups, oh, ow)
    r = r.permute(0, 1, 3, 2, 4, 5, 6).reshape(n, depth, kernel_depth, out_channels, oh, ow)
    y = _fold_depth(r, stride[0], dilation[0], padding[0], out_depth).permute(0, 2, 1, 3, 4)
    if bias is not None:
        y = y + as_tensor(bias).reshape(1, -1, 1, 1, 1)
    return y.squeeze(0) if unbatched else y
