"""One BLAS thread pool per rank, sized so the ranks on a machine do not oversubscribe it.

OpenBLAS starts one thread per core in every process.  Two ranks on two cores
then run four GEMM threads on two cores, and each step waits for the slowest
(descheduled) thread.  Each rank should use ``cores // ranks on this machine``.

Two ways to get there:

* the environment, read by OpenBLAS/MKL/OpenMP once, when the library loads
  (that is, when NumPy is imported): it only works when the launcher sets it,
  e.g. ``mpiexec -n 2 -env OMP_NUM_THREADS 1 -env OPENBLAS_NUM_THREADS 1
  python train.py`` (hydra; ``-genv`` for all hosts; Open MPI: ``-x
  OMP_NUM_THREADS=1``);
* ``limit_blas_threads(n)``, any time: it finds the BLAS libraries this
  process has loaded (their paths in ``/proc/self/maps``: NumPy's wheel ships
  ``libscipy_openblas64_``, SciPy's ``libscipy_openblas``) and calls their
  ``openblas_set_num_threads`` (or ``MKL_Set_Num_Threads``) through ctypes.
  It also sets the variables, for libraries loaded later and child processes.

``init_process_group`` calls ``limit_blas_threads()`` when the world has more
than one rank, unless the launcher has set one of the variables
(``THREAD_VARIABLES``): what the user chose is kept.  Where no library is
found (no ``/proc``, another BLAS), it warns and names the launcher's way.
No threadpoolctl: a few symbols are all it takes.
"""
import ctypes
import os
import warnings

from .launch_env import local_rank_and_size

__all__ = ["limit_blas_threads", "blas_num_threads", "default_num_threads",
           "threads_set_by_environment", "THREAD_VARIABLES"]

#: What BLAS and OpenMP libraries read at load time.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")

# (set, get) symbol names, per library family.  OpenBLAS builds rename them: the NumPy
# and SciPy wheels prefix "scipy_" and the 64-bit-integer build adds the suffix "64_".
_OPENBLAS = [(f"{prefix}openblas_set_num_threads{suffix}",
              f"{prefix}openblas_get_num_threads{suffix}")
             for prefix in ("", "scipy_") for suffix in ("", "64_")]
_MKL = [("MKL_Set_Num_Threads", "MKL_Get_Max_Threads")]


class _BlasLibrary:
    """One loaded BLAS library and its two thread-count functions."""

    def __init__(self, path, set_threads, get_threads):
        self.path, self._set, self._get = path, set_threads, get_threads
        self._set.argtypes, self._set.restype = [ctypes.c_int], None
        self._get.argtypes, self._get.restype = [], ctypes.c_int

    def set_num_threads(self, n):
        self._set(int(n))

    def get_num_threads(self):
        return int(self._get())


def _loaded_library_paths():
    """Paths of the shared objects mapped into this process that look like a BLAS."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/" in line}
    except OSError:  # no /proc (macOS, Windows)
        return []
    names = ("openblas", "mkl_rt")
    # Only the libraries themselves: extension modules that link to them (SciPy's
    # _fblas) would find the same functions through their dependencies.
    return sorted(path for path in paths
                  if os.path.basename(path).startswith("lib")
                  and any(name in os.path.basename(path) for name in names))


def _blas_libraries():
    """The loaded BLAS libraries whose thread count can be set, one entry per library."""
    found, seen = [], set()
    for path in _loaded_library_paths():
        try:
            library = ctypes.CDLL(path)   # already loaded: the same handle, no new copy
        except OSError:
            continue
        for set_name, get_name in _OPENBLAS + _MKL:
            set_threads = getattr(library, set_name, None)
            get_threads = getattr(library, get_name, None)
            if set_threads is None or get_threads is None:
                continue
            address = ctypes.cast(set_threads, ctypes.c_void_p).value
            if address not in seen:
                seen.add(address)
                found.append(_BlasLibrary(path, set_threads, get_threads))
            break
    return found


def blas_num_threads():
    """``{library path: its number of threads}`` for every loaded OpenBLAS/MKL."""
    return {library.path: library.get_num_threads() for library in _blas_libraries()}


def default_num_threads(local_size=None):
    """The cores this process may use, shared among the ranks on this machine (at least 1)."""
    if local_size is None:
        local_size = local_rank_and_size()[1]
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, local_size))


def threads_set_by_environment():
    """The first of ``THREAD_VARIABLES`` set in the environment, as ``"NAME=value"``, or None."""
    for name in THREAD_VARIABLES:
        if os.environ.get(name):
            return f"{name}={os.environ[name]}"
    return None


def limit_blas_threads(num_threads=None, local_size=None):
    """Make every BLAS library of this process use ``num_threads`` threads.

    ``num_threads`` defaults to ``default_num_threads(local_size)``: the cores
    divided among the ranks on this machine (``local_size``; by default read from
    the launcher's environment).  Returns ``{library path: threads now}``; an
    empty dict, with a RuntimeWarning, when no library was found.
    """
    if num_threads is None:
        num_threads = default_num_threads(local_size)
    num_threads = int(num_threads)
    if num_threads < 1:
        raise ValueError(f"limit_blas_threads: num_threads must be at least 1, got {num_threads}")
    for name in THREAD_VARIABLES:   # for libraries loaded later, and child processes
        os.environ[name] = str(num_threads)
    libraries = _blas_libraries()
    for library in libraries:
        library.set_num_threads(num_threads)
    if not libraries:
        warnings.warn(
            "limit_blas_threads: found no OpenBLAS or MKL library loaded in this process, so "
            "the BLAS threads were not changed; set them in the launcher instead, e.g. "
            f"mpiexec -n 2 -env OMP_NUM_THREADS {num_threads} -env OPENBLAS_NUM_THREADS "
            f"{num_threads} python script.py", RuntimeWarning, stacklevel=2)
    return {library.path: library.get_num_threads() for library in libraries}
