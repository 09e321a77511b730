"""The MRI pipeline's application layer: what the four example scripts share.

    checkpoint.py   model checkpoints that say how to rebuild and feed the model
    cli.py          command-line pieces: common flags, one-line errors with exit code 2
    run.py          a training run's folder: last/best checkpoints, resume, log.jsonl, NaN guard
    validate.py     the validation passes of the classifier and the segmenter
    inference.py    classify and segment uint8 slices with a loaded model (two-stage prediction)

The training loops themselves (forward, loss, backward, step) are not here:
they stay visible in ``examples/train_resunet.py`` and ``examples/train_classifier.py``.
This package may import everything in tinynet; nothing in tinynet imports it.
"""
