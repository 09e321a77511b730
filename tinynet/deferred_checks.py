"""Checks of values that live on the GPU, raised at the next read from the device.

An op that must refuse bad values (a class index out of range, a probability
outside [0, 1]) has to look at them.  On the CPU that is free: the values are
in host memory, and the error is raised at once, naming the bad value.  On the
GPU, looking means copying a result back to the host, which waits for every
kernel queued before it: one such wait in each loss of each step would stall
the device every step.  So on the GPU ``check`` keeps the failure flag, a 0-d
boolean array, on the device, and the error is raised by ``raise_pending`` the
next time the program reads something from the device anyway (``Tensor.item()``,
``.tolist()``, ``.numpy()``, ``float()``, ``print``): a training loop that reads
its loss every N steps learns of a bad target within N steps, with one message
that says which check failed.  PyTorch's CUDA kernels do the same with
device-side asserts, which surface at the next synchronization.

Flags of the same check (same message) are OR-ed together as they come, so
the pending list stays as short as the number of different checks.
"""
import threading

import numpy as np

from . import backend

_pending = {}            # (error type, message) -> 0-d device bool: did it fail yet?
_lock = threading.Lock()


def check(failed, error, message):
    """Raise ``error(message)`` if the 0-d boolean array ``failed`` is True.

    On the CPU now; on the GPU at the next ``raise_pending``.  ``failed``
    is e.g. ``(target >= n_classes).any()``: compute it with xp, never with
    Python's ``bool`` (that would be the wait this module avoids).
    """
    xp = backend.get_array_module(failed)
    if xp is np:
        if bool(failed):
            raise error(message)
        return
    key = (error, message)
    with _lock:
        before = _pending.get(key)
        _pending[key] = failed if before is None else xp.logical_or(before, failed)


def raise_pending():
    """Raise the first failed check kept on the device since the last call (if any).

    Reads all pending flags in one transfer; called by the Tensor methods that
    copy to the host, before they copy.
    """
    if not _pending:
        return
    with _lock:
        checks = list(_pending.items())
        _pending.clear()
    flags = checks[0][1]
    xp = backend.get_array_module(flags)
    failed = backend.to_numpy(xp.stack([flag for _, flag in checks]))
    for ((error, message), _), flag in zip(checks, failed):
        if flag:
            raise error(f"{message} (found on the GPU; raised at the first read from the "
                        "device after it)")


def discard_pending():
    """Forget the pending checks unread (tests start each from none)."""
    with _lock:
        _pending.clear()


def pending_count():
    """How many different checks wait on the device (for tests)."""
    return len(_pending)
