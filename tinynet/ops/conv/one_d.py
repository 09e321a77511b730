"""1-D convolutions: ``conv1d`` and ``conv_transpose1d`` on (N, C, L) signals (ECG, audio, text).

A 1-D convolution is a 2-D one on an image one row high: x (N, C, L) is viewed
as (N, C, 1, L) and the weight (O, C/G, K) as (O, C/G, 1, K), with stride,
padding and dilation 1 / 0 / 1 along the height.  So every algorithm, check and
gradient of conv2d serves it; only the reshapes are added (and their gradients
are reshapes back).
"""
from ...autograd import as_tensor
from .arguments import pair, takes_one_sample
from .dispatch import conv2d
from .transpose import conv_transpose2d

__all__ = ["conv1d", "conv_transpose1d"]


def _single(op, name, value):
    """An int, or a 1-tuple, as the int (PyTorch's 1-D layers store 1-tuples)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise TypeError(f"{op}: {name} must be an int or a 1-tuple, got {value!r}")
        value = value[0]
    return pair(op, name, value)[1]


def _as_rows(op, input, weight):
    x, w = as_tensor(input), as_tensor(weight)
    if x.ndim != 3 or w.ndim != 3:
        raise ValueError(f"{op}: expected input (N, C, L) and a 3-D weight, got shapes "
                         f"{tuple(x.shape)} and {tuple(w.shape)}")
    return x.unsqueeze(2), w.unsqueeze(2)


@takes_one_sample(3)
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation, like ``torch.nn.functional.conv1d``: input (N, C_in, L), weight
    (C_out, C_in/G, K) -> (N, C_out, OL), OL = (L + 2 padding - dilation (K-1) - 1) // stride
    + 1; ``padding`` may be "same" or "valid".  One signal (C_in, L) is taken too."""
    x, w = _as_rows("conv1d", input, weight)
    op = "conv1d"
    pad = padding if isinstance(padding, str) else (0, _single(op, "padding", padding))
    y = conv2d(x, w, bias, (1, _single(op, "stride", stride)), pad,
               (1, _single(op, "dilation", dilation)), groups)
    return y.squeeze(2)


@takes_one_sample(3)
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """1-D transposed convolution, like ``torch.nn.functional.conv_transpose1d``: input
    (N, C_in, L), weight (C_in, C_out/G, K) -> (N, C_out, OL),
    OL = (L-1) stride - 2 padding + dilation (K-1) + output_padding + 1."""
    x, w = _as_rows("conv_transpose1d", input, weight)
    op = "conv_transpose1d"
    y = conv_transpose2d(x, w, bias, (1, _single(op, "stride", stride)),
                         (0, _single(op, "padding", padding)),
                         (0, _single(op, "output_padding", output_padding)), groups,
                         (1, _single(op, "dilation", dilation)))
    return y.squeeze(2)
