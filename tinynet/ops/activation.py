"""Activation functions: relu, leaky_relu, elu, gelu, silu, softplus, sigmoid, tanh, softmax, ...

All of them act elementwise (or along one axis, for the softmaxes), so an input
of any shape, e.g. (N, C, H, W), gives an output of the same shape and dtype.

Each is one ``Function`` whose backward needs one saved array (silu: two, to
save recomputing the sigmoid), chosen so that the graph holds as little extra
memory as possible:

=============  ======================  ===========================================
op             saved for backward      gradient  dL/dx  given  g = dL/dy
=============  ======================  ===========================================
relu           output y                g * [y > 0]
leaky_relu     mask [x > 0] (bool)     g * (1 if x > 0 else negative_slope)
elu            input x                 g * (1 if x > 0 else alpha e^x)
gelu           input x                 g * (Phi(x) + x phi(x))     (Gaussian cdf, pdf)
silu           x and s = sigmoid(x)    g * s (1 + x (1 - s))
softplus       z = beta x              g * sigmoid(z)               (1 above threshold)
sigmoid        output y                g * y * (1 - y)
tanh           output y                g * (1 - y^2)
softmax        output y                y * (g - sum(g * y))        (sum over dim)
log_softmax    output y                g - exp(y) * sum(g)         (sum over dim)
=============  ======================  ===========================================

hardtanh       mask [lo < x < hi]      g inside the open interval, 0 at and beyond its ends

relu6 is hardtanh(0, 6) and logsigmoid is -softplus(-x).

The activations at the end of the file (selu, celu, softsign, softmin, glu,
threshold, tanhshrink, hardshrink, softshrink, rrelu) are compositions of the
ops above and of ``tinynet.ops.math``, so their gradients need no Function:

    selu(x)        = scale * elu(x, alpha)        (alpha, scale: Klambauer et al. 2017)
    celu(x)        = alpha * elu(x / alpha)       = max(0, x) + min(0, alpha (e^(x/alpha) - 1))
    softsign(x)    = x / (1 + |x|)
    softmin(x)     = softmax(-x)
    glu(x)         = a * sigmoid(b),  (a, b) the two halves of x along dim
    threshold(x)   = x if x > threshold else value
    tanhshrink(x)  = x - tanh(x)
    hardshrink(x)  = x if |x| > lambd else 0
    softshrink(x)  = x - lambd if x > lambd, x + lambd if x < -lambd, else 0
    rrelu(x)       = x if x >= 0 else a x,  a ~ U(lower, upper) per element while
                     training, a = (lower + upper) / 2 in evaluation
``inplace=True`` (relu, leaky_relu) overwrites the input as PyTorch does, with
the rules of ``tinynet.ops.inplace``.
"""
import math

import numpy as np

from .. import backend
from ..amp.autocast_mode import autocast_op
from ..autograd import Function, as_tensor
from ..dtypes import get_default_dtype
from .inplace import assign_in_place, check_in_place
from .math import abs, add, div, erf_array, mul, neg, sub, where

__all__ = ["relu", "relu_", "relu6", "leaky_relu", "elu", "gelu", "silu", "softplus", "hardtanh",
           "logsigmoid", "sigmoid", "tanh", "softmax", "log_softmax", "hardsigmoid",
           "hardswish", "mish", "prelu", "selu", "celu", "softsign", "softmin", "glu",
           "threshold", "tanhshrink", "hardshrink", "softshrink", "rrelu"]


class ReLU(Function):
    """y = max(x, 0).  The gradient at x = 0 is 0, as in PyTorch."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        y = xp.maximum(x, 0)
        # Keep the output rather than a mask: y > 0 exactly where x > 0, and the
        # next layer (a conv, a linear) usually keeps y alive for its own
        # backward anyway, so holding it here costs no extra memory at all.
        self.y = y
        return y

    def backward(self, g):
        return g * (self.y > 0)


class LeakyReLU(Function):
    """y = x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope):
        self.negative_slope = negative_slope

    def forward(self, x):
        xp = backend.get_array_module(x)
        mask = x > 0
        # A boolean mask (one byte per element) rather than the output: the sign
        # of y only tells where x > 0 when negative_slope > 0, and the mask is
        # right for any slope, including zero and negative ones.
        self.mask = mask
        return xp.where(mask, x, x * self.negative_slope)

    def backward(self, g):
        xp = backend.get_array_module(g)
        return xp.where(self.mask, g, g * self.negative_slope)


class Hardtanh(Function):
    """y = x clamped into [min_val, max_val]; unlike clamp, the gradient is 0 at the ends
    themselves (PyTorch's rule for hardtanh and relu6)."""

    def __init__(self, min_val, max_val):
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.inside = (x > self.min_val) & (x < self.max_val) if self.needs_input_grad[0] else None
        return xp.clip(x, self.min_val, self.max_val)

    def backward(self, g):
        return g * self.inside


class ELU(Function):
    """y = x if x > 0 else alpha (e^x - 1)."""

    def __init__(self, alpha):
        self.alpha = alpha

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.x = x if self.needs_input_grad[0] else None
        return xp.where(x > 0, x, self.alpha * xp.expm1(xp.minimum(x, 0)))

    def backward(self, g):
        xp = backend.get_array_module(g)
        return xp.where(self.x > 0, g, g * self.alpha * xp.exp(xp.minimum(self.x, 0)))


class GELU(Function):
    """y = x Phi(x), Phi the standard normal cdf (Hendrycks & Gimpel, 2016).

    ``approximate="tanh"``: Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2.
    """

    def __init__(self, approximate):
        self.approximate = approximate

    def forward(self, x):
        self.x = x if self.needs_input_grad[0] else None
        return x * self._cdf(x)[0]

    def _cdf(self, x):
        """(Phi(x), dPhi/dx) in the chosen form."""
        xp = backend.get_array_module(x)
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            t = xp.tanh(k * (x + 0.044715 * x ** 3))
            return 0.5 * (1 + t), 0.5 * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
        cdf = 0.5 * (1 + erf_array(x / math.sqrt(2)))
        return cdf, xp.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    def backward(self, g):
        cdf, pdf = self._cdf(self.x)
        return g * (cdf + self.x * pdf)


class SiLU(Function):
    """y = x sigmoid(x) (also called swish); dy/dx = s (1 + x (1 - s))."""

    def forward(self, x):
        s = _stable_sigmoid(x)
        if self.needs_input_grad[0]:
            self.x, self.s = x, s
        return x * s

    def backward(self, g):
        return g * self.s * (1 + self.x * (1 - self.s))


class Softplus(Function):
    """y = log(1 + e^(beta x)) / beta, and y = x where beta x > threshold (as PyTorch).

    Computed as max(z, 0) + log1p(e^-|z|) with z = beta x, which never overflows.
    """

    def __init__(self, beta, threshold):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        xp = backend.get_array_module(x)
        z = self.beta * x
        self.z = z if self.needs_input_grad[0] else None
        soft = (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))) / self.beta
        return xp.where(z > self.threshold, x, soft).astype(x.dtype, copy=False)

    def backward(self, g):
        xp = backend.get_array_module(g)
        return xp.where(self.z > self.threshold, g, g * _stable_sigmoid(self.z))


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x)), computed without overflow for any x."""

    def forward(self, x):
        y = _stable_sigmoid(x)
        self.y = y
        return y

    def backward(self, g):
        y = self.y
        return g * y * (1 - y)


def _stable_sigmoid(x):
    """sigmoid(x) on raw arrays, never evaluating exp of a positive number.

    With e = exp(-|x|) (in (0, 1], so it cannot overflow):
    sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0.
    The naive 1 / (1 + exp(-x)) overflows (with a warning) for x < -88 in float32.
    """
    xp = backend.get_array_module(x)
    e = xp.exp(-xp.abs(x))
    denominator = 1 + e
    return xp.where(x >= 0, 1 / denominator, e / denominator)


class Tanh(Function):
    """y = tanh(x); dy/dx = 1 - y^2, so the output is all backward needs."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        y = xp.tanh(x)
        self.y = y
        return y

    def backward(self, g):
        y = self.y
        return g * (1 - y * y)


class Softmax(Function):
    """y_i = exp(x_i - m) / sum_j exp(x_j - m) along ``dim``, m = max_j x_j.

    Subtracting the maximum changes nothing mathematically but keeps every
    exponent <= 0, so exp never overflows.  Backward is the Jacobian-vector
    product of the softmax, dL/dx = y * (g - sum_j g_j y_j).
    """

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        xp = backend.get_array_module(x)
        e = xp.exp(x - x.max(axis=self.dim, keepdims=True))
        y = e / e.sum(axis=self.dim, keepdims=True)
        self.y = y
        return y

    def backward(self, g):
        y = self.y
        return y * (g - (g * y).sum(axis=self.dim, keepdims=True))


class LogSoftmax(Function):
    """y_i = x_i - log(sum_j exp(x_j)) along ``dim``, by the log-sum-exp trick.

    With m = max_j x_j: log sum_j exp(x_j) = m + log sum_j exp(x_j - m), where
    every exponent is <= 0 and the sum is >= 1, so neither exp overflows nor log
    sees 0.  Since softmax = exp(y), dL/dx = g - exp(y) * sum_j g_j.
    """

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        xp = backend.get_array_module(x)
        shifted = x - x.max(axis=self.dim, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=self.dim, keepdims=True))
        self.y = y
        return y

    def backward(self, g):
        xp = backend.get_array_module(g)
        return g - xp.exp(self.y) * g.sum(axis=self.dim, keepdims=True)


# ---------------------------------------------------------------------------
# Functional API (torch.nn.functional names and defaults)
# ---------------------------------------------------------------------------

def _maybe_in_place(name, input, function, inplace):
    """``function(input)``, written back into ``input`` when ``inplace``."""
    if not inplace:
        return function(input)
    input = as_tensor(input)
    check_in_place(input, name)
    return assign_in_place(input, function(input), name)


def relu(input, inplace=False):
    """max(input, 0), elementwise; any shape, e.g. (N, C, H, W) -> (N, C, H, W)."""
    return _maybe_in_place("relu", input, ReLU(), inplace)


def relu_(input):
    """``relu(input, inplace=True)`` (``F.relu_``)."""
    return relu(input, inplace=True)


def relu6(input, inplace=False):
    """min(max(input, 0), 6), elementwise."""
    return _maybe_in_place("relu6", input, Hardtanh(0.0, 6.0), inplace)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """input clamped into [min_val, max_val] (gradient 0 at the ends, as in PyTorch)."""
    return _maybe_in_place("hardtanh", input, Hardtanh(min_val, max_val), inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """input where input > 0, else negative_slope * input; output shape = input shape."""
    return _maybe_in_place("leaky_relu", input, LeakyReLU(negative_slope), inplace)


def elu(input, alpha=1.0, inplace=False):
    """input where input > 0, else alpha (exp(input) - 1)."""
    return _maybe_in_place("elu", input, ELU(alpha), inplace)


def gelu(input, approximate="none"):
    """input * Phi(input), Phi the Gaussian cdf; ``approximate="tanh"`` for the tanh form."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU(approximate)(input)


def silu(input, inplace=False):
    """input * sigmoid(input) (swish)."""
    return _maybe_in_place("silu", input, SiLU(), inplace)


@autocast_op
def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta input)) / beta, and input itself where beta input > threshold."""
    return Softplus(beta, threshold)(input)


@autocast_op
def logsigmoid(input):
    """log(sigmoid(input)) = -softplus(-input), computed without overflow."""
    return neg(softplus(neg(input)))


def hardsigmoid(input, inplace=False):
    """relu6(input + 3) / 6: 0 below -3, 1 above 3, linear between (MobileNetV3).

    A composition of ops, so its gradient (1/6 between -3 and 3, else 0) needs no Function.
    """
    return _maybe_in_place("hardsigmoid", input, lambda x: div(relu6(add(x, 3.0)), 6.0),
                           inplace)


def hardswish(input, inplace=False):
    """input * relu6(input + 3) / 6 (MobileNetV3's cheap swish); a composition of ops."""
    return _maybe_in_place("hardswish", input,
                           lambda x: mul(x, div(relu6(add(x, 3.0)), 6.0)), inplace)


def mish(input, inplace=False):
    """input * tanh(softplus(input)) (Misra 2019); a composition of ops."""
    return _maybe_in_place("mish", input, lambda x: mul(x, tanh(softplus(x))), inplace)


def prelu(input, weight):
    """input where input > 0, else weight * input, with a learned slope ``weight``.

    ``weight`` is (1,) (one slope) or (C,), one slope a channel of dim 1 of
    input (N, C, *); a composition of ops (its gradient reaches the slopes).
    """
    x, weight = as_tensor(input), as_tensor(weight)
    if weight.ndim != 1 or (weight.shape[0] != 1 and (x.ndim < 2 or
                                                    weight.shape[0] != x.shape[1])):
        raise ValueError(f"prelu: weight must have shape (1,) or (C,) with C = input.shape[1]; "
                         f"got weight shape {tuple(weight.shape)} for input shape "
                         f"{tuple(x.shape)}")
    if x.ndim >= 2:
        weight = weight.reshape((-1,) + (1,) * (x.ndim - 2))
    return where(x > 0, x, mul(weight, x))       # at 0 the slope's side, as PyTorch


def _as_float(input):
    """``input``, an integer or bool tensor cast to the default float (PyTorch's rule for
    functions whose values are fractions)."""
    x = as_tensor(input)
    return x if x.dtype.kind in "fc" else x.to(get_default_dtype())


def sigmoid(input):
    """1 / (1 + exp(-input)), elementwise, stable for large |input| (no overflow)."""
    return Sigmoid()(_as_float(input))


def tanh(input):
    """Hyperbolic tangent, elementwise; output shape = input shape."""
    return Tanh()(_as_float(input))


def _softmax_input(name, input, dim, dtype):
    """(input cast to ``dtype``, dim): PyTorch's implicit dim when none is given."""
    input = as_tensor(input)
    if dtype is not None:
        input = input.to(dtype)
    if dim is None:  # deprecated in PyTorch, but still what it does
        dim = 0 if input.ndim in (0, 1, 3) else 1
    _check_dim(name, input, dim)
    return input, dim


@autocast_op
def softmax(input, dim=None, dtype=None):
    """exp(input) normalized to sum to 1 along ``dim`` (use dim=1 for (N, C, H, W) logits)."""
    input, dim = _softmax_input("softmax", input, dim, dtype)
    return Softmax(dim)(input)


@autocast_op
def log_softmax(input, dim=None, dtype=None):
    """log(softmax(input, dim)), computed directly by log-sum-exp (never log of 0)."""
    input, dim = _softmax_input("log_softmax", input, dim, dtype)
    return LogSoftmax(dim)(input)


def _check_dim(name, input, dim):
    ndim = len(input.shape)
    if not isinstance(dim, int) or not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ValueError(f"{name}: dim={dim!r} is out of range for an input of shape "
                         f"{tuple(input.shape)} (valid: {-ndim} .. {ndim - 1})")


# ---------------------------------------------------------------------------
# More activations, composed of the ops above (PyTorch's names and defaults)
# ---------------------------------------------------------------------------

#: SELU's constants (Klambauer et al., "Self-Normalizing Neural Networks", 2017).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    """scale * (max(0, x) + min(0, alpha (e^x - 1))) = scale * elu(x, alpha), elementwise,
    with alpha ~ 1.6733 and scale ~ 1.0507 (self-normalizing networks)."""
    return _maybe_in_place("selu", input, lambda x: mul(elu(x, SELU_ALPHA), SELU_SCALE),
                           inplace)


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha (e^(x / alpha) - 1)) = alpha * elu(x / alpha), elementwise.

    Continuously differentiable at 0 for every alpha (unlike elu); alpha must not be 0.
    """
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides the input)")
    return _maybe_in_place("celu", input, lambda x: mul(elu(div(x, alpha)), alpha), inplace)


def softsign(input):
    """x / (1 + |x|), elementwise: a cheap tanh-like squashing into (-1, 1)."""
    x = as_tensor(input)
    return div(x, add(abs(x), 1.0))


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-input) along ``dim``: weights that favour the smallest entries.

    ``dim=None`` picks PyTorch's legacy default (0 for 0-D, 1-D and 3-D inputs, else 1).
    """
    input, dim = _softmax_input("softmin", input, dim, dtype)
    return softmax(neg(input), dim)


def glu(input, dim=-1):
    """Gated linear unit: a * sigmoid(b), where a and b are the first and second halves
    of ``input`` along ``dim``; shape (*, 2n, *) -> (*, n, *) (Dauphin et al. 2017)."""
    x = as_tensor(input)
    if x.ndim == 0:
        raise ValueError("glu: does not support scalars because halving size must be even")
    _check_dim("glu", x, dim)
    size = x.shape[dim]
    if size % 2:
        raise ValueError(f"glu: halving dimension must be even, but dimension {dim} is size "
                         f"{size} (input shape {tuple(x.shape)})")
    a, b = x.chunk(2, dim)
    return mul(a, sigmoid(b))


def threshold(input, threshold, value, inplace=False):
    """x where x > threshold, else ``value``, elementwise (gradient 0 at and below it)."""
    return _maybe_in_place("threshold", input, lambda x: where(x > threshold, x, value),
                           inplace)


def tanhshrink(input):
    """x - tanh(x), elementwise."""
    x = as_tensor(input)
    return sub(x, tanh(x))


def _check_lambd(name, lambd):
    if lambd < 0:
        raise ValueError(f"{name}: lambd must be greater or equal to 0, got {lambd}")


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0, elementwise."""
    _check_lambd("hardshrink", lambd)
    x = as_tensor(input)
    return where((x > lambd) | (x < -lambd), x, 0.0)


def softshrink(input, lambd=0.5):
    """x - lambd where x > lambd, x + lambd where x < -lambd, else 0, elementwise
    (the proximal operator of lambd |x|, used by sparse coding)."""
    _check_lambd("softshrink", lambd)
    x = as_tensor(input)
    return where(x > lambd, sub(x, lambd), where(x < -lambd, add(x, lambd), 0.0))


def _uniform_like(x, low, high):
    """An array of x's shape, dtype and device, uniform in [low, high).

    Drawn as dropout draws its masks: from ``backend.get_rng()`` on the CPU (so
    ``tn.manual_seed`` fixes it), from ``cupy.random`` on the GPU.
    """
    xp = backend.get_array_module(x.data)
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    if xp is np:
        u = backend.get_rng().random(x.shape, dtype=dtype)
    else:
        u = xp.random.random(x.shape, dtype=dtype)
    return (low + (high - low) * u).astype(x.dtype, copy=False)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomized leaky ReLU (Xu et al. 2015): x where x >= 0, else a x.

    While ``training``, a is drawn per element from U(lower, upper) (tinynet's
    RNG, so ``tn.manual_seed`` repeats it); otherwise a = (lower + upper) / 2,
    i.e. leaky_relu(x, (lower + upper) / 2).  The gradient is the slope used.
    """
    if not 0 <= lower <= upper:
        raise ValueError(f"rrelu: expected 0 <= lower <= upper, got lower={lower}, "
                         f"upper={upper}")
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)

    def randomized(x):
        if x.dtype.kind != "f":
            raise TypeError(f"rrelu: expected a floating-point input, got dtype {x.dtype}")
        slope = where(x >= 0, 1.0, _uniform_like(x, lower, upper))
        return mul(x, slope.detach())
    return _maybe_in_place("rrelu", input, randomized, inplace)
