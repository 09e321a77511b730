"""The MRI pipeline with ``--device gpu``: both training scripts, predict and evaluate.

Where no GPU is usable these run on the strict CuPy stand-in (tests/strict_gpu),
which fails on a NumPy call given a device array and counts every copy back
to the host; on a GPU machine they run on the GPU.  Each script trains one
short epoch on the tiny kaggle_3m folder of test_train_scripts.py and must
end as the CPU run does (the same weights up to float32 rounding, as two
ranks do in test_train_parallel.py); the training loop reads from the device
only where the run reads its loss, every ``--log-every`` steps, and never
copies to it: the loader's worker thread uploads the batches.
"""
import json
import math
import os

import numpy as np
import pytest
from PIL import Image

from tinynet.mri.commands import evaluate, predict
from tinynet.ops.conv.dispatch import use_algorithm

from test_train_parallel import assert_trained_alike
from test_train_scripts import (cls_args, load_checkpoint, mri_folder, read_log,  # noqa: F401
                                run, seg_args, train_classifier, train_resunet)

pytestmark = pytest.mark.gpu

LOG_EVERY = 2


def reads_of_the_loop(transfers, script):
    """The copies to the host made inside the script's training loop (its ``train``),
    and which of them read the loss's value (``check_finite``; a read there also takes
    the pending NaN flag and deferred checks, small copies right after the first wait)."""
    stacks = [stack for (direction, _, _), stack in zip(transfers.events, transfers.stacks)
              if direction == "device_to_host"]
    in_loop = [s for s in stacks if any(f"{script}.py" in f and f.endswith(" in train")
                                        for f in s)
               and not any(" in validate_" in f or " in end_epoch" in f for f in s)]
    loss_reads = [s for s in in_loop if any(" in check_finite" in f for f in s)
                  and any(f.endswith(" in item") for f in s)]
    return in_loop, loss_reads


def uploads_of_the_loop(transfers, script):
    """Copies to the device made by the training loop itself (not by the loader's worker),
    leaving out the ops' constant tables, uploaded once each (``backend.constant``)."""
    return [stack for (direction, _, _), stack in zip(transfers.events, transfers.stacks)
            if direction == "host_to_device"
            and any(f"{script}.py" in f and f.endswith(" in train") for f in stack)
            and not any(" in validate_" in f or " in _uploaded" in f for f in stack)]


def strict_counter():
    """The stand-in's transfer counter, or None on a real GPU."""
    import contextlib
    import cupy
    if getattr(cupy, "STRICT_STAND_IN", False):
        return cupy.count_transfers()
    return contextlib.nullcontext()


@pytest.mark.parametrize("script, make_args, steps", [
    ("train_resunet", seg_args, 6), ("train_classifier", cls_args, 6)])
def test_a_training_script_on_the_gpu_trains_as_on_the_cpu(
        request, script, make_args, steps, mri_folder, tmp_path):
    module = request.getfixturevalue(script)
    cpu, gpu = tmp_path / "cpu", tmp_path / "gpu"
    # The CPU run with the GPU's convolution algorithm (im2col; the CPU picks rows and
    # Winograd by size): another summation order alone moves a third of this barely
    # trained classifier's weights by Adam's rounding-level steps (each algorithm is
    # tested against the reference convolution in tests/test_ops_conv*.py).
    with use_algorithm("im2col"):
        assert run(module, make_args(mri_folder, cpu, "--epochs", "1")) == 0
    with strict_counter() as transfers:
        assert run(module, make_args(mri_folder, gpu, "--epochs", "1", "--device", "gpu",
                                     "--log-every", str(LOG_EVERY))) == 0
    epochs = [r for r in read_log(gpu) if r["event"] == "epoch"]
    assert epochs[0]["steps"] == steps
    assert_trained_alike(cpu / "last.npz", gpu / "last.npz", steps)
    cpu_epoch = [r for r in read_log(cpu) if r["event"] == "epoch"][0]
    for key, value in cpu_epoch.items():
        if key.startswith(("train_", "val_")):
            assert epochs[0][key] == pytest.approx(value, rel=1e-3, abs=1e-4), key
    if transfers is not None:
        in_loop, loss_reads = reads_of_the_loop(transfers, script)
        print(f"\n{script} --device gpu: {len(in_loop)} reads from the device in "
              f"{steps} training steps, {len(loss_reads)} of them the loss")
        assert len(loss_reads) == math.ceil(steps / LOG_EVERY)
        elsewhere = [s for s in in_loop if not any(" in check_finite" in f for f in s)]
        assert not elsewhere, "\n".join(s[-1] for s in elsewhere)
        # The batches arrive on the device: the loader's worker uploaded them.
        uploads = uploads_of_the_loop(transfers, script)
        assert not uploads, "\n".join(s[-1] for s in uploads)
        worker = [s for (d, _, _), s in zip(transfers.events, transfers.stacks)
                  if d == "host_to_device" and any(" in upload_from_worker" in f for f in s)]
        assert len(worker) >= 3 * steps         # images, masks, labels of every batch


@pytest.fixture(scope="module")
def gpu_checkpoints(tmp_path_factory, train_resunet, train_classifier, mri_folder):
    """A segmenter and a classifier trained one epoch on the GPU."""
    out = tmp_path_factory.mktemp("gpu_models")
    assert run(train_resunet, seg_args(mri_folder, out / "seg", "--epochs", "1",
                                       "--device", "gpu")) == 0
    assert run(train_classifier, cls_args(mri_folder, out / "cls", "--device", "gpu")) == 0
    return str(out / "cls" / "best.npz"), str(out / "seg" / "best.npz")


def test_predict_on_the_gpu_equals_predict_on_the_cpu(gpu_checkpoints, mri_folder, tmp_path):
    classifier, segmenter = gpu_checkpoints
    patient = sorted(p for p in mri_folder.iterdir() if p.is_dir())[0]
    masks = {}
    for device in ("cpu", "gpu"):
        out = tmp_path / device
        predict.main([str(patient), "--out", str(out), "--classifier", classifier,
                      "--segmenter", segmenter, "--device", device])
        masks[device] = {p.name: np.asarray(Image.open(p)) for p in sorted(out.rglob("*_mask.png"))}
    assert masks["gpu"] and masks["gpu"].keys() == masks["cpu"].keys()
    for name, mask in masks["cpu"].items():
        np.testing.assert_array_equal(masks["gpu"][name], mask, err_msg=name)


def test_evaluate_on_the_gpu_gives_the_cpu_report(gpu_checkpoints, mri_folder, tmp_path):
    classifier, segmenter = gpu_checkpoints
    reports = {}
    for device in ("cpu", "gpu"):
        out = tmp_path / f"{device}.json"
        evaluate.main([str(mri_folder), "--classifier", classifier,
                       "--segmenter", segmenter, "--device", device, "--json", str(out),
                       "--html", str(tmp_path / f"{device}.html")])
        reports[device] = json.loads(out.read_text())
    assert reports["gpu"].keys() == reports["cpu"].keys()
    flat_cpu, flat_gpu = _numbers(reports["cpu"]), _numbers(reports["gpu"])
    assert flat_gpu.keys() == flat_cpu.keys()
    for key, value in flat_cpu.items():
        if not key.startswith("/timings"):
            assert flat_gpu[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key


def _numbers(tree, prefix=""):
    """{path: number} of every number in a JSON tree."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items()
                for k, v in _numbers(sub, f"{prefix}/{key}").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree)
                for k, v in _numbers(sub, f"{prefix}[{i}]").items()}
    if isinstance(tree, (int, float)) and not isinstance(tree, bool):
        return {prefix: tree}
    return {}


def test_tf32_is_a_gpu_flag_that_allows_it_before_the_first_matmul(train_resunet, mri_folder,
                                                                    tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CUPY_TF32", "0")            # restored after the test
    with pytest.raises(SystemExit) as exit_info:
        run(train_resunet, seg_args(mri_folder, tmp_path / "cpu", "--tf32"))
    assert exit_info.value.code == 2
    assert "--tf32 is a GPU setting: add --device gpu" in capsys.readouterr().err
    assert run(train_resunet, seg_args(mri_folder, tmp_path / "gpu", "--epochs", "1",
                                       "--device", "gpu", "--tf32")) == 0
    assert os.environ["CUPY_TF32"] == "1"


def test_amp_is_a_gpu_flag_and_its_loss_scale_is_saved_for_resume(train_resunet, mri_folder,
                                                                   tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(train_resunet, seg_args(mri_folder, tmp_path / "cpu", "--amp"))
    assert exit_info.value.code == 2
    assert "--amp is a GPU setting" in capsys.readouterr().err
    out = tmp_path / "amp"
    assert run(train_resunet, seg_args(mri_folder, out, "--epochs", "1", "--device", "gpu",
                                       "--amp")) == 0
    epoch = [r for r in read_log(out) if r["event"] == "epoch"][0]
    assert math.isfinite(epoch["train_loss"]) and math.isfinite(epoch["val_dice"])
    saved = load_checkpoint(out / "last.npz")
    scaler = saved["metadata"]["run"]["scaler"]
    assert scaler["scale"] > 0 and scaler["growth_interval"] == 2000
    for key, value in saved["model"].items():            # the weights stay float32
        assert value.dtype != np.float16, key
    assert run(train_resunet, ["--resume", str(out / "last.npz"), "--epochs", "2"]) == 0
    assert [r["event"] for r in read_log(out)][-1] == "finished"


@pytest.mark.parametrize("script, extra", [("train_resunet", ("--base", "4")),
                                           ("train_classifier", ("--width", "8"))])
def test_the_scripts_train_on_the_builtin_phantom_with_device_gpu(request, script, extra,
                                                                  tmp_path):
    """The README's first command with ``--device gpu``: the default data (the phantom),
    one short epoch at 32x32."""
    out = tmp_path / script
    assert run(request.getfixturevalue(script),
               ["--device", "gpu", "--epochs", "1", "--size", "32", "--batch-size", "8",
                "--out", str(out), *extra]) == 0
    assert (out / "best.npz").exists()
    record = [r for r in read_log(out) if r["event"] == "epoch"][0]
    assert all(math.isfinite(v) for k, v in record.items()
               if k.startswith(("train_", "val_")) and isinstance(v, float))
