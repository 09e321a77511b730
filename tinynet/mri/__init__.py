"""The application: brain-MRI tumour detection, built on the tinynet framework.

This package is to the framework what a user's own project would be: it imports
``tinynet`` and nothing in ``tinynet`` outside this folder imports it.

    data/           the kaggle_3m reader, the phantom, patient splits, preprocessing,
                    augmentation, the threaded BatchLoader, packing into one .npz, NIfTI
                    scans (nifti.py, orientation.py; nibabel, the ``nifti`` extra)
    architectures.py  the registry of networks by name (built-in and your own), for the
                    scripts and the checkpoints
    ensemble.py     several trained networks as one model: the mean of their probabilities
    checkpoint.py   model checkpoints that say how to rebuild and feed the model
    cli.py          command-line pieces: one-line errors with exit code 2, argument types
    commands/       the ``tinynet`` command (``python -m tinynet predict|evaluate|pack|crossval``)
    crossval/       k-fold cross-validation by patient: a training run per fold (resumable),
                    the per-patient table of held-out scores, paired comparison of two runs
    experiment.py   a training run from its flags: data, split, normalization, loaders, resume
    run.py          a training run's folder: last/best checkpoints, resume, log.jsonl, NaN guard
    scoring.py      the networks' outputs as tumour probabilities, and eval mode given back
    validate.py     the validation passes of the classifier and the segmenter
    patient_metrics.py  Dice and IoU per patient (3-D), from tinynet.metrics' counts
    figures.py      the PNG figures of a training run (curves, overlays, confusion matrix, ROC)
    viz.py          drawing with Pillow: mask overlays, heatmaps, charts, image grids
    inference.py    classify and segment uint8 slices with a loaded model (two-stage prediction)
    scan_prediction.py  a NIfTI scan's axial slices through the two stages, on the scan's grid
    tumour_size.py  a tumour's volume (mL), slices and largest in-plane extent (mm or pixels)
    viewer.py       the HTML reports' slice viewer: a slider and the arrow keys through a patient
    prediction_report.py  the HTML page of ``tinynet predict --html``
    gradcam.py      Grad-CAM heatmaps of the classifier's decision
    report.py       the evaluation report: metrics at the data's own size, JSON, table, HTML
    weights/        the shipped models (package data) with their model cards

The training loops themselves (forward, loss, backward, step), and the model,
optimizer, learning-rate schedule and augmentation they use, are not here: they
stay visible in ``examples/train_resunet.py`` and ``examples/train_classifier.py``.
"""

# The application's own run-time dependencies, Pillow and tqdm (the framework needs only
# NumPy and SciPy), are imported at their first use (_lazy.py): --help and checkpoints work in
# a clone without them, and the first use that needs one says in one line what is missing.
