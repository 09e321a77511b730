"""tinynet.optim.clip: clip_grad_norm_ / clip_grad_value_: parity with torch.nn.utils, aliasing,
errors."""
import math

import numpy as np
import pytest

import tinynet as tn
from tinynet.optim import clip_grad_norm_, clip_grad_value_

SHAPES = [(3,), (2, 4), (5,)]


def params_with_grads(scale, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    grads = [(scale * rng.standard_normal(s)).astype(dtype) for s in SHAPES]
    params = []
    for g in grads:
        p = tn.tensor(np.zeros(g.shape, dtype), requires_grad=True)
        p.grad = tn.tensor(g.copy())
        params.append(p)
    return params, grads


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])  # clips / leaves alone
def test_clip_grad_norm_matches_torch(torch, norm_type, max_norm):
    params, grads = params_with_grads(scale=2.0)
    t_params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for tp, g in zip(t_params, grads):
        tp.grad = torch.tensor(g)
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(t_params, max_norm, norm_type=norm_type)
    # a 0-d Tensor of the gradients' dtype, as PyTorch returns
    assert isinstance(total, tn.Tensor) and total.shape == () and total.dtype == np.float64
    assert total.item() == pytest.approx(t_total.item(), rel=1e-12)
    for p, tp in zip(params, t_params):
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-12, atol=0)


def test_clip_grad_norm_float32_matches_torch_and_keeps_dtype(torch):
    params, grads = params_with_grads(scale=3.0, dtype=np.float32)
    t_params = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for tp, g in zip(t_params, grads):
        tp.grad = torch.tensor(g)
    total = clip_grad_norm_(params, 1.0)
    t_total = torch.nn.utils.clip_grad_norm_(t_params, 1.0)
    assert total.dtype == np.float32 and str(t_total.dtype) == "torch.float32"
    assert total.item() == pytest.approx(t_total.item(), rel=1e-6)
    for p, tp in zip(params, t_params):
        assert p.grad.data.dtype == np.float32
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clipped_norm_equals_max_norm():
    params, grads = params_with_grads(scale=5.0)
    before = clip_grad_norm_(params, 1.0)
    expected = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
    assert before.item() == pytest.approx(expected)
    assert clip_grad_norm_(params, 1e9).item() == pytest.approx(1.0, abs=1e-5)


def test_shared_gradient_array_is_scaled_once_and_not_written_into():
    a, b = tn.tensor(np.zeros(2), requires_grad=True), tn.tensor(np.zeros(2), requires_grad=True)
    shared = np.array([3.0, 4.0])  # autograd can give two leaves the same array
    a.grad, b.grad = tn.tensor(shared), tn.tensor(shared)
    total = clip_grad_norm_([a, b], max_norm=1.0)
    assert total.item() == pytest.approx(math.sqrt(50.0))
    coef = 1.0 / (math.sqrt(50.0) + 1e-6)
    np.testing.assert_allclose(a.grad.data, shared * coef)
    np.testing.assert_allclose(b.grad.data, shared * coef)
    np.testing.assert_array_equal(shared, [3.0, 4.0])


def test_parameters_without_gradient_are_ignored():
    params, _ = params_with_grads(scale=1.0)
    params[1].grad = None
    single = tn.tensor(np.zeros(1), requires_grad=True)
    nothing = clip_grad_norm_([single], 1.0)          # no gradient at all: PyTorch's 0.0
    assert nothing.item() == 0.0 and nothing.dtype == np.float32
    single.grad = tn.tensor(np.array([-4.0]))
    assert clip_grad_norm_(single, 2.0).item() == pytest.approx(4.0)  # a lone Tensor is accepted
    np.testing.assert_allclose(single.grad.data, [-2.0], atol=1e-6)
    clip_grad_norm_(params, 0.1)
    assert params[1].grad is None


def test_nonfinite_norm():
    params, _ = params_with_grads(scale=1.0)
    params[0].grad.data[1] = np.nan
    with pytest.raises(RuntimeError, match="total norm of order 2.0 of the gradients is nan"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert math.isnan(clip_grad_norm_(params, 1.0).item())


def test_clip_grad_value_matches_torch(torch):
    params, grads = params_with_grads(scale=2.0)
    t_params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for tp, g in zip(t_params, grads):
        tp.grad = torch.tensor(g)
    clip_grad_value_(params, 0.7)
    torch.nn.utils.clip_grad_value_(t_params, 0.7)
    for p, tp in zip(params, t_params):
        np.testing.assert_array_equal(p.grad.data, tp.grad.numpy())
    with pytest.raises(ValueError, match="clip_value must be >= 0"):
        clip_grad_value_(params, -1)
