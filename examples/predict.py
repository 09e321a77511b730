"""Find and outline brain tumours in MRI slices with trained tinynet models (two stages).

    python examples/predict.py slice.tif --out pred        # the shipped models
    python examples/predict.py slice.tif --out pred --classifier runs/classifier/best.npz \
        --segmenter runs/resunet/best.npz
    python examples/predict.py kaggle_3m/ --out pred --segmenter runs/resunet/best.npz --tta
    python examples/predict.py slices/ --out pred --classifier runs/classifier/best.npz --gradcam
    python examples/predict.py patient.nii.gz --out pred   # a NIfTI scan (X, Y, Z, 3)
    python examples/predict.py --flair flair.nii.gz --pre t1.nii.gz --post t1ce.nii.gz \
        --out pred --probabilities --html pred/report.html
    python examples/predict.py --help                      # every flag

A classifier says which slices show a tumour, a segmenter outlines it; under
--out come <slice name>_pred_mask.png, <slice name>_overlay.png and summary.json,
or for a NIfTI scan (``pip install tinynet[nifti]``) <scan>_pred_mask.nii.gz, a
mask volume on the scan's grid, and summary.json with the tumour volume in mL.
This script is the installed command ``tinynet predict`` (``python -m tinynet
predict``): its code is in tinynet/mri/commands/predict.py.
"""
import os
import sys

# Run from a clone without `pip install -e .`: the repository's own tinynet comes first.
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinynet.mri.commands.predict import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
