"""tinynet.optim.lr_scheduler, the learning-rate schedulers: lr sequences against PyTorch,
state_dict, errors."""
import math

import numpy as np
import pytest

import tinynet as tn
from tinynet import optim
from tinynet.optim import lr_scheduler


def two_group_sgd(module, lib_tensor):
    """SGD over two parameter groups with different starting lrs (tinynet or torch)."""
    a, b = lib_tensor(np.zeros(2)), lib_tensor(np.zeros(3))
    return module.SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.03}],
                      lr=0.1, momentum=0.9)


def lr_sequences(torch, make_scheduler, epochs, metrics=None):
    """(ours, torch's) lists of get_last_lr() after construction and after each step()."""
    sequences = []
    for module, lib_tensor in ((optim, lambda a: tn.tensor(a, requires_grad=True)),
                               (torch.optim, lambda a: torch.tensor(a, requires_grad=True))):
        opt = two_group_sgd(module, lib_tensor)
        sched = make_scheduler(module.lr_scheduler, opt)
        lrs = [list(sched.get_last_lr())]
        for epoch in range(epochs):
            opt.step()  # no gradients: nothing moves, but torch wants the call order
            sched.step() if metrics is None else sched.step(metrics[epoch])
            lrs.append(list(sched.get_last_lr()))
            assert lrs[-1] == [g["lr"] for g in opt.param_groups]
        sequences.append(np.array(lrs, dtype=np.float64))
    return sequences


SCHEDULES = {
    "step": lambda m, opt: m.StepLR(opt, step_size=3, gamma=0.5),
    "multistep": lambda m, opt: m.MultiStepLR(opt, milestones=[2, 5, 5, 9], gamma=0.3),
    "cosine": lambda m, opt: m.CosineAnnealingLR(opt, T_max=7),
    "cosine_eta_min": lambda m, opt: m.CosineAnnealingLR(opt, T_max=10, eta_min=0.01),
    "lambda": lambda m, opt: m.LambdaLR(opt, lambda epoch: 0.9 ** epoch / (1 + epoch % 3)),
    "lambda_per_group": lambda m, opt: m.LambdaLR(
        opt, [lambda e: min(1.0, (e + 1) / 4), lambda e: 1.0 / (e + 1)]),
    "multiplicative": lambda m, opt: m.MultiplicativeLR(opt, lambda epoch: 0.95),
    "exponential": lambda m, opt: m.ExponentialLR(opt, gamma=0.8),
    "constant_warmup": lambda m, opt: m.ConstantLR(opt, factor=0.25, total_iters=4),
    "linear_warmup": lambda m, opt: m.LinearLR(opt, start_factor=0.1, total_iters=6),
    "linear_decay": lambda m, opt: m.LinearLR(opt, start_factor=1.0, end_factor=0.05,
                                              total_iters=10),
    "polynomial": lambda m, opt: m.PolynomialLR(opt, total_iters=8, power=2.0),
    "warm_restarts": lambda m, opt: m.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2,
                                                                  eta_min=0.001),
    "warmup_then_cosine": lambda m, opt: m.SequentialLR(
        opt, [m.LinearLR(opt, start_factor=0.1, total_iters=5),
              m.CosineAnnealingLR(opt, T_max=12)], milestones=[5]),
    "three_stages": lambda m, opt: m.SequentialLR(
        opt, [m.ConstantLR(opt, factor=0.5, total_iters=3), m.ExponentialLR(opt, gamma=0.9),
              m.StepLR(opt, step_size=4)], milestones=[3, 9]),
    "one_cycle": lambda m, opt: m.OneCycleLR(opt, max_lr=[1.0, 0.3], total_steps=23),
    "one_cycle_linear_three_phase": lambda m, opt: m.OneCycleLR(
        opt, max_lr=0.5, epochs=4, steps_per_epoch=6, anneal_strategy="linear",
        three_phase=True, pct_start=0.25),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_epoch_schedules_match_torch(torch, name):
    # Two full cosine periods and then some: the curve rises again after T_max.
    ours, theirs = lr_sequences(torch, SCHEDULES[name], epochs=23)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_one_cycle_moves_the_momentum_like_torch(torch):
    """SGD's momentum, and Adam's beta1, go down while the lr goes up, and back."""
    for name in ("SGD", "Adam"):
        seen = []
        for module, lib in ((optim, tn), (torch.optim, torch)):
            p = lib.zeros(2, requires_grad=True)
            opt = getattr(module, name)([p], lr=0.1, **({"momentum": 0.9} if name == "SGD"
                                                         else {}))
            sched = module.lr_scheduler.OneCycleLR(opt, max_lr=0.4, total_steps=10)
            trace = []
            for _ in range(10):
                group = opt.param_groups[0]
                trace.append((group["lr"], group["momentum"] if name == "SGD"
                              else group["betas"][0]))
                opt.step()
                sched.step()
            seen.append(np.array(trace))
        np.testing.assert_allclose(*seen, rtol=1e-9, atol=1e-12, err_msg=name)


def test_one_cycle_refuses_a_step_past_its_end():
    p = tn.zeros(1, requires_grad=True)
    sched = lr_scheduler.OneCycleLR(optim.SGD([p], lr=0.1, momentum=0.9), 1.0, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="OneCycleLR: tried to step 4 times, but total_steps "
                                         "is 3"):
        sched.step()
    with pytest.raises(ValueError, match="give total_steps, or both epochs and steps_per_epoch"):
        lr_scheduler.OneCycleLR(optim.SGD([p], lr=0.1), 1.0, epochs=3)
    with pytest.raises(ValueError, match="cycle_momentum needs an optimizer with momentum"):
        class Plain(optim.Optimizer):
            def step(self, closure=None):
                pass
        lr_scheduler.OneCycleLR(Plain([p], {"lr": 0.1}), 1.0, total_steps=3)


def test_warm_restarts_take_fractional_epochs_like_torch(torch):
    """``step(epoch + i / iters)`` within an epoch, the SGDR idiom."""
    seen = []
    for module, lib in ((optim, tn), (torch.optim, torch)):
        opt = module.SGD([lib.zeros(1, requires_grad=True)], lr=1.0)
        sched = module.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2)
        lrs = []
        for epoch in range(7):
            for i in range(4):
                opt.step()
                sched.step(epoch + i / 4)
                lrs.append(sched.get_last_lr()[0])
        seen.append(lrs)
    np.testing.assert_allclose(*seen, rtol=1e-9, atol=1e-12)


def test_a_custom_schedule_sets_its_first_lr_at_construction(torch):
    """Construction is the step to epoch 0: a subclass's get_lr() decides the first lr (a
    warm-up written by hand starts low), under both names of the base class."""
    for base in ("LRScheduler", "_LRScheduler"):
        seen = []
        for module, lib in ((optim, tn), (torch.optim, torch)):
            class Warmup(getattr(module.lr_scheduler, base)):
                def get_lr(self):
                    return [b * min(1.0, (self.last_epoch + 1) / 4) for b in self.base_lrs]

            opt = module.SGD([lib.zeros(1, requires_grad=True)], lr=1.0)
            sched = Warmup(opt)
            lrs = [opt.param_groups[0]["lr"]]
            for _ in range(5):
                opt.step()
                sched.step()
                lrs.append(opt.param_groups[0]["lr"])
            seen.append(lrs)
        assert seen[0] == seen[1] and seen[0][0] == 0.25


def test_sequential_and_lambda_schedules_resume_from_their_state_dict():
    """A restored SequentialLR (its schedulers' states inside) and a LambdaLR (its function
    kept, the attributes of a callable object restored) continue where they stopped."""
    class Decay:
        def __init__(self):
            self.rate = 0.5

        def __call__(self, epoch):
            return self.rate ** epoch

    def make(kind):
        opt = optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
        if kind == "sequential":
            return opt, lr_scheduler.SequentialLR(
                opt, [lr_scheduler.LinearLR(opt, 0.2, total_iters=3),
                      lr_scheduler.CosineAnnealingLR(opt, T_max=6)], milestones=[3])
        return opt, lr_scheduler.LambdaLR(opt, [Decay()])

    for kind in ("sequential", "lambda"):
        opt, sched = make(kind)
        if kind == "lambda":
            sched.lr_lambdas[0].rate = 0.7
        for _ in range(4):
            sched.step()
        saved_opt, saved = opt.state_dict(), sched.state_dict()
        expected = []
        for _ in range(4):
            sched.step()
            expected.append(sched.get_last_lr())
        opt2, sched2 = make(kind)
        opt2.load_state_dict(saved_opt)
        sched2.load_state_dict(saved)
        resumed = []
        for _ in range(4):
            sched2.step()
            resumed.append(sched2.get_last_lr())
        np.testing.assert_allclose(resumed, expected, rtol=1e-12, err_msg=kind)


def test_schedules_compose_and_resume_like_torch(torch):
    """A warm-up stepped beside a cosine, cosine with ReduceLROnPlateau (the recursion takes
    over once another schedule changed the lr), and resuming with last_epoch=k."""
    def run(module, mode):
        opt = module.SGD([(tn if module is optim else torch).zeros(1, requires_grad=True)], lr=1.0)
        S, lrs = module.lr_scheduler, []
        if mode == "warmup_and_cosine":
            warm, cos = S.LinearLR(opt, 0.1, total_iters=4), S.CosineAnnealingLR(opt, T_max=10)
            for _ in range(12):
                opt.step()
                warm.step()
                cos.step()
                lrs.append(opt.param_groups[0]["lr"])
        elif mode == "cosine_and_plateau":
            cos = S.CosineAnnealingLR(opt, T_max=10)
            plateau = S.ReduceLROnPlateau(opt, patience=0, factor=0.5)
            for _ in range(8):
                opt.step()
                cos.step()
                plateau.step(1.0)
                lrs.append(opt.param_groups[0]["lr"])
        else:
            make = {"resume_cosine": lambda o, e=-1: S.CosineAnnealingLR(o, 6, last_epoch=e),
                    "resume_exponential": lambda o, e=-1: S.ExponentialLR(o, 0.5, last_epoch=e),
                    "resume_multiplicative": lambda o, e=-1: S.MultiplicativeLR(
                        o, lambda epoch: 0.9, last_epoch=e)}[mode]
            sched = make(opt)
            for _ in range(3):
                opt.step()
                sched.step()
            lib = tn if module is optim else torch
            again = module.SGD([lib.zeros(1, requires_grad=True)], lr=1.0)
            again.load_state_dict(opt.state_dict())
            resumed = make(again, 3)
            for _ in range(4):
                again.step()
                resumed.step()
                lrs.append(again.param_groups[0]["lr"])
        return lrs

    for mode in ("warmup_and_cosine", "cosine_and_plateau", "resume_cosine",
                 "resume_exponential", "resume_multiplicative"):
        np.testing.assert_allclose(run(optim, mode), run(torch.optim, mode), rtol=1e-9,
                                   atol=1e-12, err_msg=mode)


def test_cosine_closed_form_values():
    p = tn.tensor(np.zeros(1), requires_grad=True)
    sched = lr_scheduler.CosineAnnealingLR(optim.SGD([p], lr=1.0), T_max=4, eta_min=0.2)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(8):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    expected = [0.2 + 0.8 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(9)]
    np.testing.assert_allclose(lrs, expected, rtol=0, atol=1e-15)
    assert lrs[4] == pytest.approx(0.2) and lrs[8] == pytest.approx(1.0)


# A loss that improves, plateaus, improves a little (below the rel threshold), ...
LOSSES = [1.0, 0.9, 0.8, 0.8, 0.79995, 0.8, 0.81, 0.7, 0.7, 0.7, 0.7, 0.7, 0.69, 0.7,
          0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7]

PLATEAU = {
    "min_rel_cooldown": lambda m, opt: m.ReduceLROnPlateau(opt, factor=0.5, patience=2,
                                                           cooldown=2),
    "min_abs_min_lr": lambda m, opt: m.ReduceLROnPlateau(
        opt, factor=0.3, patience=1, threshold=0.005, threshold_mode="abs",
        min_lr=[0.005, 0.001]),
    "max_rel": lambda m, opt: m.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=3,
                                                  cooldown=1, min_lr=1e-4),
    "eps_skips_tiny_changes": lambda m, opt: m.ReduceLROnPlateau(opt, factor=0.5, patience=0,
                                                                 eps=0.02),
}


@pytest.mark.parametrize("name", sorted(PLATEAU))
def test_reduce_on_plateau_matches_torch(torch, name):
    metrics = LOSSES if not name.startswith("max") else [1.0 - x for x in LOSSES]  # accuracy-like
    ours, theirs = lr_sequences(torch, PLATEAU[name], epochs=len(LOSSES), metrics=metrics)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
    assert ours[-1, 0] < ours[0, 0]  # the sequence actually triggered reductions


def test_reduce_on_plateau_cooldown_ignores_bad_epochs():
    p = tn.tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=3)
    lrs = []
    for loss in [1.0] * 9:
        sched.step(loss)
        lrs.append(opt.param_groups[0]["lr"])
    # bad epochs 2 and 3 -> reduce at epoch 3; epochs 4-6 in cooldown; bad 7, 8 -> reduce at 8
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]


@pytest.mark.parametrize("name", ["step", "cosine_eta_min"])
def test_scheduler_state_dict_round_trip(name):
    make = SCHEDULES[name]

    def fresh():
        opt = two_group_sgd(optim, lambda a: tn.tensor(a, requires_grad=True))
        return opt, make(lr_scheduler, opt)

    opt_a, sched_a = fresh()
    for _ in range(5):
        sched_a.step()
    opt_b, sched_b = fresh()
    sched_b.load_state_dict(sched_a.state_dict())
    opt_b.load_state_dict(opt_a.state_dict())
    assert "optimizer" not in sched_a.state_dict()
    for _ in range(6):
        sched_a.step()
        sched_b.step()
        assert sched_a.get_last_lr() == sched_b.get_last_lr()
        assert [g["lr"] for g in opt_b.param_groups] == sched_a.get_last_lr()


def test_plateau_state_dict_round_trip():
    def fresh():
        opt = two_group_sgd(optim, lambda a: tn.tensor(a, requires_grad=True))
        return opt, lr_scheduler.ReduceLROnPlateau(opt, patience=1, cooldown=1)

    opt_a, sched_a = fresh()
    for loss in LOSSES[:6]:
        sched_a.step(loss)
    opt_b, sched_b = fresh()
    sched_b.load_state_dict(sched_a.state_dict())
    opt_b.load_state_dict(opt_a.state_dict())
    for loss in LOSSES[6:]:
        sched_a.step(loss)
        sched_b.step(loss)
        assert sched_a.get_last_lr() == sched_b.get_last_lr()


def test_resuming_needs_initial_lr():
    opt = optim.SGD([tn.tensor(np.zeros(1), requires_grad=True)], lr=0.1)
    with pytest.raises(KeyError, match=r"initial_lr' in param_groups\[0\]"):
        lr_scheduler.StepLR(opt, step_size=2, last_epoch=4)


@pytest.mark.parametrize("make, error, match", [
    (lambda opt: lr_scheduler.StepLR("sgd", 3), TypeError, "expected an Optimizer, got str"),
    (lambda opt: lr_scheduler.StepLR(opt, 0), ValueError, "step_size must be a positive integer"),
    (lambda opt: lr_scheduler.StepLR(opt, float("nan")), ValueError,
     "step_size must be a positive integer, got nan"),
    (lambda opt: lr_scheduler.StepLR(opt, 2.5), ValueError, "positive integer, got 2.5"),
    (lambda opt: lr_scheduler.StepLR(opt, "3"), ValueError, "positive integer, got '3'"),
    (lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=0), ValueError, "T_max must be"),
    (lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=float("nan")), ValueError,
     "T_max must be positive, got nan"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, factor=float("nan")), ValueError,
     r"factor must be in \[0, 1\), got nan"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, factor=1.0), ValueError, r"factor .*\[0, 1\)"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, mode="up"), ValueError, "'min' or 'max'"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, threshold_mode="x"), ValueError, "'rel'"),
    (lambda opt: lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0, 0]), ValueError,
     "2 min_lr values for 1 parameter groups"),
])
def test_scheduler_argument_errors(make, error, match):
    opt = optim.SGD([tn.tensor(np.zeros(1), requires_grad=True)], lr=0.1)
    with pytest.raises(error, match=match):
        make(opt)


def test_schedulers_are_reexported():
    assert optim.StepLR is lr_scheduler.StepLR
    assert optim.ReduceLROnPlateau is lr_scheduler.ReduceLROnPlateau
