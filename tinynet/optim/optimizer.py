"""The ``Optimizer`` base class: parameter groups, per-parameter state, checkpoints.

An optimizer owns a list of *parameter groups*.  Each group is a dict holding
a list of parameters (``group["params"]``) and the hyperparameters used to
update them (``lr``, ``momentum``, ...); a hyperparameter missing from a group
is filled in from the optimizer's ``defaults``.  This is how one optimizer
gives, say, the backbone a smaller learning rate than the head::

    opt = tn.optim.SGD([{"params": backbone.parameters(), "lr": 1e-4},
                        {"params": head.parameters()}], lr=1e-2, momentum=0.9)

Learning-rate schedulers work by rewriting ``group["lr"]``; every ``step()``
reads the hyperparameters again, so the change takes effect immediately.

``state[p]`` holds what the algorithm remembers about parameter ``p`` between
steps (a momentum buffer, Adam's moment estimates and step count).  State
arrays live on the parameter's device, with its dtype, and are created lazily
on the first step that sees a gradient for ``p``.

Updates are written in place into ``p.data`` (modules keep references to
their parameters, so the parameter objects must stay the same) and work on
raw arrays, so no autograd graph is ever recorded.

``state_dict()`` uses PyTorch's layout, so checkpoints read the same way::

    {"state": {0: {"step": 3, "exp_avg": array, ...}, 2: {...}},
     "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), ..., "params": [0, 1, 2]}]}

Parameters are numbered in order across all groups; only parameters that
have state appear under ``"state"``.
"""
import math
import numbers
from collections import defaultdict

from .. import backend
from ..autograd import Tensor, enable_grad

__all__ = ["Optimizer", "check_hyperparameter"]


def check_hyperparameter(optimizer_name, name, value, below=None, allow_negative=False):
    """Raise unless ``value`` is a real number >= 0 (and < ``below`` if given).

    NaN is refused too: one NaN hyperparameter turns every weight into NaN at
    the first step.  ``allow_negative`` keeps only the NaN check (SGD's
    dampening, which PyTorch lets be negative).  The error names the
    optimizer, the argument and the value, e.g. "Adam: invalid lr nan (must be >= 0)".
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{optimizer_name}: {name} must be a number, got {value!r} "
                        f"({type(value).__name__})")
    if allow_negative:
        if math.isnan(value):
            raise ValueError(f"{optimizer_name}: invalid {name} {value} (must not be NaN)")
    elif below is None and not value >= 0:
        raise ValueError(f"{optimizer_name}: invalid {name} {value} (must be >= 0)")
    elif below is not None and not 0 <= value < below:
        raise ValueError(f"{optimizer_name}: invalid {name} {value} (must be in [0, {below}))")


def _check_not_a_model(optimizer_name, params):
    """A Module, or its ``parameters`` method uncalled, is a common slip: name the fix."""
    if hasattr(params, "parameters") and callable(params.parameters):
        raise TypeError(f"{optimizer_name}: params must be the model's parameters, not the "
                        f"{type(params).__name__} model itself; pass model.parameters()")
    if callable(params) and getattr(params, "__name__", None) == "parameters":
        raise TypeError(f"{optimizer_name}: params is the method model.parameters, not its "
                        "result; call it: model.parameters()")


def _grad_array(param):
    """The gradient of ``param`` as a raw array, or None if it has none.

    ``param.grad`` is normally a Tensor; a raw array is accepted as well.
    """
    grad = param.grad
    if grad is None:
        return None
    return grad.data if isinstance(grad, Tensor) else grad


def _set_grad_array(param, array):
    """Replace the gradient values of ``param`` by ``array`` (keeps the grad Tensor object)."""
    if isinstance(param.grad, Tensor):
        param.grad.data = array
    else:
        param.grad = array


def zero_gradients(params, set_to_none=True):
    """Reset the gradient of every parameter in ``params``: to None, or to fresh zeros.

    ``Optimizer.zero_grad`` and ``Module.zero_grad`` both come here.  Zeros are a
    fresh array, not ``grad[...] = 0``: backward may hand the same array to several
    leaves, or alias the caller's ``gradient``, and zeroing in place would clobber those.
    """
    for p in params:
        grad = _grad_array(p)
        if grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            _set_grad_array(p, backend.get_array_module(grad).zeros_like(grad))


def _is_array(value):
    return hasattr(value, "shape") and hasattr(value, "dtype")


class Optimizer:
    """Base class of all optimizers; subclasses implement ``_update`` for one parameter.

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dict
        The tensors to optimize, or parameter groups: dicts with a ``"params"``
        entry and optional per-group hyperparameters.
    defaults : dict
        Hyperparameters used by groups that don't set their own.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, (Tensor, dict)):
            # A single tensor is almost always a mistake for `[tensor]`; a bare
            # dict would be iterated over its keys.  Torch rejects both too.
            raise TypeError(f"{self._name}: params must be an iterable of Tensors or of dicts "
                            f"(parameter groups), got a single {type(params).__name__}")
        _check_not_a_model(self._name, params)
        self._check_ordered(params)
        params = list(params)
        if not params:
            raise ValueError(f"{self._name}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self):
        return type(self).__name__

    # -- parameter groups -------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a group of parameters (a dict with ``"params"``) with its own hyperparameters.

        Useful to unfreeze layers during fine-tuning.  A parameter may belong
        to one group only, and may appear in it once.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name}: a parameter group must be a dict, "
                            f"got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{self._name}: a parameter group needs a 'params' entry, "
                             f"got keys {sorted(param_group)}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        self._check_ordered(params)
        params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name}: can only optimize Tensors, but parameter {i} "
                                f"of group {len(self.param_groups)} is a {type(p).__name__}")
        self._check_no_duplicates(params)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._validate_group(group)
        group["params"] = params
        self.param_groups.append(group)

    def _check_ordered(self, params):
        # Set order changes between runs, which would scramble state_dict indices.
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{self._name}: parameters must be an ordered collection "
                            "(list, tuple, generator), not a set")

    def _check_no_duplicates(self, params):
        """Raise if a parameter repeats in ``params`` or is already in another group.

        Updating a parameter twice per step would silently double its learning rate.
        """
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            first = next(i for i, x in enumerate(ids) if ids.count(x) > 1)
            raise ValueError(f"{self._name}: parameter group {len(self.param_groups)} contains "
                             f"the same parameter more than once (first at position {first}, "
                             f"shape {tuple(params[first].data.shape)})")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing & set(ids):
            raise ValueError(f"{self._name}: some parameters appear in more than one "
                             "parameter group")

    def _validate_group(self, group):
        """Check a group's hyperparameters; subclasses raise ValueError on bad values."""

    # -- the update ---------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all parameters before the next backward pass.

        ``set_to_none=True`` (default, like PyTorch) drops them, which frees
        memory and lets ``step()`` skip parameters that got no new gradient.
        With ``set_to_none=False`` the gradients become zeros.
        """
        zero_gradients((p for group in self.param_groups for p in group["params"]),
                       set_to_none)

    def step(self, closure=None):
        """Update every parameter that has a gradient; return ``closure()``'s loss if given.

        ``closure`` (optional) re-evaluates the model and returns the loss;
        it runs with gradient recording enabled.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for g_index, group in enumerate(self.param_groups):
            for p_index, p in enumerate(group["params"]):
                grad = _grad_array(p)
                if grad is None:
                    continue
                if tuple(grad.shape) != tuple(p.data.shape):
                    raise ValueError(
                        f"{self._name}.step: parameter {p_index} of group {g_index} has shape "
                        f"{tuple(p.data.shape)} but its gradient has shape {tuple(grad.shape)}")
                grad = grad.astype(p.data.dtype, copy=False)
                self._update(p, grad, group, self.state[p])
        return loss

    def _update(self, param, grad, group, state):
        """Update ``param.data`` in place from ``grad`` (an array; never modify it)."""
        raise NotImplementedError

    # -- checkpoints ----------------------------------------------------------------
    def state_dict(self):
        """The optimizer's state and hyperparameters in PyTorch's layout (see module doc).

        Arrays are copies, so the returned dict is a snapshot that later steps
        don't change.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, param_state in self.state.items():
            if id(p) in index and param_state:
                state[index[id(p)]] = {k: (v.copy() if _is_array(v) else v)
                                       for k, v in param_state.items()}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore state and hyperparameters saved by ``state_dict()``.

        The optimizer must have been built with the same parameter groups, in
        the same order and sizes.  State arrays are copied onto each
        parameter's device and dtype.  Everything is checked before anything
        changes, so a failed load leaves the optimizer as it was.
        """
        where = f"{self._name}.load_state_dict"
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(f"{where}: expected a dict with keys 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{where}: the state dict has {len(saved_groups)} parameter groups "
                             f"but this optimizer has {len(self.param_groups)}")
        by_index, new_settings = {}, []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            new_settings.append(self._check_saved_group(i, saved, group, where))
            by_index.update(zip(saved["params"], group["params"]))
        new_state = defaultdict(dict)
        for index, saved_state in state_dict["state"].items():
            if index not in by_index:
                raise ValueError(f"{where}: the state dict has state for parameter {index}, "
                                 "which is in none of its parameter groups")
            p = by_index[index]
            new_state[p] = self._load_param_state(index, saved_state, p, where)
        self.state = new_state
        for settings, group in zip(new_settings, self.param_groups):
            # Update in place so that anyone holding a group dict sees the change.
            group.update(settings)

    def _check_saved_group(self, i, saved, group, where):
        """Check saved group ``i`` against ``group``; return its hyperparameters (validated)."""
        n_saved, n_here = len(saved["params"]), len(group["params"])
        if n_saved != n_here:
            raise ValueError(f"{where}: parameter group {i} has {n_saved} parameters in the "
                             f"state dict but {n_here} in this optimizer")
        missing = sorted(set(self.defaults) - set(saved))
        if missing:
            raise ValueError(f"{where}: parameter group {i} in the state dict lacks "
                             f"hyperparameters {missing} (was it saved by another optimizer?)")
        # The saved hyperparameters pass the same checks as the constructor's.
        settings = {k: v for k, v in saved.items() if k != "params"}
        try:
            self._validate_group(settings)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}: parameter group {i} in the state dict: {exc}") from exc
        return settings

    def _load_param_state(self, index, saved_state, param, where):
        """A copy of one parameter's saved state, on the parameter's device and dtype."""
        shape = tuple(param.data.shape)
        device = backend.device_of(param.data)
        loaded = {}
        for key, value in saved_state.items():
            if isinstance(value, Tensor):      # a state dict read back by tn.load
                value = value.data
            if key == "step":
                loaded[key] = int(value)
            elif _is_array(value):
                if tuple(value.shape) != shape:
                    raise ValueError(f"{where}: state '{key}' of parameter {index} has shape "
                                     f"{tuple(value.shape)} but the parameter has shape {shape}")
                value = backend.to_device(value, device)
                loaded[key] = value.astype(param.data.dtype, copy=True)
            else:
                loaded[key] = value
        return loaded

    def __repr__(self):
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params")
        lines.append(")")
        return "\n".join(lines)
