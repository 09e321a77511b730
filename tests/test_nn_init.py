"""tinynet.nn.init: PyTorch's formulas, in-place fills, reproducible draws.

Statistical checks use large tensors (>= 100k values), where the sample std is
within ~1% of the true one; the tolerance (3%) leaves room without hiding a
wrong formula (the closest wrong alternatives, e.g. fan_out for fan_in or a
missing sqrt(3), are off by 40% or more).
"""
import math

import numpy as np
import pytest

import tinynet as tn
from tinynet.nn import Parameter, init


def param(*shape, dtype=np.float32):
    return Parameter(np.zeros(shape, dtype=dtype))


def test_calculate_gain_matches_torch(torch):
    for name, arg in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                      ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                      ("leaky_relu", math.sqrt(5)), ("selu", None), ("conv_transpose2d", None)]:
        assert init.calculate_gain(name, arg) == pytest.approx(
            torch.nn.init.calculate_gain(name, arg)), name
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        init.calculate_gain("gelu")


@pytest.mark.parametrize("shape", [(7, 3), (8, 4, 3, 3), (4, 8, 2, 5), (2, 3, 1, 1)])
def test_fans_match_torch(torch, shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init._calculate_fan_in_and_fan_out(param(*shape)) == expected


def test_fans_need_two_dimensions():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(param(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_normal_(param(4, 4), mode="fan_avg")


@pytest.mark.parametrize("mode, nonlinearity, a", [
    ("fan_in", "relu", 0), ("fan_out", "relu", 0), ("fan_in", "leaky_relu", 0.1)])
def test_kaiming_normal_std(mode, nonlinearity, a):
    w = param(256, 64, 3, 3)  # fan_in 576, fan_out 2304, 147k values
    assert init.kaiming_normal_(w, a=a, mode=mode, nonlinearity=nonlinearity) is w
    fan = 64 * 9 if mode == "fan_in" else 256 * 9
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    values = w.numpy()
    assert abs(values.mean()) < 0.03 * std
    np.testing.assert_allclose(values.std(), std, rtol=0.03)


def test_kaiming_uniform_bound_and_std():
    w = param(300, 400)
    init.kaiming_uniform_(w, a=math.sqrt(5))  # PyTorch's default for Linear / Conv2d
    bound = 1 / math.sqrt(400)
    values = w.numpy()
    assert np.abs(values).max() <= bound and np.abs(values).max() > 0.99 * bound
    np.testing.assert_allclose(values.std(), bound / math.sqrt(3), rtol=0.03)
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / 300)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound


def test_xavier():
    w = param(300, 500)
    std = 2.0 * math.sqrt(2.0 / 800)
    init.xavier_normal_(w, gain=2.0)
    np.testing.assert_allclose(w.numpy().std(), std, rtol=0.03)
    init.xavier_uniform_(w, gain=2.0)
    assert np.abs(w.numpy()).max() <= math.sqrt(3) * std
    np.testing.assert_allclose(w.numpy().std(), std, rtol=0.03)


def test_simple_fills_are_in_place_and_keep_dtype():
    w = param(3, 4, dtype=np.float64)
    array = w.data
    assert init.constant_(w, 2.5) is w and w.data is array and w.dtype == np.float64
    np.testing.assert_array_equal(w.numpy(), np.full((3, 4), 2.5))
    init.ones_(w)
    assert np.all(w.numpy() == 1)
    init.zeros_(w)
    assert not np.any(w.numpy())
    init.uniform_(w, -0.5, 0.25)
    assert w.numpy().min() >= -0.5 and w.numpy().max() <= 0.25
    big = param(400, 400)
    init.normal_(big, mean=3.0, std=0.5)
    np.testing.assert_allclose([big.numpy().mean(), big.numpy().std()], [3.0, 0.5], rtol=0.01)
    assert big.dtype == np.float32 and big.requires_grad and big.grad_fn is None


def test_fills_accept_raw_arrays():
    array = np.zeros((2, 3), dtype=np.float32)
    init.constant_(array, 1.0)
    assert np.all(array == 1.0)


def test_draws_are_reproducible_with_manual_seed():
    tn.manual_seed(5)
    a = init.kaiming_uniform_(param(6, 6)).numpy()
    tn.manual_seed(5)
    b = init.kaiming_uniform_(param(6, 6)).numpy()
    tn.manual_seed(6)
    c = init.kaiming_uniform_(param(6, 6)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_empty_tensor_is_left_alone():
    w = param(0, 3)
    assert init.kaiming_normal_(w) is w and w.shape == (0, 3)


def test_trunc_normal_stays_in_its_interval_with_the_truncated_moments():
    """Values in [a, b]; mean and std those of the truncated normal (scipy's formula)."""
    from scipy.stats import truncnorm
    w = tn.empty(400, 500)
    init.trunc_normal_(w, mean=0.5, std=1.0, a=-0.5, b=2.0)
    values = w.numpy()
    assert values.min() >= -0.5 and values.max() <= 2.0 and values.dtype == np.float32
    expected = truncnorm(-1.0, 1.5, loc=0.5, scale=1.0)
    assert abs(values.mean() - expected.mean()) < 0.01
    assert abs(values.std() - expected.std()) < 0.01
    with pytest.raises(ValueError, match=r"the interval \[a, b\] = \[1.0, 1.0\] is empty"):
        init.trunc_normal_(w, a=1.0, b=1.0)


@pytest.mark.parametrize("shape", [(6, 4, 3, 3), (10, 4), (4, 4)])
def test_orthogonal_rows_or_columns(shape):
    w = tn.empty(*shape)
    init.orthogonal_(w, gain=2.0)
    m = w.numpy().reshape(shape[0], -1).astype(np.float64)
    small = min(m.shape)
    gram = m @ m.T if m.shape[0] == small else m.T @ m
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-5)
    with pytest.raises(ValueError, match="orthogonal_: needs at least 2 dims"):
        init.orthogonal_(tn.empty(3))


@pytest.mark.parametrize("name, shape, kwargs", [
    ("eye_", (3, 5), {}), ("dirac_", (6, 3, 3, 3), {}), ("dirac_", (4, 2, 3, 3), {"groups": 2}),
    ("dirac_", (2, 3, 4), {})])
def test_identity_inits_match_torch(torch, name, shape, kwargs):
    ours, theirs = tn.empty(*shape), torch.empty(*shape)
    getattr(init, name)(ours, **kwargs)
    getattr(torch.nn.init, name)(theirs, **kwargs)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
