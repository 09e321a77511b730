"""Train the ResNet tumour classifier: does this MRI slice show a tumour?

    python examples/train_classifier.py                          # the built-in phantom
    python examples/train_classifier.py --data kaggle_3m --arch resnet18 \\
        --weights resnet18_imagenet.npz --epochs 8 --out runs/classifier
    python examples/train_classifier.py --resume runs/classifier/last.npz
    mpiexec -n 2 python examples/train_classifier.py ...  # data-parallel, 2 ranks

Writes into --out: best.npz (best validation ROC AUC, with what inference
needs), last.npz (for --resume), log.jsonl, split.json and figures/ (loss and
metric curves, confusion matrix, ROC curve).  ImageNet weights: see
examples/convert_weights.py and the README.

The model, the optimizer, the learning-rate schedule and the augmentation are
made in ``main()``, the training loop is below in ``train()``: forward, loss,
backward, step.  Under ``mpiexec -n N`` it trains data-parallel: ``--batch-size``
is the global batch, of which each rank trains its part; rank 0 alone prints and
writes files (tinynet/mri/parallel.py).
"""
import os
import sys

# Run from a clone without `pip install -e .`: the repository's own tinynet comes first.
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tinynet as tn  # noqa: E402
from tinynet import ops  # noqa: E402
from tinynet.mri import cli, experiment, figures, parallel  # noqa: E402
from tinynet.mri.architectures import architecture_names, build_model, inflate_stem  # noqa: E402
from tinynet.mri.checkpoint import model_spec  # noqa: E402
from tinynet.mri.validate import validate_classifier  # noqa: E402


def build_parser():
    parser = cli.ArgumentParser(
        description="Train the ResNet tumour classifier (tinynet).",
        epilog="Exit codes: 0 done, 1 stopped by a NaN/inf loss (the last good checkpoint "
               "is kept), 2 bad arguments or data, 130 interrupted by Ctrl-C (resume with "
               "--resume OUT/last.npz).")
    experiment.add_training_arguments(parser, epochs=8, batch_size=16, lr=1e-3, size=128,
                                      oversample=None, out="runs/classifier")
    parser.add_argument("--arch", choices=architecture_names("classification", ensembles=False),
                        default="resnet18",
                        help="ResNet depth (default resnet18)")
    parser.add_argument("--width", type=cli.positive_int, default=64,
                        help="channels of the ResNet's first stage, doubled at each of its "
                             "four (default 64, the standard ResNet; 32: a quarter of the "
                             "parameters and of the work; ImageNet weights need 64)")
    parser.add_argument("--weights", type=cli.existing_path, default=None, metavar="FILE",
                        help="start from these weights (.pth, .safetensors or .npz, e.g. "
                             "ImageNet weights converted by examples/convert_weights.py, "
                             "whose 1000-class head is replaced by a 2-class one; or a "
                             "checkpoint of this script, whose --arch, --width, --context and "
                             "--intensity must be this run's, --size may differ)")
    parser.add_argument("--threshold", type=cli.probability, default=0.5,
                        help="a slice is called positive when P(tumour) >= this (default 0.5)")
    return parser


def main(argv=None):
    config = experiment.training_config(build_parser(), argv, task="classification")
    # Started by `mpiexec -n N`: join the N ranks; a plain `python` run is rank 0 of 1.
    rank, world_size = parallel.start()
    device = config["device"]

    tn.manual_seed(config["seed"])
    # --context K: 3 (2K + 1) input channels, the slice and its neighbours.
    arch_args = {"num_classes": 2, "width": config.get("width", 64),
                 **experiment.input_arguments(config)}
    # Before the data is read, so a bad --weights file is reported at once.  On --resume the
    # weights come from last.npz, so the start weights are not read again (None).
    start = experiment.start_weights(config, config["arch"], arch_args)
    weights = None if start is None else start.state
    try:
        if start is not None and start.spec is None and "in_channels" in arch_args:
            # 3-channel start weights (ImageNet's): the slice's own channels get them, the
            # neighbours' start at 0.  A checkpoint of this script already has its channels.
            weights = inflate_stem(weights, arch_args["in_channels"])
        model = build_model(config["arch"], **arch_args, weights=weights)
    except (KeyError, ValueError, RuntimeError) as exc:    # keys or shapes that do not fit
        raise cli.UsageError(f"--weights {config['weights']}: {exc}") from exc
    model = model.to(device)
    if world_size > 1:
        # BatchNorm statistics over the global batch, as one process would compute them;
        # DDP starts every rank from rank 0's weights and averages the gradients in backward.
        model = tn.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = tn.nn.parallel.DistributedDataParallel(model)
    # Flips, small rotations and scalings, intensity jitter (and elastic warps with --elastic),
    # drawn per sample from (seed, epoch, position), so a resumed run sees the same ones.
    augment = experiment.make_augment(config)
    data = experiment.prepare_data(config, augment=augment)
    spec = model_spec(config["arch"], arch_args, config["size"], data.normalization,
                      config["threshold"], context=config.get("context", 0))
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
    run = experiment.start_run(config, model, optimizer, spec, data, monitor="val_auc",
                               scheduler=scheduler, scaler=scaler)
    train(run, model, optimizer, data, device, config["threshold"])
    if run.best and rank == 0:
        print(experiment.best_in_words(run, "validation ROC AUC"))
    return run.exit_code


def train(run, model, optimizer, data, device, threshold):
    """The training loop: one pass over the training slices per epoch, then validation."""
    with run.guard():
        for epoch in run.epochs():
            model.train()
            for batch in run.progress(data.train_loader):
                # (B, C, S, S): C = 3, or 3 (2K + 1) with --context K
                images = tn.as_tensor(batch.images, device=device)
                labels = tn.as_tensor(batch.labels, device=device)       # (B,), 1 = tumour
                with tn.autocast(device, enabled=run.scaler.is_enabled()):
                    logits = model(images)                            # (B, 2)
                    loss = ops.cross_entropy(logits, labels)
                value = run.check_finite(loss)  # a NaN stops here, before it reaches the weights
                optimizer.zero_grad()
                run.scaler.scale(loss).backward()
                run.scaler.step(optimizer)      # --amp: skips a step whose gradients overflowed
                run.scaler.update()
                # Accuracy of this batch, a 0-d tensor on the device: the run reads it with
                # the loss (on a GPU every --log-every steps), not here.
                correct = (logits.detach().argmax(dim=1) == labels).float().mean()
                run.step_done(loss=value, accuracy=correct)

            if data.val_loader is None:       # --val-fraction 0: every patient trains
                experiment.end_epoch_without_validation(run)
                continue
            # The model itself (its average with --ema), not its DDP wrapper: each rank
            # predicts its share of the validation slices, and validate_classifier gathers
            # them from every rank.
            scores, predictions = validate_classifier(run.evaluated_model(), data.val_loader,
                                                      device, threshold,
                                                      criterion=ops.cross_entropy)
            is_best = run.end_epoch(scores)
            if not run.is_main:
                continue                    # rank 0 alone prints and draws
            print(f"epoch {epoch + 1}: train loss {run.history[-1]['train_loss']:.4f}, "
                  f"validation accuracy {scores['val_accuracy']:.4f}, "
                  f"AUC {scores['val_auc']:.4f}{'  (best)' if is_best else ''}")
            folder = run.path("figures")
            figures.write_curves(folder, run.history,
                                 ["val_accuracy", "val_sensitivity", "val_specificity", "val_auc"])
            figures.write_classifier_figures(folder, predictions, threshold, is_best)


if __name__ == "__main__":
    sys.exit(cli.run_main(main))
