"""Matrix functions of square matrices (..., n, n), batched over leading axes, with gradients:
``inverse``, ``det``, ``slogdet``/``logdet``, ``solve``, ``cholesky``, ``eigh``.

``tn.linalg`` names them as ``torch.linalg`` does.  Forward is NumPy's (CuPy's) LAPACK; each
backward is the matrix-calculus identity beside it, with g the gradient of the output, ^T the
transpose of the last two axes and A^-T the transpose of the inverse:

    Y = A^-1                  dA = -Y^T g Y^T
    d = det A                 dA = g d A^-T
    l = log |det A|           dA = g A^-T                  (slogdet's sign has no gradient)
    X = A^-1 B                dB = A^-T g,  dA = -dB X^T
    A = L L^T (Cholesky)      dA = sym(L^-T Phi(L^T g) L^-1), Phi: the lower triangle, with the
                              diagonal halved; sym(M) = (M + M^T) / 2 (Murray 2016)
    A = V diag(w) V^T (eigh)  dA = V (diag(g_w) + F * (V^T g_V)) V^T, symmetrized, where
                              F[i, j] = 1 / (w[j] - w[i]) off the diagonal and 0 on it

The last two assume a symmetric A and return a symmetric gradient, as PyTorch's do.  det's
formula needs A invertible (PyTorch's covers singular matrices through the SVD).
"""
from .. import backend
from ..autograd import Function, as_tensor

__all__ = ["inverse", "det", "slogdet", "logdet", "solve", "cholesky", "eigh"]


def _t(a):
    """The transpose of the last two axes."""
    return a.swapaxes(-1, -2)


def _square(op, a):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{op}: expected square matrices (..., n, n), got shape "
                         f"{tuple(a.shape)}")
    if a.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point matrix, got dtype {a.dtype}")


class Inverse(Function):
    """Y = A^-1; dA = -Y^T g Y^T."""

    def forward(self, a):
        _square("inverse", a)
        self.y = backend.get_array_module(a).linalg.inv(a)
        return self.y

    def backward(self, g):
        return -(_t(self.y) @ g @ _t(self.y))


class Det(Function):
    """d = det A; dA = g d A^-T."""

    def forward(self, a):
        _square("det", a)
        xp = backend.get_array_module(a)
        self.a = a
        self.d = xp.linalg.det(a)
        return self.d

    def backward(self, g):
        xp = backend.get_array_module(g)
        return (g * self.d)[..., None, None] * _t(xp.linalg.inv(self.a))


class LogAbsDet(Function):
    """l = log |det A|; dA = g A^-T."""

    def forward(self, a):
        _square("slogdet", a)
        xp = backend.get_array_module(a)
        self.a = a
        return xp.linalg.slogdet(a)[1]

    def backward(self, g):
        xp = backend.get_array_module(g)
        return g[..., None, None] * _t(xp.linalg.inv(self.a))


class Solve(Function):
    """X = A^-1 B (B (..., n, k)); dB = A^-T g, dA = -dB X^T."""

    def forward(self, a, b):
        xp = backend.get_array_module(a)
        self.a = a
        self.x = xp.linalg.solve(a, b)
        return self.x

    def backward(self, g):
        xp = backend.get_array_module(g)
        gb = xp.linalg.solve(_t(self.a), g)
        ga = -(gb @ _t(self.x))
        return ga, gb


class Cholesky(Function):
    """A = L L^T, L lower triangular; the gradient as in the module docstring."""

    def forward(self, a):
        _square("cholesky", a)
        xp = backend.get_array_module(a)
        try:
            self.l = xp.linalg.cholesky(a)
        except xp.linalg.LinAlgError as exc:
            raise ValueError(f"cholesky: the input is not positive-definite ({exc})") from None
        return self.l

    def backward(self, g):
        xp = backend.get_array_module(g)
        l = self.l
        phi = xp.tril(_t(l) @ g)
        diagonal = xp.einsum("...ii->...i", phi)
        diagonal *= 0.5                                      # a view: halves phi's diagonal
        l_inv = xp.linalg.inv(l)
        m = _t(l_inv) @ phi @ l_inv
        return (m + _t(m)) / 2


class Eigh(Function):
    """A = V diag(w) V^T for symmetric A (its lower triangle is read); (w ascending, V)."""

    def __init__(self, uplo):
        self.uplo = uplo

    def forward(self, a):
        _square("eigh", a)
        xp = backend.get_array_module(a)
        self.w, self.v = xp.linalg.eigh(a, UPLO=self.uplo)
        return self.w, self.v

    def backward(self, g_w, g_v):
        xp = backend.get_array_module(g_w)
        w, v = self.w, self.v
        gap = w[..., None, :] - w[..., :, None]              # w[j] - w[i]
        eye = xp.eye(w.shape[-1], dtype=bool)
        f = xp.where(eye, 0, 1 / xp.where(eye, 1, gap))
        inner = xp.einsum("...i,ij->...ij", g_w, xp.eye(w.shape[-1], dtype=w.dtype))
        inner = inner + f * (_t(v) @ g_v)
        m = v @ inner @ _t(v)
        return (m + _t(m)) / 2


def inverse(input):
    """A^-1 of square matrices (..., n, n) (``torch.linalg.inv``, ``torch.inverse``)."""
    return Inverse()(as_tensor(input))


def det(input):
    """det A of square matrices (..., n, n) -> (...) (``torch.linalg.det``)."""
    return Det()(as_tensor(input))


def slogdet(input):
    """(sign, log |det A|) of square matrices (``torch.linalg.slogdet``): the log of a
    determinant too small or too large for a float; only the log has a gradient."""
    a = as_tensor(input)
    sign = backend.get_array_module(a.data).linalg.slogdet(a.data)[0] if a.ndim >= 2 else None
    return as_tensor(sign), LogAbsDet()(a)


def logdet(input):
    """log det A (``torch.logdet``): NaN where det A < 0, -inf where it is 0."""
    sign, logabsdet = slogdet(input)
    xp = backend.get_array_module(sign.data)
    nan_or_zero = xp.where(sign.data < 0, xp.nan, 0).astype(logabsdet.dtype)
    return logabsdet + as_tensor(nan_or_zero)


def solve(A, B, *, left=True):
    """X with A X = B (``torch.linalg.solve``): A (..., n, n), B (..., n, k) or (..., n) (a
    vector per matrix, when B has one axis fewer than A)."""
    a, b = as_tensor(A), as_tensor(B)
    _square("solve", a)
    if not left:
        raise NotImplementedError("solve: left=False is not supported; solve A^T X^T = B^T")
    vector = b.ndim == a.ndim - 1
    if vector:
        b = b.unsqueeze(-1)
    if b.shape[-2] != a.shape[-1]:
        raise ValueError(f"solve: A of shape {tuple(a.shape)} and B of shape "
                         f"{tuple(as_tensor(B).shape)} do not match")
    x = Solve()(a, b)
    return x.squeeze(-1) if vector else x


def cholesky(input, *, upper=False):
    """L with A = L L^T, lower triangular, of symmetric positive-definite A
    (``torch.linalg.cholesky``); ``upper=True`` returns L^T."""
    l = Cholesky()(as_tensor(input))
    return l.transpose(-1, -2) if upper else l


def eigh(input, UPLO="L"):
    """(eigenvalues ascending (..., n), eigenvectors as columns (..., n, n)) of symmetric A
    (``torch.linalg.eigh``), from its lower (``UPLO="L"``) or upper triangle."""
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return Eigh(UPLO)(as_tensor(input))
