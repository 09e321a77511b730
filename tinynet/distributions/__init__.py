"""``tn.distributions``: the probability distributions of ``torch.distributions`` that variational
autoencoders, policy-gradient agents and probabilistic losses use every day.

    q = tn.distributions.Normal(mu, sigma)
    z = q.rsample()                                   # mu + sigma * eps: gradients reach both
    kl = tn.distributions.kl_divergence(q, tn.distributions.Normal(0.0, 1.0)).sum()
    pi = tn.distributions.Categorical(logits=scores)
    action = pi.sample(); loss = -(pi.log_prob(action) * advantage).mean()

Each is a few lines of tinynet ops, so ``log_prob``, ``entropy``, ``rsample`` and
``kl_divergence`` are differentiable in the parameters.  ``sample`` draws without a
gradient (``rsample``, the reparameterization trick, where there is one).  Shapes are
PyTorch's: ``sample(sample_shape)`` gives ``sample_shape + batch_shape + event_shape``.

    Normal(loc, scale)          log p(x) = -(x - loc)^2 / (2 scale^2) - log scale - log sqrt(2 pi)
                                entropy  = 1/2 + log sqrt(2 pi) + log scale
    Bernoulli(probs | logits)   log p(x) = x log p + (1 - x) log(1 - p)   (from the logits)
    Categorical(probs | logits) log p(k) = logits[k] - logsumexp(logits)
    Uniform(low, high)          log p(x) = -log(high - low) inside [low, high)

``kl_divergence(p, q)`` is known for two Normals, two Bernoullis and two Categoricals.
Parameters are checked as PyTorch does (``validate_args``; a ValueError names the
parameter), on the CPU; on the GPU the check would wait for the device, so it is skipped.
"""
import math

import numpy as np

from .. import backend
from ..autograd import Size, Tensor, as_tensor, no_grad
from ..ops.activation import sigmoid, softmax, softplus
from ..ops.creation import multinomial, rand, randn
from ..ops.loss import binary_cross_entropy_with_logits
from ..ops.math import erf, log, where
from ..ops.reduce import logsumexp
from ..ops.shape import broadcast_to, gather

__all__ = ["Distribution", "Normal", "Bernoulli", "Categorical", "Uniform", "kl_divergence"]


def _as_float_tensor(value, like=None):
    """A parameter as a floating-point tensor (Python numbers in the default dtype)."""
    if isinstance(value, Tensor):
        return value if value.dtype.kind == "f" else value.float()
    dtype = like.dtype if like is not None else None
    device = like.device if like is not None else None
    return as_tensor(backend.to_device(np.asarray(value, dtype=dtype or backend.DEFAULT_DTYPE),
                                       device or "cpu"))


def _broadcast(*values):
    """The parameters as tensors of one shape (PyTorch's broadcast_all)."""
    like = next((v for v in values if isinstance(v, Tensor)), None)
    tensors = [_as_float_tensor(v, like) for v in values]
    shape = tuple(np.broadcast_shapes(*(tuple(t.shape) for t in tensors)))
    return [t if tuple(t.shape) == shape else broadcast_to(t, shape) for t in tensors]


def _check(distribution, name, value, condition, constraint):
    """Raise ValueError naming the parameter when ``condition`` fails somewhere (CPU only)."""
    if not distribution._validate_args or backend.get_array_module(value.data) is not np:
        return
    if not bool(np.all(condition(value.data))):
        raise ValueError(f"{type(distribution).__name__}: expected parameter {name} (a tensor "
                         f"of shape {tuple(value.shape)}) to satisfy the constraint "
                         f"{constraint}, but found invalid values:\n{value}")


class Distribution:
    """What every distribution has: its shapes, ``sample`` from ``rsample`` without a
    gradient, and the moments derived from ``mean`` and ``variance``."""
    has_rsample = False
    _validate_args = True

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self.batch_shape = Size(batch_shape)
        self.event_shape = Size(event_shape)
        if validate_args is not None:
            self._validate_args = bool(validate_args)

    def _extended_shape(self, sample_shape=()):
        return tuple(Size(sample_shape)) + tuple(self.batch_shape) + tuple(self.event_shape)

    def sample(self, sample_shape=()):
        with no_grad():
            return self.rsample(sample_shape).detach()

    def rsample(self, sample_shape=()):
        raise NotImplementedError(f"{type(self).__name__} has no reparameterized sample")

    @property
    def stddev(self):
        return self.variance.sqrt()

    def __repr__(self):
        shown = ", ".join(f"{name}: {tuple(getattr(self, name).shape)}"
                          for name in self._parameters)
        return f"{type(self).__name__}({shown})"


class Normal(Distribution):
    """The Gaussian with mean ``loc`` and standard deviation ``scale`` (> 0), broadcast."""
    has_rsample = True
    _parameters = ("loc", "scale")

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = _broadcast(loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)
        _check(self, "loc", self.loc, np.isfinite, "Real()")
        _check(self, "scale", self.scale, lambda s: s > 0, "GreaterThan(lower_bound=0.0)")

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return self.scale ** 2

    @property
    def stddev(self):
        return self.scale

    def rsample(self, sample_shape=()):
        """loc + scale * eps, eps ~ N(0, 1): the reparameterization trick."""
        eps = randn(*self._extended_shape(sample_shape), dtype=self.loc.dtype,
                    device=self.loc.device)
        return self.loc + self.scale * eps

    def log_prob(self, value):
        value = _as_float_tensor(value, self.loc)
        return (-((value - self.loc) ** 2) / (2 * self.variance) - log(self.scale)
                - math.log(math.sqrt(2 * math.pi)))

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + log(self.scale)

    def cdf(self, value):
        value = _as_float_tensor(value, self.loc)
        return 0.5 * (1 + erf((value - self.loc) / (self.scale * math.sqrt(2))))


class Bernoulli(Distribution):
    """0/1 outcomes, 1 with probability ``probs``; give ``probs`` or ``logits``."""
    _parameters = ("probs",)

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Bernoulli: give either probs or logits, not both")
        if probs is not None:
            (self.probs,) = _broadcast(probs)
            self.logits = log(self.probs) - log(1 - self.probs)      # the log-odds
        else:
            (self.logits,) = _broadcast(logits)
            self.probs = sigmoid(self.logits)
        super().__init__(self.probs.shape, validate_args=validate_args)
        if probs is not None:
            _check(self, "probs", self.probs, lambda p: (p >= 0) & (p <= 1),
                   "Interval(lower_bound=0.0, upper_bound=1.0)")

    @property
    def mean(self):
        return self.probs

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        with no_grad():
            u = rand(*shape, dtype=self.probs.dtype, device=self.probs.device)
            return (u < broadcast_to(self.probs.detach(), shape)).to(self.probs.dtype)

    def log_prob(self, value):
        value = _as_float_tensor(value, self.logits)
        logits, value = _broadcast(self.logits, value)
        return -binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self):
        return binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")


class Categorical(Distribution):
    """One of K classes (the last axis of ``probs`` or ``logits``); give one of them."""
    _parameters = ("probs",)

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Categorical: give either probs or logits, not both")
        if probs is not None:
            probs = _as_float_tensor(probs)
            if probs.ndim < 1:
                raise ValueError("Categorical: probs must have at least one dimension")
            self._check_probs(probs, validate_args)
            self.probs = probs / probs.sum(-1, keepdim=True)
            self.logits = log(self.probs.clamp(min=np.finfo(self.probs.dtype).tiny))
        else:
            logits = _as_float_tensor(logits)
            if logits.ndim < 1:
                raise ValueError("Categorical: logits must have at least one dimension")
            self.logits = logits - logsumexp(logits, -1, keepdim=True)   # normalized
            self.probs = softmax(logits, -1)
        super().__init__(self.probs.shape[:-1], validate_args=validate_args)

    def _check_probs(self, probs, validate_args):
        self._validate_args = Distribution._validate_args if validate_args is None \
            else bool(validate_args)
        _check(self, "probs", probs, lambda p: (p >= 0).all() and (p.sum(-1) > 0).all(),
               "Simplex() (non-negative, with a positive sum)")

    @property
    def num_events(self):
        return self.probs.shape[-1]

    @property
    def mean(self):
        raise NotImplementedError("Categorical: the mean of class labels is not defined")

    def sample(self, sample_shape=()):
        """Class indices (int64) of shape sample_shape + batch_shape."""
        n = int(np.prod(tuple(Size(sample_shape)), dtype=np.int64))
        rows = self.probs.detach().reshape(-1, self.num_events)
        draws = multinomial(rows, n, replacement=True)              # (rows, n)
        out = draws.transpose(0, 1).reshape(tuple(Size(sample_shape)) + tuple(self.batch_shape))
        return out.to(self.probs.device)

    def log_prob(self, value):
        value = as_tensor(value)
        if value.dtype.kind not in "iu":
            value = value.long()
        shape = tuple(np.broadcast_shapes(tuple(value.shape), tuple(self.batch_shape)))
        logits = broadcast_to(self.logits, shape + (self.num_events,))
        index = broadcast_to(value, shape).unsqueeze(-1).to(self.logits.device)
        return gather(logits, -1, index).squeeze(-1)

    def entropy(self):
        # p log p with 0 log 0 = 0: where a probability is 0 its (clamped) log does not count
        p_log_p = where(self.probs > 0, self.probs * self.logits, 0.0)
        return -p_log_p.sum(-1)


class Uniform(Distribution):
    """Uniform on [low, high), broadcast."""
    has_rsample = True
    _parameters = ("low", "high")

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = _broadcast(low, high)
        super().__init__(self.low.shape, validate_args=validate_args)
        _check(self, "high", self.high - self.low, lambda d: d > 0,
               "GreaterThan(lower_bound=low)")

    @property
    def mean(self):
        return (self.low + self.high) / 2

    @property
    def variance(self):
        return (self.high - self.low) ** 2 / 12

    def rsample(self, sample_shape=()):
        u = rand(*self._extended_shape(sample_shape), dtype=self.low.dtype,
                 device=self.low.device)
        return self.low + (self.high - self.low) * u

    def log_prob(self, value):
        value = _as_float_tensor(value, self.low)
        inside = (value >= self.low) & (value < self.high)
        return where(inside, -log(self.high - self.low), float("-inf"))

    def entropy(self):
        return log(self.high - self.low)


def kl_divergence(p, q):
    """KL(p || q) = E_p[log p - log q], elementwise over the batch, for two distributions of
    one family: Normal, Bernoulli or Categorical (closed forms)."""
    if isinstance(p, Normal) and isinstance(q, Normal):
        ratio = (p.scale / q.scale) ** 2
        return 0.5 * (ratio + ((p.loc - q.loc) / q.scale) ** 2 - 1 - log(ratio))
    if isinstance(p, Bernoulli) and isinstance(q, Bernoulli):
        # sum over outcomes x of p(x) (log p(x) - log q(x)), the logs from the logits
        return (p.probs * (softplus(-q.logits) - softplus(-p.logits))
                + (1 - p.probs) * (softplus(q.logits) - softplus(p.logits)))
    if isinstance(p, Categorical) and isinstance(q, Categorical):
        terms = where(p.probs > 0, p.probs * (p.logits - q.logits), 0.0)
        return terms.sum(-1)
    raise NotImplementedError(f"kl_divergence: no closed form for {type(p).__name__} and "
                              f"{type(q).__name__} in tinynet")
