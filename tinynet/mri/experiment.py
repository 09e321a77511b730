"""Setting up a training run from its command line: the flags both training scripts
share, resuming, the data, the patient split, the normalization and the loaders.

Each training script keeps its own model, optimizer, learning-rate schedule,
augmentation, loss and loop, and hands them to the helpers here; everything
here is what ``train_resunet.py`` and ``train_classifier.py`` would otherwise
repeat.
"""
import argparse
import copy
import functools
import inspect
import os
import sys
from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from tinynet import backend
from tinynet.io import CheckpointError, load_checkpoint_metadata, load_state_dict_file
from tinynet.optim import swa_utils

from . import data as tndata
from . import figures, parallel
from .architectures import ARCHITECTURES
from .cli import UsageError, check_device, check_output_folder, existing_path, non_negative_int, \
    positive_float, positive_int, probability
from .run import LAST, TrainingRun, resume_config

__all__ = ["add_training_arguments", "explicit_arguments", "training_config", "start_run",
           "start_weights", "StartWeights", "pipeline_spec", "TrainingData", "prepare_data", "summarize"]

#: The training script of each task (for the message when a run is resumed with the other).
SCRIPT_OF_TASK = {"segmentation": "train_resunet.py", "classification": "train_classifier.py"}

#: The percentile of a slice's nonzero pixels that ``--intensity slice`` scales to 1.
SLICE_PERCENTILE = 99.0
#: --sampler patient-area: the floor of a slice's weight, a share of its patient's mean
#: tumour area per slice (Buda et al. 2019's 0.1).
PATIENT_AREA_FLOOR = 0.1

#: Settings a resumed run may change; every other one comes from its last.npz.
OVERRIDABLE_ON_RESUME = ("epochs", "device", "out", "prefetch", "log_every", "tf32")


def add_training_arguments(parser, *, epochs, batch_size, lr, size, oversample, out):
    """The flags of both training scripts, with the script's own defaults."""
    add = parser.add_argument
    add("--data", default=None,
        help="a kaggle_3m folder (<patient>/<patient>_<n>.tif + _mask.tif), a .npz made by "
             "`python -m tinynet pack`, or 'phantom' (default: the built-in synthetic "
             "MRI phantom, no download needed)")
    add("--device", default="cpu", choices=["cpu", "gpu", "cuda"],
        help="cpu (NumPy) or gpu (CuPy; needs `pip install tinynet[gpu]` and a CUDA GPU). "
             "Default: cpu")
    add("--tf32", action="store_true",
        help="with --device gpu: allow TF32 tensor-core math in float32 GEMMs (10-bit "
             "mantissa products, several times faster on Ampere and newer GPUs; default off, "
             "as in PyTorch)")
    add("--amp", action="store_true",
        help="with --device gpu: mixed precision, float16 convolutions and matrix products "
             "under tn.autocast with a tn.amp.GradScaler (float32 weights, losses and batch "
             "norm statistics; default off). On the CPU float16 is far slower, so it is refused")
    add("--log-every", type=positive_int, default=20, metavar="N",
        help="on the GPU, read the loss and the batch metrics from the device every N steps "
             "(a read makes the host wait for the GPU); the progress bar shows their means "
             "as of the last read, and a NaN loss stops the run at the next read, before "
             "anything is saved (default 20; on the CPU every step)")
    add("--size", type=positive_int, default=size,
        help=f"side in pixels the slices are resized to for training (default {size}; "
             "the original slices are 256). The segmenter needs a multiple of 16")
    add("--epochs", type=positive_int, default=epochs, help=f"epochs to train (default {epochs})")
    add("--batch-size", type=positive_int, default=batch_size,
        help=f"slices per step (default {batch_size})")
    add("--lr", type=positive_float, default=lr,
        help=f"Adam learning rate at the start of the cosine schedule (default {lr:g})")
    add("--weight-decay", type=float, default=0.0, help="Adam L2 weight decay (default 0)")
    add("--schedule", choices=["cosine", "constant"], default="cosine",
        help="learning-rate schedule over the epochs (default cosine, down to lr/100)")
    add("--out", default=out, help=f"output folder for checkpoints, log and figures "
                                   f"(default {out}; with --resume: the checkpoint's folder)")
    add("--resume", type=existing_path, default=None, metavar="CKPT",
        help="continue a run from its last.npz, exactly where it stopped (its settings are "
             "kept; only --epochs, --device, --out, --prefetch, --log-every and --tf32 may "
             "change)")
    add("--seed", type=int, default=0,
        help="seed of the weights, the split, the batch order and the augmentation (default 0)")
    add("--split", default=None, metavar="FILE",
        help="patient split JSON: used if it exists, else made (stratified by institution) "
             "and written there. Default: made from --seed and --val-fraction")
    add("--val-fraction", type=probability, default=0.2,
        help="share of patients held out for validation when the split is made (default 0.2; "
             "0: none, every patient trains, for a final model after cross-validation: "
             "best.npz is then the last epoch's weights, a fixed schedule)")
    add("--oversample", type=probability, default=oversample,
        help="share of each batch drawn from tumour slices (default "
             f"{'off: natural frequency' if oversample is None else oversample})")
    add("--sampler", choices=["slices", "patient-area"], default="slices",
        help="how an epoch draws its training slices: 'slices' (every slice once, or with "
             "--oversample; the default) or 'patient-area' (Buda et al. 2019: a patient "
             f"uniformly, then one of its slices in proportion to its tumour area plus "
             f"{PATIENT_AREA_FLOOR:g} of the patient's mean; --oversample is then unused)")
    add("--context", type=non_negative_int, default=0, metavar="K",
        help="2.5-D input: each slice with its K neighbours on each side in its volume, "
             "3 (2K + 1) input channels (default 0: the slice alone); prediction then needs "
             "the slices of a scan together")
    add("--ema", type=ema_decay, default=0.0, metavar="DECAY",
        help="validate and save an exponential moving average of the weights, updated after "
             "every step: avg <- DECAY avg + (1 - DECAY) w, about 1 / (1 - DECAY) steps "
             "(e.g. 0.995: the last ~200 steps); default 0: off, the last step's weights")
    add("--no-augment", dest="augment", action="store_false",
        help="turn off augmentation (flips, rotation, scaling, intensity jitter)")
    add("--elastic", type=float, default=0.0,
        help="elastic deformation strength in pixels (default 0: off)")
    add("--intensity", choices=["dataset", "slice", "volume"], default="dataset",
        help="intensity scaling before the network: 'dataset' (x / 255, the default), "
             "'slice' (each channel of each slice divided by the "
             f"{SLICE_PERCENTILE:g}th percentile of its nonzero pixels), both then z-scored "
             "with the training data's per-channel mean and std; or 'volume' (Buda et al. "
             "2019: each channel of each patient's volume rescaled between its 10th and 99th "
             "percentiles and z-scored by the volume's own mean and std; intensity "
             "augmentation then jitters gamma, contrast and brightness after it). Kept in "
             "the checkpoint and used again at prediction; 'volume' predicts a scan's "
             "slices together")
    add("--prefetch", type=non_negative_int, default=2,
        help="batches prepared ahead by a background thread (default 2; 0: no thread)")
    add("--val-batch-size", type=positive_int, default=16,
        help="slices per validation batch (default 16)")


def explicit_arguments(parser, argv):
    """The options the user actually typed, as {dest: value} (defaults left out)."""
    quiet = copy.deepcopy(parser)
    for action in quiet._actions:          # argparse has no public way to ask this
        action.default = argparse.SUPPRESS
    return vars(quiet.parse_args(argv))


def training_config(parser, argv, task):
    """Parse ``argv`` into the run's settings (a JSON-able dict).

    task : "segmentation" or "classification", what the calling script trains;
        ``--resume`` of the other script's checkpoint is refused.
    With ``--resume`` the settings come from the checkpoint; the flags given
    now that may not change a run are listed in ``config["ignored_flags"]``.
    A fresh run refuses an ``--out`` folder that already holds a run, so two
    runs never mix their log and checkpoints.
    """
    args = parser.parse_args(argv)
    config = {k: v for k, v in vars(args).items() if k != "resume"}
    config["resume"] = args.resume
    if args.resume:
        given = {k: v for k, v in explicit_arguments(parser, argv).items() if k != "resume"}
        if "out" not in given:
            given["out"] = os.path.dirname(os.path.abspath(args.resume))
        config, ignored, saved_task = resume_config(args.resume, given, OVERRIDABLE_ON_RESUME)
        if saved_task != task:
            script = SCRIPT_OF_TASK[saved_task]
            raise UsageError(f"--resume {args.resume} is a {saved_task} run; resume it with "
                             f"examples/{script}")
        config["resume"] = args.resume
        config["ignored_flags"] = ignored
    elif os.path.exists(os.path.join(config["out"], LAST)):
        raise UsageError(f"--out {config['out']} already holds a run ({LAST}): resume it with "
                         f"--resume {os.path.join(config['out'], LAST)}, or choose another --out")
    check_output_folder("--out", config["out"])
    config["device"] = check_device(config["device"])
    if config.get("amp") and config["device"] != "gpu":
        raise UsageError("--amp is a GPU setting (NumPy's float16 products are ~300x slower "
                         "than float32 ones): add --device gpu")
    if config.get("tf32"):
        if config["device"] != "gpu":
            raise UsageError("--tf32 is a GPU setting: add --device gpu")
        backend.set_tf32(True)          # before the first GPU matmul
    if parallel.is_main():
        for flag in config.get("ignored_flags", []):
            print(f"note: resuming keeps the run's settings; ignored {flag}", file=sys.stderr)
    return config


#: What ``start_weights`` returns: the state dict, and the checkpoint's model spec (None for
#: a file without one: ImageNet weights, a .pth or .safetensors state dict, plain arrays).
StartWeights = namedtuple("StartWeights", "state spec")


def start_weights(config, arch, arch_args):
    """The weights of ``--weights FILE`` that a fresh run starts from: a ``StartWeights``
    (state dict, spec), or None (no --weights, or --resume, whose last.npz holds the weights).

    A checkpoint of this pipeline (a run's best.npz or last.npz, an exported model) carries
    its model spec (``checkpoint.py``), and then the run must build the same network on the
    same input: ``arch``, ``arch_args`` (``--base``, ``--width``), ``--context`` and
    ``--intensity``; only ``--size`` may differ, so that a model trained at 128x128 can be
    fine-tuned at 256x256.  Weights learnt on other inputs would load without complaint and
    train from nonsense, hence the check.  A last.npz of an ``--ema`` run gives the averaged
    weights, the ones its best.npz and ``predict`` use.  With ``--intensity dataset`` or
    ``slice`` the new run measures the mean and std of its own training slices again (at
    its own size), as any run does.  Any other file has no spec and is loaded as it is.
    """
    path = config.get("weights")
    if path is None or config.get("resume"):
        return None
    spec = pipeline_spec(path)
    if spec is not None:
        problems = _start_mismatches(spec, config, arch, arch_args)
        if problems:
            raise UsageError(f"--weights {path}: its model does not fit this run: "
                             f"{'; '.join(problems)}. Give this run the flags the weights were "
                             "trained with (only --size may differ)")
    try:
        state = load_state_dict_file(path)
    except (OSError, ValueError) as exc:       # CheckpointError is a ValueError
        raise UsageError(f"--weights {path}: {exc}") from exc
    return StartWeights(state, spec)


def pipeline_spec(path):
    """The model spec of a pipeline checkpoint at ``path``, or None for any other file (a
    .pth, .safetensors or plain .npz of weights)."""
    if not os.fspath(path).lower().endswith(".npz"):
        return None
    try:
        metadata = load_checkpoint_metadata(path)["metadata"]
    except CheckpointError:             # a plain .npz of arrays: no header
        return None
    model = metadata.get("model") if isinstance(metadata, dict) else None
    return model if isinstance(model, dict) else None


def _intensity_of(spec):
    """The ``--intensity`` a model spec was trained with (its normalization's keys)."""
    normalization = spec.get("normalization") or {}
    if "volume_percentiles" in normalization:
        return "volume"
    return "slice" if "slice_percentile" in normalization else "dataset"


def _start_mismatches(spec, config, arch, arch_args):
    """What differs between a checkpoint's spec and the network this run builds, in words.
    The input channels are left to --context's line, and arguments a checkpoint leaves out
    (saved before the flag existed) count as the constructor's defaults."""
    problems = []
    if spec.get("arch") != arch:
        problems.append(f"it is a {spec.get('arch')}, this run builds a {arch}")
    else:
        theirs, ours = (_with_defaults(arch, args) for args in (spec.get("arch_args"), arch_args))
        if theirs != ours:
            problems.append(f"its arguments are {theirs}, this run's {ours}")
    if spec.get("context", 0) != config.get("context", 0):
        problems.append(f"it was trained with --context {spec.get('context', 0)}, this run "
                        f"has --context {config.get('context', 0)} (a 2-D checkpoint does not "
                        "start a 2.5-D run)")
    trained = _intensity_of(spec)
    if trained != config.get("intensity", "dataset"):
        problems.append(f"it was trained with --intensity {trained}, this run has "
                        f"--intensity {config.get('intensity', 'dataset')}")
    return problems


def _with_defaults(arch, arch_args):
    """``arch_args`` with the constructor's defaults filled in, without ``in_channels``."""
    defaults = {name: parameter.default for name, parameter in
                inspect.signature(ARCHITECTURES[arch].constructor).parameters.items()
                if parameter.default is not inspect.Parameter.empty and name != "weights"}
    filled = {**defaults, **(arch_args or {})}
    filled.pop("in_channels", None)
    return filled


def start_run(config, model, optimizer, spec, data, monitor, *, scheduler, scaler=None):
    """The TrainingRun of these settings, with the state of ``--resume`` restored (weights,
    optimizer, ``scheduler``, data order, RNG) and ``split.json`` written into its folder.

    scheduler : the script's learning-rate schedule, stepped once per epoch, or None
    scaler : the script's ``tn.amp.GradScaler`` (``--amp``), or None
    """
    # On one GPU the loss is read every --log-every steps (a read waits for the device);
    # on the CPU reading is free, and several ranks agree on the loss every step anyway.
    read_every = config.get("log_every", 1) if config["device"] == "gpu" and \
        parallel.rank_and_size()[1] == 1 else 1
    # --ema DECAY: an exponential moving average of the weights (batch norm's statistics
    # included), validated and saved in place of the last step's weights.
    average = None
    if config.get("ema"):
        average = swa_utils.AveragedModel(
            parallel.unwrap(model), use_buffers=True,
            multi_avg_fn=swa_utils.get_ema_multi_avg_fn(config["ema"]))
    run = TrainingRun(config["out"], model=model, optimizer=optimizer, scheduler=scheduler,
                      loader=data.train_loader, spec=spec, config=config, monitor=monitor,
                      read_every=read_every, scaler=scaler, average=average)
    if config["resume"]:
        run.resume(config["resume"])
    if parallel.is_main():
        tndata.save_split(run.path("split.json"), data.split)
    return run


@dataclass
class TrainingData:
    """The data of a run: the dataset, the split, the normalization and the two loaders."""
    dataset: object
    split: dict
    normalization: dict
    train_indices: np.ndarray
    val_indices: np.ndarray
    train_loader: object
    val_loader: object


def prepare_data(config, *, augment, multiple=1):
    """Open the data, split its patients, measure the normalization, build the loaders.

    augment : the script's augmentation of training slices, a callable
        ``(image, mask, rng) -> (image, mask)`` such as ``data.Augment()``, or None
    multiple : the model's required divisor of the input side (16 for the ResUNet).

    Under ``mpiexec -n N`` (a process group of N ranks) the training loader gives
    this rank its part of every global batch of ``--batch-size``, and the validation
    loader its own consecutive share of the validation slices (``parallel.py``).
    """
    if config["size"] % multiple:
        raise UsageError(f"--size {config['size']} must be a multiple of {multiple} for this "
                         "model")
    rank, world = parallel.rank_and_size()
    if config["batch_size"] % world:
        raise UsageError(f"--batch-size {config['batch_size']} is the global batch, shared "
                         f"equally by the {world} ranks: give a multiple of {world}")
    dataset = tndata.open_dataset(config["data"], size=config["size"], seed=config["seed"])
    split = _patient_split(dataset, config)
    train_idx = dataset.indices_of(split["train"])
    val_idx = dataset.indices_of(split["val"])
    # No validation patients (--val-fraction 0, or a split whose "val" is empty) is allowed:
    # a final model trains on every patient. Validation patients without slices are not.
    if len(train_idx) == 0 or (split["val"] and len(val_idx) == 0):
        side = "training" if len(train_idx) == 0 else "validation"
        raise UsageError(f"the split leaves no slices for {side} ({len(dataset.patients)} "
                         f"patients in {config['data'] or 'the phantom'})")
    unused = sorted(set(dataset.patients) - set(split["train"]) - set(split["val"]))
    if unused and rank == 0:
        print(f"note: {len(unused)} patient(s) of the data are on neither side of the split "
              f"{config['split']} and are not used (e.g. {unused[0]}); pass a new --split path "
              "to split all of them", file=sys.stderr)
    stats = _normalization(config, dataset, train_idx)
    by_area = config.get("sampler") == "patient-area"   # runs saved before --sampler: slices
    # Per-volume normalization: the intensity augmentation acts on it (make_augment
    # leaves it out of the uint8 augmentation).
    jitter = tndata.IntensityJitter() if augment is not None and \
        "volume_percentiles" in stats else None
    train_loader = tndata.BatchLoader(
        dataset, train_idx, config["batch_size"], shuffle=True,
        oversample_tumour=None if by_area else config["oversample"],
        patient_area_sampling=PATIENT_AREA_FLOOR if by_area else None,
        augment=augment, normalization=stats,
        seed=config["seed"], drop_last=len(train_idx) > config["batch_size"],
        prefetch=config["prefetch"], rank=rank, world_size=world, intensity_jitter=jitter,
        context=config.get("context", 0),
        # On a GPU the worker thread uploads each batch (pinned memory, its own stream).
        transfer=functools.partial(backend.upload_from_worker, device=config["device"])
        if config["device"] == "gpu" and config["prefetch"] > 0 else None)
    # Validation: each rank its consecutive share of the slices (no padding, no slice
    # twice); validate.py gathers the predictions so that every rank scores all of them.
    val_loader = None                   # no validation: the scripts skip it
    if len(val_idx):
        val_share = np.array_split(val_idx, world)[rank]
        if len(val_share) == 0:
            raise UsageError(f"{len(val_idx)} validation slices cannot be shared by {world} "
                             "ranks")
        val_loader = tndata.BatchLoader(dataset, val_share, config["val_batch_size"],
                                        shuffle=False, normalization=stats, seed=config["seed"],
                                        prefetch=config["prefetch"],
                                        context=config.get("context", 0))
    data = TrainingData(dataset, split, stats, train_idx, val_idx, train_loader, val_loader)
    if rank == 0:
        print(summarize(data))
    return data


def end_epoch_without_validation(run):
    """--val-fraction 0: close the epoch (best.npz becomes its weights), print its loss and
    draw the loss curve (figures/curves.png)."""
    run.end_epoch(None)
    if run.is_main:
        record = run.history[-1]
        print(f"epoch {record['epoch']}: train loss {record['train_loss']:.4f} (no validation)")
        figures.write_curves(run.path("figures"), run.history, [])


def best_in_words(run, metric):
    """The run's last line: where best.npz is and what chose it (``metric``, e.g.
    "validation Dice"), or, without validation, that it is the last epoch's weights."""
    epoch = run.best["epoch"]
    if run.best["value"] is None:
        return f"no validation patients: best.npz is the last epoch ({epoch}): " \
               f"{run.best_path}"
    return f"best {metric} {run.best['value']:.4f} (epoch {epoch}): {run.best_path}"


def ema_decay(text):
    """argparse type of --ema: 0 (off) or a decay in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not (value == 0 or 0 < value < 1):
        raise argparse.ArgumentTypeError(f"expected 0 (off) or a decay in (0, 1), got {text!r}")
    return value


def input_arguments(config):
    """The architecture arguments that follow from the data: ``{"in_channels": 3 (2K + 1)}``
    with ``--context K`` > 0, else nothing (the networks' default of 3 channels)."""
    context = config.get("context", 0)
    return {"in_channels": tndata.context_channels(context)} if context else {}


def make_augment(config):
    """The training scripts' augmentation of a slice (flip, rotation, zoom, elastic,
    intensity jitter), or None with --no-augment.  With --intensity volume the intensity
    jitter moves after the normalization (``prepare_data``), where it is not undone."""
    if not config["augment"]:
        return None
    intensity = 0.0 if config.get("intensity") == "volume" else 0.1
    return tndata.Augment(elastic=config["elastic"], intensity=intensity)


def _normalization(config, dataset, train_idx):
    """The normalization stats of ``--intensity`` (the per-channel statistics of the training
    slices, or per volume: measured from each volume itself)."""
    if config.get("intensity") == "volume":
        return {"mean": [0.0] * 3, "std": [1.0] * 3,
                "volume_percentiles": list(tndata.VOLUME_PERCENTILES)}
    # Runs saved before --intensity existed used dataset scaling.
    percentile = SLICE_PERCENTILE if config.get("intensity") == "slice" else None
    return tndata.channel_stats(dataset, train_idx, slice_percentile=percentile)


def _patient_split(dataset, config):
    path = config["split"]
    if path and os.path.exists(path):
        split = tndata.load_split(path, patients=dataset.patients)
        if config["val_fraction"] == 0 and split["val"]:
            raise UsageError(f"--val-fraction 0 asks for no validation, but the split {path} "
                             f"holds {len(split['val'])} validation patient(s): give a split "
                             "whose \"val\" is empty, or a new --split path")
        return split
    split = tndata.split_patients(dataset.patients, val_fraction=config["val_fraction"],
                                  seed=config["seed"])
    if path and parallel.is_main():     # the other ranks made the same split from the seed
        tndata.save_split(path, split)
    return split


def summarize(data):
    """One line about the data of a run, for the console."""
    n_train = len(data.train_indices)
    n_val = len(data.val_indices)
    tumour = np.asarray(data.dataset.has_tumour)
    return (f"{len(data.dataset.patients)} patients, {len(data.dataset)} slices "
            f"({int(tumour.sum())} with tumour); train {len(data.split['train'])} patients / "
            f"{n_train} slices, " + (f"validation {len(data.split['val'])} patients / {n_val} "
                                    "slices" if n_val else "no validation (every patient "
                                    "trains; best.npz is the last epoch)"))
