"""tinynet.ops.conv.reference, the reference conv2d, checked on its own and against PyTorch; every
fast algorithm against it."""
import os
import sys

import numpy as np
import pytest

import tinynet as tn
from tinynet.ops import conv
from tinynet.ops.blocking import override_limits
from tinynet.ops.conv import reference
from tinynet.ops.conv.arguments import conv_geometry
from tinynet.ops.conv.reference import conv2d_reference
from gradcases import GradCase, conv_grad_case, forced_conv2d, run_case


def ref_case(name, x_shape, w_shape, bias=True, **kwargs):
    """conv2d through the dispatch, forced to the reference."""
    return conv_grad_case("reference", name, x_shape, w_shape, bias, **kwargs)


def direct_case(name, x_shape, w_shape, bias=True, **kwargs):
    """``conv2d_reference`` called directly, as a learner would, without the dispatch."""
    def make(r):
        return [r.standard_normal(x_shape), r.standard_normal(w_shape),
                r.standard_normal(w_shape[0]) if bias else None]
    return GradCase(name, lambda x, w, b: conv2d_reference(x, w, b, **kwargs), make)


GRADCHECK_CASES = [
    ref_case("reference_3x3_pad1", (2, 2, 5, 4), (3, 2, 3, 3), padding=1),
    ref_case("reference_stride2_no_bias", (1, 2, 7, 6), (2, 2, 3, 3), bias=False, stride=2),
    ref_case("reference_non_square_dilated", (2, 2, 6, 7), (3, 2, 3, 2),
             stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
    ref_case("reference_groups_same_even_kernel", (1, 4, 5, 4), (2, 2, 2, 3), padding="same",
             groups=2),
    # Every argument at once: stride, padding, dilation, groups and a bias.
    direct_case("conv2d_reference_all_arguments", (2, 4, 7, 6), (6, 2, 3, 2),
                stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
    direct_case("conv2d_reference_groups3_no_bias", (1, 6, 5, 5), (3, 2, 3, 3), bias=False,
                padding=1, groups=3),
    direct_case("conv2d_reference_depthwise_stride2", (2, 3, 6, 5), (6, 1, 3, 3),
                stride=2, padding=1, groups=3),
    direct_case("conv2d_reference_same_dilated", (1, 2, 5, 6), (4, 1, 2, 3), padding="same",
                dilation=(2, 1), groups=2),
    direct_case("conv2d_reference_valid_1x1", (2, 3, 4, 3), (2, 3, 1, 1), padding="valid"),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


def test_reference_is_the_formula_on_one_pixel(rng):
    """y[n, o, oh, ow] = b[o] + sum_{c,i,j} w[o, c, i, j] * x_pad[n, c, oh*s + i*d, ow*s + j*d]."""
    x, w = rng.standard_normal((1, 2, 6, 7)), rng.standard_normal((3, 2, 2, 3))
    b = rng.standard_normal(3)
    with conv.use_algorithm("reference"):
        y = tn.ops.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(2, 1)).data
    x_pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)))
    for o, oh, ow in [(0, 0, 0), (2, 1, 4), (1, 2, 8)]:
        expected = b[o] + sum(w[o, c, i, j] * x_pad[0, c, oh * 2 + i * 2, ow + j]
                              for c in range(2) for i in range(2) for j in range(3))
        assert y[0, o, oh, ow] == pytest.approx(expected, rel=1e-12)


def naive_conv2d(x, w, b, stride, padding, dilation, groups):
    """The formula of reference.py's docstring, one output pixel at a time (int arguments)."""
    n, c, h, width = x.shape
    o, c_per_group, kh, kw = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    ow = (width + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    y = np.empty((n, o, oh, ow))
    for f in range(o):
        first = f // (o // groups) * c_per_group       # the group's first input channel
        for p, q in np.ndindex(oh, ow):
            rows = slice(p * stride, p * stride + dilation * (kh - 1) + 1, dilation)
            cols = slice(q * stride, q * stride + dilation * (kw - 1) + 1, dilation)
            patch = x_pad[:, first:first + c_per_group, rows, cols]
            y[:, f, p, q] = b[f] + (patch * w[f]).sum(axis=(1, 2, 3))
    return y


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_conv2d_reference_forward_is_the_formula(groups, rng):
    x, w = rng.standard_normal((2, 4, 7, 8)), rng.standard_normal((8, 4 // groups, 3, 2))
    b = rng.standard_normal(8)
    y = conv2d_reference(x, w, b, stride=2, padding=1, dilation=2, groups=groups)
    np.testing.assert_allclose(y.numpy(), naive_conv2d(x, w, b, 2, 1, 2, groups),
                               rtol=1e-12, atol=1e-12)


def test_conv2d_reference_is_a_differentiable_function(rng):
    """Tensors in, a Tensor out with a Conv2dReference node; .backward() fills every .grad."""
    x, w, b = (tn.tensor(rng.standard_normal(s), requires_grad=True)
               for s in [(2, 4, 5, 5), (6, 2, 3, 3), (6,)])
    y = conv2d_reference(x, w, b, padding=1, groups=2)
    assert isinstance(y, tn.Tensor) and y.shape == (2, 6, 5, 5)
    assert isinstance(y.grad_fn, reference.Conv2dReference) and y.grad_fn.algorithm == "reference"
    y.sum().backward()
    assert x.grad.shape == x.shape and w.grad.shape == w.shape
    np.testing.assert_allclose(b.grad.numpy(), np.full(6, 2 * 5 * 5))
    with tn.no_grad():
        fn = reference.Conv2dReference(padding=1, groups=2)
        fn(x, w, None)
    assert fn.weight is None and fn.cols is None        # inference keeps nothing


def test_conv2d_function_forced_to_reference_runs_the_reference_file(rng):
    """Conv2dFunction called directly (its "same" extra padding too) gives conv2d_reference's
    values and gradients."""
    x, w, b = (rng.standard_normal(s) for s in [(2, 3, 6, 5), (4, 3, 2, 3), (4,)])
    dy = rng.standard_normal((2, 4, 6, 5))
    results = []
    for run_conv in [lambda *a: conv.Conv2dFunction(1, (0, 1), 1, (1, 0))(*a),
                     lambda *a: conv2d_reference(*a, padding="same")]:
        tx, tw, tb = (tn.tensor(a, requires_grad=True) for a in (x, w, b))
        with conv.use_algorithm("reference"):
            y = run_conv(tx, tw, tb)
        y.backward(dy)
        results.append([y.numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()])
    for what, a, r in zip(("y", "dx", "dw", "db"), *results):
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12, err_msg=what)


@pytest.mark.parametrize("call,error,match", [
    (lambda: conv2d_reference(np.zeros((1, 4, 5, 5)), np.zeros((6, 3, 3, 3)), groups=2),
     ValueError, r"conv2d: input shape \(1, 4, 5, 5\) and weight shape \(6, 3, 3, 3\) do not "
                 r"fit groups=2"),
    (lambda: conv2d_reference(np.zeros((1, 4, 5, 5)), np.zeros((5, 2, 3, 3)), groups=2),
     ValueError, r"do not fit groups=2"),
    (lambda: conv2d_reference(np.zeros((4, 5, 5)), np.zeros((5, 4, 3, 3))),
     ValueError, r"conv2d: input \(N, C, H, W\) and weight \(O, C/G, KH, KW\) must be 4-D"),
    (lambda: conv2d_reference(np.zeros((1, 2, 2, 2)), np.zeros((3, 2, 3, 3))),
     ValueError, r"conv2d: the kernel of weight shape \(3, 2, 3, 3\) does not fit"),
    (lambda: conv2d_reference(np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3)), stride=0),
     ValueError, r"conv2d: stride must be >= 1, got 0"),
    (lambda: conv2d_reference(np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3)), padding=(1, -1)),
     ValueError, r"conv2d: padding must be >= 0"),
    (lambda: conv2d_reference(np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3)), dilation=1.5),
     TypeError, r"conv2d: dilation must be an int or a pair of ints, got 1.5"),
    (lambda: conv2d_reference(np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3)), padding="full"),
     ValueError, r"conv2d: padding must be ints, 'valid' or 'same', got 'full'"),
    (lambda: conv2d_reference(np.zeros((1, 2, 5, 5)), np.zeros((3, 2, 3, 3)), stride=2,
                              padding="same"),
     ValueError, r"conv2d: padding='same' needs stride 1, got stride \(2, 2\)"),
    (lambda: conv2d_reference(np.zeros((1, 2, 5, 5), np.float32), np.zeros((3, 2, 3, 3))),
     TypeError, r"conv2d: input, weight and bias must have one dtype"),
])
def test_conv2d_reference_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_reference_path_stays_in_the_reference_file(rng):
    """Under use_algorithm("reference"), an nn.Conv2d runs, of tinynet/ops, only conv2d in
    dispatch.py and then reference.py: a learner steps through one file."""
    layer = tn.nn.Conv2d(4, 6, 3, padding=1, groups=2)
    x = tn.tensor(rng.standard_normal((2, 4, 6, 6)).astype(np.float32), requires_grad=True)
    upstream = np.ones((2, 6, 6, 6), np.float32)         # d loss / d output (no sum op traced)
    ops_dir = os.path.dirname(conv.__file__).rsplit(os.sep, 1)[0] + os.sep
    entered = set()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(ops_dir):
            entered.add((os.path.relpath(frame.f_code.co_filename, ops_dir),
                         frame.f_code.co_name))

    with conv.use_algorithm("reference"):
        sys.setprofile(profile)
        try:
            layer(x).backward(upstream)
        finally:
            sys.setprofile(None)
    files = {f for f, _ in entered}
    assert files == {os.path.join("conv", "dispatch.py"), os.path.join("conv", "reference.py")}
    assert {name for f, name in entered if f.endswith("dispatch.py")} <= {"conv2d",
                                                                          "forced_algorithm"}
    assert x.grad is not None and layer.weight.grad is not None


def test_col2im_is_the_transpose_of_im2col(rng):
    geo = reference.conv_geometry((2, 3, 7, 6), (4, 3, 3, 2), (2, 1), (1, 0), (1, 2))
    x = rng.standard_normal(geo.x_shape)
    cols = reference.im2col(x, geo)
    c = rng.standard_normal(cols.shape)
    np.testing.assert_allclose((cols * c).sum(), (x * reference.col2im(c, geo)).sum(), rtol=1e-12)


# (name, x shape, weight shape, kwargs)
TORCH_GEOMETRIES = [
    ("3x3_p1", (2, 4, 9, 8), (5, 4, 3, 3), dict(padding=1)),
    ("7x7_s2_p3", (2, 3, 16, 15), (4, 3, 7, 7), dict(stride=2, padding=3)),
    ("non_square_dilated", (2, 3, 10, 9), (4, 3, 3, 5),
     dict(stride=(2, 1), padding=(0, 2), dilation=(1, 2))),
    ("1x1", (2, 6, 5, 4), (3, 6, 1, 1), {}),
    ("groups2_all_arguments", (2, 4, 9, 8), (6, 2, 3, 2),
     dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)),
    ("depthwise", (2, 3, 7, 7), (3, 1, 3, 3), dict(padding=1, groups=3)),
    ("same_even_kernel_groups", (2, 4, 7, 6), (4, 2, 4, 2), dict(padding="same", groups=2)),
    ("valid", (1, 2, 6, 5), (3, 2, 3, 2), dict(padding="valid")),
]

# The reference through the dispatch (use_algorithm) and called directly.
CALLERS = {"use_algorithm": lambda **kwargs: forced_conv2d("reference", **kwargs),
           "conv2d_reference": lambda **kwargs: lambda x, w, b: conv2d_reference(x, w, b,
                                                                                 **kwargs)}


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("name,x_shape,w_shape,kwargs", TORCH_GEOMETRIES,
                         ids=[g[0] for g in TORCH_GEOMETRIES])
def test_reference_matches_torch(torch, name, x_shape, w_shape, kwargs, caller, rng):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b, dy_rng = rng.standard_normal(w_shape[0]), rng
    tx, tw, tb = (tn.tensor(a, requires_grad=True) for a in (x, w, b))
    y = CALLERS[caller](**kwargs)(tx, tw, tb)
    px, pw, pb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    py = torch.nn.functional.conv2d(px, pw, pb, **kwargs)
    dy = dy_rng.standard_normal(y.shape)
    y.backward(dy)
    py.backward(torch.tensor(dy))
    for what, ours, ref in [("y", y.data, py), ("dx", tx.grad.data, px.grad),
                            ("dw", tw.grad.data, pw.grad), ("db", tb.grad.data, pb.grad)]:
        np.testing.assert_allclose(ours, ref.detach().numpy(), rtol=1e-10, atol=1e-10,
                                   err_msg=what)


# ---------------------------------------------------------------------------
# Every fast algorithm == the reference (the oracle)
# ---------------------------------------------------------------------------

# (x shape, weight shape, stride, padding, dilation)
GEOMETRIES = [
    ((2, 3, 7, 6), (4, 3, 3, 3), 1, 1, 1),
    ((2, 3, 7, 7), (4, 3, 3, 3), 1, 0, 1),           # odd output: Winograd crops a tile row
    ((2, 2, 5, 6), (3, 2, 3, 3), 1, (1, 2), 1),
    ((1, 4, 8, 9), (3, 4, 3, 3), 1, 2, 1),           # padding = d*(k-1), the rows limit
    ((2, 2, 3, 3), (2, 2, 3, 3), 1, 0, 1),           # a single output pixel
    ((3, 2, 9, 8), (5, 2, 3, 2), 1, (0, 1), (2, 1)),
    ((2, 2, 6, 7), (3, 2, 5, 3), 1, (2, 0), (1, 2)),
    ((2, 3, 7, 6), (4, 3, 1, 3), 1, (0, 1), 1),      # one kernel row
    ((3, 2, 9, 8), (5, 2, 3, 1), 1, (1, 0), (2, 1)), # one kernel column
    ((3, 16, 10, 12), (16, 16, 3, 3), 1, 1, 1),
    ((2, 3, 7, 6), (4, 3, 3, 3), 2, 1, 1),           # strided: im2col only
    ((2, 3, 11, 10), (4, 3, 7, 7), 2, 3, 1),
    ((2, 3, 8, 6), (4, 3, 2, 2), 2, 0, 1),           # windows tile the image
    ((2, 3, 5, 4), (4, 3, 1, 1), 1, 0, 1),           # 1x1: the columns are x
    ((2, 3, 5, 4), (4, 3, 1, 1), 2, 0, 1),
    ((2, 3, 5, 4), (4, 3, 1, 1), 1, 1, 1),
    ((2, 3, 6, 6), (4, 3, 3, 3), 1, 3, 1),           # padding > d*(k-1): not rows
]

# Blocks and kept buffers: the defaults; the smallest blocks with nothing kept;
# small Winograd/im2col chunks whose buffers are still kept whole.
LIMITS = {
    "default": {},
    "smallest_keep_nothing": dict(im2col_chunk=1, winograd_chunk=1, rows_block=1,
                                  kept_for_backward=0),
    "chunks_kept_whole": dict(im2col_chunk=1, winograd_chunk=1, rows_block=3000),
}

FAST = [a for a in conv.ALGORITHMS if a != "reference"]


def run(algorithm, x, w, b, dy, stride, padding, dilation, want=(True, True, True)):
    """(y, dx, dw, db) of conv2d through ``algorithm``; None for gradients not wanted."""
    tx, tw = tn.tensor(x, requires_grad=want[0]), tn.tensor(w, requires_grad=want[1])
    tb = tn.tensor(b, requires_grad=want[2])
    y = forced_conv2d(algorithm, stride=stride, padding=padding, dilation=dilation)(tx, tw, tb)
    y.backward(dy)
    return (y.data,) + tuple(None if t.grad is None else t.grad.data for t in (tx, tw, tb))


def applies(algorithm, x_shape, w_shape, stride, padding, dilation):
    geo = conv_geometry("conv2d", x_shape, w_shape, stride, padding, dilation)
    return conv.dispatch._MODULES[algorithm].applies(geo), geo


def cases():
    for algorithm in FAST:
        for g in GEOMETRIES:
            if applies(algorithm, *g)[0]:
                yield algorithm, g


@pytest.mark.parametrize("limits", LIMITS, ids=str)
@pytest.mark.parametrize("algorithm,geometry", list(cases()),
                         ids=[f"{a}-{g[0]}-{g[1]}-s{g[2]}-p{g[3]}-d{g[4]}" for a, g in cases()])
def test_fast_algorithm_equals_reference(algorithm, geometry, limits, rng):
    x_shape, w_shape, stride, padding, dilation = geometry
    _, geo = applies(algorithm, *geometry)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    dy = rng.standard_normal((x_shape[0], w_shape[0]) + geo.out_size)
    expected = run("reference", x, w, b, dy, stride, padding, dilation)
    with override_limits(**LIMITS[limits]):
        got = run(algorithm, x, w, b, dy, stride, padding, dilation)
    for what, a, r in zip(("y", "dx", "dw", "db"), got, expected):
        assert a.shape == r.shape and a.dtype == r.dtype, what
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12 * np.abs(r).max(), err_msg=what)


@pytest.mark.parametrize("want", [(True, False, False), (False, True, True), (False, True, False)],
                         ids=["dx_only", "dw_db_only", "dw_only"])
@pytest.mark.parametrize("algorithm", FAST)
def test_fast_algorithm_computes_only_the_wanted_gradients(algorithm, want, rng):
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    dy = rng.standard_normal((2, 4, 6, 5))
    expected = run("reference", x, w, b, dy, 1, 1, 1)
    got = run(algorithm, x, w, b, dy, 1, 1, 1, want)
    for wanted, a, r in zip(want, got[1:], expected[1:]):
        if wanted:
            np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12)
        else:
            assert a is None


@pytest.mark.parametrize("algorithm", FAST)
def test_float32_fast_algorithm_is_as_close_to_exact_as_the_reference(algorithm, rng):
    """In float32, each algorithm's error against the float64 result is small and
    within a few times the reference's (Winograd's transforms add roundings)."""
    x, w = rng.standard_normal((2, 32, 10, 10)), rng.standard_normal((32, 32, 3, 3)) * 0.1
    b, dy = rng.standard_normal(32), rng.standard_normal((2, 32, 10, 10))
    exact = run("reference", x, w, b, dy, 1, 1, 1)
    f32 = [a.astype(np.float32) for a in (x, w, b, dy)]
    ref32, ours32 = run("reference", *f32, 1, 1, 1), run(algorithm, *f32, 1, 1, 1)
    for what, e, r, o in zip(("y", "dx", "dw", "db"), exact, ref32, ours32):
        scale = np.abs(e).max()
        err_ref, err_ours = np.abs(r - e).max() / scale, np.abs(o - e).max() / scale
        assert o.dtype == np.float32 and err_ours < 1e-6, what
        assert err_ours < 5 * max(err_ref, 1e-7), what
