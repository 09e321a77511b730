"""``Module``: the base class of every layer and model.

A Module owns three kinds of things, each registered by plain attribute
assignment in ``__init__`` and kept in insertion order (plain dicts), so that
``parameters()``, ``state_dict()`` and ``repr()`` list them in the order the
code defined them, exactly like PyTorch:

* parameters (``self.weight = Parameter(...)``): learned, given to optimizers;
* buffers (``self.register_buffer("running_mean", zeros)``): state that is not
  learned, e.g. BatchNorm running statistics; persistent ones are saved in
  ``state_dict()``;
* sub-modules (``self.conv1 = Conv2d(...)``): their parameters and buffers are
  named with a dotted prefix, e.g. ``"layer1.0.conv1.weight"``.

Saving and loading (``state_dict`` / ``load_state_dict``) live in
``state_dict.py``, device and dtype moves in ``device.py``, hook handles in
``hooks.py``; this file is about registration, traversal and modes.
"""
import numpy as np

from ..autograd import Tensor
from . import device as _device
from . import state_dict as _state
from .hooks import RemovableHandle, with_backward_hooks
from .parameter import Parameter

__all__ = ["Module"]


def _is_array(value):
    """True for a NumPy or CuPy array (anything array-like with a shape and a dtype)."""
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, Tensor)


def _check_name(module, name, kind, store):
    """Validate a new attribute name for register_parameter/register_buffer/add_module."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if name == "" or "." in name:
        raise KeyError(f"{kind} name can't be empty or contain '.', got {name!r}")
    if name not in store and name in module.__dict__:
        raise KeyError(f"attribute {name!r} already exists")


class Module:
    """Base class of layers and models: subclass it, call ``super().__init__()``
    first, assign parameters and sub-modules as attributes, and write ``forward``.

    >>> class Net(Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = Linear(4, 2)
    ...     def forward(self, x):
    ...         return self.fc(x)
    """

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())  # membership only
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_forward_pre_hooks", {})
        object.__setattr__(self, "_forward_hooks", {})
        object.__setattr__(self, "_forward_hooks_with_kwargs", set())
        object.__setattr__(self, "_backward_hooks", {})
        object.__setattr__(self, "_backward_pre_hooks", {})

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  f'"forward" function')

    def __call__(self, *args, **kwargs):
        for key, hook in list(self._forward_pre_hooks.items()):
            if key in self._forward_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        if self._backward_hooks or self._backward_pre_hooks:
            output = with_backward_hooks(self, args, lambda a: self.forward(*a, **kwargs))
        else:
            output = self.forward(*args, **kwargs)
        for key, hook in list(self._forward_hooks.items()):
            if key in self._forward_hooks_with_kwargs:
                result = hook(self, args, kwargs, output)
            else:
                result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    def _add_hook(self, hooks, hook, prepend, with_kwargs=False):
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        if prepend:
            for key in [k for k in hooks if k != handle.id]:
                hooks[key] = hooks.pop(key)      # the others after it, in their order
        if with_kwargs:
            self._forward_hooks_with_kwargs.add(handle.id)
        return handle

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """``hook(module, args)`` runs before ``forward``; returning a value replaces ``args``
        (``with_kwargs=True``: ``hook(module, args, kwargs)`` returning ``(args, kwargs)``).
        ``prepend=True`` runs it before the hooks already registered."""
        return self._add_hook(self._forward_pre_hooks, hook, prepend, with_kwargs)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False,
                              always_call=False):
        """``hook(module, args, output)`` runs after ``forward``; a returned value replaces
        ``output``.  Handy to capture activations (e.g. for Grad-CAM).  ``with_kwargs=True``:
        ``hook(module, args, kwargs, output)``."""
        return self._add_hook(self._forward_hooks, hook, prepend, with_kwargs)

    def register_full_backward_hook(self, hook, prepend=False):
        """``hook(module, grad_input, grad_output)`` runs when the gradients with respect to
        the module's inputs are known (see nn/hooks.py); a returned tuple replaces grad_input."""
        return self._add_hook(self._backward_hooks, hook, prepend)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """``hook(module, grad_output)`` runs before the module's backward; a returned tuple
        replaces grad_output."""
        return self._add_hook(self._backward_pre_hooks, hook, prepend)

    # ------------------------------------------------------------------
    # Registration
    # ------------------------------------------------------------------
    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent one such as ``bias=False``)."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name(self, name, "parameter", self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} object to parameter {name!r} "
                            "(tinynet.nn.Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register a buffer: a Tensor without gradient that belongs to the module's state.

        ``tensor`` may be a Tensor, a NumPy/CuPy array (wrapped in a Tensor) or None.
        Persistent buffers are saved in ``state_dict()``; non-persistent ones
        only move with ``to()``.
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name(self, name, "buffer", self._buffers)
        if name in self._parameters or name in self._modules:
            raise KeyError(f"attribute {name!r} already exists")
        self._buffers[name] = self._as_buffer(name, tensor)
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    @staticmethod
    def _as_buffer(name, value):
        if value is None or isinstance(value, Tensor):
            return value
        if _is_array(value):
            return Tensor(value)
        raise TypeError(f"cannot assign {type(value).__name__} object to buffer {name!r} "
                        "(Tensor, array or None required)")

    def add_module(self, name, module):
        """Register ``module`` (or None) as a child named ``name``."""
        if "_modules" not in self.__dict__:
            raise AttributeError("cannot assign module before Module.__init__() call")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        _check_name(self, name, "module", self._modules)
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        buffers = self.__dict__.get("_buffers")
        modules = self.__dict__.get("_modules")
        if isinstance(value, Parameter):
            self._forget(name, keep=params)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            self.register_parameter(name, value)  # None is allowed; anything else raises
        elif isinstance(value, Module):
            self._forget(name, keep=modules)
            self.add_module(name, value)
        elif modules is not None and name in modules:
            self.add_module(name, value)  # None, or raises
        elif buffers is not None and name in buffers:
            buffers[name] = self._as_buffer(name, value)
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name, keep):
        """Remove ``name`` from every store but ``keep`` (re-assigning a name keeps its slot)."""
        for store in (self.__dict__, self.__dict__.get("_parameters"),
                      self.__dict__.get("_buffers"), self.__dict__.get("_modules")):
            if store is not None and store is not keep:
                store.pop(name, None)
        self.__dict__.get("_non_persistent_buffers", set()).discard(name)

    def __getattr__(self, name):
        # Only called when normal lookup fails, i.e. for registered names.
        # self.__dict__ (not self._parameters) so that a half-built module
        # (e.g. during unpickling) raises AttributeError instead of recursing.
        for store in ("_parameters", "_buffers", "_modules"):
            values = self.__dict__.get(store)
            if values is not None and name in values:
                return values[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    # ------------------------------------------------------------------
    # Traversal (every generator yields in registration order)
    # ------------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """Yield ``(name, module)`` for this module and every descendant, depth first.

        This module is named ``prefix`` (``""`` by default); a module reachable
        twice is yielded once unless ``remove_duplicate=False``.
        """
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub_prefix = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub_prefix, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        """Yield ``(name, module)`` for the direct children (each module once)."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, store, prefix, recurse, remove_duplicate):
        # A tensor shared by two modules (tied weights) is yielded once, under
        # the first name that reaches it, so an optimizer updates it once.
        seen = set()
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for module_prefix, module in modules:
            for name, value in getattr(module, store).items():
                if value is None or id(value) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """Yield ``(dotted_name, Parameter)``, e.g. ``("layer1.0.conv1.weight", p)``."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        """Yield ``(dotted_name, Tensor)`` for every buffer, persistent or not."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def get_submodule(self, target):
        """The descendant at dotted path ``target`` (``""`` is this module), e.g. ``"layer4.1"``."""
        module = self
        for part in target.split(".") if target else []:
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} "
                                     f"(looking up {target!r})")
            module = child
        return module

    def _member(self, target, store, kind):
        """The parameter or buffer (``store`` names the dict) at dotted path ``target``."""
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        member = getattr(module, store).get(name)
        if member is None:
            raise AttributeError(f"{type(module).__name__} has no {kind} {name!r} "
                                 f"(looking up {target!r})")
        return member

    def get_parameter(self, target):
        """The parameter at dotted path ``target``, e.g. ``"layer4.1.conv1.weight"``."""
        return self._member(target, "_parameters", "parameter")

    def get_buffer(self, target):
        """The buffer at dotted path ``target``, e.g. ``"bn1.running_mean"``."""
        return self._member(target, "_buffers", "buffer")

    def set_submodule(self, target, module):
        """Replace (or add) the submodule at dotted path ``target`` with ``module``; the
        parent of the path must exist."""
        if not target:
            raise ValueError("set_submodule: cannot set the submodule without a target name")
        parent_path, _, name = target.rpartition(".")
        self.get_submodule(parent_path).add_module(name, module)

    def share_memory(self):
        """Return self (tinynet's DataLoader workers are threads: memory is already shared)."""
        return self

    def compile(self, *args, **kwargs):
        """Nothing to do: tinynet has no compiler; the module runs as it is (returns None,
        as PyTorch's ``Module.compile``, which compiles in place)."""
        return None

    def to_empty(self, *, device=None, recurse=True):
        """Move the parameters and buffers to ``device`` (their values are kept: PyTorch
        leaves them uninitialized).  Returns self."""
        return self.to(device) if device is not None else self

    def apply(self, fn):
        """Call ``fn(module)`` on every child (recursively), then on self; return self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def num_parameters(self, only_trainable=False):
        """Total number of scalar parameters (shared ones counted once)."""
        return sum(p.numel() for p in self.parameters()
                   if p.requires_grad or not only_trainable)

    # ------------------------------------------------------------------
    # Modes, gradients, devices
    # ------------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (``mode=True``) or evaluation mode on self and all descendants.

        It matters for layers that behave differently (BatchNorm: batch vs
        running statistics; Dropout: drop vs identity).  Returns self.
        """
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be a bool, got {mode!r}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self):
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` on every parameter (``False`` freezes the module)."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all parameters: to None (default), or to zeros
        (as ``Optimizer.zero_grad``, whose helper it shares)."""
        from ..optim.optimizer import zero_gradients   # (tinynet.optim imports tinynet.nn)
        zero_gradients(self.parameters(), set_to_none)

    def _tensors(self):
        """Every parameter and buffer (persistent or not) of the tree, each once."""
        yield from self.parameters()
        yield from self.buffers()

    def to(self, device=None, dtype=None):
        """Move every parameter and buffer to ``device`` and/or cast floating ones to ``dtype``.

        In place, like PyTorch: the Parameter objects stay the same (only their
        ``.data`` and ``.grad`` change), so an optimizer created before
        ``model.to("gpu")`` keeps working.  ``module.to(np.float64)`` casts.
        Returns self.
        """
        if device is not None and not isinstance(device, str):
            device, dtype = None, device  # module.to(np.float64)
        _device.move_tensors(list(self._tensors()), device, dtype)
        return self

    def cpu(self):
        return self.to("cpu")

    def gpu(self):
        return self.to("gpu")

    cuda = gpu

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    def half(self):
        return self.to(dtype=np.float16)

    # ------------------------------------------------------------------
    # Saving and loading (see state_dict.py)
    # ------------------------------------------------------------------
    def state_dict(self, *, destination=None, prefix="", keep_vars=False):
        """An ordered dict ``name -> array`` of all parameters and persistent buffers."""
        return _state.module_state_dict(self, destination, prefix, keep_vars)

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from ``state_dict`` into this module's parameters and buffers.

        Returns ``(missing_keys, unexpected_keys)``; see ``state_dict.load_module_state_dict``.
        """
        return _state.load_module_state_dict(self, state_dict, strict)

    def _upgrade_state_dict(self, state_dict, prefix):
        """Hook for layers to fill in keys that older checkpoints lack (see BatchNorm)."""

    # ------------------------------------------------------------------
    # Representation
    # ------------------------------------------------------------------
    def extra_repr(self):
        """The layer's settings shown inside ``repr()``, e.g. ``"3, 64, kernel_size=(7, 7)"``."""
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _indent(repr(module), 2)
                       for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"


def _indent(text, spaces):
    """Indent every line of ``text`` but the first (nested reprs)."""
    first, *rest = text.split("\n")
    return "\n".join([first] + [" " * spaces + line for line in rest])
