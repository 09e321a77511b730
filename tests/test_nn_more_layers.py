"""The less common activations, distances and margin/likelihood losses against PyTorch.

Every function runs in both libraries on the same float64 inputs, and the values and
the gradients of every floating input (targets included) must agree, to rtol 1e-10
(accumulation order only); the modules must also have PyTorch's repr.  RReLU's random
slopes cannot match PyTorch's draws: they are checked against their bounds and seed.
"""
import math
import warnings

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F

from gradcases import GradCase, run_case

RTOL, ATOL = 1e-10, 1e-12


class Const:
    """An input without a gradient (a label tensor, a weight)."""

    def __init__(self, array):
        self.array = array


def _tensors(lib, inputs):
    out = []
    for x in inputs:
        if isinstance(x, Const):
            out.append(lib.tensor(x.array))
        elif isinstance(x, np.ndarray):
            out.append(lib.tensor(x, requires_grad=x.dtype.kind == "f"))
        else:
            out.append(x)                       # a Python number passed as it is
    return out


def _run(lib, call, inputs):
    """(output, gradients of the float inputs) of ``call(lib, *tensors)`` after a backward
    with a fixed random output gradient."""
    tensors = _tensors(lib, inputs)
    y = call(lib, *tensors)
    g = np.random.default_rng(7).standard_normal(tuple(y.shape))
    y.backward(lib.tensor(g))
    grads = [t.grad for t in tensors if getattr(t, "requires_grad", False)]
    return y, grads


def _numpy(t):
    return t.numpy() if isinstance(t, tn.Tensor) else t.detach().numpy()


def assert_parity(torch, call, inputs, rtol=RTOL, atol=ATOL):
    ours, our_grads = _run(tn, call, inputs)
    theirs, their_grads = _run(torch, call, inputs)
    assert ours.dtype.name == str(theirs.dtype).replace("torch.", "")
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(_numpy(ours), _numpy(theirs), rtol=rtol, atol=atol)
    assert len(our_grads) == len(their_grads)
    for i, (a, b) in enumerate(zip(our_grads, their_grads)):
        assert (a is None) == (b is None), f"gradient {i}"
        if b is not None:
            np.testing.assert_allclose(_numpy(a), _numpy(b), rtol=rtol, atol=atol,
                                       err_msg=f"gradient of input {i}")


def normal(*shape, seed=0, scale=2.0):
    return scale * np.random.default_rng(seed).standard_normal(shape)


def signs(*shape, seed=1):
    """A target of +1 and -1 (both present)."""
    s = np.where(np.random.default_rng(seed).random(shape) < 0.5, -1.0, 1.0)
    s.flat[0], s.flat[-1] = 1.0, -1.0
    return s


def functional(name, **kwargs):
    """call(lib, *tensors) = lib.nn.functional.<name>(*tensors, **kwargs)."""
    return lambda lib, *xs: getattr(lib.nn.functional, name)(*xs, **kwargs)


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------

ACTIVATIONS = [
    ("selu", {}), ("celu", {}), ("celu", dict(alpha=2.0)), ("celu", dict(alpha=0.5)),
    ("softsign", {}), ("softmin", dict(dim=1)), ("softmin", dict(dim=-1)), ("softmin", {}),
    ("glu", {}), ("glu", dict(dim=1)), ("threshold", dict(threshold=0.3, value=-2.0)),
    ("tanhshrink", {}), ("hardshrink", {}), ("hardshrink", dict(lambd=1.5)),
    ("softshrink", {}), ("softshrink", dict(lambd=1.5)),
    ("rrelu", {}), ("rrelu", dict(lower=0.05, upper=0.4, training=False)),
]


@pytest.mark.parametrize("name, kwargs", ACTIVATIONS, ids=str)
def test_activation_matches_torch(torch, name, kwargs):
    x = normal(3, 4, 6)
    x[0, 0, :3] = [0.0, 0.5 + 1e-3, -1.5 - 1e-3]        # exactly 0, just past the lambd's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # softmin's implicit dim
        assert_parity(torch, functional(name, **kwargs), [x])


@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4, 5)])
def test_elementwise_activations_keep_any_shape(torch, shape):
    x = normal(*shape, seed=3)
    for name in ("selu", "celu", "softsign", "tanhshrink", "hardshrink", "softshrink"):
        assert_parity(torch, functional(name), [np.asarray(x)])


MODULES = [
    ("SELU", (), {}), ("SELU", (), dict(inplace=True)), ("CELU", (), {}),
    ("CELU", (2.0,), dict(inplace=True)), ("Softsign", (), {}), ("Softmin", (), {}),
    ("Softmin", (1,), {}), ("GLU", (), {}), ("GLU", (1,), {}),
    ("Threshold", (0.1, 20.0), {}), ("Threshold", (0.1, 20), dict(inplace=True)),
    ("Tanhshrink", (), {}), ("Hardshrink", (), {}), ("Hardshrink", (1.25,), {}),
    ("Softshrink", (), {}), ("Softshrink", (), dict(lambd=0.25)), ("Softmax2d", (), {}),
    ("RReLU", (), {}), ("RReLU", (0.1, 0.3), dict(inplace=True)),
]


@pytest.mark.parametrize("name, args, kwargs", MODULES, ids=str)
def test_activation_module_matches_torch(torch, name, args, kwargs):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    ours.eval(), theirs.eval()                          # RReLU: the fixed slope
    x = normal(2, 4, 3, 2, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # t * 1: not a leaf, which PyTorch's in-place modules may overwrite
        assert_parity(torch, lambda lib, t: (ours if lib is tn else theirs)(t * 1), [x])


def test_softmax2d_takes_3d_input_and_refuses_others(torch):
    assert_parity(torch, lambda lib, t: lib.nn.Softmax2d()(t), [normal(4, 3, 2)])
    with pytest.raises(ValueError, match="Softmax2d.*3D or 4D.*2D"):
        nn.Softmax2d()(tn.zeros(3, 4))


def test_rrelu_eval_is_exactly_leaky_relu_at_the_mean_slope(torch):
    x = normal(4, 5, seed=2)
    module = nn.RReLU(0.1, 0.3).eval()
    expected = torch.nn.functional.leaky_relu(torch.tensor(x), 0.2).numpy()
    np.testing.assert_array_equal(module(tn.tensor(x)).numpy(), expected)
    np.testing.assert_array_equal(F.rrelu(tn.tensor(x), 0.1, 0.3).numpy(), expected)


def _rrelu_training(seed, x, lower, upper):
    tn.manual_seed(seed)
    t = tn.tensor(x, requires_grad=True)
    y = nn.RReLU(lower, upper).train()(t)
    y.sum().backward()
    return y.numpy(), t.grad.numpy()


def test_rrelu_training_slopes_are_random_within_bounds_and_seeded():
    x = normal(50, 40, seed=4)
    x[0, :2] = [0.0, -0.0]
    y, grad = _rrelu_training(0, x, 0.1, 0.3)
    negative = x < 0
    slopes = y[negative] / x[negative]
    assert slopes.min() >= 0.1 - 1e-12 and slopes.max() <= 0.3 + 1e-12
    assert slopes.std() > 0.03                            # really random, not one slope
    np.testing.assert_allclose(grad[negative], slopes, rtol=1e-12)
    np.testing.assert_array_equal(y[~negative], x[~negative])
    np.testing.assert_array_equal(grad[~negative], 1.0)
    again, again_grad = _rrelu_training(0, x, 0.1, 0.3)
    np.testing.assert_array_equal(again, y)
    np.testing.assert_array_equal(again_grad, grad)
    other, _ = _rrelu_training(1, x, 0.1, 0.3)
    assert not np.array_equal(other, y)


def test_rrelu_float32_stays_float32_within_bounds():
    tn.manual_seed(3)
    x = normal(200, seed=6).astype(np.float32)
    y = F.rrelu(tn.tensor(x), 0.2, 0.25, training=True)
    assert y.dtype == np.float32
    slopes = y.numpy()[x < 0] / x[x < 0]
    assert slopes.min() >= 0.2 - 1e-6 and slopes.max() <= 0.25 + 1e-6


@pytest.mark.parametrize("call, message", [
    (lambda: F.glu(tn.zeros(3, 5)), r"glu.*even.*size 5"),
    (lambda: F.glu(tn.zeros(3, 4), dim=2), r"glu: dim=2 is out of range"),
    (lambda: F.glu(tn.tensor(1.0)), r"glu.*scalars"),
    (lambda: F.hardshrink(tn.zeros(3), -1.0), r"hardshrink: lambd"),
    (lambda: F.softshrink(tn.zeros(3), -0.5), r"softshrink: lambd"),
    (lambda: F.celu(tn.zeros(3), 0.0), r"celu: alpha"),
    (lambda: F.rrelu(tn.zeros(3), 0.5, 0.1), r"rrelu.*lower=0.5, upper=0.1"),
    (lambda: F.softmin(tn.zeros(3, 4), dim=3), r"softmin: dim=3"),
])
def test_activation_errors_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------
# Distances
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shapes", [((4, 5), (4, 5)), ((5,), (4, 5)), ((4, 5), (1, 5)),
                                    ((5,), (5,)), ((2, 3, 5), (3, 5))], ids=str)
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance_matches_torch(torch, shapes, p, keepdim):
    x1, x2 = normal(*shapes[0], seed=1), normal(*shapes[1], seed=2)
    assert_parity(torch, functional("pairwise_distance", p=p, keepdim=keepdim), [x1, x2])


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, math.inf, 0.0])
def test_pdist_matches_torch(torch, p):
    x = normal(5, 3)
    x[3] = x[1]                                         # a zero distance: gradient 0
    assert_parity(torch, lambda lib, t: lib.nn.functional.pdist(t, p), [x])


def test_pdist_of_one_row_is_empty_and_refuses_bad_input():
    assert F.pdist(tn.zeros(1, 3)).shape == (0,)
    with pytest.raises(ValueError, match=r"pdist: input must be 2-D.*\(2, 3, 4\)"):
        F.pdist(tn.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="pdist: p must be non-negative"):
        F.pdist(tn.zeros(2, 3), -1)


@pytest.mark.parametrize("shapes, dim", [(((4, 5), (4, 5)), 1), (((5,), (4, 5)), 1),
                                         (((4, 5), (1, 5)), 1), (((4, 5), (4, 5)), -1),
                                         (((3, 4, 5), (4, 5)), 0)], ids=str)
def test_cosine_similarity_matches_torch_with_broadcasting(torch, shapes, dim):
    x1, x2 = normal(*shapes[0], seed=1), normal(*shapes[1], seed=2)
    assert_parity(torch, functional("cosine_similarity", dim=dim), [x1, x2])


def test_cosine_similarity_of_a_tiny_vector_has_torchs_gradient(torch):
    """PyTorch clamps the norms at eps without autograd seeing it."""
    x1, x2 = normal(3, 4, seed=1), normal(3, 4, seed=2)
    x1[0] = 1e-10
    assert_parity(torch, functional("cosine_similarity"), [x1, x2], rtol=1e-9)


@pytest.mark.parametrize("name, args, kwargs", [
    ("PairwiseDistance", (), {}), ("PairwiseDistance", (1.0, 1e-3, True), {}),
    ("CosineSimilarity", (), {}), ("CosineSimilarity", (), dict(dim=0, eps=1e-6)),
], ids=str)
def test_distance_modules_match_torch(torch, name, args, kwargs):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert_parity(torch, lambda lib, a, b: (ours if lib is tn else theirs)(a, b),
                  [normal(4, 6, seed=1), normal(4, 6, seed=2)])


def test_distances_refuse_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"pairwise_distance.*\(4, 5\) and \(3, 5\)"):
        F.pairwise_distance(tn.zeros(4, 5), tn.zeros(3, 5))
    with pytest.raises(ValueError, match=r"cosine_similarity.*\(4, 5\) and \(4, 6\)"):
        F.cosine_similarity(tn.zeros(4, 5), tn.zeros(4, 6))


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------

REDUCTIONS = ["mean", "sum", "none"]


def _labels(n, classes, seed=3):
    return Const(np.random.default_rng(seed).integers(0, classes, n))


LOSSES = {
    "margin_ranking_loss": (lambda: [normal(6), normal(6, seed=1), signs(6)],
                            [{}, dict(margin=0.5)]),
    "margin_ranking_loss/broadcast": (lambda: [normal(4, 1), normal(1, 3, seed=1),
                                               signs(4, 3)], [dict(margin=0.2)]),
    "hinge_embedding_loss": (lambda: [np.abs(normal(5, 4)), signs(5, 4)],
                             [{}, dict(margin=2.0)]),
    "hinge_embedding_loss/broadcast": (lambda: [normal(5, 4), signs(4)], [{}]),
    # PyTorch's soft_margin_loss refuses a target that requires grad
    "soft_margin_loss": (lambda: [normal(5, 4), Const(signs(5, 4))], [{}]),
    "multilabel_soft_margin_loss": (
        lambda: [normal(5, 4), Const((normal(5, 4, seed=2) > 0).astype(np.float64))],
        [{}]),
    "multilabel_soft_margin_loss/weight": (
        lambda: [normal(5, 4), Const((normal(5, 4, seed=2) > 0).astype(np.float64)),
                 Const(np.array([0.5, 1.0, 2.0, 0.1]))], [{}]),
    "multilabel_soft_margin_loss/soft_target": (
        lambda: [normal(5, 4), np.random.default_rng(2).random((5, 4))], [{}]),
    "cosine_embedding_loss": (lambda: [normal(6, 5), normal(6, 5, seed=1), signs(6)],
                              [{}, dict(margin=0.3), dict(margin=-0.5)]),
    "cosine_embedding_loss/1d": (lambda: [normal(5), normal(5, seed=1), np.array(-1.0)],
                                 [{}]),
    "triplet_margin_loss": (lambda: [normal(6, 5), normal(6, 5, seed=1), normal(6, 5, seed=2)],
                            [{}, dict(margin=2.0, p=1), dict(swap=True), dict(p=3, eps=1e-3)]),
    "poisson_nll_loss": (lambda: [normal(5, 4, scale=0.5),
                                  np.random.default_rng(2).poisson(2.0, (5, 4)) + 0.5],
                         [{}, dict(full=True)]),
    "poisson_nll_loss/rate": (lambda: [np.random.default_rng(1).random((5, 4)) + 0.1,
                                       np.random.default_rng(2).poisson(2.0, (5, 4)) + 0.5],
                              [dict(log_input=False), dict(log_input=False, full=True,
                                                           eps=1e-3)]),
    "poisson_nll_loss/zero_counts": (
        lambda: [normal(5, 4, scale=0.5),
                 Const(np.random.default_rng(2).poisson(1.0, (5, 4)).astype(np.float64))],
        [dict(full=True)]),
    "gaussian_nll_loss": (lambda: [normal(5, 3), normal(5, 3, seed=1),
                                   np.random.default_rng(2).random((5, 3)) + 0.1],
                          [{}, dict(full=True), dict(eps=0.5)]),
    "gaussian_nll_loss/var_without_last_dim": (
        lambda: [normal(5, 3), normal(5, 3, seed=1), np.random.default_rng(2).random(5) + 0.1],
        [{}]),
    "gaussian_nll_loss/var_one_dim_of_1": (
        lambda: [normal(4, 3, 2), normal(4, 3, 2, seed=1),
                 np.random.default_rng(2).random((4, 1, 2)) + 0.1], [dict(full=True)]),
    "gaussian_nll_loss/var_below_eps": (
        lambda: [normal(5, 3), normal(5, 3, seed=1),
                 np.where(np.arange(15).reshape(5, 3) % 2, 1e-9, 0.7)], [{}]),
    "multi_margin_loss": (lambda: [normal(6, 4, scale=0.5), _labels(6, 4)],
                          [{}, dict(p=2), dict(margin=0.3)]),
    "multi_margin_loss/weight": (lambda: [normal(6, 4, scale=0.5), _labels(6, 4),
                                          Const(np.array([0.5, 1.0, 2.0, 0.1]))],
                                 [dict(p=2, margin=0.7)]),
    "multi_margin_loss/1d": (lambda: [normal(4, scale=0.5), Const(np.array(2))], [{}]),
}

LOSS_CASES = [(key, kwargs, reduction) for key, (_, options) in LOSSES.items()
              for kwargs in options for reduction in REDUCTIONS]


def _loss_call(name, kwargs, reduction):
    def call(lib, *xs):
        xs = list(xs)
        args = {}
        if name == "multilabel_soft_margin_loss" and len(xs) == 3:
            args["weight"] = xs.pop()
        if name == "multi_margin_loss" and len(xs) == 3:
            args["weight"] = xs.pop()
        return getattr(lib.nn.functional, name)(*xs, **kwargs, **args, reduction=reduction)
    return call


@pytest.mark.parametrize("key, kwargs, reduction", LOSS_CASES, ids=str)
def test_loss_matches_torch(torch, key, kwargs, reduction):
    make, _ = LOSSES[key]
    assert_parity(torch, _loss_call(key.split("/")[0], kwargs, reduction), make())


def test_gaussian_nll_loss_takes_a_float_var(torch):
    assert_parity(torch, lambda lib, x, t: lib.nn.functional.gaussian_nll_loss(x, t, 0.3),
                  [normal(5, 3), normal(5, 3, seed=1)])


def test_soft_margin_loss_does_not_overflow():
    loss = F.soft_margin_loss(tn.tensor([-1000.0, 1000.0]), tn.tensor([1.0, -1.0]),
                              reduction="none")
    np.testing.assert_allclose(loss.numpy(), [1000.0, 1000.0])


LOSS_MODULES = [
    ("MarginRankingLoss", dict(margin=0.5), [normal(6), normal(6, seed=1), signs(6)]),
    ("HingeEmbeddingLoss", dict(margin=2.0), [normal(5, 4), signs(5, 4)]),
    ("SoftMarginLoss", {}, [normal(5, 4), Const(signs(5, 4))]),
    ("MultiLabelSoftMarginLoss", {}, [normal(5, 4), Const((normal(5, 4) > 0) * 1.0)]),
    ("CosineEmbeddingLoss", dict(margin=0.1), [normal(6, 5), normal(6, 5, seed=1), signs(6)]),
    ("TripletMarginLoss", dict(margin=0.5, p=1.0, swap=True),
     [normal(6, 5), normal(6, 5, seed=1), normal(6, 5, seed=2)]),
    ("PoissonNLLLoss", dict(full=True), [normal(5, 4, scale=0.5), np.full((5, 4), 3.0)]),
    ("GaussianNLLLoss", dict(full=True, eps=1e-3),
     [normal(5, 3), normal(5, 3, seed=1), np.random.default_rng(2).random((5, 3)) + 0.1]),
    ("MultiMarginLoss", dict(p=2, margin=0.5), [normal(6, 4), _labels(6, 4)]),
]


@pytest.mark.parametrize("name, kwargs, inputs", LOSS_MODULES, ids=[m[0] for m in LOSS_MODULES])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_loss_module_matches_torch(torch, name, kwargs, inputs, reduction):
    ours = getattr(nn, name)(**kwargs, reduction=reduction)
    theirs = getattr(torch.nn, name)(**kwargs, reduction=reduction)
    assert repr(ours) == repr(theirs)
    assert_parity(torch, lambda lib, *xs: (ours if lib is tn else theirs)(*xs), inputs)


@pytest.mark.parametrize("name", ["MultiLabelSoftMarginLoss", "MultiMarginLoss"])
def test_loss_module_weight_is_a_buffer_and_matches_torch(torch, name):
    weight = np.array([0.5, 1.0, 2.0, 0.1])
    ours, theirs = getattr(nn, name)(weight=tn.tensor(weight)), \
        getattr(torch.nn, name)(weight=torch.tensor(weight))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    target = (Const((normal(5, 4) > 0) * 1.0) if name == "MultiLabelSoftMarginLoss"
              else _labels(5, 4))
    assert_parity(torch, lambda lib, *xs: (ours if lib is tn else theirs)(*xs),
                  [normal(5, 4, scale=0.5), target])


def test_loss_modules_understand_the_legacy_flags(torch):
    with pytest.warns(UserWarning):
        ours = nn.SoftMarginLoss(reduce=False)
    assert ours.reduction == "none"


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.margin_ranking_loss(tn.zeros(3), tn.zeros(3), tn.zeros(3, 1)), ValueError,
     r"margin_ranking_loss: input1, input2 and target.*\(3, 1\)"),
    (lambda: F.soft_margin_loss(tn.zeros(3), tn.zeros(3), reduction="avg"), ValueError,
     "soft_margin_loss: reduction must be"),
    (lambda: F.cosine_embedding_loss(tn.zeros(3, 4), tn.zeros(3, 4), tn.zeros(3, 1)),
     ValueError, r"cosine_embedding_loss: target must be 0-D or 1-D.*\(3, 1\)"),
    (lambda: F.cosine_embedding_loss(tn.zeros(4), tn.zeros(4), tn.zeros(3)), ValueError,
     r"cosine_embedding_loss: a 1-D target expects 2-D input1 and input2"),
    (lambda: F.triplet_margin_loss(tn.zeros(3, 4), tn.zeros(3, 4), tn.zeros(4)), ValueError,
     r"triplet_margin_loss: anchor, positive and negative.*\(4,\)"),
    (lambda: nn.TripletMarginLoss(margin=0.0), ValueError,
     "TripletMarginLoss: expected margin to be greater than 0"),
    (lambda: F.gaussian_nll_loss(tn.zeros(4, 3), tn.zeros(4, 3), tn.ones(4, 2)), ValueError,
     r"gaussian_nll_loss: var of shape \(4, 2\) is of incorrect size"),
    (lambda: F.gaussian_nll_loss(tn.zeros(4, 3), tn.zeros(4, 3), -tn.ones(4, 3)), ValueError,
     "gaussian_nll_loss: var has negative"),
    (lambda: F.gaussian_nll_loss(tn.zeros(4, 3), tn.zeros(4, 3), -1.0), ValueError,
     "gaussian_nll_loss: var has negative"),
    (lambda: F.multi_margin_loss(tn.zeros(3, 4), tn.tensor([0, 1, 2]), p=3), ValueError,
     "multi_margin_loss: only p == 1 and p == 2"),
    (lambda: F.multi_margin_loss(tn.zeros(3, 4), tn.tensor([0, 1])), ValueError,
     r"multi_margin_loss: target shape \(2,\) does not match input shape \(3, 4\)"),
    (lambda: F.multi_margin_loss(tn.zeros(3, 4), tn.tensor([0, 1, 4])), IndexError,
     r"multi_margin_loss: target out of range.*\[0, 4\)"),
    (lambda: F.multi_margin_loss(tn.zeros(3, 4), tn.tensor([0.0, 1.0, 2.0])), TypeError,
     "multi_margin_loss: target must hold integer"),
    (lambda: F.multi_margin_loss(tn.zeros(3, 4), tn.tensor([0, 1, 2]), weight=tn.ones(3)),
     ValueError, r"multi_margin_loss: weight must have shape \(4,\)"),
    (lambda: F.multi_margin_loss(tn.zeros(2, 3, 4), tn.tensor([0, 1])), ValueError,
     r"multi_margin_loss: expected input \(N, C\) or \(C,\)"),
    (lambda: nn.MultiMarginLoss(p=3), ValueError, "MultiMarginLoss: only p == 1 and p == 2"),
])
def test_loss_errors_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------------------
# Gradient checks (finite differences) of the compositions that are not one op
# ---------------------------------------------------------------------------

def _away_from(values, r, *shape, gap=0.1):
    """Normal samples at least ``gap`` from each of ``values`` (the kinks)."""
    x = r.standard_normal(shape) * 2
    for v in values:
        x = np.where(np.abs(x - v) < gap, v + gap * np.sign(x - v + 1e-3) * 2, x)
    return x


def _pm1(r, *shape):
    return np.where(r.random(shape) < 0.5, -1, 1).astype(np.int64) * 1.0


GRADCHECK_CASES = [
    GradCase("more_layers_celu", lambda x: F.celu(x, 0.7), lambda r: [_away_from([0], r, 3, 4)]),
    GradCase("more_layers_glu", lambda x: F.glu(x, 1), lambda r: [r.standard_normal((3, 4))]),
    GradCase("more_layers_softmin", lambda x: F.softmin(x, 1),
             lambda r: [r.standard_normal((3, 4))]),
    GradCase("more_layers_softshrink", lambda x: F.softshrink(x, 0.5),
             lambda r: [_away_from([-0.5, 0.5], r, 3, 4)]),
    GradCase("more_layers_pdist", lambda x: F.pdist(x, 3), lambda r: [r.standard_normal((4, 3))]),
    GradCase("more_layers_pairwise_distance", lambda a, b: F.pairwise_distance(a, b),
             lambda r: [r.standard_normal((4, 3)), r.standard_normal((1, 3))]),
    GradCase("more_layers_cosine_embedding", lambda a, b: F.cosine_embedding_loss(
        a, b, tn.tensor([1.0, -1.0, 1.0, -1.0]), margin=-0.9),
        lambda r: [r.standard_normal((4, 3)), r.standard_normal((4, 3))]),
    GradCase("more_layers_triplet_swap", lambda a, p, n: F.triplet_margin_loss(
        a, p, n, margin=5.0, swap=True),
        lambda r: [r.standard_normal((4, 3)), r.standard_normal((4, 3)),
                   r.standard_normal((4, 3))]),
    GradCase("more_layers_multilabel_soft_margin", lambda x, t: F.multilabel_soft_margin_loss(
        x, t, tn.tensor([0.5, 2.0, 1.0])),
        lambda r: [r.standard_normal((4, 3)), r.random((4, 3))]),
    GradCase("more_layers_poisson_full", lambda x, t: F.poisson_nll_loss(x, t, full=True),
             lambda r: [r.standard_normal((4, 3)), r.random((4, 3)) * 3 + 1.2]),
    GradCase("more_layers_gaussian_nll", lambda x, t, v: F.gaussian_nll_loss(x, t, v),
             lambda r: [r.standard_normal((4, 3)), r.standard_normal((4, 3)),
                        r.random(4) + 0.2]),
    GradCase("more_layers_multi_margin", lambda x: F.multi_margin_loss(
        x, tn.tensor([0, 2, 1, 2]), p=2, margin=3.0, weight=tn.tensor([1.0, 0.5, 2.0])),
        lambda r: [r.standard_normal((4, 3)) * 0.3]),
    GradCase("more_layers_soft_margin", lambda x, t: F.soft_margin_loss(x, t),
             lambda r: [r.standard_normal((4, 3)), _pm1(r, 4, 3)]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)
