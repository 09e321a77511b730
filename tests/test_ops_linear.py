"""tinynet.ops.linear: y = input @ weight.T + bias, against PyTorch and by gradcheck."""
import numpy as np
import pytest

import tinynet as tn
from gradcases import GradCase, run_case

GRADCHECK_CASES = [
    GradCase("linear_2d_bias", tn.ops.linear,
             lambda rng: [rng.standard_normal((4, 3)), rng.standard_normal((5, 3)),
                          rng.standard_normal(5)]),
    GradCase("linear_3d_no_bias", tn.ops.linear,
             lambda rng: [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4))]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


@pytest.mark.parametrize("shape, bias", [((6, 5), True), ((2, 3, 5), False)])
def test_linear_matches_torch(torch, shape, bias):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(shape).astype(np.float32), rng.standard_normal((4, 5)).astype(
        np.float32)
    b = rng.standard_normal(4).astype(np.float32) if bias else None
    g = rng.standard_normal(shape[:-1] + (4,)).astype(np.float32)

    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if bias else None
    yt = torch.nn.functional.linear(xt, wt, bt)
    yt.backward(torch.tensor(g))

    xn, wn = tn.tensor(x, requires_grad=True), tn.tensor(w, requires_grad=True)
    bn = tn.tensor(b, requires_grad=True) if bias else None
    yn = tn.ops.linear(xn, wn, bn)
    yn.backward(g)

    tol = dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(yn.numpy(), yt.detach().numpy(), **tol)
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), **tol)
    np.testing.assert_allclose(wn.grad.numpy(), wt.grad.numpy(), **tol)
    if bias:
        np.testing.assert_allclose(bn.grad.numpy(), bt.grad.numpy(), **tol)
    assert yn.dtype == np.float32


def test_linear_shape_errors():
    with pytest.raises(ValueError, match=r"input has 3 features \(shape \(4, 3\)\) but weight "
                                         r"expects 5 \(weight shape \(2, 5\)\)"):
        tn.ops.linear(tn.zeros(4, 3), tn.zeros(2, 5))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        tn.ops.linear(tn.zeros(4, 5), tn.zeros(2, 5), tn.zeros(3))
