"""Grad modes: whether calling a Function records it in the graph.

The engine reads one flag, ``is_grad_enabled()``, when a Function is called
(``engine.Function.__call__``): with it off, nothing is recorded and forward
saves nothing for backward.  Everything else here is the PyTorch-style ways
of switching it: ``no_grad``, ``enable_grad``, ``inference_mode`` and
``set_grad_enabled``, each a context manager that is also a decorator.
"""
import builtins
import functools
import threading

__all__ = ["is_grad_enabled", "no_grad", "enable_grad", "inference_mode", "set_grad_enabled"]


class _GradMode(threading.local):
    """The flag, one per thread as in PyTorch: a DataLoader worker thread that runs
    ``no_grad()`` must not switch off recording for the training step in the main thread.
    Every thread starts with recording on."""
    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled():
    """Whether Function calls are recorded now: True unless turned off by ``no_grad()``,
    ``inference_mode()`` or ``set_grad_enabled(False)``."""
    return _grad_mode.enabled


class _GradModeContext:
    """Base of the grad-mode switches: a context manager that is also a decorator.

    ``with tn.no_grad(): ...``, ``@tn.no_grad()`` and ``@tn.no_grad`` all work,
    as in PyTorch.  Subclasses set ``_mode`` (the grad mode inside the block).
    """
    _mode = True

    def __new__(cls, *args):
        # ``@tn.no_grad`` without parentheses passes the decorated function here.
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]):
            return cls()(args[0])
        return super().__new__(cls)

    def __enter__(self):
        self._previous = _grad_mode.enabled
        _grad_mode.enabled = self._mode

    def __exit__(self, *exc_info):
        _grad_mode.enabled = self._previous
        return False

    def _clone(self):
        return type(self)()

    def __call__(self, function):
        @functools.wraps(function)
        def with_grad_mode(*args, **kwargs):
            with self._clone():
                return function(*args, **kwargs)
        return with_grad_mode


class no_grad(_GradModeContext):
    """Record no graph inside the block (inference, parameter updates).

    >>> with tn.no_grad():
    ...     y = model(x)          # y.requires_grad is False, nothing is saved
    """
    _mode = False


class enable_grad(_GradModeContext):
    """Record the graph again, even inside ``no_grad()``."""
    _mode = True


class inference_mode(_GradModeContext):
    """``inference_mode(True)`` is ``no_grad()``; ``inference_mode(False)`` changes nothing."""

    def __init__(self, mode=True):
        self.mode = builtins.bool(mode)

    def __enter__(self):
        self._previous = _grad_mode.enabled
        if self.mode:
            _grad_mode.enabled = False

    def _clone(self):
        return type(self)(self.mode)


class set_grad_enabled(_GradModeContext):
    """Turn graph recording on or off: now (``tn.set_grad_enabled(False)``), or for a block.

    As in PyTorch the mode changes when the object is created, and a ``with``
    block restores the previous mode at its end; as a decorator it changes the mode
    only while the decorated function runs.
    """

    def __init__(self, mode):
        self._mode = builtins.bool(mode)
        self._previous = _grad_mode.enabled
        _grad_mode.enabled = self._mode

    def __enter__(self):
        pass

    def __call__(self, function):
        # As a decorator (``@tn.set_grad_enabled(False)``) it switches the mode for each
        # call only: undo the switch its creation made, as PyTorch does.
        _grad_mode.enabled = self._previous
        return super().__call__(function)

    def _clone(self):
        return type(self)(self._mode)
