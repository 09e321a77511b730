"""Cross-validation by patient: train k folds, score every patient once, compare two recipes.

An 11-patient validation set cannot tell two recipes apart: per-patient Dice
varies by about 0.2, so an 11-patient mean moves by +-0.06 by chance.  k-fold
cross-validation scores *every* patient with a model that did not train on it,
and two recipes scored on the same patients can be compared patient by patient.

    tinynet crossval folds kaggle_3m --k 5 --out runs/folds.json
    tinynet crossval train segmenter kaggle_3m --folds runs/folds.json \\
        --out runs/cv/seg -- --size 128 --epochs 4
    tinynet crossval score runs/cv/cls runs/cv/seg --out runs/cv/pipeline
    tinynet crossval compare runs/cv/seg runs/cv/seg-dice-bce

The pieces, one topic each:

    tinynet.mri.data.splits   the folds: ``kfold_patients``, ``save_folds``, ``load_folds``
    training.py     one training run per fold (examples/train_*.py as a child process),
                    skipped when finished, resumed from its last.npz when not
    scoring.py      each fold's models predict the patients it held out: the per-patient
                    table (Dice, slice detection) and its summary
    tuning.py       the pipeline's rule, thresholds and post-processing chosen by nested
                    cross-validation over the folds' saved predictions
    compare.py      two tables patient by patient: differences and a Wilcoxon test
    ensembles.py    fold k's models of several runs averaged into one, scored like a run
"""
from .compare import format_comparison, load_table, paired_comparison, save_comparison, \
    wilcoxon_test
from .ensembles import ensemble_runs, is_ensemble
from .scoring import CHECKPOINTS as CHECKPOINT_FILES
from .scoring import _runs_by_model as runs_by_model
from .scoring import COLUMNS, SUMMARIZED, format_summary, patient_row, save_table, \
    score_crossval, summarize
from .tuning import DEFAULT_GRID, PREDICTIONS, collect_predictions, grid_edges, \
    load_predictions, parse_grid_entry, save_predictions, tune_pipeline
from .training import FOLDS, MODELS, SETTINGS, fold_command, fold_folder, is_finished, \
    launcher_words, prepare, read_settings, train_folds

__all__ = ["MODELS", "FOLDS", "SETTINGS", "fold_folder", "prepare", "read_settings",
           "is_finished", "fold_command", "train_folds", "launcher_words",
           "CHECKPOINT_FILES", "runs_by_model", "COLUMNS", "SUMMARIZED", "score_crossval",
           "patient_row", "summarize", "save_table",
           "format_summary", "load_table", "paired_comparison", "wilcoxon_test",
           "format_comparison", "save_comparison", "DEFAULT_GRID", "PREDICTIONS",
           "collect_predictions", "load_predictions", "save_predictions", "tune_pipeline",
           "parse_grid_entry", "grid_edges", "ensemble_runs", "is_ensemble"]
