"""conv2d: check the arguments, pick an algorithm, run it.

Every fast algorithm is a module with the same small interface::

    REQUIRES                                  the geometries it computes, in words
    applies(geo) -> bool                      can it compute this ConvGeometry?
    forward(x, weight, bias, geo, want_dx, want_dw) -> (y, saved)
    backward(dy, saved, geo) -> (dx, dW)      None for a gradient not wanted

``saved`` is the module's own ``Saved`` tuple: exactly what backward needs,
given which gradients are wanted (``want_dx``, ``want_dw`` are
``needs_input_grad`` of x and the weight; under ``no_grad`` both are False and
nothing is kept).  One ``backward`` returns both gradients because the rows
and Winograd algorithms build one intermediate of dy that serves both.

``choose_algorithm`` holds the rule that picks one; ``use_algorithm`` forces
one inside a ``with`` block, to compare them.  Forced to ``"reference"``,
``conv2d`` hands the whole call to ``reference.conv2d_reference``, which has
its own checks, geometry and ``Function`` (so a learner stepping through it
stays in that one file); ``_Reference`` below puts the same code behind the
interface above, for a ``Conv2dFunction`` called directly.
"""
import contextlib
import contextvars
from typing import NamedTuple

import numpy as np

from ... import backend
from ...amp.autocast_mode import autocast_op
from ...autograd import Function
from . import im2col_algorithm, reference, rows, winograd
from .arguments import check_groups, check_operands, conv2d_padding, conv_geometry

__all__ = ["ALGORITHMS", "WINOGRAD_MIN_CHANNELS", "ROWS_MIN_CHANNELS", "choose_algorithm",
           "use_algorithm", "forced_algorithm", "Conv2dFunction", "conv2d"]


class _Reference:
    """``reference.Conv2dReference`` behind the algorithm interface above.

    Only a ``Conv2dFunction`` called directly under ``use_algorithm("reference")``
    runs this; ``conv2d`` itself calls ``reference.conv2d_reference``.
    """
    REQUIRES = "nothing (it computes every geometry)"

    class Saved(NamedTuple):
        """The Conv2dReference that ran forward (it holds what its backward needs), or None."""
        function: object

    @staticmethod
    def applies(geo):
        return True

    @staticmethod
    def forward(x, weight, bias, geo, want_dx, want_dw):
        function = reference.Conv2dReference(geo.stride, geo.padding, geo.dilation)
        function.needs_input_grad = (want_dx, want_dw, False)   # db is Conv2dFunction's
        y = function.forward(x, weight, bias)
        return y, _Reference.Saved(function if want_dx or want_dw else None)

    @staticmethod
    def backward(dy, saved, geo):
        dx, dw, _ = saved.function.backward(dy)
        return dx, dw


#: The algorithms, by the name ``use_algorithm`` takes.  The module of "im2col" is
#: ``im2col_algorithm`` (``im2col`` itself, the function, is in ``columns.py``).
_MODULES = {"reference": _Reference, "im2col": im2col_algorithm, "rows": rows,
            "winograd": winograd}
ALGORITHMS = tuple(_MODULES)

#: The channel counts (on both sides) from which each fast algorithm pays off:
#: see ``choose_algorithm``.
WINOGRAD_MIN_CHANNELS = 128
ROWS_MIN_CHANNELS = 16


def choose_algorithm(geo):
    """The algorithm conv2d runs for a ConvGeometry: ``"winograd"``, ``"rows"`` or ``"im2col"``.

    The rule, with C = min(C_in, C_out):

    1. ``"winograd"`` for a 3x3 kernel, stride 1, dilation 1 and
       C >= WINOGRAD_MIN_CHANNELS (128).  F(2x2, 3x3) does 2.25x fewer
       multiplications, but its 16 GEMMs have only C_in (or C_out) as inner
       dimension and its transforms are memory passes over 4x the
       activations, so below 128 channels "rows" is faster.
    2. ``"rows"`` for every other stride-1 convolution with a kernel larger
       than 1x1, padding at most dilation*(kernel-1) and C >= ROWS_MIN_CHANNELS
       (16): 3x3 with 16-127 channels, and also 5x5, non-square or dilated
       kernels with any number of channels from 16 up.  It copies KW shifted
       rows where im2col copies KH*KW patches, about 1.5-2x faster.  Below 16
       channels its backward GEMMs get too thin (C_in rows or columns).
    3. ``"im2col"`` for the rest: 1x1 kernels (the columns are x itself),
       strided convolutions, fewer than 16 channels, and very large paddings.

    The measurements behind the thresholds are in ``benchmarks/NOTES.md``
    ("Choosing the conv2d algorithm").  ``"reference"`` is never chosen: it
    is there to read and to test against.
    """
    channels = min(geo.weight_shape[:2])
    if winograd.applies(geo) and channels >= WINOGRAD_MIN_CHANNELS:
        return "winograd"
    if rows.applies(geo) and channels >= ROWS_MIN_CHANNELS:
        return "rows"
    return "im2col"


_forced = contextvars.ContextVar("tinynet_conv2d_algorithm", default=None)


@contextlib.contextmanager
def use_algorithm(name):
    """Run every conv2d inside the ``with`` block through algorithm ``name``.

    ``name`` is one of ALGORITHMS: ``"reference"``, ``"im2col"``, ``"rows"``,
    ``"winograd"``.  For comparing them::

        with tn.ops.conv.use_algorithm("reference"):
            y_ref = tn.ops.conv2d(x, w, padding=1)
        y = tn.ops.conv2d(x, w, padding=1)      # the algorithm choose_algorithm picks

    The choice is made in forward; backward runs the same algorithm wherever
    it is called.  A convolution the algorithm cannot compute (see each
    module's REQUIRES) raises ValueError instead of silently running another.
    """
    if name not in _MODULES:
        raise ValueError(f"conv2d: algorithm must be one of {ALGORITHMS}, got {name!r}")
    token = _forced.set(name)
    try:
        yield name
    finally:
        _forced.reset(token)


def forced_algorithm():
    """The algorithm forced by the innermost ``use_algorithm`` block, or None."""
    return _forced.get()


def _algorithm_for(geo, xp):
    """The forced algorithm (checked against the geometry), else ``choose_algorithm``'s on
    the CPU and ``"im2col"`` on a GPU.

    The CPU rule's thresholds and the rows/Winograd algorithms exist for the CPU cache
    and for OpenBLAS; on a GPU, im2col is one gather kernel and one batched cuBLAS GEMM
    (no cache blocking: ``blocking.GPU_LIMITS``), which is what cuDNN-less CuPy does best.
    """
    name = forced_algorithm()
    if name is None:
        return choose_algorithm(geo) if xp is np else "im2col"
    if not _MODULES[name].applies(geo):
        raise ValueError(f"conv2d: the {name} algorithm needs {_MODULES[name].REQUIRES}, "
                         f"got {geo.describe()}")
    return name


def _pad_bottom_right(x, extra):
    """x with ``extra`` (h, w) zero rows/columns added at the bottom/right (a copy)."""
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    padded = xp.zeros((n, c, h + extra[0], w + extra[1]), dtype=x.dtype)
    padded[:, :, :h, :w] = x
    return padded


class Conv2dFunction(Function):
    """y = conv2d(x, weight, bias): see ``conv2d``.  Inputs: x, weight, bias (or None).

    ``extra_padding`` (h, w): zeros added at the bottom/right only, before the
    symmetric ``padding`` (padding="same" with an even kernel).  Saved for
    backward: the geometry, the algorithm's name and its ``Saved`` tuple.
    """

    def __init__(self, stride=1, padding=0, dilation=1, extra_padding=(0, 0)):
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.extra_padding = tuple(extra_padding)

    def forward(self, x, weight, bias=None):
        check_operands("conv2d", x, weight, bias, transposed=False)
        self.input_hw = x.shape[2:]
        if self.extra_padding != (0, 0):
            x = _pad_bottom_right(x, self.extra_padding)
        self.geo = conv_geometry("conv2d", x.shape, weight.shape, self.stride, self.padding,
                                 self.dilation)
        self.algorithm = _algorithm_for(self.geo, backend.get_array_module(x))
        y, self.saved = _MODULES[self.algorithm].forward(
            x, weight, bias, self.geo, self.needs_input_grad[0], self.needs_input_grad[1])
        return y

    def backward(self, dy):
        dx, dw = _MODULES[self.algorithm].backward(dy, self.saved, self.geo)
        if dx is not None and self.extra_padding != (0, 0):
            h, w = self.input_hw
            dx = dx[:, :, :h, :w]        # the extra zeros are constants
        db = dy.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None
        return dx, dw, db


@autocast_op
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, like ``torch.nn.functional.conv2d``.

    ``y[n, o, oh, ow] = bias[o] + sum_{c, i, j} weight[o, c, i, j] *
    x_pad[n, c, oh*sh + i*dh, ow*sw + j*dw]``, where ``x_pad`` is the input
    with ``padding`` zeros on each side.

    Shapes: input (N, C_in, H, W) (or one image (C_in, H, W)), weight (C_out,
    C_in, KH, KW), bias (C_out,) -> (N, C_out, OH, OW) with ``OH = (H + 2*ph - dh*(KH-1) - 1) // sh + 1``
    (likewise OW).  ``stride``, ``padding``, ``dilation``: int or (h, w) pair;
    ``padding`` may also be ``"valid"`` (no padding) or ``"same"`` (OH, OW =
    H, W; stride 1 only, and an odd total padding ``dh*(KH-1)`` puts the extra
    zero row at the bottom, as PyTorch does).  ``groups`` G splits the
    channels into G independent convolutions: weight (C_out, C_in/G, KH, KW),
    filter o sees input channels g*C_in/G ... (g+1)*C_in/G - 1 of its group g.

    How it is computed: ``reference.py`` (im2col and one GEMM) is the
    definition; ``choose_algorithm`` picks the fast algorithm that runs.
    Under ``use_algorithm("reference")`` the reference runs the whole call.
    ``groups`` > 1 (ResNeXt, MobileNet's depthwise convolutions) always runs
    the reference, whose one batched GEMM computes every group at once; the
    fast algorithms are written, and measured, for ``groups=1``, the only
    kind the ResNets and the ResUNet have.
    """
    if getattr(input, "ndim", None) == 3:   # one image (C, H, W), as PyTorch takes it too
        return conv2d(input[None], weight, bias, stride, padding, dilation, groups).squeeze(0)
    if forced_algorithm() == "reference":
        return reference.conv2d_reference(input, weight, bias, stride, padding, dilation, groups)
    if check_groups("conv2d", groups) != 1:
        return reference.conv2d_reference(input, weight, bias, stride, padding, dilation,
                                          int(groups))
    kernel = tuple(getattr(weight, "shape", ())[2:])
    padding, extra = conv2d_padding("conv2d", padding, kernel, stride, dilation)
    return Conv2dFunction(stride, padding, dilation, extra)(input, weight, bias)
