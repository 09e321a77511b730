"""The default process group: every process of the job, and how it starts and ends.

``init_process_group()`` in a script started by ``mpiexec -n N python
script.py`` makes each of the N processes a rank of one group; MPI (through
mpi4py, imported only here, on the first call) tells each its rank and the
world size.  A process started without a launcher is a world of size 1 (MPI's
singleton start), so the same script runs alone unchanged.

What init does, in order: refuse a second init (as PyTorch), start MPI, check
the launcher and the arguments against MPI's world, duplicate the world
communicator (tinynet's traffic never mixes with the user's own mpi4py
calls), set up NCCL if asked and every rank can, then, with more than one
rank: the hook that turns an uncaught exception into an abort of every rank
(``failures.py``), an exit hook that tells the other ranks this one has left
(``mpi_backend.py``), and one BLAS thread pool per core share
(``blas_threads.py``).

Differences from PyTorch: the ranks meet through MPI, so ``init_method`` may
only be None or ``"env://"`` and ``store`` only None (rank and size come from
MPI; given ones are checked against it); backends are ``"mpi"`` (the default)
and ``"nccl"``; ``timeout`` defaults to None (wait as long as it takes: dead and
departed ranks are detected without it; PyTorch waits 10-30 minutes), and an
expired timeout aborts the job.
"""
import atexit
import warnings

from .. import backend as _backend
from . import blas_threads, failures
from .launch_env import import_mpi, launcher_rank_and_size, mpi4py_importable
from .mpi_backend import MPIBackend
from .nccl_backend import NCCL_COLLECTIVES, NCCLBackend, nccl_unavailable_reason, select_device
from .work import as_seconds

__all__ = ["ProcessGroup", "init_process_group", "destroy_process_group", "is_initialized",
           "is_available", "is_mpi_available", "is_nccl_available", "get_rank",
           "get_world_size", "get_backend", "default_group", "Backend"]

_default_group = None
_exit_hook_registered = False

NOT_INITIALIZED = ("Default process group has not been initialized, please make sure to call "
                   "init_process_group. (tinynet: call tinynet.distributed.init_process_group() "
                   "first, in a script started with `mpiexec -n N python script.py`; without "
                   "mpiexec it is a world of size 1)")


class Backend:
    """The backend names (``torch.distributed.Backend``): ``Backend.MPI``, ``Backend.NCCL``."""

    MPI = "mpi"
    NCCL = "nccl"


class ProcessGroup:
    """The ranks of the job; ``rank()``, ``size()``, and the backend for an array."""

    def __init__(self, backend_name, mpi, nccl=None):
        self.backend_name, self.mpi, self.nccl = backend_name, mpi, nccl

    def rank(self):
        return self.mpi.rank

    def size(self):
        return self.mpi.size

    def backend_for(self, array, kind):
        """NCCL for a CuPy array in a collective NCCL does, else MPI."""
        if (self.nccl is not None and kind in NCCL_COLLECTIVES
                and _backend.device_of(array) == "gpu"):
            return self.nccl
        return self.mpi

    def __repr__(self):
        return f"<ProcessGroup {self.backend_name}: rank {self.rank()} of {self.size()}>"


def is_available():
    """True if tinynet.distributed can run: mpi4py can be imported."""
    return mpi4py_importable()


is_mpi_available = is_available


def is_nccl_available():
    """True if this process could use NCCL (CuPy with NCCL and a GPU)."""
    return nccl_unavailable_reason() is None


def is_initialized():
    """True between ``init_process_group`` and ``destroy_process_group``."""
    return _default_group is not None


def default_group(group=None, where="this function"):
    """The default group, or a ValueError that says how to create it.

    ``group`` is what the caller was given: None or the default group itself
    (tinynet has no ``new_group``).
    """
    if _default_group is None:
        raise ValueError(f"{where}: {NOT_INITIALIZED}")
    if group is not None and group is not _default_group:
        raise ValueError(f"{where}: tinynet has one process group, the default one; pass "
                         f"group=None (got {group!r})")
    return _default_group


def get_rank(group=None):
    """This process's rank, 0 .. world size - 1."""
    return default_group(group, "get_rank").rank()


def get_world_size(group=None):
    """The number of ranks."""
    return default_group(group, "get_world_size").size()


def get_backend(group=None):
    """``"mpi"`` or ``"nccl"``: the backend init_process_group was given."""
    return default_group(group, "get_backend").backend_name


def _check_arguments(backend, init_method, store):
    backend = Backend.MPI if backend is None else str(backend).lower()
    if backend not in (Backend.MPI, Backend.NCCL):
        raise ValueError(f"init_process_group: unknown backend {backend!r}; tinynet has 'mpi' "
                         "(the default, CPU; CuPy arrays through host copies) and 'nccl' "
                         "(CuPy arrays on GPUs)")
    if init_method not in (None, "env://"):
        raise ValueError(f"init_process_group: init_method={init_method!r}: tinynet's ranks meet "
                         "through MPI, so start them with `mpiexec -n N python script.py` and "
                         "leave init_method None (or 'env://')")
    if store is not None:
        raise ValueError("init_process_group: tinynet's ranks meet through MPI and take no store")
    return backend


def _check_world(world, world_size, rank):
    """Check MPI's world against the launcher's environment and the arguments."""
    size, my_rank = world.Get_size(), world.Get_rank()
    launched = launcher_rank_and_size()
    if launched is not None and launched[1] != size:
        library = import_mpi().Get_library_version().splitlines()[0].strip()
        raise RuntimeError(
            f"init_process_group: the launcher started {launched[1]} processes ({launched[2]}) "
            f"but MPI sees a world of {size}: the launcher does not belong to the MPI library "
            f"mpi4py loaded ({library}); start the script with that library's mpiexec (the "
            "mpich wheel's is in the same environment's bin/)")
    if world_size not in (-1, None) and world_size != size:
        raise ValueError(f"init_process_group: world_size={world_size}, but MPI started {size} "
                         f"process(es): start the script with `mpiexec -n {world_size} python "
                         "...`, or leave world_size out (MPI knows it)")
    if rank not in (-1, None) and rank != my_rank:
        raise ValueError(f"init_process_group: rank={rank}, but MPI says this process is rank "
                         f"{my_rank}; leave rank out (MPI knows it)")


def _local_size(MPI, world):
    """The number of ranks on this machine (they share its cores)."""
    local = world.Split_type(MPI.COMM_TYPE_SHARED)
    size = local.Get_size()
    local_rank = local.Get_rank()
    local.Free()
    return local_rank, size


def _start_nccl(world, local_rank, device_id):
    """An NCCLBackend if every rank can use NCCL, else None (all ranks agree) and a warning."""
    from mpi4py import MPI
    reason = nccl_unavailable_reason()
    if reason is None:
        try:
            select_device(device_id, local_rank)
        except Exception as exc:  # a bad device_id, or CUDA refusing
            reason = f"GPU {device_id!r} could not be selected ({exc})"
    everyone_can = world.allreduce(reason is None, op=MPI.LAND)
    if not everyone_can:
        warnings.warn("init_process_group('nccl'): NCCL cannot be used on every rank ("
                      f"{reason or 'another rank cannot'}); CuPy arrays go through MPI on "
                      "host copies", RuntimeWarning, stacklevel=3)
        return None
    return NCCLBackend(world, world.Get_rank(), world.Get_size())


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", device_id=None):
    """Make this process a rank of the default group (``torch.distributed.init_process_group``).

    ``backend``: ``"mpi"`` (default) or ``"nccl"`` (CuPy arrays GPU to GPU; MPI
    for the rest; falls back to MPI with a warning where NCCL is missing).
    ``timeout``: a ``datetime.timedelta`` (or seconds) after which a collective
    that has not finished aborts the job; None waits as long as it takes.
    ``world_size``/``rank``: checked against what MPI says, which decides.
    ``device_id``: the GPU of this rank for NCCL (default: its local rank).
    ``group_name`` is accepted and ignored (one group).
    """
    global _default_group, _exit_hook_registered
    if _default_group is not None:
        raise ValueError("trying to initialize the default process group twice! (call "
                         "destroy_process_group() first)")
    backend = _check_arguments(backend, init_method, store)
    seconds = as_seconds(timeout, "init_process_group: timeout")
    MPI = import_mpi()
    world = MPI.COMM_WORLD
    failures.name_this_rank(world.Get_rank(), world.Get_size())
    if world.Get_size() > 1:
        # From here on an uncaught error on one rank, in this function too (a rank=
        # that only one rank gets wrong), ends every rank instead of leaving them waiting.
        failures.install_excepthook()
    _check_world(world, world_size, rank)
    local_rank, local_size = _local_size(MPI, world)
    nccl = _start_nccl(world, local_rank, device_id) if backend == Backend.NCCL else None
    mpi = MPIBackend(MPI, world.Dup(), seconds)
    _default_group = ProcessGroup(backend, mpi, nccl)
    if mpi.size > 1:
        if not _exit_hook_registered:
            # Registered after mpi4py's import, so it runs before MPI_Finalize.
            atexit.register(_leave_at_exit)
            _exit_hook_registered = True
        if local_size > 1 and blas_threads.threads_set_by_environment() is None:
            blas_threads.limit_blas_threads(local_size=local_size)


def destroy_process_group(group=None):
    """Leave the default group: finish this rank's unfinished work, tell the other ranks.

    MPI itself stays up (it cannot be restarted in a process), so a later
    ``init_process_group`` makes a new group.
    """
    global _default_group
    group = default_group(group, "destroy_process_group")
    _default_group = None
    failures.uninstall_excepthook()
    group.mpi.leave()
    if group.nccl is not None:
        group.nccl.leave()


def _leave_at_exit():
    """At interpreter exit, a rank still in the group leaves it (so no other rank waits)."""
    if _default_group is not None:
        destroy_process_group()
