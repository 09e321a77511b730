"""Elementwise arithmetic with broadcasting, unary math, and matrix multiplication.

Broadcasting (NumPy's rules, as in PyTorch) lets ``x (N, C, H, W) + b (C, 1, 1)``
add ``b`` to every sample and pixel.  In backward the gradient arrives in the
broadcast shape and must be summed back to each input's own shape: ``b``
received ``N*H*W`` copies, so its gradient is the sum over those axes
(``sum_to`` below).
"""
from .. import backend
from ..autograd import Function, Tensor, as_tensor

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs",
           "clip", "clamp", "maximum", "minimum", "where", "matmul", "sum_to"]


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


def _broadcast_shapes(name, a, b):
    """The broadcast shape of two arrays, or a ValueError naming both shapes."""
    xp = backend.get_array_module(a, b)
    try:
        return xp.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{name}: shapes {tuple(a.shape)} and {tuple(b.shape)} "
                         "cannot be broadcast together") from None


def _operands(a, b):
    """Both operands as Tensors; a Python scalar takes the other's dtype and device."""
    if isinstance(a, Tensor):
        return a, as_tensor(b, like=a)
    b = as_tensor(b)
    return as_tensor(a, like=b), b


class _BinaryBroadcast(Function):
    """Base for elementwise binary ops: checks broadcasting, remembers input shapes."""
    name = "binary op"

    def forward(self, a, b):
        _broadcast_shapes(self.name, a, b)
        self.a_shape, self.b_shape = a.shape, b.shape
        return self.compute(a, b)

    def reduce(self, ga, gb):
        """Sum broadcast gradients back to the input shapes (None stays None)."""
        ga = None if ga is None else sum_to(ga, self.a_shape)
        gb = None if gb is None else sum_to(gb, self.b_shape)
        return ga, gb


class Add(_BinaryBroadcast):
    """``a + b``.  d/da = 1, d/db = 1."""
    name = "add"

    def compute(self, a, b):
        return a + b

    def backward(self, gy):
        return self.reduce(gy, gy)


class Sub(_BinaryBroadcast):
    """``a - b``.  d/da = 1, d/db = -1."""
    name = "sub"

    def compute(self, a, b):
        return a - b

    def backward(self, gy):
        return self.reduce(gy, -gy if self.needs_input_grad[1] else None)


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
    """``a / b``.  d/da = 1/b, d/db = -a/b^2."""
    name = "div"

    def compute(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, gy):
        ga = gy / self.b if self.needs_input_grad[0] else None
        gb = -gy * self.a / (self.b * self.b) if self.needs_input_grad[1] else None
        return self.reduce(ga, gb)


class Pow(_BinaryBroadcast):
    """``a ** b``.  d/da = b a^(b-1), d/db = a^b log(a) (only defined for a > 0)."""
    name = "pow"

    def compute(self, a, b):
        self.a, self.b = a, b
        self.y = a ** b
        return self.y

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        ga = gy * self.b * self.a ** (self.b - 1) if self.needs_input_grad[0] else None
        gb = None
        if self.needs_input_grad[1]:
            gb = gy * self.y * xp.log(xp.where(self.a > 0, self.a, 1))
        return self.reduce(ga, gb)


class Maximum(_BinaryBroadcast):
    """``max(a, b)`` elementwise; on ties the gradient goes to ``a``."""
    name = "maximum"

    def compute(self, a, b):
        xp = backend.get_array_module(a, b)
        self.a_wins = a >= b
        return xp.maximum(a, b)

    def backward(self, gy):
        return self.reduce(gy * self.a_wins, gy * ~self.a_wins)


class Minimum(_BinaryBroadcast):
    """``min(a, b)`` elementwise; on ties the gradient goes to ``a``."""
    name = "minimum"

    def compute(self, a, b):
        xp = backend.get_array_module(a, b)
        self.a_wins = a <= b
        return xp.minimum(a, b)

    def backward(self, gy):
        return self.reduce(gy * self.a_wins, gy * ~self.a_wins)


def add(a, b):
    """Elementwise ``a + b`` with broadcasting."""
    return Add()(*_operands(a, b))


def sub(a, b):
    """Elementwise ``a - b`` with broadcasting."""
    return Sub()(*_operands(a, b))


def mul(a, b):
    """Elementwise ``a * b`` with broadcasting."""
    return Mul()(*_operands(a, b))


def div(a, b):
    """Elementwise ``a / b`` with broadcasting."""
    return Div()(*_operands(a, b))


def pow(a, b):
    """Elementwise ``a ** b`` with broadcasting (either may be a Tensor or a scalar)."""
    return Pow()(*_operands(a, b))


def maximum(a, b):
    """Elementwise maximum of two tensors (``torch.maximum``)."""
    return Maximum()(*_operands(a, b))


def minimum(a, b):
    """Elementwise minimum of two tensors (``torch.minimum``)."""
    return Minimum()(*_operands(a, b))


# ---------------------------------------------------------------------------
# Unary functions
# ---------------------------------------------------------------------------

class Neg(Function):
    """``-x``."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Exp(Function):
    """``exp(x)``; d/dx = exp(x), so the output is saved."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.y = xp.exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y


class Log(Function):
    """Natural ``log(x)``; d/dx = 1/x."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.x = x
        return xp.log(x)

    def backward(self, gy):
        return gy / self.x


class Sqrt(Function):
    """``sqrt(x)``; d/dx = 1 / (2 sqrt(x))."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.y = xp.sqrt(x)
        return self.y

    def backward(self, gy):
        return gy / (2 * self.y)


class Abs(Function):
    """``|x|``; d/dx = sign(x) (0 at 0, like PyTorch)."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.sign = xp.sign(x)
        return xp.abs(x)

    def backward(self, gy):
        return gy * self.sign


class Clip(Function):
    """``min(max(x, low), high)``; the gradient passes where x is inside [low, high]."""

    def __init__(self, low, high):
        self.low, self.high = low, high

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.inside = xp.ones(x.shape, dtype=bool)
        if self.low is not None:
            self.inside &= x >= self.low
        if self.high is not None:
            self.inside &= x <= self.high
        return xp.clip(x, self.low, self.high)

    def backward(self, gy):
        return gy * self.inside


def neg(x):
    return Neg()(x)


def exp(x):
    """Elementwise ``e**x``."""
    return Exp()(x)


def log(x):
    """Elementwise natural logarithm."""
    return Log()(x)


def sqrt(x):
    """Elementwise square root."""
    return Sqrt()(x)


def abs(x):
    """Elementwise absolute value."""
    return Abs()(x)


def clip(x, min=None, max=None):
    """Clamp values into ``[min, max]`` (``torch.clamp``); either bound may be None."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    return Clip(min, max)(x)


clamp = clip


class Where(Function):
    """``where(condition, a, b)``: a where the condition holds, else b.

    The condition is a plain boolean array (no gradient); the gradient is routed
    to ``a`` where it holds and to ``b`` elsewhere, then reduced to each shape.
    """

    def __init__(self, condition):
        self.condition = condition

    def forward(self, a, b):
        xp = backend.get_array_module(a, b)
        self.a_shape, self.b_shape = a.shape, b.shape
        return xp.where(self.condition, a, b)

    def backward(self, gy):
        ga = sum_to(gy * self.condition, self.a_shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * ~self.condition, self.b_shape) if self.needs_input_grad[1] else None
        return ga, gb


def where(condition, a, b):
    """Elementwise select (``torch.where``); ``condition`` is a boolean Tensor or array."""
    condition = condition.data if isinstance(condition, Tensor) else condition
    a, b = _operands(a, b)
    return Where(condition)(a, b)


# ---------------------------------------------------------------------------
# Matrix multiplication
# ---------------------------------------------------------------------------

class MatMul(Function):
    """``a @ b`` with NumPy's matmul rules (batched over leading axes, broadcast).

    For ``y = a @ b`` with a (..., n, k) and b (..., k, m):
        da = dy @ b^T      (..., n, m) @ (..., m, k)
        db = a^T @ dy      (..., k, n) @ (..., n, m)
    then summed over broadcast batch axes.  1-D operands are treated as a row
    (for ``a``) or column (for ``b``) vector, as NumPy does.
    """

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul: both operands need at least one dimension, "
                             f"got shapes {tuple(a.shape)} and {tuple(b.shape)}")
        if a.shape[-1] != b.shape[0 if b.ndim == 1 else -2]:
            raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not "
                             "match (last axis of the first must equal the second-to-last "
                             "of the second)")
        self.a, self.b = a, b
        return a @ b

    def backward(self, gy):
        a, b = self.a, self.b
        a2 = a[None, :] if a.ndim == 1 else a           # (1, k) row vector
        b2 = b[:, None] if b.ndim == 1 else b           # (k, 1) column vector
        gy2 = gy
        if a.ndim == 1:
            gy2 = gy2[..., None, :]
        if b.ndim == 1:
            gy2 = gy2[..., None]
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = sum_to(gy2 @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            gb = sum_to(a2.swapaxes(-1, -2) @ gy2, b2.shape).reshape(b.shape)
        return ga, gb


def matmul(a, b):
    """Matrix product ``a @ b`` (``torch.matmul``)."""
    return MatMul()(as_tensor(a), as_tensor(b))
