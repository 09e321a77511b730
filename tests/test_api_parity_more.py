"""More of PyTorch's everyday object API, each item run against ``lib = torch`` and
``lib = tinynet`` and compared (values, dtypes, shapes, gradients): the trigonometric and
hyperbolic functions, erfinv, the compositions (logaddexp, xlogy, sinc, ...), the index
updates (index_add, index_copy, index_fill, masked_scatter), Tensor.unfold, mT/H, memory
queries, their in-place twins, Module.get_parameter/get_buffer/set_submodule and
tn.compile, can_cast, get/set_num_threads."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import ops
from gradcases import GradCase, run_case
from sample_arrays import normal
from torch_parity import assert_parity, constant, assert_same, torch_or_skip

GRADCHECK_CASES = [
    GradCase("trig", lambda a: ops.tan(a) + ops.asin(a) + ops.acos(a) + ops.atan(a)
             + ops.sinh(a) + ops.cosh(a) + ops.asinh(a) + ops.atanh(a) + ops.acosh(a + 2),
             lambda r: [r.uniform(-0.8, 0.8, (3, 4))]),
    GradCase("erfinv", ops.erfinv, lambda r: [r.uniform(-0.9, 0.9, (5,))]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


def unit(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-0.9, 0.9, shape)


def data(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


UNARY = ["tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "atanh", "arcsin", "arccos",
         "arctan", "arcsinh", "arctanh", "erfinv", "exp2", "sinc", "frac", "logit",
         "deg2rad", "rad2deg", "positive", "absolute", "fix", "sgn"]


@pytest.mark.parametrize("name", UNARY)
def test_unary_function_and_method(name):
    x = unit(3, 4) * 0.5 + 0.45 if name == "logit" else unit(3, 4)
    # torch's gradient of sgn is a ZeroTensor, which cannot become a NumPy array
    assert_parity(lambda lib, t: [getattr(lib, name)(t), getattr(t, name)()], x,
                  grad=name != "sgn")


def test_acosh_and_logit_eps():
    assert_parity(lambda lib, t: [lib.acosh(t + 2), lib.logit(t.sigmoid(), eps=0.3)],
                  data(3, 4))


@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2", "hypot", "xlogy", "copysign",
                                  "float_power"])
def test_binary_with_broadcasting(name):
    a, b = data(3, 4), np.abs(data(4, seed=1)) + 0.1
    if name == "copysign":   # tinynet's gradient reaches input only (PyTorch's is 0 for other)
        b = constant(-b)
    assert_parity(lambda lib, x, y: [getattr(lib, name)(x, y), getattr(x, name)(y)], a, b)


def test_integer_inputs_give_float_results():
    ints = np.array([-3, 0, 2, 5])
    assert_parity(lambda lib, t: [lib.tan(t), lib.exp2(t), lib.deg2rad(t), lib.sinc(t),
                                  lib.copysign(t, -t), lib.xlogy(t, t + 4),
                                  lib.float_power(t, 2),
                                  t.sgn()], ints, grad=False)


def test_edge_values():
    x = np.array([0.0, -0.0, 1.0, -1.0, 2.5, -2.5])
    assert_parity(lambda lib, t: [lib.sinc(t), lib.xlogy(lib.zeros(6, dtype=lib.float64), t),
                                  lib.copysign(lib.ones(6, dtype=lib.float64), t),
                                  lib.erfinv(t / 3), lib.atanh(t / 2.5)], x, grad=False)
    assert_parity(lambda lib, t: lib.sinc(t), np.array([0.0, 0.5, -1.5]))


def test_in_place_twins():
    def fn(lib, t):
        with lib.no_grad():
            a = t.clone()
            a.tan_().asin_().erfinv_().frac_()
            b = t.clone().mul_(0.5).add_(0.5)
            b.logit_()
            c = t.clone()
            c.hypot_(t).xlogy_(t.abs()).copysign_(-t).deg2rad_().cumsum_(1)
            d = t.clone().sgn_()
        return [a, b, c, d]
    assert_parity(fn, unit(3, 4), grad=False)


def test_in_place_keeps_the_dtype_rule():
    for lib in (tn, torch_or_skip()):
        with pytest.raises(RuntimeError):
            lib.tensor([1, 2]).deg2rad_()


def test_in_place_twins_in_the_graph():
    def fn(lib, t):
        a = t * 1.0
        a.sinh_()
        a.index_add_(0, lib.tensor([0, 2]), t[:2] * 2)
        return a
    assert_parity(fn, data(3, 4))


def test_index_updates():
    def fn(lib, x, src):
        index = lib.tensor([2, 0])
        return [x.index_add(0, index, src), x.index_add(0, lib.tensor([1, 1]), src, alpha=2),
                x.index_copy(0, index, src), x.index_fill(1, lib.tensor([0, 3]), -1.5),
                lib.index_add(x, 0, index, src), lib.index_fill(x, 0, index, lib.tensor(2.0)),
                x.t().index_copy(1, index, src.t())]
    assert_parity(fn, data(3, 4), data(2, 4, seed=1))


def test_masked_scatter():
    mask = np.array([[True, False, True, True], [False, False, True, False], [True] * 4])
    assert_parity(lambda lib, x, src: [x.masked_scatter(lib.tensor(mask), src),
                                       x.masked_scatter(lib.tensor(mask[0]), src)],
                  data(3, 4), data(4, 5, seed=1))


def test_index_update_errors_name_the_argument():
    x = tn.zeros(3, 4)
    with pytest.raises(TypeError, match="index"):
        x.index_add(0, tn.tensor([0.5]), tn.ones(1, 4))
    with pytest.raises(ValueError, match="source"):
        x.index_copy(0, tn.tensor([0, 1]), tn.ones(3, 4))
    with pytest.raises(ValueError, match="source"):
        x.masked_scatter(tn.ones(3, 4, dtype=tn.bool), tn.ones(5))
    with pytest.raises(TypeError, match="mask"):
        x.masked_scatter(tn.ones(3, 4), tn.ones(12))


def test_unfold_sliding_windows():
    assert_parity(lambda lib, x: [x.unfold(1, 3, 2), x.unfold(-1, 2, 1), x.unfold(0, 2, 1),
                                  x.unfold(2, 5, 5)], data(2, 3, 5))
    assert_parity(lambda lib, x: [x.unfold(0, 1, 1), x.unfold(0, 4, 3)],
                  np.arange(7), grad=False)


def test_unfold_errors_name_the_argument():
    with pytest.raises(RuntimeError, match="size is 6"):
        tn.zeros(5).unfold(0, 6, 1)
    with pytest.raises(RuntimeError, match="step"):
        tn.zeros(5).unfold(0, 2, 0)


def test_matrix_transposes_and_moves():
    assert_parity(lambda lib, x: [x.mT, x.mH, x[0].H, x.ravel(), lib.ravel(x),
                                  x.moveaxis(0, -1), lib.moveaxis(x, 2, 0),
                                  x.baddbmm(x, x, beta=0.5, alpha=2)], data(2, 3, 3))
    with pytest.raises(RuntimeError, match="1-D"):
        tn.zeros(3).mT


def test_memory_and_device_queries():
    torch = torch_or_skip()
    arrays = [data(2, 3, 4), np.arange(6).reshape(2, 3), np.zeros(5, dtype=np.float16),
              np.array([True])]
    for a in arrays:
        ours, theirs = tn.tensor(a), torch.tensor(a)
        for t_ours, t_theirs in [(ours, theirs), (ours.transpose(0, -1), theirs.transpose(0, -1))]:
            assert t_ours.stride() == t_theirs.stride()
            assert t_ours.stride(-1) == t_theirs.stride(-1)
        assert ours.nbytes == theirs.nbytes and ours.itemsize == theirs.itemsize
        assert ours.is_signed() == theirs.is_signed() and ours.is_cpu == theirs.is_cpu
        assert ours.get_device() == theirs.get_device()
        assert ours.is_same_size(ours) and not ours.is_same_size(tn.zeros(7))
        assert ours.is_pinned() is False and ours.pin_memory() is ours
        assert ours.share_memory_() is ours and isinstance(ours.data_ptr(), int)
    assert_same([tn.tensor([0.0]).is_nonzero(), tn.tensor([[3]]).is_nonzero()],
                [torch.tensor([0.0]).is_nonzero(), torch.tensor([[3]]).is_nonzero()], 0, 0)
    with pytest.raises(RuntimeError, match="2 elements"):
        tn.zeros(2).is_nonzero()


def test_apply_and_map():
    def fn(lib, x, y):
        a = x.clone()
        a.apply_(lambda v: v * 2 + 1)
        b = x.clone()
        b.map_(y, lambda v, w: v - w)
        return [a, b]
    assert_parity(fn, data(3, 4), data(4, seed=1), grad=False)
    leaf = tn.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="apply_"):
        leaf.apply_(lambda v: v)


# ---------------------------------------------------------------------------
# Module and top-level functions
# ---------------------------------------------------------------------------

def _net(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2),
                         nn.Sequential(nn.Flatten(), nn.Linear(8, 3)))


def test_module_get_parameter_buffer_set_submodule():
    torch = torch_or_skip()

    def fn(lib):
        net = _net(lib)
        out = [tuple(net.get_parameter("2.1.weight").shape), tuple(net.get_buffer("1.running_var").shape),
               type(net.get_submodule("2.0")).__name__]
        net.set_submodule("2.1", lib.nn.Linear(8, 5))
        out.append(tuple(net[2][1].weight.shape))
        out.append(net.share_memory() is net)
        out.append(net.compile())
        out.append(net.to_empty(device="cpu") is net)
        return out
    assert_same(fn(tn), fn(torch), 0, 0)
    net = _net(tn)
    with pytest.raises(AttributeError, match="bias2"):
        net.get_parameter("0.bias2")
    with pytest.raises(AttributeError, match="running_max"):
        net.get_buffer("1.running_max")
    with pytest.raises(AttributeError, match="7"):
        net.set_submodule("7.1", tn.nn.ReLU())


def test_top_level_functions():
    torch = torch_or_skip()

    def fn(lib):
        f = lib.compile(lambda x: x * 2)
        decorated = lib.compile(mode="reduce-overhead")(lambda x: x + 1)
        model = lib.nn.Linear(2, 2)
        return [f(lib.tensor([1.0, 2.0])), decorated(lib.tensor([1])),
                lib.can_cast(lib.float32, lib.int32), lib.can_cast(lib.int32, lib.float16),
                lib.can_cast(lib.bool, lib.uint8), lib.can_cast(lib.int64, lib.bool),
                lib.can_cast(lib.float64, lib.float16)]
    assert_same(fn(tn), fn(torch), 0, 0)
    assert tn.compile(tn.nn.Linear(2, 2)).__class__.__name__ == "Linear"
    before = tn.get_num_threads()
    tn.set_num_threads(1)
    assert tn.get_num_threads() == 1
    tn.set_num_threads(before)
    with pytest.raises(ValueError, match="0"):
        tn.set_num_threads(0)
