"""tinynet.ops.batch_norm: gradient checks, PyTorch parity and error messages of batch_norm."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import ops
from gradcases import GradCase, run_case


def normal(rng, *shape):
    return rng.standard_normal(shape)


def positive(rng, *shape):
    return rng.uniform(0.5, 2.0, shape)


# Fixed running statistics for the eval-mode cases (constants, not checked).
_EVAL_MEAN = np.array([0.3, -0.2, 0.5])
_EVAL_VAR = np.array([0.8, 1.5, 0.4])


def _train(x, w=None, b=None):
    # Fresh running stats every call: gradcheck calls fn many times, and the
    # training-mode output does not depend on them anyway.
    c = x.shape[1]
    return ops.batch_norm(x, np.zeros(c), np.ones(c), w, b, training=True)


def _eval(x, w=None, b=None):
    return ops.batch_norm(x, _EVAL_MEAN, _EVAL_VAR, w, b, training=False)


GRADCHECK_CASES = [
    GradCase("bn_train_affine_nchw", _train,
             lambda r: [normal(r, 2, 3, 3, 3), positive(r, 3), normal(r, 3)]),
    GradCase("bn_train_plain_nchw", _train, lambda r: [normal(r, 2, 3, 2, 3)]),
    GradCase("bn_train_no_running_stats",
             lambda x, w, b: ops.batch_norm(x, None, None, w, b, training=True, eps=1e-3),
             lambda r: [normal(r, 3, 3, 2, 2), normal(r, 3), normal(r, 3)]),
    GradCase("bn_train_affine_nc", _train,
             lambda r: [normal(r, 5, 3), positive(r, 3), normal(r, 3)]),
    GradCase("bn_train_large_random_dirs", _train,
             lambda r: [3 * normal(r, 4, 3, 4, 4) + 2, positive(r, 3), normal(r, 3)]),
    GradCase("bn_eval_affine_nchw", _eval,
             lambda r: [normal(r, 2, 3, 3, 3), positive(r, 3), normal(r, 3)]),
    GradCase("bn_eval_plain_nc", _eval, lambda r: [normal(r, 4, 3)]),
    GradCase("group_norm_affine", lambda x, w, b: ops.group_norm(x, 2, w, b),
             lambda r: [normal(r, 2, 4, 2, 3), positive(r, 4), normal(r, 4)]),
    GradCase("group_norm_instance", lambda x: ops.group_norm(x, 3, eps=1e-3),
             lambda r: [normal(r, 2, 3, 5)]),
    GradCase("instance_norm_affine", lambda x, w, b: ops.instance_norm(x, weight=w, bias=b),
             lambda r: [normal(r, 2, 3, 2, 3), positive(r, 3), normal(r, 3)]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


# ---------------------------------------------------------------------------
# Semantics (NumPy reference)
# ---------------------------------------------------------------------------

def test_training_normalizes_with_biased_variance_and_stores_unbiased(rng):
    x = (2 * rng.standard_normal((4, 3, 5, 5)) + 1).astype(np.float32)
    rm, rv = np.full(3, 0.5, np.float32), np.full(3, 2.0, np.float32)
    y = ops.batch_norm(tn.tensor(x), rm, rv, training=True, momentum=0.25)
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))  # biased
    expected = (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-4, atol=1e-5)
    m = 4 * 5 * 5
    np.testing.assert_allclose(rm, 0.75 * 0.5 + 0.25 * mean, rtol=1e-5)
    np.testing.assert_allclose(rv, 0.75 * 2.0 + 0.25 * var * m / (m - 1), rtol=1e-5)


def test_running_stats_given_as_tensors_are_updated_in_place(rng):
    rm, rv = tn.zeros(3), tn.ones(3)
    mean_data, var_data = rm.data, rv.data
    x = (rng.standard_normal((8, 3)) + 4).astype(np.float32)
    ops.batch_norm(tn.tensor(x), rm, rv, training=True)
    assert rm.data is mean_data and rv.data is var_data  # same buffers, new values
    np.testing.assert_allclose(rm.numpy(), 0.1 * x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(rv.numpy(), 0.9 + 0.1 * x.var(axis=0, ddof=1), rtol=1e-5)


def test_eval_uses_running_stats_and_leaves_them_alone(rng):
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    rm, rv = np.array([1.0, -1.0, 0.0], np.float32), np.array([4.0, 0.25, 1.0], np.float32)
    w, b = np.array([2.0, 1.0, 0.5], np.float32), np.array([0.0, 1.0, -1.0], np.float32)
    y = ops.batch_norm(tn.tensor(x), rm, rv, w, b)
    c = (slice(None), None, None)
    expected = (x - rm[c]) / np.sqrt(rv[c] + 1e-5) * w[c] + b[c]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(rm, [1.0, -1.0, 0.0])
    np.testing.assert_array_equal(rv, [4.0, 0.25, 1.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
def test_keeps_dtype(dtype, training, rng):
    x = tn.tensor(rng.standard_normal((2, 3, 2, 2)).astype(dtype), requires_grad=True)
    w = tn.tensor(np.ones(3, dtype), requires_grad=True)
    y = ops.batch_norm(x, np.zeros(3, np.float32), np.ones(3, np.float32), w, training=training)
    y.sum().backward()
    assert y.dtype == dtype and x.grad.dtype == dtype and w.grad.dtype == dtype


# ---------------------------------------------------------------------------
# Parity with PyTorch (float32)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 3, 6, 5), (8, 5), (3, 4, 7)], ids=["nchw", "nc", "ncl"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_parity_with_torch_training_steps_then_eval(torch, shape, affine, rng):
    F = torch.nn.functional
    c = shape[1]
    w = rng.uniform(0.5, 1.5, c).astype(np.float32) if affine else None
    b = rng.standard_normal(c).astype(np.float32) if affine else None
    rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
    trm, trv = torch.zeros(c), torch.ones(c)
    tol = dict(rtol=1e-4, atol=1e-5)
    for step, training in enumerate([True, True, True, False]):
        x = (2 * rng.standard_normal(shape) + step).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        leaves = [None if a is None else tn.tensor(a, requires_grad=True) for a in (x, w, b)]
        y = ops.batch_norm(leaves[0], rm, rv, leaves[1], leaves[2], training=training)
        y.backward(g)
        tleaves = [None if a is None else torch.tensor(a, requires_grad=True) for a in (x, w, b)]
        yt = F.batch_norm(tleaves[0], trm, trv, tleaves[1], tleaves[2], training=training)
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **tol, err_msg=f"y step {step}")
        for name, ours, theirs in zip(("x", "weight", "bias"), leaves, tleaves):
            if ours is not None:
                np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), **tol,
                                           err_msg=f"grad of {name}, step {step}")
        np.testing.assert_allclose(rm, trm.numpy(), **tol, err_msg=f"running_mean step {step}")
        np.testing.assert_allclose(rv, trv.numpy(), **tol, err_msg=f"running_var step {step}")


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

X = np.zeros((2, 4, 5, 5), np.float32)
C4 = np.zeros(4, np.float32)


@pytest.mark.parametrize("call,match", [
    (lambda: ops.batch_norm(X, np.zeros(3), C4),
     r"batch_norm: running_mean has shape \(3,\) but the input has 4 channels "
     r"\(input shape \(2, 4, 5, 5\)\); expected shape \(4,\)"),
    (lambda: ops.batch_norm(X, C4, tn.zeros(4, 1)),
     r"running_var has shape \(4, 1\) but the input has 4 channels"),
    (lambda: ops.batch_norm(X, C4, C4, weight=np.ones(5, np.float32)),
     r"weight has shape \(5,\) but the input has 4 channels"),
    (lambda: ops.batch_norm(X, C4, C4, bias=np.ones(2, np.float32)),
     r"bias has shape \(2,\) but the input has 4 channels"),
    (lambda: ops.batch_norm(np.zeros(4, np.float32), None, None, training=True),
     r"expected an input of shape \(N, C, \*\), got shape \(4,\)"),
    (lambda: ops.batch_norm(np.zeros((1, 4), np.float32), None, None, training=True),
     r"more than 1 value per channel when training, got input shape \(1, 4\)"),
    (lambda: ops.batch_norm(X, None, None, training=False),
     "running_mean and running_var are required when training=False"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
