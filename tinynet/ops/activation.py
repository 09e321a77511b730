"""Activation functions: relu, leaky_relu, sigmoid, tanh, softmax, log_softmax.

All of them act elementwise (or along one axis, for the softmaxes), so an input
of any shape, e.g. (N, C, H, W), gives an output of the same shape and dtype.

Each is one ``Function`` whose backward needs a single saved array, chosen so
that the graph holds as little extra memory as possible:

=============  ======================  ===========================================
op             saved for backward      gradient  dL/dx  given  g = dL/dy
=============  ======================  ===========================================
relu           output y                g * [y > 0]
leaky_relu     mask [x > 0] (bool)     g * (1 if x > 0 else negative_slope)
sigmoid        output y                g * y * (1 - y)
tanh           output y                g * (1 - y^2)
softmax        output y                y * (g - sum(g * y))        (sum over dim)
log_softmax    output y                g - exp(y) * sum(g)         (sum over dim)
=============  ======================  ===========================================
"""
from .. import backend
from ..autograd import Function

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax"]


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

def relu(input):
    """max(input, 0), elementwise; any shape, e.g. (N, C, H, W) -> (N, C, H, W)."""
    return ReLU()(input)


def leaky_relu(input, negative_slope=0.01):
    """input where input > 0, else negative_slope * input; output shape = input shape."""
    return LeakyReLU(negative_slope)(input)


def sigmoid(input):
    """1 / (1 + exp(-input)), elementwise, stable for large |input| (no overflow)."""
    return Sigmoid()(input)


def tanh(input):
    """Hyperbolic tangent, elementwise; output shape = input shape."""
    return Tanh()(input)


def softmax(input, dim=-1):
    """exp(input) normalized to sum to 1 along ``dim`` (use dim=1 for (N, C, H, W) logits)."""
    _check_dim("softmax", input, dim)
    return Softmax(dim)(input)


def log_softmax(input, dim=-1):
    """log(softmax(input, dim)), computed directly by log-sum-exp (never log of 0)."""
    _check_dim("log_softmax", input, dim)
    return LogSoftmax(dim)(input)


def _check_dim(name, input, dim):
    ndim = len(input.shape)
    if not isinstance(dim, int) or not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ValueError(f"{name}: dim={dim!r} is out of range for an input of shape "
                         f"{tuple(input.shape)} (valid: {-ndim} .. {ndim - 1})")
