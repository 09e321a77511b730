"""tinynet.ops.dropout: gradient check, statistics, seeding and errors of dropout."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import ops
from tinynet.ops.dropout import DropoutFunction
from gradcases import GradCase, run_case


def _seeded_dropout(x):
    # Re-seed on every call so that gradcheck's repeated forward passes all
    # draw the same mask (otherwise the function would change under it).
    tn.manual_seed(3)
    return ops.dropout(x, p=0.4)


GRADCHECK_CASES = [
    GradCase("dropout_seeded", _seeded_dropout, lambda r: [r.standard_normal((2, 3, 4))]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_drops_a_fraction_p_and_scales_the_rest(p):
    x = tn.ones(1000, 1000)
    y = ops.dropout(x, p=p).numpy()
    zeros = np.mean(y == 0)
    # 1e6 Bernoulli draws: the standard deviation of the fraction is <= 5e-4.
    assert abs(zeros - p) < 5e-3
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p), rtol=1e-6)
    assert abs(y.mean() - 1) < 2e-2  # inverted dropout keeps the expectation


def test_gradient_is_the_scaled_mask(rng):
    x = tn.tensor(rng.standard_normal((50, 40)).astype(np.float32) + 5, requires_grad=True)
    y = ops.dropout(x, p=0.25)
    y.sum().backward()
    kept = y.numpy() != 0  # x > 0 everywhere, so a zero output means dropped
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, 1 / 0.75, 0), rtol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(training=False), dict(p=0.0), dict(p=0.9, training=False)])
def test_identity_in_eval_or_with_p_zero(kwargs, rng):
    x = tn.tensor(rng.standard_normal((3, 4)).astype(np.float32))
    y = ops.dropout(x, **kwargs)
    np.testing.assert_array_equal(y.numpy(), x.numpy())


def test_p_one_drops_everything_without_nan():
    y = ops.dropout(tn.ones(4, 5), p=1.0).numpy()
    np.testing.assert_array_equal(y, np.zeros((4, 5), np.float32))


def test_same_seed_same_mask_other_seed_other_mask():
    x = tn.ones(64, 64)
    tn.manual_seed(11)
    a = ops.dropout(x).numpy()
    tn.manual_seed(11)
    b = ops.dropout(x).numpy()
    tn.manual_seed(12)
    c = ops.dropout(x).numpy()
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_consecutive_calls_draw_new_masks():
    x = tn.ones(64, 64)
    assert (ops.dropout(x).numpy() != ops.dropout(x).numpy()).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mask_and_output_keep_dtype(dtype):
    x = np.ones((8, 8), dtype)
    fn = DropoutFunction(0.5)
    y = fn.forward(x)
    assert fn.mask.dtype == dtype and y.dtype == dtype
    assert ops.dropout(tn.tensor(x)).dtype == dtype


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_bad_probability(p):
    with pytest.raises(ValueError, match=r"dropout: probability p has to be between 0 and 1"):
        ops.dropout(tn.ones(2, 2), p=p)


def test_integer_input_is_rejected():
    with pytest.raises(TypeError, match="dropout: expected a floating-point input, got dtype int"):
        ops.dropout(tn.tensor(np.arange(4)), p=0.5)
