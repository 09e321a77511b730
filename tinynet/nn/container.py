"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict``; ``ParameterList``, ``ParameterDict``.

Children are registered under string names in order: "0", "1", ... for
Sequential and ModuleList (so parameter names read "features.0.weight", as in
PyTorch), the given keys for ModuleDict and for ``Sequential(OrderedDict(...))``.
ParameterList and ParameterDict do the same for parameters ("scales.0", ...): a
plain list of Parameters in a Module would be invisible to ``parameters()``, and
so to the optimizer.
"""
import numbers
from collections import OrderedDict
from collections.abc import Mapping

from .module import Module, _indent
from .parameter import Parameter

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]


def _absolute_index(index, length, kind):
    """``index`` (an int, possibly negative) as a position in 0..length-1, or IndexError."""
    if not isinstance(index, numbers.Integral):
        raise TypeError(f"{kind} indices must be integers or slices, not {type(index).__name__}")
    index = int(index)
    if not -length <= index < length:
        raise IndexError(f"index {index} is out of range for {kind} of length {length}")
    return index % length


def _renumber(container, modules):
    """Register ``modules`` as the children of ``container``, named "0", "1", ... again.

    After a deletion or an insertion, names and indices must agree (PyTorch does
    the same), so that ``seq[1]`` is the child named "1".
    """
    container._modules = dict(zip(map(str, range(len(modules))), modules))


class Sequential(Module):
    """Chain modules: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    ``Sequential(OrderedDict([("conv", ...), ("relu", ...)]))`` names the
    children.  Supports ``len``, iteration, indexing (an int gives the module,
    a slice a new Sequential), ``append``, ``extend``, ``insert`` and ``del``.
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], Mapping):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(args):
                self.add_module(str(index), module)

    def _key(self, index):
        return list(self._modules)[_absolute_index(index, len(self), "Sequential")]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(OrderedDict(list(self._modules.items())[index]))
        return self._modules[self._key(index)]

    def __setitem__(self, index, module):
        setattr(self, self._key(index), module)

    def __delitem__(self, index):
        keys = list(self._modules)[index] if isinstance(index, slice) else [self._key(index)]
        for key in keys:
            del self._modules[key]
        _renumber(self, list(self._modules.values()))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        if not isinstance(module, Module):
            raise TypeError(f"module should be of type Module, got {type(module).__name__}")
        length = len(self)
        if not -length <= index <= length:
            raise IndexError(f"index {index} is out of range for Sequential of length {length}")
        index = index + length if index < 0 else index
        modules = list(self._modules.values())
        modules.insert(index, module)
        _renumber(self, modules)
        return self

    def forward(self, input):
        for module in self:
            input = module(input)
        return input


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain list would hide them).

    Supports ``len``, iteration, indexing (an int gives the module, a slice a
    new ModuleList), assignment, ``del``, ``append``, ``extend``, ``insert``,
    ``pop`` and ``+=``.  It has no ``forward``: the owner decides how to call them.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(list(self._modules.values())[index])
        return self._modules[str(_absolute_index(index, len(self), "ModuleList"))]

    def __setitem__(self, index, module):
        setattr(self, str(_absolute_index(index, len(self), "ModuleList")), module)

    def __delitem__(self, index):
        if isinstance(index, slice):
            keys = list(self._modules)[index]
        else:
            keys = [str(_absolute_index(index, len(self), "ModuleList"))]
        for key in keys:
            del self._modules[key]
        _renumber(self, list(self._modules.values()))

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return type(self)(list(self) + list(other))

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        if isinstance(modules, Module) and not isinstance(modules, (ModuleList, Sequential)):
            raise TypeError("ModuleList.extend should be called with an iterable of modules, "
                            f"but got {type(modules).__name__}")
        for module in list(modules):
            self.append(module)
        return self

    def insert(self, index, module):
        if not isinstance(module, Module):
            raise TypeError(f"module should be of type Module, got {type(module).__name__}")
        modules = list(self._modules.values())
        modules.insert(index, module)
        _renumber(self, modules)

    def pop(self, index=-1):
        module = self[index]
        del self[index]
        return module

    def __repr__(self):
        # Like PyTorch, runs of identical modules are shown once: "(1-3): 3 x Block(...)".
        reprs = [repr(module) for module in self]
        if not reprs:
            return self._get_name() + "()"
        runs = []  # [first index, last index, repr]
        for i, text in enumerate(reprs):
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        lines = []
        for first, last, text in runs:
            label = f"({first}): {text}" if first == last else \
                f"({first}-{last}): {last - first + 1} x {text}"
            lines.append(_indent(label, 2))
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of modules (insertion order) whose parameters are registered."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def pop(self, key):
        module = self._modules[key]
        del self._modules[key]
        return module

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self[key] = module


def _as_parameter(value):
    """A Parameter as it is; a Tensor or array wrapped in one (as PyTorch does)."""
    return value if value is None or isinstance(value, Parameter) else Parameter(value)


def _parameter_line(name, param):
    kind = "None" if param is None else \
        f"Parameter containing: [{param.dtype} of size {'x'.join(map(str, param.shape))}]"
    return f"  ({name}): {kind}"


class ParameterList(Module):
    """A list of Parameters registered as "0", "1", ...: indexing, assignment, ``len``,
    iteration, ``append``, ``extend`` and ``+=``, like ModuleList."""

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(list(self._parameters.values())[index])
        return self._parameters[str(_absolute_index(index, len(self), "ParameterList"))]

    def __setitem__(self, index, value):
        name = str(_absolute_index(index, len(self), "ParameterList"))
        self.register_parameter(name, _as_parameter(value))

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def __iadd__(self, values):
        return self.extend(values)

    def append(self, value):
        self.register_parameter(str(len(self)), _as_parameter(value))
        return self

    def extend(self, values):
        for value in list(values):
            self.append(value)
        return self

    def __repr__(self):
        lines = [_parameter_line(name, p) for name, p in self._parameters.items()]
        return "ParameterList(" + ("\n" + "\n".join(lines) + "\n" if lines else "") + ")"


class ParameterDict(Module):
    """A dict of Parameters registered under their keys (insertion order)."""

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key):
        return self._parameters[key]

    def __setitem__(self, key, value):
        self.register_parameter(key, _as_parameter(value))

    def __delitem__(self, key):
        del self._parameters[key]

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters)

    def __contains__(self, key):
        return key in self._parameters

    def keys(self):
        return self._parameters.keys()

    def items(self):
        return self._parameters.items()

    def values(self):
        return self._parameters.values()

    def get(self, key, default=None):
        return self._parameters.get(key, default)

    def pop(self, key):
        value = self._parameters[key]
        del self._parameters[key]
        return value

    def update(self, parameters):
        pairs = parameters.items() if isinstance(parameters, Mapping) else parameters
        for key, value in pairs:
            self[key] = value

    def __repr__(self):
        lines = [_parameter_line(name, p) for name, p in self._parameters.items()]
        return "ParameterDict(" + ("\n" + "\n".join(lines) + "\n" if lines else "") + ")"

