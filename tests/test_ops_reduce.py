"""tinynet.ops.reduce: gradient checks and behaviour of the reductions (sum, mean, max/min, var/std,
prod, ...).

PyTorch parity of the same functions (tie rules, dtypes, unbiased variance) is
in test_torch_api.py; here: gradients by central differences and the
hand-computed behaviour.
"""
import numpy as np
import pytest

import tinynet as tn
from tinynet import ops
from gradcases import GradCase, run_case
from sample_arrays import distinct, normal


GRADCHECK_CASES = [
    GradCase("sum_all", lambda a: a.sum(), lambda r: [normal(r, 2, 3)]),
    GradCase("sum_axes_keepdims", lambda a: ops.sum(a, axis=(0, 2), keepdims=True),
             lambda r: [normal(r, 2, 3, 4)]),
    GradCase("mean_dim", lambda a: a.mean(dim=1), lambda r: [normal(r, 2, 3, 4)]),
    GradCase("amax_dim", lambda a: a.amax(-1), lambda r: [distinct(r, 3, 4)]),
    GradCase("min_all", lambda a: a.min(), lambda r: [distinct(r, 3, 4)]),
    GradCase("max_dim_values", lambda a: a.max(dim=1).values, lambda r: [distinct(r, 3, 4)]),
    GradCase("min_dim_keepdim", lambda a: a.min(0, keepdim=True)[0], lambda r: [distinct(r, 3, 4)]),
    GradCase("var_unbiased", lambda a: a.var(dim=1), lambda r: [normal(r, 3, 4)]),
    GradCase("std_population_all", lambda a: a.std(unbiased=False), lambda r: [normal(r, 3, 4)]),
    GradCase("prod_all", lambda a: a.prod(), lambda r: [normal(r, 2, 3)]),
    GradCase("prod_dim_with_a_zero",
             lambda a: (a * tn.tensor(np.array([1.0, 0.0, 1.0]), device=a.device)).prod(1),
             lambda r: [normal(r, 2, 3)]),
    GradCase("logsumexp", lambda a: ops.logsumexp(a, dim=(0, 2)), lambda r: [normal(r, 2, 3, 2)]),
    GradCase("cumsum", lambda a: a.cumsum(1), lambda r: [normal(r, 2, 4)]),
    GradCase("cumprod", lambda a: a.cumprod(1), lambda r: [normal(r, 2, 4)]),
    # zeros: the first zero of a row gets the products without it, later ones nothing
    GradCase("cumprod_with_zeros", lambda a: a.cumprod(1),
             lambda r: [np.array([[1.5, 0.0, 2.0, 0.0, 3.0], [0.0, 2.0, -1.0, 4.0, 0.5],
                                  [2.0, 3.0, 0.5, 1.5, 0.0]])]),
    # vector norms (ops/vector_norm.py), away from the kinks of |x| at 0
    GradCase("norm_2_dim", lambda a: a.norm(dim=1), lambda r: [normal(r, 3, 4)]),
    GradCase("norm_1_all", lambda a: ops.norm(a, p=1), lambda r: [distinct(r, 3, 4) + 0.1]),
    GradCase("norm_inf", lambda a: ops.norm(a, p=float("inf"), dim=0),
             lambda r: [distinct(r, 3, 4) + 0.1]),
    GradCase("norm_3_keepdim", lambda a: a.norm(p=3, dim=1, keepdim=True),
             lambda r: [normal(r, 3, 4)]),
    GradCase("normalize", ops.normalize, lambda r: [normal(r, 3, 4)]),
    GradCase("cosine_similarity", ops.cosine_similarity,
             lambda r: [normal(r, 3, 4), normal(r, 1, 4)]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


def test_max_without_dim_splits_gradient_between_ties():
    x = tn.tensor(np.array([1.0, 3.0, 3.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5, 0.5])


def test_max_with_dim_returns_values_and_indices_and_grads_the_index():
    x = tn.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]]), requires_grad=True)
    result = x.max(dim=1)
    values, indices = result
    assert values.tolist() == [3.0, 2.0] and indices.tolist() == [1, 0]
    assert result.values is values and result.indices.dtype == np.int64
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 1, 0], [1, 0, 0]])


def test_keepdim_and_numpy_spellings_agree():
    x = tn.tensor(np.arange(24.0).reshape(2, 3, 4))
    assert x.sum(dim=(0, 2), keepdim=True).shape == (1, 3, 1)
    assert x.sum(axis=(0, 2), keepdims=True).shape == (1, 3, 1)
    assert ops.mean(x, 1).shape == (2, 4)
    with pytest.raises(TypeError, match="got both dim=1 and axis=2"):
        x.sum(1, axis=2)


def test_variance_is_unbiased_by_default():
    x = tn.tensor([1.0, 2.0, 3.0, 4.0])
    assert x.var().item() == pytest.approx(5 / 3)
    assert x.var(unbiased=False).item() == pytest.approx(1.25)
    assert x.var(correction=0).item() == pytest.approx(1.25)
    assert x.std().item() == pytest.approx((5 / 3) ** 0.5)
    with pytest.raises(TypeError, match="unbiased= or correction=, not both"):
        x.var(unbiased=True, correction=1)


def test_integer_sums_are_int64_and_integer_means_are_refused():
    assert tn.tensor([True, True, False]).sum().item() == 2
    assert tn.tensor([1, 2], dtype=tn.int32).sum().dtype == np.int64
    with pytest.raises(RuntimeError, match=r"mean\(\): input dtype must be floating point"):
        tn.tensor([1, 2]).mean()


def test_prod_gradient_is_exact_with_zeros():
    x = tn.tensor(np.array([2.0, 3.0, 0.0, 4.0]), requires_grad=True)
    x.prod().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 24.0, 0.0])


def test_logsumexp_of_large_and_of_minus_infinity():
    x = tn.tensor(np.array([[1000.0, 1000.0], [-np.inf, -np.inf]]))
    np.testing.assert_allclose(ops.logsumexp(x, 1).data, [1000.0 + np.log(2.0), -np.inf])


def test_argmax_flat_and_by_dim():
    x = tn.tensor([[1, 5], [7, 2]])
    assert x.argmax().item() == 2 and x.argmax(dim=1).tolist() == [1, 0]
    assert x.argmin(0, keepdim=True).tolist() == [[0, 1]]


def test_all_any_give_bool_tensors():
    x = tn.tensor([[1.0, 0.0], [2.0, 3.0]])
    assert x.all().item() is False and x.any().item() is True
    assert x.all(dim=1).tolist() == [False, True]


def test_dim_out_of_range_and_empty_extreme():
    with pytest.raises(IndexError, match=r"sum: dim 3 is out of range for a tensor with 2 dims"):
        tn.ones(2, 3).sum(axis=3)
    with pytest.raises(ValueError, match=r"max: cannot reduce an empty tensor of shape \(0, 3\)"):
        tn.ones(0, 3).max(dim=1)
    with pytest.raises(TypeError, match="dim must be one int"):
        tn.ones(2, 3).max(dim=(0, 1))


def test_norm_values_and_zero_vector_gradient():
    x = tn.tensor(np.array([[3.0, -4.0], [0.0, 0.0]]), requires_grad=True)
    n = x.norm(dim=1)
    assert n.tolist() == [5.0, 0.0]
    n.sum().backward()
    np.testing.assert_allclose(x.grad.data, [[0.6, -0.8], [0.0, 0.0]])   # 0, not nan
    assert ops.norm(x, p=1).item() == 7.0 and ops.norm(x, p=0).item() == 2.0
    assert ops.norm(x, p=float("inf")).item() == 4.0
    with pytest.raises(NotImplementedError, match="p='nuc' is not supported"):
        ops.norm(x, p="nuc")


def test_normalize_and_cosine_similarity_by_hand():
    x = tn.tensor([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(ops.normalize(x).data, [[0.6, 0.8], [0.0, 0.0]])
    a, b = tn.tensor([[1.0, 0.0], [1.0, 1.0]]), tn.tensor([[0.0, 2.0], [2.0, 2.0]])
    np.testing.assert_allclose(ops.cosine_similarity(a, b).data, [0.0, 1.0], atol=1e-7)
