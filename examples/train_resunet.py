"""Train the ResUNet tumour segmenter on brain MRI slices.

    python examples/train_resunet.py                      # the built-in phantom, ~3.4 min
    python examples/train_resunet.py --data lgg128.npz --epochs 12 --out runs/resunet
    python examples/train_resunet.py --resume runs/resunet/last.npz
    mpiexec -n 2 python examples/train_resunet.py ...     # data-parallel, 2 ranks

Writes into --out: best.npz (the weights of the best validation epoch, with
what inference needs), last.npz (for --resume), log.jsonl, split.json and
figures/ (loss and Dice curves, validation overlays: truth green, prediction red).

The model, the optimizer, the learning-rate schedule and the augmentation are
made in ``main()``, the training loop is below in ``train()``: forward, loss,
backward, step.  What they lean on (the data and split, checkpoints, resume,
the NaN guard, the log, the figures) is in tinynet/mri/.

Under ``mpiexec -n N`` the script trains data-parallel: ``--batch-size`` is the
global batch, of which each rank trains its part; rank 0 alone prints and
writes files (tinynet/mri/parallel.py).
"""
import functools
import os
import sys

# Run from a clone without `pip install -e .`: the repository's own tinynet comes first.
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tinynet as tn  # noqa: E402
from tinynet import metrics, ops  # noqa: E402
from tinynet.mri import cli, experiment, figures, parallel  # noqa: E402
from tinynet.mri.architectures import build_model  # noqa: E402
from tinynet.mri.checkpoint import model_spec  # noqa: E402
from tinynet.mri.validate import validate_segmenter  # noqa: E402


# The losses' sums run over the batch of every rank when ``global_batch`` (data-parallel
# training), so 2 ranks x 4 slices minimize the loss of the 8; validation, where each rank
# scores its own share, takes them per rank.

def focal_tversky(logits, masks, global_batch=False, alpha=0.7):
    """(1 - Tversky index) ** 0.75, alpha on false negatives and 1 - alpha on false positives
    (0.7 and 0.3 by default: Abraham & Khan, 2019)."""
    return ops.focal_tversky_loss(logits, masks, alpha=alpha, beta=1 - alpha, from_logits=True,
                                  global_batch=global_batch)


def dice_bce(logits, masks, global_batch=False):
    """Soft Dice plus binary cross-entropy, the usual pair in U-Net training."""
    return ops.dice_loss(logits, masks, from_logits=True, global_batch=global_batch) + \
        ops.binary_cross_entropy_with_logits(logits, masks)


def dice(logits, masks, global_batch=False):
    """Soft Dice loss alone."""
    return ops.dice_loss(logits, masks, from_logits=True, global_batch=global_batch)


def tversky(logits, masks, global_batch=False, alpha=0.7):
    """Tversky loss, alpha (default 0.7) on false negatives, 1 - alpha on false positives."""
    return ops.tversky_loss(logits, masks, alpha=alpha, beta=1 - alpha, from_logits=True,
                            global_batch=global_batch)


def bce(logits, masks, global_batch=False):
    """Per-pixel binary cross-entropy alone (weak on small tumours: background dominates).
    A mean per pixel: the ranks' equal shares average to the global batch's mean as it is."""
    return ops.binary_cross_entropy_with_logits(logits, masks)


LOSSES = {"focal_tversky": focal_tversky, "dice_bce": dice_bce, "dice": dice,
          "tversky": tversky, "bce": bce}
#: The losses that weigh false negatives by --tversky-alpha (and false positives by 1 - it).
TVERSKY_LOSSES = ("focal_tversky", "tversky")


def build_parser():
    parser = cli.ArgumentParser(
        description="Train the ResUNet tumour segmenter (tinynet).",
        epilog="Exit codes: 0 done, 1 stopped by a NaN/inf loss (the last good checkpoint "
               "is kept), 2 bad arguments or data, 130 interrupted by Ctrl-C (resume with "
               "--resume OUT/last.npz).")
    experiment.add_training_arguments(parser, epochs=6, batch_size=8, lr=1e-3, size=128,
                                      oversample=0.5, out="runs/resunet")
    parser.add_argument("--loss", choices=sorted(LOSSES), default="focal_tversky",
                        help="training loss (default focal_tversky; dice_bce = soft Dice + "
                             "BCE)")
    parser.add_argument("--tversky-alpha", type=cli.probability, default=0.7, metavar="A",
                        help="weight of the missed tumour pixels (false negatives) in the "
                             "(focal) Tversky loss, 1 - A on false positives (default 0.7; "
                             "higher favours recall)")
    parser.add_argument("--base", type=cli.positive_int, default=16,
                        help="channels of the first stage, doubled at each depth (default 16: "
                             "the classic 1.2M-parameter ResUNet)")
    parser.add_argument("--threshold", type=cli.probability, default=0.5,
                        help="a pixel is tumour when its probability is >= this (default 0.5)")
    parser.add_argument("--weights", type=cli.existing_path, default=None, metavar="FILE",
                        help="start from these weights instead of random ones: a checkpoint of "
                             "this script (best.npz, last.npz, an exported model; its --base, "
                             "--context and --intensity must be this run's, --size may "
                             "differ, e.g. to fine-tune at 256 a model trained at 128) or a "
                             ".pth/.safetensors state dict of the same network. A new run: "
                             "fresh optimizer and schedule")
    return parser


def main(argv=None):
    config = experiment.training_config(build_parser(), argv, task="segmentation")
    # Started by `mpiexec -n N`: join the N ranks; a plain `python` run is rank 0 of 1.
    rank, world_size = parallel.start()
    device = config["device"]
    # --context K: 3 (2K + 1) input channels, the slice and its neighbours.
    arch_args = {"base": config["base"], "depth": 4, **experiment.input_arguments(config)}
    # --weights, read before the data so that a file that does not fit is reported at once
    start = experiment.start_weights(config, "resunet", arch_args)
    # Flips, small rotations and scalings, intensity jitter (and elastic warps with --elastic),
    # drawn per sample from (seed, epoch, position), so a resumed run sees the same ones.
    augment = experiment.make_augment(config)
    data = experiment.prepare_data(config, augment=augment,
                                   multiple=16)     # the ResUNet halves the side 4 times

    tn.manual_seed(config["seed"])
    spec = model_spec("resunet", arch_args, config["size"], data.normalization,
                      config["threshold"], context=config.get("context", 0))
    model = build_model("resunet", **arch_args)
    if start is not None:
        try:
            model.load_state_dict(start.state, strict=True)    # every key, every shape
        except (KeyError, ValueError, RuntimeError) as exc:
            raise cli.UsageError(f"--weights {config['weights']}: {exc}") from exc
    model = model.to(device)
    if world_size > 1:
        # BatchNorm statistics over the global batch, as one process would compute them;
        # DDP starts every rank from rank 0's weights and averages the gradients in backward.
        model = tn.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = tn.nn.parallel.DistributedDataParallel(model)
    # fused: on a GPU one kernel per parameter for Adam's update (tinynet/optim/adam.py).
    optimizer = tn.optim.Adam(model.parameters(), lr=config["lr"],
                              weight_decay=config["weight_decay"],
                              fused=config["device"] == "gpu")
    # --schedule cosine: the learning rate falls along a half cosine from --lr to lr/100 over
    # the epochs, stepped after each one; constant: no scheduler.
    scheduler = None
    if config["schedule"] == "cosine":
        scheduler = tn.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"],
                                                            eta_min=config["lr"] / 100)
    # --amp: float16 convolutions and products, the loss scaled so that small gradients
    # survive float16 (a no-op scaler without it).
    scaler = tn.amp.GradScaler(enabled=config.get("amp", False))
    run = experiment.start_run(config, model, optimizer, spec, data, monitor="val_dice",
                               scheduler=scheduler, scaler=scaler)
    loss = LOSSES[config["loss"]]
    if config["loss"] in TVERSKY_LOSSES:
        # (a run saved before --tversky-alpha existed resumes with the alpha it trained with)
        loss = functools.partial(loss, alpha=config.get("tversky_alpha", 0.7))
    # Under mpiexec the loss of the global batch (see the losses above); validation per rank.
    train_loss = functools.partial(loss, global_batch=True) if world_size > 1 else loss
    train(run, model, optimizer, train_loss, loss, data, device, config["threshold"])
    if run.best and rank == 0:
        print(experiment.best_in_words(run, "validation Dice"))
    return run.exit_code


def train(run, model, optimizer, criterion, val_criterion, data, device, threshold):
    """The training loop: one pass over the training slices per epoch, then validation."""
    shown = figures.pick_overlay_slices(data.dataset, data.val_indices) \
        if data.val_loader is not None else None
    with run.guard():
        for epoch in run.epochs():
            model.train()
            for batch in run.progress(data.train_loader):
                # (B, C, S, S): C = 3, or 3 (2K + 1) with --context K
                images = tn.as_tensor(batch.images, device=device)
                masks = tn.as_tensor(batch.masks, device=device)         # (B, 1, S, S), 0/1
                with tn.autocast(device, enabled=run.scaler.is_enabled()):
                    logits = model(images)                            # (B, 1, S, S)
                    loss = criterion(logits, masks)
                value = run.check_finite(loss)  # a NaN stops here, before it reaches the weights
                optimizer.zero_grad()
                run.scaler.scale(loss).backward()
                run.scaler.step(optimizer)      # --amp: skips a step whose gradients overflowed
                run.scaler.update()
                run.step_done(loss=value, dice=batch_dice(logits.detach(), masks, threshold))

            if data.val_loader is None:       # --val-fraction 0: every patient trains
                experiment.end_epoch_without_validation(run)
                continue
            # The model itself (its average with --ema), not its DDP wrapper: each rank
            # predicts its share of the validation slices, and validate_segmenter gathers
            # them from every rank.
            scores, predictions = validate_segmenter(run.evaluated_model(), data.val_loader,
                                                     data.dataset.patient_of, device,
                                                     threshold, val_criterion)
            is_best = run.end_epoch(scores)
            if run.is_main:
                print(f"epoch {epoch + 1}: train loss {run.history[-1]['train_loss']:.4f}, "
                      f"validation Dice {scores['val_dice']:.4f} per patient"
                      f"{'  (best)' if is_best else ''}")
                write_figures(run, data, predictions, shown, threshold, is_best)


def batch_dice(logits, masks, threshold):
    """Dice of a batch as one volume (validation averages per patient instead): 2|P∩T| /
    (|P| + |T|), 1 when both are empty.  A 0-d tensor on the logits' device: the run reads
    it with the loss (on a GPU every --log-every steps), not here."""
    predicted = (ops.sigmoid(logits) >= threshold).float()
    overlap, total = (predicted * masks).sum(), predicted.sum() + masks.sum()
    return ops.where(total > 0, 2 * overlap / ops.clamp(total, min=1), metrics.EMPTY_SCORE)


def write_figures(run, data, predictions, shown, threshold, is_best):
    folder = run.path("figures")
    figures.write_curves(folder, run.history, ["val_dice", "val_dice_tumour_slices", "val_iou"])
    figures.write_segmentation_figures(folder, data.dataset, shown, predictions, threshold,
                                       is_best)


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
