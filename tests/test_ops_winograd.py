"""tinynet.ops.conv.winograd, the Winograd F(2x2, 3x3) conv2d: its transforms, gradients, saved
state, dispatch, PyTorch parity.

Its values are checked against the reference conv2d in test_ops_conv_reference.py.
"""
import numpy as np
import pytest

import tinynet as tn
from tinynet.ops import conv as conv_module
from tinynet.ops.blocking import batch_chunks, override_limits
from tinynet.ops.conv import choose_algorithm, winograd
from tinynet.ops.conv.arguments import conv_geometry
from gradcases import GradCase, conv_grad_case, forced_conv2d as forced, run_case


def wino_case(name, x_shape, w_shape, bias=True, **kwargs):
    return conv_grad_case("winograd", name, x_shape, w_shape, bias, **kwargs)


GRADCHECK_CASES = [
    wino_case("winograd_pad1_bias", (2, 2, 5, 6), (3, 2, 3, 3), padding=1),
    wino_case("winograd_pad0_odd_no_bias", (1, 3, 7, 7), (2, 3, 3, 3), bias=False),
    wino_case("winograd_pad_1x2", (2, 2, 4, 5), (2, 2, 3, 3), padding=(1, 2)),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck_chunked_and_recomputed(case):
    """One sample per chunk, V rebuilt from x in backward: the other code path."""
    with override_limits(winograd_chunk=1, kept_for_backward=0):
        run_case(case)


def test_gradcheck_chunked_im2col():
    """Columns too big to keep are built per batch chunk, in forward and backward."""
    with override_limits(kept_for_backward=0, im2col_chunk=1):
        for kwargs in [dict(padding=1), dict(stride=2, padding=1), dict(dilation=2, padding=1)]:
            run_case(GradCase("im2col_chunks", forced("im2col", **kwargs),
                              lambda r: [r.standard_normal((3, 2, 6, 5)),
                                         r.standard_normal((2, 2, 3, 3)), r.standard_normal(2)]))


# ---------------------------------------------------------------------------
# The pieces: adjoints and layouts
# ---------------------------------------------------------------------------

def test_input_transform_adjoint_is_its_transpose(rng):
    """<V(xs), dv> == <xs, V^T(dv)> for all xs, dv."""
    tiles = (3, 2)
    xs = rng.standard_normal((2, 2 * tiles[0] + 2, 2, tiles[1] + 1, 3))
    v = winograd.input_transform(xs, tiles)
    dv = rng.standard_normal(v.shape)
    back = winograd.input_transform_adjoint(dv)
    assert back.shape == xs.shape
    np.testing.assert_allclose((v * dv).sum(), (xs * back).sum(), rtol=1e-12)


def test_output_transform_adjoint_is_its_transpose(rng):
    m = rng.standard_normal((4, 4, 2, 3, 2, 5))
    ys = winograd.output_transform(m)
    dys = rng.standard_normal(ys.shape)
    back = winograd.output_transform_adjoint(dys)
    assert ys.shape == (2, 6, 2, 2, 5) and back.shape == m.shape
    np.testing.assert_allclose((ys * dys).sum(), (m * back).sum(), rtol=1e-12)


def test_weight_transform_adjoint_is_its_transpose(rng):
    g = rng.standard_normal((3, 2, 3, 3))
    u = winograd.weight_transform(g)
    du = rng.standard_normal(u.shape)
    np.testing.assert_allclose((u * du).sum(), (g * winograd.weight_transform_adjoint(du)).sum(),
                               rtol=1e-12)


def test_weight_transform_is_g_g_gt(rng):
    g = rng.standard_normal((2, 3, 3, 3))
    G = np.array(winograd.G)
    expected = np.einsum("ai,ocij,bj->aboc", G, g, G).reshape(16, 2, 3)
    np.testing.assert_allclose(winograd.weight_transform(g), expected, rtol=1e-12)


def test_one_tile_is_the_1d_algorithm_nested():
    """A single 4x4 tile: A^T [(G g G^T) * (B^T d B)] A is the 2x2 correlation."""
    d = np.arange(16.0).reshape(1, 1, 4, 4)
    g = np.array([[1.0, 2, 0], [0, -1, 3], [2, 0, 1]]).reshape(1, 1, 3, 3)
    geo = conv_geometry("conv2d", d.shape, g.shape, 1, 0, 1)
    y, _ = winograd.forward(d, g, None, geo, want_dx=False, want_dw=False)
    direct = np.array([[(d[0, 0, i:i + 3, j:j + 3] * g[0, 0]).sum() for j in range(2)]
                       for i in range(2)])
    np.testing.assert_allclose(y[0, 0], direct, rtol=1e-12)


@pytest.mark.parametrize("padding,hw", [((1, 1), (5, 6)), ((0, 2), (4, 3)), ((2, 0), (3, 4))])
def test_split_layout_round_trip(padding, hw, rng):
    x = rng.standard_normal((2, 3) + hw)
    rows, half_cols = hw[0] + 2 * padding[0] + 1, (hw[1] + 2 * padding[1] + 1) // 2 + 1
    xs = winograd.to_split(x, padding, rows, half_cols)
    assert xs.shape == (2, rows, 2, half_cols, 3)
    # Padded pixel (r, 2t + e) is at [n, r, e, t, c]; the padding is zero.
    x_pad = np.zeros((2, 3, rows, 2 * half_cols))
    x_pad[:, :, padding[0]:padding[0] + hw[0], padding[1]:padding[1] + hw[1]] = x
    np.testing.assert_array_equal(xs, x_pad.reshape(2, 3, rows, half_cols, 2)
                                  .transpose(0, 2, 4, 3, 1))
    np.testing.assert_array_equal(winograd.from_split(xs, padding, hw), x)


@pytest.mark.parametrize("n,sample,chunk", [(8, 10, 1000), (8, 10, 25), (8, 10, 1), (5, 3, 7),
                                            (7, 10, 25)])
def test_batch_chunks_cover_the_batch(n, sample, chunk):
    chunks = batch_chunks(n, sample, chunk)
    assert chunks[0][0] == 0 and chunks[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))      # contiguous
    sizes = [n1 - n0 for n0, n1 in chunks]
    assert len(set(sizes[:-1])) <= 1 and sizes[-1] <= sizes[0]       # equal, last may be less
    assert (len(chunks) == 1) == (n * sample <= chunk)
    assert all(size == 1 or size * sample < 2 * chunk for size in sizes)


# ---------------------------------------------------------------------------
# Dispatch and saved state
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("x_shape,w_shape,stride,dilation,expected", [
    ((8, 128, 28, 28), (128, 128, 3, 3), (1, 1), (1, 1), "winograd"),
    ((8, 512, 7, 7), (512, 512, 3, 3), (1, 1), (1, 1), "winograd"),
    ((8, 128, 16, 16), (256, 128, 3, 3), (1, 1), (1, 1), "winograd"),
    ((8, 64, 56, 56), (64, 64, 3, 3), (1, 1), (1, 1), "rows"),         # < 128 channels
    ((8, 64, 32, 32), (128, 64, 3, 3), (1, 1), (1, 1), "rows"),
    ((8, 256, 64, 64), (32, 256, 3, 3), (1, 1), (1, 1), "rows"),       # few outputs
    ((8, 3, 256, 256), (16, 3, 3, 3), (1, 1), (1, 1), "im2col"),       # few channels
    ((8, 128, 56, 56), (128, 128, 3, 3), (2, 2), (1, 1), "im2col"),    # strided
    ((8, 128, 56, 56), (128, 128, 3, 3), (1, 1), (2, 2), "rows"),      # dilated
    ((8, 128, 56, 56), (128, 128, 1, 1), (1, 1), (1, 1), "im2col"),    # 1x1
    ((8, 128, 56, 56), (128, 128, 5, 5), (1, 1), (1, 1), "rows"),      # not 3x3
])
def test_choose_algorithm(x_shape, w_shape, stride, dilation, expected):
    padding = (0, 0) if w_shape[2] == 1 else (1, 1)
    geo = conv_geometry("conv2d", x_shape, w_shape, stride, padding, dilation)
    assert choose_algorithm(geo) == expected


def test_conv2d_dispatches_to_winograd(rng):
    x = tn.tensor(rng.standard_normal((1, 128, 6, 6)).astype(np.float32), requires_grad=True)
    w = tn.tensor(rng.standard_normal((128, 128, 3, 3)).astype(np.float32), requires_grad=True)
    fn = tn.ops.conv2d(x, w, padding=1).grad_fn
    assert fn.algorithm == "winograd" and fn.saved.v.shape == (4, 4, 1, 3, 3, 128)
    assert fn.saved.u.shape == (16, 128, 128) and fn.saved.x is None
    assert tn.ops.conv2d(x, w, stride=2, padding=1).grad_fn.algorithm == "im2col"
    small = tn.tensor(rng.standard_normal((1, 3, 6, 6)).astype(np.float32))
    w3 = tn.tensor(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), requires_grad=True)
    assert tn.ops.conv2d(small, w3, padding=1).grad_fn.algorithm == "im2col"


def test_winograd_saves_only_what_backward_needs(rng):
    x = tn.tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = tn.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    conv = forced("winograd", padding=1)
    u, v, kept_x = conv(x, w, None).grad_fn.saved
    assert u.shape == (16, 4, 3) and v.shape == (4, 4, 2, 3, 3, 3) and kept_x is None
    u, v, kept_x = conv(x.detach(), w, None).grad_fn.saved     # no dx: U is not kept
    assert u is None and v is not None
    u, v, kept_x = conv(x, w.detach(), None).grad_fn.saved     # no dw: neither V nor x
    assert u is not None and v is None and kept_x is None
    with override_limits(kept_for_backward=0):
        u, v, kept_x = conv(x, w, None).grad_fn.saved          # V too big: x is kept instead
    assert v is None and kept_x is x.data


@pytest.mark.parametrize("kwargs", [dict(stride=2), dict(dilation=2)])
def test_winograd_refuses_other_geometries(kwargs):
    x, w = np.zeros((1, 2, 8, 8), np.float32), np.zeros((2, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"conv2d: the winograd algorithm needs a 3x3 kernel, "
                                         r"stride 1 and dilation 1, "
                                         r"got input shape \(1, 2, 8, 8\), "
                                         r"weight shape \(2, 2, 3, 3\)"):
        forced("winograd", **kwargs)(x, w, None)
    with pytest.raises(ValueError, match=r"needs a 3x3 kernel.*weight shape \(2, 2, 1, 1\)"):
        forced("winograd")(x, np.zeros((2, 2, 1, 1), np.float32), None)


def test_unknown_algorithm():
    with pytest.raises(ValueError, match=r"conv2d: algorithm must be one of "
                                         r"\('reference', 'im2col', 'rows', 'winograd'\), "
                                         r"got 'fft'"):
        with conv_module.use_algorithm("fft"):
            pass


def test_use_algorithm_is_restored_after_the_block_and_nests(rng):
    x = rng.standard_normal((1, 128, 6, 6))
    w = rng.standard_normal((128, 128, 3, 3))
    outer, inner, chosen = (conv_module.Conv2dFunction(padding=1) for _ in range(3))
    with conv_module.use_algorithm("rows"):
        outer(x, w, None)
        with conv_module.use_algorithm("reference"):
            inner(x, w, None)
        assert conv_module.forced_algorithm() == "rows"
    chosen(x, w, None)
    assert (outer.algorithm, inner.algorithm, chosen.algorithm) == ("rows", "reference", "winograd")
    assert conv_module.forced_algorithm() is None


# ---------------------------------------------------------------------------
# Parity with PyTorch (float32)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("x_shape,c_out,padding", [((2, 8, 9, 7), 6, 1), ((2, 5, 8, 8), 4, 0),
                                                   ((1, 16, 7, 7), 16, 1)])
def test_winograd_matches_torch(torch, x_shape, c_out, padding, rng):
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (rng.standard_normal((c_out, x_shape[1], 3, 3)) * 0.2).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    tx, tw, tb = (tn.tensor(a, requires_grad=True) for a in (x, w, b))
    y = forced("winograd", padding=padding)(tx, tw, tb)
    px, pw, pb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    py = torch.nn.functional.conv2d(px, pw, pb, padding=padding)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(dy)
    py.backward(torch.tensor(dy))
    # rtol 1e-4, atol 1e-4 of the largest reference magnitude (float32 sums).
    for what, ours, ref in [("y", y.data, py), ("dx", tx.grad.data, px.grad),
                            ("dw", tw.grad.data, pw.grad), ("db", tb.grad.data, pb.grad)]:
        ref = ref.detach().numpy()
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max(),
                                   err_msg=what)
