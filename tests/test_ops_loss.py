"""tinynet.ops.loss, the classification losses (binary and multi-class cross-entropy): gradient
checks, PyTorch parity, numerical robustness and argument errors.

The segmentation losses are tested in test_ops_loss_segmentation.py.
"""
import warnings

import numpy as np
import pytest

import tinynet as tn
from tinynet import ops
from gradcases import GradCase, run_case


def normal(rng, *shape):
    return rng.standard_normal(shape)


def mask(rng, *shape):
    """A binary mask as a constant Tensor (no gradient check for it)."""
    return tn.tensor((rng.random(shape) > 0.5).astype(np.float64))


def labels(rng, n_classes, *shape, ignore=None):
    """Integer class indices; every third one replaced by ``ignore`` if given."""
    t = rng.integers(0, n_classes, shape)
    if ignore is not None:
        t.reshape(-1)[::3] = ignore
    return t


def class_weight(rng, n_classes):
    return tn.tensor(rng.uniform(0.5, 2.0, n_classes))


bce = ops.binary_cross_entropy_with_logits
ce = ops.cross_entropy

# Float ndarrays below are gradient-checked (that includes bce's target, weight and
# pos_weight); Tensors and integer arrays are passed as constants.
GRADCHECK_CASES = [
    # binary cross-entropy on logits
    GradCase("bce_mean", bce, lambda r: [3 * normal(r, 4, 3), mask(r, 4, 3)]),
    GradCase("bce_soft_target_sum", lambda x, t: bce(x, t, reduction="sum"),
             lambda r: [3 * normal(r, 4, 3), r.random((4, 3))]),
    GradCase("bce_weight_pos_weight_none",
             lambda x, t, w, pw: bce(x, t, w, reduction="none", pos_weight=pw),
             lambda r: [3 * normal(r, 4, 3), r.random((4, 3)), r.uniform(0.5, 2, (4, 1)),
                        r.uniform(0.5, 3, 3)]),
    GradCase("bce_pos_weight_4d", lambda x, t, pw: bce(x, t, pos_weight=pw),
             lambda r: [normal(r, 2, 2, 2, 3), mask(r, 2, 2, 2, 3),
                        r.uniform(0.5, 3, (2, 1, 1))]),
    # cross-entropy with class indices
    GradCase("ce_mean", ce, lambda r: [normal(r, 5, 4), labels(r, 4, 5)]),
    GradCase("ce_weight_ignore", lambda x, t, w: ce(x, t, w, ignore_index=-100),
             lambda r: [normal(r, 6, 4), labels(r, 4, 6, ignore=-100), class_weight(r, 4)]),
    GradCase("ce_4d_weight_ignore255", lambda x, t, w: ce(x, t, w, ignore_index=255),
             lambda r: [normal(r, 2, 3, 2, 3), labels(r, 3, 2, 2, 3, ignore=255),
                        class_weight(r, 3)]),
    GradCase("ce_4d_none", lambda x, t: ce(x, t, reduction="none"),
             lambda r: [normal(r, 2, 3, 2, 2), labels(r, 3, 2, 2, 2, ignore=-100)]),
    GradCase("ce_sum", lambda x, t: ce(x, t, reduction="sum"),
             lambda r: [normal(r, 4, 3), labels(r, 3, 4)]),
    GradCase("ce_label_smoothing_weight_ignore",
             lambda x, t, w: ce(x, t, w, label_smoothing=0.2),
             lambda r: [normal(r, 6, 4), labels(r, 4, 6, ignore=-100), class_weight(r, 4)]),
    GradCase("ce_label_smoothing_4d_none",
             lambda x, t: ce(x, t, reduction="none", label_smoothing=0.1),
             lambda r: [normal(r, 2, 3, 2, 2), labels(r, 3, 2, 2, 2, ignore=-100)]),
    GradCase("nll_loss", lambda x, t: ops.nll_loss(ops.log_softmax(x, dim=1), t),
             lambda r: [normal(r, 5, 3), labels(r, 3, 5)]),
    # cross-entropy with class probabilities
    GradCase("ce_probabilities_smoothing", lambda x, t: ce(x, t, label_smoothing=0.1),
             lambda r: [normal(r, 4, 3), r.dirichlet(np.ones(3), 4)]),
    # binary cross-entropy on probabilities (target checked too: it is a float array)
    GradCase("bce_probabilities", ops.binary_cross_entropy,
             lambda r: [r.uniform(0.1, 0.9, (4, 3)), r.random((4, 3))]),
    GradCase("bce_probabilities_weight_none",
             lambda p, t, w: ops.binary_cross_entropy(p, t, w, reduction="none"),
             lambda r: [r.uniform(0.1, 0.9, (4, 3)), mask(r, 4, 3), class_weight(r, 3)]),
    GradCase("kl_div_batchmean", lambda x, t: ops.kl_div(x, t, reduction="batchmean"),
             lambda r: [normal(r, 3, 4), r.dirichlet(np.ones(4), 3)]),
    # regression losses (compositions of sub, mul, abs and where; the kink of |d| avoided)
    GradCase("mse_l1", lambda a, b: ops.mse_loss(a, b) + ops.l1_loss(a, b, reduction="sum"),
             lambda r: [normal(r, 3, 4), normal(r, 3, 4) + 0.05]),
    GradCase("smooth_l1_huber", lambda a, b: ops.smooth_l1_loss(a, b, beta=0.5)
             + ops.huber_loss(a, b, delta=2.0), lambda r: [3 * normal(r, 3, 4), normal(r, 3, 4)]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


# ---------------------------------------------------------------------------
# Parity with PyTorch (float32)
# ---------------------------------------------------------------------------

def check_close(ours, theirs, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol)


def backward_both(y, yt, rng):
    """Backpropagate a random upstream gradient (1 for a scalar) through both losses."""
    import torch
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    yt.backward(torch.tensor(g))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("with_pos_weight", [False, True], ids=["plain", "pos_weight"])
@pytest.mark.parametrize("with_weight", [False, True], ids=["", "weight"])
def test_bce_with_logits_matches_torch(torch, reduction, with_pos_weight, with_weight, rng):
    import torch.nn.functional as F
    x_np = (5 * rng.standard_normal((6, 3))).astype(np.float32)
    x_np[0] = [-100.0, 0.0, 100.0]  # extreme logits
    x_np[1] = [100.0, -100.0, 30.0]
    t_np = rng.random((6, 3)).astype(np.float32)
    t_np[:2] = np.array([[1, 0, 1], [0, 1, 0]])
    kwargs, kwargs_t = {}, {}
    if with_pos_weight:
        pw = rng.uniform(0.5, 3, 3).astype(np.float32)
        # torch does not differentiate pos_weight (ours does: see the gradcheck cases)
        kwargs["pos_weight"], kwargs_t["pos_weight"] = tn.tensor(pw), torch.tensor(pw)
    if with_weight:
        w = rng.uniform(0.5, 2, (6, 1)).astype(np.float32)
        kwargs["weight"], kwargs_t["weight"] = tn.tensor(w), torch.tensor(w)

    x, t = tn.tensor(x_np, requires_grad=True), tn.tensor(t_np, requires_grad=True)
    xt, tt = torch.tensor(x_np, requires_grad=True), torch.tensor(t_np, requires_grad=True)
    y = bce(x, t, reduction=reduction, **kwargs)
    yt = F.binary_cross_entropy_with_logits(xt, tt, reduction=reduction, **kwargs_t)
    backward_both(y, yt, rng)

    assert y.dtype == np.float32
    check_close(y, yt, rtol=1e-5, atol=1e-5)  # losses reach ~100 * pos_weight
    check_close(x.grad, xt.grad)
    check_close(t.grad, tt.grad, atol=1e-5)  # dl/dt ~ -x: values up to 100


CE_CASES = {
    "2d": dict(shape=(8, 5)),
    "2d_weight": dict(shape=(8, 5), weight=True),
    "2d_weight_ignore": dict(shape=(8, 5), weight=True, ignore_index=-100),
    "2d_smoothing": dict(shape=(8, 5), label_smoothing=0.1),
    "2d_smoothing_weight_ignore": dict(shape=(8, 5), weight=True, ignore_index=-100,
                                       label_smoothing=0.25),
    "4d": dict(shape=(2, 3, 4, 5)),
    "4d_weight_ignore255": dict(shape=(2, 3, 4, 5), weight=True, ignore_index=255),
    "4d_smoothing_weight_ignore": dict(shape=(2, 3, 4, 5), weight=True, ignore_index=7,
                                       label_smoothing=0.3),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", list(CE_CASES))
def test_cross_entropy_matches_torch(torch, name, reduction, rng):
    import torch.nn.functional as F
    spec = CE_CASES[name]
    shape = spec["shape"]
    n_classes = shape[1]
    x_np = (3 * rng.standard_normal(shape)).astype(np.float32)
    x_np.reshape(-1)[:4] = [100.0, -100.0, 60.0, -60.0]  # extreme logits
    target_shape = (shape[0],) + shape[2:]
    ignore_index = spec.get("ignore_index", -100)
    t_np = labels(rng, n_classes, *target_shape, ignore=ignore_index if "ignore_index" in spec
                  else None)
    kwargs = dict(ignore_index=ignore_index, reduction=reduction,
                  label_smoothing=spec.get("label_smoothing", 0.0))
    w_np = rng.uniform(0.5, 2, n_classes).astype(np.float32) if spec.get("weight") else None

    x = tn.tensor(x_np, requires_grad=True)
    y = ce(x, t_np, None if w_np is None else tn.tensor(w_np), **kwargs)
    xt = torch.tensor(x_np, requires_grad=True)
    yt = F.cross_entropy(xt, torch.tensor(t_np), None if w_np is None else torch.tensor(w_np),
                         **kwargs)
    backward_both(y, yt, rng)

    assert y.dtype == np.float32 and y.shape == tuple(yt.shape)
    check_close(y, yt, atol=2e-5)  # per-element losses reach ~200 at the extreme logits
    check_close(x.grad, xt.grad)


def test_nll_loss_matches_torch(torch, rng):
    import torch.nn.functional as F
    logp = np.log(rng.dirichlet(np.ones(4), size=6)).astype(np.float32)
    t_np = labels(rng, 4, 6, ignore=-100)
    w_np = rng.uniform(0.5, 2, 4).astype(np.float32)
    x, xt = tn.tensor(logp, requires_grad=True), torch.tensor(logp, requires_grad=True)
    y = ops.nll_loss(x, t_np, tn.tensor(w_np))
    yt = F.nll_loss(xt, torch.tensor(t_np), torch.tensor(w_np))
    backward_both(y, yt, rng)
    check_close(y, yt)
    check_close(x.grad, xt.grad)


def test_cross_entropy_all_ignored_is_nan_like_torch():
    x = tn.tensor(np.zeros((2, 3), dtype=np.float32), requires_grad=True)
    y = ce(x, np.array([-100, -100]))
    assert np.isnan(y.item())




# ---------------------------------------------------------------------------
# Numerical robustness, dtypes, errors
# ---------------------------------------------------------------------------

@pytest.mark.filterwarnings("error")
def test_no_overflow_warnings_for_huge_logits():
    x_np = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], dtype=np.float32)
    t_np = np.array([[1.0, 1.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        x = tn.tensor(x_np, requires_grad=True)
        y = bce(x, t_np, reduction="none", pos_weight=tn.tensor(np.float32([2.0])))
        y.sum().backward()
        np.testing.assert_allclose(y.numpy()[0], [2e4, 200.0, np.log(2), 100.0, 1e4], rtol=1e-6)
        assert np.all(np.isfinite(x.grad.numpy()))

        x = tn.tensor(x_np.reshape(1, 5), requires_grad=True)
        y = ce(x, np.array([0]))
        y.backward()
        assert y.item() == pytest.approx(2e4) and np.all(np.isfinite(x.grad.numpy()))


def test_float32_stays_float32_with_integer_masks_and_float64_weights(rng):
    x = tn.tensor(rng.standard_normal((2, 1, 3, 3)).astype(np.float32), requires_grad=True)
    t = (rng.random((2, 1, 3, 3)) > 0.5).astype(np.uint8)
    losses = [bce(x, t, np.ones((1, 1, 3, 3)), pos_weight=np.array([2.0])),
              ce(x.reshape(2, 9), np.array([1, 8]), np.ones(9), label_smoothing=0.1)]
    for y in losses:
        y.backward()
        assert y.dtype == np.float32
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("fn", [
    lambda r: bce(tn.tensor(np.zeros(3)), np.zeros(3), reduction=r),
    lambda r: ce(tn.tensor(np.zeros((2, 3))), np.array([0, 1]), reduction=r),
    lambda r: ops.nll_loss(tn.tensor(np.zeros((2, 3))), np.array([0, 1]), reduction=r),
])
def test_unknown_reduction_is_rejected(fn):
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        fn("avg")


def test_bce_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"target shape \(2, 3, 3\) must equal input shape "
                                         r"\(2, 1, 3, 3\)"):
        bce(tn.tensor(np.zeros((2, 1, 3, 3))), np.zeros((2, 3, 3)))


def test_bce_weight_that_does_not_broadcast():
    with pytest.raises(ValueError, match=r"pos_weight of shape \(4,\) does not broadcast to "
                                         r"the input shape \(2, 3\)"):
        bce(tn.tensor(np.zeros((2, 3))), np.zeros((2, 3)), pos_weight=np.ones(4))
    with pytest.raises(ValueError, match=r"weight of shape \(2, 3, 1\) does not broadcast"):
        bce(tn.tensor(np.zeros((2, 3))), np.zeros((2, 3)), np.ones((2, 3, 1)))


def test_cross_entropy_argument_errors():
    x = tn.tensor(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"target shape \(2, 4\) does not match input shape "
                                         r"\(2, 3, 4, 4\) \(expected target shape \(2, 4, 4\)\)"):
        ce(x, np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(TypeError, match=r"integer class indices, got dtype float64"):
        ce(x, np.zeros((2, 4, 4)))
    with pytest.raises(ValueError,
                       match=r"weight must have shape \(3,\) for 3 classes, got \(4,\)"):
        ce(x, np.zeros((2, 4, 4), dtype=np.int64), np.ones(4))
    with pytest.raises(ValueError, match="gradient with respect to weight is not supported"):
        ce(x, np.zeros((2, 4, 4), dtype=np.int64), tn.tensor(np.ones(3), requires_grad=True))
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        ce(x, np.zeros((2, 4, 4), dtype=np.int64), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"input must be \(N, C\) or \(N, C, H, W\)"):
        ce(tn.tensor(np.zeros(3)), np.zeros((), dtype=np.int64))


def test_cross_entropy_target_out_of_range():
    x = tn.tensor(np.zeros((3, 4)))
    with pytest.raises(IndexError, match="target 4 is out of bounds for 4 classes"):
        ce(x, np.array([0, 4, 1]))
    with pytest.raises(IndexError, match="target -1 is out of bounds"):
        ce(x, np.array([0, -1, 1]))
    ce(x, np.array([0, -1, 1]), ignore_index=-1)  # an ignored -1 is fine


@pytest.mark.gpu
def test_gpu_matches_cpu(rng):
    x_np = (3 * rng.standard_normal((2, 3, 4, 4))).astype(np.float32)
    m_np = (rng.random((2, 3, 4, 4)) > 0.5).astype(np.float32)
    t_np = labels(rng, 3, 2, 4, 4, ignore=-100)
    w_np = rng.uniform(0.5, 2, 3).astype(np.float32)
    pw_np = rng.uniform(0.5, 2, (3, 1, 1)).astype(np.float32)
    losses = [
        lambda x, d: bce(x, tn.tensor(m_np, device=d), tn.tensor(m_np + 1, device=d),
                         pos_weight=tn.tensor(pw_np, device=d)),
        lambda x, d: ce(x, tn.tensor(t_np, device=d), tn.tensor(w_np, device=d),
                        label_smoothing=0.1),
        lambda x, d: ce(x, t_np, reduction="none").sum(),  # numpy target with a GPU input
    ]
    for loss in losses:
        results = []
        for device in ("cpu", "gpu"):
            x = tn.tensor(x_np, requires_grad=True, device=device)
            y = loss(x, device)
            y.backward()
            assert x.grad.device == device
            results.append((y.numpy(), x.grad.numpy()))
        for cpu, gpu in zip(*results):
            np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)
