"""Mixed precision: ``tn.autocast`` and ``tn.amp.GradScaler`` (tinynet/amp/).

autocast, op by op.  ``OP_CASES`` calls every op of autocast's table
(``tn.amp.POLICY``) and the common ops outside it, each the same way in
tinynet and in PyTorch, with float32 inputs, float16 inputs, and a float16
input beside float32 weights:

* on the CPU, against ``torch.autocast("cpu", dtype=torch.float16)``: the
  dtypes of the output and of every input's gradient, and the values;
* on each device (the GPU one on the strict CuPy stand-in in CI), against the
  table itself: the output dtype each category promises, the op's own dtype
  for ops outside the table (an op built from an autocast op must not change
  its dtype), float64 inputs untouched.

GradScaler, against ``torch.amp.GradScaler("cpu")`` on the same steps with inf
and NaN gradients injected: the same scales, the same skipped steps, the same
weights; its state dict in PyTorch's layout, both ways.  Then a small ResUNet
trained under autocast float16 with a GradScaler ends close to the float32 run,
its weights and gradients float32 throughout, and a GPU step reads one value
from the device.
"""
import threading
import warnings
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable, Optional

import numpy as np
import pytest

import tinynet as tn
from tinynet import backend
from tinynet.amp.autocast_mode import FLOAT32, FLOAT32_INSIDE, LOWER, POLICY, UNSAFE, WIDEST

from gradcases import functions_in_graph, graph_nodes

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
DEVICES = ["cpu", pytest.param("gpu", marks=pytest.mark.gpu)]
COLUMN = {"gpu": 0, "cpu": 1}             # POLICY's rows: (on the GPU, on the CPU)


# -- the op cases ------------------------------------------------------------------------------

def normal(*shape):
    return lambda rng: rng.standard_normal(shape)


def positive(*shape):
    return lambda rng: rng.uniform(0.5, 1.5, shape)


def probability(*shape):
    return lambda rng: rng.uniform(0.05, 0.95, shape)


def labels(high, *shape):
    return lambda rng: rng.integers(0, high, shape)


def mask(*shape):
    return lambda rng: rng.random(shape) > 0.5


@dataclass
class Constant:
    """A float32 input that takes no part in the dtype combinations (running statistics)."""
    make: Callable


@dataclass
class OpCase:
    """``call(L, *inputs)``: L.T is ``tn`` or ``torch``, L.F their functional module.

    ``policy``: the op's row of POLICY (None: not in the table).  ``torch_call``:
    PyTorch's spelling where it differs; ``torch=False`` for tinynet's own ops.
    """
    id: str
    policy: Optional[str]
    call: Callable
    inputs: list
    torch_call: Optional[Callable] = None
    torch: bool = True

    def __str__(self):
        return self.id


def _bn_eval(L, x, w, b, rm, rv):
    return L.F.batch_norm(x, rm, rv, w, b, training=False)


OP_CASES = [
    # the autocast table, row by row
    OpCase("conv2d", "conv2d", lambda L, x, w, b: L.F.conv2d(x, w, b, padding=1),
           [normal(2, 3, 5, 5), normal(4, 3, 3, 3), normal(4)]),
    OpCase("conv_transpose2d", "conv_transpose2d",
           lambda L, x, w, b: L.F.conv_transpose2d(x, w, b, stride=2),
           [normal(2, 3, 4, 4), normal(3, 4, 3, 3), normal(4)]),
    OpCase("linear", "linear", lambda L, x, w, b: L.F.linear(x, w, b),
           [normal(5, 6), normal(3, 6), normal(3)]),
    OpCase("matmul", "matmul", lambda L, a, b: L.T.matmul(a, b), [normal(2, 3, 4), normal(4, 5)]),
    OpCase("x @ y", "matmul", lambda L, a, b: a @ b, [normal(3, 4), normal(4, 5)]),
    OpCase("mm", "mm", lambda L, a, b: L.T.mm(a, b), [normal(3, 4), normal(4, 5)]),
    OpCase("bmm", "bmm", lambda L, a, b: L.T.bmm(a, b), [normal(2, 3, 4), normal(2, 4, 5)]),
    OpCase("einsum", "einsum", lambda L, a, b: L.T.einsum("bij,bjk->bik", a, b),
           [normal(2, 3, 4), normal(2, 4, 5)]),
    OpCase("mv", "mv", lambda L, a, v: L.T.mv(a, v), [normal(3, 4), normal(4)]),
    OpCase("dot", "dot", lambda L, a, b: L.T.dot(a, b), [normal(5), normal(5)]),
    OpCase("exp", "exp", lambda L, x: L.T.exp(x), [normal(3, 4)]),
    OpCase("expm1", "expm1", lambda L, x: L.T.expm1(x), [normal(3, 4)]),
    OpCase("log", "log", lambda L, x: L.T.log(x), [positive(3, 4)]),
    OpCase("log2", "log2", lambda L, x: L.T.log2(x), [positive(3, 4)]),
    OpCase("log10", "log10", lambda L, x: L.T.log10(x), [positive(3, 4)]),
    OpCase("log1p", "log1p", lambda L, x: L.T.log1p(x), [positive(3, 4)]),
    OpCase("reciprocal", "reciprocal", lambda L, x: L.T.reciprocal(x), [positive(3, 4)]),
    OpCase("rsqrt", "rsqrt", lambda L, x: L.T.rsqrt(x), [positive(3, 4)]),
    OpCase("pow", "pow", lambda L, x, y: L.T.pow(x, y), [positive(3, 4), normal(3, 4)]),
    OpCase("x ** 2", "pow", lambda L, x: x ** 2, [normal(3, 4)]),
    OpCase("2 ** x", "pow", lambda L, x: 2 ** x, [normal(3, 4)]),
    OpCase("1 / x", "__rtruediv__", lambda L, x: 1 / x, [positive(3, 4)]),
    OpCase("softplus", "softplus", lambda L, x: L.F.softplus(x), [normal(3, 4)]),
    OpCase("logsigmoid", "logsigmoid", lambda L, x: L.F.logsigmoid(x), [normal(3, 4)]),
    OpCase("softmax", "softmax", lambda L, x: L.F.softmax(x, 1), [normal(3, 4)]),
    OpCase("log_softmax", "log_softmax", lambda L, x: L.F.log_softmax(x, 1), [normal(3, 4)]),
    OpCase("logsumexp", "logsumexp", lambda L, x: L.T.logsumexp(x, 1), [normal(3, 4)]),
    OpCase("sum", "sum", lambda L, x: L.T.sum(x), [normal(3, 4)]),
    OpCase("x.sum(1)", "sum", lambda L, x: x.sum(1), [normal(3, 4)]),
    OpCase("cumsum", "cumsum", lambda L, x: L.T.cumsum(x, 0), [normal(3, 4)]),
    OpCase("cumprod", "cumprod", lambda L, x: L.T.cumprod(x, 1), [positive(3, 4)]),
    OpCase("prod", "prod", lambda L, x: L.T.prod(x, 1), [positive(3, 4)]),
    OpCase("trace", "trace", lambda L, x: L.T.trace(x), [normal(4, 4)]),
    OpCase("norm", "norm", lambda L, x: L.T.norm(x), [normal(3, 4)]),
    OpCase("linalg.vector_norm", "norm", lambda L, x: L.T.linalg.vector_norm(x, dim=1),
           [normal(3, 4)]),
    OpCase("normalize", "normalize", lambda L, x: L.F.normalize(x, dim=1), [normal(3, 4)]),
    OpCase("cosine_similarity", "cosine_similarity",
           lambda L, a, b: L.F.cosine_similarity(a, b, dim=1), [normal(3, 4), normal(3, 4)]),
    OpCase("layer_norm", "layer_norm", lambda L, x, w, b: L.F.layer_norm(x, (6,), w, b),
           [normal(4, 6), normal(6), normal(6)]),
    OpCase("group_norm", "group_norm", lambda L, x, w, b: L.F.group_norm(x, 2, w, b),
           [normal(2, 4, 3, 3), normal(4), normal(4)]),
    OpCase("instance_norm", "instance_norm",
           lambda L, x, w, b: L.F.instance_norm(x, weight=w, bias=b),
           [normal(2, 4, 3, 3), normal(4), normal(4)]),
    OpCase("batch_norm", "batch_norm",
           lambda L, x, w, b: L.F.batch_norm(x, None, None, w, b, training=True),
           [normal(4, 3, 2, 2), normal(3), normal(3)]),
    OpCase("batch_norm eval", "batch_norm", _bn_eval,
           [normal(4, 3, 2, 2), normal(3), normal(3), Constant(normal(3)),
            Constant(positive(3))]),
    OpCase("sync_batch_norm", "sync_batch_norm",
           lambda L, x, w, b: L.F.sync_batch_norm(x, None, None, w, b),
           [normal(4, 3, 2, 2), normal(3), normal(3)],
           torch_call=lambda L, x, w, b: L.F.batch_norm(x, None, None, w, b, training=True)),
    OpCase("interpolate", "interpolate", lambda L, x: L.F.interpolate(x, scale_factor=2),
           [normal(1, 2, 3, 3)]),
    OpCase("interpolate bilinear", "interpolate",
           lambda L, x: L.F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
           [normal(1, 2, 3, 3)]),
    OpCase("upsample_nearest2d", "upsample_nearest2d",
           lambda L, x: L.F.upsample_nearest2d(x, 2), [normal(1, 2, 3, 3)],
           torch_call=lambda L, x: L.F.interpolate(x, scale_factor=2)),
    OpCase("cross_entropy", "cross_entropy", lambda L, x, t: L.F.cross_entropy(x, t),
           [normal(4, 3), labels(3, 4)]),
    OpCase("nll_loss", "nll_loss", lambda L, x, t: L.F.nll_loss(x, t), [normal(4, 3), labels(3, 4)]),
    OpCase("kl_div", "kl_div", lambda L, x, t: L.F.kl_div(x, t, reduction="batchmean"),
           [normal(4, 3), probability(4, 3)]),
    OpCase("binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits",
           lambda L, x, t: L.F.binary_cross_entropy_with_logits(x, t),
           [normal(4, 3), probability(4, 3)]),
    OpCase("binary_cross_entropy", "binary_cross_entropy",
           lambda L, p, t: L.F.binary_cross_entropy(p, t), [probability(4, 3), probability(4, 3)]),
    OpCase("mse_loss", "mse_loss", lambda L, x, t: L.F.mse_loss(x, t), [normal(4, 3), normal(4, 3)]),
    OpCase("l1_loss", "l1_loss", lambda L, x, t: L.F.l1_loss(x, t), [normal(4, 3), normal(4, 3)]),
    OpCase("smooth_l1_loss", "smooth_l1_loss", lambda L, x, t: L.F.smooth_l1_loss(x, t),
           [normal(4, 3), normal(4, 3)]),
    OpCase("huber_loss", "huber_loss", lambda L, x, t: L.F.huber_loss(x, t),
           [normal(4, 3), normal(4, 3)]),
    OpCase("dice_loss", "dice_loss", lambda L, p, t: L.F.dice_loss(p, t),
           [probability(2, 1, 4, 4), probability(2, 1, 4, 4)], torch=False),
    OpCase("tversky_loss", "tversky_loss", lambda L, x, t: L.F.tversky_loss(x, t, from_logits=True),
           [normal(2, 1, 4, 4), probability(2, 1, 4, 4)], torch=False),
    OpCase("focal_tversky_loss", "focal_tversky_loss",
           lambda L, x, t: L.F.focal_tversky_loss(x, t, from_logits=True),
           [normal(2, 1, 4, 4), probability(2, 1, 4, 4)], torch=False),
    OpCase("index_put", "index_put", lambda L, x, i, v: L.T.index_put(x, (i,), v),
           [normal(5, 3), labels(5, 2), normal(2, 3)]),
    OpCase("scatter_add", "scatter_add", lambda L, x, i, s: L.T.scatter_add(x, 0, i, s),
           [normal(4, 3), labels(4, 2, 3), normal(2, 3)]),
    # ops outside the table: in their inputs' dtypes, with ordinary type promotion
    OpCase("add", None, lambda L, x, y: x + y, [normal(3, 4), normal(3, 4)]),
    OpCase("mul", None, lambda L, x, y: L.T.mul(x, y), [normal(3, 4), normal(4)]),
    OpCase("div", None, lambda L, x, y: x / y, [normal(3, 4), positive(3, 4)]),
    OpCase("sub", None, lambda L, x, y: x - y, [normal(3, 4), normal(3, 4)]),
    OpCase("maximum", None, lambda L, x, y: L.T.maximum(x, y), [normal(3, 4), normal(3, 4)]),
    OpCase("where", None, lambda L, c, x, y: L.T.where(c, x, y),
           [mask(3, 4), normal(3, 4), normal(3, 4)]),
    OpCase("lerp", None, lambda L, x, y: L.T.lerp(x, y, 0.3), [normal(3, 4), normal(3, 4)]),
    OpCase("outer", None, lambda L, x, y: L.T.outer(x, y), [normal(3), normal(4)]),
    OpCase("masked_fill", None, lambda L, x, m: x.masked_fill(m, 0.5), [normal(3, 4), mask(3, 4)]),
    OpCase("neg", None, lambda L, x: -x, [normal(3, 4)]),
    OpCase("abs", None, lambda L, x: L.T.abs(x), [normal(3, 4)]),
    OpCase("sqrt", None, lambda L, x: L.T.sqrt(x), [positive(3, 4)]),
    OpCase("square", None, lambda L, x: L.T.square(x), [normal(3, 4)]),
    OpCase("sin", None, lambda L, x: L.T.sin(x), [normal(3, 4)]),
    OpCase("cos", None, lambda L, x: L.T.cos(x), [normal(3, 4)]),
    OpCase("clamp", None, lambda L, x: L.T.clamp(x, -0.5, 0.5), [normal(3, 4)]),
    OpCase("relu", None, lambda L, x: L.F.relu(x), [normal(3, 4)]),
    OpCase("relu6", None, lambda L, x: L.F.relu6(x), [normal(3, 4)]),
    OpCase("leaky_relu", None, lambda L, x: L.F.leaky_relu(x), [normal(3, 4)]),
    OpCase("elu", None, lambda L, x: L.F.elu(x), [normal(3, 4)]),
    OpCase("gelu", None, lambda L, x: L.F.gelu(x), [normal(3, 4)]),
    OpCase("silu", None, lambda L, x: L.F.silu(x), [normal(3, 4)]),
    OpCase("hardtanh", None, lambda L, x: L.F.hardtanh(x), [normal(3, 4)]),
    OpCase("sigmoid", None, lambda L, x: L.T.sigmoid(x), [normal(3, 4)]),
    OpCase("tanh", None, lambda L, x: L.T.tanh(x), [normal(3, 4)]),
    OpCase("mean", None, lambda L, x: L.T.mean(x, 1), [normal(3, 4)]),
    OpCase("var", None, lambda L, x: L.T.var(x, 1), [normal(3, 4)]),
    OpCase("std", None, lambda L, x: L.T.std(x), [normal(3, 4)]),
    OpCase("amax", None, lambda L, x: L.T.amax(x, 1), [normal(3, 4)]),
    OpCase("max", None, lambda L, x: L.T.max(x), [normal(3, 4)]),
    OpCase("max_pool2d", None, lambda L, x: L.F.max_pool2d(x, 2), [normal(1, 2, 4, 4)]),
    OpCase("avg_pool2d", None, lambda L, x: L.F.avg_pool2d(x, 2), [normal(1, 2, 4, 4)]),
    OpCase("adaptive_avg_pool2d", None, lambda L, x: L.F.adaptive_avg_pool2d(x, 1),
           [normal(1, 2, 4, 4)]),
    OpCase("dropout", None, lambda L, x: L.F.dropout(x, 0.5, training=False), [normal(3, 4)]),
    OpCase("cat", None, lambda L, x, y: L.T.cat([x, y]), [normal(2, 3), normal(1, 3)]),
    OpCase("stack", None, lambda L, x, y: L.T.stack([x, y]), [normal(2, 3), normal(2, 3)]),
    OpCase("pad", None, lambda L, x: L.F.pad(x, (1, 1)), [normal(2, 3)]),
    OpCase("transpose", None, lambda L, x: x.transpose(0, 1), [normal(2, 3)]),
    OpCase("reshape", None, lambda L, x: x.reshape(3, 2), [normal(2, 3)]),
    OpCase("flip", None, lambda L, x: L.T.flip(x, (0,)), [normal(2, 3)]),
    OpCase("gather", None, lambda L, x, i: L.T.gather(x, 1, i), [normal(3, 4), labels(4, 3, 2)]),
    OpCase("index_select", None, lambda L, x, i: L.T.index_select(x, 0, i),
           [normal(4, 3), labels(4, 2)]),
    OpCase("embedding", None, lambda L, i, w: L.F.embedding(i, w), [labels(5, 3), normal(5, 2)]),
]


def _libraries(torch):
    return SimpleNamespace(T=torch, F=torch.nn.functional)


TN = SimpleNamespace(T=tn, F=tn.nn.functional)


def _arrays(case, seed=0):
    rng = np.random.default_rng(seed)
    return [x.make(rng) if isinstance(x, Constant) else x(rng) for x in case.inputs], \
        [isinstance(x, Constant) for x in case.inputs]


def _float_positions(arrays, constants):
    return [i for i, (a, c) in enumerate(zip(arrays, constants)) if a.dtype.kind == "f" and not c]


def dtype_combinations(case):
    """All float32; all float16; a float16 input beside float32 weights (if any)."""
    arrays, constants = _arrays(case)
    n = len(_float_positions(arrays, constants))
    combos = [(F32,) * n, (F16,) * n]
    if n > 1:
        combos.append((F16,) + (F32,) * (n - 1))
    return combos


def make_inputs(case, dtypes, make_tensor):
    """The case's inputs: float ones in ``dtypes`` (in order) requiring grad, constants
    float32, others (labels, masks) as they are.  Returns (inputs, the float inputs)."""
    arrays, constants = _arrays(case)
    dtypes, inputs, floats = iter(dtypes), [], []
    for array, constant in zip(arrays, constants):
        if constant:
            inputs.append(make_tensor(array.astype(np.float32), False))
        elif array.dtype.kind == "f":
            inputs.append(make_tensor(array.astype(next(dtypes)), True))
            floats.append(inputs[-1])
        else:
            inputs.append(make_tensor(array, False))
    return inputs, floats


def run_tinynet(case, dtypes, device="cpu", autocast_device=None):
    """(output, float inputs) of the case in tinynet, backward done on output.float().sum()."""
    def make(array, grad):
        return tn.tensor(array, requires_grad=grad, device=device)
    inputs, floats = make_inputs(case, dtypes, make)
    with tn.autocast(autocast_device or device):
        out = case.call(TN, *inputs)
    out.float().sum().backward()
    return out, floats


def run_torch(torch, case, dtypes):
    def make(array, grad):
        return torch.tensor(array, requires_grad=grad)
    inputs, floats = make_inputs(case, dtypes, make)
    with torch.autocast("cpu", dtype=torch.float16):
        out = (case.torch_call or case.call)(_libraries(torch), *inputs)
    out.float().sum().backward()
    return out, floats


def host(tensor):
    return backend.to_numpy(tensor.data).astype(np.float64)


def assert_close_in_float16(actual, expected, what):
    """Within float16 rounding of a few operations, relative to the largest value."""
    scale = max(1.0, float(np.abs(expected).max()) if expected.size else 1.0)
    np.testing.assert_allclose(actual, expected, rtol=2e-2, atol=2e-2 * scale, err_msg=what)


# -- autocast against torch.autocast on the CPU ---------------------------------------------------

@pytest.mark.parametrize("case", [c for c in OP_CASES if c.torch], ids=str)
def test_autocast_matches_torch_autocast_on_the_cpu(case, torch):
    """Output dtype, each input's gradient dtype, and the values, for each dtype combination
    PyTorch accepts (it refuses some mixes outside its lists: lerp, index_put)."""
    compared = 0
    for dtypes in dtype_combinations(case):
        try:
            expected, expected_inputs = run_torch(torch, case, dtypes)
        except RuntimeError:            # float32 constants (running statistics) make a mix
            mixed = set(dtypes) | ({F32} if any(isinstance(x, Constant) for x in case.inputs)
                                   else set())
            assert len(mixed) > 1, f"torch refused {case} with inputs all {dtypes[0]}"
            continue
        out, inputs = run_tinynet(case, dtypes)
        what = f"{case} with inputs {[d.name for d in dtypes]}"
        assert out.dtype == np.dtype(str(expected.dtype).replace("torch.", "")), what
        assert_close_in_float16(host(out), expected.detach().double().numpy(), what)
        for x, ex in zip(inputs, expected_inputs):
            assert x.grad.dtype == x.dtype, what             # PyTorch's too:
            assert np.dtype(str(ex.grad.dtype).replace("torch.", "")) == x.dtype, what
            assert_close_in_float16(host(x.grad), ex.grad.double().numpy(), what + ", gradient")
        compared += 1
    assert compared >= 2


# -- autocast against its own table, on each device ---------------------------------------------

def expected_dtype(case, dtypes, device):
    """The output dtype POLICY promises for ``case`` on ``device``; outside the table (and
    for None), the op's own dtype without autocast."""
    policy = POLICY[case.policy][COLUMN[device]] if case.policy else None
    if policy == LOWER:
        return F16
    if policy == FLOAT32:
        return F32
    if policy == FLOAT32_INSIDE:
        return dtypes[0]
    if policy == WIDEST:
        return F32 if F32 in dtypes else F16
    inputs, _ = make_inputs(case, dtypes, lambda a, g: tn.tensor(a, requires_grad=g, device=device))
    return case.call(TN, *inputs).dtype


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", OP_CASES, ids=str)
def test_each_op_follows_the_table(case, device):
    unsafe = case.policy and POLICY[case.policy][COLUMN[device]] == UNSAFE
    for dtypes in dtype_combinations(case):
        what = f"{case} on the {device} with inputs {[d.name for d in dtypes]}"
        if unsafe:
            with pytest.raises(RuntimeError, match="binary_cross_entropy_with_logits"):
                run_tinynet(case, dtypes, device)
            continue
        out, inputs = run_tinynet(case, dtypes, device)
        assert out.dtype == expected_dtype(case, dtypes, device), what
        assert all(x.grad.dtype == x.dtype for x in inputs), what
        assert np.isfinite(host(out)).all(), what


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", OP_CASES, ids=str)
def test_autocast_leaves_float64_alone(case, device):
    """PyTorch's autocast casts float16 and float32 only: float64 runs as without it."""
    if case.policy and POLICY[case.policy][COLUMN[device]] == UNSAFE:
        return                                # refused whatever the dtype, as by PyTorch
    n = len(dtype_combinations(case)[0])
    out, inputs = run_tinynet(case, (F64,) * n, device)
    plain, _ = run_tinynet(case, (F64,) * n, device, autocast_device="gpu" if device == "cpu"
                           else "cpu")       # autocast on for the other device only
    assert out.dtype == plain.dtype
    np.testing.assert_array_equal(host(out), host(plain))
    assert all(x.grad.dtype == F64 for x in inputs)


def test_every_row_of_the_table_is_an_autocast_op_with_a_case():
    covered = {case.policy for case in OP_CASES}
    assert set(POLICY) <= covered, sorted(set(POLICY) - covered)
    for name in POLICY:
        op = getattr(tn.Tensor, name) if name.startswith("__") else getattr(tn.ops, name)
        assert hasattr(op, "__wrapped__"), f"{name} is in POLICY but not decorated"
        assert POLICY[name][0] in (LOWER, FLOAT32, FLOAT32_INSIDE, WIDEST, UNSAFE, None)


@pytest.mark.parametrize("name, arguments", [
    ("conv2d", [(2, 3, 5, 5), (4, 3, 3, 3), (4,)]),
    ("linear", [(5, 6), (3, 6), (3,)]),
    ("softmax", [(3, 4)]),
    ("batch_norm", [(4, 3, 2, 2)]),
    ("cross_entropy", [(4, 3)]),
])
def test_gradients_are_right_inside_autocast(name, arguments):
    """tn.gradcheck (float64) passes inside autocast, which leaves float64 alone."""
    rng = np.random.default_rng(0)
    inputs = [tn.tensor(rng.standard_normal(s), requires_grad=True) for s in arguments]
    extra = {"softmax": (1,), "batch_norm": (None, None), "cross_entropy": (tn.tensor([0, 2, 1, 0]),)}
    op = getattr(tn.ops, name)
    kwargs = {"training": True} if name == "batch_norm" else {}
    with tn.autocast("cpu"):
        assert tn.gradcheck(lambda *xs: op(*xs, *extra.get(name, ()), **kwargs), inputs)


# -- what autocast casts, and what it keeps float32 ----------------------------------------------

def small_convnet():
    return tn.nn.Sequential(tn.nn.Conv2d(3, 8, 3, padding=1), tn.nn.BatchNorm2d(8), tn.nn.ReLU(),
                            tn.nn.Conv2d(8, 2, 1))


@pytest.mark.parametrize("device", DEVICES)
def test_float32_weights_get_float32_gradients_close_to_the_float32_ones(device):
    x = tn.tensor(np.random.default_rng(0).standard_normal((4, 3, 8, 8)), dtype=tn.float32,
                  device=device)
    target = tn.tensor(np.random.default_rng(1).integers(0, 2, (4, 8, 8)), device=device)
    model = small_convnet().to(device)
    grads = {}
    for mixed in (False, True):
        model.zero_grad()
        with tn.autocast(device, enabled=mixed):
            logits = model(x)
            loss = tn.ops.cross_entropy(logits, target)
        assert logits.dtype == (F16 if mixed else F32) and loss.dtype == F32
        loss.backward()
        grads[mixed] = {name: p.grad for name, p in model.named_parameters()}
    largest = max(np.abs(host(g)).max() for g in grads[False].values())
    for name, p in model.named_parameters():
        assert p.dtype == F32 and grads[True][name].dtype == F32, name
        np.testing.assert_allclose(host(grads[True][name]), host(grads[False][name]), rtol=0,
                                   atol=1e-2 * largest, err_msg=name)
    assert all(b.dtype == F32 for b in model.buffers() if b.dtype.kind == "f")


def test_inside_an_autocast_op_its_inner_ops_are_not_autocast():
    """linear is autocast as one op: two casts (weight, bias) and a float16 bias add, not
    a second round of casts by the matmul inside it."""
    x = tn.randn(5, 6, dtype=tn.float16, requires_grad=True)
    w, b = tn.randn(3, 6, requires_grad=True), tn.randn(3, requires_grad=True)
    with tn.autocast("cpu"):
        y = tn.ops.linear(x, w, b)
    casts = [fn for fn in graph_nodes(y) if type(fn).__name__ == "AsType"]
    assert len(casts) == 2 and y.dtype == F16
    assert {cls.__name__ for cls in functions_in_graph(y)} >= {"MatMul", "Add"}


def test_autocast_acts_on_its_device_only():
    x, w = tn.randn(2, 3, 5, 5), tn.randn(4, 3, 3, 3)
    with tn.autocast("gpu"):                 # no GPU needed: these are CPU tensors
        assert tn.ops.conv2d(x, w).dtype == F32
        assert tn.ops.softmax(x.half(), 1).dtype == F16
    with tn.autocast("cuda"):
        assert tn.amp.is_autocast_enabled("gpu") and not tn.amp.is_autocast_enabled("cpu")


@pytest.mark.gpu
def test_cpu_autocast_leaves_gpu_tensors_alone():
    x, w = tn.randn(2, 3, 5, 5, device="gpu"), tn.randn(4, 3, 3, 3, device="gpu")
    with tn.autocast("cpu"):
        assert tn.ops.conv2d(x, w).dtype == F32
    with tn.autocast("gpu"), tn.autocast("cpu"):
        assert tn.ops.conv2d(x, w).dtype == F16
        assert tn.ops.conv2d(x.cpu(), w.cpu()).dtype == F16


def test_nesting_disabling_decorating_and_restoring():
    x, w = tn.randn(3, 4), tn.randn(4, 2)
    region = tn.autocast("cpu")
    with region:
        assert (x @ w).dtype == F16
        with tn.autocast("cpu", enabled=False):
            assert (x @ w).dtype == F32 and not tn.amp.is_autocast_enabled("cpu")
        with region:                          # the same object, entered twice
            assert (x @ w).dtype == F16
        assert (x @ w).dtype == F16 and tn.amp.get_autocast_dtype("cpu") == F16
    assert (x @ w).dtype == F32
    with pytest.raises(ZeroDivisionError):
        with tn.amp.autocast("cpu"):
            1 / 0
    assert not tn.amp.is_autocast_enabled("cpu")

    @tn.autocast("cpu")
    def forward(a, b):
        return a @ b
    assert forward(x, w).dtype == F16 and (x @ w).dtype == F32


def test_autocast_is_per_thread():
    x, w = tn.randn(3, 4), tn.randn(4, 2)
    seen = {}

    def other_thread():
        seen["dtype"] = (x @ w).dtype
        with tn.autocast("cpu"):
            seen["inside"] = (x @ w).dtype
    with tn.autocast("cpu"):
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        assert (x @ w).dtype == F16
    assert seen == {"dtype": F32, "inside": F16} and (x @ w).dtype == F32


@pytest.mark.parametrize("kwargs, error, match", [
    ({"device_type": "tpu"}, ValueError, "device_type must be 'cpu', 'gpu' or 'cuda'"),
    ({"device_type": "cuda:0"}, ValueError, "no device index"),
    ({"device_type": 0}, ValueError, "device_type"),
    ({"device_type": "cpu", "dtype": tn.float32}, ValueError, "dtype must be tn.float16"),
    ({"device_type": "gpu", "dtype": tn.float64}, ValueError, "dtype must be tn.float16"),
    ({"device_type": "cpu", "dtype": "bfloat16"}, ValueError, "no bfloat16"),
    ({"device_type": "cpu", "dtype": tn.int32}, ValueError, "dtype must be tn.float16"),
    ({"device_type": "cpu", "enabled": "yes"}, TypeError, "enabled must be True or False"),
])
def test_autocast_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        tn.autocast(**kwargs)


def test_autocast_accepts_pytorch_spellings():
    for dtype in (tn.float16, tn.half, "float16", np.dtype(np.float16), None):
        with tn.autocast("cpu", dtype=dtype, cache_enabled=False) as region:
            assert region.fast_dtype == F16 and tn.amp.is_autocast_enabled("cpu")


# -- GradScaler against torch.amp.GradScaler ------------------------------------------------------

def _twin_models(torch, seed=0):
    """The same two-layer regression model in tinynet and in PyTorch."""
    rng = np.random.default_rng(seed)
    w1, b1 = rng.standard_normal((6, 4)) * 0.5, rng.standard_normal(6) * 0.1
    w2, b2 = rng.standard_normal((2, 6)) * 0.5, rng.standard_normal(2) * 0.1
    ours = [tn.tensor(a.astype(np.float32), requires_grad=True) for a in (w1, b1, w2, b2)]
    theirs = [torch.tensor(a.astype(np.float32), requires_grad=True) for a in (w1, b1, w2, b2)]
    return ours, theirs


def _loss(L, params, x, y):
    w1, b1, w2, b2 = params
    h = L.F.relu(L.F.linear(x, w1, b1))
    return L.F.mse_loss(L.F.linear(h, w2, b2), y)


def _batches(steps, poisoned):
    """(x, y) per step; at the steps in ``poisoned`` x holds an inf or a NaN."""
    rng = np.random.default_rng(3)
    for step in range(steps):
        x = rng.standard_normal((8, 4)).astype(np.float32)
        if step in poisoned:
            x[step % 8, 1] = poisoned[step]
        yield x, rng.standard_normal((8, 2)).astype(np.float32)


#: The injected infs and NaNs reach NumPy's matmul, which warns about them (tinynet's
#: elementwise ops compute them silently, as PyTorch does; its matmul does not yet).
inf_in_matmul = pytest.mark.filterwarnings("ignore:invalid value encountered in matmul")


def _scaler_settings():
    return {"init_scale": 2.0 ** 10, "growth_factor": 2.0, "backoff_factor": 0.25,
            "growth_interval": 3}


@pytest.mark.parametrize("unscale_and_clip", [False, True], ids=["step", "unscale-clip-step"])
@inf_in_matmul
def test_grad_scaler_matches_torch_step_by_step(torch, unscale_and_clip):
    ours, theirs = _twin_models(torch)
    opt = tn.optim.SGD(ours, lr=0.05, momentum=0.9)
    torch_opt = torch.optim.SGD(theirs, lr=0.05, momentum=0.9)
    scaler = tn.amp.GradScaler(**_scaler_settings())
    torch_scaler = torch.amp.GradScaler("cpu", **_scaler_settings())
    poisoned = {2: np.inf, 5: np.nan, 6: -np.inf}
    skipped = []
    for step, (x, y) in enumerate(_batches(12, poisoned)):
        before = [p.data.copy() for p in ours]
        for L, params, optimizer, s, make in (
                (TN, ours, opt, scaler, tn.tensor),
                (_libraries(torch), theirs, torch_opt, torch_scaler, torch.tensor)):
            optimizer.zero_grad()
            s.scale(_loss(L, params, make(x), make(y))).backward()
            if unscale_and_clip:
                s.unscale_(optimizer)
                L.T.nn.utils.clip_grad_norm_(params, 0.5)
            s.step(optimizer)
            s.update()
        assert scaler.get_scale() == torch_scaler.get_scale(), step
        assert scaler.state_dict() == torch_scaler.state_dict(), step
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-5, atol=1e-6)
        if all(np.array_equal(p.data, b) for p, b in zip(ours, before)):
            skipped.append(step)
    assert skipped == sorted(poisoned)
    assert all(p.dtype == F32 and p.grad.dtype == F32 for p in ours)


@inf_in_matmul
def test_grad_scaler_with_two_optimizers_matches_torch(torch):
    ours, theirs = _twin_models(torch)
    opts = [tn.optim.SGD(ours[:2], lr=0.1), tn.optim.Adam(ours[2:], lr=0.01)]
    torch_opts = [torch.optim.SGD(theirs[:2], lr=0.1), torch.optim.Adam(theirs[2:], lr=0.01)]
    scaler = tn.amp.GradScaler(**_scaler_settings())
    torch_scaler = torch.amp.GradScaler("cpu", **_scaler_settings())
    for x, y in _batches(6, {1: np.inf}):
        for L, params, optimizers, s, make in (
                (TN, ours, opts, scaler, tn.tensor),
                (_libraries(torch), theirs, torch_opts, torch_scaler, torch.tensor)):
            for optimizer in optimizers:
                optimizer.zero_grad()
            s.scale(_loss(L, params, make(x), make(y))).backward()
            for optimizer in optimizers:
                s.step(optimizer)
            s.update()
        assert scaler.state_dict() == torch_scaler.state_dict()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("new_scale", [100.0, "tensor"])
def test_update_with_a_new_scale_matches_torch(torch, new_scale):
    ours, theirs = _twin_models(torch)
    results = []
    for L, params, s, make in ((TN, ours, tn.amp.GradScaler(growth_interval=1), tn.tensor),
                               (_libraries(torch), theirs,
                                torch.amp.GradScaler("cpu", growth_interval=1), torch.tensor)):
        x, y = next(_batches(1, {}))
        s.scale(_loss(L, params, make(x), make(y))).backward()
        s.step(L.T.optim.SGD(params, lr=0.1))
        s.update(make(np.array(12.5, np.float32)) if new_scale == "tensor" else new_scale)
        results.append(s.state_dict())
    assert results[0] == results[1]


def test_the_scale_never_grows_to_inf(torch):
    states = []
    for L, make, s in ((TN, tn.tensor, tn.amp.GradScaler(init_scale=2.0 ** 127, growth_interval=1)),
                       (_libraries(torch), torch.tensor,
                        torch.amp.GradScaler("cpu", init_scale=2.0 ** 127, growth_interval=1))):
        w = make(np.ones(3, np.float32), requires_grad=True)
        opt = L.T.optim.SGD([w], lr=0.0)
        for _ in range(2):
            opt.zero_grad()
            s.scale((w * 1e-30).sum()).backward()
            s.step(opt)
            s.update()
        states.append(s.state_dict())
    assert states[0] == states[1] and states[0]["scale"] == 2.0 ** 127


def test_scale_takes_lists_and_tuples_of_losses():
    scaler = tn.amp.GradScaler(init_scale=4.0)
    a, b = tn.tensor(1.5), tn.tensor(2.0)
    scaled = scaler.scale([a, (b,)])
    assert isinstance(scaled, list) and isinstance(scaled[1], tuple)
    assert scaled[0].item() == 6.0 and scaled[1][0].item() == 8.0
    with pytest.raises(TypeError, match="Tensor or a list or tuple"):
        scaler.scale(1.5)


# -- GradScaler: checkpoints -----------------------------------------------------------------------

def _train(scaler, params, batches):
    opt = tn.optim.SGD(params, lr=0.05)
    for x, y in batches:
        opt.zero_grad()
        scaler.scale(_loss(TN, params, tn.tensor(x), tn.tensor(y))).backward()
        scaler.step(opt)
        scaler.update()


@inf_in_matmul
def test_state_dict_round_trip_continues_the_same_run(torch):
    ours, _ = _twin_models(torch)
    batches = list(_batches(10, {1: np.inf}))
    scaler = tn.amp.GradScaler(**_scaler_settings())
    _train(scaler, ours, batches[:4])
    saved = scaler.state_dict()
    assert saved["_growth_tracker"] > 0 and saved["scale"] != 2.0 ** 10
    resumed = tn.amp.GradScaler()             # other settings: the state dict brings them
    resumed.load_state_dict(saved)
    assert resumed.state_dict() == saved
    copy = [tn.tensor(p.data.copy(), requires_grad=True) for p in ours]
    _train(scaler, ours, batches[4:])
    _train(resumed, copy, batches[4:])
    assert resumed.state_dict() == scaler.state_dict()
    for p, q in zip(ours, copy):
        np.testing.assert_array_equal(p.data, q.data)


def test_state_dicts_load_both_ways_with_torch(torch):
    ours, theirs = _twin_models(torch)
    torch_scaler = torch.amp.GradScaler("cpu", **_scaler_settings())
    opt = torch.optim.SGD(theirs, lr=0.05)
    for x, y in _batches(4, {}):
        opt.zero_grad()
        torch_scaler.scale(_loss(_libraries(torch), theirs, torch.tensor(x),
                                 torch.tensor(y))).backward()
        torch_scaler.step(opt)
        torch_scaler.update()
    scaler = tn.amp.GradScaler()
    scaler.load_state_dict(torch_scaler.state_dict())
    assert scaler.state_dict() == torch_scaler.state_dict()
    _train(scaler, ours, _batches(1, {}))        # started: the loaded values live on
    back = torch.amp.GradScaler("cpu")
    back.load_state_dict(scaler.state_dict())
    assert back.state_dict() == scaler.state_dict()


# -- GradScaler: misuse and switches ---------------------------------------------------------------

def _started_scaler():
    w = tn.tensor(np.ones(3, np.float32), requires_grad=True)
    scaler = tn.amp.GradScaler()
    scaler.scale((w * 2).sum()).backward()
    return scaler, tn.optim.SGD([w], lr=0.1), w


def test_grad_scaler_refuses_calls_out_of_order():
    scaler, opt, _ = _started_scaler()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called on this optimizer"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="after step"):
        scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
        scaler.step(opt)
    scaler.update()
    with pytest.raises(RuntimeError, match="No inf checks were recorded prior to update"):
        scaler.update()
    with pytest.raises(RuntimeError, match="Closure"):
        scaler.step(opt, closure=lambda: 0.0)
    for call in (lambda s: s.unscale_(opt), lambda s: s.step(opt), lambda s: s.update()):
        with pytest.raises(RuntimeError, match="call scaler.scale\\(loss\\)"):
            call(tn.amp.GradScaler())


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")   # 2**16 * 1 in float16
def test_grad_scaler_refuses_float16_gradients_and_optimizers_without_any():
    w = tn.tensor(np.ones(3, np.float16), requires_grad=True)
    scaler = tn.amp.GradScaler()
    scaler.scale(w.sum()).backward()
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        scaler.step(tn.optim.SGD([w], lr=0.1))
    idle = tn.tensor(np.ones(2, np.float32), requires_grad=True)
    with pytest.raises(RuntimeError, match="No inf checks were recorded for this optimizer"):
        scaler.step(tn.optim.SGD([idle], lr=0.1))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"init_scale": 0.0}, ValueError, "init_scale must be a finite number > 0"),
    ({"init_scale": float("inf")}, ValueError, "init_scale"),
    ({"growth_factor": 1.0}, ValueError, "growth_factor must be > 1"),
    ({"backoff_factor": 1.0}, ValueError, "backoff_factor must be in \\(0, 1\\)"),
    ({"backoff_factor": 0.0}, ValueError, "backoff_factor"),
    ({"growth_interval": 0}, ValueError, "growth_interval must be an int >= 1"),
    ({"growth_interval": 2.5}, ValueError, "growth_interval"),
    ({"device": 1024.0}, TypeError, "pass init_scale= by keyword"),
    ({"device": "tpu"}, Exception, "unknown device"),
    ({"enabled": 1}, TypeError, "enabled must be True or False"),
])
def test_grad_scaler_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        tn.amp.GradScaler(**kwargs)


def test_grad_scaler_refuses_bad_state_dicts_and_new_scales():
    scaler = tn.amp.GradScaler()
    with pytest.raises(RuntimeError, match="empty"):
        scaler.load_state_dict({})
    with pytest.raises(KeyError, match="_growth_tracker"):
        scaler.load_state_dict({"scale": 2.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                                "growth_interval": 10})
    scaler, opt, _ = _started_scaler()
    scaler.step(opt)
    with pytest.raises(TypeError, match="new_scale must be a number or a Tensor"):
        scaler.update("big")
    with pytest.raises(ValueError, match="one element"):
        scaler.update(tn.ones(2))


def test_a_disabled_grad_scaler_passes_everything_through():
    scaler = tn.amp.GradScaler(enabled=False)
    w = tn.tensor(np.ones(3, np.float32), requires_grad=True)
    loss = (w * 2).sum()
    assert scaler.scale(loss) is loss and not scaler.is_enabled()
    loss.backward()
    opt = tn.optim.SGD([w], lr=0.5)
    scaler.unscale_(opt)
    scaler.step(opt)
    scaler.update()
    np.testing.assert_array_equal(w.data, np.zeros(3, np.float32))
    assert scaler.get_scale() == 1.0 and scaler.state_dict() == {}
    scaler.load_state_dict({})


def test_a_gpu_grad_scaler_without_a_gpu_disables_itself(monkeypatch):
    monkeypatch.setattr(backend, "gpu_available", lambda: False)
    with pytest.warns(UserWarning, match="no GPU is available"):
        scaler = tn.amp.GradScaler("cuda")
    assert not scaler.is_enabled()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tn.amp.GradScaler("cpu").is_enabled() and tn.amp.GradScaler().is_enabled()


def test_grad_scaler_settings_read_and_write():
    scaler = tn.amp.GradScaler()
    assert (scaler.get_growth_factor(), scaler.get_backoff_factor(),
            scaler.get_growth_interval(), scaler.get_scale()) == (2.0, 0.5, 2000, 65536.0)
    scaler.set_growth_factor(4.0)
    scaler.set_backoff_factor(0.25)
    scaler.set_growth_interval(7)
    assert scaler.state_dict() == {"scale": 65536.0, "growth_factor": 4.0,
                                   "backoff_factor": 0.25, "growth_interval": 7,
                                   "_growth_tracker": 0}
    with pytest.raises(ValueError, match="growth_factor"):
        scaler.set_growth_factor(0.5)


# -- training in mixed precision -------------------------------------------------------------------

def _segmentation_batch(device):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 32, 32)).astype(np.float32)
    masks = np.zeros((4, 1, 32, 32), np.float32)
    masks[:, :, 8:20, 10:24] = 1.0
    return tn.tensor(x, device=device), tn.tensor(masks, device=device)


def _train_resunet(device, mixed, steps=8):
    """Loss after each step of Adam on one batch, in float32 or under autocast + GradScaler."""
    tn.manual_seed(0)
    model = tn.models.ResUNet(base=4, depth=2).to(device).train()
    opt = tn.optim.Adam(model.parameters(), lr=1e-2)
    scaler = tn.amp.GradScaler(enabled=mixed)
    x, masks = _segmentation_batch(device)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        with tn.autocast(device, enabled=mixed):
            logits = model(x)
            loss = tn.ops.binary_cross_entropy_with_logits(logits, masks)
        assert logits.dtype == (F16 if mixed else F32) and loss.dtype == F32
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    for p in model.parameters():
        assert p.dtype == F32 and p.grad.dtype == F32
    assert all(b.dtype == F32 for b in model.buffers() if b.dtype.kind == "f")
    assert all(v.dtype == F32 for state in opt.state.values() for v in state.values()
               if hasattr(v, "dtype"))
    return np.array(losses), scaler


@pytest.mark.parametrize("device", DEVICES)
def test_a_resunet_trains_in_float16_as_in_float32(device):
    full, _ = _train_resunet(device, mixed=False)
    mixed, scaler = _train_resunet(device, mixed=True)
    assert mixed[-1] < 0.8 * mixed[0] and full[-1] < 0.8 * full[0]
    np.testing.assert_allclose(mixed, full, rtol=0.05)
    assert scaler.get_scale() == 2.0 ** 16         # no overflow at the initial scale


@pytest.mark.gpu
def test_a_gpu_step_reads_one_value_from_the_device():
    import cupy
    if not getattr(cupy, "STRICT_STAND_IN", False):
        pytest.skip("counting transfers needs the strict CuPy stand-in")
    model = small_convnet().to("gpu").train()
    opt = tn.optim.Adam(model.parameters(), lr=1e-3)
    scaler = tn.amp.GradScaler()
    x, masks = _segmentation_batch("gpu")

    def step():
        opt.zero_grad()
        with tn.autocast("gpu"):
            loss = tn.ops.binary_cross_entropy_with_logits(model(x)[:, :1], masks)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        scaler.step(opt)
        scaler.update()
    step()
    with cupy.count_transfers() as steady:
        for _ in range(3):
            step()
    assert steady.device_to_host == 3, steady.summary()
    assert steady.host_to_device == 0, steady.summary()
