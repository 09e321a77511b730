"""tinynet.ops.conv: conv2d and conv_transpose2d: gradient checks, PyTorch parity, the im2col
helpers, errors."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import ops
from tinynet.ops import conv as conv_module
from tinynet.ops.blocking import override_limits
from tinynet.ops.conv import reference
from tinynet.ops.conv.arguments import output_size
from tinynet.ops.conv.columns import col2im, col2im_stride1, im2col, is_tiling
from gradcases import GradCase, build_inputs, run_case


def normal(rng, *shape):
    return rng.standard_normal(shape)


def conv_case(name, x_shape, w_shape, bias=True, **kwargs):
    """A conv2d gradcheck on x (N, C, H, W), weight OIHW and optionally a bias."""
    def make(r):
        return [normal(r, *x_shape), normal(r, *w_shape),
                normal(r, w_shape[0]) if bias else None]
    return GradCase(name, lambda x, w, b: ops.conv2d(x, w, b, **kwargs), make)


def convt_case(name, x_shape, w_shape, bias=True, **kwargs):
    """A conv_transpose2d gradcheck on x (N, C_in, H, W), weight IOHW and optionally a bias."""
    def make(r):
        return [normal(r, *x_shape), normal(r, *w_shape),
                normal(r, w_shape[1] * kwargs.get("groups", 1)) if bias else None]
    return GradCase(name, lambda x, w, b: ops.conv_transpose2d(x, w, b, **kwargs), make)


GRADCHECK_CASES = [
    conv_case("conv2d_bias", (2, 2, 5, 5), (3, 2, 3, 3)),
    conv_case("conv2d_no_bias", (1, 2, 5, 4), (2, 2, 3, 3), bias=False),
    conv_case("conv2d_stride2", (2, 2, 7, 6), (3, 2, 3, 3), stride=2),
    conv_case("conv2d_padding", (1, 2, 4, 5), (2, 2, 3, 3), padding=1),
    conv_case("conv2d_dilation2", (1, 2, 7, 7), (2, 2, 3, 3), dilation=2, padding=1),
    conv_case("conv2d_non_square", (2, 2, 6, 5), (3, 2, 3, 2),
              stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
    conv_case("conv2d_1x1_fast_path", (2, 3, 4, 3), (4, 3, 1, 1)),
    conv_case("conv2d_1x1_stride2", (2, 3, 5, 4), (2, 3, 1, 1), stride=2),
    conv_case("conv2d_1x1_to_one_channel", (2, 4, 3, 3), (1, 4, 1, 1)),
    conv_case("conv2d_same_even_kernel", (1, 2, 4, 5), (2, 2, 2, 3), padding="same"),
    conv_case("conv2d_same_dilated", (1, 2, 5, 5), (2, 2, 2, 2), padding="same", dilation=2),
    convt_case("conv_transpose2d_k2_s2", (2, 3, 3, 2), (3, 2, 2, 2), bias=False, stride=2),
    convt_case("conv_transpose2d_k3_s2_p1_op1", (1, 2, 3, 3), (2, 3, 3, 3),
               stride=2, padding=1, output_padding=1),
    convt_case("conv_transpose2d_bias", (2, 2, 3, 4), (2, 3, 3, 3), padding=1),
    convt_case("conv_transpose2d_dilation_op", (1, 2, 3, 3), (2, 2, 2, 3),
               stride=1, output_padding=1, dilation=2),
    # groups > 1: conv2d runs the reference, conv_transpose2d one Function a group
    conv_case("conv2d_groups2", (2, 4, 5, 5), (6, 2, 3, 3), stride=2, padding=1, groups=2),
    conv_case("conv2d_depthwise_same", (1, 3, 4, 5), (3, 1, 2, 3), padding="same", groups=3),
    convt_case("conv_transpose2d_groups2", (2, 4, 3, 3), (4, 2, 3, 3), stride=2, padding=1,
               output_padding=1, groups=2),
    convt_case("conv_transpose2d_depthwise_no_bias", (1, 3, 3, 2), (3, 1, 2, 2), bias=False,
               stride=2, groups=3),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


@pytest.mark.parametrize("case", [c for c in GRADCHECK_CASES if c.name.startswith("conv2d")],
                         ids=str)
def test_gradcheck_when_cols_are_recomputed_in_chunks(case):
    """Large layers rebuild the im2col columns in backward, chunk by chunk: that path too."""
    with override_limits(kept_for_backward=0, im2col_chunk=1):
        run_case(case)


def test_cols_kept_only_when_small_and_needed():
    """The im2col path (a strided convolution here) keeps its columns for dW if small."""
    x = tn.tensor(np.ones((1, 2, 5, 5), np.float32), requires_grad=True)
    w = tn.tensor(np.ones((3, 2, 3, 3), np.float32), requires_grad=True)
    fn = ops.conv2d(x, w, stride=2).grad_fn
    assert fn.algorithm == "im2col" and fn.saved.cols.shape == (1, 18, 4) and fn.saved.x is None
    frozen = tn.tensor(w.data)  # no weight gradient: nothing is needed for dW
    fn = ops.conv2d(x, frozen, stride=2).grad_fn
    assert fn.saved.cols is None and fn.saved.x is None and fn.saved.weight is frozen.data
    with override_limits(kept_for_backward=0):
        fn = ops.conv2d(x, w, stride=2).grad_fn
    assert fn.saved.cols is None and fn.saved.x is x.data


def test_nothing_is_kept_when_no_gradient_is_wanted(rng):
    """With needs_input_grad all False (inference), no algorithm keeps anything for backward."""
    x = rng.standard_normal((1, 16, 6, 6))
    for algorithm, w_shape, kwargs in [("im2col", (16, 16, 3, 3), dict(stride=2)),
                                       ("rows", (16, 16, 3, 3), dict(padding=1)),
                                       ("winograd", (16, 16, 3, 3), dict(padding=1)),
                                       ("reference", (16, 16, 3, 3), dict(padding=1))]:
        fn = conv_module.Conv2dFunction(**kwargs)
        with conv_module.use_algorithm(algorithm):
            fn(x, rng.standard_normal(w_shape), None)  # plain arrays: no gradient wanted
        assert fn.needs_input_grad == (False, False, False)
        assert fn.algorithm == algorithm and all(v is None for v in fn.saved), algorithm


# ---------------------------------------------------------------------------
# Parity with PyTorch (float32)
# ---------------------------------------------------------------------------

# (name, transposed, x shape, weight shape, kwargs)
PARITY_CONFIGS = [
    ("7x7_s2_p3", False, (2, 3, 32, 32), (8, 3, 7, 7), dict(stride=2, padding=3)),
    ("3x3_p1", False, (2, 4, 12, 10), (6, 4, 3, 3), dict(padding=1)),
    ("3x3_s2", False, (2, 4, 11, 12), (6, 4, 3, 3), dict(stride=2)),
    ("1x1", False, (2, 8, 9, 7), (5, 8, 1, 1), {}),
    ("1x1_s2", False, (2, 8, 9, 7), (5, 8, 1, 1), dict(stride=2)),
    ("dilation2", False, (2, 4, 13, 13), (6, 4, 3, 3), dict(padding=2, dilation=2)),
    ("non_square", False, (2, 3, 10, 9), (4, 3, 3, 5),
     dict(stride=(2, 1), padding=(0, 2), dilation=(1, 2))),
    ("t_k2_s2", True, (2, 6, 8, 7), (6, 4, 2, 2), dict(stride=2)),
    ("t_k3_s2_p1_op1", True, (2, 6, 8, 7), (6, 4, 3, 3),
     dict(stride=2, padding=1, output_padding=1)),
    ("t_k3_s1_p1", True, (2, 6, 8, 7), (6, 4, 3, 3), dict(padding=1)),
    ("t_dilation_op_ge_stride", True, (2, 3, 6, 5), (3, 4, 3, 2),
     dict(stride=1, padding=1, output_padding=1, dilation=2)),
    # ResNeXt's grouped 3x3, MobileNet's depthwise 3x3 (stride 2), a grouped decoder
    ("groups4", False, (2, 8, 9, 9), (8, 2, 3, 3), dict(padding=1, groups=4)),
    ("depthwise_s2", False, (2, 6, 11, 10), (12, 1, 3, 3), dict(stride=2, padding=1, groups=6)),
    ("t_groups2", True, (2, 6, 5, 4), (6, 3, 2, 2), dict(stride=2, groups=2)),
    ("t_depthwise_op", True, (2, 4, 5, 4), (4, 1, 3, 3),
     dict(stride=2, padding=1, output_padding=1, groups=4, dilation=1)),
]


def assert_close(ours, ref, what):
    """rtol 1e-4 and atol 1e-4 relative to the reference's largest magnitude (float32 sums)."""
    ref = ref.detach().numpy()
    atol = 1e-4 * max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=atol, err_msg=what)


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("name,transposed,x_shape,w_shape,kwargs", PARITY_CONFIGS,
                         ids=[c[0] for c in PARITY_CONFIGS])
def test_matches_torch(torch, name, transposed, x_shape, w_shape, kwargs, with_bias, rng):
    F = torch.nn.functional
    out_channels = w_shape[1] * kwargs.get("groups", 1) if transposed else w_shape[0]
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(out_channels).astype(np.float32) if with_bias else None
    ours_fn, torch_fn = ((ops.conv_transpose2d, F.conv_transpose2d) if transposed
                         else (ops.conv2d, F.conv2d))

    tx, tw = tn.tensor(x, requires_grad=True), tn.tensor(w, requires_grad=True)
    tb = tn.tensor(b, requires_grad=True) if with_bias else None
    y = ours_fn(tx, tw, tb, **kwargs)
    px, pw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    pb = torch.tensor(b, requires_grad=True) if with_bias else None
    py = torch_fn(px, pw, pb, **kwargs)

    assert y.shape == tuple(py.shape) and y.dtype == np.float32
    assert_close(y.data, py, "forward")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(dy)
    py.backward(torch.tensor(dy))
    assert_close(tx.grad.data, px.grad, "grad input")
    assert_close(tw.grad.data, pw.grad, "grad weight")
    if with_bias:
        assert_close(tb.grad.data, pb.grad, "grad bias")


def test_conv_transpose2d_positional_order_matches_torch(torch, rng):
    """PyTorch's order is (..., output_padding, groups, dilation): groups comes before dilation."""
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    ours = ops.conv_transpose2d(x, w, None, 1, 1, 1, 1, 2)
    ref = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), None,
                                               1, 1, 1, 1, 2)
    assert_close(ours.data, ref, "forward")


# ---------------------------------------------------------------------------
# The 1x1 fast path, dtypes, and the im2col helpers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("c_in,c_out", [(5, 7), (7, 5), (5, 1), (1, 5)],
                         ids=["more_outputs", "more_inputs", "one_output", "one_input"])
def test_1x1_fast_path_matches_einsum_and_general_path(c_in, c_out, rng):
    """Both orientations of the weight GEMM, and the rank-1 products done as multiplies."""
    x = rng.standard_normal((3, c_in, 6, 4))
    w = rng.standard_normal((c_out, c_in, 1, 1))
    b = rng.standard_normal(c_out)
    dy = rng.standard_normal((3, c_out, 6, 4))
    # The fast path uses x itself as the columns (no copy).
    assert np.shares_memory(im2col(x, (1, 1), (1, 1), (0, 0), (1, 1)), x)

    tx, tw = tn.tensor(x, requires_grad=True), tn.tensor(w, requires_grad=True)
    y = ops.conv2d(tx, tw, b)
    y.backward(dy)
    w2 = w[:, :, 0, 0]
    np.testing.assert_allclose(y.data, np.einsum("oc,nchw->nohw", w2, x) + b[:, None, None],
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tx.grad.data, np.einsum("oc,nohw->nchw", w2, dy),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tw.grad.data[:, :, 0, 0], np.einsum("nohw,nchw->oc", dy, x),
                               rtol=1e-12, atol=1e-12)
    # The general im2col path (forced by padding) gives the same interior.
    padded = ops.conv2d(x, w, b, padding=1).data
    np.testing.assert_allclose(padded[:, :, 1:-1, 1:-1], y.data, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype, rng):
    x = tn.tensor(rng.standard_normal((1, 2, 5, 5)).astype(dtype), requires_grad=True)
    w = tn.tensor(rng.standard_normal((3, 2, 3, 3)).astype(dtype), requires_grad=True)
    y = ops.conv2d(x, w, padding=1)
    y.sum().backward()
    assert y.dtype == dtype and x.grad.dtype == dtype and w.grad.dtype == dtype
    yt = ops.conv_transpose2d(y, w.data, stride=2)  # (3, 2, 3, 3) read as IOHW
    assert yt.dtype == dtype


# (kernel, stride, padding, dilation, H, W)
GEOMETRIES = [
    ((3, 3), (1, 1), (1, 1), (1, 1), 6, 5),
    ((3, 2), (2, 1), (0, 1), (1, 2), 7, 6),
    ((2, 2), (2, 2), (0, 0), (1, 1), 6, 6),
    ((3, 3), (1, 1), (2, 0), (2, 1), 7, 8),
    ((1, 1), (1, 1), (0, 0), (1, 1), 4, 5),
]


@pytest.mark.parametrize("kernel,stride,padding,dilation,h,w", GEOMETRIES)
def test_col2im_is_the_adjoint_of_im2col(kernel, stride, padding, dilation, h, w, rng):
    """<im2col(x), c> == <x, col2im(c)> for all x, c: col2im is im2col's transpose."""
    x = rng.standard_normal((2, 3, h, w))
    cols = im2col(x, kernel, stride, padding, dilation)
    out_size = tuple(output_size(*a) for a in zip((h, w), kernel, stride, padding, dilation))
    assert cols.shape == (2, 3 * kernel[0] * kernel[1], out_size[0] * out_size[1])
    c = rng.standard_normal(cols.shape)
    back = col2im(c, x.shape, kernel, stride, padding, dilation, out_size)
    assert back.shape == x.shape
    np.testing.assert_allclose((cols * c).sum(), (x * back).sum(), rtol=1e-10)


@pytest.mark.parametrize("kernel,stride,padding,dilation,h,w", GEOMETRIES)
def test_fast_columns_equal_the_reference_columns(kernel, stride, padding, dilation, h, w, rng):
    """columns.py (the fast helpers) and reference.py (its own short copy) agree."""
    x = rng.standard_normal((2, 3, h, w))
    geo = reference.conv_geometry(x.shape, (4, 3) + kernel, stride, padding, dilation)
    cols = im2col(x, kernel, stride, padding, dilation)
    np.testing.assert_array_equal(cols, reference.im2col(x, geo))
    dcols = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(col2im(dcols, x.shape, kernel, stride, padding, dilation,
                                      geo.out_size),
                               reference.col2im(dcols, geo), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel,stride,padding,dilation,h,w", GEOMETRIES)
def test_col2im_writes_into_out(kernel, stride, padding, dilation, h, w, rng):
    out_size = tuple(output_size(*a) for a in zip((h, w), kernel, stride, padding, dilation))
    cols = rng.standard_normal((2, 3 * kernel[0] * kernel[1], out_size[0] * out_size[1]))
    expected = col2im(cols, (2, 3, h, w), kernel, stride, padding, dilation, out_size)
    out = np.full((2, 3, h, w), np.nan)
    got = col2im(cols, (2, 3, h, w), kernel, stride, padding, dilation, out_size, out=out)
    assert got is out
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("kernel,stride,padding,dilation,h,w",
                         [g for g in GEOMETRIES if g[1] == (1, 1)])
def test_col2im_stride1_equals_col2im(kernel, stride, padding, dilation, h, w, rng):
    out_size = tuple(output_size(*a) for a in zip((h, w), kernel, stride, padding, dilation))
    oh, ow = out_size
    wp = w + 2 * padding[1]
    c = rng.standard_normal((2, 3 * kernel[0] * kernel[1], oh, ow))
    wide = np.zeros(c.shape[:3] + (wp,))  # the layout col2im_stride1 expects
    wide[..., :ow] = c
    expected = col2im(c.reshape(2, -1, oh * ow), (2, 3, h, w), kernel, stride, padding,
                      dilation, out_size)
    got = col2im_stride1(wide.reshape(2, -1, oh * wp), (2, 3, h, w), kernel, padding,
                         dilation, out_size)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    out = np.full((2, 3, h, w), np.nan)
    col2im_stride1(wide.reshape(2, -1, oh * wp), (2, 3, h, w), kernel, padding, dilation,
                   out_size, out=out)
    np.testing.assert_array_equal(out, got)


def test_im2col_layout_matches_weight_flattening(rng):
    """Row (c*KH + i)*KW + j of the columns holds x_pad[c, oh*s + i*d, ow*s + j*d]."""
    x = rng.standard_normal((1, 2, 5, 6))
    cols = im2col(x, (2, 3), (2, 1), (1, 0), (1, 2)).reshape(1, 2, 2, 3, 3, 2)
    x_pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0)))
    for c, i, j, oh, ow in [(0, 0, 0, 0, 0), (1, 1, 2, 2, 1), (0, 1, 1, 1, 0), (1, 0, 2, 0, 1)]:
        assert cols[0, c, i, j, oh, ow] == x_pad[0, c, oh * 2 + i, ow + j * 2]


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

def _zeros(*shape):
    return np.zeros(shape, np.float32)


@pytest.mark.parametrize("call,error,match", [
    (lambda: ops.conv2d(_zeros(8, 8), _zeros(4, 3, 3, 3)), ValueError,
     r"conv2d: input must be 4-D \(N, C, H, W\) \(or one image \(C, H, W\)\), got shape "
     r"\(8, 8\)"),
    (lambda: ops.conv2d(_zeros(1, 3, 8, 8), _zeros(4, 3, 3)), ValueError,
     r"conv2d: weight must be 4-D \(C_out, C_in, KH, KW\), got shape \(4, 3, 3\)"),
    (lambda: ops.conv2d(_zeros(1, 3, 8, 8), _zeros(8, 4, 3, 3)), ValueError,
     r"conv2d: input has 3 channels but weight expects 4 "
     r"\(input shape \(1, 3, 8, 8\), weight shape \(8, 4, 3, 3\)\)"),
    (lambda: ops.conv2d(_zeros(1, 3, 8, 8), _zeros(8, 3, 3, 3), _zeros(4)), ValueError,
     r"conv2d: bias must have shape \(8,\).*got \(4,\)"),
    (lambda: ops.conv2d(_zeros(1, 3, 2, 2), _zeros(8, 3, 3, 3)), ValueError,
     r"conv2d: output size would be \(0, 0\) for input shape \(1, 3, 2, 2\)"),
    (lambda: ops.conv2d(_zeros(1, 3, 8, 8), _zeros(8, 3, 3, 3), stride=0), ValueError,
     r"conv2d: stride must be positive"),
    (lambda: ops.conv2d(_zeros(1, 3, 8, 8), _zeros(8, 3, 3, 3), padding=-1), ValueError,
     r"conv2d: padding must be non-negative"),
    (lambda: ops.conv2d(_zeros(1, 3, 8, 8), _zeros(8, 3, 3, 3), stride=1.5), TypeError,
     r"stride must be an int or a pair of ints, got 1.5"),
    (lambda: ops.conv2d(_zeros(1, 3, 8, 8), _zeros(8, 3, 3, 3), padding=(1, 1, 1)), TypeError,
     r"padding must be an int or a pair of ints"),
    (lambda: ops.conv2d(_zeros(1, 3, 8, 8), np.zeros((8, 3, 3, 3))), TypeError,
     r"conv2d: input dtype float32 and weight dtype float64 differ"),
    (lambda: ops.conv2d(_zeros(1, 4, 8, 8), _zeros(8, 2, 3, 3), groups=0), ValueError,
     r"conv2d: groups must be a positive int, got 0"),
    (lambda: ops.conv2d(_zeros(1, 4, 8, 8), _zeros(8, 2, 3, 3), groups=2.0), ValueError,
     r"conv2d: groups must be a positive int, got 2.0"),
    (lambda: ops.conv2d(_zeros(1, 4, 8, 8), _zeros(8, 2, 3, 3), groups=3), ValueError,
     r"conv2d: input shape \(1, 4, 8, 8\) and weight shape \(8, 2, 3, 3\) do not fit "
     r"groups=3"),
    (lambda: ops.conv_transpose2d(_zeros(1, 3, 4, 4), _zeros(4, 2, 2, 2)), ValueError,
     r"conv_transpose2d: input has 3 channels but weight expects 4 "
     r"\(input shape \(1, 3, 4, 4\), weight shape \(4, 2, 2, 2\)\)"),
    (lambda: ops.conv_transpose2d(_zeros(1, 4, 4, 4), _zeros(4, 2, 2, 2), _zeros(4)), ValueError,
     r"conv_transpose2d: bias must have shape \(2,\).*got \(4,\)"),
    (lambda: ops.conv_transpose2d(_zeros(1, 4, 4, 4), _zeros(4, 2, 2, 2), stride=2,
                                  output_padding=2), ValueError,
     r"conv_transpose2d: output_padding \(2, 2\) must be non-negative and smaller than stride"),
    (lambda: ops.conv_transpose2d(_zeros(1, 4, 1, 1), _zeros(4, 2, 1, 1), padding=1), ValueError,
     r"conv_transpose2d: output size would be \(-1, -1\)"),
    (lambda: ops.conv_transpose2d(_zeros(1, 4, 4, 4), _zeros(4, 2, 2, 2), groups=True),
     ValueError, r"conv_transpose2d: groups must be a positive int, got True"),
    (lambda: ops.conv_transpose2d(_zeros(1, 6, 4, 4), _zeros(6, 2, 2, 2), groups=4),
     ValueError, r"conv_transpose2d: input shape \(1, 6, 4, 4\) and weight shape "
                 r"\(6, 2, 2, 2\) do not fit groups=4"),
    (lambda: ops.conv_transpose2d(_zeros(1, 4, 4, 4), _zeros(4, 2, 2, 2), _zeros(2), groups=2),
     ValueError, r"conv_transpose2d: bias must have shape \(4,\), C_out = weight.shape\[1\] "
                 r"\* groups, got \(2,\)"),
    # A zero-size kernel used to give zeros silently.
    (lambda: ops.conv2d(_zeros(1, 3, 5, 5), _zeros(4, 3, 0, 3)), ValueError,
     r"conv2d: the kernel \(KH, KW\) = \(0, 3\) of weight shape \(4, 3, 0, 3\) is empty"),
    (lambda: ops.conv2d(_zeros(1, 3, 5, 5), _zeros(4, 3, 3, 0), padding="same"), ValueError,
     r"conv2d: the kernel \(KH, KW\) = \(3, 0\) of weight shape \(4, 3, 3, 0\) is empty"),
    (lambda: ops.conv_transpose2d(_zeros(1, 3, 5, 5), _zeros(3, 4, 0, 0)), ValueError,
     r"conv_transpose2d: the kernel \(KH, KW\) = \(0, 0\) of weight shape \(3, 4, 0, 0\)"),
    (lambda: ops.conv2d(_zeros(1, 3, 8, 8), _zeros(4, 3, 3, 3), stride=2, padding="same"),
     ValueError, r"conv2d: padding='same' is not supported for strided convolutions, "
                 r"got stride \(2, 2\)"),
    (lambda: ops.conv2d(_zeros(1, 3, 8, 8), _zeros(4, 3, 3, 3), padding="full"), ValueError,
     r"conv2d: invalid padding string 'full', should be one of 'valid', 'same'"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------------
# padding="same" and "valid" (PyTorch: the extra zero of an even kernel goes bottom/right)
# ---------------------------------------------------------------------------

SAME_CASES = [  # (weight shape, dilation)
    ((4, 3, 3, 3), 1), ((4, 3, 4, 4), 1), ((4, 3, 2, 5), 1), ((4, 3, 4, 3), (2, 1)),
    ((4, 3, 3, 3), 2), ((4, 3, 1, 1), 1), ((4, 3, 4, 2), (1, 3)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("w_shape,dilation", SAME_CASES, ids=str)
def test_padding_strings_match_torch(torch, w_shape, dilation, padding, rng):
    x = rng.standard_normal((2, 3, 11, 12)).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(w_shape[0]).astype(np.float32)
    tx, tw, tb = (tn.tensor(a, requires_grad=True) for a in (x, w, b))
    y = ops.conv2d(tx, tw, tb, padding=padding, dilation=dilation)
    px, pw, pb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    py = torch.nn.functional.conv2d(px, pw, pb, padding=padding, dilation=dilation)
    assert y.shape == tuple(py.shape)
    if padding == "same":
        assert y.shape[2:] == x.shape[2:]
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(dy)
    py.backward(torch.tensor(dy))
    for what, ours, ref in [("y", y.data, py), ("dx", tx.grad.data, px.grad),
                            ("dw", tw.grad.data, pw.grad), ("db", tb.grad.data, pb.grad)]:
        assert_close(ours, ref, what)


def test_same_padding_with_an_even_kernel_pads_bottom_right(rng):
    """A 2x2 kernel: total padding 1 goes to the bottom and the right, none to the top/left."""
    x = rng.standard_normal((1, 1, 3, 4))
    y = ops.conv2d(x, np.ones((1, 1, 2, 2)), padding="same").data[0, 0]
    x_pad = np.pad(x[0, 0], ((0, 1), (0, 1)))
    expected = x_pad[:-1, :-1] + x_pad[1:, :-1] + x_pad[:-1, 1:] + x_pad[1:, 1:]
    np.testing.assert_allclose(y, expected, rtol=1e-12)


def test_gradcheck_cases_build_conv_graphs():
    """Every conv Function appears in this file's cases (guards the coverage meta-test)."""
    from gradcases import functions_in_graph
    found = set()
    for case in GRADCHECK_CASES:
        found |= functions_in_graph(case.fn(*build_inputs(case)))
    assert {conv_module.Conv2dFunction, conv_module.ConvTranspose2dFunction} <= found


def test_tiling_fast_path_equals_the_reference_columns(rng):
    """k == stride, no padding: im2col/col2im regroup axes; same columns as the reference's."""
    x = rng.standard_normal((2, 3, 6, 8))
    geometry = ((2, 2), (2, 2), (0, 0), (1, 1))
    assert is_tiling(*geometry, (6, 8), (3, 4))
    geo = reference.conv_geometry(x.shape, (4, 3, 2, 2), 2, 0, 1)
    cols = im2col(x, *geometry, (3, 4))
    np.testing.assert_array_equal(cols, reference.im2col(x, geo))
    dcols = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(col2im(dcols, x.shape, *geometry, (3, 4)),
                               reference.col2im(dcols, geo), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("conv", [
    lambda x, w: ops.conv2d(x, w, padding=1, stride=2),
    lambda x, w: ops.conv_transpose2d(x, w.transpose(0, 1), stride=2, output_padding=1),
    lambda x, w: ops.conv1d(x[..., 0, :], w[..., 0, :], padding=1),
])
def test_one_image_without_its_batch_dim_convolves_like_a_batch_of_one(conv):
    """PyTorch's convolutions take (C, H, W) (and (C, L)): the same as the batch of one,
    gradients included."""
    rng = np.random.default_rng(0)
    x = tn.tensor(rng.standard_normal((1, 3, 6, 7)), requires_grad=True)
    w = tn.tensor(rng.standard_normal((4, 3, 3, 3)))
    batch = conv(x, w)
    one = conv(x[0], w)
    assert tuple(one.shape) == tuple(batch.shape)[1:]
    np.testing.assert_allclose(one.numpy(), batch.numpy()[0], rtol=1e-12, atol=1e-12)
    one.sum().backward()
    assert tuple(x.grad.shape) == (1, 3, 6, 7)
