"""``tinynet crossval``: k-fold cross-validation by patient, in four steps.

    tinynet crossval folds kaggle_3m --k 5 --seed 0 --out runs/folds.json
    tinynet crossval train segmenter kaggle_3m --folds runs/folds.json --out runs/cv/seg \\
        -- --size 128 --epochs 4                  # the flags after -- go to the training script
    tinynet crossval train classifier kaggle_3m --folds runs/folds.json --out runs/cv/cls \\
        --launcher "mpiexec -n 2" -- --size 128 --epochs 4 --batch-size 16
    tinynet crossval score runs/cv/cls runs/cv/seg --out runs/cv/pipeline
    tinynet crossval tune runs/cv/cls runs/cv/seg --out runs/cv/tuned
    tinynet crossval compare runs/cv/seg runs/cv/seg-dice-bce --json comparison.json
    tinynet crossval ensemble runs/cv/seg runs/cv/seg-seed1 --out runs/cv/seg-2seeds

(``python -m tinynet crossval`` and ``python examples/crossval.py`` are the same command.)

* ``folds``: deal the patients of the data into k folds, stratified by institution
  (``tinynet.mri.data.kfold_patients``) and write them to one JSON file;
* ``train``: train one model on every fold (examples/train_resunet.py for the
  segmenter, train_classifier.py for the classifier, with the flags after ``--``),
  each fold in OUT/fold-K; run again, it skips finished folds and resumes the
  others from their last.npz.  When all are done it scores them: OUT/patients.json
  and OUT/patients.csv, one row per patient, held out by its fold;
* ``score``: the same table for one run with other thresholds, or for the
  two-stage pipeline (fold k's classifier and segmenter on fold k's patients), or for
  the folds that have finished (``--fold K``) while the others train;
* ``tune``: choose the rule, thresholds and post-processing of the pipeline by nested
  cross-validation (``crossval/tuning.py``), with an honest per-patient table (on every
  fold, or on two or more with ``--fold``);
* ``compare``: two tables patient by patient, with a Wilcoxon signed-rank test;
* ``ensemble``: fold k's models of several runs (e.g. other ``--seed``s) averaged into
  one model per fold, a folder that ``score``, ``tune`` and ``compare`` take like a run.

The code is in tinynet/mri/crossval/ (training.py, scoring.py, tuning.py, compare.py,
ensembles.py).
"""
import argparse
import json
import os
import sys

from tinynet.io import atomic_write_text

from .. import cli, crossval
from ..report import EMPTY_MASK_RULE
from ..data import institution_of, kfold_patients, open_dataset, save_folds

__all__ = ["build_parser", "main"]

#: The file names of the per-patient table in a cross-validation folder.
TABLE_JSON, TABLE_CSV = "patients.json", "patients.csv"


def build_parser(prog=None):
    """The argument parser of ``tinynet crossval`` and its steps (``prog``: the name its
    messages use)."""
    parser = cli.ArgumentParser(
        prog=prog, description="k-fold cross-validation by patient: make the folds, train a "
                               "model on each, score every patient once, compare two runs.",
        epilog="`crossval STEP --help` shows a step's flags. Exit codes: 0 done, 1 a fold's "
               "training failed, 2 bad arguments or input, 130 interrupted (run the same "
               "command again to go on).")
    steps = parser.add_subparsers(title="steps", dest="step", metavar="STEP", required=True)
    _add_folds_step(steps)
    _add_train_step(steps)
    _add_score_step(steps)
    _add_tune_step(steps)
    _add_compare_step(steps)
    _add_ensemble_step(steps)
    return parser


def _add_data_argument(parser):
    parser.add_argument("data", nargs="?", default="phantom",
                        help="a kaggle_3m folder, a .npz packed by `tinynet pack`, or "
                             "'phantom' (the built-in synthetic data, the default)")


def _add_folds_step(steps):
    parser = steps.add_parser("folds", help="deal the patients into k folds, written to a file",
                              description="Deal the patients of DATA into k folds, stratified "
                                          "by institution, and write them to one JSON file.")
    _add_data_argument(parser)
    parser.add_argument("--k", type=cli.positive_int, default=5,
                        help="number of folds (default 5)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the dealing (default 0)")
    parser.add_argument("--out", required=True, metavar="FILE", help="the fold file to write")


def _add_train_step(steps):
    parser = steps.add_parser(
        "train", help="train a model on every fold (resumable), then score it",
        description="Train the segmenter or the classifier on every fold, one run per fold in "
                    "OUT/fold-K; finished folds are skipped, interrupted ones resume from "
                    "their last.npz. Then write OUT/patients.json and .csv.",
        epilog="Flags after -- go to the training script (examples/train_resunet.py or "
               "train_classifier.py), e.g. -- --size 128 --epochs 4; --data, --out, --split "
               "and --resume are set per fold.")
    parser.add_argument("model", choices=sorted(crossval.MODELS), help="the model to train")
    _add_data_argument(parser)
    parser.add_argument("--out", metavar="DIR",
                        help="the cross-validation folder (default runs/crossval/MODEL)")
    parser.add_argument("--folds", metavar="FILE",
                        help="the fold file: used if it exists, else made there from --k and "
                             "--seed (default OUT/folds.json). Give the classifier and the "
                             "segmenter the same file to score the pipeline")
    parser.add_argument("--k", type=cli.positive_int,
                        help="number of folds when they are made (default 5)")
    parser.add_argument("--seed", type=int,
                        help="seed of the folds when they are made (default 0; the training "
                             "seed is the script's --seed, after --)")
    parser.add_argument("--fold", type=cli.positive_int, action="append", metavar="K",
                        help="train only fold K (repeat for several; default: every fold)")
    parser.add_argument("--launcher", metavar="CMD",
                        help='start each training under this command, e.g. "mpiexec -n 2"')
    parser.add_argument("--weights-from", metavar="RUN",
                        help="fine-tune: fold K starts from fold K's last.npz of the "
                             "cross-validation RUN of the same model and network on the same "
                             "folds (passed to the fold's training as --weights), e.g. -- "
                             "--size 256 --epochs 2 --lr 1e-4 after training at 128; give it "
                             "again when the command is run again")


def _add_fold_argument(parser, help_text):
    parser.add_argument("--fold", type=cli.positive_int, action="append", metavar="K",
                        help=help_text)


def _add_score_step(steps):
    parser = steps.add_parser(
        "score", help="the per-patient table of one run, or of the pipeline of two",
        description="Score a cross-validation: each fold's model predicts the patients it held "
                    "out. Give a classifier run and a segmenter run to score the two-stage "
                    "pipeline (fold k's models together on fold k's patients).")
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="a folder of `crossval train`, or a classifier's and a segmenter's")
    parser.add_argument("--data", help="score on this data (default: the data of the runs)")
    parser.add_argument("--out", metavar="DIR",
                        help="folder for patients.json and patients.csv (default: the run's "
                             "folder; needed with two runs)")
    parser.add_argument("--checkpoint", choices=["last", "best"], default="last",
                        help="which checkpoint of each fold: last (default: the end of the fixed "
                             "schedule) or best (its epoch was chosen on the very patients the "
                             "fold holds out, so its score is optimistic)")
    _add_fold_argument(parser, "score only fold K (repeat for several; default: every fold; "
                               "needs --out): only those folds need to have finished, e.g. to "
                               "look at a cross-validation still training. Their rows are the "
                               "whole table's: `compare --common-only` pairs it with a whole one")
    cli.add_device_argument(parser)
    cli.add_threshold_arguments(parser)


def _add_tune_step(steps):
    parser = steps.add_parser(
        "tune", help="choose the pipeline's rule, thresholds and post-processing by nested "
                     "cross-validation",
        description="Each fold's models predict every slice they held out (kept in "
                    "OUT/predictions.npz and reused), then a grid of settings (--rule, "
                    "--cls-threshold, --seg-threshold, --min-area, --min-component) is scored "
                    "patient by patient. Each fold's patients are scored with the settings "
                    "that are best on the other folds (an honest estimate, written as "
                    "OUT/patients.json for `crossval compare`); the settings best on all "
                    "folds, the ones to use with models trained on every patient, are printed "
                    "and written to OUT/tuning.json and, in the shipped format, "
                    "OUT/pipeline.json. --grid tries other values. --tta is not tuned but "
                    "fixed for the run: tune into another --out with and without it, and "
                    "compare the two.")
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="a segmenter's folder of `crossval train`, and optionally a "
                             "classifier's trained on the same folds")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder for predictions.npz (and predictions.json, what they "
                             "were made from), tuning.json, pipeline.json and the per-patient "
                             "table")
    parser.add_argument("--data", help="predict on this data (default: the data of the runs)")
    parser.add_argument("--checkpoint", choices=["last", "best"], default="last",
                        help="which checkpoint of each fold (default last; see `crossval score`)")
    parser.add_argument("--tta", action="store_true",
                        help="predict with test-time augmentation (the segmenter averaged over "
                             "the mirror image, twice its time): the settings are chosen for it "
                             "and pipeline.json turns it on; compare with a tuning without it")
    parser.add_argument("--grid", type=_grid_entry, action="append", metavar="KEY=V1,V2,...",
                        help="try these values of KEY (seg_threshold, min_component, rule, "
                             "cls_threshold or min_area) instead of the default grid's "
                             "(once per key); areas are pixels of the tuned "
                             "slices, the default ones are given at 128x128 and scaled. "
                             "A setting chosen at an end of its list is reported: the grid "
                             "may be too narrow there")
    _add_fold_argument(parser, "tune on fold K only (at least two, repeated; default: every "
                               "fold): only those need to have finished. Each is scored with "
                               "the settings best on the other ones given, an estimate from "
                               "fewer folds than the whole tuning's")
    cli.add_device_argument(parser)


def _add_compare_step(steps):
    parser = steps.add_parser(
        "compare", help="compare two runs patient by patient (Wilcoxon signed-rank)",
        description="Per-patient differences B - A of two per-patient tables, their mean and "
                    "median, and a Wilcoxon signed-rank test (scipy.stats.wilcoxon).")
    parser.add_argument("a", metavar="A", help="patients.json, or the folder that holds it")
    parser.add_argument("b", metavar="B", help="the other run's")
    parser.add_argument("--metric", choices=crossval.SUMMARIZED, default="dice",
                        help="the per-patient number to compare (default dice)")
    parser.add_argument("--common-only", action="store_true",
                        help="compare the patients both tables have, if their sets differ")
    parser.add_argument("--json", metavar="FILE", help="write the comparison as JSON to FILE")


def _add_ensemble_step(steps):
    parser = steps.add_parser(
        "ensemble", help="average fold k's models of several runs into one per fold",
        description="Make an ensemble of finished cross-validations of one model on the same "
                    "folds (e.g. the same recipe with other --seed): fold k's model of OUT is "
                    "the mean of the runs' fold-k models' probabilities. OUT is then scored, "
                    "tuned and compared like a run.")
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="two or more folders of `crossval train` (one model, same folds)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="the folder to write (fold-K/last.npz and best.npz, "
                             "crossval.json, folds.json, patients.json)")
    parser.add_argument("--fold", type=int, action="append", metavar="K",
                        help="only fold K (repeat for several; default: every fold): only "
                             "those need to have finished; nothing is scored, score and tune "
                             "them with `crossval score/tune --fold K`")
    cli.add_device_argument(parser)


def main(argv=None, prog=None):
    """Run ``tinynet crossval`` on ``argv`` (default: the command line); returns the exit code.

    Bad input exits with code 2 and one line on stderr, ``<prog>: error: ...``.
    """
    def run(argv):
        own, train_args = _split_training_flags(sys.argv[1:] if argv is None else list(argv))
        args = build_parser(prog).parse_args(own)
        if train_args and args.step != "train":
            raise cli.UsageError("only `crossval train` takes training flags after --")
        args.train_args = train_args
        return STEPS[args.step](args)

    return cli.run_main(run, argv, prog)


def _split_training_flags(argv):
    """``(crossval's arguments, the training script's flags)``: split at the first ``--``."""
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1:]


# ---------------------------------------------------------------------------
# The steps
# ---------------------------------------------------------------------------

def run_folds(args):
    """Make the folds of ``args.data`` and write them to ``args.out``; print who is where."""
    cli.check_output_file("--out", args.out)
    dataset = open_dataset(None if args.data == "phantom" else args.data)
    folds = kfold_patients(dataset.patients, n_splits=args.k, seed=args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_folds(args.out, folds)
    print(f"{args.out}: {len(folds['patients'])} patients in {args.k} folds (seed {args.seed})")
    for entry in folds["folds"]:
        codes = [institution_of(p) for p in entry["val"]]
        spread = ", ".join(f"{code or '-'} {codes.count(code)}" for code in sorted(set(codes)))
        print(f"  fold {entry['fold']}: {len(entry['val'])} held out ({spread})")
    return 0


def run_train(args):
    """Train every fold that has not finished; when all have, score them."""
    launcher = crossval.launcher_words(args.launcher)
    out = args.out or os.path.join("runs", "crossval", args.model)
    cli.check_output_folder("--out", out)
    settings = crossval.prepare(out, args.model, args.data, args.train_args,
                                folds_path=args.folds, n_splits=args.k, seed=args.seed,
                                weights_from=args.weights_from)
    wrong = [k for k in args.fold or [] if k > settings["n_splits"]]
    if wrong:
        raise cli.UsageError(f"--fold {wrong[0]}: there are {settings['n_splits']} folds")
    code = crossval.train_folds(settings, out, args.fold, launcher)
    if code != 0:
        return code
    epochs = settings["config"]["epochs"]
    waiting = [k for k in range(1, settings["n_splits"] + 1)
               if not crossval.is_finished(crossval.fold_folder(out, k), epochs)]
    if waiting:
        print(f"fold(s) {', '.join(map(str, waiting))} still to train; the per-patient table "
              "is written once every fold has finished (`crossval score --fold K` scores the "
              "finished ones)")
        return 0
    table = crossval.score_crossval([out], device=settings["config"]["device"])
    _write_table(table, out)
    return 0


def run_score(args):
    """Score one run, or the pipeline of a classifier run and a segmenter run."""
    if len(args.runs) > 2:
        raise cli.UsageError(f"give one run, or a classifier run and a segmenter run, not "
                             f"{len(args.runs)}")
    if len(args.runs) == 2 and args.out is None:
        raise cli.UsageError("scoring the pipeline of two runs: give --out DIR for its table")
    if args.fold and args.out is None:
        raise cli.UsageError("scoring some folds (--fold): give --out DIR for their table (the "
                             "run's own patients.json is its whole table)")
    out = args.out or args.runs[0]
    cli.check_output_folder("--out", out)
    cli.fill_pipeline_settings(args)
    table = crossval.score_crossval(
        args.runs, data=args.data, device=cli.check_device(args.device),
        cls_threshold=args.cls_threshold, seg_threshold=args.seg_threshold,
        min_area=args.min_area, rule=args.rule, min_component=args.min_component,
        tta=args.tta, checkpoint=args.checkpoint, folds=args.fold)
    _write_table(table, out)
    return 0


def _grid_entry(text):
    """argparse type of --grid: ``crossval.parse_grid_entry``, its error as argparse's."""
    try:
        return crossval.parse_grid_entry(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _grid_from(entries):
    """The --grid entries as a dict of lists; a key given twice is a usage error."""
    grid = {}
    for key, values in entries or ():
        if key in grid:
            raise cli.UsageError(f"--grid {key} given twice; give all its values in one "
                                 f"--grid {key}=V1,V2,...")
        grid[key] = values
    return grid


def run_tune(args):
    """Predict once (or reuse OUT/predictions.npz), choose by nested cross-validation."""
    if len(args.runs) > 2:
        raise cli.UsageError(f"give a segmenter run, and optionally a classifier run, not "
                             f"{len(args.runs)} runs")
    grid = _grid_from(args.grid)
    folds = sorted(set(args.fold)) if args.fold else None
    if folds is not None and len(folds) < 2:
        raise cli.UsageError(f"--fold {folds[0]} alone: tuning chooses each fold's settings on "
                             "the other folds, give at least two")
    cli.check_output_folder("--out", args.out)
    runs = crossval.runs_by_model(args.runs, folds)      # one of each model, finished
    if "classifier" not in runs:
        if grid.get("rule", ["segmenter"]) != ["segmenter"]:
            raise cli.UsageError(f"--grid rule={','.join(grid['rule'])}: without a classifier "
                                 "run only the rule segmenter can be tried")
        if "cls_threshold" in grid:
            raise cli.UsageError("--grid cls_threshold: without a classifier run there is no "
                                 "classifier to cut")
    source = {"runs": {model: os.path.abspath(folder) for model, (folder, _) in runs.items()},
              "data": args.data if args.data in (None, "phantom") else os.path.abspath(args.data),
              "checkpoint": args.checkpoint, "tta": args.tta}
    if folds is not None:
        source["folds"] = folds
    # The checkpoints' sizes and times: a run trained on (a larger --epochs) predicts anew.
    source["checkpoints"] = _checkpoint_stamps(source["runs"].values(), args.checkpoint, folds)
    predictions_path = os.path.join(args.out, crossval.PREDICTIONS)
    source_path = os.path.join(args.out, "predictions.json")
    if os.path.exists(predictions_path) and os.path.exists(source_path) and \
            _read_json(source_path) == source:
        print(f"reusing the predictions in {predictions_path}")
        predictions = crossval.load_predictions(predictions_path)
    else:
        predictions = crossval.collect_predictions(args.runs, data=args.data,
                                                   device=cli.check_device(args.device),
                                                   checkpoint=args.checkpoint,
                                                   tta=args.tta, folds=folds)
        os.makedirs(args.out, exist_ok=True)
        crossval.save_predictions(predictions, predictions_path)
        atomic_write_text(source_path, json.dumps(source, indent=2) + "\n")
    result = crossval.tune_pipeline(predictions, grid)
    edges = crossval.grid_edges(result["grid"], result["chosen_on_all_folds"])
    tuning = {key: value for key, value in result.items() if key not in ("patients", "summary")}
    tuning["at_grid_edge"] = edges
    atomic_write_text(os.path.join(args.out, "tuning.json"),
                      json.dumps({**tuning, **source}, indent=2) + "\n")
    # The settings for models trained on every patient, in the shipped format: copy it next
    # to the weights (tinynet/mri/weights/pipeline.json).  Areas are pixels at the data's side.
    height, width = predictions["true"].shape[1:]
    chosen = {key: value for key, value in result["chosen_on_all_folds"].items()
              if not key.startswith("objective")}
    of_splits = next(iter(runs.values()))[1]["n_splits"]
    on_folds = "all folds" if folds is None else \
        f"folds {', '.join(map(str, folds))} of {of_splits}"
    pipeline = {"settings": {**chosen, "area_size": int(height) if height == width else None,
                             "tta": args.tta},
                "chosen_by": f"tinynet crossval tune (mean per-patient Dice over {on_folds})",
                "objective": result["chosen_on_all_folds"]["objective_on_all_folds"],
                "nested_estimate": {key: result["summary"][key]["mean"]
                                    for key in ("dice", "accuracy") if key in result["summary"]}}
    atomic_write_text(os.path.join(args.out, "pipeline.json"),
                      json.dumps(pipeline, indent=2) + "\n")
    table = {**result, "runs": source["runs"], "data": source["data"],
             "of_splits": of_splits,
             "checkpoint": args.checkpoint, "tta": args.tta, "empty_mask_rule": EMPTY_MASK_RULE}
    _write_table(table, args.out)
    print(f"settings chosen on {on_folds}{' (with --tta)' if args.tta else ''}: " + ", ".join(
        f"{key} {value}" for key, value in result["chosen_on_all_folds"].items()
        if not key.startswith("objective")))
    for key, end in edges.items():
        print(f"note: {key} {result['chosen_on_all_folds'][key]} is the {end} value the grid "
              f"tried ({', '.join(map(str, result['grid'][key]))}); a wider --grid {key}=... "
              "may do better")
    return 0


def _checkpoint_stamps(runs, checkpoint, folds=None):
    """{path: [size, modification time in ns]} of every fold's scored checkpoint (of the
    folds numbered in ``folds``, if given)."""
    name = crossval.CHECKPOINT_FILES[checkpoint]
    wanted = None if folds is None else {f"fold-{k}" for k in folds}
    stamps = {}
    for run in runs:
        for entry in sorted(os.listdir(run)):
            path = os.path.join(run, entry, name)
            if entry.startswith("fold-") and os.path.isfile(path) and \
                    (wanted is None or entry in wanted):
                stat = os.stat(path)
                stamps[path] = [stat.st_size, stat.st_mtime_ns]
    return stamps


def _read_json(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def _write_table(table, out):
    json_path, csv_path = os.path.join(out, TABLE_JSON), os.path.join(out, TABLE_CSV)
    crossval.save_table(table, json_path=json_path, csv_path=csv_path)
    print(crossval.format_summary(table))
    print(f"per-patient table: {csv_path}, {json_path}")


def run_compare(args):
    """Compare two per-patient tables; print the short table, write the JSON on request."""
    cli.check_output_file("--json", args.json)
    result = crossval.paired_comparison(crossval.load_table(args.a), crossval.load_table(args.b),
                                        metric=args.metric, common_only=args.common_only)
    print(crossval.format_comparison(result))
    if args.json:
        crossval.save_comparison(result, args.json)
        print(f"JSON: {args.json}")
    return 0


def run_ensemble(args):
    """Write the ensemble of the runs, then score it (its per-patient table in OUT)."""
    cli.check_output_folder("--out", args.out)
    device = cli.check_device(args.device)
    settings = crossval.ensemble_runs(args.runs, args.out, folds=args.fold)
    if args.fold:
        done = ", ".join(map(str, sorted(set(args.fold))))
        print(f"{args.out}: fold(s) {done} of {settings['n_splits']}, each the mean of "
              f"{len(args.runs)} {settings['model']}s; score them with `crossval score "
              f"{args.out} --fold K ... --out DIR`")
        return 0
    print(f"{args.out}: {settings['n_splits']} folds, each the mean of {len(args.runs)} "
          f"{settings['model']}s")
    table = crossval.score_crossval([args.out], device=device)
    _write_table(table, args.out)
    return 0


STEPS = {"folds": run_folds, "train": run_train, "score": run_score, "tune": run_tune,
         "compare": run_compare, "ensemble": run_ensemble}
