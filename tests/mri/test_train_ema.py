"""--ema DECAY in the training scripts: the checkpoints hold the exponential moving average of
the weights, last.npz also the trained weights, and a run stopped by Ctrl-C mid-epoch resumes
to exactly the weights (averaged and trained) of the uninterrupted run."""
import signal

import numpy as np
import pytest

from tinynet.io import load_checkpoint
from tinynet.optim import swa_utils
from test_train_scripts import (  # noqa: F401  (mri_folder is a fixture)
    assert_same_weights, cls_args, load_script, mri_folder, run, seg_args)


@pytest.fixture(scope="module")
def train_resunet():
    return load_script("train_resunet")


@pytest.fixture(scope="module")
def with_ema(train_resunet, mri_folder, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("ema")
    assert run(train_resunet, seg_args(mri_folder, out, "--ema", "0.9")) == 0
    return out


def test_checkpoints_hold_the_average_and_last_also_the_trained_weights(with_ema):
    last = load_checkpoint(with_ema / "last.npz")
    average, trained = last["model"], {k[len("trained/"):]: v for k, v in last["extra"].items()}
    assert list(average) == list(trained)
    assert any(not np.array_equal(average[k], trained[k]) for k in average)
    steps = last["metadata"]["run"]["step"]
    assert last["metadata"]["run"]["n_averaged"] == steps    # one update per step
    # best.npz (the best epoch's average) is loadable for prediction like any checkpoint
    assert set(load_checkpoint(with_ema / "best.npz")["model"]) == set(average)


def test_the_average_is_the_ema_of_the_trained_weights(train_resunet, mri_folder, tmp_path,
                                                        monkeypatch):  # noqa: F811
    """The run's average equals an AveragedModel fed the model after every step."""
    seen = []
    real = swa_utils.AveragedModel.update_parameters

    def record(self, model):
        seen.append({k: np.array(v) for k, v in model.state_dict().items()})
        return real(self, model)

    monkeypatch.setattr(swa_utils.AveragedModel, "update_parameters", record)
    out = tmp_path / "recorded"
    assert run(train_resunet, seg_args(mri_folder, out, "--ema", "0.8", "--epochs", "1")) == 0
    decay = 0.8
    expected = dict(seen[0])
    for state in seen[1:]:
        for key, value in state.items():
            if value.dtype.kind == "f":
                expected[key] = expected[key] + (1 - decay) * (value - expected[key])
            else:        # counters: PyTorch's formula, truncated into the integer
                expected[key] = np.trunc(expected[key] * decay + value * (1 - decay))
    saved = load_checkpoint(out / "last.npz")["model"]
    for key, value in saved.items():
        np.testing.assert_allclose(value, expected[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_ctrl_c_mid_epoch_then_resume_equals_uninterrupted(train_resunet, mri_folder,
                                                           tmp_path, with_ema,
                                                           monkeypatch):  # noqa: F811
    out = tmp_path / "interrupted"
    focal = train_resunet.LOSSES["focal_tversky"]
    calls = []

    def press_ctrl_c_at_third_step(logits, masks, **options):
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)
        return focal(logits, masks, **options)

    monkeypatch.setitem(train_resunet.LOSSES, "focal_tversky", press_ctrl_c_at_third_step)
    assert run(train_resunet, seg_args(mri_folder, out, "--ema", "0.9")) == 130
    monkeypatch.setitem(train_resunet.LOSSES, "focal_tversky", focal)
    assert run(train_resunet, ["--resume", str(out / "last.npz")]) == 0
    assert_same_weights(out / "last.npz", with_ema / "last.npz")
    ours, reference = (load_checkpoint(p / "last.npz")["extra"] for p in (out, with_ema))
    for key in reference:
        np.testing.assert_array_equal(ours[key], reference[key], err_msg=key)


@pytest.mark.parametrize("value", ["1", "-0.1", "1.5", "x"])
def test_a_bad_decay_is_a_usage_error(train_resunet, mri_folder, tmp_path, capsys,
                                      value):  # noqa: F811
    with pytest.raises(SystemExit) as exit_info:
        run(train_resunet, seg_args(mri_folder, tmp_path / "bad", "--ema", value))
    assert exit_info.value.code == 2
    assert "--ema" in capsys.readouterr().err


def test_the_classifier_takes_ema_too(mri_folder, tmp_path):  # noqa: F811
    train_classifier = load_script("train_classifier")
    out = tmp_path / "cls"
    assert run(train_classifier, cls_args(mri_folder, out, "--ema", "0.9", "--width",
                                          "8")) == 0
    last = load_checkpoint(out / "last.npz")
    assert last["metadata"]["run"]["n_averaged"] == last["metadata"]["run"]["step"]
    assert any(k.startswith("trained/") for k in last["extra"])
