"""A training run: its folder, its checkpoints, its journal, and an exact resume.

What ``TrainingRun`` keeps in the output folder::

    last.npz     everything needed to continue: weights (with --ema the averaged ones as
                 the model, the trained ones beside them), optimizer, scheduler, the
                 sampler's position, the RNG, the history; written atomically at the
                 end of every epoch and when Ctrl-C stops the run
    best.npz     the weights of the epoch with the best validation metric, with the
                 model spec inference needs (``checkpoint.py``); without validation
                 (``--val-fraction 0``) the last epoch's
    log.jsonl    one JSON object per line: a "start" or "resume" record, one
                 "epoch" record per epoch, and how the run ended
    split.json   the patient split (the scripts write it)

How a script uses it (the loop itself stays in the script)::

    run = TrainingRun(out, model=..., optimizer=..., scheduler=..., loader=train_loader,
                      spec=spec, config=config, monitor="val_dice")
    if resume_path: run.resume(resume_path)
    with run.guard():                       # Ctrl-C and NaN handled here
        for epoch in run.epochs():
            for batch in run.progress(train_loader):
                ... forward, loss ...
                run.check_finite(loss)          # before backward: weights stay good
                ... backward, step ...
                run.step_done(loss=loss.item())
            run.end_epoch(validation_metrics)   # logs, last.npz, best.npz
    return run.exit_code

Why a resumed run ends with the *same* weights as an uninterrupted one: the
model, the optimizer moments, the scheduler, the sampler's (epoch, position)
and tinynet's RNG are all restored, and the loader derives every epoch's order
and every sample's augmentation from (seed, epoch, position), never from a
generator that has advanced by an unknown amount.  Ctrl-C does not stop a step
half-way: the signal only sets a flag, and the run stops before its next batch.

Data-parallel (``mpiexec -n N``, ``parallel.py``): every rank makes a
TrainingRun and runs the same loop; rank 0 alone prints, logs and writes the
checkpoints, which hold the unwrapped model (``model.module``), so they are
those of one process.  The ranks decide together: ``check_finite`` averages
the step's loss over the ranks in one all-reduce that also carries "my loss is
NaN/inf" and "Ctrl-C was pressed here", so a NaN on any rank stops every rank
before the same backward, and Ctrl-C (which mpiexec sends to every rank, not
necessarily between the same two steps) stops every rank after the same step.
The end of an epoch averages the other per-step values (Dice, accuracy) and
the stop flag once more.  Every rank resumes from the same last.npz.
"""
import contextlib
import json
import math
import os
import signal
import sys
import threading
import time

from ._lazy import tqdm  # imported at first use

from tinynet import backend
from tinynet.io import (CheckpointError, atomic_copy, load_checkpoint, load_checkpoint_metadata,
                        save_checkpoint)
from . import parallel

__all__ = ["LAST", "BEST", "LOG", "TrainingRun", "NonFiniteLossError", "TrainingInterrupted",
           "resume_config", "EXIT_OK", "EXIT_NONFINITE", "EXIT_INTERRUPTED"]

EXIT_OK = 0
EXIT_NONFINITE = 1
EXIT_INTERRUPTED = 130   # the shell's code for a process stopped by SIGINT

LAST = "last.npz"
BEST = "best.npz"
LOG = "log.jsonl"
#: With an averaged model (--ema), last.npz's extra arrays that hold the trained weights.
TRAINED = "trained/"


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or inf; the run stops before the step that would spoil it."""


class TrainingInterrupted(Exception):
    """Raised by ``TrainingRun.progress`` when Ctrl-C asked the run to stop."""


class TrainingRun:
    """The state of one training run and its output folder (see the module docstring).

    Parameters
    ----------
    out_dir : folder for checkpoints, log and figures (created)
    model, optimizer, scheduler : the objects being trained (scheduler may be None); a
        model wrapped in DistributedDataParallel is saved and loaded as its ``.module``
    loader : the training BatchLoader (its position is saved and restored)
    spec : the model spec (``checkpoint.model_spec``) stored with every checkpoint
    config : JSON-able dict of the run's settings; ``config["epochs"]`` is the length
    monitor : key of the validation metrics that selects ``best.npz``
    mode : "max" (Dice, accuracy, AUC) or "min" (a loss)
    read_every : steps between reads of the loss and the step's metrics from the device
        (1: every step, as on the CPU, where reading is free; see "Reading from a GPU")
    scaler : the ``tn.amp.GradScaler`` of a mixed-precision run, or None; its loss scale is
        saved in last.npz and restored on resume
    average : a ``tn.optim.swa_utils.AveragedModel`` of the model (``--ema``), or None.  It
        is updated after every step (``step_done``), validated (``evaluated_model``), and
        its weights are the checkpoints' model: what best.npz and last.npz give to
        prediction and scoring.  last.npz also keeps the trained weights themselves
        (extra arrays ``trained/<name>``), from which a resumed run trains on
    """

    def __init__(self, out_dir, *, model, optimizer, scheduler, loader, spec, config,
                 monitor, mode="max", read_every=1, scaler=None, average=None):
        if mode not in ("max", "min"):
            raise ValueError(f"TrainingRun: mode must be 'max' or 'min', got {mode!r}")
        self.out_dir = os.fspath(out_dir)
        os.makedirs(self.out_dir, exist_ok=True)
        self.model = parallel.unwrap(model)       # the checkpoints are those of one process
        self.optimizer, self.scheduler = optimizer, scheduler
        self.scaler = scaler       # tn.amp.GradScaler of --amp (its scale is saved), or None
        self.average = average     # AveragedModel of --ema, or None
        self.rank, self.world_size = parallel.rank_and_size()
        self.is_main = self.rank == 0             # prints, logs and writes files
        self.loader = loader
        self.spec, self.config = spec, dict(config)
        self.monitor, self.mode = monitor, mode
        self.epoch = 0             # the epoch being trained, 0-based
        self.step = 0              # optimizer steps taken in the whole run
        self.history = []          # one record per finished epoch
        self.best = None           # {"epoch": int, "value": float}
        self.exit_code = EXIT_OK
        self._meter = _Meter()
        self.read_every = max(1, int(read_every))
        self._unread_nonfinite = None  # device flag: a loss not yet read was NaN/inf
        self._steps_unread = 0
        self._stop_requested = False   # Ctrl-C on this process
        self._stop_agreed = False      # ... on some rank, as the ranks learnt together
        self._resumed = False
        self._last_saved = None    # what last.npz holds, in words, once this run wrote or read it
        self._bar = None
        self._epoch_started = None
        self._wait_at_epoch_start = 0.0

    # -- paths ------------------------------------------------------------------
    @property
    def last_path(self):
        return os.path.join(self.out_dir, LAST)

    @property
    def best_path(self):
        return os.path.join(self.out_dir, BEST)

    def path(self, name, folder=None):
        """``out_dir/name``, or ``out_dir/folder/name``; the folder is created.

        ``run.path("figures")`` with no extension names (and creates) a folder.
        """
        parent = os.path.join(self.out_dir, folder) if folder else self.out_dir
        full = os.path.join(parent, name)
        os.makedirs(full if not os.path.splitext(name)[1] else parent, exist_ok=True)
        return full

    # -- the loop -----------------------------------------------------------------
    def epochs(self):
        """Yield the epochs still to train, from the resumed one to ``config["epochs"] - 1``."""
        if not self._resumed:
            self.log("start", config=self.config, model=self.spec, **self._ranks_field())
        while self.epoch < self.config["epochs"]:
            self._epoch_started = time.perf_counter()
            self._wait_at_epoch_start = self.loader.wait_seconds
            yield self.epoch

    def progress(self, loader):
        """Iterate the training batches with a progress bar; stop cleanly on Ctrl-C.

        The stop flag is checked *between* steps, so the state saved at Ctrl-C
        is the state after a whole number of steps.
        """
        total = self.config["epochs"]
        desc = f"epoch {self.epoch + 1}/{total}"
        with tqdm(total=len(loader), initial=loader.position, desc=desc, leave=False,
                  dynamic_ncols=True, disable=None if self.is_main else True) as bar:
            self._bar = bar
            batches = iter(loader)
            try:
                while True:
                    # Check before taking a batch: a batch taken counts as done in the loader.
                    if self._should_stop():
                        raise TrainingInterrupted()
                    try:
                        batch = next(batches)
                    except StopIteration:
                        break
                    yield batch
            finally:
                self._bar = None
                if hasattr(batches, "close"):
                    batches.close()   # stops the loader's background thread now

    def check_finite(self, loss):
        """Raise NonFiniteLossError if ``loss`` (a Tensor or number) is NaN or inf.

        Call it before ``backward()``: the weights are still those of the last
        good step, and ``last.npz`` on disk is never replaced by a diverged state.
        With several ranks it returns the mean of the ranks' losses, raises on
        every rank when one rank's loss is not finite, and learns whether Ctrl-C
        reached any rank (one all-reduce of three numbers; every rank calls it).

        Reading from a GPU: with ``read_every`` N > 1 (one process on a GPU), only
        every N-th step reads the loss; in between, the loss stays on the device,
        is returned as it is (a 0-d Tensor for ``step_done``), and a NaN or inf is
        remembered there and raised at the next read, at the latest at the end of
        the epoch, before ``last.npz`` is written.  So up to N - 1 steps may follow
        a NaN in memory, never on disk.
        """
        if self.read_every > 1 and hasattr(loss, "data") and \
                self._steps_unread + 1 < self.read_every:
            self._steps_unread += 1
            data = loss.detach().data
            xp = backend.get_array_module(data)
            bad = ~xp.isfinite(data)
            self._unread_nonfinite = bad if self._unread_nonfinite is None else \
                xp.logical_or(self._unread_nonfinite, bad)
            return loss.detach()
        self._raise_if_unread_nonfinite()
        value = float(loss.item() if hasattr(loss, "item") else loss)
        finite = math.isfinite(value)
        what = value
        if self.world_size > 1:
            mean, nonfinite, stop = parallel.mean_over_ranks(
                [value if finite else 0.0, not finite, self._stop_requested])
            self._stop_agreed = self._stop_agreed or stop > 0
            if finite and nonfinite > 0:
                what = f"not finite on {round(nonfinite * self.world_size)} of the ranks"
            finite, value = nonfinite == 0, float(mean)
        if not finite:
            raise NonFiniteLossError(
                f"the training loss is {what} at epoch {self.epoch + 1}, batch "
                f"{self.loader.position} (step {self.step + 1})")
        return value

    def _raise_if_unread_nonfinite(self):
        """The read of the losses kept on the device since the last read (``read_every``)."""
        flag, unread = self._unread_nonfinite, self._steps_unread
        self._unread_nonfinite, self._steps_unread = None, 0
        if flag is not None and bool(backend.to_numpy(flag)):
            raise NonFiniteLossError(
                f"the training loss was not finite in one of the {unread} steps before step "
                f"{self.step + 1} (epoch {self.epoch + 1}; on the GPU it is read every "
                f"{self.read_every} steps)")

    def step_done(self, **values):
        """Count one optimizer step; ``values`` (loss, dice, ...) feed the bar and epoch means.

        Values may be numbers or 0-d Tensors left on the device: they are summed
        there, and the bar shows the means as of the last read (every
        ``read_every`` steps).
        """
        self.step += 1
        if self.average is not None:
            self.average.update_parameters(self.model)
        self._meter.add(values)
        if self._bar is not None:
            # Only on a step that read the loss, and only for a bar that is shown (a log
            # file or a pipe gets no bar): the means are a read from the device.
            if self._steps_unread == 0 and not self._bar.disable:
                self._bar.set_postfix({k: f"{v:.4f}" for k, v in self._meter.means().items()},
                                      refresh=False)
            self._bar.update(1)

    def end_epoch(self, val_metrics):
        """Close an epoch: log it, step the scheduler, write last.npz (and best.npz if better).

        ``val_metrics``: dict of JSON numbers from the validation pass; it must
        hold ``self.monitor``.  Returns True when this epoch is the best so far.
        With several ranks every rank calls it with the same (gathered) metrics.
        None means a run without validation (``--val-fraction 0``): each epoch is
        then "the best", so best.npz is the last epoch's weights and
        ``best["value"]`` is None (a fixed schedule, as for a final model).
        """
        if val_metrics is not None and self.monitor not in val_metrics:
            raise KeyError(f"end_epoch: validation metrics have no {self.monitor!r} "
                           f"(got {sorted(val_metrics)})")
        self._raise_if_unread_nonfinite()       # before anything is logged or written
        self._agree_on_means()
        seconds = time.perf_counter() - (self._epoch_started or time.perf_counter())
        waited = self.loader.wait_seconds - self._wait_at_epoch_start
        record = {"epoch": self.epoch + 1, "steps": self.step,
                  "lr": [g["lr"] for g in self.optimizer.param_groups][0],
                  **{f"train_{k}": v for k, v in self._meter.means().items()},
                  **(val_metrics or {}),
                  "seconds": round(seconds, 3), "data_wait_seconds": round(waited, 3),
                  "data_wait_share": round(waited / seconds, 4) if seconds > 0 else 0.0}
        value = None if val_metrics is None else float(val_metrics[self.monitor])
        is_best = value is None or self._improves(value)
        if is_best:
            self.best = {"epoch": self.epoch + 1, "value": value}
        record["best"] = is_best
        self.history.append(record)
        self.log("epoch", **record)
        if self.scheduler is not None:
            self.scheduler.step()
        self.epoch += 1
        self._meter = _Meter()
        if is_best:
            self._save_best(record)
        self.save_last()
        return is_best

    def _agree_on_means(self):
        """Several ranks: average the epoch's running sums (the loss's are already the ranks'
        mean; Dice and accuracy are each rank's own) and learn of a Ctrl-C on any rank."""
        if self.world_size == 1:
            return
        keys = sorted(self._meter.sums)
        agreed = parallel.mean_over_ranks([float(self._meter.sums[k]) for k in keys]
                                          + [self._stop_requested])
        self._meter.sums = dict(zip(keys, agreed[:-1].tolist()))
        self._stop_agreed = self._stop_agreed or agreed[-1] > 0

    def _should_stop(self):
        # Several ranks stop only on what they all know, so that they stop after the same step.
        return self._stop_requested if self.world_size == 1 else self._stop_agreed

    def _ranks_field(self):
        # Logs of one process stay as they were; data-parallel runs say how many ranks.
        return {"ranks": self.world_size} if self.world_size > 1 else {}

    def _improves(self, value):
        # A NaN metric (e.g. AUC on a validation set of one class) never beats a
        # number, but the first epoch is kept so that best.npz always exists.
        if self.best is None:
            return True
        if math.isnan(value):
            return False
        best = self.best["value"]
        if math.isnan(best):
            return True
        return value > best if self.mode == "max" else value < best

    # -- Ctrl-C and NaN -------------------------------------------------------------
    @contextlib.contextmanager
    def guard(self):
        """Run the training inside: Ctrl-C saves last.npz and says how to resume;
        a NaN/inf loss stops the run and keeps the last good checkpoint.

        Sets ``self.exit_code`` (0, 1 for a non-finite loss, 130 for Ctrl-C).
        A second Ctrl-C while stopping interrupts at once, as usual.
        """
        previous = self._install_sigint_handler()
        try:
            yield self
        except TrainingInterrupted:
            self._restore_sigint_handler(previous)
            previous = None
            self._agree_on_means()     # every rank is here, after the same step
            try:
                self._raise_if_unread_nonfinite()     # never save a state a NaN reached
            except NonFiniteLossError as exc:
                self._stop_for_nonfinite(exc)
                return
            self.save_last()
            self.log("interrupted", epoch=self.epoch + 1, batch=self.loader.position,
                     steps=self.step)
            self.exit_code = EXIT_INTERRUPTED
            self._say(f"\nInterrupted at epoch {self.epoch + 1}, batch {self.loader.position}: "
                  f"the state is saved in {self.last_path}.\nResume with:  "
                  f"python {sys.argv[0] or 'train.py'} --resume {self.last_path}")
        except NonFiniteLossError as exc:
            self._stop_for_nonfinite(exc)
        else:
            self.log("finished", epochs=self.epoch, steps=self.step, best=self.best)
            if self._stop_requested:    # Ctrl-C during the last validation: nothing left to stop
                self._say("Ctrl-C came after the last training step: the run had finished "
                          f"({self.last_path} holds it)")
        finally:
            if previous is not None:
                self._restore_sigint_handler(previous)

    def _stop_for_nonfinite(self, exc):
        self.log("stopped", reason="non-finite loss", message=str(exc), steps=self.step)
        self.exit_code = EXIT_NONFINITE
        kept = (f"the last good checkpoint is {self.last_path} ({self._last_saved})"
                if self._last_saved else "no checkpoint of this run had been written yet")
        self._say(f"\nStopped: {exc}; {kept}. Try a lower --lr, or check the data.")

    def _say(self, message):
        """A message on stderr, from rank 0 only."""
        if self.is_main:
            print(message, file=sys.stderr)

    def request_stop(self):
        """Ask the run to stop before its next batch (what Ctrl-C does)."""
        self._stop_requested = True

    def _install_sigint_handler(self):
        if threading.current_thread() is not threading.main_thread():
            return None   # signals can only be handled in the main thread

        def on_sigint(signum, frame):
            if self._stop_requested:        # second Ctrl-C: stop now
                raise KeyboardInterrupt
            self._stop_requested = True
            self._say("\nCtrl-C: stopping after this step (press again to abort at once)")

        return ("installed", signal.signal(signal.SIGINT, on_sigint))

    @staticmethod
    def _restore_sigint_handler(previous):
        if previous is not None:
            signal.signal(signal.SIGINT, previous[1])

    # -- checkpoints ----------------------------------------------------------------
    def evaluated_model(self):
        """The network to validate and to save as the run's model: the averaged one with
        ``average``, else the model itself (unwrapped from DistributedDataParallel)."""
        return self.average.module if self.average is not None else self.model

    def save_last(self):
        """Write last.npz: the whole training state, atomically (rank 0; the same on all)."""
        self._last_saved = _position_in_words(self.epoch, self.loader.position)
        if not self.is_main:
            return
        state = {"config": self.config, "epoch": self.epoch, "step": self.step,
                 "history": self.history, "best": self.best,
                 "loader": self.loader.state_dict(), "meter": self._meter.state_dict(),
                 "scheduler": self.scheduler.state_dict() if self.scheduler else None,
                 "scaler": self.scaler.state_dict() if self.scaler else None,
                 "rng": backend.get_rng().bit_generator.state}
        trained = {}
        if self.average is not None:
            state["n_averaged"] = int(self.average.n_averaged.item())   # once an epoch
            trained = {TRAINED + key: value for key, value in self.model.state_dict().items()}
        save_checkpoint(self.last_path, model=self.evaluated_model(), optimizer=self.optimizer,
                        epoch=self.epoch, metadata={"model": self.spec, "run": state},
                        **trained)

    def _save_best(self, record):
        if not self.is_main:
            return
        save_checkpoint(self.best_path, model=self.evaluated_model(), epoch=self.epoch,
                        metadata={"model": self.spec, "metrics": record,
                                  "config": self.config})

    def resume(self, path):
        """Restore everything ``save_last`` wrote; training continues where it stopped.

        Every rank reads the same file, so all continue from the same state."""
        checkpoint = load_checkpoint(path)
        state = (checkpoint["metadata"] or {}).get("run")
        if state is None:
            raise CheckpointError(f"{path} is not a last.npz of a training run (no run state in "
                             "its metadata); best.npz holds only weights, resume from last.npz")
        if self.average is not None:
            trained = {key[len(TRAINED):]: value for key, value in checkpoint["extra"].items()
                       if key.startswith(TRAINED)}
            self.model.load_state_dict(trained, strict=True)
            self.average.module.load_state_dict(checkpoint["model"], strict=True)
            self.average.set_n_averaged(state["n_averaged"])
        else:
            self.model.load_state_dict(checkpoint["model"], strict=True)
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
            if hasattr(self.scheduler, "T_max"):
                # --epochs may lengthen a resumed run: stretch the cosine to the new end.
                self.scheduler.T_max = self.config["epochs"]
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.loader.load_state_dict(state["loader"])
        backend.get_rng().bit_generator.state = state["rng"]
        self.epoch, self.step = state["epoch"], state["step"]
        self.history, self.best = state["history"], state["best"]
        self._meter.load_state_dict(state["meter"])
        self._resumed = True
        self._last_saved = _position_in_words(self.epoch, self.loader.position)
        source_best = os.path.join(os.path.dirname(os.path.abspath(path)), BEST)
        if (self.is_main and os.path.exists(source_best)
                and not os.path.exists(self.best_path)):
            atomic_copy(source_best, self.best_path)   # resumed into another --out
        if self.epoch >= self.config["epochs"]:
            self._say(f"note: {path} has already trained {self.epoch} of --epochs "
                      f"{self.config['epochs']}; pass a larger --epochs to train on")
        self.log("resume", checkpoint=os.fspath(path), epoch=self.epoch + 1,
                 batch=self.loader.position, steps=self.step, config=self.config,
                 **self._ranks_field())

    # -- the journal ----------------------------------------------------------------
    def log(self, event, **fields):
        """Append one JSON line ``{"event": ..., "time": ..., **fields}`` to log.jsonl (rank 0)."""
        if not self.is_main:
            return
        record = {"event": event, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **fields}
        # The one file not written through tinynet.io.atomic_write: the journal is only ever
        # appended to, one whole line per write, so a crash can cost at most its last line,
        # and rewriting the whole journal at every event would be the riskier way.
        with open(os.path.join(self.out_dir, LOG), "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def resume_config(checkpoint_path, given, overridable=("epochs", "device", "out", "prefetch")):
    """The settings of a run to resume: those saved in its last.npz.

    ``given``: dict of the settings the user typed explicitly this time.  Those
    in ``overridable`` replace the saved ones (train longer, move to the GPU);
    any other that differs is reported and ignored, because changing e.g. the
    learning rate or the data would make the resumed run a different run.
    Returns ``(config, ignored, task)``: ``ignored`` a list of "name=value" strings,
    ``task`` the saved model's ("segmentation" or "classification").
    """
    checkpoint = load_checkpoint_metadata(checkpoint_path)     # the settings, not the weights
    state = (checkpoint["metadata"] or {}).get("run")
    if state is None:
        raise CheckpointError(f"{checkpoint_path} is not a last.npz of a training run (no run "
                         "state in its metadata); resume from the run's last.npz")
    config = dict(state["config"])
    ignored = []
    for key, value in given.items():
        if key in overridable:
            config[key] = value
        elif key in config and config[key] != value:
            ignored.append(f"{key}={value!r} (the run uses {config[key]!r})")
        elif key not in config:      # a flag newer than the run: it keeps the old behaviour
            ignored.append(f"{key}={value!r} (the run was saved before this setting existed)")
    return config, ignored, checkpoint["metadata"]["model"]["task"]


def _position_in_words(epochs_done, batch):
    if batch == 0:
        return f"end of epoch {epochs_done}"
    return f"epoch {epochs_done + 1}, after batch {batch}"


class _Meter:
    """Running means of the values reported each step (loss, dice, ...)."""

    def __init__(self):
        self.sums, self.count = {}, 0

    def add(self, values):
        """Add one step's values: numbers, or 0-d Tensors summed on their device (unread)."""
        self.count += 1
        for key, value in values.items():
            value = value.detach().data if hasattr(value, "detach") else float(value)
            self.sums[key] = self.sums.get(key, 0.0) + value

    def means(self):
        """The means as Python floats (a read from the device for sums kept there)."""
        return {k: float(s) / self.count for k, s in self.sums.items()} if self.count else {}

    def state_dict(self):
        return {"sums": {k: float(s) for k, s in self.sums.items()}, "count": self.count}

    def load_state_dict(self, state):
        self.sums, self.count = dict(state["sums"]), int(state["count"])
