"""Forward hooks: functions a Module calls around its ``forward``.

``module.register_forward_hook(fn)`` makes every call ``module(x)`` run
``fn(module, args, output)`` after ``forward`` (to capture an activation, for
Grad-CAM or debugging); ``register_forward_pre_hook(fn)`` runs ``fn(module, args)``
before it.  Both return a ``RemovableHandle``.
"""

__all__ = ["RemovableHandle"]


class RemovableHandle:
    """Returned by ``register_forward_hook``: ``handle.remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
