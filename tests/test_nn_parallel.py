"""tinynet.nn.parallel.DistributedDataParallel and nn.SyncBatchNorm across 2 ranks.

The jobs run ``mpiexec -n 2 python tests/distributed_workers/ddp_training.py``
(see test_distributed.py for how jobs are started, skipped without MPI, and
failed instead where CI requires MPI); the one-process reference runs the same
script without mpiexec.  Both write their weights and last gradients to .npz
files, compared here.
"""
import numpy as np
import pytest

import tinynet as tn
from test_distributed import run_job

#: float32 sums in another order (two half-batches, then an average) differ by rounding only.
TOLERANCE = dict(rtol=1e-5, atol=1e-6)


def trained(tmp_path, mode, ranks):
    path = tmp_path / f"{mode}.npz"
    job = run_job("ddp_training.py", str(path), mode, ranks=ranks)
    assert job.returncode == 0, job
    with np.load(path) as arrays:
        return {key: arrays[key] for key in arrays.files}


def assert_same_training(ours, reference):
    assert sorted(ours) == sorted(reference)
    for key in reference:
        np.testing.assert_allclose(ours[key], reference[key], err_msg=key, **TOLERANCE)


def test_two_ranks_of_four_train_as_one_process_of_eight(tmp_path):
    """DDP + SyncBatchNorm, 2 ranks x batch 4, 4 SGD-momentum steps: the same weights,
    BatchNorm running statistics and last gradients as 1 process x batch 8 (every rank
    started from another random model: rank 0's was broadcast at wrap time)."""
    assert_same_training(trained(tmp_path, "ddp", 2), trained(tmp_path, "single", None))


def test_no_sync_accumulates_locally_and_the_next_backward_averages(tmp_path):
    """Two batches a step, the first under no_sync(): as one process accumulating two."""
    assert_same_training(trained(tmp_path, "ddp_no_sync", 2),
                         trained(tmp_path, "single_no_sync", None))


def test_an_unused_parameter_is_named_and_find_unused_parameters_fixes_it(tmp_path):
    job = run_job("ddp_training.py", str(tmp_path / "unused.npz"), "unused", ranks=2)
    assert job.returncode == 0, job
    for rank in (0, 1):
        assert (f"rank {rank}: DistributedDataParallel: expected to have finished reduction in "
                f"the prior iteration before starting a new one: parameters that got no "
                f"gradient on rank {rank}: unused.bias, unused.weight.") in job.output, job
        assert f"rank {rank}: with find_unused_parameters=True two steps ran" in job.output


def test_wrapping_without_a_process_group_says_what_to_do():
    with pytest.raises(RuntimeError, match=r"call tinynet.distributed.init_process_group\(\) "
                                           r"first \(and launch with mpiexec -n N"):
        tn.nn.parallel.DistributedDataParallel(tn.nn.Linear(2, 2))


def test_cases_each_rank_checks_itself():
    """SyncBatchNorm with batches of 3 and 5 and momentum=None equals BatchNorm on the 8;
    find_unused_parameters with a parameter only rank 0 uses, behind a SyncBatchNorm;
    a backward inside no_sync() after a forward outside it still averages."""
    job = run_job("sync_checks.py", ranks=2)
    assert job.returncode == 0, job
    assert "rank 0: 13 checks passed" in job.output and "rank 1: 13 checks passed" in job.output
