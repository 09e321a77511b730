"""``tinynet evaluate``: score trained models on brain MRI slices with true tumour masks.

    tinynet evaluate kaggle_3m --classifier runs/classifier/best.npz \
        --segmenter runs/resunet/best.npz --split runs/resunet/split.json --subset val \
        --json report.json --html report.html
    tinynet evaluate --segmenter runs/resunet/best.npz      # on the phantom

(``python -m tinynet evaluate`` and ``python examples/evaluate.py`` are the same command.)
Prints a table and, on request, writes the report as JSON and as one
self-contained HTML page (figures embedded):

* classifier (per slice): accuracy, precision, sensitivity, specificity, F1,
  ROC AUC, confusion matrix, ROC curve;
* segmenter alone: mean and median per-patient 3-D Dice (all slices of a
  patient as one volume), mean Dice on tumour slices, IoU, per-patient table;
* pipeline (both models): the segmenter's masks zeroed where the classifier
  says no tumour, scored the same way; the worst patients with overlays.

Both empty (no tumour, none predicted) gives Dice 1.  Predictions are scored
at the data's own size: the data is never resized for the evaluation.
"""
import sys
import time

from .._lazy import tqdm  # imported at first use

from .. import cli, report
from ..data import load_split, open_dataset
from ..inference import load_models, resolve_checkpoints, weights_folder

__all__ = ["build_parser", "main", "run"]


def build_parser(prog=None):
    """The argument parser of ``tinynet evaluate`` (``prog``: the name its messages use)."""
    parser = cli.ArgumentParser(
        prog=prog,
        description="Score a tumour classifier and/or segmenter on slices with true masks: "
                    "a printed table, a JSON report and an HTML page.",
        epilog="Exit codes: 0 done, 2 bad arguments, data or checkpoint.")
    parser.add_argument("data", nargs="?", default="phantom",
                        help="a kaggle_3m folder with masks, a .npz packed by "
                             "`tinynet pack`, or 'phantom' (the built-in synthetic data, "
                             "the default)")
    cli.add_prediction_arguments(parser)   # models, --device, thresholds, --min-area, --tta
    parser.add_argument("--json", metavar="FILE", help="write the report as JSON to FILE")
    parser.add_argument("--html", metavar="FILE",
                        help="write the report as a self-contained HTML page to FILE")
    parser.add_argument("--split", metavar="FILE",
                        help="a split.json written by the training scripts: evaluate only "
                             "the patients of --subset")
    parser.add_argument("--subset", choices=["val", "train"],
                        help="which patients of --split to evaluate (default val, the "
                             "held-out patients: how results are reported)")
    parser.add_argument("--batch-size", type=cli.positive_int, default=16,
                        help="slices per classifier forward pass, half as many for the "
                             "segmenter (default 16)")
    return parser


def main(argv=None, prog=None):
    """Run ``tinynet evaluate`` on ``argv`` (default: the command line); returns the exit code.

    Bad input exits with code 2 and one line on stderr, ``<prog>: error: ...``.
    """
    return cli.run_main(lambda argv: run(build_parser(prog).parse_args(argv)), argv, prog)


def run(args):
    """Evaluate the models of ``args`` on ``args.data``; print the table, write the reports."""
    if args.subset and not args.split:
        raise cli.UsageError("--subset needs --split FILE (the split.json of a training run)")
    for flag, path in (("--json", args.json), ("--html", args.html)):
        cli.check_output_file(flag, path)      # before minutes of evaluation, not after
    device = cli.check_device(args.device)
    start = time.perf_counter()
    # The files actually used (the shipped weights when none is given), for the report.
    shipped = args.classifier is None and args.segmenter is None
    args.classifier, args.segmenter = resolve_checkpoints(args.classifier, args.segmenter)
    # The shipped models come with their pipeline settings, chosen by cross-validation.
    cli.apply_shipped_settings(args, shipped, weights_folder())
    classifier, segmenter = load_models(args.classifier, args.segmenter, device)
    dataset = open_dataset(args.data)          # its own size: no resizing for evaluation
    subset = None
    if args.split:
        subset = args.subset or "val"
        split = load_split(args.split, patients=dataset.patients)
        if not split[subset]:
            raise cli.UsageError(
                f"--split {args.split} has no {subset} patients"
                + (" (a run trained on every patient, --val-fraction 0): --subset train scores "
                   "its training patients" if subset == "val" else ""))
        dataset = dataset.subset(split[subset])
    load_seconds = time.perf_counter() - start

    sources = {"data": args.data, "classifier": args.classifier, "segmenter": args.segmenter,
               "split": args.split, "subset": subset}
    with tqdm(total=len(dataset), unit="slice", desc="evaluate", disable=None) as bar:
        evaluation = report.evaluate(dataset, classifier, segmenter,
                                     cls_threshold=args.cls_threshold,
                                     seg_threshold=args.seg_threshold, min_area=args.min_area,
                                     rule=args.rule,
                                     min_component=args.min_component, tta=args.tta,
                                     area_size=args.area_size,
                                     device=device, batch_size=args.batch_size,
                                     sources=sources, progress=bar.update)
    evaluation.report["timings"]["load_seconds"] = round(load_seconds, 3)

    print(report.format_table(evaluation.report))
    if args.json:
        report.save_json(evaluation.report, args.json)
        print(f"JSON report: {args.json}")
    if args.html:
        report.save_html(evaluation, args.html)
        print(f"HTML report: {args.html}")
    return 0
