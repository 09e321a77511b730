"""Learning-rate schedules: they rewrite ``group["lr"]`` of an optimizer's parameter groups.

Usage, as in PyTorch (one ``scheduler.step()`` per epoch, after the epoch's
``optimizer.step()`` calls)::

    opt = tn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = tn.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(model, opt)
        sched.step()

``last_epoch`` counts the calls to ``step()``.  Construction is the first
step, to epoch 0, as in PyTorch: it writes the schedule's epoch-0 learning
rates into the optimizer (the optimizer's own for most schedules; scaled by
``LambdaLR``, ``LinearLR`` and ``ConstantLR``, set by ``OneCycleLR``).
``get_last_lr()`` returns the learning rates the last step set.
``state_dict()`` holds every attribute but the optimizer, so a restored
scheduler continues exactly where the saved one stopped.

Most schedules compute the next lr from the current one (PyTorch's recursive
form, which composes with other changes of ``group["lr"]``); those with a
closed form (``_closed_form_lr``, from ``base_lrs``) also accept PyTorch's older
``step(epoch)``, which jumps to ``epoch``, and ``SequentialLR`` uses it to start
the next schedule at its epoch 0.  Warm-up, the common case::

    warmup = LinearLR(opt, start_factor=0.1, total_iters=5)
    cosine = CosineAnnealingLR(opt, T_max=95)
    sched = SequentialLR(opt, [warmup, cosine], milestones=[5])
"""
import bisect
import math
import numbers
import types
from collections import Counter

from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "CosineAnnealingLR", "ReduceLROnPlateau",
           "LambdaLR", "MultiplicativeLR", "ExponentialLR", "ConstantLR", "LinearLR",
           "PolynomialLR", "CosineAnnealingWarmRestarts", "SequentialLR", "OneCycleLR"]


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
        self._initial_step()

    def _initial_step(self):
        """Construction's step to epoch ``last_epoch + 1`` (0 for a new schedule).

        ``_is_initial`` tells ``get_lr`` that this is that step: a schedule resumed
        with ``last_epoch=k`` then keeps the optimizer's (restored) learning rates.
        """
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def _current_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def get_lr(self):
        """The learning rates at ``self.last_epoch`` (use ``get_last_lr()`` to read them)."""
        raise NotImplementedError

    def step(self, epoch=None):
        """Advance one epoch and set each group's learning rate.

        ``step(epoch)`` (deprecated in PyTorch, still common) jumps to ``epoch``
        instead, by the closed form where the schedule has one.
        """
        if epoch is None:
            self.last_epoch += 1
            lrs = self.get_lr()
        else:
            self.last_epoch = epoch
            lrs = self._closed_form_lr() if hasattr(self, "_closed_form_lr") else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
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
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size)
                for base in self.base_lrs]


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

    def _closed_form_lr(self):
        passed = sum(count for epoch, count in self.milestones.items()
                     if epoch <= self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from ``initial_lr`` down to ``eta_min`` over ``T_max`` epochs.

        lr(epoch) = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    After ``T_max`` the curve continues (rises again, period ``2 * T_max``),
    which is what PyTorch's scheduler does too.  PyTorch evaluates this with a
    recursion, each lr from the previous one, which composes with other changes
    of the lr (a warm-up stepped beside it, ReduceLROnPlateau).  tinynet uses the
    closed form while the lr is the one this schedule set at the last epoch (the
    same values without accumulated rounding, so a run's schedule does not
    depend on its length), and PyTorch's recursion once something else changed it:

        lr(e) = eta_min + (lr(e-1) - eta_min) (1 + cos(pi e / T_max)) / (1 + cos(pi (e-1) / T_max))
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if isinstance(T_max, bool) or not isinstance(T_max, numbers.Real) or not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self._is_initial:   # PyTorch keeps the optimizer's lrs
            return self._current_lrs()
        ours = self._closed_form_lr(self.last_epoch - 1)
        return [closed if lr == previous else self._recursive_lr(lr, base)
                for lr, previous, closed, base in zip(self._current_lrs(), ours,
                                                      self._closed_form_lr(), self.base_lrs)]

    def _recursive_lr(self, lr, base):
        """PyTorch's step from the current ``lr`` (the lr was changed by something else)."""
        e, period = self.last_epoch, self.T_max
        if (e - 1 - period) % (2 * period) == 0:       # at the bottom: the ratio is 0 / 0
            return lr + (base - self.eta_min) * (1 - math.cos(math.pi / period)) / 2
        ratio = (1 + math.cos(math.pi * e / period)) / (1 + math.cos(math.pi * (e - 1) / period))
        return self.eta_min + (lr - self.eta_min) * ratio

    def _closed_form_lr(self, epoch=None):
        epoch = self.last_epoch if epoch is None else epoch
        cosine = (1.0 + math.cos(math.pi * epoch / self.T_max)) / 2.0
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr(epoch) = initial_lr * lr_lambda(epoch): any schedule as a function of the epoch.

    ``lr_lambda`` is one function for every group or a list, one a group.  The
    functions are not state: ``state_dict()`` keeps only the attributes of
    callable objects (as PyTorch), and ``load_state_dict`` keeps the functions.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.lr_lambdas = _one_per_group(self, optimizer, "lr_lambda", lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * f(self.last_epoch) for f, base in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if _is_function(f) else dict(vars(f))
                               for f in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        for f, saved in zip(self.lr_lambdas, state.pop("lr_lambdas", [])):
            if saved is not None:
                vars(f).update(saved)
        super().load_state_dict(state)


class MultiplicativeLR(LambdaLR):
    """Multiply the lr by ``lr_lambda(epoch)`` at every epoch after the first."""

    def get_lr(self):
        if self.last_epoch == 0 or self._is_initial:
            return self._current_lrs()
        return [lr * f(self.last_epoch) for f, lr in zip(self.lr_lambdas, self._current_lrs())]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch: lr(epoch) = initial_lr * gamma ** epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """lr * ``factor`` for the first ``total_iters`` epochs, then the lr itself (a warm-up)."""

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        if not 0 <= factor <= 1:
            raise ValueError(f"ConstantLR: factor must be between 0 and 1, got {factor}")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._current_lrs()]
        if self.last_epoch != self.total_iters:
            return self._current_lrs()
        return [lr / self.factor for lr in self._current_lrs()]

    def _closed_form_lr(self):
        factor = 1.0 if self.last_epoch >= self.total_iters else self.factor
        return [base * factor for base in self.base_lrs]


class LinearLR(LRScheduler):
    """The lr scaled by a factor going linearly from ``start_factor`` to ``end_factor``
    over ``total_iters`` epochs (a warm-up, or a linear decay), then constant:

        lr(epoch) = initial_lr * (start + (end - start) * min(epoch, total_iters) / total_iters)
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor}")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._current_lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        # factor(e) / factor(e - 1), so that the lr follows the line from wherever it is
        change = self.end_factor - self.start_factor
        ratio = 1.0 + change / (self.total_iters * self.start_factor
                                + (self.last_epoch - 1) * change)
        return [lr * ratio for lr in self._current_lrs()]

    def _closed_form_lr(self):
        done = min(self.total_iters, self.last_epoch) / self.total_iters
        factor = self.start_factor + (self.end_factor - self.start_factor) * done
        return [base * factor for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """lr(epoch) = initial_lr * (1 - min(epoch, total_iters) / total_iters) ** power."""

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial or self.last_epoch == 0 or self.last_epoch > self.total_iters:
            return self._current_lrs()
        ratio = ((1.0 - self.last_epoch / self.total_iters)
                 / (1.0 - (self.last_epoch - 1) / self.total_iters)) ** self.power
        return [lr * ratio for lr in self._current_lrs()]

    def _closed_form_lr(self):
        left = 1.0 - min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * left ** self.power for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing that restarts (SGDR, Loshchilov & Hutter 2017): a cosine from
    ``initial_lr`` to ``eta_min`` over ``T_0`` epochs, then again over ``T_0 * T_mult``, ...

        lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2

    ``T_cur`` counts the epochs since the last restart and ``T_i`` is the current
    period.  ``step(epoch)`` takes a fractional epoch (``epoch + i / iters``) to
    anneal within an epoch, batch by batch.
    """

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if isinstance(T_0, bool) or not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_0 must be a positive int, "
                             f"got {T_0!r}")
        if isinstance(T_mult, bool) or not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_mult must be an int >= 1, "
                             f"got {T_mult!r}")
        self.T_0 = self.T_i = T_0
        self.T_mult, self.eta_min = T_mult, eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        cosine = (1.0 + math.cos(math.pi * self.T_cur / self.T_i)) / 2.0
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]

    def step(self, epoch=None):
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:                          # one more epoch; a restart at the period
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur -= self.T_i
                self.T_i *= self.T_mult
        elif epoch < 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: epoch must be >= 0, got {epoch}")
        elif epoch < self.T_0:
            self.T_i, self.T_cur = self.T_0, epoch
        elif self.T_mult == 1:
            self.T_cur = epoch % self.T_0
        else:                                      # which period: T_0 (T_mult^n - 1)/(T_mult - 1)
            n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
            self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
            self.T_i = self.T_0 * self.T_mult ** n
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._current_lrs()


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at the epochs in ``milestones``
    (one fewer than the schedulers); each starts at its own epoch 0 (``step(0)``).

    Built from schedulers already constructed on ``optimizer``: their construction
    steps are undone, the lrs reset to ``initial_lr``, and only the first one's
    epoch 0 is applied, as in PyTorch.
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        _check_optimizer(self, optimizer)
        if not schedulers:
            raise ValueError("SequentialLR: expects at least one scheduler")
        for i, scheduler in enumerate(schedulers):
            if getattr(scheduler, "optimizer", None) is not optimizer:
                raise ValueError(f"SequentialLR: scheduler {i} ({type(scheduler).__name__}) "
                                 "belongs to another optimizer")
            if isinstance(scheduler, ReduceLROnPlateau):
                raise ValueError("SequentialLR: ReduceLROnPlateau cannot be part of a sequence "
                                 "(its step needs a metric)")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: {len(schedulers)} schedulers need "
                             f"{len(schedulers) - 1} milestones, got {len(milestones)}")
        self._schedulers, self._milestones = list(schedulers), list(milestones)
        self.optimizer = optimizer
        self.last_epoch = last_epoch + 1
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for scheduler in self._schedulers:          # undo their construction steps
            scheduler.last_epoch -= 1
        first = self._schedulers[bisect.bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self):
        self.last_epoch += 1
        index = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler.step(0)                       # the next schedule starts at its epoch 0
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        state["_schedulers"] = [scheduler.state_dict() for scheduler in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        for scheduler, saved in zip(self._schedulers, state.pop("_schedulers")):
            scheduler.load_state_dict(saved)
        self.__dict__.update(state)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin 2019), stepped once per batch: the lr rises from
    ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of ``total_steps``,
    then falls to ``initial_lr / final_div_factor``; the momentum (SGD's ``momentum``,
    Adam's beta1) moves the opposite way between ``max_momentum`` and ``base_momentum``.

    ``anneal_strategy`` "cos" (default) or "linear"; ``three_phase=True`` comes back
    down to the initial lr symmetrically before the final fall.  ``total_steps`` or
    both ``epochs`` and ``steps_per_epoch``.  Stepping past ``total_steps`` is an error.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True,
                 base_momentum=0.85, max_momentum=0.95, div_factor=25.0,
                 final_div_factor=1e4, three_phase=False, last_epoch=-1):
        _check_optimizer(self, optimizer)
        self.optimizer = optimizer
        self.total_steps = _one_cycle_steps(total_steps, epochs, steps_per_epoch)
        if not 0 <= pct_start <= 1 or not isinstance(pct_start, float):
            raise ValueError(f"OneCycleLR: pct_start must be a float in [0, 1], got "
                             f"{pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self._phases = _one_cycle_phases(self.total_steps, pct_start, three_phase)
        max_lrs = _one_per_group(self, optimizer, "max_lr", max_lr)
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("OneCycleLR: cycle_momentum needs an optimizer with momentum "
                                 "or betas (pass cycle_momentum=False)")
            self.use_beta1 = "betas" in optimizer.defaults
        if last_epoch == -1:
            momenta = zip(_one_per_group(self, optimizer, "max_momentum", max_momentum),
                          _one_per_group(self, optimizer, "base_momentum", base_momentum))
            for group, top, (high, low) in zip(optimizer.param_groups, max_lrs, momenta):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
                if cycle_momentum:
                    self._set_momentum(group, high)
                    group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group, value):
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start, end, fraction):
        if self.anneal_strategy == "linear":
            return start + (end - start) * fraction
        return end + (start - end) * (1.0 + math.cos(math.pi * fraction)) / 2.0

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times, but total_steps is "
                             f"{self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            begin = 0.0
            for i, (end, lr_from, lr_to, m_from, m_to) in enumerate(self._phases):
                if step <= end or i == len(self._phases) - 1:
                    fraction = (step - begin) / (end - begin)
                    lrs.append(self._anneal(group[lr_from], group[lr_to], fraction))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[m_from], group[m_to],
                                                               fraction))
                    break
                begin = end
        return lrs


def _one_cycle_steps(total_steps, epochs, steps_per_epoch):
    """OneCycleLR's length: ``total_steps``, or ``epochs * steps_per_epoch``."""
    if total_steps is not None:
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"OneCycleLR: total_steps must be a positive int, got "
                             f"{total_steps!r}")
        return total_steps
    if epochs is None or steps_per_epoch is None:
        raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
    for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"OneCycleLR: {name} must be a positive int, got {value!r}")
    return epochs * steps_per_epoch


def _one_cycle_phases(total_steps, pct_start, three_phase):
    """(last step, lr from, lr to, momentum from, momentum to) of each phase, by group key."""
    rise_end = float(pct_start * total_steps) - 1
    if three_phase:
        return [(rise_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr",
                 "base_momentum", "max_momentum"),
                (total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
    return [(rise_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
            (total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]


def _one_per_group(scheduler, optimizer, name, value):
    """``value`` for each parameter group: a list or tuple of one a group, or one for all."""
    count = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"{type(scheduler).__name__}: expected {count} values of {name}, "
                             f"one per parameter group, got {len(value)}")
        return list(value)
    return [value] * count


def _is_function(f):
    """A plain function, lambda or method (no state of its own), not a callable object."""
    return isinstance(f, (types.FunctionType, types.MethodType))


_LRScheduler = LRScheduler      # the base class's older name, which many custom schedules use


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
