"""tinynet.ops.pooling: gradient checks, PyTorch parity and error messages of pooling and
interpolation."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import ops
from tinynet.ops.blocking import override_limits, plane_blocks
from tinynet.ops.pooling.interpolate import linear_matrix, repeat_elements, sum_blocks
from tinynet.ops.pooling.windows import pool_geometry

from torch_parity import torch_or_skip
from gradcases import GradCase, run_case


def normal(rng, *shape):
    return rng.standard_normal(shape)


GRADCHECK_CASES = [
    # Max pooling: random normal inputs have no ties within eps, so the argmax is stable.
    GradCase("max_pool_k2_tiles", lambda x: ops.max_pool2d(x, 2),
             lambda r: [normal(r, 1, 2, 4, 6)]),
    GradCase("max_pool_k3_s2_p1", lambda x: ops.max_pool2d(x, 3, stride=2, padding=1),
             lambda r: [normal(r, 1, 2, 5, 5)]),
    GradCase("max_pool_overlapping_s1", lambda x: ops.max_pool2d(x, 2, stride=1),
             lambda r: [normal(r, 1, 1, 4, 5)]),
    GradCase("max_pool_ceil_dilation",
             lambda x: ops.max_pool2d(x, 2, 2, 0, dilation=2, ceil_mode=True),
             lambda r: [normal(r, 1, 1, 6, 7)]),
    GradCase("max_pool_large_random_dirs",
             lambda x: ops.max_pool2d(x, (3, 2), stride=(2, 1), padding=1),
             lambda r: [normal(r, 2, 2, 6, 5)]),
    GradCase("max_pool_stride_over_kernel", lambda x: ops.max_pool2d(x, 2, stride=3),
             lambda r: [normal(r, 1, 2, 8, 7)]),
    GradCase("max_pool_k4_s2_p2_ceil", lambda x: ops.max_pool2d(x, 4, 2, 2, ceil_mode=True),
             lambda r: [normal(r, 1, 2, 7, 6)]),
    # Average pooling.
    GradCase("avg_pool_k2_tiles", lambda x: ops.avg_pool2d(x, 2),
             lambda r: [normal(r, 1, 2, 4, 6)]),
    GradCase("avg_pool_k3_s2_p1", lambda x: ops.avg_pool2d(x, 3, stride=2, padding=1),
             lambda r: [normal(r, 1, 2, 5, 5)]),
    GradCase("avg_pool_exclude_pad_ceil",
             lambda x: ops.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
             lambda r: [normal(r, 1, 1, 6, 6)]),
    GradCase("avg_pool_large_tile_einsum", lambda x: ops.avg_pool2d(x, (4, 5)),
             lambda r: [normal(r, 1, 2, 4, 10)]),
    # Adaptive average pooling (global = one large tile; divisible = loop path).
    GradCase("adaptive_avg_global", lambda x: ops.adaptive_avg_pool2d(x, 1),
             lambda r: [normal(r, 2, 2, 5, 5)]),
    GradCase("adaptive_avg_2x3", lambda x: ops.adaptive_avg_pool2d(x, (2, 3)),
             lambda r: [normal(r, 1, 2, 4, 6)]),
    # ... and overlapping windows (averaging matrices; the max of each window)
    GradCase("adaptive_avg_overlapping", lambda x: ops.adaptive_avg_pool2d(x, (3, 4)),
             lambda r: [normal(r, 1, 2, 5, 7)]),
    GradCase("adaptive_max_overlapping", lambda x: ops.adaptive_max_pool2d(x, (3, 4)),
             lambda r: [normal(r, 1, 2, 5, 7)]),
    # Nearest upsampling: integer factors (repeat) and arbitrary sizes (gather).
    GradCase("upsample_nearest_x2", lambda x: ops.upsample_nearest2d(x, scale_factor=2),
             lambda r: [normal(r, 1, 2, 3, 3)]),
    GradCase("interpolate_x3x1", lambda x: ops.interpolate(x, scale_factor=(3, 1)),
             lambda r: [normal(r, 1, 2, 2, 3)]),
    GradCase("interpolate_size_5x7", lambda x: ops.interpolate(x, size=(5, 7)),
             lambda r: [normal(r, 1, 2, 3, 4)]),
    # Bilinear: up and down, both corner conventions.
    GradCase("bilinear_x2", lambda x: ops.interpolate(x, scale_factor=2, mode="bilinear"),
             lambda r: [normal(r, 1, 2, 3, 4)]),
    GradCase("bilinear_size_down_align_corners",
             lambda x: ops.interpolate(x, size=(2, 5), mode="bilinear", align_corners=True),
             lambda r: [normal(r, 1, 2, 4, 7)]),
    GradCase("bicubic_x2", lambda x: ops.interpolate(x, scale_factor=2, mode="bicubic"),
             lambda r: [normal(r, 1, 2, 3, 4)]),
    GradCase("bicubic_size_down_align_corners",
             lambda x: ops.interpolate(x, size=(2, 5), mode="bicubic", align_corners=True),
             lambda r: [normal(r, 1, 1, 4, 7)]),
    GradCase("area_and_nearest_exact",
             lambda x: ops.interpolate(x, size=(3, 4), mode="area").sum() +
             ops.interpolate(x, scale_factor=1.7, mode="nearest-exact").sum(),
             lambda r: [normal(r, 1, 2, 5, 7)]),
    GradCase("bilinear_large_random_dirs",
             lambda x: ops.interpolate(x, scale_factor=(1.5, 0.6), mode="bilinear"),
             lambda r: [normal(r, 2, 2, 5, 6)]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


# ---------------------------------------------------------------------------
# Behaviour
# ---------------------------------------------------------------------------

def test_max_pool_ties_route_gradient_to_first_maximum():
    # After a ReLU whole windows are 0: the gradient must go to one element per
    # window (the first, in row-major order), not to all of them.
    x = tn.tensor(np.zeros((1, 1, 4, 4), np.float32), requires_grad=True)
    ops.max_pool2d(x, 2).sum().backward()
    expected = np.zeros((4, 4), np.float32)
    expected[::2, ::2] = 1
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)


def test_max_pool_padding_is_never_the_maximum():
    x = tn.tensor(-np.ones((1, 1, 3, 3), np.float32), requires_grad=True)
    y = ops.max_pool2d(x, 3, stride=1, padding=1)
    np.testing.assert_array_equal(y.numpy(), -np.ones((1, 1, 3, 3)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pools_keep_dtype(dtype, rng):
    x = tn.tensor(rng.standard_normal((1, 2, 4, 4)).astype(dtype))
    for y in (ops.max_pool2d(x, 2), ops.avg_pool2d(x, 3, 1, 1), ops.adaptive_avg_pool2d(x, 1),
              ops.interpolate(x, scale_factor=2), ops.interpolate(x, size=(5, 3))):
        assert y.dtype == dtype


def test_adaptive_global_equals_mean(rng):
    x = rng.standard_normal((2, 3, 7, 7)).astype(np.float32)
    y = ops.adaptive_avg_pool2d(tn.tensor(x), (1, 1))
    assert y.shape == (2, 3, 1, 1)
    np.testing.assert_allclose(y.numpy(), x.mean(axis=(2, 3), keepdims=True), rtol=1e-6, atol=1e-7)


def test_upsample_nearest_replicates_blocks():
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)
    y = ops.upsample_nearest2d(tn.tensor(x), scale_factor=2).numpy()[0, 0]
    np.testing.assert_array_equal(y, [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])


# ---------------------------------------------------------------------------
# Max pooling (two 1-D passes, blocks of planes) against PyTorch's loop written out
# ---------------------------------------------------------------------------

def reference_max_pool(x, g, kernel, stride, padding, dilation, out):
    """y and dx of PyTorch's CPU max pool loop, one window at a time (float64 sums).

    Each window starts at its first real element with max -inf and takes an
    element when it is greater or NaN, scanning rows then columns; dx[winner] += g.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (ho, wo) = kernel, stride, padding, dilation, out
    n, c, h, w = x.shape
    y, dx = np.empty((n, c, ho, wo)), np.zeros((n, c, h, w))
    for p, q, oh, ow in np.ndindex(n, c, ho, wo):
        rows = [r for r in range(oh * sh - ph, oh * sh - ph + kh * dh, dh) if 0 <= r < h]
        cols = [s for s in range(ow * sw - pw, ow * sw - pw + kw * dw, dw) if 0 <= s < w]
        best, winner = -np.inf, (rows[0], cols[0])
        for r in rows:
            for s in cols:
                if x[p, q, r, s] > best or np.isnan(x[p, q, r, s]):
                    best, winner = x[p, q, r, s], (r, s)
        y[p, q, oh, ow] = best
        dx[(p, q) + winner] += g[p, q, oh, ow]
    return y, dx


MAX_POOL_GEOMETRIES = [  # kernel, stride, padding, dilation, ceil_mode
    (3, 2, 1, 1, False), (2, 2, 0, 1, False), (2, 2, 0, 1, True), (3, 1, 1, 1, False),
    (3, 2, 0, 1, True), ((3, 2), (2, 1), (1, 0), 1, False), (3, 1, 1, 2, False),
    (2, 3, 0, 1, False), (2, 3, 1, 1, True), (4, 2, 2, 1, True), (1, 1, 0, 1, False),
    ((1, 5), (1, 2), (0, 2), 1, False),
]


def tie_heavy(rng, shape):
    """Small integers (most windows hold tied maxima), a few -inf; float32."""
    x = rng.integers(0, 3, shape).astype(np.float32)
    x[rng.random(shape) < 0.1] = -np.inf
    return x


@pytest.mark.parametrize("geometry", MAX_POOL_GEOMETRIES, ids=str)
def test_max_pool_matches_reference_loop_on_ties(geometry, rng):
    kernel, stride, padding, dilation, ceil_mode = geometry
    x = tie_heavy(rng, (2, 3, 9, 8))
    x[0, 0] = -np.inf  # whole windows of -inf: the gradient goes to the first real element
    xt = tn.tensor(x, requires_grad=True)
    y = ops.max_pool2d(xt, kernel, stride, padding, dilation, ceil_mode)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    geo = pool_geometry("max_pool2d", x.shape, kernel, stride, padding, dilation, ceil_mode)
    y_ref, dx_ref = reference_max_pool(x, g, geo.kernel, geo.stride, geo.padding, geo.dilation,
                                       geo.out)
    np.testing.assert_array_equal(y.numpy(), y_ref)
    np.testing.assert_allclose(xt.grad.numpy(), dx_ref, rtol=1e-6, atol=1e-6)


def test_max_pool_nan_wins_and_the_last_nan_gets_the_gradient(rng):
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    x[0, 0, 1, 1] = x[0, 0, 2, 2] = x[0, 1, 0, 3] = np.nan
    xt = tn.tensor(x, requires_grad=True)
    y = ops.max_pool2d(xt, 3, 2, 1)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    y_ref, dx_ref = reference_max_pool(x, g, (3, 3), (2, 2), (1, 1), (1, 1), (3, 3))
    np.testing.assert_array_equal(y.numpy(), y_ref)  # NaN where the reference has NaN
    np.testing.assert_allclose(xt.grad.numpy(), dx_ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("geometry", [(3, 2, 1, 1, False), (2, 2, 0, 1, False)], ids=str)
def test_max_pool_blocks_of_planes_agree_with_one_block(geometry, rng):
    x = tie_heavy(rng, (3, 4, 10, 12))
    g = rng.standard_normal(ops.max_pool2d(x, *geometry).shape).astype(np.float32)
    results = []
    for block_bytes in (1, 2**40):  # one plane per block; everything in one block
        with override_limits(plane_block=block_bytes):
            xt = tn.tensor(x, requires_grad=True)
            y = ops.max_pool2d(xt, *geometry)
            y.backward(g)
        results.append((y.numpy(), xt.grad.numpy()))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_plane_blocks_cover_every_plane_once():
    stack = np.zeros((10, 4, 4), np.float32)  # 64 bytes a plane
    with override_limits(plane_block=200):    # at most 3 planes a block, about equal blocks
        assert plane_blocks(stack) == [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 10)]
    with override_limits(plane_block=1):
        assert plane_blocks(stack) == [slice(i, i + 1) for i in range(10)]
    assert plane_blocks(stack) == [slice(0, 10)]


def test_max_pool_without_grad_gives_the_same_values(rng):
    x = tie_heavy(rng, (2, 3, 9, 8))
    with tn.no_grad():
        y = ops.max_pool2d(tn.tensor(x, requires_grad=True), 3, 2, 1)
    np.testing.assert_array_equal(y.numpy(), ops.max_pool2d(x, 3, 2, 1).numpy())


# ---------------------------------------------------------------------------
# Nearest upsampling by integer factors against NumPy's repeat / block sums
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("factors", [(1, 1), (2, 2), (3, 1), (1, 4), (2, 3)], ids=str)
@pytest.mark.parametrize("block_bytes", [1, 2**40])
def test_integer_upsampling_matches_repeat_and_block_sums(factors, block_bytes, rng):
    rh, rw = factors
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    g = rng.standard_normal((2, 3, 4 * rh, 5 * rw)).astype(np.float32)
    with override_limits(plane_block=block_bytes):
        np.testing.assert_array_equal(repeat_elements(x, rh, rw), x.repeat(rh, 2).repeat(rw, 3))
        np.testing.assert_allclose(sum_blocks(g, rh, rw),
                                   g.reshape(2, 3, 4, rh, 5, rw).sum(axis=(3, 5)), rtol=1e-6)


# ---------------------------------------------------------------------------
# Parity with PyTorch (float32)
# ---------------------------------------------------------------------------

def _parity(tn_fn, torch_fn, x, rtol=1e-5, atol=1e-6):
    """Compare forward and input gradient (for a random upstream gradient) with PyTorch."""
    torch = torch_or_skip()
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_fn(xt)
    g = np.random.default_rng(7).standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g))
    xn = tn.tensor(x, requires_grad=True)
    yn = tn_fn(xn)
    yn.backward(g)
    assert yn.shape == tuple(yt.shape)
    np.testing.assert_allclose(yn.numpy(), yt.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=atol)


POOL_PARITY = [
    # (name, kwargs); inputs are ReLU'd, so windows of zeros (ties) occur.
    ("max_k3_s2_p1_resnet", "max_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("max_k2_s2", "max_pool2d", dict(kernel_size=2, stride=2)),
    ("max_k3_s2_ceil", "max_pool2d", dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("max_k3_s1_dilation2", "max_pool2d", dict(kernel_size=3, stride=1, dilation=2)),
    ("avg_k2", "avg_pool2d", dict(kernel_size=2)),
    ("avg_k3_s2_p1", "avg_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("avg_k3_s2_p1_exclude_pad_ceil", "avg_pool2d",
     dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("avg_divisor_override", "avg_pool2d", dict(kernel_size=2, divisor_override=3)),
]


@pytest.mark.parametrize("name,op,kwargs", POOL_PARITY, ids=[p[0] for p in POOL_PARITY])
def test_pool_parity_with_torch(torch, name, op, kwargs, rng):
    x = np.maximum(rng.standard_normal((2, 3, 17, 16)), 0).astype(np.float32)
    _parity(lambda t: getattr(ops, op)(t, **kwargs),
            lambda t: getattr(torch.nn.functional, op)(t, **kwargs), x)


@pytest.mark.parametrize("geometry", MAX_POOL_GEOMETRIES, ids=str)
def test_max_pool_ties_nan_and_inf_parity_with_torch(torch, geometry, rng):
    # PyTorch sends the gradient to the first maximum in row-major window order
    # (the last NaN if any), and to the first real element of an all -inf window.
    kernel, stride, padding, dilation, ceil_mode = geometry
    x = tie_heavy(rng, (2, 3, 9, 8))
    x[1, 2] = -np.inf
    x[0, 1, 4, 4] = x[0, 1, 4, 5] = np.nan
    args = (kernel, stride, padding, dilation, ceil_mode)
    _parity(lambda t: ops.max_pool2d(t, *args),
            lambda t: torch.nn.functional.max_pool2d(t, *args), x)


@pytest.mark.parametrize("output_size", [1, (1, 1), (2, 4), (None, 2)])
def test_adaptive_avg_pool_parity_with_torch(torch, output_size, rng):
    x = rng.standard_normal((2, 4, 8, 8)).astype(np.float32)
    _parity(lambda t: ops.adaptive_avg_pool2d(t, output_size),
            lambda t: torch.nn.functional.adaptive_avg_pool2d(t, output_size), x)


INTERP_PARITY = [dict(scale_factor=2), dict(scale_factor=3), dict(size=(14, 20)),
                 dict(size=(11, 13)), dict(scale_factor=1.5), dict(scale_factor=(2, 0.5)),
                 dict(scale_factor=2.5, recompute_scale_factor=True)]


@pytest.mark.parametrize("kwargs", INTERP_PARITY, ids=str)
def test_interpolate_nearest_parity_with_torch(torch, kwargs, rng):
    x = rng.standard_normal((2, 3, 7, 10)).astype(np.float32)
    _parity(lambda t: ops.interpolate(t, **kwargs),
            lambda t: torch.nn.functional.interpolate(t, mode="nearest", **kwargs), x)


BILINEAR_PARITY = [dict(scale_factor=2), dict(scale_factor=3), dict(scale_factor=1.5),
                   dict(scale_factor=0.5), dict(scale_factor=(0.4, 2.5)), dict(size=(14, 20)),
                   dict(size=(4, 6)), dict(size=(1, 1)), dict(size=(7, 10)),
                   dict(scale_factor=2.3, recompute_scale_factor=True)]


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("kwargs", BILINEAR_PARITY, ids=str)
def test_interpolate_bilinear_parity_with_torch(torch, kwargs, align_corners, rng):
    x = rng.standard_normal((2, 3, 7, 10)).astype(np.float32)
    _parity(lambda t: ops.interpolate(t, mode="bilinear", align_corners=align_corners, **kwargs),
            lambda t: torch.nn.functional.interpolate(t, mode="bilinear",
                                                      align_corners=align_corners, **kwargs), x)


@pytest.mark.parametrize("mode, kwargs", [
    ("bicubic", dict(scale_factor=2)), ("bicubic", dict(size=(3, 16))),
    ("bicubic", dict(size=(12, 5), align_corners=True)), ("area", dict(size=(3, 4))),
    ("area", dict(size=(9, 13))), ("nearest-exact", dict(scale_factor=1.7)),
    ("nearest-exact", dict(size=(4, 3)))], ids=str)
def test_interpolate_other_modes_parity_with_torch(torch, mode, kwargs, rng):
    x = rng.standard_normal((2, 3, 7, 10)).astype(np.float32)
    _parity(lambda t: ops.interpolate(t, mode=mode, **kwargs),
            lambda t: torch.nn.functional.interpolate(t, mode=mode, **kwargs), x)


def test_bilinear_align_corners_none_means_false(rng):
    x = rng.standard_normal((1, 2, 3, 5)).astype(np.float32)
    np.testing.assert_array_equal(
        ops.interpolate(x, scale_factor=2, mode="bilinear").numpy(),
        ops.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False).numpy())


def test_linear_matrix_by_hand():
    """3 -> 6 pixels, scale 1/2: src = (o + 0.5)/2 - 0.5 clamped at 0, i.e. 0, .25, .75, 1.25,
    1.75, 2.25 (the last beyond pixel 2, so all its weight on pixel 2)."""
    np.testing.assert_allclose(linear_matrix(6, 3, 0.5, False, np.float64),
                               [[1, 0, 0], [.75, .25, 0], [.25, .75, 0], [0, .75, .25],
                                [0, .25, .75], [0, 0, 1]])
    # align_corners: src = o * (3 - 1) / (5 - 1) = 0, .5, 1, 1.5, 2
    np.testing.assert_allclose(linear_matrix(5, 3, None, True, np.float64),
                               [[1, 0, 0], [.5, .5, 0], [0, 1, 0], [0, .5, .5], [0, 0, 1]])


def test_upsample_nearest2d_matches_torch_interpolate(torch, rng):
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    _parity(lambda t: ops.upsample_nearest2d(t, scale_factor=2),
            lambda t: torch.nn.functional.interpolate(t, scale_factor=2, mode="nearest"), x)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

X4 = np.zeros((1, 2, 6, 6), np.float32)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: ops.max_pool2d(X4, 0), ValueError,
     r"max_pool2d: kernel_size must be >= 1, got \(0, 0\)"),
    (lambda: ops.max_pool2d(X4, 2.5), TypeError,
     r"max_pool2d: kernel_size must be an int or a pair"),
    (lambda: ops.max_pool2d(X4, (2, 2, 2)), TypeError, r"kernel_size must be an int or a pair"),
    (lambda: ops.max_pool2d(X4, 2, stride=0), ValueError, r"stride must be >= 1"),
    (lambda: ops.max_pool2d(X4, 7), ValueError,
     r"kernel \(7, 7\) .* does not fit in the input of shape \(1, 2, 6, 6\)"),
    (lambda: ops.max_pool2d(X4, 3, padding=2), ValueError,
     r"padding \(2, 2\) must be at most half of the \(dilated\) kernel size \(3, 3\)"),
    (lambda: ops.max_pool2d(np.zeros((6, 6), np.float32), 2), ValueError,
     r"max_pool2d: expected a 4-D input \(N, C, H, W\) \(or one image \(C, H, W\)\), got "
     r"shape \(6, 6\)"),
    (lambda: ops.avg_pool2d(np.zeros((6, 6), np.float32), 2), ValueError,
     r"avg_pool2d: expected a 4-D input"),
    (lambda: ops.avg_pool2d(X4, 2, divisor_override=0), ValueError, "divisor_override"),
    (lambda: ops.adaptive_avg_pool2d(X4.astype(np.int64), 4), TypeError,
     "adaptive_avg_pool2d: expected a floating-point input, got dtype int64"),
    (lambda: ops.adaptive_avg_pool2d(X4, 0), ValueError, "output_size must be positive"),
    (lambda: ops.interpolate(X4, scale_factor=2, mode="tricubic"), ValueError,
     "interpolate: mode must be one of 'nearest', 'nearest-exact', 'linear', 'bilinear', "
     "'bicubic', 'trilinear', 'area', got 'tricubic'"),
    (lambda: ops.interpolate(X4, scale_factor=2, mode="trilinear"), ValueError,
     r"got a 4-D input of shape \(1, 2, 6, 6\), but mode 'trilinear' needs a 5-D input"),
    (lambda: ops.interpolate(X4, scale_factor=2, mode="area", align_corners=True), ValueError,
     "align_corners option can only be set with the interpolating modes"),
    (lambda: ops.interpolate(X4, scale_factor=2, mode="bilinear", antialias=True),
     NotImplementedError, r"antialias=True is not supported \(mode='bilinear'\)"),
    (lambda: ops.interpolate(X4, scale_factor=0.1, mode="bilinear"), ValueError,
     r"scale_factor 0.1 shrinks the input of shape \(1, 2, 6, 6\) to nothing"),
    (lambda: ops.interpolate(X4, size=4, scale_factor=2), ValueError,
     "exactly one of size and scale_factor"),
    (lambda: ops.interpolate(X4), ValueError, "exactly one of size and scale_factor"),
    (lambda: ops.interpolate(X4, scale_factor=-1), ValueError, "scale_factor must be a positive"),
    (lambda: ops.interpolate(X4, size=(2, 0)), ValueError, "size must be a positive int"),
    (lambda: ops.interpolate(X4, scale_factor=2, align_corners=True), ValueError,
     "align_corners option can only be set with the interpolating modes"),
    (lambda: ops.upsample_nearest2d(np.zeros((2, 3), np.float32), 2), ValueError,
     r"upsample_nearest2d: expected a 4-D input \(N, C, H, W\), got shape \(2, 3\)"),
])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("pool", [
    lambda x: ops.max_pool2d(x, 3, 2, 1, ceil_mode=True),
    lambda x: ops.max_pool2d(x, 2, return_indices=True),
    lambda x: ops.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
    lambda x: ops.adaptive_avg_pool2d(x, (3, 4)),
    lambda x: ops.adaptive_max_pool2d(x, (3, 4), return_indices=True),
    lambda x: ops.max_pool1d(x[0], 3, 2, 1, return_indices=True),
])
def test_one_sample_without_its_batch_dim_pools_like_a_batch_of_one(pool):
    """PyTorch's pools take (C, H, W) (and (C, L)) too: the same as the batch of one."""
    x = tn.tensor(np.random.default_rng(0).standard_normal((1, 3, 7, 9)), requires_grad=True)
    batch, one = pool(x), pool(x[0])
    for b, o in zip(batch if isinstance(batch, tuple) else [batch],
                    one if isinstance(one, tuple) else [one]):
        assert tuple(o.shape) == tuple(b.shape)[1:]
        np.testing.assert_array_equal(o.numpy(), b.numpy()[0])
