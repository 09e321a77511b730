"""k-fold cross-validation by patient of the tinynet models: folds, training, scores, comparison.

    python examples/crossval.py folds kaggle_3m --k 5 --out runs/folds.json
    python examples/crossval.py train segmenter kaggle_3m --folds runs/folds.json \
        --out runs/cv/seg -- --size 128 --epochs 4
    python examples/crossval.py score runs/cv/cls runs/cv/seg --out runs/cv/pipeline
    python examples/crossval.py compare runs/cv/seg runs/cv/seg-dice-bce
    python examples/crossval.py train --help                    # every flag of a step

Trains examples/train_resunet.py or train_classifier.py once per fold (resumable:
run it again after an interruption), writes one per-patient table of held-out
scores, and compares two runs with a Wilcoxon signed-rank test.  This script is
the installed command ``tinynet crossval`` (``python -m tinynet crossval``): its
code is in tinynet/mri/commands/crossval.py and tinynet/mri/crossval/.
"""
import os
import sys

# Run from a clone without `pip install -e .`: the repository's own tinynet comes first.
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinynet.mri.commands.crossval import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
