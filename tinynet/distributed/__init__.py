"""``tinynet.distributed``: processes that train together over MPI (and NCCL), as torch.distributed.

One process per core (or per GPU), started by MPI's launcher; each is a rank::

    pip install 'tinynet[distributed]'       # mpi4py, and the mpich wheel with its mpiexec
    mpiexec -n 2 python train.py

    import tinynet.distributed as dist
    dist.init_process_group()                # backend "mpi"; rank and size come from MPI
    rank, world = dist.get_rank(), dist.get_world_size()
    dist.all_reduce(t)                       # in place: the sum over the ranks, on every rank
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    work = dist.all_reduce(bucket, async_op=True)   # returns at once ...
    work.wait()                                     # ... and the result is in bucket
    dist.broadcast(t, src=0); dist.all_gather(tensors, t); dist.barrier()
    dist.destroy_process_group()

Without mpiexec, ``python train.py`` is a world of size 1 and runs as it is.
``import tinynet`` never imports mpi4py: MPI starts at ``init_process_group``.

What is here, one topic a file: the group's life (``process_group.py``:
``init_process_group``, ``destroy_process_group``, ``is_initialized``,
``is_available``, ``get_rank``, ``get_world_size``, ``get_backend``), the
tensor collectives (``collectives.py``: ``all_reduce``, ``broadcast``,
``all_gather``, ``all_gather_into_tensor``, ``reduce``, ``gather``,
``scatter``, ``barrier``), the object ones (``object_collectives.py``:
``all_gather_object``, ``broadcast_object_list``, ``gather_object``),
``ReduceOp`` (SUM, AVG, PRODUCT, MIN, MAX, BAND, BOR, BXOR), ``Work`` (the
asynchronous handle), the backends (``mpi_backend.py``, ``nccl_backend.py``,
the latter NOT TESTED), the launcher's environment (``launch_env.py``),
failures (``failures.py``, ``peer_watch.py``) and BLAS threads
(``blas_threads.py``).

Launching
---------
``mpiexec -n N python script.py``.  Give each rank its share of the cores'
BLAS threads: ``init_process_group`` calls ``limit_blas_threads()`` (cores //
ranks on the machine) when there is more than one rank, unless the launcher
set ``OMP_NUM_THREADS`` & co., e.g. ``mpiexec -n 2 -env OMP_NUM_THREADS 1
python script.py`` (the environment only counts when set before NumPy loads).

When a rank fails
-----------------
No rank waits forever for a dead one (``failures.py`` has the measurements):

* an uncaught exception (or Ctrl-C's KeyboardInterrupt) on a rank prints
  "tinynet.distributed: rank 1 of 2 (pid ..., host): uncaught ValueError", the
  traceback, and aborts every rank (``MPI_Abort``): exit code 1 (130 for
  Ctrl-C), within a second;
* a rank killed by a signal: hydra's ``mpiexec`` ends the others within a
  second, printing "BAD TERMINATION ... Killed (signal 9)"; a rank ended by
  ``os._exit(n)`` too, silently, with exit code n.  Where hydra misses such a
  death (seen about once in 100 jobs), a rank of the same machine waiting in a
  collective ends the job itself within about 3 s, naming the vanished rank
  (``peer_watch.py``);
* a rank that leaves (its script ends, ``sys.exit``, ``destroy_process_group``)
  while another waits in, or later starts, a collective it never ran: that
  rank aborts the job, naming both;
* ranks that pass tensors of different sizes or dtypes, or call different
  collectives: a ``RuntimeError`` on every rank, naming the difference;
* with ``init_process_group(timeout=...)``, a collective that does not finish
  in time aborts the job (a live rank that never calls it, a deadlock).

Ctrl-C on ``mpiexec`` sends SIGINT to every rank: each raises
KeyboardInterrupt at its next Python instruction, and the first aborts all.
Ranks that are all blocked inside one MPI call (a deadlock) see it only when
the call returns: give a timeout, or press Ctrl-C twice (hydra then kills them).

How DistributedDataParallel will use it
---------------------------------------
DDP keeps the gradients of consecutive parameters in flat buckets (one
contiguous 1-D array each, with each ``param.grad`` a view into it, or copied
in), in the same order on every rank.  During backward, when the last
gradient of a bucket is ready (a hook on its parameter), it starts::

    work = dist.all_reduce(bucket, op=dist.ReduceOp.AVG, async_op=True)

which returns at once: the MPI backend reduces the bucket in place with
``MPI_Iallreduce`` (no copy of a contiguous array; NCCL queues it on the CUDA
stream), while backward goes on with the layers below.  Before
``optimizer.step()``, DDP calls ``work.wait()`` on each bucket's Work, in any
order; then every rank holds the same averaged gradients (AVG divides once the
sum is there).  MPI advances a nonblocking collective only inside MPI calls
(starting the next bucket's, ``work.is_completed()``, ``wait()``), so calling
``is_completed()`` on the open buckets from each backward hook lets the
reductions advance during backward.  Broadcasting the initial weights from
rank 0 is ``dist.broadcast(p, src=0)`` per parameter (or one flat buffer), and
buffers (batch-norm statistics) the same.
"""
from . import nn  # noqa: F401  (differentiable collectives, torch.distributed.nn)
from . import (blas_threads, collectives, failures, launch_env,  # noqa: F401  (submodules)
               object_collectives, process_group)
from .blas_threads import blas_num_threads, limit_blas_threads
from .collectives import (all_gather, all_gather_into_tensor, all_reduce, barrier, broadcast,
                          gather, reduce, scatter)
from .object_collectives import all_gather_object, broadcast_object_list, gather_object
from .process_group import (Backend, ProcessGroup, destroy_process_group, get_backend, get_rank,
                            get_world_size, init_process_group, is_available, is_initialized,
                            is_mpi_available, is_nccl_available)
from .reduce_op import ReduceOp
from .work import Work

__all__ = ["init_process_group", "destroy_process_group", "is_initialized", "is_available",
           "is_mpi_available", "is_nccl_available", "get_rank", "get_world_size", "get_backend",
           "Backend", "ProcessGroup", "ReduceOp", "Work", "all_reduce", "broadcast",
           "all_gather", "all_gather_into_tensor", "reduce", "gather", "scatter", "barrier",
           "all_gather_object", "broadcast_object_list", "gather_object", "limit_blas_threads",
           "blas_num_threads"]
