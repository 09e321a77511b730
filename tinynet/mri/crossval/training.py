"""Training k folds: one run of a training script per fold, each resumable, in one folder.

What a cross-validation folder holds::

    folds.json      the folds (tinynet.mri.data.kfold_patients): who is held out when
    crossval.json   the model, the data and the training script's flags (``settings``)
    fold-1/ ...     fold k's training run: split.json (fold k as a --split file, written
    fold-k/         before training), then what the script writes (last.npz, best.npz,
                    log.jsonl, figures/)
    patients.json   the per-patient table of the held-out predictions (scoring.py),
    patients.csv    once every fold has finished

Each fold is an ordinary run of examples/train_resunet.py or train_classifier.py,
started as a child process (under ``--launcher``, e.g. ``mpiexec -n 2``, if asked)
with ``--split fold-k/split.json --out fold-k``.  Why a split file per fold rather
than new ``--folds FILE --fold K`` flags in the scripts: a fold *is* a train/val
split, the scripts already read one, and the file beside the run says which
patients it held out (``tinynet evaluate --split fold-k/split.json`` scores it).

Fine-tuning fold by fold (``weights_from``, ``crossval train --weights-from RUN``):
fold k starts from fold k's last.npz of an earlier cross-validation on the same folds
(``--weights``), e.g. the last epochs at 256x256 of models trained at 128x128.  The
earlier run must hold out the same patients in every fold, or a fold's start weights
would have seen the patients it is scored on.

Resuming is the scripts' own: a fold whose last.npz has trained every epoch is
skipped, one with an earlier last.npz is continued with ``--resume`` (the
scripts write last.npz at the end of every epoch and on Ctrl-C), one without is
started.  So a cross-validation killed at any moment and started again with the
same command loses at most the epoch in progress.  Ctrl-C reaches the child
too (the terminal signals the whole process group); this process waits for the
child to save its state, then stops with exit code 130.
"""
import importlib.util
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tinynet.io import atomic_write_text, load_checkpoint_metadata
from .. import data as tndata
from ..cli import UsageError
from ..experiment import OVERRIDABLE_ON_RESUME, explicit_arguments, pipeline_spec
from ..run import BEST, EXIT_INTERRUPTED, EXIT_NONFINITE, LAST

__all__ = ["MODELS", "FOLDS", "SETTINGS", "ENSEMBLE_EPOCHS", "fold_folder", "prepare", "open_data",
           "training_config", "read_settings", "read_json", "fold_epochs", "is_finished",
           "fold_command", "start_weights_of", "train_folds", "run_child", "launcher_words"]

#: The models a cross-validation trains, and the training script of each.
MODELS = {"segmenter": "train_resunet.py", "classifier": "train_classifier.py"}
#: Where the scripts are: examples/ of the repository (they are not installed with the wheel).
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

#: The exit code of a training script given bad flags or data (``cli.fail``).
EXIT_BAD_INPUT = 2

FOLDS = "folds.json"
SETTINGS = "crossval.json"
#: Flags of the training scripts that the cross-validation sets for every fold itself.
RESERVED = {"data": "the DATA argument", "out": "fold-K of --out", "split": "fold-K/split.json",
            "resume": "the fold's last.npz", "val_fraction": "the folds"}
#: Training flags that may change when a cross-validation is run again (as on --resume).
CHANGEABLE = tuple(key for key in OVERRIDABLE_ON_RESUME if key not in RESERVED)


def fold_folder(out, fold):
    """The run folder of fold ``fold`` (1..k) in the cross-validation folder ``out``."""
    return os.path.join(os.fspath(out), f"fold-{fold}")


# ---------------------------------------------------------------------------
# Setting a cross-validation folder up
# ---------------------------------------------------------------------------

def prepare(out, model, data, train_args, folds_path=None, n_splits=None, seed=None,
            weights_from=None):
    """Check the flags, make or read the folds, write ``crossval.json``: the settings dict.

    train_args : the training script's flags (a list of str), passed on to every fold
    folds_path : a fold file to use, made there from ``n_splits`` (default 5) and ``seed``
        (default 0) if it does not exist; default ``out/folds.json``, which always holds
        a copy.  An existing file must agree with ``n_splits`` and ``seed`` when given.

    weights_from : an earlier cross-validation folder of the same model and network on the
        same folds: fold k starts from its fold k's last.npz (``--weights``), which must have
        finished when fold k starts (``start_weights_of``)

    Run again on the same ``out``, the flags must be those of the first time, except
    the ones a resumed run may change (``CHANGEABLE``: ``--epochs``, ``--device``, ...):
    otherwise the folds of one cross-validation would be trained differently.
    """
    settings = {"model": model, "script": f"examples/{MODELS[model]}",
                "data": "phantom" if data in (None, "phantom") else os.path.abspath(data),
                "train_args": list(train_args), "config": training_config(model, train_args)}
    patients = open_data(settings).patients
    os.makedirs(out, exist_ok=True)
    folds = _folds_for(out, folds_path, patients, n_splits, seed)
    settings["n_splits"] = len(folds["folds"])
    settings["weights_from"] = _check_start_weights(settings, weights_from, folds)
    previous = os.path.join(out, SETTINGS)
    if os.path.exists(previous):
        before = read_settings(out)
        if before.get("ensemble_of"):     # (ensembles.is_ensemble, which imports this module)
            raise UsageError(f"{out} holds an ensemble (`crossval ensemble`), not a training "
                             "run; choose another --out")
        _check_same_run(before, settings, out)
    atomic_write_text(previous, json.dumps(settings, indent=2) + "\n")
    return settings


#: The training flags that make the network and its input: a fold of ``--weights-from``
#: must have been trained with the same ones (only --size and the schedule may differ).
NETWORK_FLAGS = ("arch", "width", "base", "context", "intensity")


def _check_start_weights(settings, source, folds):
    """The absolute path of ``source`` (``--weights-from``), a cross-validation of the same
    model and network on the same folds, or None; UsageError naming what does not fit.

    A pipeline checkpoint among the training flags (``--weights``) is refused: every fold
    would start from one model, trained on patients that some folds hold out."""
    weights = settings["config"].get("weights")
    if weights is not None and pipeline_spec(weights) is not None:
        raise UsageError(f"--weights {weights} is a checkpoint of a trained model: every fold "
                         "would start from it, and it has seen patients that folds hold out. "
                         "Use --weights-from RUN, which gives fold K its own fold's model")
    if source is None:
        return None
    if weights is not None:
        raise UsageError("--weights-from gives each fold its own start weights; leave "
                         "--weights out of the training flags after --")
    where = f"--weights-from {source}"
    try:
        before = read_settings(source)
        theirs = tndata.load_folds(os.path.join(source, FOLDS))["folds"]
    except (UsageError, tndata.DataError) as exc:
        raise UsageError(f"{where}: {exc}") from exc
    if before["model"] != settings["model"]:
        raise UsageError(f"{where} is a cross-validation of the {before['model']}, this one "
                         f"trains the {settings['model']}")
    if before.get("ensemble_of"):
        raise UsageError(f"{where} is an ensemble (`crossval ensemble`), which cannot be "
                         "trained on; start from one of its runs")
    if theirs != folds["folds"]:
        raise UsageError(f"{where} was trained on other folds than these; a fold's start "
                         "weights must not have seen the patients it holds out")
    differ = [f"--{key} {settings['config'].get(key)!r} (it used {before['config'].get(key)!r})"
              for key in NETWORK_FLAGS
              if settings["config"].get(key) != before["config"].get(key)]
    if differ:
        raise UsageError(f"{where} trained another network or input: {', '.join(differ)}; "
                         "give the flags it was trained with (only --size and the schedule "
                         "may differ)")
    return os.path.normcase(os.path.abspath(source))


def start_weights_of(settings, fold):
    """The last.npz that fold ``fold`` starts from under ``--weights-from``, checked to have
    finished its training (UsageError otherwise), or None without ``--weights-from``.

    last.npz, not best.npz: best.npz's epoch was chosen on the patients the fold holds out."""
    source = settings.get("weights_from")
    if source is None:
        return None
    folder = fold_folder(source, fold)
    epochs = read_settings(source)["config"]["epochs"]
    if not is_finished(folder, epochs):
        raise UsageError(f"--weights-from {source}: its fold {fold} has not finished its "
                         f"{epochs} epochs ({folder}); train it first")
    return os.path.join(folder, LAST)


def open_data(settings):
    """The data of a cross-validation as it is scored: a folder or .npz at its own size (as
    ``tinynet evaluate`` scores), the phantom made as the training scripts made it."""
    if settings["data"] == "phantom":
        config = settings["config"]
        return tndata.open_dataset(None, size=config["size"], seed=config["seed"])
    return tndata.open_dataset(settings["data"])


def training_config(model, train_args):
    """The training script's settings for ``train_args`` (its own parser reads them), as a
    dict; a bad flag exits with the script's one-line message, a reserved one is refused."""
    parser = _load_script(model).build_parser()
    parser.prog = f"examples/{MODELS[model]}"     # a bad flag names the script that refuses it
    given = explicit_arguments(parser, train_args)
    for name, what in RESERVED.items():
        if name in given:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} is set by the cross-validation for every fold ({what}); "
                             f"leave it out of the training flags after --")
    config = vars(parser.parse_args(train_args))
    return {key: value for key, value in config.items() if key not in RESERVED}


def _load_script(model):
    """examples/train_*.py of ``model`` imported as a module (its command line not run)."""
    path = EXAMPLES / MODELS[model]
    if not path.is_file():
        raise UsageError(f"no {path}: cross-validation runs the training scripts of the "
                         "repository's examples/ folder (they are not installed with the wheel)")
    spec = importlib.util.spec_from_file_location(f"crossval_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _folds_for(out, folds_path, patients, n_splits, seed):
    """The folds of this cross-validation: read (checked against ``patients``) or made."""
    copy = os.path.join(out, FOLDS)
    path = folds_path or copy
    if os.path.exists(path):
        folds = tndata.load_folds(path, patients=patients)
        for flag, asked, held in (("--k", n_splits, len(folds["folds"])),
                                  ("--seed", seed, folds.get("seed"))):
            if asked is not None and asked != held:
                raise UsageError(f"{flag} {asked}, but the folds {path} were made with "
                                 f"{flag} {held}; leave {flag} out, or choose another --out")
    else:
        folds = tndata.kfold_patients(patients, n_splits=5 if n_splits is None else n_splits,
                                      seed=seed or 0)
        tndata.save_folds(path, folds)
    if path != copy:
        if os.path.exists(copy) and tndata.load_folds(copy)["folds"] != folds["folds"]:
            raise UsageError(f"--folds {folds_path} differs from the folds {copy} of this "
                             "cross-validation; choose another --out")
        tndata.save_folds(copy, folds)
    return folds


def read_settings(out):
    """The settings ``prepare`` wrote in ``out/crossval.json``; UsageError naming the folder
    if it is not a cross-validation folder."""
    path = os.path.join(os.fspath(out), SETTINGS)
    settings = read_json(path, SETTINGS, missing=f"{out}: not a cross-validation folder (no "
                                                 f"{SETTINGS}; made by `tinynet crossval train`)")
    if not isinstance(settings, dict) or settings.get("model") not in MODELS:
        raise UsageError(f"{path}: not the settings of a cross-validation (no 'model')")
    return settings


def read_json(path, kind, missing):
    """The JSON value in the file ``path``; UsageError ``missing`` when there is no such file,
    or naming the file and ``kind`` when it cannot be read as JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise UsageError(missing) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a JSON {kind} ({exc})") from exc


def _check_same_run(before, now, out):
    """UsageError unless ``now`` continues the cross-validation of ``before`` in ``out``."""
    for key in ("model", "data", "n_splits"):
        if before.get(key) != now[key]:
            raise UsageError(f"{out} holds a cross-validation of another {key} "
                             f"({before.get(key)} there, {now[key]} now); choose another --out")
    if before.get("weights_from") != now["weights_from"]:
        raise UsageError(f"{out} was trained with --weights-from {before.get('weights_from')}, "
                         f"and now with {now['weights_from']}; give the same (run the same "
                         "command again), or choose another --out")
    changed = [f"--{key.replace('_', '-')} {now['config'].get(key)!r} (it used "
               f"{value!r})" for key, value in before["config"].items()
               if key not in CHANGEABLE and now["config"].get(key) != value]
    # A flag newer than the run: its folds trained with the flag's default, so only that
    # keeps the recipe one recipe.
    defaults = _load_script(now["model"]).build_parser()
    changed += [f"--{key.replace('_', '-')} {value!r} (the run was started before this flag "
                f"existed, i.e. with {defaults.get_default(key)!r})"
                for key, value in now["config"].items()
                if key not in before["config"] and key not in CHANGEABLE
                and value != defaults.get_default(key)]
    if changed:
        raise UsageError(f"{out} was trained with other flags: {', '.join(changed)}; only "
                         f"--{', --'.join(CHANGEABLE)} may change between runs of "
                         "one cross-validation; choose another --out for a new recipe")


# ---------------------------------------------------------------------------
# The folds' progress and their command lines
# ---------------------------------------------------------------------------

#: The metadata entry of an ensemble's fold checkpoint (``crossval ensemble``) that stands for
#: a training run's "run" state: the epochs its runs were set to train.
ENSEMBLE_EPOCHS = "crossval_epochs"


def fold_epochs(folder):
    """Epochs the run in ``folder`` has finished: read from its last.npz (0 without one)."""
    last = os.path.join(folder, LAST)
    if not os.path.exists(last):
        return 0
    metadata = load_checkpoint_metadata(last)["metadata"]
    if ENSEMBLE_EPOCHS in metadata:                   # an ensemble of finished runs
        return int(metadata[ENSEMBLE_EPOCHS])
    return int(metadata["run"]["epoch"])


def is_finished(folder, epochs):
    """Whether the run in ``folder`` has trained ``epochs`` epochs and has its best.npz."""
    return fold_epochs(folder) >= epochs and os.path.exists(os.path.join(folder, BEST))


def fold_command(settings, out, fold, launcher=()):
    """The command line that trains (or continues) fold ``fold``: a list of str.

    ``[*launcher, python, examples/train_X.py, --data D, --out fold-k, --split
    fold-k/split.json, (--resume fold-k/last.npz | --weights W/fold-k/last.npz,)
    *train_args]``; given the same flags again, a resumed run takes none of them as a
    change.
    """
    folder = os.path.abspath(fold_folder(out, fold))
    command = [*launcher, sys.executable, str(EXAMPLES / MODELS[settings["model"]])]
    if settings["data"] != "phantom":
        command += ["--data", settings["data"]]
    command += ["--out", folder, "--split", os.path.join(folder, "split.json")]
    if os.path.exists(os.path.join(folder, LAST)):
        command += ["--resume", os.path.join(folder, LAST)]
    elif settings.get("weights_from"):
        command += ["--weights", start_weights_of(settings, fold)]
    return command + list(settings["train_args"])


# ---------------------------------------------------------------------------
# Running them
# ---------------------------------------------------------------------------

def train_folds(settings, out, folds=None, launcher=()):
    """Train every fold of ``folds`` (numbers 1..k; default all) that has not finished.

    Returns 0 when they all have; otherwise the exit code of the fold that
    stopped (130 for Ctrl-C, 1 for a NaN loss, ...), after saying how to go on.
    """
    epochs = settings["config"]["epochs"]
    all_folds = tndata.load_folds(os.path.join(out, FOLDS))
    for fold in folds or range(1, settings["n_splits"] + 1):
        folder = fold_folder(out, fold)
        done = fold_epochs(folder)
        if is_finished(folder, epochs):
            print(f"fold {fold}/{settings['n_splits']}: finished ({done} epochs), skipped")
            continue
        os.makedirs(folder, exist_ok=True)
        split = tndata.fold_split(all_folds, fold)
        tndata.save_split(os.path.join(folder, "split.json"), split)
        command = fold_command(settings, out, fold, launcher)
        what = f"resuming from its last.npz ({done} of {epochs} epochs done)" \
            if os.path.exists(os.path.join(folder, LAST)) else "training"
        print(f"fold {fold}/{settings['n_splits']}: {what}, {len(split['val'])} patients held "
              f"out\n  {shlex.join(command)}", flush=True)
        code, interrupted = run_child(command)
        if code != 0 or interrupted:
            _say_how_to_go_on(fold, folder, code, interrupted)
            return code or EXIT_INTERRUPTED
    return 0


def run_child(command):
    """Run ``command`` and wait for it: ``(exit code, whether Ctrl-C came meanwhile)``.

    Ctrl-C in a terminal signals every process of the foreground group, so the
    training child gets it and stops cleanly after its current step, saving
    last.npz.  This process must not die first (``subprocess.run`` would kill the
    child on KeyboardInterrupt, before it saved), so it only notes the signal.
    """
    interrupted = []
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:       # signal handlers can only be set from the main thread
        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    try:
        code = subprocess.call(command)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
    # A child killed by signal N reports -N; shells say 128 + N.
    return (128 - code if code < 0 else code), bool(interrupted)


def _say_how_to_go_on(fold, folder, code, interrupted):
    """After a fold stopped: how to go on (Ctrl-C, a killed process) or where to look (a NaN
    loss or an error, which running again would only repeat)."""
    if code in (EXIT_NONFINITE, EXIT_BAD_INPUT) and not interrupted:
        print(f"crossval: the training of fold {fold} failed (exit code {code}); see its "
              f"messages above and {folder}/log.jsonl", file=sys.stderr)
        return
    last = os.path.join(folder, LAST)
    where = (f"resumes from {last}" if os.path.exists(last)
             else "starts again (it had not saved a state yet)")
    print(f"crossval: stopped in fold {fold} (exit code {code}); run the same command again to "
          f"go on: finished folds are skipped and fold {fold} {where}", file=sys.stderr)


def launcher_words(launcher):
    """The words of ``--launcher`` (e.g. ``"mpiexec -n 2"``); UsageError if its program is
    not on PATH, so a typo fails now and not after the folds' data is read."""
    words = shlex.split(launcher or "")
    if words and shutil.which(words[0]) is None:
        raise UsageError(f"--launcher {launcher!r}: no program {words[0]!r} on PATH")
    return words
