"""Evaluate trained tinynet models on brain MRI slices with true tumour masks.

    python examples/evaluate.py kaggle_3m --classifier runs/classifier/best.npz \
        --segmenter runs/resunet/best.npz --split runs/resunet/split.json --subset val \
        --json report.json --html report.html
    python examples/evaluate.py --segmenter runs/resunet/best.npz      # on the phantom
    python examples/evaluate.py --help                                 # every flag

Prints a table of the classifier's, the segmenter's and the pipeline's scores
(per-patient 3-D Dice, ROC AUC, ...) and writes them as JSON and one HTML page.
This script is the installed command ``tinynet evaluate`` (``python -m tinynet
evaluate``): its code is in tinynet/mri/commands/evaluate.py.
"""
import os
import sys

# Run from a clone without `pip install -e .`: the repository's own tinynet comes first.
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinynet.mri.commands.evaluate import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
