"""The NCCL backend: collectives on CuPy arrays, GPU to GPU, through ``cupy.cuda.nccl``.

**NOT TESTED.** This file has never run: the project's machines have no GPU.
It follows CuPy's documented ``NcclCommunicator`` API (``allReduce``,
``broadcast``, ``reduce``, ``allGather`` on device pointers and a stream), and
it must be run on a machine with GPUs before it is trusted: ``mpiexec -n 2
python tests/distributed_workers/collectives.py nccl`` with CuPy installed runs
every collective's checks on GPU tensors too (``-n 1`` on a one-GPU machine:
NCCL refuses two ranks on one GPU).

How it is set up (``init_process_group("nccl")``): one process per GPU, each
using GPU ``device_id`` (default: its rank among the ranks on its machine,
modulo the number of GPUs); rank 0 asks NCCL for a unique id, MPI broadcasts
it, and every rank joins the NCCL communicator with it.  Whether NCCL can be
used is agreed by all ranks first (an MPI all-reduce of "I can"), so that they
either all use it or all fall back together: without NCCL (no CuPy, no GPU,
CuPy built without NCCL) CuPy arrays go through MPI on host copies, with a
warning.

What goes through NCCL: ``all_reduce``, ``broadcast``, ``all_gather``,
``reduce`` of CuPy arrays.  The rest (gather, scatter, barrier, objects) and
every NumPy array go through MPI.  NCCL's calls are queued on the current CUDA
stream, after the kernels that computed the gradients, so nothing waits
before them; ``wait()`` waits for an event recorded after the call.  Bools
travel as uint8 (SUM and MAX as MAX, PRODUCT and MIN as MIN: a logical or/and).
NCCL has no bitwise reductions, and these collectives carry no signature
check (the MPI backend's) for mismatched tensors.
"""
import numpy as np

from .reduce_op import ReduceOp

__all__ = ["NCCLBackend", "nccl_unavailable_reason", "select_device"]

#: The collectives NCCL does here; the others go through MPI.
NCCL_COLLECTIVES = ("all_reduce", "broadcast", "all_gather", "reduce")


def _nccl():
    from cupy.cuda import nccl  # raises ImportError when CuPy was built without NCCL
    return nccl


def nccl_unavailable_reason():
    """None if this process can use NCCL, else why not (for the fallback's warning)."""
    try:
        import cupy
        nccl = _nccl()
    except ImportError as exc:
        return f"CuPy with NCCL is not installed ({exc})"
    if not getattr(nccl, "available", True):
        return "this CuPy was built without NCCL"
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            return "no GPU was found"
    except Exception as exc:  # CUDA driver missing or broken
        return f"CUDA is not usable ({exc})"
    return None


def select_device(device_id, local_rank):
    """Make GPU ``device_id`` (an int, "cuda:N", or None: the local rank) current; return it."""
    import cupy
    if device_id is None:
        index = local_rank % cupy.cuda.runtime.getDeviceCount()
    elif isinstance(device_id, str):
        index = int(device_id.split(":")[1]) if ":" in device_id else 0
    else:
        index = int(device_id)
    cupy.cuda.Device(index).use()
    return index


class _NCCLPending:
    """A collective queued on the stream, and the event recorded after it."""

    __slots__ = ("kind", "seq", "event", "arrays", "work")

    def __init__(self, kind, seq, event, arrays):
        self.kind, self.seq, self.event, self.arrays = kind, seq, event, arrays
        self.work = None


class NCCLBackend:
    """Collectives on contiguous CuPy arrays over one NCCL communicator (NOT TESTED)."""

    name = "nccl"

    def __init__(self, world, rank, size):
        """Join the NCCL communicator; ``world`` is an MPI communicator for the unique id."""
        nccl = _nccl()
        self.nccl, self.rank, self.size = nccl, rank, size
        unique_id = nccl.get_unique_id() if rank == 0 else None
        unique_id = world.bcast(unique_id, root=0)
        self.comm = nccl.NcclCommunicator(size, unique_id, rank)
        self.started = 0
        self._types = {np.dtype(name): getattr(nccl, constant) for name, constant in (
            ("int8", "NCCL_INT8"), ("uint8", "NCCL_UINT8"), ("int32", "NCCL_INT32"),
            ("uint32", "NCCL_UINT32"), ("int64", "NCCL_INT64"), ("uint64", "NCCL_UINT64"),
            ("float16", "NCCL_FLOAT16"), ("float32", "NCCL_FLOAT32"),
            ("float64", "NCCL_FLOAT64"))}

    def _type(self, array):
        if array.dtype == np.bool_:
            array = array.view(np.uint8)
        if array.dtype not in self._types:
            raise TypeError(f"NCCL cannot reduce or send {array.dtype} arrays")
        return array, self._types[array.dtype]

    def _op(self, op, dtype):
        nccl = self.nccl
        if dtype == np.bool_:
            op = {ReduceOp.SUM: ReduceOp.MAX, ReduceOp.PRODUCT: ReduceOp.MIN}.get(op, op)
        table = {ReduceOp.SUM: nccl.NCCL_SUM, ReduceOp.AVG: nccl.NCCL_SUM,
                 ReduceOp.PRODUCT: nccl.NCCL_PROD, ReduceOp.MIN: nccl.NCCL_MIN,
                 ReduceOp.MAX: nccl.NCCL_MAX}
        if op not in table:
            raise RuntimeError(f"the NCCL backend has no {op!r} (NCCL has no bitwise reductions)")
        return table[op]

    def _queued(self, kind, *arrays):
        import cupy
        self.started += 1
        event = cupy.cuda.Event(disable_timing=True)
        event.record(cupy.cuda.get_current_stream())
        return _NCCLPending(kind, self.started, event, arrays)

    @staticmethod
    def _stream():
        import cupy
        return cupy.cuda.get_current_stream().ptr

    def all_reduce(self, array, op):
        """Reduce ``array`` in place over all ranks (AVG: the sum; the caller divides)."""
        data, dtype = self._type(array)
        self.comm.allReduce(data.data.ptr, data.data.ptr, data.size, dtype,
                            self._op(op, array.dtype), self._stream())
        return self._queued("all_reduce", array)

    def broadcast(self, array, src):
        """Overwrite ``array`` on every rank with rank ``src``'s."""
        data, dtype = self._type(array)
        self.comm.broadcast(data.data.ptr, data.data.ptr, data.size, dtype, src, self._stream())
        return self._queued("broadcast", array)

    def all_gather(self, send, recv):
        """``recv[r]`` = rank r's ``send``, on every rank."""
        data, dtype = self._type(send)
        received, _ = self._type(recv)
        self.comm.allGather(data.data.ptr, received.data.ptr, data.size, dtype, self._stream())
        return self._queued("all_gather", send, recv)

    def reduce(self, array, dst, op):
        """Reduce into ``array`` on rank ``dst`` only."""
        data, dtype = self._type(array)
        self.comm.reduce(data.data.ptr, data.data.ptr, data.size, dtype,
                         self._op(op, array.dtype), dst, self._stream())
        return self._queued("reduce", array)

    def wait(self, pending, timeout=None):
        """Block the host until the queued collective has run (``timeout`` is not applied)."""
        pending.event.synchronize()

    def test(self, pending):
        """True once the queued collective has run."""
        return pending.event.done

    def leave(self):
        """Release the NCCL communicator."""
        self.comm.destroy()
