"""Activation layers: thin Modules around the functions in ``tinynet.ops.activation``.

All keep the input's shape.  ``inplace=True`` is accepted for compatibility with
PyTorch code and ignored: tinynet never overwrites an input (autograd may need it).
"""
from . import functional as F
from . import init
from .module import Module
from .parameter import empty_parameter

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "ReLU6", "ELU",
           "GELU", "SiLU", "Softplus", "Hardtanh", "Hardsigmoid", "Hardswish", "Mish",
           "LogSigmoid", "PReLU", "SELU", "CELU", "Softsign", "Softmin", "GLU", "Threshold",
           "Tanhshrink", "Hardshrink", "Softshrink", "RReLU", "Softmax2d"]


class ReLU(Module):
    """max(x, 0), elementwise."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu(input)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x, elementwise."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """1 / (1 + exp(-x)), elementwise."""

    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, input):
        return F.tanh(input)


def _legacy_softmax_dim(ndim):
    # PyTorch's rule when dim is not given: 0 for 0-D, 1-D and 3-D inputs, else 1
    # (the channel axis of (N, C) and (N, C, H, W)).
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim``; for (N, C, H, W) logits use dim=1."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        dim = _legacy_softmax_dim(input.ndim) if self.dim is None else self.dim
        return F.softmax(input, dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``, computed stably."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        dim = _legacy_softmax_dim(input.ndim) if self.dim is None else self.dim
        return F.log_softmax(input, dim)

    def extra_repr(self):
        return f"dim={self.dim}"



class _TakesInplace(Module):
    """Base of the activations with PyTorch's ``inplace`` argument (accepted, never in place:
    see the module docstring); ``inplace=True`` shows in the repr where PyTorch's does."""
    _shows_inplace = True

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def extra_repr(self):
        return "inplace=True" if self.inplace and self._shows_inplace else ""


class ReLU6(_TakesInplace):
    """min(max(x, 0), 6), elementwise (MobileNet)."""

    def forward(self, input):
        return F.relu6(input)


class ELU(Module):
    """x if x > 0 else alpha (e^x - 1), elementwise."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):
        return F.elu(input, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """x Phi(x), Phi the Gaussian cdf (transformers); ``approximate="tanh"`` for the tanh form."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(_TakesInplace):
    """x sigmoid(x) (swish; EfficientNet, diffusion U-Nets)."""

    def forward(self, input):
        return F.silu(input)


class Softplus(Module):
    """log(1 + e^(beta x)) / beta, and x where beta x > threshold."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """x clamped into [min_val, max_val]."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self):
        return (f"min_val={self.min_val}, max_val={self.max_val}"
                + (", inplace=True" if self.inplace else ""))


class Hardsigmoid(_TakesInplace):
    """relu6(x + 3) / 6, elementwise (MobileNetV3's squeeze-and-excitation gate)."""
    _shows_inplace = False

    def forward(self, input):
        return F.hardsigmoid(input)


class Hardswish(_TakesInplace):
    """x relu6(x + 3) / 6, elementwise (MobileNetV3)."""
    _shows_inplace = False

    def forward(self, input):
        return F.hardswish(input)


class Mish(_TakesInplace):
    """x tanh(softplus(x)), elementwise (YOLOv4)."""

    def forward(self, input):
        return F.mish(input)


class LogSigmoid(Module):
    """log(sigmoid(x)), elementwise, without overflow."""

    def forward(self, input):
        return F.logsigmoid(input)


class PReLU(Module):
    """x if x >= 0 else a x, with a learned slope ``a``: one for all channels
    (``num_parameters=1``) or one a channel of dim 1 (``num_parameters=C``); starts at ``init``."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = empty_parameter((num_parameters,), device, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        init.constant_(self.weight, self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class SELU(_TakesInplace):
    """scale * elu(x, alpha), alpha ~ 1.6733, scale ~ 1.0507 (self-normalizing networks)."""

    def forward(self, input):
        return F.selu(input)


class CELU(Module):
    """max(0, x) + min(0, alpha (e^(x / alpha) - 1)), elementwise."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return F.celu(input, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Softsign(Module):
    """x / (1 + |x|), elementwise."""

    def forward(self, input):
        return F.softsign(input)


class Softmin(Module):
    """softmax(-x) along ``dim`` (PyTorch's legacy choice of dim when None)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmin(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class GLU(Module):
    """a * sigmoid(b), a and b the halves of the input along ``dim`` (which halves in size)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Threshold(Module):
    """x where x > threshold, else value, elementwise."""

    def __init__(self, threshold, value, inplace=False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value)

    def extra_repr(self):
        return (f"threshold={self.threshold}, value={self.value}"
                + (", inplace=True" if self.inplace else ""))


class Tanhshrink(Module):
    """x - tanh(x), elementwise."""

    def forward(self, input):
        return F.tanhshrink(input)


class Hardshrink(Module):
    """x where |x| > lambd, else 0, elementwise."""

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return F.hardshrink(input, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """x - lambd above lambd, x + lambd below -lambd, else 0, elementwise."""

    def forward(self, input):
        return F.softshrink(input, self.lambd)


class RReLU(Module):
    """Randomized leaky ReLU: slope a ~ U(lower, upper) per element for x < 0 while
    training (tinynet's RNG), the fixed slope (lower + upper) / 2 in eval mode."""

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training)

    def extra_repr(self):
        return (f"lower={self.lower}, upper={self.upper}"
                + (", inplace=True" if self.inplace else ""))


class Softmax2d(Module):
    """Softmax over the channels of (N, C, H, W) or (C, H, W), at each position."""

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D "
                             f"(shape {tuple(input.shape)}) instead")
        return F.softmax(input, -3)
