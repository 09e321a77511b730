"""One rank fails while the other waits in a collective; the job must end, not hang.

``mpiexec -n 2 python failures.py MODE``: after one all-reduce that both ranks
finish, rank 0 waits in a second all-reduce while rank 1 (the victim) does
what MODE says:

* ``raise``: raises a ValueError (the excepthook aborts every rank);
* ``exit``: ``os._exit(1)``, no cleanup (hydra ends the job);
* ``kill``: SIGKILL to itself (hydra ends the job);
* ``sys_exit``: ``sys.exit(3)``: leaves the group at exit, so rank 0 learns it
  will never join and aborts;
* ``timeout``: stays alive but never calls the collective (the group's 1 s
  timeout aborts rank 0);
* ``interrupt``: both print "ready", rank 1 sleeps in Python; the test sends
  SIGINT to mpiexec (Ctrl-C);
* ``mismatch_size``: calls the same all-reduce with 5 float64 elements
  instead of 4 float32 ones (a RuntimeError on both ranks, then abort);
* ``mismatch_kind``: calls broadcast instead of all_reduce;
* ``bad_rank``: both ranks pass ``rank=0`` to init_process_group: rank 1's
  ValueError, raised inside init while rank 0 goes on, must end both;
* ``uneven_end`` (no failure): rank 0 finishes its part of a broadcast first
  and its script ends while rank 1 is still receiving, then rank 1 works on:
  both must end normally (exit code 0), the exit notice must not abort rank 1.

tests/test_distributed.py checks the exit code, the time and the messages.
"""
import os
import signal
import sys
import time
from datetime import timedelta

import numpy as np

import tinynet.distributed as dist


def main(mode):
    # bad_rank: rank=0 is wrong on rank 1 only, which raises inside init.
    dist.init_process_group(timeout=timedelta(seconds=1) if mode == "timeout" else None,
                            rank=0 if mode == "bad_rank" else -1)
    rank = dist.get_rank()
    assert dist.get_world_size() == 2, "run with mpiexec -n 2"
    data = np.ones(4, np.float32)
    dist.all_reduce(data)                      # both ranks finish this one
    if mode == "uneven_end":
        if rank == 1:
            time.sleep(0.3)
        dist.broadcast(data, src=0)
        time.sleep(0.3 * rank)
        print(f"rank {rank} finished", flush=True)
        return
    if rank == 1:
        if mode == "raise":
            raise ValueError("rank 1 failed on purpose")
        if mode == "exit":
            os._exit(1)
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "sys_exit":
            sys.exit(3)
        if mode in ("timeout", "interrupt"):
            print(f"rank {rank} ready", flush=True)
            time.sleep(60)
        if mode == "mismatch_size":
            dist.all_reduce(np.ones(5, np.float64))
        if mode == "mismatch_kind":
            dist.broadcast(np.ones(4, np.float32), src=0)
    else:
        print(f"rank {rank} ready", flush=True)
        dist.all_reduce(data)                  # waits here for rank 1
    print(f"rank {rank} finished, but should have been stopped", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
