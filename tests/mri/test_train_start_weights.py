"""--weights FILE of the training scripts (experiment.start_weights): a new run that starts
from a checkpoint's weights, e.g. fine-tuning at 256x256 a model trained at 128x128, and
the cross-validation's --weights-from RUN, which does it fold by fold.

The start is checked by training with a learning rate so small (1e-12) that Adam's steps
(about lr each) cannot move a weight measurably: the trained parameters must then be the
checkpoint's, and not those of a run started from random weights.
"""
import json

import numpy as np
import pytest

from test_train_scripts import (cls_args, mri_folder, model_arrays, read_log, run,  # noqa: F401
                                seg_args, train_classifier, train_resunet)
from tinynet.io import load_checkpoint
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


def test_resuming_a_fine_tuned_run_keeps_its_weights(train_resunet, mri_folder, segmenter,
                                                     tmp_path):  # noqa: F811
    """--resume takes the weights from last.npz, not from --weights again."""
    tuned = tmp_path / "tuned"
    argv = seg_args(mri_folder, tuned, "--intensity", "volume", "--weights",
                    str(segmenter / "last.npz"), "--epochs", "1")
    assert run(train_resunet, argv) == 0
    after_one = load_checkpoint(tuned / "last.npz")["model"]
    assert run(train_resunet, ["--resume", str(tuned / "last.npz"), "--epochs", "1"]) == 0
    again = load_checkpoint(tuned / "last.npz")["model"]
    assert max_difference(after_one, again) == 0


# ---------------------------------------------------------------------------
# crossval train --weights-from
# ---------------------------------------------------------------------------

SEG_FLAGS = ["--size", "32", "--batch-size", "4", "--base", "4", "--prefetch", "1"]


@pytest.fixture(scope="module")
def first_crossval(mri_folder, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("cv") / "seg"
    settings = crossval.prepare(out, "segmenter", mri_folder, [*SEG_FLAGS, "--epochs", "1"],
                                n_splits=2)
    assert crossval.train_folds(settings, out) == 0
    return out


def test_each_fold_fine_tunes_its_own_folds_model(mri_folder, first_crossval,
                                                  tmp_path):  # noqa: F811
    out = tmp_path / "tuned"
    settings = crossval.prepare(out, "segmenter", mri_folder,
                                [*SEG_FLAGS, "--size", "48", *FROZEN],
                                folds_path=first_crossval / "folds.json",
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
    # run again, the source must stay the same
    with pytest.raises(UsageError, match="weights_from"):
        crossval.prepare(out, "segmenter", mri_folder, [*SEG_FLAGS, "--size", "48", *FROZEN])


def test_weights_from_other_folds_or_an_unfinished_run_is_refused(mri_folder, first_crossval,
                                                                  tmp_path):  # noqa: F811
    flags = [*SEG_FLAGS, "--epochs", "1"]
    with pytest.raises(UsageError, match="other folds"):
        crossval.prepare(tmp_path / "a", "segmenter", mri_folder, flags, n_splits=3,
                         weights_from=first_crossval)
    with pytest.raises(UsageError, match="cross-validation of the segmenter"):
        crossval.prepare(tmp_path / "b", "classifier", mri_folder,
                         ["--size", "32", "--width", "8", "--epochs", "1"],
                         folds_path=first_crossval / "folds.json", weights_from=first_crossval)
    with pytest.raises(UsageError, match="leave --weights out"):
        crossval.prepare(tmp_path / "c", "segmenter", mri_folder,
                         [*flags, "--weights", str(first_crossval / "fold-1" / "last.npz")],
                         folds_path=first_crossval / "folds.json", weights_from=first_crossval)
    unfinished = tmp_path / "unfinished"
    crossval.prepare(unfinished, "segmenter", mri_folder, flags,
                     folds_path=first_crossval / "folds.json")
    with pytest.raises(UsageError, match="fold 1 has not finished"):
        crossval.prepare(tmp_path / "d", "segmenter", mri_folder, flags,
                         folds_path=first_crossval / "folds.json", weights_from=unfinished)
