"""tinynet.ops.activation: gradient checks, PyTorch parity and numerical robustness of the
activation functions."""
import warnings

import numpy as np
import pytest

import tinynet as tn
from tinynet import ops
from gradcases import GradCase, run_case


def away_from_zero(rng, *shape):
    """Normal values with |x| >= 0.1: relu/leaky_relu have a kink at 0."""
    x = rng.standard_normal(shape)
    return x + np.where(x >= 0, 0.1, -0.1)


def normal(rng, *shape):
    return rng.standard_normal(shape)


GRADCHECK_CASES = [
    GradCase("relu", ops.relu, lambda r: [away_from_zero(r, 2, 3, 2, 2)]),
    GradCase("relu_method", lambda x: x.relu(), lambda r: [away_from_zero(r, 5)]),
    GradCase("leaky_relu_default", ops.leaky_relu, lambda r: [away_from_zero(r, 3, 4)]),
    GradCase("leaky_relu_slope", lambda x: ops.leaky_relu(x, 0.2),
             lambda r: [away_from_zero(r, 3, 4)]),
    GradCase("leaky_relu_negative_slope", lambda x: ops.leaky_relu(x, negative_slope=-0.5),
             lambda r: [away_from_zero(r, 6)]),
    GradCase("sigmoid", ops.sigmoid, lambda r: [3 * normal(r, 2, 3, 2)]),
    GradCase("tanh", ops.tanh, lambda r: [2 * normal(r, 2, 3, 2)]),
    GradCase("softmax_last", ops.softmax, lambda r: [normal(r, 3, 4)]),
    GradCase("softmax_channels", lambda x: ops.softmax(x, dim=1),
             lambda r: [normal(r, 2, 3, 2, 2)]),
    GradCase("log_softmax_last", ops.log_softmax, lambda r: [normal(r, 3, 4)]),
    GradCase("log_softmax_channels", lambda x: ops.log_softmax(x, dim=1),
             lambda r: [normal(r, 2, 3, 2, 2)]),
    GradCase("log_softmax_dim0_large", lambda x: ops.log_softmax(x, dim=0),
             lambda r: [normal(r, 4, 3) + 50.0]),
    GradCase("elu", lambda x: ops.elu(x, alpha=1.5), lambda r: [away_from_zero(r, 3, 4)]),
    GradCase("gelu_erf", ops.gelu, lambda r: [2 * normal(r, 3, 4)]),
    GradCase("gelu_tanh", lambda x: ops.gelu(x, approximate="tanh"),
             lambda r: [2 * normal(r, 3, 4)]),
    GradCase("hardtanh_relu6", lambda x: ops.hardtanh(x, -0.5, 0.5) + ops.relu6(4 * x),
             lambda r: [away_from_zero(r, 3, 4)]),
    GradCase("silu", ops.silu, lambda r: [2 * normal(r, 3, 4)]),
    # compositions: hardsigmoid/hardswish have kinks at +-3, kept away from
    GradCase("hardsigmoid_hardswish", lambda x: ops.hardsigmoid(x) + ops.hardswish(x),
             lambda r: [np.array([-4.5, -2.5, -0.7, 0.4, 2.2, 3.6])]),
    GradCase("mish", ops.mish, lambda r: [2 * normal(r, 3, 4)]),
    GradCase("prelu_per_channel", ops.prelu,
             lambda r: [away_from_zero(r, 2, 3, 2), r.uniform(0.1, 0.4, 3)]),
    GradCase("softplus_beta", lambda x: ops.softplus(x, beta=2.0), lambda r: [2 * normal(r, 3, 4)]),
    # beyond the threshold softplus is the identity (slope 1); keep away from the switch
    GradCase("softplus_above_threshold", lambda x: ops.softplus(x, threshold=1.0),
             lambda r: [away_from_zero(r, 6) * 0 + np.array([-2.0, -1.5, 0.0, 0.5, 1.5, 3.0])]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


# ---------------------------------------------------------------------------
# Parity with PyTorch (float32)
# ---------------------------------------------------------------------------

EXTREMES = np.array([-100.0, -50.0, -20.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 20.0, 50.0, 100.0])


def parity_input(rng, shape):
    """Random float32 values, with the extreme values spliced into the first row."""
    x = (3 * rng.standard_normal(shape)).astype(np.float32)
    flat = x.reshape(-1)
    flat[:EXTREMES.size] = EXTREMES
    return x


def ours_and_torch(name, kwargs):
    import torch.nn.functional as F
    ours = lambda x: getattr(ops, name)(x, **kwargs)  # noqa: E731
    theirs = lambda x: getattr(F, name)(x, **kwargs)  # noqa: E731
    return ours, theirs


PARITY = [
    ("relu", {}), ("leaky_relu", {}), ("leaky_relu", {"negative_slope": 0.3}),
    ("sigmoid", {}), ("tanh", {}),
    ("softmax", {"dim": -1}), ("softmax", {"dim": 1}),
    ("log_softmax", {"dim": -1}), ("log_softmax", {"dim": 1}),
]


@pytest.mark.parametrize("name,kwargs", PARITY, ids=lambda p: str(p))
@pytest.mark.parametrize("shape", [(4, 11), (2, 11, 3, 2)], ids=["2d", "4d"])
def test_parity_with_torch(torch, name, kwargs, shape, rng):
    ours, theirs = ours_and_torch(name, kwargs)
    x_np = parity_input(rng, shape)
    g_np = rng.standard_normal(shape).astype(np.float32)  # a non-trivial upstream gradient

    x = tn.tensor(x_np, requires_grad=True)
    y = ours(x)
    y.backward(g_np)
    xt = torch.tensor(x_np, requires_grad=True)
    yt = theirs(xt)
    yt.backward(torch.tensor(g_np))

    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    # float32: a few ulps of the values involved (log_softmax reaches ~200 at the extremes).
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# Numerical robustness, dtypes, memory, errors
# ---------------------------------------------------------------------------

@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_overflow_for_huge_inputs(dtype):
    x_np = np.array([[-1e4, -1000.0, -100.0, 0.0, 100.0, 1000.0, 1e4]], dtype=dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (ops.sigmoid, ops.tanh, ops.softmax, ops.log_softmax):
            x = tn.tensor(x_np, requires_grad=True)
            y = fn(x)
            y.backward(np.ones_like(x_np))
            assert np.all(np.isfinite(y.numpy())), fn.__name__
            assert np.all(np.isfinite(x.grad.numpy())), fn.__name__
    s = ops.sigmoid(tn.tensor(x_np)).numpy()[0]
    assert s[0] == 0.0 and s[-1] == 1.0 and s[3] == 0.5
    ls = ops.log_softmax(tn.tensor(x_np)).numpy()[0]
    assert ls[-1] == 0.0 and ls[0] == dtype(-2e4)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "softmax",
                                  "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(name, dtype, rng):
    x = tn.tensor(rng.standard_normal((3, 4)).astype(dtype), requires_grad=True)
    y = getattr(ops, name)(x)
    y.backward(np.ones((3, 4), dtype=dtype))
    assert y.dtype == dtype and x.grad.dtype == dtype


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "softmax",
                                  "log_softmax"])
def test_backward_keeps_a_single_array(name, rng):
    """Each activation saves exactly one array for backward (output or mask, not both)."""
    x = tn.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    fn = getattr(ops, name)(x).grad_fn
    saved = [k for k, v in vars(fn).items() if isinstance(v, np.ndarray)]
    assert len(saved) == 1, saved


def test_relu_gradient_at_zero_is_zero_like_torch():
    x = tn.tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    ops.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])


def test_tensor_methods_call_the_activations(rng):
    x = tn.tensor(rng.standard_normal((2, 3)))
    np.testing.assert_array_equal(x.relu().numpy(), ops.relu(x).numpy())
    np.testing.assert_array_equal(x.sigmoid().numpy(), ops.sigmoid(x).numpy())
    np.testing.assert_array_equal(x.tanh().numpy(), ops.tanh(x).numpy())


def test_softmax_rows_sum_to_one(rng):
    y = ops.softmax(tn.tensor(rng.standard_normal((2, 5, 3, 3))), dim=1).numpy()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("fn", [ops.softmax, ops.log_softmax])
def test_softmax_dim_out_of_range(fn):
    with pytest.raises(ValueError, match=r"dim=2 is out of range .* shape \(2, 3\)"):
        fn(tn.tensor(np.zeros((2, 3))), dim=2)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "softmax",
                                  "log_softmax"])
def test_gpu_matches_cpu(name, rng):
    x_np = parity_input(rng, (4, 11))
    g_np = rng.standard_normal((4, 11)).astype(np.float32)
    results = []
    for device in ("cpu", "gpu"):
        x = tn.tensor(x_np, requires_grad=True, device=device)
        y = getattr(ops, name)(x)
        y.backward(tn.tensor(g_np, device=device).data)
        results.append((y.numpy(), x.grad.numpy()))
    for cpu, gpu in zip(*results):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)
