"""tinynet.ops.conv.rows, the "rows" conv2d algorithm (stride 1, row blocks): gradients, blocks,
saved state, dispatch.

Its values are checked against the reference conv2d in test_ops_conv_reference.py.
"""
import numpy as np
import pytest

import tinynet as tn
from tinynet.ops.blocking import override_limits
from tinynet.ops.conv import choose_algorithm, rows
from tinynet.ops.conv.arguments import conv_geometry
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
def test_gradcheck_one_row_per_block(case):
    """Every block a single output row of a single sample: the other extreme of blocking."""
    with override_limits(rows_block=1):
        run_case(case)


def test_rows_saves_only_what_backward_needs(rng):
    x = tn.tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = tn.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    conv = forced("rows", padding=1)
    fn = conv(x, w, None).grad_fn
    assert fn.saved == rows.Saved(x=x.data, weight=w.data)
    fn = conv(x.detach(), w, None).grad_fn          # no dx: the weight is not kept
    assert fn.saved.weight is None and fn.saved.x is x.data
    fn = conv(x, w.detach(), None).grad_fn          # no dw: x is not kept
    assert fn.saved.weight is w.data and fn.saved.x is None


def test_blocks_cover_every_sample_row_once():
    for n, n_rows, row_bytes, block in [(8, 128, 74880, 4 << 20), (8, 32, 73728, 4 << 20),
                                      (5, 7, 10, 25), (3, 4, 100, 1), (8, 8, 10, 1 << 40)]:
        with override_limits(rows_block=block):
            blocks = rows._blocks(n, n_rows, row_bytes)
        covered = sorted((s, r) for n0, n1, r0, r1 in blocks
                         for s in range(n0, n1) for r in range(r0, r1))
        assert covered == [(s, r) for s in range(n) for r in range(n_rows)]
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
    geo = conv_geometry("conv2d", x_shape, w_shape, stride, padding, dilation)
    assert choose_algorithm(geo) == expected


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
                                         r"dilation\*\(kernel-1\), got input shape \(1, 2, 8, 8\), "
                                         r"weight shape "):
        forced("rows", **kwargs)(x, np.zeros(w_shape, np.float32), None)


def test_rows_matches_torch(torch, rng):
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
    assert fn.algorithm == "rows"
    assert not any(isinstance(v, np.ndarray) for v in vars(fn).values())
    assert fn.saved == rows.Saved(x=x.data, weight=w.data)
