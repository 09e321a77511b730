"""Optimizers, learning-rate schedules and gradient clipping (``torch.optim`` semantics).

    opt = tn.optim.Adam(model.parameters(), lr=1e-3)
    sched = tn.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50)
    for epoch in range(50):
        for x, y in batches:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            tn.optim.clip_grad_norm_(model.parameters(), max_norm=1.0)
            opt.step()
        sched.step()

One file per topic: optimizer.py (the base class: parameter groups, state,
state_dict), sgd.py, adam.py (Adam, AdamW), lr_scheduler.py, clip.py, swa_utils.py
(averages of the weights: EMA and SWA).
"""
from . import lr_scheduler, swa_utils
from .adam import Adam, AdamW
from .clip import clip_grad_norm_, clip_grad_value_
from .lr_scheduler import (CosineAnnealingLR, LRScheduler, MultiStepLR, ReduceLROnPlateau,
                           StepLR)
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler", "swa_utils", "LRScheduler",
           "StepLR",
           "MultiStepLR", "CosineAnnealingLR", "ReduceLROnPlateau", "clip_grad_norm_",
           "clip_grad_value_"]
