"""The MRI pipeline's application layer: what the four example scripts share.

    checkpoint.py   model checkpoints that say how to rebuild and feed the model
    cli.py          command-line pieces: one-line errors with exit code 2, argument types
    experiment.py   a training run from its flags: data, split, normalization, loaders, resume
    run.py          a training run's folder: last/best checkpoints, resume, log.jsonl, NaN guard
    validate.py     the validation passes of the classifier and the segmenter
    figures.py      the PNG figures of a training run (curves, overlays, confusion matrix, ROC)
    inference.py    classify and segment uint8 slices with a loaded model (two-stage prediction)
    gradcam.py      Grad-CAM heatmaps of the classifier's decision
    report.py       the evaluation report: metrics at the data's own size, JSON, table, HTML

The training loops themselves (forward, loss, backward, step) are not here:
they stay visible in ``examples/train_resunet.py`` and ``examples/train_classifier.py``.
This package may import everything in tinynet; nothing in tinynet imports it.
"""
