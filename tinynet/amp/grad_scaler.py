"""``GradScaler``: loss scaling, so that float16 gradients do not underflow to zero.

Why.  Under autocast, the backward pass of a float16 op computes float16
gradients, and float16 has nothing between 0 and 6e-8: gradients smaller than
that (common for weights deep in a network) become exactly 0.  Backward is
linear in the gradient it starts from, so computing the gradients of
``S * loss`` instead of ``loss`` multiplies every gradient by ``S`` and lifts
them into float16's range; before the optimizer uses them, the float32
gradients of the (float32) weights are divided by ``S`` again:

    grad = (1/S) * d(S * loss)/dw          exact when S is a power of 2

How S is chosen (dynamic loss scaling, PyTorch's rule).  S starts large
(2^16).  If a step's gradients hold an inf or a NaN, S was too large (something
overflowed past 65504): that step is skipped (the weights are not updated) and
S *= backoff_factor (0.5).  After ``growth_interval`` (2000) steps in a row
without one, S *= growth_factor (2), to use as much of the range as is safe.
S never grows to inf.

The idiom, as PyTorch's::

    scaler = tn.amp.GradScaler()
    for x, y in loader:
        optimizer.zero_grad()
        with tn.autocast("gpu"):
            loss = loss_fn(model(x), y)
        scaler.scale(loss).backward()        # the gradients of S * loss
        scaler.unscale_(optimizer)           # optional: divide by S now, e.g. to clip
        tn.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)               # divide by S (if not done), step unless inf/NaN
        scaler.update()                      # adjust S

On the GPU, S, the count of good steps and the inf/NaN flags stay on the
device; the only read from it is one flag per ``step()`` (whether to skip),
as in PyTorch.  That read does not raise the checks that ops defer on the GPU
(``tinynet/deferred_checks.py``): they surface at the next read of a value, as
without a scaler.  The gradients must be float32 (master weights): unscaling
float16 gradients is refused, as by PyTorch.
"""
import math
import numbers
import warnings

import numpy as np

from .. import backend
from ..autograd import Tensor

__all__ = ["GradScaler"]

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"   # an optimizer's stage in a step


def _checked_device(device):
    """None, "cpu" or "gpu" for GradScaler's device argument, or a clear error."""
    if device is None:
        return None
    if not isinstance(device, str):
        raise TypeError(f"GradScaler: device must be 'cpu', 'gpu' or 'cuda' (or None: the "
                        f"loss's device), got {device!r}; pass init_scale= by keyword (as in "
                        "torch.amp.GradScaler, the first argument is the device)")
    return backend.normalize_device(device)


def _check_settings(init_scale, growth_factor, backoff_factor, growth_interval):
    """Raise ValueError naming the first setting that makes no sense."""
    def real(value):
        return isinstance(value, numbers.Real) and not isinstance(value, bool) \
            and math.isfinite(value)
    if not (real(init_scale) and init_scale > 0):
        raise ValueError(f"GradScaler: init_scale must be a finite number > 0, got {init_scale!r}")
    if not (real(growth_factor) and growth_factor > 1):
        raise ValueError(f"GradScaler: growth_factor must be > 1, got {growth_factor!r}")
    if not (real(backoff_factor) and 0 < backoff_factor < 1):
        raise ValueError(f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor!r}")
    if isinstance(growth_interval, bool) or not isinstance(growth_interval, numbers.Integral) \
            or growth_interval < 1:
        raise ValueError(f"GradScaler: growth_interval must be an int >= 1, got "
                         f"{growth_interval!r}")


class GradScaler:
    """Dynamic loss scaling for float16 training, as ``torch.amp.GradScaler``.

    ``GradScaler(device=None, init_scale=2.0**16, growth_factor=2.0,
    backoff_factor=0.5, growth_interval=2000, enabled=True)``.  ``device``:
    where the scale lives, None for the device of the first loss it scales
    (PyTorch's default is "cuda"); with "gpu" (or "cuda") and no GPU, the
    scaler disables itself with a warning, as PyTorch's does.  A disabled
    scaler passes everything through: ``scale(loss)`` is ``loss``, ``step``
    is ``optimizer.step()``, ``get_scale()`` is 1.0.
    """

    def __init__(self, device=None, init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        self._device = _checked_device(device)
        if not isinstance(enabled, bool):
            raise TypeError(f"GradScaler: enabled must be True or False, got {enabled!r}")
        _check_settings(init_scale, growth_factor, backoff_factor, growth_interval)
        if enabled and self._device == "gpu" and not backend.gpu_available():
            warnings.warn("GradScaler is enabled, but no GPU is available: disabling it")
            enabled = False
        self._enabled = enabled
        self._init_scale, self._init_growth_tracker = float(init_scale), 0
        self._growth_factor, self._backoff_factor = float(growth_factor), float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._scale = self._growth_tracker = None     # 0-d device arrays, made by scale()
        self._per_optimizer = {}                       # id(optimizer) -> its state this step

    # -- the step ------------------------------------------------------------------------------
    def scale(self, outputs):
        """``outputs * S``: a Tensor, or a list or tuple of them (of the same type)."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            if self._scale is None:
                self._start_on(backend.device_of(outputs.data))
            return outputs * Tensor._from_array(backend.to_device(self._scale, outputs.device))
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(output) for output in outputs)
        raise TypeError(f"GradScaler.scale: outputs must be a Tensor or a list or tuple of "
                        f"Tensors, got {type(outputs).__name__}")

    def _start_on(self, device):
        """Create S and the count of good steps, on ``device`` (or the scaler's)."""
        xp = backend.xp_for_device(self._device or device)
        # full() fills on the device: the number is a kernel argument, not a copy from the host.
        self._scale = xp.full((), self._init_scale, dtype=np.float32)
        self._growth_tracker = xp.full((), self._init_growth_tracker, dtype=np.int32)

    def unscale_(self, optimizer):
        """Divide the gradients of ``optimizer``'s parameters by S, in place, and note
        (on the device) whether one held an inf or a NaN.  At most once per step."""
        if not self._enabled:
            return
        state = self._state_of(optimizer)
        if state["stage"] == _UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since "
                               "the last update().")
        if state["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        self._check_started("unscale_")
        # 1/S in float64, then float32, as PyTorch (exact for the powers of 2 S usually is).
        inv_scale = (1.0 / self._scale.astype(np.float64)).astype(np.float32)
        state["found_inf"] = _unscale(_gradients(optimizer), inv_scale)
        state["stage"] = _UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step(*args, **kwargs)`` on the unscaled gradients, unless one held an
        inf or NaN (then skipped: returns None).  Unscales first if ``unscale_`` was not called."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_started("step")
        state = self._state_of(optimizer)
        if state["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        if not state["found_inf"]:
            raise RuntimeError("No inf checks were recorded for this optimizer (none of its "
                               "parameters has a gradient).")
        skip = any(_read_flag(flag) for flag in state["found_inf"].values())
        state["stage"] = _STEPPED
        return None if skip else optimizer.step(*args, **kwargs)

    def update(self, new_scale=None):
        """Adjust S after the step (see the module docstring), or set it to ``new_scale``
        (a number, or a one-element Tensor).  Starts the next step for every optimizer."""
        if not self._enabled:
            return
        self._check_started("update")
        if new_scale is not None:
            self._scale = self._on_scale_device(new_scale)
        else:
            flags = [backend.to_device(flag, backend.device_of(self._scale))
                     for state in self._per_optimizer.values()
                     for flag in state["found_inf"].values()]
            if not flags:
                raise RuntimeError("No inf checks were recorded prior to update().")
            self._scale, self._growth_tracker = _updated_scale(
                self._scale, self._growth_tracker, sum(flags[1:], flags[0]),
                self._growth_factor, self._backoff_factor, self._growth_interval)
        self._per_optimizer.clear()

    def _state_of(self, optimizer):
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY, "found_inf": {}})

    def _check_started(self, name):
        if self._scale is None:
            raise RuntimeError(f"GradScaler.{name}: no scale yet; call scaler.scale(loss) "
                               "(and backward on it) earlier in the step")

    def _on_scale_device(self, value):
        """``value`` (a number or a one-element Tensor) as a 0-d float32 array beside S."""
        xp = backend.get_array_module(self._scale)
        if isinstance(value, Tensor):
            if value.numel() != 1:
                raise ValueError(f"GradScaler.update: new_scale must have one element, got "
                                 f"shape {value.shape}")
            array = backend.to_device(value.data, backend.device_of(self._scale))
            return array.reshape(()).astype(np.float32)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"GradScaler.update: new_scale must be a number or a Tensor, got "
                            f"{value!r}")
        return xp.full((), value, dtype=np.float32)

    # -- reading and setting -------------------------------------------------------------------
    def get_scale(self):
        """S as a Python float (a read from the device); 1.0 when disabled."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else float(backend.to_numpy(self._scale))

    def _get_growth_tracker(self):
        if self._growth_tracker is None:
            return self._init_growth_tracker
        return int(backend.to_numpy(self._growth_tracker))

    def is_enabled(self):
        return self._enabled

    def get_growth_factor(self):
        return self._growth_factor

    def set_growth_factor(self, new_factor):
        _check_settings(1.0, new_factor, self._backoff_factor, self._growth_interval)
        self._growth_factor = float(new_factor)

    def get_backoff_factor(self):
        return self._backoff_factor

    def set_backoff_factor(self, new_factor):
        _check_settings(1.0, self._growth_factor, new_factor, self._growth_interval)
        self._backoff_factor = float(new_factor)

    def get_growth_interval(self):
        return self._growth_interval

    def set_growth_interval(self, new_interval):
        _check_settings(1.0, self._growth_factor, self._backoff_factor, new_interval)
        self._growth_interval = int(new_interval)

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self):
        """PyTorch's keys: scale, growth_factor, backoff_factor, growth_interval,
        _growth_tracker (Python numbers); {} when disabled."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict()`` saved (also one saved by torch.amp.GradScaler)."""
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        keys = ("scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker")
        missing = [key for key in keys if key not in state_dict]
        if missing:
            raise KeyError(f"GradScaler.load_state_dict: the state dict lacks {missing}")
        scale, growth, backoff, interval, tracker = (state_dict[key] for key in keys)
        _check_settings(float(scale), float(growth), float(backoff), int(interval))
        self._init_scale, self._init_growth_tracker = float(scale), int(tracker)
        self._growth_factor, self._backoff_factor = float(growth), float(backoff)
        self._growth_interval = int(interval)
        if self._scale is not None:            # started: refill on its device
            self._start_on(backend.device_of(self._scale))


def _gradients(optimizer):
    """The gradient arrays of the optimizer's parameters (those that have one)."""
    grads = []
    for group in optimizer.param_groups:
        for p in group["params"]:
            grad = p.grad.data if isinstance(p.grad, Tensor) else p.grad
            if grad is None:
                continue
            if np.dtype(grad.dtype) == np.float16:
                raise ValueError("Attempting to unscale FP16 gradients.")
            grads.append(grad)
    return grads


def _unscale(grads, inv_scale):
    """Multiply each gradient by ``inv_scale`` in place.  Returns {device: 0-d float32 flag},
    the flag 1.0 where some gradient on that device held an inf or a NaN, else 0.0."""
    by_device = {}
    for g in grads:
        by_device.setdefault(backend.device_of(g), []).append(g)
    return {device: _unscale_on_one_device(gs, backend.to_device(inv_scale, device))
            for device, gs in by_device.items()}


def _unscale_on_one_device(grads, inv_scale):
    xp = backend.get_array_module(grads[0])
    # Checked before unscaling, as PyTorch does: an inf stays inf, and a large finite
    # value that 1/S > 1 would push past float32's range is not an overflow of the step.
    all_finite = [xp.isfinite(g).all() for g in grads]
    for g in grads:
        g *= inv_scale
    return xp.logical_not(xp.stack(all_finite).all()).astype(np.float32)


def _read_flag(flag):
    """The one read from the device per step: is the 0-d flag nonzero?"""
    return bool(flag.item())


def _updated_scale(scale, growth_tracker, found_inf, growth_factor, backoff_factor,
                   growth_interval):
    """The new (S, good steps in a row), computed on the device without reading it:

        inf or NaN found:  S * backoff_factor, 0
        else:              good = tracker + 1;  S * growth_factor, 0  if good == growth_interval
                                                S, good               otherwise
    S never grows to inf.  The products are taken in float64 and rounded to float32, as
    PyTorch's kernel does."""
    xp = backend.get_array_module(scale)
    found = found_inf > 0
    good = xp.where(found, 0, growth_tracker + 1)
    grow = good == growth_interval
    with np.errstate(over="ignore"):         # a grown S past float32's range: inf, not kept
        grown = (scale.astype(np.float64) * growth_factor).astype(np.float32)
    grown = xp.where(xp.isfinite(grown), grown, scale)
    backed_off = (scale.astype(np.float64) * backoff_factor).astype(np.float32)
    new_scale = xp.where(found, backed_off, xp.where(grow, grown, scale))
    new_tracker = xp.where(grow, 0, good)
    return new_scale.astype(np.float32), new_tracker.astype(np.int32)
