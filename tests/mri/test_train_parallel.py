"""The training scripts data-parallel: ``mpiexec -n 2 python examples/train_resunet.py ...``.

Each job trains on the tiny kaggle_3m folder of test_train_scripts.py (5 phantom
patients x 6 slices at 32x32) for a few steps, and is compared with the same
run in one process.  Skipped without mpi4py or mpiexec, failed instead where
$TINYNET_REQUIRE_MPI is 1 (test_distributed.py's ``mpiexec_or_skip``).

Why the tolerances: two ranks sum in another order, so the gradients agree to
float32 rounding only.  That stays rounding for every weight but one kind: the
bias of a convolution that feeds a BatchNorm has a gradient of exactly zero in
exact arithmetic (the BatchNorm subtracts it again), so its float32 gradient is
pure rounding noise (as for a BatchNorm bias whose output only reaches further
BatchNorms), and Adam, which divides by the gradient's own size, turns that
noise into steps of up to +-lr in either run (so do weights whose gradient is
near zero).  Hence: at least 99% of all elements within ``TOLERANCE`` (in
these runs far fewer differ), and every parameter within the 2 x steps x lr
such steps can reach.  A rank that trained on other slices would move most
elements by about lr.  The segmenter runs with ``--loss bce`` (a mean over
pixels: the ranks' mean of their half-batch losses is the global batch's loss)
and with the default focal Tversky loss, whose sums the script takes over the
global batch (``global_batch=True``, a differentiable all-reduce).
"""
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tinynet.mri.data import Augment, BatchLoader, DataError, make_phantom

from test_distributed import FAILURE_SECONDS, finish_job, job_environment, mpiexec_or_skip
from test_train_scripts import (EXAMPLES, cls_args, load_script, model_arrays,  # noqa: F401
                                mri_folder, read_log, run)

#: float32 rounding after a few Adam steps (the weights are of order 0.1 to 1).
TOLERANCE = dict(rtol=1e-4, atol=5e-5)
LR = 1e-3
#: A tiny job takes a few seconds; this only keeps a hung one from hanging the suite.
JOB_SECONDS = 120


def seg_args(data, out, *extra, loss="bce"):
    """3 steps of batch 8 (oversampling and augmentation on), the per-pixel BCE loss."""
    return ["--data", str(data), "--out", str(out), "--size", "32", "--batch-size", "8",
            "--base", "4", "--epochs", "1", "--prefetch", "1", "--loss", loss,
            "--lr", str(LR), *extra]


def mpi_start(script, argv, ranks=2):
    """Start ``mpiexec -n ranks python examples/<script>.py argv`` in a session of its own."""
    command = [mpiexec_or_skip(), "-n", str(ranks), sys.executable,
               str(EXAMPLES / f"{script}.py"), *argv]
    return subprocess.Popen(command, env=job_environment(), text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


def mpi_run(script, argv, ranks=2):
    """``mpiexec -n ranks python examples/<script>.py argv``; a Job (exit code, output)."""
    return finish_job(mpi_start(script, argv, ranks), time.monotonic(), timeout=JOB_SECONDS)


def assert_trained_alike(path_a, path_b, steps):
    """The weights of two checkpoints, alike up to float32 rounding (see the module docstring):
    at least 99% of all elements within ``TOLERANCE``, and every parameter within the
    2 x steps x lr that Adam's steps of rounding noise can reach."""
    a, b = model_arrays(path_a), model_arrays(path_b)
    assert list(a) == list(b)
    near = total = 0
    for key in a:
        near += int(np.isclose(a[key], b[key], **TOLERANCE).sum())
        total += a[key].size
        if not key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            np.testing.assert_allclose(a[key], b[key], rtol=0, atol=2 * steps * LR,
                                       err_msg=key)
    assert near >= 0.99 * total, f"{total - near} of {total} elements differ"


def epochs_of(folder):
    return [r for r in read_log(folder) if r["event"] == "epoch"]


@pytest.mark.parametrize("loss", ["bce", "focal_tversky"])
def test_two_ranks_train_the_segmenter_as_one_process(mri_folder, tmp_path, loss):
    one, two = tmp_path / "one", tmp_path / "two"
    assert run(load_script("train_resunet"), seg_args(mri_folder, one, loss=loss)) == 0
    job = mpi_run("train_resunet", seg_args(mri_folder, two, loss=loss))
    assert job.returncode == 0, job
    assert_trained_alike(one / "best.npz", two / "best.npz", steps=3)
    assert_trained_alike(one / "last.npz", two / "last.npz", steps=3)
    # The log holds the mean of the ranks' losses: the loss of the global batch.
    ours, reference = epochs_of(two), epochs_of(one)
    assert ours[0]["steps"] == reference[0]["steps"] == 3
    assert ours[0]["train_loss"] == pytest.approx(reference[0]["train_loss"], rel=1e-5)
    assert ours[0]["val_dice"] == pytest.approx(reference[0]["val_dice"], abs=0.02)
    # Rank 0 alone wrote and printed: one log, one line per epoch, the usual files.
    assert [r["event"] for r in read_log(two)] == ["start", "epoch", "finished"]
    assert read_log(two)[0]["ranks"] == 2 and "ranks" not in read_log(one)[0]
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    assert job.output.count("epoch 1: train loss") == 1, job
    assert job.output.count("best validation Dice") == 1, job
    split = json.loads((two / "split.json").read_text())
    assert split == json.loads((one / "split.json").read_text())


def test_two_ranks_train_the_classifier_as_one_process(mri_folder, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    argv = ["--width", "8", "--lr", str(LR), "--batch-size", "8"]     # 3 steps
    assert run(load_script("train_classifier"), cls_args(mri_folder, one, *argv)) == 0
    job = mpi_run("train_classifier", cls_args(mri_folder, two, *argv))
    assert job.returncode == 0, job
    steps = epochs_of(one)[0]["steps"]
    assert_trained_alike(one / "best.npz", two / "best.npz", steps)
    assert epochs_of(two)[0]["train_loss"] == pytest.approx(epochs_of(one)[0]["train_loss"],
                                                            rel=1e-5)
    assert (two / "figures" / "roc.png").exists()
    assert job.output.count("best validation ROC AUC") == 1, job


def test_resume_on_two_ranks_continues_as_the_uninterrupted_run(mri_folder, tmp_path):
    """Stopped after epoch 1 and resumed on 2 ranks: bit for bit the uninterrupted 2-rank run
    (a constant learning rate, so that --epochs 2 on resume does not stretch the schedule)."""
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    job = mpi_run("train_resunet", seg_args(mri_folder, whole, "--epochs", "2",
                                            "--schedule", "constant"))
    assert job.returncode == 0, job
    job = mpi_run("train_resunet", seg_args(mri_folder, parts, "--schedule", "constant"))
    assert job.returncode == 0, job
    job = mpi_run("train_resunet", ["--resume", str(parts / "last.npz"), "--epochs", "2"])
    assert job.returncode == 0, job
    for name in ("last.npz", "best.npz"):
        a, b = model_arrays(whole / name), model_arrays(parts / name)
        assert list(a) == list(b)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name} {key}")
    assert [r["event"] for r in read_log(parts)] == ["start", "epoch", "finished", "resume",
                                                     "epoch", "finished"]


def wait_for_epochs(folder, count, process, seconds=JOB_SECONDS):
    """Block until log.jsonl holds ``count`` epoch records (False if the job ended first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if (folder / "log.jsonl").exists() and len(epochs_of(folder)) >= count:
            return True
        time.sleep(0.2)
    return False


def test_ctrl_c_stops_both_training_ranks_after_the_same_step_and_the_run_resumes(
        mri_folder, tmp_path):
    """Ctrl-C on mpiexec (which hands SIGINT to both ranks) in the middle of a 2-rank run:
    exit code 130 within seconds, the message once (rank 0), last.npz of the step
    both ranks agreed on, and ``--resume`` on 2 ranks finishes the run."""
    out = tmp_path / "interrupted"
    process = mpi_start("train_resunet", seg_args(mri_folder, out, "--epochs", "200",
                                                  "--schedule", "constant"))
    started = time.monotonic()
    ran = wait_for_epochs(out, 1, process)
    process.send_signal(signal.SIGINT)             # Ctrl-C, to mpiexec alone
    interrupted = time.monotonic()
    job = finish_job(process, started, timeout=JOB_SECONDS)
    assert ran, job
    assert job.returncode == 130, job
    assert time.monotonic() - interrupted < FAILURE_SECONDS, job
    assert job.output.count("Interrupted at epoch") == 1, job
    assert "Traceback" not in job.output and "MPI_Abort" not in job.output, job
    stopped = read_log(out)[-1]
    assert stopped["event"] == "interrupted", stopped
    assert (out / "last.npz").exists()
    done = len(epochs_of(out))
    job = mpi_run("train_resunet", ["--resume", str(out / "last.npz"), "--epochs", str(done + 1)])
    assert job.returncode == 0, job
    assert read_log(out)[-1]["event"] == "finished"
    assert len(epochs_of(out)) == done + 1


def test_a_batch_size_the_ranks_cannot_share_is_one_line_and_exit_code_2(mri_folder, tmp_path):
    job = mpi_run("train_resunet", seg_args(mri_folder, tmp_path / "o", "--batch-size", "5"))
    assert job.returncode == 2, job
    lines = job.output.strip().splitlines()
    assert len(lines) == 1 and "--batch-size 5 is the global batch" in lines[0], job
    assert not (tmp_path / "o" / "last.npz").exists()


def test_a_nan_loss_stops_both_ranks_with_exit_code_1(mri_folder, tmp_path):
    out = tmp_path / "nan"
    job = mpi_run("train_resunet", seg_args(mri_folder, out, "--lr", "1e30"))
    assert job.returncode == 1, job
    assert job.output.count("Stopped: the training loss is") == 1, job
    assert "MPI_Abort" not in job.output and "uncaught" not in job.output, job
    assert read_log(out)[-1]["event"] == "stopped"
    assert not (out / "last.npz").exists()       # no good epoch had ended


def test_the_ranks_parts_of_each_global_batch_are_the_batch_of_one_process():
    """No MPI needed: BatchLoader(rank=r, world_size=2) halves of every batch (order,
    oversampling, per-sample augmentation) put together are one process's batch."""
    data = make_phantom(n_patients=3, slices_per_patient=6, size=16, seed=1)
    kwargs = dict(oversample_tumour=0.5, augment=Augment(), seed=4, drop_last=True, prefetch=0)
    indices = np.arange(len(data))
    one = BatchLoader(data, indices, 8, **kwargs)
    ranks = [BatchLoader(data, indices, 8, rank=r, world_size=2, **kwargs) for r in (0, 1)]
    for _ in range(2):                                   # two epochs
        for whole, *parts in zip(list(one), *[list(r) for r in ranks]):
            for field in ("images", "masks", "labels", "indices"):
                np.testing.assert_array_equal(
                    getattr(whole, field), np.concatenate([getattr(p, field) for p in parts]))
    assert ranks[1].state_dict() == one.state_dict()     # resumable with any world size
    with pytest.raises(DataError, match="not divisible by the 2 ranks"):
        BatchLoader(data, indices, 5, rank=0, world_size=2, **kwargs)


def test_an_odd_remainder_is_no_problem_when_drop_last_drops_it():
    """11 slices in batches of 4 on 2 ranks: with drop_last the remainder of 3 is never used,
    so the ranks share 2 full batches; without drop_last a last batch of 3 is refused."""
    data = make_phantom(n_patients=2, slices_per_patient=6, size=16, seed=1)
    indices = np.arange(11)
    loaders = [BatchLoader(data, indices, 4, rank=r, world_size=2, drop_last=True, prefetch=0)
               for r in (0, 1)]
    assert [len(list(loader)) for loader in loaders] == [2, 2]
    with pytest.raises(DataError, match="the last batch of 3 slices cannot be shared"):
        BatchLoader(data, indices, 4, rank=0, world_size=2, drop_last=False, prefetch=0)


@pytest.mark.parametrize("script", ["train_resunet", "train_classifier"])
@pytest.mark.parametrize("launcher", [{"PMI_RANK": "0", "PMI_SIZE": "2"},
                                      {"RANK": "0", "WORLD_SIZE": "2"}])
def test_help_never_starts_mpi_whatever_the_environment(script, launcher):
    """--help is parsed before the process group starts: with an MPI launcher's variables
    (or torchrun's, which other tools set too) it prints the help, exit 0, and MPI is never
    imported; torchrun's variables alone never start MPI at all."""
    code = (f"import runpy, sys; sys.argv = [{script!r}, '--help']\n"
            "try:\n"
            f"    runpy.run_path({str(EXAMPLES / (script + '.py'))!r}, run_name='__main__')\n"
            "except SystemExit as exc:\n"
            "    print('exit', exc.code, 'mpi4py' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=job_environment(launcher))
    assert done.returncode == 0, done.stderr
    assert "--batch-size" in done.stdout and done.stdout.endswith("exit 0 False\n"), done
