"""Ensembles of cross-validations: fold k's models of several runs averaged into one.

Two runs of one recipe trained with different ``--seed``s on the same folds make,
fold by fold, an ensemble that never saw the fold's held-out patients either, so
the ensemble recipe is cross-validated like any other::

    tinynet crossval ensemble runs/cv/seg-seed0 runs/cv/seg-seed1 --out runs/cv/seg-2seeds
    tinynet crossval compare runs/cv/seg-seed0 runs/cv/seg-2seeds

The folder written looks like one that ``crossval train`` finished, so ``score``,
``tune`` and ``compare`` take it as they take any run::

    crossval.json   the first run's settings (the data and folds every run shares), with
                    "ensemble_of": the runs' folders, "member_train_args": each run's
                    training flags (what tells the members apart, e.g. their --seed), and
                    "epochs" the fewest any was set to
    folds.json      the folds (the same in every run, or nothing is written)
    fold-k/last.npz an ensemble checkpoint (``checkpoint.export_ensemble``, float32) of the
                    runs' fold-k/last.npz; best.npz likewise of their best.npz

The members are averaged as ``ensemble.Ensemble`` does: the mean of their probabilities.

``folds=[1, 2]`` (``--fold``) makes only those folds' ensembles, for a look before the
runs have finished every fold: only those folds need to have finished, and they are
scored and tuned with ``crossval score/tune --fold``.  Run it again when the rest
have finished.
"""
import json
import os

import numpy as np

from tinynet.io import atomic_write_text
from .. import data as tndata
from ..checkpoint import ensemble_spec, export_ensemble, read_spec
from ..cli import UsageError
from ..run import BEST, LAST
from .training import ENSEMBLE_EPOCHS, FOLDS, SETTINGS, fold_folder, is_finished, read_settings

__all__ = ["ensemble_runs", "is_ensemble"]


def is_ensemble(settings):
    """Whether a cross-validation's settings (crossval.json) are those of ``ensemble_runs``."""
    return bool(settings.get("ensemble_of"))


def ensemble_runs(run_folders, out, folds=None):
    """Write the ensemble of the cross-validations ``run_folders`` into ``out``: its settings.

    Every run must be a finished cross-validation of the same model and network on the same
    folds (UsageError or CheckpointError naming the run or file that is not, before anything
    is written); an ensemble is not a member (give its runs).  ``out`` must be a new folder
    or an earlier ensemble, never a training run.  ``folds``: only these fold numbers
    (only they need to have finished); None, every fold.
    """
    folders = [os.path.abspath(folder) for folder in run_folders]
    if len(folders) < 2:
        raise UsageError("an ensemble needs two or more runs")
    real = [_real(folder) for folder in folders]
    if len(set(real)) < len(real):
        raise UsageError("a run is given twice; an ensemble's runs must differ")
    if _real(out) in real:
        raise UsageError(f"--out {out} is one of the runs; choose another folder")
    _check_out(out)
    settings = [_finished_member(folder, folds) for folder in folders]
    all_folds = _same_folds(folders, settings)
    chosen = _chosen_folds(all_folds, folds)
    for entry in chosen:                # every member file checked before one is written
        for name in (LAST, BEST):
            members = _member_files(folders, entry["fold"], name)
            ensemble_spec([read_spec(member) for member in members], members)
    # The fold folders must look finished to is_finished: their checkpoints record the
    # epochs the runs were set to train (``training.fold_epochs`` reads it).
    epochs = min(entry["config"]["epochs"] for entry in settings)
    os.makedirs(out, exist_ok=True)
    tndata.save_folds(os.path.join(out, FOLDS), all_folds)
    for entry in chosen:
        folder = fold_folder(out, entry["fold"])
        os.makedirs(folder, exist_ok=True)
        for name in (LAST, BEST):
            export_ensemble(_member_files(folders, entry["fold"], name),
                            os.path.join(folder, name), dtype=np.float32,
                            metadata={ENSEMBLE_EPOCHS: epochs})
    # The first run's settings (its data and folds are every run's), with the runs named
    # and each one's flags, so that the file does not read as if only the first trained.
    ensemble_settings = {**settings[0], "ensemble_of": folders,
                         "member_train_args": [entry["train_args"] for entry in settings],
                         "config": {**settings[0]["config"], "epochs": epochs}}
    atomic_write_text(os.path.join(out, SETTINGS),
                      json.dumps(ensemble_settings, indent=2) + "\n")
    return ensemble_settings


def _member_files(folders, fold, name):
    """Fold ``fold``'s checkpoint ``name`` (last.npz or best.npz) of each run in ``folders``."""
    return [os.path.join(fold_folder(run, fold), name) for run in folders]


def _real(folder):
    """One spelling of a folder (links resolved), to tell whether two paths are the same."""
    return os.path.normcase(os.path.realpath(folder))


def _check_out(out):
    """UsageError if ``out`` holds a training run (its checkpoints would be overwritten)."""
    if os.path.exists(os.path.join(out, SETTINGS)) and not is_ensemble(read_settings(out)):
        raise UsageError(f"--out {out} holds a cross-validation run, not an ensemble; choose "
                         "another folder")
    if os.path.isdir(out) and not os.path.exists(os.path.join(out, SETTINGS)) and \
            any(name.startswith("fold-") for name in os.listdir(out)):
        raise UsageError(f"--out {out} holds fold folders but no {SETTINGS}; choose another "
                         "folder")


def _finished_member(folder, folds=None):
    """The settings of ``folder``, a cross-validation that is not an ensemble, whose folds
    ``folds`` (None: all) have finished."""
    settings = read_settings(folder)
    if is_ensemble(settings):
        raise UsageError(f"{folder} is an ensemble already; give the runs it was made of")
    epochs, n_splits = settings["config"]["epochs"], settings["n_splits"]
    wanted = folds if folds is not None else range(1, n_splits + 1)
    unknown = [k for k in wanted if not 1 <= k <= n_splits]
    if unknown:
        raise UsageError(f"{folder} has folds 1 to {n_splits}, not {unknown[0]}")
    unfinished = [k for k in wanted if not is_finished(fold_folder(folder, k), epochs)]
    if unfinished:
        raise UsageError(f"{folder}: fold(s) {', '.join(map(str, unfinished))} have not "
                         f"finished their {epochs} epochs; an ensemble takes finished runs")
    return settings


def _chosen_folds(all_folds, folds):
    """The entries of ``all_folds`` numbered in ``folds`` (None: all)."""
    return [entry for entry in all_folds["folds"] if folds is None or entry["fold"] in folds]


def _same_folds(folders, settings):
    """The runs' common folds; UsageError if they are of different models or folds."""
    first_model = settings[0]["model"]
    for folder, entry in zip(folders[1:], settings[1:]):
        if entry["model"] != first_model:
            raise UsageError(f"{folder} is a {entry['model']} run and {folders[0]} a "
                             f"{first_model} run; an ensemble's runs are of one model")
    folds = [tndata.load_folds(os.path.join(folder, FOLDS)) for folder in folders]
    for folder, entry in zip(folders[1:], folds[1:]):
        if entry["folds"] != folds[0]["folds"]:
            raise UsageError(f"{folder} was trained on other folds than {folders[0]}; fold "
                             "k's members must hold out the same patients (train them with "
                             "the same --folds FILE)")
    return folds[0]
