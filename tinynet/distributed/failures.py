"""When one rank fails, end every rank, quickly and with a message that names it.

An MPI job is stuck as long as one rank waits in a collective that another
rank will never join.  What MPICH's hydra ``mpiexec`` does by itself, measured
with ``mpiexec -n 2`` while rank 0 waits in an all-reduce:

* a rank killed by a signal (SIGKILL, a segfault, the OOM killer): hydra kills
  the others within a second and prints "BAD TERMINATION OF ONE OF YOUR
  APPLICATION PROCESSES ... Killed (signal 9)"; the exit code is the signal's;
* a rank that ends without ``MPI_Finalize`` (``os._exit(1)``): hydra kills the
  others within a second, silently, with that rank's exit code (``os._exit(0)``
  gives exit code 0 although the other ranks did not finish);
* a rank that raises an exception Python does not catch, or calls
  ``sys.exit(3)``: Python runs ``MPI_Finalize`` at exit, which in MPICH waits
  for every rank, while the others wait for this one in their all-reduce.
  **The job hangs forever.**  (A rank that ends normally also waits in
  ``MPI_Finalize`` until every rank gets there.)

So tinynet adds these, set up by ``init_process_group`` when there
is more than one rank:

* ``install_excepthook``: an uncaught exception (Ctrl-C's KeyboardInterrupt
  too) prints the rank and the traceback, then calls
  ``MPI.COMM_WORLD.Abort``, which makes hydra end every rank (exit code 1,
  130 for Ctrl-C).  It is chained to the hook that was there before;
* exit notices (``mpi_backend.py``): a rank that leaves the group (its
  script ends, ``sys.exit``, ``destroy_process_group``) tells the others how
  many collectives it ran; a rank that waits in, or starts, a collective the
  leaver never ran aborts the job with a message instead of waiting forever.

and, because hydra's own clean-up failed about once in 100 jobs (a rank's
``os._exit`` reaped and forgotten, the others left waiting), a third:

* the peer watch (``peer_watch.py``): each rank watches the processes of the
  other ranks on its machine and ends the job when one has vanished while
  this rank waits in a collective.

``abort`` is the one way out: print, flush, ``MPI_Abort``.

Measured with both (``tests/distributed_workers/failures.py``, 2 ranks on a
2-core machine, 2026-12-04), from start to the end of the whole job: a raise
0.7 s (exit code 1), ``sys.exit(3)`` 0.8 s (1), ``os._exit(1)`` 0.5 s (1),
SIGKILL 0.5 s (9), mismatched tensors 0.8 s (1), a 1 s timeout 1.8 s (1),
Ctrl-C 0.3 s after the SIGINT (130); with hydra's clean-up turned off
(``mpiexec -disable-auto-cleanup``), ``os._exit(1)`` ended by the peer watch
in 3.0 s (its 2 s grace included; 2026-12-05, a training beside it).
"""
import os
import socket
import sys
import time

__all__ = ["abort", "name_this_rank", "install_excepthook", "uninstall_excepthook"]

#: Seconds between printing the reason and MPI_Abort (see ``abort``).
ABORT_PAUSE = 0.25

_previous_hook = None   # sys.excepthook as it was before install_excepthook
_where = "rank ?"       # "rank 1 of 2 (pid 123 on host)" for the messages


def _prefix():
    return f"tinynet.distributed: {_where}"


def abort(message, exitcode=1):
    """Print ``message`` with this rank's name, then end every rank of the job (``MPI_Abort``)."""
    sys.stdout.flush()
    sys.stderr.write(f"{_prefix()}: {message}\n")
    sys.stderr.flush()
    # mpiexec forwards the ranks' output through its proxies; MPI_Abort tears the job
    # down at once and can drop what is still on the way (seen with hydra: the whole
    # message lost).  A moment's pause lets it through.
    time.sleep(ABORT_PAUSE)
    from mpi4py import MPI  # MPI is running: only an initialized group calls this
    MPI.COMM_WORLD.Abort(exitcode)


def _abort_on_exception(exc_type, exc, traceback):
    """sys.excepthook: the traceback (through the previous hook), then abort every rank."""
    interrupted = issubclass(exc_type, KeyboardInterrupt)
    try:
        sys.stderr.write(f"{_prefix()}: uncaught {exc_type.__name__} on this rank:\n")
        (_previous_hook or sys.__excepthook__)(exc_type, exc, traceback)
    finally:
        abort("aborting every rank of the job (MPI_Abort), so that none waits forever for "
              "this one", exitcode=130 if interrupted else 1)


def name_this_rank(rank, world_size):
    """Set how this process is named in the messages: rank, world size, pid, host."""
    global _where
    _where = f"rank {rank} of {world_size} (pid {os.getpid()} on {socket.gethostname()})"


def install_excepthook():
    """Make an uncaught exception on this rank end every rank (chained to the current hook)."""
    global _previous_hook
    if sys.excepthook is not _abort_on_exception:
        _previous_hook = sys.excepthook
        sys.excepthook = _abort_on_exception


def uninstall_excepthook():
    """Put back the hook that ``install_excepthook`` replaced (``destroy_process_group``)."""
    global _previous_hook
    if sys.excepthook is _abort_on_exception:
        sys.excepthook = _previous_hook or sys.__excepthook__
    _previous_hook = None
