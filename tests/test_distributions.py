"""tn.distributions against torch.distributions: log_prob, entropy, cdf, moments and
kl_divergence with their gradients (float64), sample shapes and statistics, the
reparameterization gradient, and parameter checks."""
import numpy as np
import pytest

import tinynet as tn
from torch_parity import assert_same

RNG = np.random.default_rng(0)
LOC, SCALE = RNG.standard_normal((3, 4)), RNG.uniform(0.5, 2.0, (3, 4))
POINTS = RNG.standard_normal((2, 3, 4))
LOGITS, OTHER_PROBS = RNG.standard_normal((3, 5)), RNG.uniform(0.1, 1.0, (3, 5))
CLASSES = np.array([[0, 4, 2], [1, 1, 3]])
OUTCOMES = (RNG.random((3, 5)) > 0.5).astype(np.float64)


def normal(lib):
    loc, scale = lib.tensor(LOC, requires_grad=True), lib.tensor(SCALE, requires_grad=True)
    d = lib.distributions.Normal(loc, scale)
    q = lib.distributions.Normal(lib.tensor(0.3, dtype=lib.float64),
                                 lib.tensor(1.5, dtype=lib.float64))
    values = [d.log_prob(lib.tensor(POINTS)), d.entropy(), d.cdf(lib.tensor(POINTS)),
              lib.distributions.kl_divergence(d, q)]
    sum(v.sum() for v in values).backward()
    return values + [loc.grad, scale.grad, d.mean, d.stddev, d.variance]


def categorical(lib):
    logits = lib.tensor(LOGITS, requires_grad=True)
    d = lib.distributions.Categorical(logits=logits)
    q = lib.distributions.Categorical(probs=lib.tensor(OTHER_PROBS))
    values = [d.log_prob(lib.tensor(CLASSES)), d.entropy(), lib.distributions.kl_divergence(d, q)]
    sum(v.sum() for v in values).backward()
    return values + [logits.grad, d.probs, d.logits, q.logits]


def bernoulli(lib):
    logits = lib.tensor(LOGITS, requires_grad=True)
    d = lib.distributions.Bernoulli(logits=logits)
    q = lib.distributions.Bernoulli(probs=lib.tensor(np.full((3, 5), 0.3)))
    values = [d.log_prob(lib.tensor(OUTCOMES)), d.entropy(),
              lib.distributions.kl_divergence(d, q)]
    sum(v.sum() for v in values).backward()
    return values + [logits.grad, d.probs, d.mean, d.variance, q.logits]


def uniform(lib):
    low = lib.tensor(np.array([0.0, 1.0]), requires_grad=True)
    high = lib.tensor(np.array([2.0, 4.0]), requires_grad=True)
    d = lib.distributions.Uniform(low, high)
    values = [d.log_prob(lib.tensor(np.array([1.0, 3.5]))), d.entropy()]
    sum(v.sum() for v in values).backward()
    return values + [low.grad, high.grad, d.mean, d.variance]


@pytest.mark.parametrize("family", [normal, categorical, bernoulli, uniform],
                         ids=lambda f: f.__name__)
def test_matches_torch_distributions(torch, family):
    assert_same(family(tn), family(torch), rtol=1e-10, atol=1e-12, where=family.__name__)


def test_sample_shapes_and_dtypes():
    d = tn.distributions.Normal(tn.zeros(3), tn.ones(3))
    assert tuple(d.sample((5, 2)).shape) == (5, 2, 3) and tuple(d.rsample().shape) == (3,)
    assert not d.sample().requires_grad
    c = tn.distributions.Categorical(logits=tn.zeros(4, 6))
    draws = c.sample((7,))
    assert tuple(draws.shape) == (7, 4) and draws.dtype == np.int64
    assert tuple(tn.distributions.Bernoulli(probs=tn.full((2, 3), 0.5)).sample().shape) == (2, 3)


def test_samples_follow_the_distribution():
    """Seeded, with tolerances of about 5 standard errors of each estimate."""
    tn.manual_seed(0)
    n = 20000
    z = tn.distributions.Normal(tn.tensor([1.0, -2.0]), tn.tensor([0.5, 3.0])).sample((n,))
    np.testing.assert_allclose(z.numpy().mean(0), [1.0, -2.0], atol=5 * 3.0 / np.sqrt(n))
    np.testing.assert_allclose(z.numpy().std(0), [0.5, 3.0], rtol=0.03)
    probs = np.array([0.1, 0.2, 0.7])
    k = tn.distributions.Categorical(probs=tn.tensor(probs)).sample((n,)).numpy()
    np.testing.assert_allclose(np.bincount(k, minlength=3) / n, probs, atol=0.02)
    b = tn.distributions.Bernoulli(probs=tn.tensor([0.25])).sample((n,)).numpy()
    assert abs(b.mean() - 0.25) < 0.02 and set(np.unique(b)) == {0.0, 1.0}
    u = tn.distributions.Uniform(-1.0, 3.0).sample((n,)).numpy()
    assert u.min() >= -1 and u.max() < 3 and abs(u.mean() - 1.0) < 0.05


def test_rsample_is_differentiable_in_the_parameters():
    """z = loc + scale * eps: dz/dloc = 1 and dz/dscale = eps = (z - loc) / scale."""
    tn.manual_seed(1)
    loc = tn.tensor([0.5, -1.0], requires_grad=True)
    scale = tn.tensor([2.0, 0.5], requires_grad=True)
    z = tn.distributions.Normal(loc, scale).rsample()
    z.sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), [1.0, 1.0])
    np.testing.assert_allclose(scale.grad.numpy(),
                               (z.detach().numpy() - [0.5, -1.0]) / [2.0, 0.5], rtol=1e-6)


@pytest.mark.parametrize("build, message", [
    (lambda: tn.distributions.Normal(tn.zeros(2), tn.tensor([1.0, -1.0])),
     r"Normal: expected parameter scale .* GreaterThan\(lower_bound=0.0\)"),
    (lambda: tn.distributions.Bernoulli(probs=tn.tensor([0.5, 1.5])),
     r"Bernoulli: expected parameter probs .* Interval"),
    (lambda: tn.distributions.Categorical(probs=tn.tensor([-0.1, 1.1])),
     r"Categorical: expected parameter probs .* Simplex"),
    (lambda: tn.distributions.Bernoulli(probs=0.5, logits=0.0), "give either probs or logits"),
    (lambda: tn.distributions.kl_divergence(tn.distributions.Normal(0.0, 1.0),
                                            tn.distributions.Uniform(0.0, 1.0)),
     "no closed form for Normal and Uniform"),
])
def test_bad_parameters_are_named(build, message):
    with pytest.raises((ValueError, NotImplementedError), match=message):
        build()


def test_validation_can_be_turned_off():
    d = tn.distributions.Normal(tn.zeros(1), tn.tensor([-1.0]), validate_args=False)
    assert tuple(d.scale.shape) == (1,)
