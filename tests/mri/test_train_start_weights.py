"""--weights FILE of the training scripts (experiment.start_weights): a new run that starts
from a checkpoint's weights, e.g. fine-tuning at 256x256 a model trained at 128x128, and
the cross-validation's --weights-from RUN, which does it fold by fold.

The start is checked by training with a learning rate so small (1e-12) that Adam's steps
(about lr each) cannot move a weight measurably: the trained parameters must then be the
checkpoint's, and not those of a run started from random weights.
"""
import json
import signal

import numpy as np
import pytest

from test_train_scripts import (assert_same_weights, cls_args, mri_folder,  # noqa: F401
                                model_arrays, read_log, run, seg_args, train_classifier,
                                train_resunet)
from tinynet.mri import crossval
from tinynet.mri.checkpoint import export_model, read_spec
from tinynet.mri.cli import UsageError

FROZEN = ["--lr", "1e-12", "--epochs", "1"]


def parameters_of(path):
    """The checkpoint's trainable weights (batch norm's running statistics left out: they
    move with every forward pass in training, whatever the learning rate)."""
    return {key: value for key, value in model_arrays(path).items()
            if not key.endswith(("running_mean", "running_var", "num_batches_tracked"))}


def max_difference(a, b):
    assert list(a) == list(b)
    return max(float(np.abs(a[key].astype(np.float64) - b[key]).max()) for key in a)


@pytest.fixture(scope="module")
def segmenter(train_resunet, mri_folder, tmp_path_factory):  # noqa: F811
    """A segmenter trained 2 epochs at 32x32 (--intensity volume)."""
    out = tmp_path_factory.mktemp("segmenter")
    assert run(train_resunet, seg_args(mri_folder, out, "--intensity", "volume")) == 0
    return out


def test_a_segmenter_fine_tuned_at_another_size_starts_from_the_checkpoint(
        train_resunet, mri_folder, segmenter, tmp_path):  # noqa: F811
    start = parameters_of(segmenter / "last.npz")
    tuned = tmp_path / "tuned"
    argv = seg_args(mri_folder, tuned, "--intensity", "volume", "--size", "48",
                    "--weights", str(segmenter / "last.npz"), *FROZEN)
    assert run(train_resunet, argv) == 0
    assert read_spec(tuned / "best.npz")["input_size"] == 48
    assert max_difference(start, parameters_of(tuned / "last.npz")) < 1e-8
    # the control: the same run from random weights (the same seed, so the checkpoint's own
    # initial weights) is 2 epochs of Adam at lr 1e-3 away from the checkpoint
    fresh = tmp_path / "fresh"
    argv = seg_args(mri_folder, fresh, "--intensity", "volume", "--size", "48", *FROZEN)
    assert run(train_resunet, argv) == 0
    assert max_difference(start, parameters_of(fresh / "last.npz")) > 1e-4
    # the start is a setting of the run, kept in its log
    first = read_log(tuned)[0]
    assert first["config"]["weights"] == str(segmenter / "last.npz")


def test_an_exported_float16_model_can_start_a_run(train_resunet, mri_folder, segmenter,
                                                   tmp_path):  # noqa: F811
    exported = tmp_path / "exported.npz"
    export_model(segmenter / "best.npz", exported)
    tuned = tmp_path / "tuned"
    argv = seg_args(mri_folder, tuned, "--intensity", "volume", "--weights", str(exported),
                    *FROZEN)
    assert run(train_resunet, argv) == 0
    weights = parameters_of(tuned / "last.npz")
    assert all(w.dtype == np.float32 for w in weights.values())
    assert max_difference(parameters_of(exported), weights) < 1e-8


@pytest.mark.parametrize("flags, words", [
    (["--intensity", "slice"], ["--intensity volume", "--intensity slice"]),
    (["--intensity", "volume", "--base", "8"], ["'base': 4", "'base': 8"]),
    (["--intensity", "volume", "--context", "1"], ["--context 0", "--context 1"]),
])
def test_weights_trained_on_other_inputs_or_another_network_are_refused(
        train_resunet, mri_folder, segmenter, tmp_path, capsys, flags, words):  # noqa: F811
    argv = seg_args(mri_folder, tmp_path / "o", *flags, "--weights",
                    str(segmenter / "best.npz"))
    with pytest.raises(SystemExit) as exit_info:
        run(train_resunet, argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "best.npz" in err and "only --size may differ" in err
    for word in words:
        assert word in err
    assert not (tmp_path / "o" / "last.npz").exists()


def test_a_segmenter_checkpoint_does_not_start_a_classifier(train_classifier, mri_folder,
                                                            segmenter, tmp_path,
                                                            capsys):  # noqa: F811
    argv = cls_args(mri_folder, tmp_path / "o", "--intensity", "volume", "--weights",
                    str(segmenter / "best.npz"))
    with pytest.raises(SystemExit) as exit_info:
        run(train_classifier, argv)
    assert exit_info.value.code == 2
    assert "it is a resunet, this run builds a resnet18" in capsys.readouterr().err


def test_a_context_classifier_starts_from_its_own_checkpoint(train_classifier, mri_folder,
                                                             tmp_path):  # noqa: F811
    """A checkpoint of --context 1 already has the 9-channel stem: loaded as it is (ImageNet's
    3-channel weights are the ones inflated)."""
    first = tmp_path / "first"
    flags = ["--width", "8", "--context", "1"]
    assert run(train_classifier, cls_args(mri_folder, first, *flags)) == 0
    tuned = tmp_path / "tuned"
    argv = cls_args(mri_folder, tuned, *flags, "--size", "40", "--weights",
                    str(first / "last.npz"), "--lr", "1e-12")
    assert run(train_classifier, argv) == 0
    assert max_difference(parameters_of(first / "last.npz"),
                          parameters_of(tuned / "last.npz")) < 1e-8


def test_a_fine_tuned_run_resumes_without_its_start_file(train_resunet, mri_folder, segmenter,
                                                         tmp_path, monkeypatch):  # noqa: F811
    """Stopped by Ctrl-C after its first epoch, a fine-tuning run continues from last.npz
    alone (the start file may be gone) to exactly the weights of the same run without a
    stop."""
    start = tmp_path / "start.npz"
    start.write_bytes((segmenter / "last.npz").read_bytes())
    flags = ["--intensity", "volume", "--weights", str(start)]
    whole = tmp_path / "whole"
    assert run(train_resunet, seg_args(mri_folder, whole, *flags)) == 0      # 2 epochs
    real_validate = train_resunet.validate_segmenter

    def validate_and_press_ctrl_c(*args):
        signal.raise_signal(signal.SIGINT)          # during the first validation pass
        return real_validate(*args)

    monkeypatch.setattr(train_resunet, "validate_segmenter", validate_and_press_ctrl_c)
    stopped = tmp_path / "stopped"
    assert run(train_resunet, seg_args(mri_folder, stopped, *flags)) == 130
    monkeypatch.setattr(train_resunet, "validate_segmenter", real_validate)
    start.unlink()
    assert run(train_resunet, ["--resume", str(stopped / "last.npz")]) == 0
    assert_same_weights(whole / "last.npz", stopped / "last.npz")


def test_a_state_dict_without_a_spec_starts_a_run_as_it_is(train_resunet, mri_folder, segmenter,
                                                            tmp_path):  # noqa: F811
    """A plain .npz of arrays (as from another program) has no spec to check: loaded strictly
    by name and shape."""
    plain = tmp_path / "plain.npz"
    np.savez(plain, **model_arrays(segmenter / "last.npz"))
    tuned = tmp_path / "tuned"
    argv = seg_args(mri_folder, tuned, "--weights", str(plain), *FROZEN)     # no --intensity
    assert run(train_resunet, argv) == 0
    assert max_difference(parameters_of(segmenter / "last.npz"),
                          parameters_of(tuned / "last.npz")) < 1e-8


def test_a_state_dict_of_another_network_is_one_line(train_resunet, mri_folder, segmenter,
                                                     tmp_path, capsys):  # noqa: F811
    plain = tmp_path / "plain.npz"
    np.savez(plain, **model_arrays(segmenter / "last.npz"))
    with pytest.raises(SystemExit) as exit_info:
        run(train_resunet, seg_args(mri_folder, tmp_path / "o", "--base", "8", "--weights",
                                    str(plain)))
    assert exit_info.value.code == 2
    assert "--weights " + str(plain) in capsys.readouterr().err


# ---------------------------------------------------------------------------
# crossval train --weights-from
# ---------------------------------------------------------------------------

SEG_FLAGS = ["--batch-size", "4", "--base", "4", "--prefetch", "1"]


@pytest.fixture(scope="module")
def first_crossval(mri_folder, tmp_path_factory):  # noqa: F811
    """A 2-fold cross-validation of the segmenter, 1 epoch a fold at 32x32."""
    out = tmp_path_factory.mktemp("cv") / "seg"
    settings = crossval.prepare(out, "segmenter", mri_folder,
                                [*SEG_FLAGS, "--size", "32", "--epochs", "1"], n_splits=2)
    assert crossval.train_folds(settings, out) == 0
    return out


def test_each_fold_fine_tunes_its_own_folds_model(mri_folder, first_crossval,
                                                  tmp_path):  # noqa: F811
    out = tmp_path / "tuned"
    flags = [*SEG_FLAGS, "--size", "48", *FROZEN]
    folds = first_crossval / "folds.json"
    settings = crossval.prepare(out, "segmenter", mri_folder, flags, folds_path=folds,
                                weights_from=first_crossval)
    assert crossval.train_folds(settings, out, folds=[1]) == 0
    # run again (the same command): fold 1 is skipped, fold 2 starts from its own start
    settings = crossval.prepare(out, "segmenter", mri_folder, flags, folds_path=folds,
                                weights_from=first_crossval)
    assert crossval.train_folds(settings, out) == 0
    for fold in (1, 2):
        start = first_crossval / f"fold-{fold}" / "last.npz"
        tuned = out / f"fold-{fold}"
        assert read_log(tuned)[0]["config"]["weights"] == str(start)
        assert max_difference(parameters_of(start), parameters_of(tuned / "last.npz")) < 1e-8
        # each fold holds out the same patients as the fold it started from
        split = json.loads((tuned / "split.json").read_text())
        assert split == json.loads((start.parent / "split.json").read_text())
    # an interrupted fold resumes from its own last.npz, not from the start weights
    command = crossval.fold_command(settings, out, 1)
    assert "--resume" in command and "--weights" not in command
    # run again without --weights-from: refused, it would change the recipe
    with pytest.raises(UsageError, match="was trained with --weights-from"):
        crossval.prepare(out, "segmenter", mri_folder, flags, folds_path=folds)


def test_one_trained_checkpoint_for_every_fold_is_refused(mri_folder, first_crossval,
                                                          tmp_path):  # noqa: F811
    """It has seen patients that folds hold out; ImageNet-like weights (no spec) are fine."""
    trained = first_crossval / "fold-1" / "last.npz"
    with pytest.raises(UsageError, match="Use --weights-from RUN"):
        crossval.prepare(tmp_path / "a", "segmenter", mri_folder,
                         [*SEG_FLAGS, "--size", "32", "--epochs", "1", "--weights", str(trained)],
                         folds_path=first_crossval / "folds.json")
    plain = tmp_path / "plain.npz"
    np.savez(plain, **model_arrays(trained))
    crossval.prepare(tmp_path / "b", "segmenter", mri_folder,
                     [*SEG_FLAGS, "--size", "32", "--epochs", "1", "--weights", str(plain)],
                     folds_path=first_crossval / "folds.json")


def test_weights_from_another_recipe_folds_or_an_unfinished_run_is_refused(
        mri_folder, first_crossval, tmp_path):  # noqa: F811
    flags = [*SEG_FLAGS, "--size", "32", "--epochs", "1"]
    folds = first_crossval / "folds.json"
    with pytest.raises(UsageError, match="other folds"):
        crossval.prepare(tmp_path / "a", "segmenter", mri_folder, flags, n_splits=3,
                         weights_from=first_crossval)
    with pytest.raises(UsageError, match="cross-validation of the segmenter"):
        crossval.prepare(tmp_path / "b", "classifier", mri_folder,
                         ["--size", "32", "--width", "8", "--epochs", "1"],
                         folds_path=folds, weights_from=first_crossval)
    with pytest.raises(UsageError, match="leave --weights out"):
        plain = tmp_path / "plain.npz"
        np.savez(plain, x=np.zeros(1))
        crossval.prepare(tmp_path / "c", "segmenter", mri_folder, [*flags, "--weights", str(plain)],
                         folds_path=folds, weights_from=first_crossval)
    with pytest.raises(UsageError, match="--intensity 'volume' \\(it used 'dataset'\\)"):
        crossval.prepare(tmp_path / "d", "segmenter", mri_folder,
                         [*flags, "--intensity", "volume"], folds_path=folds,
                         weights_from=first_crossval)
    with pytest.raises(UsageError, match="--weights-from .*not a cross-validation folder"):
        crossval.prepare(tmp_path / "e", "segmenter", mri_folder, flags, folds_path=folds,
                         weights_from=tmp_path)
    unfinished = tmp_path / "unfinished"
    crossval.prepare(unfinished, "segmenter", mri_folder, flags, folds_path=folds)
    settings = crossval.prepare(tmp_path / "f", "segmenter", mri_folder, flags, folds_path=folds,
                                weights_from=unfinished)
    with pytest.raises(UsageError, match="its fold 1 has not finished"):
        crossval.train_folds(settings, tmp_path / "f")
