"""The BLAS threads of each rank: ``mpiexec -n 2 python blas.py auto|env``.

* ``auto``: no thread variable set by the launcher, so ``init_process_group``
  gives each rank its share of the cores (cores // ranks on this machine),
  through ``openblas_set_num_threads``: every loaded OpenBLAS must report it;
* ``env``: the launcher set a thread variable (``-env OPENBLAS_NUM_THREADS 2``),
  which init must leave alone: the counts are what they were before init.
"""
import sys

import numpy  # noqa: F401  (loads OpenBLAS, as every tinynet script does)

import tinynet.distributed as dist
from tinynet.distributed.blas_threads import default_num_threads


def main(mode):
    before = dist.blas_num_threads()
    assert before, "no OpenBLAS found loaded in this process"
    dist.init_process_group()
    after = dist.blas_num_threads()
    if mode == "auto":
        expected = default_num_threads(2)
        assert all(n == expected for n in after.values()), (after, expected)
    else:
        assert after == before, (before, after)
    print(f"rank {dist.get_rank()}: BLAS threads {sorted(set(after.values()))}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
