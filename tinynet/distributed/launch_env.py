"""What the launcher tells a process about the job, and the import of mpi4py.

``mpiexec -n 2 python train.py`` starts two processes; MPI itself tells each
its rank and the world size once it is initialized.  The launcher also puts
them into the environment, and reading them there is useful twice:

* before MPI starts (the BLAS threads of each rank, see ``blas_threads.py``);
* to catch a launcher that does not belong to the MPI library mpi4py loaded
  (Open MPI's ``mpirun`` running an MPICH-built mpi4py, or ``torchrun``): each
  process then initializes MPI alone, as a world of size 1, and N copies of
  the training would run side by side, each believing it is alone.
  ``init_process_group`` compares the two and stops with the fix.

The variables, per launcher: MPICH's hydra ``mpiexec`` sets ``PMI_RANK`` and
``PMI_SIZE`` (and ``MPI_LOCALRANKID``/``MPI_LOCALNRANKS`` for the ranks on one
machine); Open MPI sets ``OMPI_COMM_WORLD_RANK``/``_SIZE`` (and ``_LOCAL_RANK``/
``_LOCAL_SIZE``); MVAPICH ``MV2_COMM_WORLD_RANK``/``_SIZE``; ``torchrun``
``RANK``/``WORLD_SIZE`` (and ``LOCAL_RANK``/``LOCAL_WORLD_SIZE``).
"""
import os

__all__ = ["launcher_rank_and_size", "local_rank_and_size", "import_mpi", "mpi4py_importable"]

#: (rank variable, size variable, launcher) in the order they are looked for.
WORLD_VARIABLES = (
    ("PMI_RANK", "PMI_SIZE", "MPICH/hydra mpiexec"),
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "Open MPI mpirun"),
    ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE", "MVAPICH mpirun"),
    ("RANK", "WORLD_SIZE", "torchrun"),
)
#: The same for the processes on this machine.
LOCAL_VARIABLES = (
    ("MPI_LOCALRANKID", "MPI_LOCALNRANKS"),
    ("OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"),
    ("MV2_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_SIZE"),
    ("LOCAL_RANK", "LOCAL_WORLD_SIZE"),
)


def _read_pair(rank_name, size_name, environ):
    try:
        return int(environ[rank_name]), int(environ[size_name])
    except (KeyError, ValueError):
        return None


def launcher_rank_and_size(environ=None, mpi_only=False):
    """``(rank, size, description)`` from the launcher's variables, or None without any.

    ``description`` names the variables, e.g. ``"PMI_SIZE=2 (MPICH/hydra mpiexec)"``.
    ``mpi_only``: read only MPI launchers' variables, not torchrun's ``RANK`` and
    ``WORLD_SIZE``, names that other tools and job systems set too.
    """
    environ = os.environ if environ is None else environ
    launchers = WORLD_VARIABLES[:-1] if mpi_only else WORLD_VARIABLES   # torchrun's last
    for rank_name, size_name, launcher in launchers:
        pair = _read_pair(rank_name, size_name, environ)
        if pair is not None:
            return pair[0], pair[1], f"{size_name}={pair[1]} ({launcher})"
    return None


def local_rank_and_size(environ=None):
    """``(local rank, number of ranks on this machine)`` from the launcher, or ``(0, 1)``."""
    environ = os.environ if environ is None else environ
    for rank_name, size_name in LOCAL_VARIABLES:
        pair = _read_pair(rank_name, size_name, environ)
        if pair is not None:
            return pair
    return 0, 1


def mpi4py_importable():
    """True if mpi4py can be imported (without starting MPI: ``import mpi4py`` alone does not)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def import_mpi():
    """``mpi4py.MPI``, which starts MPI on first import, or one error that says how to install it.

    Without a launcher MPI starts as a "singleton": a world of size 1.
    """
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise RuntimeError(
            "tinynet.distributed needs mpi4py and an MPI library: pip install "
            "'tinynet[distributed]' (mpi4py and the mpich wheel, whose mpiexec starts the "
            f"ranks: mpiexec -n 2 python script.py) [{exc}]") from exc
    return MPI
