"""A rank that vanishes without a word: notice it from the same machine and end the job.

``failures.py`` leaves two kinds of death to MPICH's hydra ``mpiexec``: a rank
killed by a signal and a rank that ends without ``MPI_Finalize``
(``os._exit``).  Its proxy notices the process end and kills the others within
a second, almost always.  Not always: with MPICH 5.0.2 (2 ranks, rank 1
calling ``os._exit(1)`` right after an all-reduce while rank 0 waits in the
next), about 1 job in 100 (1 in 30 to 160 here; once in CI) the proxy reaped
the dead rank and did nothing more, and rank 0 waited in its all-reduce until
``MPIEXEC_TIMEOUT``, that is forever where none is set.

So every rank also watches the other ranks of its own machine, by process id:
a background thread looks every ``INTERVAL`` seconds whether each of them still
exists (on Linux ``/proc/<pid>/stat``, whose start time also tells a reused
process id apart; elsewhere ``os.kill(pid, 0)``).  It acts only while this
rank waits in a collective (``waiting``, set by ``mpi_backend.py``): a rank
that is gone and stays gone for ``GRACE`` seconds while this rank is still in
the same wait can never join it, and ``failures.abort`` ends every rank with a
message that names it.  (A rank that leaves the group on purpose tells the
others first, by an exit notice, and with MPICH it stays alive in
``MPI_Finalize`` until every rank gets there; the grace covers an MPI whose
finalize does not wait.)

What is not watched: ranks on other machines (there hydra's proxies and
``init_process_group(timeout=)`` are what is left), a rank that dies while the
others are already in ``MPI_Finalize`` (the watch stops when this rank leaves
the group: a rank that vanished after finalizing must not be taken for dead),
NCCL's waits, Windows (no cheap way to ask whether a pid lives), and an MPI
started without ``MPI_THREAD_MULTIPLE`` (the watch calls ``MPI_Abort`` from its
own thread; mpi4py asks for MULTIPLE by default).
"""
import os
import socket
import threading
import time

from . import failures

__all__ = ["PeerWatch", "process_token", "INTERVAL", "GRACE"]

#: Seconds between two looks at the other ranks' processes.
INTERVAL = 0.25
#: Seconds a rank must stay gone, while this one waits in the same collective, before the abort
#: (generous: waiting forever is the alternative, and a busy machine must not abort a good job).
GRACE = 2.0


def process_token(pid):
    """Something that names process ``pid`` for as long as it lives, or None when it is gone.

    On Linux its start time (field 22 of ``/proc/<pid>/stat``, clock ticks since
    boot), so that another process given the same id later does not pass for
    it; a zombie (state Z or X: ended, not yet reaped) counts as gone.  Where
    there is no ``/proc``: True while ``os.kill(pid, 0)`` finds it.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read().decode("ascii", "replace")
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return None                      # /proc works: the process is gone
        return _signal_token(pid)
    except OSError:
        return _signal_token(pid)
    # "pid (name) state ... ": the name may hold spaces and parentheses, so split after
    # its last ")"; the state is field 3, the start time field 22.
    fields = text[text.rfind(")") + 2:].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return fields[19]


def _signal_token(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass                                 # it exists, owned by someone else
    return True


def _machine():
    """This machine and PID namespace: the host name and, on Linux, the namespace's inode
    (two containers may share a host name, never a namespace)."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = None
    return socket.gethostname(), namespace


class PeerWatch:
    """Watch the other ranks on this machine; end the job when one vanishes during a wait.

    ``comm``: the group's communicator (an all-gather of each rank's host, PID
    namespace, pid and start time, once, here).  A rank is watched only if it
    shares this machine and namespace and this process sees it under that pid
    with that start time; with ``enabled=False`` (no ``MPI_THREAD_MULTIPLE``)
    this rank takes part in the all-gather but watches no one.
    """

    def __init__(self, comm, rank, interval=INTERVAL, grace=GRACE, enabled=True):
        pid = os.getpid()
        enabled = enabled and os.name != "nt"
        me = (_machine(), pid, process_token(pid) if enabled else None)
        everyone = comm.allgather(me)     # every rank takes part, watching or not
        self.peers = {other: pid for other, (machine, pid, token) in enumerate(everyone)
                      if enabled and other != rank and machine == me[0] and token is not None
                      and pid != me[1] and process_token(pid) == token}
        self._tokens = {other: everyone[other][2] for other in self.peers}
        self.interval, self.grace = interval, grace
        self.waiting = None         # the Pending collective this rank waits in, or None
        self._stop = threading.Event()
        self._thread = None
        if self.peers:
            self._thread = threading.Thread(target=self._watch, name="tinynet-peer-watch",
                                            daemon=True)
            self._thread.start()

    def stop(self):
        """Stop watching (this rank leaves the group)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None

    def vanished(self):
        """The watched ranks whose process is gone (sorted)."""
        return [rank for rank, pid in sorted(self.peers.items())
                if process_token(pid) != self._tokens[rank]]

    def _watch(self):
        suspect = None              # (rank, the Pending waited in, time it was first seen gone)
        while not self._stop.wait(self.interval):
            waiting = self.waiting
            gone = self.vanished() if waiting is not None else []
            if not gone:
                suspect = None
                continue
            if suspect is None or suspect[0] != gone[0] or suspect[1] is not waiting:
                suspect = (gone[0], waiting, time.monotonic())
            elif time.monotonic() - suspect[2] >= self.grace and self.waiting is waiting:
                self._abort(suspect[0], waiting)

    def _abort(self, rank, pending):
        failures.abort(
            f"rank {rank} (pid {self.peers[rank]} on this machine) has ended without leaving "
            f"the process group (killed, crashed, or os._exit) while this rank waits in "
            f"collective #{pending.seq} ({pending.kind}), which it can never finish. Ending "
            "every rank instead of waiting forever.")
