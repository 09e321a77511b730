"""The last of PyTorch's missing functions, each run against ``lib = torch`` and
``lib = tinynet`` and compared (values, dtypes, shapes, float64 gradients):
broadcast_tensors/shapes, atleast_nd, column_stack, dstack, h/v/dsplit, diag_embed,
unravel_index, scatter_reduce, aminmax, inner, dist, nanmedian, mode,
unique_consecutive; and the in-place random fills (checked by range and statistics)."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import ops
from gradcases import GradCase, run_case
from torch_parity import assert_parity, constant, torch_or_skip


def _scatter_reduce_case(reduce, include_self):
    index = np.array([[0, 1, 0, 2], [2, 2, 1, 0]])
    return GradCase(f"scatter_reduce_{reduce}_{include_self}",
                    lambda x, s: ops.scatter_reduce(x, 1, tn.tensor(index, device=x.device),
                                                    s, reduce, include_self=include_self),
                    lambda r: [r.standard_normal((2, 3)), r.standard_normal((2, 5))])


GRADCHECK_CASES = [_scatter_reduce_case(reduce, include_self)
                   for reduce in ("sum", "mean", "amax", "amin")
                   for include_self in (True, False)]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


def data(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------------------
# Broadcasting and shapes
# ---------------------------------------------------------------------------

def test_broadcast_tensors():
    assert_parity(lambda lib, a, b, c: lib.broadcast_tensors(a, b, c),
                  data(3, 1), data(4, seed=1), data(1, 1, 1, seed=2))
    assert_parity(lambda lib, a, b: lib.broadcast_tensors(a, b), data(0, 1), data(3, seed=1))


def test_broadcast_shapes():
    torch = torch_or_skip()
    for shapes in [((2, 1), (3,)), ((5, 1, 4), (1, 3, 1), ()), (3, (2, 1)), ((0, 1), (4,))]:
        ours, theirs = tn.broadcast_shapes(*shapes), torch.broadcast_shapes(*shapes)
        assert tuple(ours) == tuple(theirs) and isinstance(ours, tn.Size)
    with pytest.raises(ValueError, match="broadcast_shapes"):
        tn.broadcast_shapes((2, 3), (4,))
    with pytest.raises(ValueError, match="broadcast_tensors|broadcast_shapes"):
        tn.broadcast_tensors(tn.zeros(2), tn.zeros(3))


@pytest.mark.parametrize("name", ["atleast_1d", "atleast_2d", "atleast_3d"])
def test_atleast(name):
    for shape in [(), (3,), (2, 3), (2, 3, 4), (0,)]:
        assert_parity(lambda lib, a: getattr(lib, name)(a), data(*shape))
    assert_parity(lambda lib, a, b: getattr(lib, name)(a, b), data(), data(3, seed=1))
    assert_parity(lambda lib, a, b: getattr(lib, name)([a, b]), data(2), data(3, 2, seed=1))


def test_column_stack_and_dstack():
    assert_parity(lambda lib, a, b, c: lib.column_stack([a, b, c]),
                  data(3), data(3, 2, seed=1), data(3, seed=2))
    assert_parity(lambda lib, a, b: lib.column_stack((a, b)), data(), data(seed=1))
    assert_parity(lambda lib, a, b, c: lib.dstack([a, b, c]),
                  data(1, 3), data(3, seed=1), data(1, 3, 2, seed=2))
    assert_parity(lambda lib, a, b: lib.dstack([a, b]), data(), data(seed=1))
    with pytest.raises(ValueError, match="column_stack"):
        tn.column_stack([])
    with pytest.raises(TypeError, match="dstack"):
        tn.dstack(tn.zeros(3))


@pytest.mark.parametrize("name,shape", [("hsplit", (6,)), ("hsplit", (3, 6)),
                                        ("vsplit", (6, 2)), ("dsplit", (2, 3, 6))])
def test_direction_splits(name, shape):
    assert_parity(lambda lib, a: getattr(lib, name)(a, 3), data(*shape))
    assert_parity(lambda lib, a: getattr(lib, name)(a, [1, 4]), data(*shape))
    assert_parity(lambda lib, a: getattr(a, name)([-2, 10]), data(*shape))


def test_direction_split_errors():
    with pytest.raises(ValueError, match="hsplit.*not divisible"):
        tn.hsplit(tn.zeros(4, 4), 3)
    with pytest.raises(ValueError, match="hsplit.*at least 1 dimension"):
        tn.hsplit(tn.zeros(()), 1)
    with pytest.raises(ValueError, match="vsplit.*at least 2"):
        tn.vsplit(tn.zeros(4), 2)
    with pytest.raises(ValueError, match="dsplit.*at least 3"):
        tn.dsplit(tn.zeros(4, 4), 2)


@pytest.mark.parametrize("offset,dim1,dim2", [(0, -2, -1), (1, -2, -1), (-2, -2, -1),
                                              (0, 0, 2), (1, 2, 0), (-1, -1, 1)])
def test_diag_embed(offset, dim1, dim2):
    assert_parity(lambda lib, a: [lib.diag_embed(a, offset, dim1, dim2),
                                  a.diag_embed(offset=offset, dim1=dim1, dim2=dim2)],
                  data(2, 3))


def test_diag_embed_keeps_dtype_and_inf():
    x = np.array([[1, 2], [3, 4]])
    assert_parity(lambda lib, a: lib.diag_embed(a), x, grad=False)
    assert_parity(lambda lib, a: lib.diag_embed(a, 1), np.array([np.inf, 1.0]), grad=False)
    assert_parity(lambda lib, a: lib.diag_embed(a), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="diag_embed: dim1 and dim2"):
        tn.diag_embed(tn.zeros(2, 3), dim1=0, dim2=-3)


def test_unravel_index():
    indices = np.array([[0, 5, 11], [-1, 7, 23]])
    assert_parity(lambda lib, i: lib.unravel_index(i, (2, 3, 4)), indices, grad=False)
    assert_parity(lambda lib, i: lib.unravel_index(i, (4, 6)), np.array(13), grad=False)
    assert_parity(lambda lib, i: lib.unravel_index(i, 7), np.arange(5), grad=False)
    assert_parity(lambda lib, i: lib.unravel_index(i, (2, 3)), np.zeros(0, np.int64), grad=False)
    with pytest.raises(TypeError, match="indices"):
        tn.unravel_index(tn.tensor([1.0]), (2, 2))
    with pytest.raises(ValueError, match="shape"):
        tn.unravel_index(tn.tensor([1]), (2, -2))


# ---------------------------------------------------------------------------
# scatter_reduce
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce(reduce, include_self):
    index = constant(np.array([[0, 1, 0, 3], [2, 2, 1, 0], [3, 3, 3, 3]]))
    assert_parity(lambda lib, x, i, s: [lib.scatter_reduce(x, 1, i, s, reduce,
                                                           include_self=include_self),
                                        x.scatter_reduce(-1, i, s, reduce=reduce,
                                                         include_self=include_self)],
                  data(3, 5), index, data(3, 4, seed=1), grad=reduce != "prod")


@pytest.mark.parametrize("reduce", ["amax", "amin", "mean", "sum"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_ties_share_the_gradient(reduce, include_self):
    x = np.array([[1.0, 2.0, 3.0], [0.0, 5.0, 5.0]])
    src = np.array([[1.0, 1.0, 2.0, 3.0], [5.0, 0.0, 5.0, 5.0]])
    index = constant(np.array([[0, 0, 1, 2], [1, 0, 2, 2]]))
    assert_parity(lambda lib, a, i, s: lib.scatter_reduce(a, 1, i, s, reduce,
                                                          include_self=include_self),
                  x, index, src)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_integers_and_dim0(reduce, include_self):
    x = np.arange(12).reshape(4, 3) - 5
    src = np.array([[7, -3, 2], [-4, 9, 1], [6, 6, -8]])
    index = constant(np.array([[0, 1, 0], [0, 3, 1], [2, 1, 1]]))
    assert_parity(lambda lib, a, i, s: lib.scatter_reduce(a, 0, i, s, reduce,
                                                          include_self=include_self),
                  x, index, src, grad=False)


def test_scatter_reduce_empty_index_and_in_place():
    assert_parity(lambda lib, x, i, s: lib.scatter_reduce(x, 0, i, s, "amax"),
                  data(3), constant(np.zeros(0, np.int64)), data(0, seed=1))
    assert_parity(lambda lib, x, i, s: x.clone().scatter_reduce_(0, i, s, "sum"),
                  data(3), constant(np.array([2, 2, 0])), data(3, seed=1))


def test_scatter_reduce_errors():
    x, i = tn.zeros(3), tn.tensor([0, 1])
    with pytest.raises(ValueError, match="reduce"):
        tn.scatter_reduce(x, 0, i, tn.ones(2), "max")
    with pytest.raises(TypeError, match="src"):
        tn.scatter_reduce(x, 0, i, tn.ones(2, dtype=tn.float64), "sum")
    with pytest.raises(ValueError, match="index"):
        tn.scatter_reduce(x, 0, i, tn.ones(1), "sum")
    with pytest.raises(TypeError, match="index"):
        tn.scatter_reduce(x, 0, tn.tensor([0.0]), tn.ones(1), "sum")
    y = tn.scatter_reduce(tn.zeros(3, requires_grad=True), 0, i, tn.ones(2), "prod")
    with pytest.raises(NotImplementedError, match="prod"):
        y.sum().backward()


# ---------------------------------------------------------------------------
# Reductions and products
# ---------------------------------------------------------------------------

def test_aminmax():
    assert_parity(lambda lib, a: [lib.aminmax(a), lib.aminmax(a, keepdim=True),
                                  lib.aminmax(a, dim=1), a.aminmax(dim=-2, keepdim=True)],
                  data(3, 4))
    ties = np.array([[1.0, 3.0, 3.0], [1.0, 1.0, 2.0]])       # split among tied extremes
    assert_parity(lambda lib, a: [lib.aminmax(a), lib.aminmax(a, dim=1)], ties)
    assert_parity(lambda lib, a: lib.aminmax(a), data())
    assert_parity(lambda lib, a: lib.aminmax(a, dim=0), np.array([3, 1, 3]), grad=False)
    result = tn.aminmax(tn.tensor([1.0, 2.0]))
    assert result.min.item() == 1.0 and result.max.item() == 2.0
    with pytest.raises(ValueError, match="aminmax.*empty"):
        tn.aminmax(tn.zeros(0))


def test_inner():
    assert_parity(lambda lib, a, b: [lib.inner(a, b), a.inner(b)], data(4), data(4, seed=1))
    assert_parity(lambda lib, a, b: lib.inner(a, b), data(2, 3, 4), data(5, 4, seed=1))
    assert_parity(lambda lib, a, b: lib.inner(a, b), data(), data(2, 3, seed=1))
    assert_parity(lambda lib, a, b: lib.inner(a, b), data(2, 0), data(3, 0, seed=1))
    with pytest.raises(ValueError, match="inner"):
        tn.inner(tn.zeros(3), tn.zeros(4))


@pytest.mark.parametrize("p", [2, 1, 3, 0, float("inf"), float("-inf")])
def test_dist(p):
    assert_parity(lambda lib, a, b: [lib.dist(a, b, p), a.dist(b, p=p)], data(3, 4),
                  data(4, seed=1), grad=p != 0)


def test_dist_zero_difference_and_default():
    x = data(3)
    assert_parity(lambda lib, a, b: lib.dist(a, b), x, x.copy())
    assert_parity(lambda lib, a, b: lib.dist(a, b), data(0), data(0, seed=1))


# ---------------------------------------------------------------------------
# Order statistics and runs
# ---------------------------------------------------------------------------

def test_nanmedian():
    x = data(4, 5)
    x[0, 1] = x[2, 1:] = x[3, 0] = x[3, 3] = np.nan
    assert_parity(lambda lib, a: [lib.nanmedian(a, 1), a.nanmedian(dim=0, keepdim=True),
                                  lib.nanmedian(a, -1, True)], x)
    assert_parity(lambda lib, a: lib.nanmedian(a), x)
    # a slice of NaN only gives NaN (PyTorch's index for it is not specified)
    x[2, 0] = np.nan
    values = tn.nanmedian(tn.tensor(x), 1).values.numpy()
    assert np.isnan(values[2]) and not np.isnan(values[[0, 1, 3]]).any()
    assert_parity(lambda lib, a: [lib.nanmedian(a), lib.nanmedian(a, 0)], data(6))
    assert_parity(lambda lib, a: lib.nanmedian(a), np.full(3, np.nan), grad=False)
    assert_parity(lambda lib, a: lib.nanmedian(a), np.zeros(0), grad=False)
    assert_parity(lambda lib, a: lib.nanmedian(a, 0), np.array([4, 1, 3, 2]), grad=False)


def test_mode():
    ints = np.array([[1, 2, 2, 1, 3, 3], [3, 3, 1, 1, 0, 2], [5, 5, 5, 5, 5, 5]])
    assert_parity(lambda lib, a: [lib.mode(a), lib.mode(a, 0), a.mode(-1, keepdim=True)],
                  ints, grad=False)
    floats = np.array([[0.5, -1.0, 0.5, 2.0], [2.0, 2.0, -1.0, -1.0]])
    assert_parity(lambda lib, a: [lib.mode(a, 1), lib.mode(a, 0, True)], floats)
    assert_parity(lambda lib, a: lib.mode(a), np.array(3.0))
    assert_parity(lambda lib, a: lib.mode(a, 1), np.zeros((0, 3)), grad=False)


def test_unique_consecutive():
    x = np.array([1, 1, 2, 2, 3, 1, 1, 2])
    assert_parity(lambda lib, a: [lib.unique_consecutive(a),
                                  lib.unique_consecutive(a, return_inverse=True,
                                                         return_counts=True),
                                  a.unique_consecutive(return_counts=True)], x, grad=False)
    matrix = np.array([[1, 1], [2, 2], [2, 2], [1, 3], [1, 3]])
    assert_parity(lambda lib, a: [lib.unique_consecutive(a, return_inverse=True,
                                                         return_counts=True),
                                  lib.unique_consecutive(a, return_inverse=True, dim=0),
                                  lib.unique_consecutive(a, return_counts=True, dim=-1)],
                  matrix, grad=False)
    assert_parity(lambda lib, a: lib.unique_consecutive(a, return_inverse=True,
                                                        return_counts=True),
                  np.zeros((0, 2), np.int64), grad=False)
    assert_parity(lambda lib, a: lib.unique_consecutive(a), np.array([0.5, 0.5, -1.0]),
                  grad=False)


# ---------------------------------------------------------------------------
# In-place random fills: ranges and statistics with a seed
# ---------------------------------------------------------------------------

def test_random_fill_ranges():
    tn.manual_seed(0)
    x = tn.zeros(20000, dtype=tn.float64)
    values = x.random_(3, 9).numpy()
    assert x.dtype == tn.float64 and set(np.unique(values)) == set(range(3, 9))
    assert set(np.unique(x.random_(4).numpy())) == {0, 1, 2, 3}
    assert set(np.unique(tn.zeros(1000, dtype=tn.int64).random_(-2, 2).numpy())) == \
        {-2, -1, 0, 1}
    top = tn.zeros(1000, dtype=tn.float32).random_().numpy()
    assert top.min() >= 0 and top.max() <= 2 ** 24 and top.max() > 2 ** 20
    assert set(np.unique(tn.zeros(100, dtype=tn.bool).random_().numpy())) == {False, True}
    with pytest.raises(ValueError, match="random_.*from"):
        tn.zeros(3).random_(5, 3)


def test_random_fills_statistics():
    tn.manual_seed(1)
    n = 200000
    e = tn.zeros(n, dtype=tn.float64).exponential_(2.0).numpy()
    assert e.min() >= 0 and abs(e.mean() - 0.5) < 0.01
    g = tn.zeros(n, dtype=tn.float64).geometric_(0.25).numpy()
    assert g.min() >= 1 and np.all(g == np.round(g)) and abs(g.mean() - 4.0) < 0.05
    ln = tn.zeros(n, dtype=tn.float64).log_normal_(0.5, 0.25).numpy()
    assert ln.min() > 0 and abs(np.log(ln).mean() - 0.5) < 0.01 and \
        abs(np.log(ln).std() - 0.25) < 0.01
    c = tn.zeros(n, dtype=tn.float64).cauchy_(1.0, 2.0).numpy()
    assert abs(np.median(c) - 1.0) < 0.05
    assert abs(np.percentile(c, 75) - np.percentile(c, 25) - 4.0) < 0.1   # IQR = 2 sigma
    f = tn.zeros(10).exponential_()
    assert f.dtype == tn.float32 and f.shape == (10,)


def test_random_fills_are_seeded_and_checked():
    draws = []
    for _ in range(2):
        tn.manual_seed(123)
        draws.append(tn.zeros(50).cauchy_().numpy())
    np.testing.assert_array_equal(*draws)
    generator = tn.Generator().manual_seed(5)
    first = tn.zeros(20).exponential_(generator=generator).numpy()
    second = tn.zeros(20).exponential_(generator=tn.Generator().manual_seed(5)).numpy()
    np.testing.assert_array_equal(first, second)
    with pytest.raises(ValueError, match="exponential_.*lambda"):
        tn.zeros(3).exponential_(-1.0)
    with pytest.raises(ValueError, match="geometric_.*p"):
        tn.zeros(3).geometric_(1.5)
    with pytest.raises(ValueError, match="log_normal_.*std"):
        tn.zeros(3).log_normal_(0.0, 0.0)
    with pytest.raises(ValueError, match="cauchy_.*sigma"):
        tn.zeros(3).cauchy_(0.0, -1.0)
    with pytest.raises(RuntimeError, match="leaf"):
        tn.zeros(3, requires_grad=True).exponential_()
