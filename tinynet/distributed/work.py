"""``Work``: a collective started with ``async_op=True``, finished by ``wait()``.

As ``torch.distributed.Work``: ``dist.all_reduce(t, async_op=True)`` returns at
once, with the reduction under way; ``work.wait()`` blocks until it is done and
the result is in ``t``; ``work.is_completed()`` asks without blocking.

What happens when the data arrives (dividing for ``ReduceOp.AVG``, copying back
into a non-contiguous or GPU tensor, filling ``all_gather``'s list) is the
``finish`` callback, run once, by whichever of ``wait``/``is_completed`` sees
the end first.  Until then the tensor's values are undefined, as in PyTorch.
"""
import datetime

__all__ = ["Work", "as_seconds"]


def as_seconds(timeout, where="timeout"):
    """A timeout as seconds: None, a ``datetime.timedelta`` (PyTorch's type) or a number."""
    if timeout is None:
        return None
    if isinstance(timeout, datetime.timedelta):
        seconds = timeout.total_seconds()
    elif isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        seconds = float(timeout)
    else:
        raise TypeError(f"{where} must be a datetime.timedelta (or seconds), got {timeout!r}")
    if seconds <= 0:
        raise ValueError(f"{where} must be positive, got {timeout!r}")
    return seconds


class Work:
    """A started collective (``torch.distributed.Work``): ``wait()``, ``is_completed()``."""

    def __init__(self, backend, pending, finish=None):
        self._backend, self._pending, self._finish = backend, pending, finish
        self._done = False
        pending.work = self     # destroy_process_group finishes the Works never waited for

    def wait(self, timeout=None):
        """Block until the collective has finished and its result is in place; return True.

        ``timeout`` (a ``timedelta`` or seconds) overrides the group's; past it the job
        is aborted, as a half-finished collective cannot be called off.
        """
        if not self._done:
            self._backend.wait(self._pending, as_seconds(timeout))
            self._complete()
        return True

    def is_completed(self):
        """True once the collective has finished (never blocks; lets MPI make progress)."""
        if not self._done and self._backend.test(self._pending):
            self._complete()
        return self._done

    def _complete(self):
        self._done = True
        if self._finish is not None:
            self._finish()

    def __repr__(self):
        state = "completed" if self._done else "in progress"
        return f"<Work {self._pending.kind} #{self._pending.seq} on {self._backend.name}: {state}>"
