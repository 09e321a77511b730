"""Arguments of sliding-window ops: (h, w) pairs, output sizes, and the checks of conv2d's operands.

One definition each, shared by the convolutions (this package), pooling
(``tinynet/ops/pooling``) and the layers of ``tinynet.nn``: a pooling window
sits on the input exactly like a convolution kernel, so both have the same
output size rule.
"""
import functools
import operator
from typing import NamedTuple

__all__ = ["takes_one_sample", "pair", "triple", "output_size", "transposed_output_size",
           "ConvGeometry", "conv_geometry", "conv2d_padding", "check_operands", "check_groups"]


def takes_one_sample(rank):
    """Decorate an op on batches of ``rank`` dims (4 for (N, C, H, W)) so that it also takes
    one sample without its batch dim, as PyTorch's do: (C, H, W) runs as a batch of one,
    and the batch dim is dropped again from the result (from each, for a pool's values and
    indices)."""
    def decorate(op):
        @functools.wraps(op)
        def run(input, *args, **kwargs):
            if getattr(input, "ndim", None) != rank - 1:
                return op(input, *args, **kwargs)
            result = op(input[None], *args, **kwargs)
            if isinstance(result, tuple):
                return tuple(r.squeeze(0) for r in result)
            return result.squeeze(0)
        return run
    return decorate


def _ints(op, name, value, count, what):
    """``value`` (an int, or ``count`` ints) as a tuple of ``count`` ints, else a TypeError."""
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    if len(items) == 1:
        items = items * count
    if len(items) == count and not any(isinstance(v, bool) for v in items):
        try:
            return tuple(operator.index(v) for v in items)
        except TypeError:
            pass
    raise TypeError(f"{op}: {name} must be an int or {what} of ints, got {value!r}")


def pair(op, name, value):
    """``value`` as an (h, w) pair of ints: ``3`` and ``[3]`` -> ``(3, 3)``; ``(2, 1)`` stays.

    ``op`` and ``name`` (e.g. ``"conv2d"``, ``"stride"``) label the error
    raised for anything else (floats, bools, strings, three values).
    """
    return _ints(op, name, value, 2, "a pair")


def triple(op, name, value):
    """``value`` as a (d, h, w) triple of ints, for the 3-D ops: ``3`` and ``[3]`` ->
    ``(3, 3, 3)``; ``(1, 2, 2)`` stays.  Anything else is a TypeError naming ``op`` and ``name``."""
    return _ints(op, name, value, 3, "a triple")


def output_size(size, kernel, stride=1, padding=0, dilation=1, ceil_mode=False):
    """Output length of a convolution or pooling along one axis (PyTorch's rule).

    The dilated kernel spans ``dilation*(kernel-1) + 1`` pixels and is placed
    at ``0, stride, 2*stride, ...`` on the padded length ``size + 2*padding``::

        out = (size + 2*padding - dilation*(kernel-1) - 1) // stride + 1

    ``ceil_mode`` (pooling only) rounds the division up, counting a last
    window that starts inside the input or the left padding, but drops one that
    would start in the right padding.
    """
    room = size + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return room // stride + 1
    out = -(-room // stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def transposed_output_size(size, kernel, stride=1, padding=0, dilation=1, output_padding=0):
    """Output length of a transposed convolution along one axis.

    The input length of the convolution whose output has length ``size``
    (the inverse of ``output_size``, which loses ``stride - 1`` possible
    lengths; ``output_padding`` picks one of them)::

        out = (size - 1)*stride - 2*padding + dilation*(kernel-1) + output_padding + 1
    """
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


class ConvGeometry(NamedTuple):
    """A checked conv2d geometry: shapes, and (h, w) pairs for everything else."""
    x_shape: tuple        # (N, C_in, H, W), the input after any extra "same" padding
    weight_shape: tuple   # (C_out, C_in, KH, KW)
    stride: tuple
    padding: tuple        # zeros added on both sides
    dilation: tuple
    out_size: tuple       # (OH, OW)

    @property
    def kernel(self):
        return tuple(self.weight_shape[2:])

    def describe(self):
        """The geometry in words, for error messages."""
        return (f"input shape {tuple(self.x_shape)}, weight shape {tuple(self.weight_shape)}, "
                f"stride {self.stride}, padding {self.padding}, dilation {self.dilation}")


def _positive_pairs(op, stride, padding, dilation):
    """stride, padding, dilation as pairs, with their signs checked."""
    stride, padding, dilation = (pair(op, "stride", stride), pair(op, "padding", padding),
                                 pair(op, "dilation", dilation))
    if min(stride) < 1:
        raise ValueError(f"{op}: stride must be positive, got {stride}")
    if min(padding) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding}")
    if min(dilation) < 1:
        raise ValueError(f"{op}: dilation must be positive, got {dilation}")
    return stride, padding, dilation


def conv_geometry(op, x_shape, weight_shape, stride, padding, dilation, transposed=False,
                  output_padding=(0, 0)):
    """Check the arguments of a convolution against the operand shapes; return a ConvGeometry.

    For a transposed convolution the output size is ``transposed_output_size``.
    Raises a ValueError naming the shapes when the kernel has size zero or
    does not fit into the padded input.
    """
    kernel = tuple(weight_shape[2:])
    if min(kernel) < 1:
        raise ValueError(f"{op}: the kernel (KH, KW) = {kernel} of weight shape "
                         f"{tuple(weight_shape)} is empty; every kernel side must be at least 1")
    stride, padding, dilation = _positive_pairs(op, stride, padding, dilation)
    if transposed:
        out = tuple(transposed_output_size(*args) for args in
                    zip(x_shape[2:], kernel, stride, padding, dilation, output_padding))
    else:
        out = tuple(output_size(*args) for args in
                    zip(x_shape[2:], kernel, stride, padding, dilation))
    if min(out) < 1:
        raise ValueError(
            f"{op}: output size would be {out} for input shape {tuple(x_shape)} "
            f"with kernel {kernel}, stride {stride}, padding {padding}, dilation "
            f"{dilation}: the padded input is smaller than the (dilated) kernel")
    return ConvGeometry(tuple(x_shape), tuple(weight_shape), stride, padding, dilation, out)


def conv2d_padding(op, padding, kernel, stride, dilation):
    """conv2d's ``padding`` argument as (padding on both sides, extra zeros at the bottom/right).

    An int or a pair is used as it is (no extra).  ``"valid"`` is no padding.
    ``"same"`` keeps the output size equal to the input size: the total
    padding along an axis is then ``dilation*(kernel-1)``, of which PyTorch
    puts ``total // 2`` on the top/left and the rest on the bottom/right, so an
    even kernel (odd total) gets one extra zero row/column at the bottom/right.
    Like PyTorch, "same" needs stride 1.
    """
    if not isinstance(padding, str):
        return padding, (0, 0)
    if padding == "valid":
        return 0, (0, 0)
    if padding != "same":
        raise ValueError(f"{op}: invalid padding string {padding!r}, "
                         "should be one of 'valid', 'same'")
    stride, dilation = pair(op, "stride", stride), pair(op, "dilation", dilation)
    if stride != (1, 1):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions, "
                         f"got stride {stride}")
    totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
    return tuple(t // 2 for t in totals), tuple(t % 2 for t in totals)


def check_operands(op, x, weight, bias, transposed):
    """Check ranks, channels, bias length and dtypes; explain any mismatch with the shapes."""
    w_layout = "(C_in, C_out, KH, KW)" if transposed else "(C_out, C_in, KH, KW)"
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W) (or one image (C, H, W)), got "
                         f"shape {tuple(x.shape)}")
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D {w_layout}, got shape {tuple(weight.shape)}")
    in_axis, out_axis = (0, 1) if transposed else (1, 0)
    if x.shape[1] != weight.shape[in_axis]:
        raise ValueError(
            f"{op}: input has {x.shape[1]} channels but weight expects {weight.shape[in_axis]} "
            f"(input shape {tuple(x.shape)}, weight shape {tuple(weight.shape)})")
    out_channels = weight.shape[out_axis]
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(
            f"{op}: bias must have shape ({out_channels},), one value per output channel of "
            f"weight shape {tuple(weight.shape)}, got {tuple(bias.shape)}")
    for arg, a in (("weight", weight), ("bias", bias)):
        if a is not None and a.dtype != x.dtype:
            raise TypeError(f"{op}: input dtype {x.dtype} and {arg} dtype {a.dtype} differ")


def check_groups(op, groups):
    """``groups`` as PyTorch takes it, a positive int (a bool is refused); returned as an int."""
    try:
        value = operator.index(groups) if not isinstance(groups, bool) else None
    except TypeError:
        value = None
    if value is None or value < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    return value
