"""The loss modules of tinynet.nn: PyTorch's constructor arguments, buffers, and parity."""
import warnings

import numpy as np
import pytest

import tinynet as tn
from tinynet import nn
from torch_parity import assert_same

# Both libraries warn about the deprecated size_average/reduce arguments used below.
pytestmark = pytest.mark.filterwarnings("ignore:size_average and reduce args")

R = np.random.default_rng(0)
LOGITS = R.standard_normal((4, 3)).astype(np.float32)
CLASSES = np.array([0, 2, 1, 2])
PROBS = R.uniform(0.05, 0.95, (4, 3)).astype(np.float32)
BINARY = (R.random((4, 3)) > 0.5).astype(np.float32)


def modules(lib):
    """The same loss modules built with either library (segmentation losses excluded)."""
    weight = lib.tensor([1.0, 2.0, 0.5])
    return {
        "cross_entropy": (lib.nn.CrossEntropyLoss(), CLASSES),
        "cross_entropy_options": (lib.nn.CrossEntropyLoss(weight=weight, ignore_index=1,
                                                          label_smoothing=0.2), CLASSES),
        "cross_entropy_sum": (lib.nn.CrossEntropyLoss(reduction="sum"), CLASSES),
        "cross_entropy_legacy_reduce": (lib.nn.CrossEntropyLoss(reduce=False), CLASSES),
        "nll": (lib.nn.NLLLoss(weight=weight), CLASSES),
        "bce_with_logits": (lib.nn.BCEWithLogitsLoss(pos_weight=lib.tensor([2.0, 1.0, 0.5])),
                            BINARY),
        "bce_with_logits_weight_none": (lib.nn.BCEWithLogitsLoss(weight=weight,
                                                                 reduction="none"), BINARY),
        "mse": (lib.nn.MSELoss(), PROBS),
        "mse_legacy_size_average": (lib.nn.MSELoss(size_average=False), PROBS),
        "l1": (lib.nn.L1Loss(reduction="sum"), PROBS),
        "smooth_l1": (lib.nn.SmoothL1Loss(beta=0.3), PROBS),
        "huber": (lib.nn.HuberLoss(delta=0.4), PROBS),
    }


with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    NAMES = list(modules(tn))


@pytest.mark.parametrize("name", NAMES)
def test_loss_module_matches_pytorch(torch, name):
    results = []
    for lib in (tn, torch):
        loss_fn, target = modules(lib)[name]
        x = lib.tensor(LOGITS, requires_grad=True)
        if name == "nll":
            loss = loss_fn(x.log_softmax(1), lib.tensor(target))
        else:
            loss = loss_fn(x, lib.tensor(target))
        loss.sum().backward()
        results.append([loss, x.grad, loss_fn.reduction])
    assert_same(*results, rtol=1e-5, atol=1e-6, where=name)


def test_bce_and_kl_div_modules_match_pytorch(torch):
    results = []
    for lib in (tn, torch):
        p = lib.tensor(PROBS, requires_grad=True)
        loss = (lib.nn.BCELoss(weight=lib.tensor([1.0, 2.0, 3.0]))(p, lib.tensor(BINARY))
                + lib.nn.KLDivLoss(reduction="batchmean")(p.log(), lib.tensor(PROBS).softmax(1)))
        loss.backward()
        results.append([loss, p.grad])
    assert_same(*results, rtol=1e-5, atol=1e-6, where="bce+kl")


def test_weights_are_buffers_that_move_with_the_module():
    loss_fn = nn.BCEWithLogitsLoss(weight=tn.ones(3), pos_weight=tn.tensor([2.0, 1.0, 1.0]))
    assert dict(loss_fn.named_buffers()).keys() == {"weight", "pos_weight"}
    assert list(loss_fn.parameters()) == []
    loss_fn.to(tn.float64)
    assert loss_fn.pos_weight.dtype == np.float64
    assert nn.CrossEntropyLoss().weight is None


def test_segmentation_loss_modules_call_their_functions():
    p = tn.tensor(R.uniform(0.05, 0.95, (2, 1, 4, 4)))
    t = tn.tensor((R.random((2, 1, 4, 4)) > 0.5).astype(np.float64))
    F = tn.nn.functional
    cases = [(nn.DiceLoss(smooth=0.5, per_image=True), F.dice_loss(p, t, 0.5, True)),
             (nn.TverskyLoss(alpha=0.6, beta=0.4), F.tversky_loss(p, t, 0.6, 0.4)),
             (nn.FocalTverskyLoss(gamma=1.5), F.focal_tversky_loss(p, t, gamma=1.5))]
    for module, expected in cases:
        assert module(p, t).item() == pytest.approx(expected.item())
    logits = tn.tensor(R.standard_normal((2, 1, 4, 4)))
    assert nn.DiceLoss(from_logits=True)(logits, t).item() == pytest.approx(
        F.dice_loss(logits.sigmoid(), t).item())
    assert "per_image=True" in repr(nn.DiceLoss(per_image=True))


def test_legacy_reduction_arguments_warn_like_pytorch():
    with pytest.warns(UserWarning, match="please use reduction='sum' instead"):
        assert nn.L1Loss(size_average=False).reduction == "sum"


def test_loss_modules_reject_a_bad_reduction_with_the_loss_named():
    with pytest.raises(ValueError, match="mse_loss: reduction must be 'mean', 'sum' or 'none'"):
        nn.MSELoss(reduction="avg")(tn.ones(2), tn.ones(2))
    with pytest.raises(RuntimeError, match="binary_cross_entropy: all elements of input should "
                                           "be between 0 and 1"):
        nn.BCELoss()(tn.tensor([1.5]), tn.tensor([1.0]))
