"""tinynet.ops.loss, the segmentation losses (Dice, Tversky, focal Tversky): gradient checks, a
plain NumPy reference formula, and sanity properties (perfect prediction,
Dice = Tversky(0.5, 0.5))."""
import warnings

import numpy as np
import pytest

import tinynet as tn
from tinynet import ops
from gradcases import GradCase, run_case


def probs(rng, *shape):
    """Probabilities away from 0 and 1."""
    return rng.uniform(0.05, 0.95, shape)


def logits(rng, *shape):
    return rng.standard_normal(shape)


def mask(rng, *shape):
    """A binary mask as a constant Tensor (no gradient check for it)."""
    return tn.tensor((rng.random(shape) > 0.5).astype(np.float64))


# Losses are composed from tensor ops; float ndarrays (a soft target included) are
# gradient-checked, Tensors are constants.
GRADCHECK_CASES = [
    GradCase("dice_batch", ops.dice_loss, lambda r: [probs(r, 2, 1, 3, 3), mask(r, 2, 1, 3, 3)]),
    # The differentiable all-reduce in a world of one (across ranks: test_nn_parallel.py).
    GradCase("focal_tversky_global_batch_world_of_one",
             lambda x, t: ops.focal_tversky_loss(x, t, from_logits=True, global_batch=True),
             lambda r: [logits(r, 2, 1, 3, 3), mask(r, 2, 1, 3, 3)]),
    GradCase("dice_per_image_soft_target", lambda p, t: ops.dice_loss(p, t, per_image=True),
             lambda r: [probs(r, 2, 1, 3, 3), r.random((2, 1, 3, 3))]),
    GradCase("dice_from_logits", lambda x, t: ops.dice_loss(x, t, smooth=0.5, from_logits=True),
             lambda r: [logits(r, 2, 1, 3, 3), mask(r, 2, 1, 3, 3)]),
    GradCase("tversky_batch", ops.tversky_loss,
             lambda r: [probs(r, 2, 1, 3, 3), mask(r, 2, 1, 3, 3)]),
    GradCase("tversky_per_image_logits",
             lambda x, t: ops.tversky_loss(x, t, 0.6, 0.4, per_image=True, from_logits=True),
             lambda r: [logits(r, 2, 2, 2, 3), mask(r, 2, 2, 2, 3)]),
    GradCase("focal_tversky_batch", ops.focal_tversky_loss,
             lambda r: [probs(r, 2, 1, 3, 3), mask(r, 2, 1, 3, 3)]),
    GradCase("focal_tversky_per_image", lambda p, t: ops.focal_tversky_loss(p, t, per_image=True),
             lambda r: [probs(r, 3, 1, 3, 3), r.random((3, 1, 3, 3))]),
    GradCase("focal_tversky_logits",
             lambda x, t: ops.focal_tversky_loss(x, t, gamma=1.5, from_logits=True),
             lambda r: [logits(r, 2, 1, 3, 3), mask(r, 2, 1, 3, 3)]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


# ---------------------------------------------------------------------------
# Overlap losses against a plain NumPy reference
# ---------------------------------------------------------------------------

def reference_tversky_index(p, t, alpha, beta, smooth):
    """TI written with explicit FN and FP sums (the ops use sum(t) - TP and sum(p) - TP)."""
    tp = np.sum(p * t)
    fn = np.sum((1.0 - p) * t)
    fp = np.sum(p * (1.0 - t))
    return (tp + smooth) / (tp + alpha * fn + beta * fp + smooth)


def reference(loss, p, t, per_image, alpha=0.7, beta=0.3, gamma=0.75, smooth=1.0):
    """One image at a time (per_image) or the whole batch as one, in plain NumPy."""
    groups = [(p[i], t[i]) for i in range(len(p))] if per_image else [(p, t)]
    values = []
    for pi, ti in groups:
        if loss == "dice":
            tp = np.sum(pi * ti)
            fn, fp = np.sum((1 - pi) * ti), np.sum(pi * (1 - ti))
            values.append(1 - (2 * tp + smooth) / (2 * tp + fn + fp + smooth))
        else:
            value = 1 - reference_tversky_index(pi, ti, alpha, beta, smooth)
            values.append(value ** gamma if loss == "focal_tversky" else value)
    return np.mean(values)


def call(loss, p, t, per_image, **kwargs):
    fn = {"dice": ops.dice_loss, "tversky": ops.tversky_loss,
          "focal_tversky": ops.focal_tversky_loss}[loss]
    return fn(p, t, per_image=per_image, **kwargs)


@pytest.mark.parametrize("per_image", [False, True], ids=["batch", "per_image"])
@pytest.mark.parametrize("loss", ["dice", "tversky", "focal_tversky"])
def test_overlap_losses_match_reference(loss, per_image, rng):
    p = rng.random((3, 2, 5, 4)).astype(np.float32)
    t = rng.random((3, 2, 5, 4)) > 0.6
    t[1] = False  # an image with an empty mask
    y = call(loss, tn.tensor(p), t, per_image)
    assert y.dtype == np.float32 and y.shape == ()
    np.testing.assert_allclose(y.item(), reference(loss, p.astype(np.float64), t, per_image),
                               rtol=1e-5)


@pytest.mark.parametrize("loss", ["dice", "tversky", "focal_tversky"])
def test_overlap_losses_from_logits_and_options(loss, rng):
    logits = 4 * rng.standard_normal((2, 1, 6, 6))
    t = (rng.random((2, 1, 6, 6)) > 0.5).astype(np.float64)
    kwargs = {"smooth": 0.3}
    if loss != "dice":
        kwargs.update(alpha=0.4, beta=0.9)
    if loss == "focal_tversky":
        kwargs.update(gamma=1.7)
    y = call(loss, tn.tensor(logits), t, True, from_logits=True, **kwargs)
    expected = reference(loss, 1 / (1 + np.exp(-logits)), t, True, **kwargs)
    np.testing.assert_allclose(y.item(), expected, rtol=1e-10)


@pytest.mark.parametrize("per_image", [False, True], ids=["batch", "per_image"])
@pytest.mark.parametrize("loss", ["dice", "tversky", "focal_tversky"])
def test_perfect_prediction_gives_zero_loss_and_finite_gradient(loss, per_image, rng):
    t = (rng.random((2, 1, 4, 4)) > 0.5).astype(np.float32)
    t[0] = 0  # empty mask, empty prediction: also a perfect score
    p = tn.tensor(t.copy(), requires_grad=True)
    y = call(loss, p, t, per_image)
    y.backward()
    assert 0 <= y.item() < 1e-5
    assert np.all(np.isfinite(p.grad.numpy()))


@pytest.mark.parametrize("loss", ["dice", "tversky", "focal_tversky"])
def test_completely_wrong_prediction_gives_loss_near_one(loss, rng):
    t = (rng.random((2, 1, 8, 8)) > 0.5).astype(np.float32)
    y = call(loss, tn.tensor(1 - t), t, False, smooth=1e-6)
    assert y.item() == pytest.approx(1.0, abs=1e-5)


def test_tversky_with_equal_weights_is_dice(rng):
    p = tn.tensor(rng.random((2, 1, 5, 5)))
    t = rng.random((2, 1, 5, 5)) > 0.5
    for per_image in (False, True):
        # smooth = 0: exactly the Dice loss
        dice = ops.dice_loss(p, t, smooth=0.0, per_image=per_image).item()
        tversky = ops.tversky_loss(p, t, 0.5, 0.5, smooth=0.0, per_image=per_image).item()
        assert tversky == pytest.approx(dice, rel=1e-12)
        # smooth = s: TI's numerator and denominator are Dice's halved, so Dice with 2s
        dice = ops.dice_loss(p, t, smooth=2.0, per_image=per_image).item()
        tversky = ops.tversky_loss(p, t, 0.5, 0.5, smooth=1.0, per_image=per_image).item()
        assert tversky == pytest.approx(dice, rel=1e-12)


def test_tversky_alpha_weights_false_negatives(rng):
    t = np.zeros((1, 1, 4, 4))
    t[..., :2, :] = 1
    missed = tn.tensor(np.zeros((1, 1, 4, 4)))  # only false negatives
    extra = tn.tensor(np.ones((1, 1, 4, 4)))    # only false positives
    fn_heavy = dict(alpha=0.9, beta=0.1, smooth=0.0)
    fp_heavy = dict(alpha=0.1, beta=0.9, smooth=0.0)
    assert ops.tversky_loss(missed, t, **fn_heavy).item() == pytest.approx(1.0)  # TP = 0
    under = ops.tversky_loss(missed + 0.5 * tn.tensor(t), t, **fn_heavy).item()
    assert under > ops.tversky_loss(missed + 0.5 * tn.tensor(t), t, **fp_heavy).item()
    assert (ops.tversky_loss(extra, t, **fp_heavy).item()
            > ops.tversky_loss(extra, t, **fn_heavy).item())


def test_focal_tversky_is_tversky_to_the_gamma(rng):
    p = tn.tensor(rng.random((2, 1, 4, 4)))
    t = rng.random((2, 1, 4, 4)) > 0.5
    tversky = ops.tversky_loss(p, t).item()
    assert ops.focal_tversky_loss(p, t, gamma=1.0).item() == pytest.approx(tversky, rel=1e-12)
    assert ops.focal_tversky_loss(p, t).item() == pytest.approx(tversky ** 0.75, rel=1e-12)


# ---------------------------------------------------------------------------
# Numerical robustness, dtypes, errors
# ---------------------------------------------------------------------------

@pytest.mark.filterwarnings("error")
def test_no_overflow_warnings_for_huge_logits():
    t_np = np.array([1.0, 1.0, 0.0, 0.0, 0.0], dtype=np.float32).reshape(1, 1, 1, 5)
    big = tn.tensor(np.where(t_np > 0, 1e4, -1e4).astype(np.float32), requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (ops.dice_loss, ops.tversky_loss, ops.focal_tversky_loss):
            big.grad = None
            y = fn(big, t_np, from_logits=True)
            y.backward()
            assert y.item() < 1e-4 and np.all(np.isfinite(big.grad.numpy()))


@pytest.mark.parametrize("fn", [ops.dice_loss, ops.tversky_loss, ops.focal_tversky_loss])
def test_float32_logits_with_uint8_mask_stay_float32(fn, rng):
    x = tn.tensor(rng.standard_normal((2, 1, 3, 3)).astype(np.float32), requires_grad=True)
    y = fn(x, (rng.random((2, 1, 3, 3)) > 0.5).astype(np.uint8), from_logits=True)
    y.backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


@pytest.mark.parametrize("fn", [ops.dice_loss, ops.tversky_loss, ops.focal_tversky_loss])
def test_shape_mismatch_names_both_shapes(fn):
    with pytest.raises(ValueError, match=r"target shape \(2, 3, 3\) must equal input shape "
                                         r"\(2, 1, 3, 3\)"):
        fn(tn.tensor(np.zeros((2, 1, 3, 3))), np.zeros((2, 3, 3)))


def test_per_image_needs_a_batch_axis():
    with pytest.raises(ValueError, match=r"per_image=True needs a batch axis,"
                       r" got input shape \(5,\)"):
        ops.dice_loss(tn.tensor(np.zeros(5)), np.zeros(5), per_image=True)


@pytest.mark.gpu
@pytest.mark.parametrize("fn", [ops.dice_loss, ops.tversky_loss, ops.focal_tversky_loss])
def test_gpu_matches_cpu(fn, rng):
    x_np = (3 * rng.standard_normal((2, 1, 4, 4))).astype(np.float32)
    m_np = (rng.random((2, 1, 4, 4)) > 0.5).astype(np.float32)
    results = []
    for device in ("cpu", "gpu"):
        x = tn.tensor(x_np, requires_grad=True, device=device)
        y = fn(x, m_np, per_image=True, from_logits=True)  # a NumPy target with a GPU input
        y.backward()
        assert x.grad.device == device
        results.append((y.numpy(), x.grad.numpy()))
    for cpu, gpu in zip(*results):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", [ops.dice_loss, ops.tversky_loss, ops.focal_tversky_loss])
def test_global_batch_without_a_process_group_changes_nothing(loss, rng):
    x = tn.tensor(rng.standard_normal((3, 1, 4, 4)), requires_grad=True)
    t = tn.tensor((rng.random((3, 1, 4, 4)) > 0.5).astype(np.float64))
    local = loss(x, t, from_logits=True)
    everywhere = loss(x, t, from_logits=True, global_batch=True)
    assert everywhere.item() == local.item()
    (gl,) = tn.autograd.grad(local, [x])
    (ge,) = tn.autograd.grad(everywhere, [x])
    np.testing.assert_array_equal(ge.numpy(), gl.numpy())
