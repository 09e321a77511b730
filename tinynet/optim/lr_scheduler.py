"""Learning-rate schedules: they rewrite ``group["lr"]`` of an optimizer's parameter groups.

Usage, as in PyTorch (one ``scheduler.step()`` per epoch, after the epoch's
``optimizer.step()`` calls)::

    opt = tn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = tn.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(model, opt)
        sched.step()

``last_epoch`` counts the calls to ``step()`` (0 right after construction,
when the optimizer's learning rates are the schedule's starting values).
``get_last_lr()`` returns the learning rates the last step set.
``state_dict()`` holds every attribute but the optimizer, so a restored
scheduler continues exactly where the saved one stopped.
"""
import math
import numbers
from collections import Counter

from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "CosineAnnealingLR", "ReduceLROnPlateau"]


def _check_optimizer(scheduler, optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(scheduler).__name__}: expected an Optimizer, "
                        f"got {type(optimizer).__name__}")


class LRScheduler:
    """Base class of epoch-based schedules; subclasses implement ``get_lr()``.

    ``get_lr()`` returns the learning rates for the new ``last_epoch`` (one
    per parameter group); ``step()`` advances the epoch and writes them.
    """

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(self, optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            # Remember the starting lr: schedules like cosine are functions of it.
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: resuming with last_epoch="
                                   f"{last_epoch} needs 'initial_lr' in param_groups[{i}]; "
                                   "load the optimizer's state_dict first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        # Construction counts as the first step, but it keeps the optimizer's
        # learning rates: they are the schedule's value at this epoch.
        self.last_epoch += 1
        self._last_lr = self._current_lrs()

    def _current_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def get_lr(self):
        """The learning rates at ``self.last_epoch`` (use ``get_last_lr()`` to read them)."""
        raise NotImplementedError

    def step(self):
        """Advance one epoch and set each group's learning rate."""
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def get_last_lr(self):
        """The learning rates set by the latest ``step()`` (or construction), one per group."""
        return list(self._last_lr)

    def state_dict(self):
        """Every attribute except the optimizer (which is saved separately)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore attributes saved by ``state_dict()``."""
        self.__dict__.update({k: v for k, v in state_dict.items() if k != "optimizer"})


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    lr(epoch) = initial_lr * gamma ** (epoch // step_size).  Like PyTorch, the
    multiplication is applied to the current lr at each boundary, so it
    composes with other changes to the lr.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        whole = (isinstance(step_size, numbers.Real) and not isinstance(step_size, bool)
                 and math.isfinite(step_size) and step_size == int(step_size))
        if not (whole and step_size >= 1):
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each epoch listed in ``milestones``.

    A milestone listed twice multiplies by ``gamma**2`` (as in PyTorch).
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = Counter(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        times = self.milestones.get(self.last_epoch, 0)
        return [lr * self.gamma ** times for lr in self._current_lrs()]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from ``initial_lr`` down to ``eta_min`` over ``T_max`` epochs.

        lr(epoch) = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    After ``T_max`` the curve continues (rises again, period ``2 * T_max``),
    which is what PyTorch's scheduler does too.  PyTorch evaluates this with a
    recursion (each lr from the previous one); we use the closed form, which
    gives the same values without accumulating rounding error, at the price
    of ignoring manual edits of ``group["lr"]`` made between steps.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if isinstance(T_max, bool) or not isinstance(T_max, numbers.Real) or not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        cosine = (1.0 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2.0
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]


class ReduceLROnPlateau(LRScheduler):
    """Divide the learning rate when a metric stops improving (``torch`` semantics).

    Call ``step(metric)`` once per epoch with a validation metric.  An epoch
    improves on the best value so far if (``mode="min"``)

        rel: metric < best * (1 - threshold)      abs: metric < best - threshold

    (mirrored for ``mode="max"``).  After more than ``patience`` epochs
    without improvement, every group's lr becomes ``max(lr * factor, min_lr)``
    (changes smaller than ``eps`` are skipped), and the next ``cooldown``
    epochs are not counted as bad.

    Parameters
    ----------
    optimizer : Optimizer
    mode : "min" or "max", whether a lower or a higher metric is better.
    factor : float in [0, 1), the multiplier applied on a plateau.
    patience : int, bad epochs tolerated before reducing.
    threshold, threshold_mode : how much better counts as an improvement ("rel" or "abs").
    cooldown : int, epochs to wait after a reduction before counting bad epochs again.
    min_lr : float or list of floats (one per group), lower bound of the lr.
    eps : float, minimal change of lr that is applied.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        _check_optimizer(self, optimizer)
        if not 0.0 <= factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in [0, 1), got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError("ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', "
                             f"got {threshold_mode!r}")
        n_groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n_groups:
                raise ValueError(f"ReduceLROnPlateau: got {len(min_lr)} min_lr values for "
                                 f"{n_groups} parameter groups")
            self.min_lrs = list(min_lr)
        else:
            self.min_lrs = [min_lr] * n_groups
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def is_better(self, value, best):
        """Whether ``value`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            bound = best * (1.0 - self.threshold) if self.threshold_mode == "rel" \
                else best - self.threshold
            return value < bound
        bound = best * (1.0 + self.threshold) if self.threshold_mode == "rel" \
            else best + self.threshold
        return value > bound

    def step(self, metrics):
        """Record this epoch's metric; reduce the learning rates if it has plateaued."""
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # epochs in cooldown never count as bad
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self):
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr
