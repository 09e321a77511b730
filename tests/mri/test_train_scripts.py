"""End to end: the two training scripts (examples/train_resunet.py, examples/train_classifier.py
on tinynet.mri.experiment and tinynet.mri.run), run in-process on tiny data.

What is checked: the files a run writes (checkpoints that load, the JSON-lines
log, the PNG figures), that --resume gives bit-exactly the weights of an
uninterrupted run (after a finished epoch and after Ctrl-C in mid-epoch), that
a NaN loss keeps the last good checkpoint, and that bad arguments give one
line and exit code 2.
"""
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tinynet as tn
from tinynet.mri.data import Augment, make_phantom
from tinynet.io import load_checkpoint
from tinynet.mri import cli, experiment
from tinynet.mri.checkpoint import load_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def train_resunet():
    return load_script("train_resunet")


@pytest.fixture(scope="module")
def train_classifier():
    return load_script("train_classifier")


@pytest.fixture(scope="module")
def mri_folder(tmp_path_factory):
    """A kaggle_3m-layout folder of 5 phantom patients x 6 slices at 32x32, as TIFF files."""
    root = tmp_path_factory.mktemp("kaggle_3m")
    phantom = make_phantom(n_patients=5, slices_per_patient=6, size=32, seed=3)
    for i in range(len(phantom)):
        image, mask = phantom[i]
        patient = root / phantom.patient_of[i]
        patient.mkdir(exist_ok=True)
        n = sum(1 for p in phantom.patient_of[:i] if p == phantom.patient_of[i]) + 1
        stem = f"{phantom.patient_of[i]}_{n}"
        Image.fromarray(image).save(patient / f"{stem}.tif")
        Image.fromarray(mask * 255).save(patient / f"{stem}_mask.tif")
    return root


def seg_args(data, out, *extra):
    return ["--data", str(data), "--out", str(out), "--size", "32", "--batch-size", "4",
            "--base", "4", "--epochs", "2", "--prefetch", "1", *extra]


def cls_args(data, out, *extra):
    return ["--data", str(data), "--out", str(out), "--size", "32", "--batch-size", "4",
            "--epochs", "1", "--prefetch", "1", *extra]


def run(script, argv):
    return cli.run_main(script.main, argv)


def read_log(folder):
    return [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]


def model_arrays(path):
    return load_checkpoint(path)["model"]


def assert_same_weights(path_a, path_b):
    a, b = model_arrays(path_a), model_arrays(path_b)
    assert list(a) == list(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.fixture(scope="module")
def uninterrupted(train_resunet, mri_folder, tmp_path_factory):
    """The reference: two epochs in one go."""
    out = tmp_path_factory.mktemp("uninterrupted")
    assert run(train_resunet, seg_args(mri_folder, out)) == 0
    return out


def test_segmenter_run_writes_checkpoints_log_and_figures(uninterrupted):
    out = uninterrupted
    model, spec = load_model(out / "best.npz", task="segmentation")
    assert spec["arch"] == "resunet" and spec["input_size"] == 32
    assert len(spec["normalization"]["mean"]) == 3
    assert load_checkpoint(out / "last.npz")["epoch"] == 2
    events = [r["event"] for r in read_log(out)]
    assert events == ["start", "epoch", "epoch", "finished"]
    epoch = read_log(out)[1]
    for key in ("train_loss", "val_dice", "val_loss", "lr", "data_wait_share"):
        assert key in epoch
    assert 0.0 <= epoch["val_dice"] <= 1.0
    split = json.loads((out / "split.json").read_text())
    assert not set(split["train"]) & set(split["val"])
    for name in ("curves.png", "val_overlays.png"):
        with Image.open(out / "figures" / name) as figure:
            assert figure.size[0] > 100 and figure.size[1] > 100


class Built(Exception):
    """Stops a script once it has built its model, optimizer, schedule and augmentation."""


@pytest.fixture
def built(monkeypatch):
    """What a script hands to experiment.prepare_data and start_run, the run not started."""
    seen = {}
    real_prepare_data = experiment.prepare_data

    def prepare_data(config, *, augment, multiple=1):
        seen["augment"] = augment
        return real_prepare_data(config, augment=augment, multiple=multiple)

    def start_run(config, model, optimizer, spec, data, monitor, *, scheduler, scaler=None):
        seen.update(model=model, optimizer=optimizer, scheduler=scheduler, config=config,
                    scaler=scaler)
        raise Built()

    monkeypatch.setattr(experiment, "prepare_data", prepare_data)
    monkeypatch.setattr(experiment, "start_run", start_run)
    return seen


@pytest.mark.parametrize("name, args", [("train_resunet", seg_args),
                                        ("train_classifier", cls_args)])
def test_the_scripts_build_optimizer_schedule_and_augmentation_from_their_flags(
        name, args, mri_folder, tmp_path, built):
    script = load_script(name)
    extra = ("--width", "8") if name == "train_classifier" else ()
    with pytest.raises(Built):
        run(script, args(mri_folder, tmp_path / "a", "--epochs", "5", "--lr", "0.02",
                         "--elastic", "0.03", *extra))
    assert isinstance(built["optimizer"], tn.optim.Adam)
    assert built["optimizer"].param_groups[0]["lr"] == 0.02
    assert built["optimizer"].param_groups[0]["weight_decay"] == 0.0
    scheduler = built["scheduler"]
    assert isinstance(scheduler, tn.optim.lr_scheduler.CosineAnnealingLR)
    assert (scheduler.T_max, scheduler.eta_min) == (5, 0.02 / 100)
    assert isinstance(built["augment"], Augment) and built["augment"].elastic == 0.03
    assert not built["scaler"].is_enabled() and not built["optimizer"].defaults["fused"]

    with pytest.raises(Built):
        run(script, args(mri_folder, tmp_path / "b", "--schedule", "constant", "--no-augment",
                         "--weight-decay", "0.001", *extra))
    assert built["scheduler"] is None and built["augment"] is None
    assert built["optimizer"].param_groups[0]["weight_decay"] == 0.001


def test_ctrl_c_between_epochs_then_resume_equals_uninterrupted(train_resunet, mri_folder,
                                                                tmp_path, uninterrupted,
                                                                monkeypatch):
    out = tmp_path / "between"
    real_validate = train_resunet.validate_segmenter

    def validate_and_press_ctrl_c(*args):
        signal.raise_signal(signal.SIGINT)          # during the first validation pass
        return real_validate(*args)

    monkeypatch.setattr(train_resunet, "validate_segmenter", validate_and_press_ctrl_c)
    assert run(train_resunet, seg_args(mri_folder, out)) == 130
    saved = load_checkpoint(out / "last.npz")
    assert saved["epoch"] == 1 and saved["metadata"]["run"]["loader"]["position"] == 0
    monkeypatch.setattr(train_resunet, "validate_segmenter", real_validate)
    assert run(train_resunet, ["--resume", str(out / "last.npz")]) == 0
    assert_same_weights(out / "last.npz", uninterrupted / "last.npz")
    assert [r["event"] for r in read_log(out)][-4:] == ["interrupted", "resume", "epoch",
                                                        "finished"]


def test_resume_with_more_epochs_trains_on(train_resunet, mri_folder, tmp_path):
    out = tmp_path / "longer"
    assert run(train_resunet, seg_args(mri_folder, out, "--epochs", "1")) == 0
    assert run(train_resunet, ["--resume", str(out / "last.npz"), "--epochs", "2",
                               "--lr", "0.5"]) == 0
    last = load_checkpoint(out / "last.npz")
    assert last["epoch"] == 2
    run_state = last["metadata"]["run"]
    assert run_state["config"]["lr"] == 1e-3          # --lr was not allowed to change the run
    assert run_state["scheduler"]["T_max"] == 2       # the cosine schedule is stretched
    assert any("lr=0.5" in flag for flag in run_state["config"]["ignored_flags"])


def test_ctrl_c_mid_epoch_saves_and_resumes_exactly(train_resunet, mri_folder, tmp_path,
                                                    uninterrupted, monkeypatch, capsys):
    out = tmp_path / "interrupted"
    focal = train_resunet.LOSSES["focal_tversky"]
    calls = []

    def press_ctrl_c_at_third_step(logits, masks, **options):
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)      # the real handler runs
        return focal(logits, masks, **options)

    monkeypatch.setitem(train_resunet.LOSSES, "focal_tversky", press_ctrl_c_at_third_step)
    assert run(train_resunet, seg_args(mri_folder, out)) == 130
    assert "--resume" in capsys.readouterr().err
    saved = load_checkpoint(out / "last.npz")["metadata"]["run"]
    assert saved["step"] == 3 and saved["loader"]["position"] == 3
    monkeypatch.setitem(train_resunet.LOSSES, "focal_tversky", focal)
    assert run(train_resunet, ["--resume", str(out / "last.npz")]) == 0
    assert_same_weights(out / "last.npz", uninterrupted / "last.npz")


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(train_resunet, mri_folder, tmp_path,
                                                           monkeypatch, capsys):
    out = tmp_path / "nan"
    focal = train_resunet.LOSSES["focal_tversky"]
    validated = []

    def nan_after_first_validation(logits, masks, **options):
        loss = focal(logits, masks, **options)
        return loss * float("nan") if validated else loss

    def validate_then_turn_nan(*args):
        result = real_validate(*args[:5], focal)
        validated.append(True)
        return result

    real_validate = train_resunet.validate_segmenter
    monkeypatch.setitem(train_resunet.LOSSES, "focal_tversky", nan_after_first_validation)
    monkeypatch.setattr(train_resunet, "validate_segmenter", validate_then_turn_nan)
    assert run(train_resunet, seg_args(mri_folder, out)) == 1
    err = capsys.readouterr().err
    assert "nan" in err and "last.npz" in err
    last = load_checkpoint(out / "last.npz")
    assert last["epoch"] == 1                       # the end of the last good epoch
    assert all(np.isfinite(v).all() for v in last["model"].values())
    assert read_log(out)[-1]["event"] == "stopped"


def test_classifier_run_writes_its_figures(train_classifier, mri_folder, tmp_path):
    out = tmp_path / "classifier"
    assert run(train_classifier, cls_args(mri_folder, out)) == 0
    model, spec = load_model(out / "best.npz", task="classification")
    assert spec["arch"] == "resnet18" and spec["arch_args"] == {"num_classes": 2, "width": 64}
    for name in ("curves.png", "confusion_matrix.png", "roc.png"):
        assert (out / "figures" / name).exists()
    epoch = [r for r in read_log(out) if r["event"] == "epoch"][0]
    for key in ("val_accuracy", "val_sensitivity", "val_specificity", "val_auc", "val_f1"):
        assert key in epoch


@pytest.mark.parametrize("argv, message", [
    (["--data", "no/such/folder"], "no/such/folder"),
    (["--size", "50"], "multiple of 16"),
    (["--epochs", "0"], "positive integer"),
    (["--lr", "nan"], "positive finite"),
])
def test_bad_arguments_are_one_line_and_exit_code_2(train_resunet, tmp_path, argv, message,
                                                    capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(train_resunet, argv + ["--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) <= 2


def test_gpu_without_cupy_says_so(train_resunet, tmp_path, capsys, without_cupy):
    with pytest.raises(SystemExit) as exit_info:
        run(train_resunet, ["--device", "gpu", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "gpu" in err and ("CuPy" in err or "CUDA" in err or "GPU" in err)


def test_weights_that_do_not_fit_are_a_clean_error(train_classifier, mri_folder, tmp_path,
                                                   capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{"conv1.weight": np.zeros((3, 3, 3, 3), np.float32)})
    with pytest.raises(SystemExit) as exit_info:
        run(train_classifier, cls_args(mri_folder, tmp_path / "o", "--weights", str(bad)))
    assert exit_info.value.code == 2
    assert "bad.npz" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["train_resunet", "train_classifier"])
def test_help_explains_every_flag(script):
    result = subprocess.run([sys.executable, str(EXAMPLES / f"{script}.py"), "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for flag in ("--data", "--device", "--size", "--epochs", "--batch-size", "--lr", "--out",
                 "--resume", "--seed", "--split"):
        assert flag in result.stdout
    parser = load_script(script).build_parser()
    undocumented = [a.option_strings for a in parser._actions if not a.help]
    assert not undocumented


@pytest.mark.parametrize("script", ["train_resunet", "train_classifier", "predict", "evaluate",
                                    "export_model", "crossval", "convert_weights"])
def test_every_example_runs_from_a_clone_without_installing_tinynet(script, tmp_path):
    """``python -S`` skips site-packages' .pth files, so the editable install of tinynet is
    not seen; NumPy & co. come from PYTHONPATH.  The script must find the repository's own
    tinynet (run from another folder, so that the current one does not help)."""
    import numpy
    import PIL
    import scipy
    import tqdm
    folders = {str(Path(m.__file__).resolve().parents[1]) for m in (numpy, scipy, PIL, tqdm)}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sorted(folders)))
    probe = subprocess.run([sys.executable, "-S", "-c", "import tinynet"], env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    if probe.returncode == 0:
        pytest.skip("tinynet is installed into site-packages here (not an editable install)")
    result = subprocess.run([sys.executable, "-S", str(EXAMPLES / f"{script}.py"), "--help"],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")


HIDE_PILLOW_AND_TQDM = "import sys; sys.modules['PIL'] = sys.modules['tqdm'] = None; "


def test_the_application_says_which_of_its_dependencies_is_missing():
    """Pillow and tqdm are imported at their first use: the first use says what is missing."""
    code = HIDE_PILLOW_AND_TQDM + ("import numpy as np; from tinynet.mri import data; "
                                   "data.resize_image(np.zeros((4, 4, 3), np.uint8), 2)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        "ImportError: tinynet.mri needs Pillow and tqdm")


@pytest.mark.parametrize("script", ["train_resunet", "train_classifier", "predict", "evaluate",
                                    "crossval"])
def test_help_needs_neither_pillow_nor_tqdm(script):
    """A clone used with a Python that has only NumPy and SciPy still prints --help."""
    code = HIDE_PILLOW_AND_TQDM + (f"sys.argv = ['{script}', '--help']; import runpy; "
                                   f"runpy.run_path({str(EXAMPLES / f'{script}.py')!r}, "
                                   "run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")


def test_patients_left_out_by_the_split_are_announced(train_resunet, mri_folder, tmp_path,
                                                      capsys):
    patients = sorted(p.name for p in mri_folder.iterdir())
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": patients[:3], "val": patients[3:4]}))
    assert run(train_resunet, seg_args(mri_folder, tmp_path / "o", "--epochs", "1",
                                       "--split", str(split))) == 0
    assert "1 patient(s) of the data are on neither side of the split" in capsys.readouterr().err


def test_resume_from_a_file_that_is_not_a_run_state_is_one_line(train_resunet, uninterrupted,
                                                                tmp_path, capsys):
    not_npz = tmp_path / "notes.npz"
    not_npz.write_text("hello")
    for path, message in ((uninterrupted / "best.npz", "not a last.npz"),
                          (not_npz, "notes.npz")):
        with pytest.raises(SystemExit) as exit_info:
            run(train_resunet, ["--resume", str(path)])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_a_fresh_run_refuses_a_folder_that_holds_a_run(train_resunet, mri_folder, uninterrupted,
                                                       capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(train_resunet, seg_args(mri_folder, uninterrupted))
    assert exit_info.value.code == 2
    assert "already holds a run" in capsys.readouterr().err


def test_resume_with_the_other_script_says_which_script(train_classifier, uninterrupted, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run(train_classifier, ["--resume", str(uninterrupted / "last.npz")])
    assert exit_info.value.code == 2
    assert "train_resunet.py" in capsys.readouterr().err


def test_read_spec_gives_the_spec_of_best_npz(uninterrupted):
    from tinynet.mri.checkpoint import read_spec
    assert read_spec(uninterrupted / "best.npz") == load_model(uninterrupted / "best.npz")[1]


def test_train_classifier_parses_width():
    """--width is a positive integer option of train_classifier.py, default 64."""
    parser = load_script("train_classifier").build_parser()
    assert parser.parse_args([]).width == 64
    assert parser.parse_args(["--width", "32"]).width == 32
    for bad in ("0", "-3", "2.5"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--width", bad])
    assert parser.parse_args(["--intensity", "slice"]).intensity == "slice"
    with pytest.raises(SystemExit):
        parser.parse_args(["--intensity", "patient"])


@pytest.mark.parametrize("script_name, args", [("train_resunet", seg_args),
                                               ("train_classifier", cls_args)])
def test_val_fraction_0_trains_on_every_patient_and_keeps_the_last_epoch(
        script_name, args, mri_folder, tmp_path, capsys):
    """A final model (--val-fraction 0): no validation pass, every patient in training,
    best.npz = the last epoch's weights, and the run resumes like any other."""
    script = load_script(script_name)
    out = tmp_path / "all"
    assert run(script, args(mri_folder, out, "--val-fraction", "0", "--epochs", "1")) == 0
    split = json.loads((out / "split.json").read_text())
    assert split["val"] == [] and len(split["train"]) == 5
    assert run(script, ["--resume", str(out / "last.npz"), "--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "train 5 patients / 30 slices, no validation" in printed
    assert "no validation patients: best.npz is the last epoch (2)" in printed
    epochs = [r for r in read_log(out) if r["event"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2] and all(r["best"] for r in epochs)
    assert not any(key.startswith("val_") for r in epochs for key in r)
    assert [r for r in read_log(out) if r["event"] == "finished"][-1]["best"] == \
        {"epoch": 2, "value": None}
    assert_same_weights(out / "best.npz", out / "last.npz")
    with Image.open(out / "figures" / "curves.png") as figure:      # the loss curve alone
        assert figure.size[0] > 100 and figure.size[1] > 100


def test_a_split_file_with_an_empty_val_list_trains_without_validation(mri_folder, tmp_path,
                                                                        capsys):
    split = tmp_path / "split.json"
    patients = sorted(p.name for p in mri_folder.iterdir())
    split.write_text(json.dumps({"train": patients, "val": []}))
    out = tmp_path / "run"
    script = load_script("train_resunet")
    assert run(script, seg_args(mri_folder, out, "--split", str(split), "--epochs", "1")) == 0
    assert "no validation" in capsys.readouterr().out


def test_val_fraction_0_with_a_split_that_has_validation_patients_is_refused(
        mri_folder, uninterrupted, tmp_path, capsys):
    """A final model must not train on 80% of the patients because an old split was given."""
    script = load_script("train_resunet")
    with pytest.raises(SystemExit) as exit_info:
        run(script, seg_args(mri_folder, tmp_path / "run", "--val-fraction", "0",
                             "--split", str(uninterrupted / "split.json")))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--val-fraction 0 asks for no validation, but the split" in err
    assert "split.json holds 1 validation patient(s)" in err


@pytest.mark.parametrize("loss, flags, alpha", [
    ("focal_tversky", ["--tversky-alpha", "0.9"], 0.9),
    ("focal_tversky", [], 0.7),
    ("tversky", ["--loss", "tversky", "--tversky-alpha", "0.6"], 0.6),
])
def test_the_tversky_alpha_reaches_the_loss(train_resunet, mri_folder, tmp_path, monkeypatch,
                                            loss, flags, alpha):
    """--tversky-alpha A: false negatives weigh A and false positives 1 - A in the loss that
    training and validation compute."""
    real = tn.ops.tversky_loss if loss == "tversky" else tn.ops.focal_tversky_loss
    seen = []

    def recording(*args, **kwargs):
        seen.append((kwargs["alpha"], kwargs["beta"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(train_resunet.ops, real.__name__, recording)
    assert run(train_resunet, seg_args(mri_folder, tmp_path / "run", "--epochs", "1",
                                       *flags)) == 0
    assert seen and all(a == alpha and b == pytest.approx(1 - alpha) for a, b in seen)
    config = load_checkpoint(tmp_path / "run" / "last.npz")["metadata"]["run"]["config"]
    assert config["tversky_alpha"] == alpha


def test_a_bad_tversky_alpha_is_one_line(train_resunet, mri_folder, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        run(train_resunet, seg_args(mri_folder, tmp_path / "run", "--tversky-alpha", "1.5"))
    assert stopped.value.code == 2
    assert "argument --tversky-alpha: must be in [0, 1], got 1.5" in capsys.readouterr().err


def test_a_run_saved_before_tversky_alpha_resumes_with_0_7(train_resunet, mri_folder, tmp_path,
                                                           monkeypatch):
    out = tmp_path / "old"
    assert run(train_resunet, seg_args(mri_folder, out, "--epochs", "1")) == 0
    saved = load_checkpoint(out / "last.npz")
    del saved["metadata"]["run"]["config"]["tversky_alpha"]      # as an older run wrote it
    tn.io.save_checkpoint(out / "last.npz", saved["model"], saved["optimizer"], saved["epoch"],
                          saved["metadata"], **saved["extra"])
    seen = []
    real = tn.ops.focal_tversky_loss

    def recording(*args, **kwargs):
        seen.append(kwargs["alpha"])
        return real(*args, **kwargs)

    monkeypatch.setattr(train_resunet.ops, "focal_tversky_loss", recording)
    assert run(train_resunet, ["--resume", str(out / "last.npz"), "--epochs", "2"]) == 0
    assert seen and set(seen) == {0.7}
