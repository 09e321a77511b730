"""Gradient checks and behaviour of elementwise math, reductions, matmul and shape ops."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import ops
from gradcases import GradCase, run_case


def positive(rng, *shape):
    return rng.uniform(0.5, 2.0, shape)


def normal(rng, *shape):
    return rng.standard_normal(shape)


def distinct(rng, *shape):
    """Values with no ties (max/min/abs/clip are not differentiable at ties or kinks)."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) - n / 2 + 0.25) / n * 4


GRADCHECK_CASES = [
    # elementwise binary, with broadcasting in both directions
    GradCase("add_broadcast", lambda a, b: a + b, lambda r: [normal(r, 2, 3, 4), normal(r, 3, 1)]),
    GradCase("add_scalar", lambda a: 2.5 + a, lambda r: [normal(r, 3, 2)]),
    GradCase("sub_broadcast", lambda a, b: a - b, lambda r: [normal(r, 4), normal(r, 3, 4)]),
    GradCase("rsub_scalar", lambda a: 1 - a, lambda r: [normal(r, 3)]),
    GradCase("mul_broadcast", lambda a, b: a * b, lambda r: [normal(r, 2, 1, 4), normal(r, 3, 1)]),
    GradCase("div", lambda a, b: a / b, lambda r: [normal(r, 2, 3), positive(r, 3)]),
    GradCase("rdiv_scalar", lambda a: 2 / a, lambda r: [positive(r, 4)]),
    GradCase("pow_scalar", lambda a: a ** 3, lambda r: [normal(r, 2, 3)]),
    GradCase("pow_tensor", lambda a, b: a ** b, lambda r: [positive(r, 2, 3), normal(r, 3)]),
    GradCase("rpow", lambda a: 2.0 ** a, lambda r: [normal(r, 5)]),
    GradCase("maximum", ops.maximum, lambda r: [distinct(r, 3, 4), distinct(r, 4)[::-1].copy()]),
    GradCase("minimum", ops.minimum, lambda r: [distinct(r, 3, 4), distinct(r, 4)[::-1].copy()]),
    GradCase("where", lambda a, b: ops.where(a.data > 0, a, b),
             lambda r: [distinct(r, 3, 4), normal(r, 4)]),
    # unary
    GradCase("neg", lambda a: -a, lambda r: [normal(r, 3)]),
    GradCase("exp", ops.exp, lambda r: [normal(r, 3, 2)]),
    GradCase("log", ops.log, lambda r: [positive(r, 3, 2)]),
    GradCase("sqrt", ops.sqrt, lambda r: [positive(r, 3, 2)]),
    GradCase("abs", ops.abs, lambda r: [distinct(r, 3, 2)]),
    GradCase("clip", lambda a: ops.clip(a, -0.3, 0.4), lambda r: [distinct(r, 4, 3)]),
    # matmul: 2-D, batched with broadcasting, vectors
    GradCase("matmul_2d", ops.matmul, lambda r: [normal(r, 3, 4), normal(r, 4, 2)]),
    GradCase("matmul_batched", ops.matmul, lambda r: [normal(r, 2, 3, 4), normal(r, 4, 5)]),
    GradCase("matmul_vec", lambda a, b: a @ b, lambda r: [normal(r, 4), normal(r, 4, 3)]),
    GradCase("matmul_mat_vec", lambda a, b: a @ b, lambda r: [normal(r, 2, 4), normal(r, 4)]),
    # reductions
    GradCase("sum_all", lambda a: a.sum(), lambda r: [normal(r, 2, 3)]),
    GradCase("sum_axes_keepdims", lambda a: ops.sum(a, axis=(0, 2), keepdims=True),
             lambda r: [normal(r, 2, 3, 4)]),
    GradCase("mean_axis", lambda a: a.mean(axis=1), lambda r: [normal(r, 2, 3, 4)]),
    GradCase("max_axis", lambda a: a.max(axis=-1), lambda r: [distinct(r, 3, 4)]),
    GradCase("min_all", lambda a: a.min(), lambda r: [distinct(r, 3, 4)]),
    # shape
    GradCase("reshape", lambda a: a.reshape(4, -1) * 1.0, lambda r: [normal(r, 2, 3, 2)]),
    GradCase("transpose", lambda a: a.transpose(2, 0, 1), lambda r: [normal(r, 2, 3, 4)]),
    GradCase("getitem_slices", lambda a: a[1:, ::2, None], lambda r: [normal(r, 3, 4)]),
    GradCase("getitem_repeated_index", lambda a: a[np.array([0, 2, 0])], lambda r: [normal(r, 3, 2)]),
    GradCase("cat", lambda a, b: ops.cat([a, b, a], dim=1), lambda r: [normal(r, 2, 3), normal(r, 2, 1)]),
    GradCase("stack", lambda a, b: ops.stack([a, b], dim=1), lambda r: [normal(r, 2, 3), normal(r, 2, 3)]),
    GradCase("pad", lambda a: ops.pad(a, (1, 2, 0, 1), value=0.5), lambda r: [normal(r, 1, 2, 3)]),
    GradCase("astype", lambda a: ops.astype(a, np.float64) * a, lambda r: [normal(r, 3)]),
    # through float32 and back: float32 rounding needs a larger step and tolerance
    GradCase("astype_float32_roundtrip", lambda a: a.astype(np.float32).astype(np.float64) * a,
             lambda r: [normal(r, 3)], tolerances={"eps": 1e-3, "atol": 1e-3, "rtol": 1e-2}),
    GradCase("to_device_cpu", lambda a: ops.to_device(a, "cpu"), lambda r: [normal(r, 3)]),
    GradCase("broadcast_to", lambda a: ops.broadcast_to(a, (2, 3, 4)), lambda r: [normal(r, 3, 1)]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


def test_forward_values_match_numpy(rng):
    a, b = rng.standard_normal((3, 4)), rng.uniform(1, 2, (4,))
    ta, tb = tn.tensor(a), tn.tensor(b)
    np.testing.assert_allclose((ta * tb + ta / tb - tb).data, a * b + a / b - b)
    np.testing.assert_allclose(ops.max(ta, axis=0).data, a.max(axis=0))
    np.testing.assert_allclose((ta @ tb).data, a @ b)
    np.testing.assert_allclose(ops.pad(ta, (1, 0)).data, np.pad(a, ((0, 0), (1, 0))))


def test_broadcast_gradient_is_summed_to_input_shape():
    x = tn.tensor(np.ones((2, 3, 4)), requires_grad=True)
    bias = tn.tensor(np.zeros((3, 1)), requires_grad=True)
    (x + bias).sum().backward()
    assert bias.grad.shape == (3, 1)
    np.testing.assert_array_equal(bias.grad.data, np.full((3, 1), 8.0))  # 2 samples * 4 columns


def test_scalar_keeps_float32():
    x = tn.tensor(np.ones(3, dtype=np.float32))
    assert (x * 2.0).dtype == np.float32
    assert (0.5 - x).dtype == np.float32
    assert (x ** 2).dtype == np.float32


def test_shape_mismatch_names_both_shapes():
    a, b = tn.ones(2, 3), tn.ones(4)
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\)"):
        a + b
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\)"):
        a @ a
    with pytest.raises(ValueError, match=r"cannot reshape a tensor of shape \(2, 3\)"):
        a.reshape(4, 2)
    with pytest.raises(ValueError, match=r"cat: tensor 1 has shape \(3, 3\)"):
        ops.cat([a, tn.ones(3, 3)], dim=1)


def test_max_splits_gradient_between_ties():
    x = tn.tensor(np.array([1.0, 3.0, 3.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5, 0.5])


def test_reduction_axis_out_of_range():
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        tn.ones(2, 3).sum(axis=3)


def test_flatten_squeeze_unsqueeze_shapes():
    x = tn.ones(2, 3, 4, 5)
    assert x.flatten(1).shape == (2, 60)
    assert ops.flatten(x, 1, 2).shape == (2, 12, 5)
    assert x.unsqueeze(0).shape == (1, 2, 3, 4, 5)
    assert tn.ones(1, 3, 1).squeeze().shape == (3,)
    assert tn.ones(1, 3, 1).squeeze(0).shape == (3, 1)
