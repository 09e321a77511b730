"""The MPI backend: each collective is one of MPI's nonblocking collectives, through mpi4py.

The backend works on contiguous NumPy arrays (``collectives.py`` turns Tensors,
non-contiguous and GPU arrays into them and back).  Every collective starts an
MPI request (``Iallreduce``, ``Ibcast``, ``Iallgather``, ``Ireduce``,
``Igather``, ``Iscatter``, ``Ibarrier``) and returns a ``Pending`` record;
``wait(pending)`` finishes it.  A blocking ``all_reduce`` is a start followed
by a wait, an asynchronous one (``async_op=True``) hands the wait to its caller
through a ``Work``, so DistributedDataParallel can start one bucket's
all-reduce and go on with backward.  The array is reduced in place
(``MPI_IN_PLACE``): a flat gradient bucket is never copied.

Two checks ride along with every collective, each a few bytes:

* a signature (which collective, how many elements, the dtype, the op, the
  root), combined across ranks by its own tiny ``Iallreduce``: ranks that pass
  tensors of different sizes or dtypes, or call different collectives, get
  one ``RuntimeError`` naming the difference, instead of MPI's garbage or a hang.
  The signature is waited for before the data, so the check is made even when
  the mismatched data transfer itself would never finish;
* exit notices: a rank that leaves the group (``destroy_process_group``, or
  the end of its script, ``sys.exit`` included) sends every other rank the
  number of collectives it started.  Every wait also listens for these, so a
  rank waiting in (or starting) a collective that the leaver never started
  aborts the job with a message, instead of waiting forever while the leaver
  waits in ``MPI_Finalize`` (which in MPICH waits for every rank).

While a rank waits, its peer watch (``peer_watch.py``) looks for ranks of the
same machine whose process has vanished without a word (killed, ``os._exit``)
and ends the job, should hydra fail to.

Waiting blocks in ``MPI_Waitany``; with a timeout (``init_process_group(...,
timeout=)``, ``Work.wait(timeout)``) it polls ``MPI_Testany`` instead, and on
expiry aborts the job: a half-finished MPI collective cannot be called off.

MPI makes progress on a nonblocking collective only while the process is in
an MPI call: a started all-reduce advances during later starts, during
``Work.is_completed()`` (``MPI_Test``) and at ``wait()``.
"""
import time

import numpy as np

from . import failures
from .peer_watch import PeerWatch
from .reduce_op import ReduceOp

__all__ = ["MPIBackend", "Pending", "KINDS"]

#: The collectives, numbered in the signature.
KINDS = ("barrier", "all_reduce", "broadcast", "all_gather", "reduce", "gather", "scatter")
_NOTICE_TAG = 7
_OPS = list(ReduceOp)
_DTYPE_NAMES = {np.dtype(code).num: np.dtype(code).name for code in "?bBhHiIlLqQefdg"}


class Pending:
    """A started collective: its number on this rank, its MPI requests and the arrays they use.

    ``requests[0]`` is the signature's when there is one; the arrays are kept
    here so that they live until MPI has finished with them.
    """

    __slots__ = ("kind", "seq", "signature", "requests", "arrays", "work")

    def __init__(self, kind, seq, signature):
        self.kind, self.seq, self.signature = kind, seq, signature
        self.requests, self.arrays = [], []
        self.work = None    # the Work that finishes it, if one was made


class MPIBackend:
    """Collectives on contiguous NumPy arrays over one MPI communicator (its own duplicate)."""

    name = "mpi"

    def __init__(self, MPI, comm, timeout=None):
        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.timeout = timeout      # seconds, or None to wait as long as it takes
        self.started = 0            # the number of collectives this rank has started
        self.departed = {}          # rank -> the collectives it had started when it left
        self.unfinished = []        # Pending not yet waited for (their arrays stay alive)
        self.broken = None          # why the group can no longer be used
        self.left = False
        # Exit notices travel on a communicator of their own, received from any rank.
        self.notices = comm.Dup() if self.size > 1 else None
        self._notice = np.zeros(2, np.int64)
        self._notice_request = None
        if self.notices is not None:
            self._post_notice_receive()
        # The other ranks of this machine, watched while this one waits (peer_watch.py).
        self.watch = PeerWatch(comm, self.rank, enabled=MPI.Query_thread() ==
                               MPI.THREAD_MULTIPLE) if self.size > 1 else None

    # ---------------------------------------------------------------- starting
    def _start(self, kind, array=None, op=None, root=0):
        """Number a new collective, refuse it if it can never finish, send its signature."""
        if self.left:
            raise RuntimeError(f"{kind}: the process group was destroyed")
        if self.broken:
            raise RuntimeError(f"{kind}: the process group cannot be used after an earlier "
                               f"error ({self.broken})")
        self.started += 1
        pending = Pending(kind, self.started, None)
        self._check_departed(pending)
        if self.size > 1:
            signature = np.array([KINDS.index(kind),
                                  -1 if array is None else array.size,
                                  -1 if array is None else array.dtype.num,
                                  -1 if op is None else _OPS.index(op), root], np.int64)
            pending.signature = np.concatenate([signature, -signature])  # max, and -min
            self._add(pending, self.comm.Iallreduce(self.MPI.IN_PLACE, pending.signature,
                                                    op=self.MPI.MAX), pending.signature)
        self.unfinished.append(pending)
        return pending

    @staticmethod
    def _add(pending, request, *arrays):
        pending.requests.append(request)
        pending.arrays.extend(a for a in arrays if a is not None)
        return pending

    def _mpi_op(self, op, dtype):
        MPI = self.MPI
        if np.dtype(dtype) == np.bool_:   # MPI reduces C bools with logical ops only
            table = {ReduceOp.SUM: MPI.LOR, ReduceOp.MAX: MPI.LOR, ReduceOp.BOR: MPI.LOR,
                     ReduceOp.PRODUCT: MPI.LAND, ReduceOp.MIN: MPI.LAND,
                     ReduceOp.BAND: MPI.LAND, ReduceOp.BXOR: MPI.LXOR}
        else:                             # AVG is a SUM, divided when it is complete
            table = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
                     ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX, ReduceOp.BAND: MPI.BAND,
                     ReduceOp.BOR: MPI.BOR, ReduceOp.BXOR: MPI.BXOR}
        return table[op]

    def all_reduce(self, array, op):
        """Reduce ``array`` in place over all ranks (AVG: the sum; the caller divides)."""
        pending = self._start("all_reduce", array, op)
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=self._mpi_op(op, array.dtype))
        return self._add(pending, request, array)

    def broadcast(self, array, src):
        """Overwrite ``array`` on every rank with rank ``src``'s."""
        pending = self._start("broadcast", array, root=src)
        return self._add(pending, self.comm.Ibcast(array, root=src), array)

    def all_gather(self, send, recv):
        """``recv[r]`` = rank r's ``send``, on every rank (``recv``: ``(size, *send.shape)``)."""
        pending = self._start("all_gather", send)
        return self._add(pending, self.comm.Iallgather(send, recv), send, recv)

    def reduce(self, array, dst, op):
        """Reduce into ``array`` on rank ``dst`` only; the other ranks' arrays are only read."""
        pending = self._start("reduce", array, op, root=dst)
        mpi_op = self._mpi_op(op, array.dtype)
        if self.rank == dst:
            request = self.comm.Ireduce(self.MPI.IN_PLACE, array, op=mpi_op, root=dst)
        else:
            request = self.comm.Ireduce(array, None, op=mpi_op, root=dst)
        return self._add(pending, request, array)

    def gather(self, send, recv, dst):
        """``recv[r]`` = rank r's ``send`` on rank ``dst`` (``recv`` is None elsewhere)."""
        pending = self._start("gather", send, root=dst)
        request = self.comm.Igather(send, recv if self.rank == dst else None, root=dst)
        return self._add(pending, request, send, recv)

    def scatter(self, recv, send, src):
        """Rank r's ``recv`` = ``send[r]`` of rank ``src`` (``send`` is None elsewhere)."""
        pending = self._start("scatter", recv, root=src)
        request = self.comm.Iscatter(send if self.rank == src else None, recv, root=src)
        return self._add(pending, request, recv, send)

    def barrier(self):
        """Wait until every rank has reached this point."""
        pending = self._start("barrier")
        return self._add(pending, self.comm.Ibarrier())

    # ---------------------------------------------------------------- finishing
    def wait(self, pending, timeout=None):
        """Block until ``pending`` has finished (checking its signature first)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.watch is not None:
            self.watch.waiting = pending
        try:
            for index, request in enumerate(pending.requests):
                self._wait_request(request, pending, deadline, timeout)
                if index == 0 and pending.signature is not None:
                    self._check_signature(pending)
        finally:
            if self.watch is not None:
                self.watch.waiting = None
            self._forget(pending)

    def test(self, pending):
        """True if ``pending`` has finished (``MPI_Test``: also lets MPI make progress)."""
        if not self.MPI.Request.Testall(pending.requests):
            return False
        try:
            if pending.signature is not None:
                self._check_signature(pending)
        finally:
            self._forget(pending)
        return True

    def _forget(self, pending):
        if pending in self.unfinished:
            self.unfinished.remove(pending)

    def _wait_request(self, request, pending, deadline, timeout):
        """Wait for one request, reading exit notices while waiting; abort when hopeless."""
        MPI = self.MPI
        while request:                      # a finished request is MPI.REQUEST_NULL (false)
            if self._notice_request is None:
                requests = [request]
            else:
                requests = [request, self._notice_request]
            if deadline is None:
                index = MPI.Request.Waitany(requests)
            else:
                index = self._poll(requests, deadline, timeout, pending)
            if index == 1:
                self._read_notice()
                self._check_departed(pending)

    def _poll(self, requests, deadline, timeout, pending):
        """``Waitany`` with a deadline: test, sleep a little longer each time, abort at the end."""
        pause = 0.0
        while True:
            index, done = self.MPI.Request.Testany(requests)
            if done:
                return index
            if time.monotonic() > deadline:
                failures.abort(f"{pending.kind} (collective #{pending.seq} of this rank) did not "
                               f"finish within {timeout:g} s (the timeout): another rank is "
                               "stuck, much slower, or never calls it. Ending every rank.")
            time.sleep(pause)
            pause = min(2e-3, pause * 2 or 1e-5)

    def _check_signature(self, pending):
        """Raise one clear error if the ranks' signatures for this collective differ."""
        high, low = pending.signature[:5], -pending.signature[5:]
        if (high == low).all():
            return
        kind, numel, dtype, op, root = zip(low.tolist(), high.tolist())
        if kind[0] != kind[1]:
            problem = (f"the ranks called different collectives here ({KINDS[kind[0]]} and "
                       f"{KINDS[kind[1]]})")
        else:
            problems = []
            if numel[0] != numel[1]:
                problems.append(f"tensors of {numel[0]} and {numel[1]} elements")
            if dtype[0] != dtype[1]:
                names = [_DTYPE_NAMES.get(code, str(code)) for code in dtype]
                problems.append(f"dtypes {names[0]} and {names[1]}")
            if op[0] != op[1]:
                problems.append(f"ops {_OPS[op[0]]!r} and {_OPS[op[1]]!r}")
            if root[0] != root[1]:
                problems.append(f"src/dst ranks {root[0]} and {root[1]}")
            problem = "the ranks passed " + ", ".join(problems)
        self.broken = f"{pending.kind} (collective #{pending.seq}): {problem}"
        raise RuntimeError(f"{self.broken}; every rank must run the same collectives in the same "
                           "order, with tensors of the same size and dtype and the same op and "
                           "src/dst (the process group cannot be used after this error)")

    # ---------------------------------------------------------------- exit notices
    def _post_notice_receive(self):
        self._notice_request = self.notices.Irecv(self._notice, source=self.MPI.ANY_SOURCE,
                                                  tag=_NOTICE_TAG)

    def _read_notice(self):
        rank, started = (int(value) for value in self._notice)
        self.departed[rank] = started
        self._post_notice_receive()        # the next rank to leave

    def _check_departed(self, pending):
        """Abort if a rank that has left never started the collective ``pending``."""
        for rank, started in sorted(self.departed.items()):
            if started < pending.seq:
                failures.abort(
                    f"rank {rank} has left the process group (its script ended, it called "
                    f"sys.exit or destroy_process_group) after {started} collective(s), while "
                    f"this rank is in collective #{pending.seq} ({pending.kind}), which rank "
                    f"{rank} never started: the ranks did not run the same collectives. Ending "
                    "every rank instead of waiting forever.")

    def leave(self):
        """Leave the group: tell the others, finish what this rank started, stop listening."""
        if self.left:
            return
        sends = []
        if self.notices is not None:
            notice = np.array([self.rank, self.started], np.int64)
            sends = [self.notices.Isend(notice, dest=rank, tag=_NOTICE_TAG)
                     for rank in range(self.size) if rank != self.rank]
        for pending in list(self.unfinished):       # async work never waited for
            if pending.work is not None:
                pending.work.wait()                 # its result in place, as if waited for
            else:
                self.wait(pending)
        if self.notices is not None:
            self._notice_request.Cancel()
            self._notice_request.Wait()
            self._notice_request = None
            # The notices are a few bytes, sent eagerly: they finish at once, unless a
            # receiver is gone already, in which case there is nothing left to tell.
            for _ in range(1000):
                if self.MPI.Request.Testall(sends):
                    break
                time.sleep(1e-3)
        if self.watch is not None:
            self.watch.stop()
        self.left = True
