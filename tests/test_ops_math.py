"""tinynet.ops.math: gradient checks and behaviour of elementwise math and matmul (reductions and
shape ops have their own files; PyTorch parity of all of them is in test_torch_api.py)."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import ops
from gradcases import GradCase, run_case
from sample_arrays import distinct, normal, positive


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
    # unary: the rest of the elementwise functions
    GradCase("expm1_log1p", lambda a: ops.expm1(a) + ops.log1p(a), lambda r: [positive(r, 3, 2)]),
    GradCase("log2_log10", lambda a: ops.log2(a) + ops.log10(a), lambda r: [positive(r, 4)]),
    GradCase("rsqrt_reciprocal", lambda a: ops.rsqrt(a) + ops.reciprocal(a),
             lambda r: [positive(r, 4)]),
    GradCase("square", ops.square, lambda r: [normal(r, 3, 2)]),
    GradCase("sin_cos", lambda a: ops.sin(a) * ops.cos(a), lambda r: [normal(r, 5)]),
    GradCase("erf", ops.erf, lambda r: [normal(r, 2, 3)]),
    # fmod's kinks (a / b at an integer) are far from these values
    GradCase("fmod_broadcast", ops.fmod,
             lambda r: [np.array([[5.3, -5.3, 2.2], [-1.3, 0.7, 7.9]]),
                        np.array([0.7, 1.5, -1.9])]),
    GradCase("atan2_broadcast", ops.atan2, lambda r: [normal(r, 2, 3), normal(r, 3) + 0.5]),
    GradCase("step_functions", lambda a: ops.floor(a) + ops.round(a) + ops.sign(a) + a,
             lambda r: [distinct(r, 6) + 0.3]),
    GradCase("add_sub_alpha", lambda a, b: ops.add(a, b, alpha=2) - ops.sub(a, b, alpha=-3),
             lambda r: [normal(r, 2, 3), normal(r, 3)]),
    GradCase("clamp_min_max_tensor_bounds", lambda a, lo: ops.clamp(a, min=lo, max=0.5),
             lambda r: [distinct(r, 3, 4), distinct(r, 4)[::-1].copy() - 0.4]),
    GradCase("masked_fill", lambda a: a.masked_fill(a.data > 0.5, 2.0) * a,
             lambda r: [distinct(r, 3, 4)]),
    GradCase("matmul_dot", lambda a, b: a @ b, lambda r: [normal(r, 4), normal(r, 4)]),
    GradCase("einsum_contraction_and_lone_letter", lambda a, b: ops.einsum("ijk,jl->il", a, b),
             lambda r: [normal(r, 2, 3, 2), normal(r, 3, 2)]),
    GradCase("einsum_ellipsis_broadcast", lambda a, b: ops.einsum("...ij,...jk->...ik", a, b),
             lambda r: [normal(r, 2, 1, 2, 3), normal(r, 4, 3, 2)]),
    GradCase("matmul_batched_vec", lambda a, b: a @ b,
             lambda r: [normal(r, 2, 3, 4), normal(r, 4)]),
    GradCase("matmul_vec_batched", lambda a, b: a @ b,
             lambda r: [normal(r, 4), normal(r, 2, 4, 3)]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


def test_forward_values_match_numpy(rng):
    a, b = rng.standard_normal((3, 4)), rng.uniform(1, 2, (4,))
    ta, tb = tn.tensor(a), tn.tensor(b)
    np.testing.assert_allclose((ta * tb + ta / tb - tb).data, a * b + a / b - b)
    np.testing.assert_allclose(ops.max(ta, axis=0).values.data, a.max(axis=0))
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


@pytest.mark.parametrize("make, expected", [
    (lambda: tn.tensor([1, 2]) * 2.5, ("float32", [2.5, 5.0])),
    (lambda: tn.tensor([1, 2]) * 2, ("int64", [2, 4])),
    (lambda: tn.tensor([1, 2]) / 2, ("float32", [0.5, 1.0])),
    (lambda: tn.tensor([True, False]) + 1, ("int64", [2, 1])),
    (lambda: tn.tensor([1, 2], dtype=tn.int32) + 1, ("int32", [2, 3])),
    (lambda: tn.tensor([1.0], dtype=tn.float16) * 2.5, ("float16", [2.5])),
    (lambda: tn.ones(2) + tn.tensor(np.ones(2)), ("float64", [2.0, 2.0])),
    (lambda: tn.ones(2) + tn.tensor(np.float64(1.0)), ("float32", [2.0, 2.0])),
    (lambda: tn.tensor([1, 2]) + tn.tensor(np.float64(0.5)), ("float64", [1.5, 2.5])),
    (lambda: np.float64(2.0) * tn.ones(2), ("float32", [2.0, 2.0])),
    (lambda: np.ones(2) + tn.ones(2), ("float64", [2.0, 2.0])),
])
def test_type_promotion_follows_pytorch(make, expected):
    out = make()
    assert isinstance(out, tn.Tensor)
    assert (out.dtype.name, out.tolist()) == expected


def test_gradient_comes_back_in_the_leafs_dtype():
    w = tn.ones(3, requires_grad=True)                 # float32
    x = tn.tensor(np.array([1.0, 2.0, 3.0]))           # float64
    y = w * x
    assert y.dtype == np.float64
    y.sum().backward()
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad.data, [1.0, 2.0, 3.0])


def test_vector_dot_backward_by_hand():
    a = tn.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = tn.tensor(np.array([4.0, 5.0, 6.0]), requires_grad=True)
    y = a @ b
    assert y.shape == () and y.item() == 32.0
    y.backward()
    np.testing.assert_array_equal(a.grad.data, [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(b.grad.data, [1.0, 2.0, 3.0])


def test_maximum_splits_ties_and_clamp_keeps_its_ends():
    a = tn.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = tn.tensor(np.array([1.0, 0.0, 5.0]), requires_grad=True)
    ops.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(b.grad.data, [0.5, 0.0, 1.0])
    x = tn.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    x.clamp(1, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0, 0.0])


def test_rounding_division_and_remainder_are_pythons():
    a = tn.tensor([5, -5])
    assert (a // 2).tolist() == [2, -3] and (a % 3).tolist() == [2, 1]
    assert ops.div(a, 2, rounding_mode="trunc").tolist() == [2, -2]
    assert ops.div(tn.tensor([-5.0]), 2, rounding_mode="floor").tolist() == [-3.0]
    with pytest.raises(ValueError, match="rounding_mode must be None, 'trunc' or 'floor'"):
        ops.div(a, 2, rounding_mode="up")


def test_where_with_only_a_condition_gives_indices():
    rows, cols = ops.where(tn.tensor([[True, False], [False, True]]))
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1] and rows.dtype == np.int64
    with pytest.raises(TypeError, match="condition/mask must be a bool tensor"):
        ops.where(tn.ones(2), tn.ones(2), tn.zeros(2))


def test_mm_bmm_check_their_dimensions():
    with pytest.raises(ValueError, match=r"mm: expected 2-D and 2-D tensors, got shapes \(3,\)"):
        ops.mm(tn.ones(3), tn.ones(3, 2))
    with pytest.raises(ValueError, match="bmm: expected 3-D and 3-D"):
        ops.bmm(tn.ones(2, 3), tn.ones(3, 2))


def test_unsupported_operand_names_its_type():
    with pytest.raises(TypeError, match="unsupported operand of type str"):
        tn.ones(2) + "a"


def test_einsum_equations_by_hand_and_their_errors():
    a = tn.tensor(np.arange(6.0).reshape(2, 3))
    assert ops.einsum("ij->", a).item() == 15.0
    assert ops.einsum("ij->ji", a).tolist() == np.arange(6.0).reshape(2, 3).T.tolist()
    assert ops.einsum("ij,ij->i", [a, a]).tolist() == [5.0, 50.0]
    with pytest.raises(ValueError, match="subscripts 'ijk' name 3 dims, but the tensor has 2"):
        ops.einsum("ijk->i", a)
    with pytest.raises(ValueError, match="has 2 operands, got 1 tensors"):
        ops.einsum("ij,jk->ik", a)
    with pytest.raises(NotImplementedError, match="a letter repeated within one operand"):
        ops.einsum("ii->i", tn.ones(2, 2))
