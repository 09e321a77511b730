"""Predict a whole scan slice by slice: the axial slices of a NIfTI volume through the two stages.

``predict_scan(predictor, slices, spacing_mm)`` runs a ``TwoStagePredictor`` on
uint8 (slices, rows, columns, 3) axial slices (``Scan.axial_slices()``) and
returns masks and probabilities on the same grid, ready to be written back
with ``Scan.save_like``.

The in-plane grid.  The models learnt from 256x256 slices with square pixels
that show the whole head (a field of view of about 22-25 cm, so pixels of
about 0.9 mm); every slice is resized to the model's input size (e.g. 128)
before the network sees it, and its probability map resized back (bilinear)
and thresholded on the slice's own grid (``inference.segment``).  What is
assumed of a scan, then, is that its slices frame the head as the dataset's do;
the pixel size itself does not matter, since the network never sees it.  What
does matter is the shape: resizing a non-square field of view to a square would
stretch the head.  So a slice whose field of view is not square in millimetres
(e.g. 256x192 pixels of 1 mm, or 256x256 pixels of 0.9 x 1.2 mm) is first
padded with zero (background) rows or columns, evenly on both sides, until it
is square in millimetres; after the resize its pixels are square, like the
training slices.  The padding is cut off the masks and probability maps again,
so they come back on the scan's own grid.  (``--min-component`` and
``--min-area`` count the padded slice's pixels; the padding is background, where
the models predict no tumour.)
"""
from typing import NamedTuple, Optional

import numpy as np

from .data import DataError

__all__ = ["ScanPrediction", "predict_scan", "square_field_padding"]


class ScanPrediction(NamedTuple):
    """The two stages' answer for every axial slice of one scan (N slices of H x W).

    probability : (N,) float64 tumour probability of each slice (see ``SlicePredictions``)
    positive : (N,) bool, the slice is called tumour
    masks : (N, H, W) uint8 0/1 tumour masks, zero on negative slices; None without a segmenter
    pixel_probabilities : (N, H, W) float32 segmenter probabilities, 0 on the slices
        it did not see; None without a segmenter
    padding : ((top, bottom), (left, right)) zero rows and columns added to each slice
        before prediction (``square_field_padding``) and removed from the results
    """
    probability: np.ndarray
    positive: np.ndarray
    masks: Optional[np.ndarray]
    pixel_probabilities: Optional[np.ndarray]
    padding: tuple


def square_field_padding(shape, spacing_mm):
    """Zero rows and columns that make a slice's field of view square in millimetres.

    shape : (rows, columns) of the slice; spacing_mm : (row, column) pixel size.
    Returns ((top, bottom), (left, right)), split evenly (the odd one at the
    end): e.g. (256, 192) pixels of 1 mm -> ((0, 0), (32, 32)).  Rounded to
    whole pixels; nothing is added to a field of view square within half a pixel.
    """
    rows, columns = shape
    row_mm, column_mm = spacing_mm
    height, width = rows * row_mm, columns * column_mm
    extra_rows = max(0, int(round(width / row_mm)) - rows)
    extra_columns = max(0, int(round(height / column_mm)) - columns)
    return ((extra_rows // 2, extra_rows - extra_rows // 2),
            (extra_columns // 2, extra_columns - extra_columns // 2))


def predict_scan(predictor, slices, spacing_mm, chunk_size=32, progress=None):
    """Run ``predictor`` (a ``TwoStagePredictor``) on every axial slice: a ``ScanPrediction``.

    slices : uint8 (N, H, W, 3) axial slices of one scan
    spacing_mm : (slice, row, column) voxel spacing in mm (only the in-plane part is used,
        for the padding to a square field of view)
    chunk_size : slices predicted at a time (bounds the memory)
    progress : called with the number of slices done after each chunk (a tqdm ``update``)
    """
    slices = np.asarray(slices)
    if slices.dtype != np.uint8 or slices.ndim != 4 or slices.shape[-1] != 3 or \
            not len(slices):
        raise DataError(f"predict_scan: expected uint8 axial slices (N, H, W, 3), got "
                        f"{slices.dtype} {slices.shape}")
    (top, bottom), (left, right) = padding = square_field_padding(slices.shape[1:3],
                                                                  spacing_mm[1:])
    rows, columns = slices.shape[1:3]
    crop = (slice(None), slice(top, top + rows), slice(left, left + columns))
    pad = ((0, 0), (top, bottom), (left, right), (0, 0))
    # A model normalized per volume measures the whole (padded) scan, whatever the chunk;
    # one with context takes each slice's neighbours from it.
    volume = np.pad(slices, pad) if predictor.needs_volume else None
    parts = []
    for first in range(0, len(slices), chunk_size):
        chunk = volume[first:first + chunk_size] if volume is not None else \
            np.pad(slices[first:first + chunk_size], pad)
        result = predictor(chunk, volume=volume, positions=None if volume is None
                           else np.arange(first, first + len(chunk)))
        parts.append((result.probability, result.positive,
                      None if result.masks is None else result.masks[crop],
                      None if result.masks is None else result.pixel_probabilities[crop]))
        if progress is not None:
            progress(len(chunk))
    probability, positive, masks, maps = (
        None if part[0] is None else np.concatenate(part) for part in zip(*parts))
    return ScanPrediction(probability, positive, masks, maps, padding)
