"""Elementwise arithmetic with broadcasting, unary math, selection, and matrix multiplication.

Broadcasting (NumPy's rules, as in PyTorch) lets ``x (N, C, H, W) + b (C, 1, 1)``
add ``b`` to every sample and pixel.  In backward the gradient arrives in the
broadcast shape and must be summed back to each input's own shape: ``b``
received ``N*H*W`` copies, so its gradient is the sum over those axes
(``sum_to`` below).

Like PyTorch, the elementwise ops compute inf and nan silently (1 / 0, log(0),
exp(1000)): NumPy's RuntimeWarnings for them are switched off inside the ops.

Result dtypes follow PyTorch's promotion (``tinynet.dtypes``): both operands
are cast to the common dtype inside forward, and the engine casts each
gradient back to its input's dtype.  So ``int_tensor * 2.5`` is float32, and a
float32 weight multiplied by a float64 tensor still gets a float32 gradient.
"""
import numpy as np

from .. import backend
from ..amp.autocast_mode import autocast_op
from ..autograd import Function, Tensor, as_tensor
from ..dtypes import get_default_dtype, is_scalar, result_type

__all__ = ["add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide",
           "floor_divide", "remainder", "neg", "negative", "pow", "square", "exp",
           "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "reciprocal",
           "abs", "sin", "cos", "sign", "floor", "ceil", "round", "trunc", "clamp",
           "clip", "clamp_min", "clamp_max", "maximum", "minimum", "where",
           "masked_fill", "lerp", "addcmul", "addcdiv", "matmul", "mm", "bmm", "dot",
           "mv", "outer", "erf", "atan2", "arctan2", "nan_to_num", "fmod", "addmm",
           "baddbmm", "addmv", "addr", "addbmm", "tensordot", "kron", "cross", "gcd", "lcm",
           "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "arcsin",
           "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "erfinv", "exp2", "logaddexp",
           "logaddexp2", "hypot", "xlogy", "sinc", "frac", "copysign", "float_power", "logit",
           "deg2rad", "rad2deg", "positive", "absolute", "fix", "sgn", "inner"]


def sum_to(grad, shape):
    """Sum ``grad`` over the axes that broadcasting expanded, giving ``shape``.

    Leading axes that ``shape`` lacks are summed away; axes where ``shape`` has
    size 1 (but ``grad`` does not) are summed with keepdims.
    """
    shape = tuple(shape)
    if tuple(grad.shape) == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _broadcast_shapes(name, *arrays):
    """The broadcast shape of the arrays, or a ValueError naming every shape."""
    try:
        return np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        shapes = " and ".join(str(tuple(a.shape)) for a in arrays)
        raise ValueError(f"{name}: shapes {shapes} cannot be broadcast together") from None


def _operand(x, dtype, like):
    """``x`` as a Tensor: a Python number becomes a constant of ``dtype`` on ``like``'s device."""
    if isinstance(x, Tensor):
        return x
    if not is_scalar(x):
        return as_tensor(x)
    xp = backend.get_array_module(like.data) if like is not None else np
    # full() fills on the device (on the GPU the number is a kernel argument): no copy
    # from the host, as xp.array(x) would make at every call.
    return Tensor._from_array(xp.full((), x, dtype=dtype))


def _promoted(*operands, like=None):
    """(tensors, dtype): every operand as a Tensor, and PyTorch's result dtype.

    Numbers become constants on the device of the first Tensor operand (or of ``like``).
    """
    dtype = result_type(*operands)
    like = next((x for x in operands if isinstance(x, Tensor)), like)
    return [_operand(x, dtype, like) for x in operands], dtype


def _float_dtype(dtype):
    """``dtype`` if floating, else the default float (true division, exp of an int, ...)."""
    return dtype if np.dtype(dtype).kind == "f" else get_default_dtype()


# ---------------------------------------------------------------------------
# Binary elementwise operations
# ---------------------------------------------------------------------------

class _BinaryBroadcast(Function):
    """Base for elementwise binary ops: casts to the result dtype, checks broadcasting.

    Subclasses write ``compute(a, b)`` on the cast arrays and ``backward``,
    returning gradients in the broadcast shape through ``reduce``.
    """
    name = "binary op"

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, a, b):
        _broadcast_shapes(self.name, a, b)
        self.a_shape, self.b_shape = a.shape, b.shape
        with np.errstate(all="ignore"):  # inf and nan without warnings, as in PyTorch
            return self.compute(a.astype(self.dtype, copy=False), b.astype(self.dtype, copy=False))

    def reduce(self, ga, gb):
        """Sum broadcast gradients back to the input shapes (None stays None)."""
        ga = None if ga is None else sum_to(ga, self.a_shape)
        gb = None if gb is None else sum_to(gb, self.b_shape)
        return ga, gb


class Add(_BinaryBroadcast):
    """``a + alpha b``.  d/da = 1, d/db = alpha."""
    name = "add"

    def __init__(self, dtype, alpha=1):
        super().__init__(dtype)
        self.alpha = alpha

    def compute(self, a, b):
        return a + b if self.alpha == 1 else a + self.alpha * b

    def backward(self, gy):
        gb = None
        if self.needs_input_grad[1]:
            gb = gy if self.alpha == 1 else self.alpha * gy
        return self.reduce(gy if self.needs_input_grad[0] else None, gb)


class Sub(_BinaryBroadcast):
    """``a - alpha b``.  d/da = 1, d/db = -alpha."""
    name = "sub"

    def __init__(self, dtype, alpha=1):
        super().__init__(dtype)
        self.alpha = alpha

    def compute(self, a, b):
        return a - b if self.alpha == 1 else a - self.alpha * b

    def backward(self, gy):
        gb = -self.alpha * gy if self.needs_input_grad[1] else None
        return self.reduce(gy if self.needs_input_grad[0] else None, gb)


class Mul(_BinaryBroadcast):
    """``a * b``.  d/da = b, d/db = a (each input is saved only if the other needs a gradient)."""
    name = "mul"

    def compute(self, a, b):
        self.a = a if self.needs_input_grad[1] else None
        self.b = b if self.needs_input_grad[0] else None
        return a * b

    def backward(self, gy):
        ga = gy * self.b if self.needs_input_grad[0] else None
        gb = gy * self.a if self.needs_input_grad[1] else None
        return self.reduce(ga, gb)


class Div(_BinaryBroadcast):
    """``a / b``.  d/da = 1/b, d/db = -a/b^2 = -y/b."""
    name = "div"

    def compute(self, a, b):
        y = a / b
        self.b = b if any(self.needs_input_grad) else None
        self.y = y if self.needs_input_grad[1] else None
        return y

    def backward(self, gy):
        ga = gy / self.b if self.needs_input_grad[0] else None
        gb = -gy * self.y / self.b if self.needs_input_grad[1] else None
        return self.reduce(ga, gb)


class Pow(_BinaryBroadcast):
    """``a ** b``.  d/da = b a^(b-1) (0 where b = 0), d/db = a^b log(a) (0 where a = 0, b >= 0)."""
    name = "pow"

    def compute(self, a, b):
        y = a ** b
        self.a = a if any(self.needs_input_grad) else None
        self.b = b if any(self.needs_input_grad) else None
        self.y = y if self.needs_input_grad[1] else None
        return y

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        ga = gb = None
        if self.needs_input_grad[0]:
            with np.errstate(divide="ignore", invalid="ignore"):
                ga = xp.where(self.b == 0, 0, gy * self.b * self.a ** (self.b - 1))
        if self.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = gy * self.y * xp.log(self.a)
            gb = xp.where((self.a == 0) & (self.b >= 0), 0, gb)  # 0^b: PyTorch's 0, not -inf
        return self.reduce(ga, gb)


def _share(wins, ties, dtype):
    """The first input's share of the gradient: 1 where it wins, 1/2 on ties, else 0."""
    return (wins + 0.5 * ties).astype(dtype, copy=False)


class Atan2(_BinaryBroadcast):
    """``atan2(a, b)``, the angle of the point (b, a) in (-pi, pi].
    d/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2)."""
    name = "atan2"

    def compute(self, a, b):
        self.a, self.b = (a, b) if any(self.needs_input_grad) else (None, None)
        return backend.get_array_module(a, b).arctan2(a, b)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        radius2 = self.a * self.a + self.b * self.b
        # At (0, 0) the angle has no derivative; PyTorch's gradient there is 0, not 0 / 0.
        scale = gy / xp.where(radius2 == 0, 1, radius2)
        ga = scale * self.b if self.needs_input_grad[0] else None
        gb = -scale * self.a if self.needs_input_grad[1] else None
        return self.reduce(ga, gb)


class Maximum(_BinaryBroadcast):
    """``max(a, b)`` elementwise; on ties each input gets half the gradient, as in PyTorch."""
    name = "maximum"

    def compute(self, a, b):
        xp = backend.get_array_module(a, b)
        self.share_a = _share(a > b, a == b, a.dtype) if any(self.needs_input_grad) else None
        return xp.maximum(a, b)

    def backward(self, gy):
        ga = gy * self.share_a if self.needs_input_grad[0] else None
        gb = gy * (1 - self.share_a) if self.needs_input_grad[1] else None
        return self.reduce(ga, gb)


class Minimum(_BinaryBroadcast):
    """``min(a, b)`` elementwise; on ties each input gets half the gradient, as in PyTorch."""
    name = "minimum"

    def compute(self, a, b):
        xp = backend.get_array_module(a, b)
        self.share_a = _share(a < b, a == b, a.dtype) if any(self.needs_input_grad) else None
        return xp.minimum(a, b)

    def backward(self, gy):
        ga = gy * self.share_a if self.needs_input_grad[0] else None
        gb = gy * (1 - self.share_a) if self.needs_input_grad[1] else None
        return self.reduce(ga, gb)


def add(input, other, *, alpha=1):
    """Elementwise ``input + alpha * other`` with broadcasting (``torch.add``)."""
    (a, b), dtype = _promoted(input, other)
    return Add(dtype, alpha)(a, b)


def sub(input, other, *, alpha=1):
    """Elementwise ``input - alpha * other`` with broadcasting (``torch.sub``)."""
    (a, b), dtype = _promoted(input, other)
    return Sub(dtype, alpha)(a, b)


def mul(input, other):
    """Elementwise ``input * other`` with broadcasting (``torch.mul``)."""
    (a, b), dtype = _promoted(input, other)
    return Mul(dtype)(a, b)


def div(input, other, *, rounding_mode=None):
    """Elementwise ``input / other`` (``torch.div``).

    True division always gives a float (``tn.tensor([1, 2]) / 2`` is float32).
    ``rounding_mode="trunc"`` or ``"floor"`` rounds the quotient and keeps the
    integer dtype; that result carries no gradient (it is piecewise constant).
    """
    if rounding_mode is not None:
        return _rounded_division(input, other, rounding_mode)
    (a, b), dtype = _promoted(input, other)
    return Div(_float_dtype(dtype))(a, b)


def _rounded_division(input, other, rounding_mode):
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', "
                         f"got {rounding_mode!r}")
    (a, b), dtype = _promoted(input, other)
    _broadcast_shapes("div", a.data, b.data)
    xp = backend.get_array_module(a.data, b.data)
    a, b = a.data.astype(dtype, copy=False), b.data.astype(dtype, copy=False)
    if rounding_mode == "floor":
        return Tensor._from_array(xp.floor_divide(a, b))
    if dtype.kind == "f":
        return Tensor._from_array(xp.trunc(a / b))
    return Tensor._from_array((xp.abs(a) // xp.abs(b)) * xp.sign(a) * xp.sign(b))


def floor_divide(input, other):
    """``input // other``: the quotient rounded down (no gradient)."""
    return div(input, other, rounding_mode="floor")


def remainder(input, other):
    """``input % other`` with the sign of ``other``, as Python's ``%`` (no gradient)."""
    (a, b), dtype = _promoted(input, other)
    _broadcast_shapes("remainder", a.data, b.data)
    xp = backend.get_array_module(a.data, b.data)
    return Tensor._from_array(xp.mod(a.data.astype(dtype, copy=False),
                                     b.data.astype(dtype, copy=False)))


@autocast_op
def pow(input, exponent):
    """Elementwise ``input ** exponent`` with broadcasting (either may be a number)."""
    (a, b), dtype = _promoted(input, exponent)
    return Pow(dtype)(a, b)


def maximum(input, other):
    """Elementwise maximum (``torch.maximum``); ties split the gradient evenly."""
    (a, b), dtype = _promoted(input, other)
    return Maximum(dtype)(a, b)


def minimum(input, other):
    """Elementwise minimum (``torch.minimum``); ties split the gradient evenly."""
    (a, b), dtype = _promoted(input, other)
    return Minimum(dtype)(a, b)


subtract, multiply, divide, true_divide = sub, mul, div, div


# ---------------------------------------------------------------------------
# Unary functions
# ---------------------------------------------------------------------------

class _Unary(Function):
    """Base for elementwise unary ops: ``compute(x, xp)`` on the array, ``backward`` per op.

    ``to_float = True`` for ops whose result is never an integer (exp, log,
    sqrt, ...): an integer input is cast to the default float first, as PyTorch does.
    """
    to_float = False

    def forward(self, x):
        if self.to_float:
            x = x.astype(_float_dtype(x.dtype), copy=False)
        with np.errstate(all="ignore"):  # log(0) = -inf, sqrt(-1) = nan, silently
            return self.compute(x, backend.get_array_module(x))


def erf_array(x):
    """The error function on NumPy or CuPy arrays (SciPy's, or CuPy's copy of it), in x's
    dtype (SciPy has no float16 loop: it would compute a float16 x in float64)."""
    if backend.get_array_module(x) is np:
        from scipy.special import erf as scipy_erf
    else:
        from cupyx.scipy.special import erf as scipy_erf
    return scipy_erf(x).astype(x.dtype, copy=False)


class Erf(_Unary):
    """``erf(x) = 2/sqrt(pi) * integral_0^x e^(-t^2) dt``; d/dx = 2/sqrt(pi) e^(-x^2)."""
    to_float = True

    def compute(self, x, xp):
        self.x = x if self.needs_input_grad[0] else None
        return erf_array(x)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        return gy * (2.0 / np.sqrt(np.pi)) * xp.exp(-self.x * self.x).astype(gy.dtype)


class Neg(_Unary):
    """``-x``; d/dx = -1."""

    def compute(self, x, xp):
        return -x

    def backward(self, gy):
        return -gy


class Exp(_Unary):
    """``exp(x)``; d/dx = exp(x) = y, so the output is saved."""
    to_float = True

    def compute(self, x, xp):
        y = xp.exp(x)
        self.y = y if self.needs_input_grad[0] else None
        return y

    def backward(self, gy):
        return gy * self.y


class Expm1(_Unary):
    """``exp(x) - 1``, accurate for small x; d/dx = exp(x) = y + 1."""
    to_float = True

    def compute(self, x, xp):
        y = xp.expm1(x)
        self.y = y if self.needs_input_grad[0] else None
        return y

    def backward(self, gy):
        return gy * (self.y + 1)


class Log(_Unary):
    """``log(x) / log(base)`` (natural log for base e); d/dx = 1 / (x log(base))."""
    to_float = True

    def __init__(self, base=None):
        self.base = base

    def compute(self, x, xp):
        self.x = x if self.needs_input_grad[0] else None
        if self.base is None:
            return xp.log(x)
        return xp.log2(x) if self.base == 2 else xp.log10(x)

    def backward(self, gy):
        if self.base is None:
            return gy / self.x
        return gy / (self.x * float(np.log(self.base)))


class Log1p(_Unary):
    """``log(1 + x)``, accurate for small x; d/dx = 1 / (1 + x)."""
    to_float = True

    def compute(self, x, xp):
        self.x = x if self.needs_input_grad[0] else None
        return xp.log1p(x)

    def backward(self, gy):
        return gy / (1 + self.x)


class Sqrt(_Unary):
    """``sqrt(x)``; d/dx = 1 / (2 sqrt(x)) = 1 / (2 y)."""
    to_float = True

    def compute(self, x, xp):
        y = xp.sqrt(x)
        self.y = y if self.needs_input_grad[0] else None
        return y

    def backward(self, gy):
        with np.errstate(divide="ignore"):
            return gy / (2 * self.y)


class Rsqrt(_Unary):
    """``1 / sqrt(x)``; d/dx = -1 / (2 x^1.5) = -y^3 / 2."""
    to_float = True

    def compute(self, x, xp):
        y = 1 / xp.sqrt(x)
        self.y = y if self.needs_input_grad[0] else None
        return y

    def backward(self, gy):
        return -0.5 * gy * self.y ** 3


class Reciprocal(_Unary):
    """``1 / x``; d/dx = -1 / x^2 = -y^2."""
    to_float = True

    def compute(self, x, xp):
        y = 1 / x
        self.y = y if self.needs_input_grad[0] else None
        return y

    def backward(self, gy):
        return -gy * self.y * self.y


class Square(_Unary):
    """``x * x``; d/dx = 2x."""

    def compute(self, x, xp):
        self.x = x if self.needs_input_grad[0] else None
        return x * x

    def backward(self, gy):
        return 2 * gy * self.x


class Abs(_Unary):
    """``|x|``; d/dx = sign(x) (0 at 0, like PyTorch)."""

    def compute(self, x, xp):
        self.sign = xp.sign(x) if self.needs_input_grad[0] else None
        return xp.abs(x)

    def backward(self, gy):
        return gy * self.sign


class Sin(_Unary):
    """``sin(x)``; d/dx = cos(x)."""
    to_float = True

    def compute(self, x, xp):
        self.x = x if self.needs_input_grad[0] else None
        return xp.sin(x)

    def backward(self, gy):
        return gy * backend.get_array_module(gy).cos(self.x)


class Cos(_Unary):
    """``cos(x)``; d/dx = -sin(x)."""
    to_float = True

    def compute(self, x, xp):
        self.x = x if self.needs_input_grad[0] else None
        return xp.cos(x)

    def backward(self, gy):
        return -gy * backend.get_array_module(gy).sin(self.x)


class StepFunction(_Unary):
    """A piecewise-constant function (sign, floor, ceil, round, trunc): its gradient is 0.

    PyTorch keeps such results in the graph (with zero gradients) rather than
    cutting it, so ``(x.round() * 2).sum().backward()`` works and gives zeros.
    """

    def __init__(self, name):
        self.name = name

    def compute(self, x, xp):
        functions = {"sign": xp.sign, "floor": xp.floor, "ceil": xp.ceil, "round": xp.round,
                     "trunc": xp.trunc}
        return functions[self.name](x)

    def backward(self, gy):
        return backend.get_array_module(gy).zeros_like(gy)


def neg(input):
    """Elementwise ``-input``."""
    return Neg()(input)


@autocast_op
def exp(input):
    """Elementwise ``e ** input``."""
    return Exp()(input)


@autocast_op
def expm1(input):
    """Elementwise ``exp(input) - 1``, accurate near 0."""
    return Expm1()(input)


@autocast_op
def log(input):
    """Elementwise natural logarithm (-inf at 0, nan below, as in PyTorch)."""
    return Log()(input)


@autocast_op
def log2(input):
    """Elementwise base-2 logarithm."""
    return Log(2)(input)


@autocast_op
def log10(input):
    """Elementwise base-10 logarithm."""
    return Log(10)(input)


@autocast_op
def log1p(input):
    """Elementwise ``log(1 + input)``, accurate near 0."""
    return Log1p()(input)


def sqrt(input):
    """Elementwise square root."""
    return Sqrt()(input)


@autocast_op
def rsqrt(input):
    """Elementwise ``1 / sqrt(input)``."""
    return Rsqrt()(input)


@autocast_op
def reciprocal(input):
    """Elementwise ``1 / input``."""
    return Reciprocal()(input)


def square(input):
    """Elementwise ``input * input``."""
    return Square()(input)


def abs(input):
    """Elementwise absolute value."""
    return Abs()(input)


def sin(input):
    """Elementwise sine."""
    return Sin()(input)


def erf(input):
    """Elementwise error function (``torch.erf``; the Gaussian cdf is (1 + erf(x / sqrt 2)) / 2)."""
    return Erf()(input)


def atan2(input, other):
    """Elementwise angle of the point (other, input), ``torch.atan2`` (in radians)."""
    (a, b), dtype = _promoted(input, other)
    return Atan2(_float_dtype(dtype))(a, b)


arctan2 = atan2


def cos(input):
    """Elementwise cosine."""
    return Cos()(input)


def sign(input):
    """-1, 0 or 1 by the sign of each element (gradient 0)."""
    return StepFunction("sign")(input)


def floor(input):
    """Round down elementwise (gradient 0)."""
    return StepFunction("floor")(input)


def ceil(input):
    """Round up elementwise (gradient 0)."""
    return StepFunction("ceil")(input)


def round(input, *, decimals=0):
    """Round half to even elementwise, as ``torch.round`` (gradient 0); ``decimals`` digits
    after the point (negative: before it), as round(x * 10^d) / 10^d."""
    if decimals == 0:
        return StepFunction("round")(input)
    x = as_tensor(input)
    if x.dtype.kind != "f":
        raise TypeError(f"round: decimals is for floating-point tensors, got dtype {x.dtype}")
    wide = x.to(np.float32) if x.dtype == np.float16 else x     # x * 10^d overflows float16
    scale = 10.0 ** decimals
    return div(StepFunction("round")(mul(wide, scale)), scale).to(x.dtype)


def trunc(input):
    """Round towards zero elementwise (gradient 0)."""
    return StepFunction("trunc")(input)


negative = neg


# ---------------------------------------------------------------------------
# Clamping
# ---------------------------------------------------------------------------

class Clamp(Function):
    """``min(max(x, low), high)``; the gradient passes where low <= x <= high (ends included)."""

    def __init__(self, low, high, dtype):
        self.low, self.high, self.dtype = low, high, dtype

    def forward(self, x):
        xp = backend.get_array_module(x)
        x = x.astype(self.dtype, copy=False)
        if self.needs_input_grad[0]:
            inside = xp.ones(x.shape, dtype=bool)
            if self.low is not None:
                inside &= x >= self.low
            if self.high is not None:
                inside &= x <= self.high
            self.inside = inside
        return xp.clip(x, self.low, self.high)

    def backward(self, gy):
        return gy * self.inside


def clamp(input, min=None, max=None):
    """Clamp values into ``[min, max]`` (``torch.clamp``); either bound may be None.

    Numbers as bounds give ``Clamp`` (gradient to ``input`` inside the range,
    ends included); Tensor bounds are elementwise maximum/minimum.
    """
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = input if min is None else maximum(input, min)
        return out if max is None else minimum(out, max)
    input = as_tensor(input)
    dtype = result_type(input, *(b for b in (min, max) if b is not None))
    return Clamp(min, max, dtype)(input)


def clamp_min(input, min):
    """``clamp(input, min=min)``."""
    return clamp(input, min=min)


def clamp_max(input, max):
    """``clamp(input, max=max)``."""
    return clamp(input, max=max)


clip = clamp


# ---------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------

class Where(Function):
    """``where(condition, a, b)``: a where the condition holds, else b.

    The condition is a plain boolean array (no gradient); the gradient is routed
    to ``a`` where it holds and to ``b`` elsewhere, then reduced to each shape.
    """

    def __init__(self, condition, dtype):
        self.condition, self.dtype = condition, dtype

    def forward(self, a, b):
        _broadcast_shapes("where", self.condition, a, b)
        xp = backend.get_array_module(a, b)
        self.a_shape, self.b_shape = a.shape, b.shape
        return xp.where(self.condition, a.astype(self.dtype, copy=False),
                        b.astype(self.dtype, copy=False))

    def backward(self, gy):
        ga = sum_to(gy * self.condition, self.a_shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * ~self.condition, self.b_shape) if self.needs_input_grad[1] else None
        return ga, gb


def _bool_array(name, condition):
    condition = condition.data if isinstance(condition, Tensor) else condition
    xp = backend.get_array_module(condition)
    condition = xp.asarray(condition)
    if condition.dtype != bool:
        raise TypeError(f"{name}: the condition/mask must be a bool tensor, got dtype "
                        f"{condition.dtype} (compare first, e.g. x > 0)")
    return condition


def where(condition, input=None, other=None):
    """Elementwise select (``torch.where``): ``input`` where ``condition``, else ``other``.

    ``where(condition)`` alone gives the indices of the True elements, one
    int64 tensor per dimension (``torch.nonzero(condition, as_tuple=True)``).
    """
    condition = _bool_array("where", condition)
    if input is None and other is None:
        xp = backend.get_array_module(condition)
        return tuple(Tensor._from_array(i.astype(np.int64)) for i in xp.nonzero(condition))
    (a, b), dtype = _promoted(input, other, like=Tensor._from_array(condition))
    return Where(condition, dtype)(a, b)


def masked_fill(input, mask, value):
    """``input`` with ``value`` wherever the bool ``mask`` (broadcast) is True.

    The dtype stays ``input``'s.  The gradient flows to ``input`` where the mask
    is False (and to ``value`` where it is True, if ``value`` is a Tensor).
    """
    input = as_tensor(input)
    mask = _bool_array("masked_fill", mask)
    value = _operand(value, input.dtype, input)
    return Where(mask, input.dtype)(value, input)


def lerp(input, end, weight):
    """``input + weight * (end - input)``, with gradients to all three."""
    return add(input, mul(weight, sub(end, input)))


def addcmul(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 * tensor2`` (Adam's second moment: ``v.addcmul_(g, g, value=1 - b2)``)."""
    return add(input, mul(mul(tensor1, tensor2), value))


def addcdiv(input, tensor1, tensor2, *, value=1):
    """``input + value * tensor1 / tensor2`` (Adam's step: ``p.addcdiv_(m, denom, value=-lr)``)."""
    return add(input, mul(div(tensor1, tensor2), value))


# ---------------------------------------------------------------------------
# Matrix multiplication
# ---------------------------------------------------------------------------

class MatMul(Function):
    """``a @ b`` with NumPy's matmul rules (batched over leading axes, broadcast).

    For ``y = a @ b`` with a (..., n, k) and b (..., k, m):
        da = dy @ b^T      (..., n, m) @ (..., m, k)
        db = a^T @ dy      (..., k, n) @ (..., n, m)
    then summed over broadcast batch axes.  A 1-D ``a`` is a row (1, k) and a
    1-D ``b`` a column (k, 1), whose extra axis the product drops; backward puts
    that axis back into dy first, so vector @ vector (a dot product, dy of shape
    ()), vector @ matrix and matrix @ vector all reduce to the matrix case.
    """

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul: both operands need at least one dimension, "
                             f"got shapes {tuple(a.shape)} and {tuple(b.shape)}")
        if a.shape[-1] != b.shape[0 if b.ndim == 1 else -2]:
            raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not "
                             "match (last axis of the first must equal the second-to-last "
                             "of the second)")
        a, b = a.astype(self.dtype, copy=False), b.astype(self.dtype, copy=False)
        self.a = a if self.needs_input_grad[1] else None
        self.b = b if self.needs_input_grad[0] else None
        self.a_shape, self.b_shape = a.shape, b.shape
        return a @ b

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        a_is_vector, b_is_vector = len(self.a_shape) == 1, len(self.b_shape) == 1
        if b_is_vector:
            gy = xp.expand_dims(gy, -1)   # (..., n) -> (..., n, 1)
        if a_is_vector:
            gy = xp.expand_dims(gy, -2)   # (..., m) -> (..., 1, m)
        ga = gb = None
        if self.needs_input_grad[0]:
            b2 = self.b[:, None] if b_is_vector else self.b
            a2_shape = (1,) + self.a_shape if a_is_vector else self.a_shape
            ga = sum_to(gy @ b2.swapaxes(-1, -2), a2_shape).reshape(self.a_shape)
        if self.needs_input_grad[1]:
            a2 = self.a[None, :] if a_is_vector else self.a
            b2_shape = self.b_shape + (1,) if b_is_vector else self.b_shape
            gb = sum_to(a2.swapaxes(-1, -2) @ gy, b2_shape).reshape(self.b_shape)
        return ga, gb


@autocast_op
def matmul(input, other):
    """Matrix product ``input @ other`` (``torch.matmul``): 1-D, 2-D or batched operands."""
    (a, b), dtype = _promoted(as_tensor(input), as_tensor(other))
    return MatMul(dtype)(a, b)


def _matmul_of_ndim(name, input, other, ndims):
    input, other = as_tensor(input), as_tensor(other)
    if (input.ndim, other.ndim) != ndims:
        raise ValueError(f"{name}: expected {ndims[0]}-D and {ndims[1]}-D tensors, "
                         f"got shapes {input.shape} and {other.shape}")
    return matmul(input, other)


@autocast_op
def mm(input, mat2):
    """Product of two matrices (n, k) @ (k, m) -> (n, m) (``torch.mm``)."""
    return _matmul_of_ndim("mm", input, mat2, (2, 2))


@autocast_op
def bmm(input, mat2):
    """Batched product (b, n, k) @ (b, k, m) -> (b, n, m) (``torch.bmm``)."""
    return _matmul_of_ndim("bmm", input, mat2, (3, 3))


@autocast_op
def mv(input, vec):
    """Matrix-vector product (n, k) @ (k,) -> (n,) (``torch.mv``)."""
    return _matmul_of_ndim("mv", input, vec, (2, 1))


@autocast_op
def dot(input, other):
    """Dot product of two 1-D tensors -> 0-D (``torch.dot``)."""
    return _matmul_of_ndim("dot", input, other, (1, 1))


def outer(input, vec2):
    """Outer product of two 1-D tensors (n,) and (m,) -> (n, m)."""
    return mul(as_tensor(input).reshape(-1, 1), as_tensor(vec2).reshape(1, -1))


# ---------------------------------------------------------------------------
# Compositions of the ops above (their gradients are those ops')
# ---------------------------------------------------------------------------

def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default the
    dtype's largest and smallest finite values); the gradient passes where x was finite."""
    x = as_tensor(input)
    if x.dtype.kind != "f":
        return x
    info = np.finfo(x.dtype)
    high = info.max if posinf is None else posinf
    low = info.min if neginf is None else neginf
    x = where(x != x, nan, x)                            # NaN is the one value unequal to itself
    x = where(x == np.inf, high, x)
    return where(x == -np.inf, low, x)


class Fmod(_BinaryBroadcast):
    """``fmod(a, b) = a - trunc(a / b) b``, the remainder with the dividend's sign (C's
    fmod), computed exactly by the array library.  d/da = 1, d/db = -trunc(a / b)."""
    name = "fmod"

    def compute(self, a, b):
        if any(self.needs_input_grad):
            self.a, self.b = a, b
        return backend.get_array_module(a, b).fmod(a, b)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        ga = gy if self.needs_input_grad[0] else None
        gb = -gy * xp.trunc(self.a / self.b) if self.needs_input_grad[1] else None
        return self.reduce(ga, gb)


def fmod(input, other):
    """The remainder of ``input / other`` rounded towards zero, with the dividend's sign (C's
    fmod; ``remainder`` takes the divisor's): fmod(-7, 3) = -1, remainder(-7, 3) = 2."""
    (a, b), dtype = _promoted(input, other)
    return Fmod(dtype)(a, b)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat1 @ mat2)`` (mat1 (n, k), mat2 (k, m), input broadcast);
    with ``beta=0`` the input is ignored, NaN and inf included (PyTorch's rule)."""
    return _scaled_sum(input, mm(mat1, mat2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * (batch1 @ batch2)`` for batches (B, n, k) @ (B, k, m)."""
    return _scaled_sum(input, bmm(batch1, batch2), beta, alpha)


def _scaled_sum(input, product, beta, alpha):
    """beta * input + alpha * product; beta = 0 keeps only input's shape (not its NaNs)."""
    scaled = mul(product, alpha)
    if beta == 0:
        x = as_tensor(input)
        zeros = backend.get_array_module(x.data).zeros(x.shape, dtype=scaled.dtype)
        return add(scaled, Tensor._from_array(zeros))          # broadcast to input's shape
    return add(mul(input, beta), scaled)



# ---------------------------------------------------------------------------
# More products (compositions of matmul, mul and the shape methods; gradients are theirs)
# ---------------------------------------------------------------------------

def addmv(input, mat, vec, *, beta=1, alpha=1):
    """``beta * input + alpha * (mat @ vec)``: mat (n, m), vec (m,), input broadcast to (n,)."""
    return _scaled_sum(input, mv(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """``beta * input + alpha * outer(vec1, vec2)``: vec1 (n,), vec2 (m,), input broadcast
    to (n, m)."""
    vec1, vec2 = as_tensor(vec1), as_tensor(vec2)
    if vec1.ndim != 1 or vec2.ndim != 1:
        raise ValueError(f"addr: vec1 and vec2 must be 1-D, got shapes {tuple(vec1.shape)} "
                         f"and {tuple(vec2.shape)}")
    return _scaled_sum(input, outer(vec1, vec2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """``beta * input + alpha * sum_b batch1[b] @ batch2[b]``: batch1 (B, n, k), batch2
    (B, k, m), input broadcast to (n, m); the batch of products is summed, not kept."""
    return _scaled_sum(input, bmm(batch1, batch2).sum(0), beta, alpha)


def tensordot(a, b, dims=2):
    """Sum of products over pairs of dims: ``dims=k`` pairs the last k dims of ``a`` with the
    first k of ``b``; ``dims=([1, 0], [0, 2])`` names the pairs.  The result has a's free
    dims then b's: a (2, 3, 4), b (3, 4, 5), dims=2 -> (2, 5), c[i, l] = sum_jk a[i, j, k]
    b[j, k, l].  Done as one matmul of the permuted, flattened operands (so its gradient).
    """
    a, b = as_tensor(a), as_tensor(b)
    if a.dtype != b.dtype:
        raise TypeError(f"tensordot: both inputs should have the same dtype, got {a.dtype} "
                        f"and {b.dtype}")
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, (int, np.integer)):
        if dims < 0:
            raise ValueError(f"tensordot: expects dims >= 0, but got dims={dims}")
        if dims > a.ndim or dims > b.ndim:
            raise ValueError(f"tensordot: dims={dims} is more than the dims of the inputs "
                             f"(shapes {tuple(a.shape)} and {tuple(b.shape)})")
        dims_a, dims_b = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        if len(dims) != 2:
            raise ValueError(f"tensordot: dims must be an int or a pair of lists, got {dims!r}")
        dims_a, dims_b = ([d] if isinstance(d, (int, np.integer)) else list(d) for d in dims)
        if len(dims_a) != len(dims_b):
            raise ValueError(f"tensordot: both dimension lists should have the same length, "
                             f"got {dims_a} and {dims_b}")
    wrapped_a = [_wrap(d, a.ndim) for d in dims_a]
    wrapped_b = [_wrap(d, b.ndim) for d in dims_b]
    for da, db, ia, ib in zip(dims_a, dims_b, wrapped_a, wrapped_b):
        if a.shape[ia] != b.shape[ib]:
            raise ValueError(f"tensordot: contracted dimensions need to match, but first has "
                             f"size {a.shape[ia]} in dim {da} and second has size "
                             f"{b.shape[ib]} in dim {db}")
    free_a = [d for d in range(a.ndim) if d not in wrapped_a]
    free_b = [d for d in range(b.ndim) if d not in wrapped_b]
    k = int(np.prod([a.shape[d] for d in wrapped_a]))
    out_shape = tuple(a.shape[d] for d in free_a) + tuple(b.shape[d] for d in free_b)
    m = int(np.prod([a.shape[d] for d in free_a]))
    n = int(np.prod([b.shape[d] for d in free_b]))
    a2 = a.permute(*(free_a + wrapped_a)).reshape(m, k)
    b2 = b.permute(*(wrapped_b + free_b)).reshape(k, n)
    return matmul(a2, b2).reshape(out_shape)


def _wrap(dim, ndim):
    if not -ndim <= dim < max(ndim, 1):
        raise IndexError(f"tensordot: dimension {dim} is out of range for a tensor with {ndim} "
                         f"dims")
    return dim % ndim


def kron(input, other):
    """Kronecker product: every element a[i] of ``input`` times the whole ``other``, as
    blocks.  Shapes (a_0, ..., a_n) and (b_0, ..., b_n) (the shorter padded with leading 1s)
    give (a_0 b_0, ..., a_n b_n), with out[i * b + j] = input[i] * other[j] per dim.  Done
    as a broadcast product of input (a_0, 1, a_1, 1, ...) and other (1, b_0, 1, b_1, ...)."""
    a, b = as_tensor(input), as_tensor(other)
    n = max(a.ndim, b.ndim)
    sa = (1,) * (n - a.ndim) + tuple(a.shape)
    sb = (1,) * (n - b.ndim) + tuple(b.shape)
    a2 = a.reshape(tuple(s for size in sa for s in (size, 1)))
    b2 = b.reshape(tuple(s for size in sb for s in (1, size)))
    return mul(a2, b2).reshape(tuple(x * y for x, y in zip(sa, sb)))


def cross(input, other, dim=None):
    """The cross product of 3-vectors along ``dim``: c_i = a_{i+1} b_{i+2} - a_{i+2} b_{i+1}
    (indices mod 3), done with rolls of the inputs.  Both inputs have the same number of
    dims, size 3 along ``dim``; the other dims broadcast.  ``dim=None`` is PyTorch's old
    default, the first dim of size 3 (``linalg.cross``'s default is -1)."""
    a, b = as_tensor(input), as_tensor(other)
    if dim is None:
        dim = next((i for i, n in enumerate(a.shape) if n == 3), None)
        if dim is None:
            raise ValueError(f"cross: no dimension of size 3 in input of shape "
                             f"{tuple(a.shape)}; pass dim")
    return _cross("cross", a, b, dim)


def _cross(name, a, b, dim):
    if a.ndim != b.ndim:
        raise ValueError(f"{name}: inputs must have the same number of dimensions, got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if not -max(a.ndim, 1) <= dim < max(a.ndim, 1) or a.ndim == 0:
        raise IndexError(f"{name}: dim {dim} is out of range for tensors with {a.ndim} dims")
    if a.shape[dim] != 3 or b.shape[dim] != 3:
        raise ValueError(f"{name}: inputs dimension {dim} must have length 3, got "
                         f"{a.shape[dim]} and {b.shape[dim]}")
    return sub(mul(a.roll(-1, dim), b.roll(-2, dim)), mul(a.roll(-2, dim), b.roll(-1, dim)))


def _integer_elementwise(name, ufunc_name, input, other):
    (a, b), dtype = _promoted(input, other)
    for t in (a, b):
        if t.dtype.kind not in "iu":
            raise TypeError(f"{name}: only integer tensors, got dtype {t.dtype}")
    _broadcast_shapes(name, a.data, b.data)
    xp = backend.get_array_module(a.data, b.data)
    return Tensor._from_array(getattr(xp, ufunc_name)(a.data.astype(dtype, copy=False),
                                                      b.data.astype(dtype, copy=False)))


def gcd(input, other):
    """The greatest common divisor, elementwise, of integer tensors (>= 0; gcd(0, 0) = 0)."""
    return _integer_elementwise("gcd", "gcd", input, other)


def lcm(input, other):
    """The least common multiple, elementwise, of integer tensors (>= 0; 0 if either is 0)."""
    return _integer_elementwise("lcm", "lcm", input, other)


# ---------------------------------------------------------------------------
# More elementwise math: trigonometric and hyperbolic functions, erfinv, and
# compositions of the ops above (their gradients come from those ops)
# ---------------------------------------------------------------------------

class Trig(_Unary):
    """tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh (NumPy's names for the arcs).

    Derivatives: tan' = 1 + tan^2, asin' = 1 / sqrt(1 - x^2) = -acos',
    atan' = 1 / (1 + x^2), sinh' = cosh, cosh' = sinh, asinh' = 1 / sqrt(x^2 + 1),
    acosh' = 1 / sqrt(x^2 - 1), atanh' = 1 / (1 - x^2).
    """
    to_float = True
    NUMPY_NAMES = {"tan": "tan", "asin": "arcsin", "acos": "arccos", "atan": "arctan",
                   "sinh": "sinh", "cosh": "cosh", "asinh": "arcsinh", "acosh": "arccosh",
                   "atanh": "arctanh"}

    def __init__(self, name):
        self.name = name

    def compute(self, x, xp):
        y = getattr(xp, self.NUMPY_NAMES[self.name])(x)
        self.x, self.y = (x, y) if self.needs_input_grad[0] else (None, None)
        return y

    def backward(self, gy):
        xp, x = backend.get_array_module(gy), self.x
        with np.errstate(all="ignore"):
            derivative = {
                "tan": lambda: 1 + self.y * self.y,
                "asin": lambda: 1 / xp.sqrt(1 - x * x),
                "acos": lambda: -1 / xp.sqrt(1 - x * x),
                "atan": lambda: 1 / (1 + x * x),
                "sinh": lambda: xp.cosh(x),
                "cosh": lambda: xp.sinh(x),
                "asinh": lambda: 1 / xp.sqrt(x * x + 1),
                "acosh": lambda: 1 / xp.sqrt(x * x - 1),
                "atanh": lambda: 1 / (1 - x * x),
            }[self.name]()
        return gy * derivative


def tan(input):
    """Elementwise tangent."""
    return Trig("tan")(input)


def asin(input):
    """Elementwise arcsine (nan outside [-1, 1])."""
    return Trig("asin")(input)


def acos(input):
    """Elementwise arccosine (nan outside [-1, 1])."""
    return Trig("acos")(input)


def atan(input):
    """Elementwise arctangent."""
    return Trig("atan")(input)


def sinh(input):
    """Elementwise hyperbolic sine."""
    return Trig("sinh")(input)


def cosh(input):
    """Elementwise hyperbolic cosine."""
    return Trig("cosh")(input)


def asinh(input):
    """Elementwise inverse hyperbolic sine."""
    return Trig("asinh")(input)


def acosh(input):
    """Elementwise inverse hyperbolic cosine (nan below 1)."""
    return Trig("acosh")(input)


def atanh(input):
    """Elementwise inverse hyperbolic tangent (+-inf at +-1, nan outside)."""
    return Trig("atanh")(input)


arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh


class Erfinv(_Unary):
    """The inverse of ``erf`` on (-1, 1); d/dx = sqrt(pi) / 2 * exp(y^2)."""
    to_float = True

    def compute(self, x, xp):
        if xp is np:
            from scipy.special import erfinv as scipy_erfinv
        else:
            from cupyx.scipy.special import erfinv as scipy_erfinv
        y = scipy_erfinv(x).astype(x.dtype, copy=False)
        self.y = y if self.needs_input_grad[0] else None
        return y

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        with np.errstate(over="ignore"):
            return gy * (np.sqrt(np.pi) / 2) * xp.exp(self.y * self.y)


def erfinv(input):
    """Elementwise inverse error function (``torch.erfinv``; trunc_normal_ uses it)."""
    return Erfinv()(input)


def _floated(input):
    """``input`` as a Tensor of a floating dtype (an integer one becomes the default float)."""
    x = as_tensor(input)
    return x if x.dtype.kind == "f" else x.to(get_default_dtype())


def _floated_pair(input, other):
    """Both operands, promoted together, then made floating (``hypot``, ``logaddexp``, ...)."""
    (a, b), dtype = _promoted(input, other)
    dtype = _float_dtype(dtype)
    return a.to(dtype), b.to(dtype)


def exp2(input):
    """Elementwise ``2 ** input``."""
    return pow(2.0, _floated(input))


def logaddexp(input, other):
    """``log(exp(input) + exp(other))`` without overflow: ``max + log1p(exp(-|input - other|))``."""
    a, b = _floated_pair(input, other)
    return add(maximum(a, b), log1p(exp(neg(abs(sub(a, b))))))


def logaddexp2(input, other):
    """``log2(2 ** input + 2 ** other)``, computed as ``logaddexp`` in base 2."""
    a, b = _floated_pair(input, other)
    ln2 = float(np.log(2.0))
    return div(logaddexp(mul(a, ln2), mul(b, ln2)), ln2)


def hypot(input, other):
    """Elementwise ``sqrt(input^2 + other^2)``, the length of the hypotenuse."""
    a, b = _floated_pair(input, other)
    return sqrt(add(square(a), square(b)))


def xlogy(input, other):
    """``input * log(other)``, and 0 where ``input`` is 0 (unless ``other`` is nan)."""
    a, b = _floated_pair(input, other)
    xp = backend.get_array_module(a.data, b.data)
    product = mul(a, log(b))
    zero = (a.data == 0) & ~xp.isnan(b.data)
    return where(xp.broadcast_to(zero, product.shape), 0.0, product)


def sinc(input):
    """The normalized sinc, ``sin(pi x) / (pi x)``, and 1 at 0 (gradient 0 there)."""
    x = _floated(input)
    at_zero = x.data == 0
    safe = where(at_zero, 1.0, x)              # keeps 0 / 0 out of the gradient too
    scaled = mul(safe, float(np.pi))
    return where(at_zero, 1.0, div(sin(scaled), scaled))


def frac(input):
    """The fractional part, ``input - trunc(input)`` (its sign is input's)."""
    return sub(input, trunc(input))


def copysign(input, other):
    """``|input|`` with the sign of ``other`` (-0.0 counts as negative); always floating.
    The gradient reaches ``input`` only."""
    a, b = _floated_pair(input, other)
    xp = backend.get_array_module(b.data)
    negative_sign = xp.signbit(b.data)
    return mul(abs(a), Tensor._from_array(xp.where(negative_sign, -1, 1).astype(a.dtype)))


def float_power(input, exponent):
    """``input ** exponent`` computed in float64 (``torch.float_power``)."""
    base = as_tensor(input).to(np.float64)
    return pow(base, exponent.to(np.float64) if isinstance(exponent, Tensor) else exponent)


def logit(input, eps=None):
    """``log(p / (1 - p))``, the inverse of sigmoid; with ``eps``, p is first clamped into
    ``[eps, 1 - eps]`` (the gradient is then 0 outside that range)."""
    p = _floated(input)
    if eps is not None:
        p = clamp(p, eps, 1 - eps)
    return log(div(p, sub(1, p)))


def deg2rad(input):
    """Degrees to radians, elementwise."""
    return mul(_floated(input), float(np.pi / 180))


def rad2deg(input):
    """Radians to degrees, elementwise."""
    return mul(_floated(input), float(180 / np.pi))


def positive(input):
    """``input`` itself (``torch.positive``; refused for bool tensors, as in PyTorch)."""
    x = as_tensor(input)
    if x.dtype == np.bool_:
        raise TypeError("positive: the + operator on a bool tensor is not supported")
    return x


absolute, fix, sgn = abs, trunc, sign


def inner(input, other):
    """The inner product over the last dims (``torch.inner``): for 1-D tensors the dot
    product; in general out[i..., j...] = sum_k a[i..., k] b[j..., k], shape a.shape[:-1] +
    b.shape[:-1]; a 0-d operand multiplies the other.  ``tensordot`` of the last dims."""
    a, b = as_tensor(input), as_tensor(other)
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"inner: the last dims of input {tuple(a.shape)} and other "
                         f"{tuple(b.shape)} must match")
    return tensordot(a, b, dims=([-1], [-1]))
