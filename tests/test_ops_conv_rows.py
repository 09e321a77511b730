"""The "rows" conv2d algorithm (stride 1, row blocks): equal to im2col, gradients, dispatch."""
import numpy as np
import pytest

import tinynet as tn
from tinynet.ops import conv_rows
from tinynet.ops.conv import Conv2dFunction, choose_algorithm
from gradcases import conv_grad_case, forced_conv2d as forced, run_case


def rows_case(name, x_shape, w_shape, bias=True, **kwargs):
    return conv_grad_case("rows", name, x_shape, w_shape, bias, **kwargs)


GRADCHECK_CASES = [
    rows_case("rows_3x3_pad1", (2, 2, 5, 6), (3, 2, 3, 3), padding=1),
    rows_case("rows_pad0_no_bias", (1, 3, 6, 5), (2, 3, 3, 3), bias=False),
    rows_case("rows_non_square_dilated", (2, 2, 7, 6), (3, 2, 3, 2),
              padding=(1, 0), dilation=(2, 1)),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck_one_row_per_block(case, monkeypatch):
    """Every block a single output row of a single sample: the other extreme of blocking."""
    monkeypatch.setattr(conv_rows, "BLOCK_BYTES", 1)
    run_case(case)


# ---------------------------------------------------------------------------
# rows == im2col (the simple path)
# ---------------------------------------------------------------------------

# (x shape, weight shape, padding, dilation)
GEOMETRIES = [
    ((2, 3, 7, 6), (4, 3, 3, 3), (1, 1), (1, 1)),
    ((3, 2, 9, 8), (5, 2, 3, 2), (0, 1), (2, 1)),
    ((2, 2, 6, 7), (3, 2, 5, 3), (2, 0), (1, 2)),
    ((1, 2, 5, 5), (2, 2, 3, 3), (0, 0), (1, 1)),
    ((5, 2, 4, 4), (3, 2, 3, 3), (1, 1), (1, 1)),
    ((2, 4, 3, 3), (2, 4, 3, 3), (2, 2), (1, 1)),       # padding = d*(k-1), the largest
    ((3, 16, 10, 12), (16, 16, 3, 3), (1, 1), (1, 1)),
    ((2, 3, 7, 6), (4, 3, 1, 3), (0, 1), (1, 1)),       # one kernel row: one GEMM
    ((3, 2, 9, 8), (5, 2, 3, 1), (1, 0), (2, 1)),       # one kernel column: one copy
]

# Bytes per block: one row of one sample; a few rows, or a few samples with a
# shorter last group; everything in one block.
BLOCK_SIZES = [1, 3000, 1 << 40]


def grads(algorithm, x, w, b, dy, padding, dilation, want=(True, True, True)):
    """(y, dx, dw, db) of conv2d through ``algorithm``; None for gradients not wanted."""
    tx, tw = tn.tensor(x, requires_grad=want[0]), tn.tensor(w, requires_grad=want[1])
    tb = None if b is None else tn.tensor(b, requires_grad=want[2])
    y = Conv2dFunction(padding=padding, dilation=dilation, algorithm=algorithm)(tx, tw, tb)
    y.backward(dy)
    return (y.data,) + tuple(None if t is None or t.grad is None else t.grad.data
                             for t in (tx, tw, tb))


def max_relative_error(ours, ref):
    return float(np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-30))


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 2e-6)],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("x_shape,w_shape,padding,dilation", GEOMETRIES,
                         ids=[str(g[:2]) for g in GEOMETRIES])
def test_rows_equals_im2col(x_shape, w_shape, padding, dilation, with_bias, dtype, tol,
                            block_bytes, monkeypatch, rng):
    monkeypatch.setattr(conv_rows, "BLOCK_BYTES", block_bytes)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype) if with_bias else None
    out_hw = tuple(s + 2 * p - d * (k - 1)
                   for s, p, d, k in zip(x_shape[2:], padding, dilation, w_shape[2:]))
    dy = rng.standard_normal((x_shape[0], w_shape[0]) + out_hw).astype(dtype)
    ref = grads("im2col", x, w, b, dy, padding, dilation)
    ours = grads("rows", x, w, b, dy, padding, dilation)
    for what, a, r in zip(("y", "dx", "dw", "db"), ours, ref):
        if r is None:
            continue
        assert a.shape == r.shape and a.dtype == dtype, what
        assert max_relative_error(a, r) < tol, what


@pytest.mark.parametrize("want", [(True, False, False), (False, True, True)],
                         ids=["dx_only", "dw_only"])
def test_rows_computes_only_the_wanted_gradients(want, rng):
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    b, dy = rng.standard_normal(4), rng.standard_normal((2, 4, 6, 5))
    ref = grads("im2col", x, w, b, dy, (1, 1), (1, 1))
    ours = grads("rows", x, w, b, dy, (1, 1), (1, 1), want)
    for wanted, a, r in zip(want, ours[1:], ref[1:]):
        if wanted:
            np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12)
        else:
            assert a is None


def test_rows_saves_only_what_backward_needs(rng):
    x = tn.tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = tn.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    conv = forced("rows", padding=1)
    fn = conv(x, w, None).grad_fn
    assert fn.x is x.data and fn.weight is w.data and not hasattr(fn, "cols")
    fn = conv(x.detach(), w, None).grad_fn          # no dx: the weight is not kept
    assert not hasattr(fn, "weight") and fn.x is x.data
    fn = conv(x, w.detach(), None).grad_fn          # no dw: x is not kept
    assert fn.weight is w.data and not hasattr(fn, "x")


def test_blocks_cover_every_sample_row_once():
    for n, rows, row_bytes, block in [(8, 128, 74880, 4 << 20), (8, 32, 73728, 4 << 20),
                                      (5, 7, 10, 25), (3, 4, 100, 1), (8, 8, 10, 1 << 40)]:
        conv_rows.BLOCK_BYTES, saved = block, conv_rows.BLOCK_BYTES
        try:
            blocks = conv_rows._blocks(n, rows, row_bytes)
        finally:
            conv_rows.BLOCK_BYTES = saved
        covered = sorted((s, r) for n0, n1, r0, r1 in blocks
                         for s in range(n0, n1) for r in range(r0, r1))
        assert covered == [(s, r) for s in range(n) for r in range(rows)]
        for n0, n1, r0, r1 in blocks:   # within budget, unless a single row of one sample
            assert (n1 - n0) * (r1 - r0) * row_bytes <= block or (n1 - n0, r1 - r0) == (1, 1)


# ---------------------------------------------------------------------------
# Dispatch and errors
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("x_shape,w_shape,stride,padding,dilation,expected", [
    ((8, 16, 128, 128), (16, 16, 3, 3), (1, 1), (1, 1), (1, 1), "rows"),
    ((8, 32, 64, 64), (32, 32, 3, 3), (1, 1), (1, 1), (1, 1), "rows"),
    ((8, 64, 32, 32), (64, 64, 3, 3), (1, 1), (1, 1), (1, 1), "rows"),
    ((8, 64, 56, 56), (64, 64, 3, 3), (1, 1), (2, 2), (2, 2), "rows"),      # dilated
    ((8, 32, 64, 64), (32, 32, 5, 5), (1, 1), (2, 2), (1, 1), "rows"),
    ((8, 3, 256, 256), (16, 3, 3, 3), (1, 1), (1, 1), (1, 1), "im2col"),    # few channels
    ((8, 16, 64, 64), (8, 16, 3, 3), (1, 1), (1, 1), (1, 1), "im2col"),
    ((8, 16, 64, 64), (16, 16, 3, 3), (2, 2), (1, 1), (1, 1), "im2col"),    # strided
    ((8, 16, 64, 64), (16, 16, 3, 3), (1, 1), (3, 3), (1, 1), "im2col"),    # pad > d*(k-1)
    ((8, 16, 64, 64), (16, 16, 1, 1), (1, 1), (0, 0), (1, 1), "im2col"),    # 1x1
    ((8, 128, 16, 16), (128, 128, 3, 3), (1, 1), (1, 1), (1, 1), "winograd"),
])
def test_choose_algorithm(x_shape, w_shape, stride, padding, dilation, expected):
    assert choose_algorithm(x_shape, w_shape, stride, padding, dilation) == expected


def test_conv2d_dispatches_to_rows(rng):
    x = tn.tensor(rng.standard_normal((1, 16, 6, 6)).astype(np.float32), requires_grad=True)
    w = tn.tensor(rng.standard_normal((16, 16, 3, 3)).astype(np.float32), requires_grad=True)
    assert tn.ops.conv2d(x, w, padding=1).grad_fn.algorithm == "rows"


@pytest.mark.parametrize("kwargs,w_shape", [(dict(stride=2), (2, 2, 3, 3)),
                                            (dict(padding=3), (2, 2, 3, 3)),
                                            ({}, (2, 2, 1, 1))])
def test_rows_refuses_other_geometries(kwargs, w_shape):
    x = np.zeros((1, 2, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"conv2d: the rows algorithm needs stride 1, a kernel "
                                         r"larger than 1x1 and padding at most "
                                         r"dilation\*\(kernel-1\), got weight shape "):
        Conv2dFunction(algorithm="rows", **kwargs)(x, np.zeros(w_shape, np.float32), None)


def test_rows_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 16, 11, 9)).astype(np.float32)
    w = (rng.standard_normal((24, 16, 3, 3)) * 0.2).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    tx, tw, tb = (tn.tensor(a, requires_grad=True) for a in (x, w, b))
    y = tn.ops.conv2d(tx, tw, tb, padding=1)
    assert y.grad_fn.algorithm == "rows"
    px, pw, pb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    py = torch.nn.functional.conv2d(px, pw, pb, padding=1)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(dy)
    py.backward(torch.tensor(dy))
    # rtol 1e-4, atol 1e-4 of the largest reference magnitude (float32 sums).
    for what, ours, ref in [("y", y.data, py), ("dx", tx.grad.data, px.grad),
                            ("dw", tw.grad.data, pw.grad), ("db", tb.grad.data, pb.grad)]:
        ref = ref.detach().numpy()
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max(),
                                   err_msg=what)


def test_rows_keeps_no_columns(rng):
    """Nothing but x and the weight is held between forward and backward."""
    x = tn.tensor(rng.standard_normal((2, 16, 8, 8)).astype(np.float32), requires_grad=True)
    w = tn.tensor(rng.standard_normal((16, 16, 3, 3)).astype(np.float32), requires_grad=True)
    fn = tn.ops.conv2d(x, w, padding=1).grad_fn
    held = {k for k, v in vars(fn).items() if isinstance(v, np.ndarray)}
    assert held == {"x", "weight"}
