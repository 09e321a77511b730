"""kron, cartesian_prod, combinations, block_diag, cross, diff, histc, logcumsumexp,
cummax/cummin, nanmean/nansum, rot90/flips, trapezoid, tensordot, heaviside, isin,
corrcoef/cov, renorm, addbmm/addmv/addr, signbit, gcd/lcm: parity with PyTorch (values,
dtypes, shapes, float64 gradients) and the errors for bad arguments."""
import numpy as np
import pytest

import tinynet as tn
from gradcases import GradCase, run_case
from torch_parity import assert_parity, constant, torch_or_skip

R = np.random.default_rng(0)
NAN = float("nan")


def normal(*shape):
    return R.standard_normal(shape)


def ints(*shape, low=-9, high=10):
    return R.integers(low, high, shape)


GRADCHECK_CASES = [
    GradCase("logcumsumexp", lambda a: tn.logcumsumexp(a, 1), lambda r: [r.standard_normal((3, 5))]),
    GradCase("logcumsumexp_wide_range", lambda a: a.logcumsumexp(0),
             lambda r: [r.standard_normal(6) * 30]),
    # (also run on the GPU stand-in by test_gpu.py, where accumulate is a loop)
    GradCase("cummax_and_cummin_values", lambda a: tn.cummax(a, 1).values.sum()
             + tn.cummin(a, 0).values.sum(), lambda r: [r.permutation(20).reshape(4, 5) * 0.1]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


CASES = {
    # --- products --------------------------------------------------------------------
    "kron_2d": (lambda L, a, b: L.kron(a, b), normal(2, 3), normal(3, 2)),
    "kron_ndim_differ_method": (lambda L, a, b: a.kron(b), normal(3), normal(2, 2, 2)),
    "kron_int": (lambda L, a, b: L.kron(a, b), ints(2, 2), ints(2)),
    "tensordot_int_dims": (lambda L, a, b: L.tensordot(a, b, dims=2), normal(2, 3, 4), normal(3, 4, 5)),
    "tensordot_lists": (lambda L, a, b: L.tensordot(a, b, dims=([1, 0], [0, 2])),
                        normal(3, 2, 4), normal(2, 5, 3)),
    "tensordot_zero": (lambda L, a, b: L.tensordot(a, b, dims=0), normal(2, 3), normal(2)),
    "tensordot_negative_dims": (lambda L, a, b: L.tensordot(a, b, dims=([-1], [-2])),
                                normal(2, 3), normal(3, 4)),
    "addmv": (lambda L, i, m, v: L.addmv(i, m, v, beta=0.5, alpha=2), normal(3), normal(3, 4), normal(4)),
    "addmv_method_beta0_nan": (lambda L, i, m, v: i.addmv(m, v, beta=0), constant(np.full(3, NAN)),
                               normal(3, 4), normal(4)),
    "addr": (lambda L, i, a, b: L.addr(i, a, b, alpha=3), normal(3, 1), normal(3), normal(4)),
    "addr_method": (lambda L, i, a, b: i.addr(a, b, beta=2), normal(3, 4), normal(3), normal(4)),
    "addbmm": (lambda L, i, a, b: L.addbmm(i, a, b, beta=0.5, alpha=-1), normal(2, 4),
               normal(5, 2, 3), normal(5, 3, 4)),
    "addbmm_method": (lambda L, i, a, b: i.addbmm(a, b), normal(4), normal(5, 2, 3), normal(5, 3, 4)),
    "cross_dim": (lambda L, a, b: L.cross(a, b, dim=0), normal(3, 4), normal(3, 4)),
    "cross_broadcast": (lambda L, a, b: L.linalg.cross(a, b), normal(4, 1, 3), normal(1, 2, 3)),
    "cross_method_negative_dim": (lambda L, a, b: a.cross(b, dim=-2), normal(2, 3, 2), normal(2, 3, 2)),
    "cross_int": (lambda L, a, b: L.linalg.cross(a, b), ints(2, 3), ints(2, 3)),
    # --- cumulative ------------------------------------------------------------------
    "logcumsumexp": (lambda L, a: L.logcumsumexp(a, 1), normal(3, 5)),
    "logcumsumexp_wide_range_method": (lambda L, a: a.logcumsumexp(-1) * 1, normal(2, 6) * 300),
    "logcumsumexp_0d": (lambda L, a: L.logcumsumexp(a, 0), normal()),
    "logcumsumexp_empty": (lambda L, a: L.logcumsumexp(a, 0), normal(0, 3)),
    "logcumsumexp_float32": (lambda L, a: L.logcumsumexp(a, 0), normal(5).astype(np.float32)),
    "cummax": (lambda L, a: L.cummax(a, 1), normal(3, 5)),
    "cummin_negative_dim_method": (lambda L, a: a.cummin(-2), normal(4, 3)),
    "cummax_ties": (lambda L, a: L.cummax(a, 0), ints(12, 2, low=0, high=3).astype(np.float64)),
    "cummin_ties": (lambda L, a: L.cummin(a, 1), ints(2, 12, low=0, high=3).astype(np.float64)),
    "cummax_nan": (lambda L, a: L.cummax(a, 0), np.array([1.0, 1.0, NAN, 3.0, NAN, 0.0])),
    "cummin_nan": (lambda L, a: L.cummin(a, 0), np.array([1.0, 1.0, NAN, -3.0, NAN, 0.0])),
    "cummax_int": (lambda L, a: L.cummax(a, 0), ints(10)),
    "cummin_bool": (lambda L, a: L.cummin(a, 0), np.array([True, True, False, True])),
    "cummax_0d": (lambda L, a: L.cummax(a, 0), normal()),
    "cummax_empty": (lambda L, a: L.cummax(a, 1), normal(2, 0)),
    "cummax_named_fields": (lambda L, a: L.cummax(a, 0).values + L.cummin(a, 0).indices, normal(5)),
    # --- nan reductions ----------------------------------------------------------------
    "nansum_all": (lambda L, a: L.nansum(a), np.array([[1.0, NAN, 2.0], [NAN, NAN, 3.0]])),
    "nansum_dim_keepdim_method": (lambda L, a: a.nansum(1, keepdim=True),
                                  np.array([[1.0, NAN, 2.0], [NAN, NAN, 3.0]])),
    "nansum_tuple_dims": (lambda L, a: L.nansum(a, (0, -1)), normal(2, 3, 4)),
    "nansum_int": (lambda L, a: L.nansum(a), ints(3, 4).astype(np.int32)),
    "nansum_dtype": (lambda L, a: L.nansum(a, dtype=L.float64), np.array([1.5, NAN], np.float32)),
    "nanmean_all": (lambda L, a: L.nanmean(a), np.array([[1.0, NAN, 2.0], [NAN, NAN, 3.0]])),
    "nanmean_all_nan_row": (lambda L, a: a.nanmean(dim=1), np.array([[1.0, NAN, 2.0], [NAN, NAN, NAN]])),
    "nanmean_keepdim": (lambda L, a: L.nanmean(a, 0, True), normal(3, 4)),
    "nanmean_empty": (lambda L, a: L.nanmean(a), normal(0)),
    # --- differences and integrals -----------------------------------------------------------
    "diff": (lambda L, a: L.diff(a), normal(3, 5)),
    "diff_n2_dim0_method": (lambda L, a: a.diff(n=2, dim=0), normal(5, 3)),
    "diff_prepend_append": (lambda L, a, p, q: L.diff(a, dim=1, prepend=p, append=q),
                            normal(2, 4), normal(2, 1), normal(2, 3)),
    "diff_n_too_large": (lambda L, a: L.diff(a, n=7), normal(2, 4)),
    "diff_int": (lambda L, a: L.diff(a, n=2), ints(6)),
    "diff_bool": (lambda L, a: L.diff(a), np.array([True, False, False, True])),
    "diff_n0": (lambda L, a: L.diff(a, n=0), normal(3)),
    "trapezoid_dx": (lambda L, a: L.trapezoid(a, dx=0.5), normal(3, 5)),
    "trapezoid_default": (lambda L, a: L.trapezoid(a, dim=0), normal(4, 2)),
    "trapezoid_x_1d": (lambda L, y, x: L.trapezoid(y, x, dim=0), normal(4, 2), np.sort(normal(4))),
    "trapezoid_x_full": (lambda L, y, x: L.trapezoid(y, x), normal(2, 5), normal(2, 5)),
    "trapezoid_int": (lambda L, y: L.trapezoid(y, dx=2), ints(2, 4)),
    "trapezoid_empty_and_single": (lambda L, y, z: (L.trapezoid(y), L.trapezoid(z)), normal(2, 0), normal(3, 1)),
    "trapz": (lambda L, y, x: L.trapz(y, x) + L.trapz(y, dx=3.0), normal(3, 4), normal(4)),
    # --- shape ------------------------------------------------------------------------
    "rot90_k": (lambda L, a: [L.rot90(a, k) for k in (-3, -1, 0, 1, 2, 3, 4, 5)], normal(2, 3)),
    "rot90_dims_method": (lambda L, a: a.rot90(1, [2, 0]) + 0, normal(2, 3, 2)),
    "rot90_negative_dims": (lambda L, a: L.rot90(a, 3, (-1, -3)), normal(2, 3, 4)),
    "flipud_fliplr": (lambda L, a: (L.flipud(a), a.fliplr(), a.flipud()), normal(3, 4, 2)),
    "flipud_1d": (lambda L, a: L.flipud(a), normal(4)),
    "block_diag": (lambda L, a, b, c, d: L.block_diag(a, b, c, d), normal(), normal(2),
                   normal(2, 3), normal(0, 2)),
    "block_diag_dtypes": (lambda L, a, b: L.block_diag(a, b), ints(2, 2).astype(np.int32), normal(1, 2)),
    "block_diag_none": (lambda L: L.block_diag(),),
    "cartesian_prod": (lambda L, a, b, c: L.cartesian_prod(a, b, c), normal(2), normal(3), normal(2)),
    "cartesian_prod_one": (lambda L, a: L.cartesian_prod(a), normal(3)),
    "cartesian_prod_int": (lambda L, a, b: L.cartesian_prod(a, b), ints(3), ints(2)),
    "combinations": (lambda L, a: L.combinations(a), normal(4)),
    "combinations_r3_replacement": (lambda L, a: L.combinations(a, r=3, with_replacement=True), normal(3)),
    "combinations_r_too_large": (lambda L, a: L.combinations(a, 5), normal(3)),
    "combinations_r0": (lambda L, a: L.combinations(a, r=0), ints(3)),
    "combinations_empty": (lambda L, a: L.combinations(a), normal(0)),
    # --- statistics ------------------------------------------------------------------------
    "cov": (lambda L, a: L.cov(a), normal(3, 6)),
    "cov_method_correction0": (lambda L, a: a.cov(correction=0), normal(2, 5)),
    "cov_1d": (lambda L, a: L.cov(a), normal(6)),
    "cov_int": (lambda L, a: L.cov(a), ints(2, 5)),
    "cov_fweights": (lambda L, a, f: L.cov(a, fweights=f), normal(3, 5), ints(5, low=0, high=4)),
    "cov_aweights": (lambda L, a, w: L.cov(a, aweights=w), normal(3, 5), R.uniform(0.2, 2, 5)),
    "cov_both_weights": (lambda L, a, f, w: L.cov(a, correction=2, fweights=f, aweights=w),
                         normal(3, 5), ints(5, low=1, high=4), R.uniform(0.2, 2, 5)),
    "cov_too_few_observations": (lambda L, a: L.cov(a, correction=3), normal(2, 3)),
    "corrcoef": (lambda L, a: L.corrcoef(a), normal(3, 6)),
    "corrcoef_method_1d": (lambda L, a: a.corrcoef(), normal(5)),
    "renorm": (lambda L, a: L.renorm(a, 2, 0, 1.0), normal(4, 3) * 2),
    "renorm_p1_dim1_method": (lambda L, a: a.renorm(1, -1, 2.5), normal(3, 4, 2)),
    "renorm_inf": (lambda L, a: L.renorm(a, float("inf"), 1, 0.5), normal(3, 4)),
    "histc": (lambda L, a: L.histc(a, bins=7, min=-1, max=1.5), normal(50)),
    "histc_data_range_method": (lambda L, a: a.histc(5), normal(4, 10).astype(np.float32)),
    "histc_one_value": (lambda L, a: L.histc(a, 4), np.full(3, 2.0)),
    "histc_empty": (lambda L, a: L.histc(a, bins=3), normal(0)),
    "histc_default_bins": (lambda L, a: L.histc(a), normal(30)),
    "histc_nan_outside_range": (lambda L, a: L.histc(a, 4, 0, 1), np.array([NAN, 0.5, 2.0, 1.0, 0.0])),
    # --- tests of values ------------------------------------------------------------------
    "heaviside": (lambda L, a, v: L.heaviside(a, v), constant(np.array([-1.5, 0.0, 2.0, NAN, -0.0])),
                  constant(normal(1))),   # no derivative in PyTorch
    "heaviside_int_method": (lambda L, a, v: a.heaviside(v), ints(3, 4, low=-1, high=2), ints(4)),
    "isin": (lambda L, a, b: L.isin(a, b), ints(3, 4, low=0, high=6), ints(5, low=0, high=6)),
    "isin_invert": (lambda L, a, b: L.isin(a, b, invert=True), ints(7), ints(2, 2)),
    "isin_scalar": (lambda L, a: (L.isin(a, 2), L.isin(3, a)), ints(6, low=0, high=4)),
    "isin_mixed_dtypes": (lambda L, a, b: L.isin(a, b), np.array([1.0, 2.5, 3.0]), ints(3, low=0, high=4)),
    "signbit": (lambda L, a: L.signbit(a), np.array([-1.0, -0.0, 0.0, 2.0, NAN, -NAN, -np.inf])),
    "signbit_int_bool_method": (lambda L, a, b: (a.signbit(), b.signbit()), ints(6), np.array([True, False])),
    "gcd_lcm": (lambda L, a, b: (L.gcd(a, b), L.lcm(a, b), a.gcd(b), a.lcm(b)), ints(3, 4),
                ints(4, low=-5, high=6)),
    "gcd_promotion": (lambda L, a, b: L.gcd(a, b), ints(4).astype(np.int32), ints(4)),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", list(CASES))
def test_parity_with_pytorch(name):
    fn, *arrays = CASES[name]
    assert_parity(fn, *arrays)


def test_results_are_named_tuples():
    x = tn.tensor([3.0, 1.0, 2.0])
    r = tn.cummax(x, 0)
    values, indices = r
    assert type(r).__name__ == "cummax" and r.values is values and r.indices is indices
    assert type(tn.cummin(x, 0)).__name__ == "cummin"
    assert indices.dtype == np.int64


def test_gradient_goes_to_the_chosen_element_on_ties():
    x = tn.tensor([1.0, 1.0, 0.0, 1.0], requires_grad=True)
    tn.cummax(x, 0).values.sum().backward()
    torch = torch_or_skip()
    t = torch.tensor([1.0, 1.0, 0.0, 1.0], requires_grad=True)
    torch.cummax(t, 0).values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


def test_linalg_cross_is_exported():
    assert tn.linalg.cross is not None and tn.nn.functional.kron is tn.kron


ERRORS = [
    (lambda: tn.rot90(tn.ones(2, 3), 1, [0]), ValueError, "rotation dims == 2"),
    (lambda: tn.rot90(tn.ones(2, 3), 1, [1, -1]), ValueError, "rotation dims to be different"),
    (lambda: tn.rot90(tn.ones(3)), ValueError, "total dims >= 2"),
    (lambda: tn.rot90(tn.ones(2, 3), 1, [0, 2]), IndexError, "rot90"),
    (lambda: tn.fliplr(tn.ones(3)), ValueError, "fliplr"),
    (lambda: tn.flipud(tn.tensor(1.0)), ValueError, "flipud"),
    (lambda: tn.cross(tn.ones(2, 3), tn.ones(2, 2), dim=1), ValueError, "length 3"),
    (lambda: tn.linalg.cross(tn.ones(3, 2), tn.ones(3, 2)), ValueError, "length 3"),
    (lambda: tn.cross(tn.ones(2, 2), tn.ones(2, 2)), ValueError, "no dimension of size 3"),
    (lambda: tn.cross(tn.ones(3), tn.ones(2, 3)), ValueError, "same number of dimensions"),
    (lambda: tn.tensordot(tn.ones(2, 3), tn.ones(2, 2), dims=1), ValueError, "contracted dim"),
    (lambda: tn.tensordot(tn.ones(2, 3), tn.ones(3, 2), dims=-1), ValueError, "dims >= 0"),
    (lambda: tn.tensordot(tn.ones(2, 3), tn.ones(3, 2, dtype=tn.float64)), TypeError, "dtype"),
    (lambda: tn.tensordot(tn.ones(2, 3), tn.ones(3, 2), dims=([0, 1], [0])), ValueError,
     "same length"),
    (lambda: tn.diff(tn.tensor(1.0)), ValueError, "one-dimensional"),
    (lambda: tn.diff(tn.ones(3), n=-1), ValueError, "non-negative"),
    (lambda: tn.diff(tn.ones(2, 3), prepend=tn.ones(3)), ValueError, "prepend or append"),
    (lambda: tn.trapezoid(tn.ones(3), tn.ones(2)), ValueError, "one x value"),
    (lambda: tn.trapezoid(tn.ones(3), tn.ones(3), dx=1.0), TypeError, "x or dx"),
    (lambda: tn.histc(tn.tensor([1, 2])), TypeError, "floating-point"),
    (lambda: tn.histc(tn.ones(3), bins=0), ValueError, "bins"),
    (lambda: tn.histc(tn.ones(3), 4, 3, 1), ValueError, "max must be larger than min"),
    (lambda: tn.histc(tn.tensor([1.0, float("inf")])), ValueError, "not finite"),
    (lambda: tn.logcumsumexp(tn.tensor([1, 2]), 0), TypeError, "floating-point"),
    (lambda: tn.logcumsumexp(tn.ones(2), 1), IndexError, "logcumsumexp"),
    (lambda: tn.cummax(tn.ones(2), 2), IndexError, "cummax"),
    (lambda: tn.nanmean(tn.tensor([1, 2])), TypeError, "floating-point"),
    (lambda: tn.combinations(tn.ones(2, 2)), ValueError, "1-D"),
    (lambda: tn.combinations(tn.ones(3), r=-1), ValueError, "non-negative"),
    (lambda: tn.cartesian_prod(tn.ones(2), tn.tensor([1, 2])), TypeError, "same dtype"),
    (lambda: tn.cartesian_prod(tn.ones(2, 2)), ValueError, "1-D"),
    (lambda: tn.block_diag(tn.ones(1, 1, 1)), ValueError, "2 or fewer dimensions"),
    (lambda: tn.heaviside(tn.ones(2), tn.tensor([1])), TypeError, "same dtype"),
    (lambda: tn.isin(1, 2), TypeError, "isin"),
    (lambda: tn.gcd(tn.ones(2), tn.tensor([1, 2])), TypeError, "integer"),
    (lambda: tn.lcm(tn.tensor([1, 2]), tn.tensor([1, 2, 3])), ValueError, "broadcast"),
    (lambda: tn.cov(tn.ones(2, 2, 2)), ValueError, "two or fewer dimensions"),
    (lambda: tn.cov(tn.ones(2, 3), fweights=tn.ones(3)), TypeError, "fweights"),
    (lambda: tn.cov(tn.ones(2, 3), aweights=tn.ones(2)), ValueError, "aweights"),
    (lambda: tn.cov(tn.ones(2, 3), fweights=tn.tensor([1, -1, 1])), ValueError, "negative"),
    (lambda: tn.renorm(tn.ones(3), 2, 0, 1.0), ValueError, "at least 2 dimensions"),
    (lambda: tn.renorm(tn.ones(2, 3), 0, 0, 1.0), ValueError, "non-positive"),
    (lambda: tn.renorm(tn.ones(2, 3), 2, 0, -1.0), ValueError, "maxnorm"),
    (lambda: tn.addr(tn.ones(2, 2), tn.ones(2, 1), tn.ones(2)), ValueError, "1-D"),
    (lambda: tn.addmv(tn.ones(2), tn.ones(2, 3), tn.ones(2)), ValueError, "matmul"),
    (lambda: tn.addbmm(tn.ones(2, 2), tn.ones(2, 2), tn.ones(2, 2)), ValueError, "bmm"),
]


@pytest.mark.parametrize("index", range(len(ERRORS)))
def test_bad_arguments_are_refused_with_their_names(index):
    call, error, words = ERRORS[index]
    with pytest.raises(error, match=words):
        call()
