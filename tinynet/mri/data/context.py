"""2.5-D input (``--context K``): a slice together with its K neighbours on each side.

A radiologist scrolls through the neighbouring slices to tell a small tumour from a
vessel or a partial-volume bright spot; a 2-D network sees one slice.  With context
K the network's input for slice j of a volume is the channels of slices j-K .. j+K
of the same volume, stacked along the channel axis::

    uint8 (H, W, 3) per slice  ->  uint8 (H, W, 3 (2K + 1)),
    channels [3 m, 3 m + 3) = slice j - K + m  (m = 0 .. 2K; the slice itself at m = K)

so channel c keeps its sequence (c mod 3: pre-contrast, FLAIR, post-contrast) and
every per-channel operation (normalization, intensity jitter) repeats the three
sequences' numbers.  At the ends of a volume the missing neighbours are the end
slice repeated (the nearest slice that exists), as a scan's edge would be padded.

The slices of a volume are taken in their order in the dataset (kaggle_3m and
packed data keep each patient's slices in slice-number order) or in the scan.
"""
import numpy as np

from ._checks import check_whole_number
from .errors import DataError

__all__ = ["check_context", "context_channels", "neighbour_positions", "neighbour_table",
           "stack_context"]


def check_context(context, where):
    """``context`` as an int >= 0, else a DataError naming ``where``."""
    return check_whole_number(context, "context", 0, where)


def context_channels(context):
    """The input channels of a network fed with ``context`` neighbours on each side."""
    return 3 * (2 * context + 1)


def neighbour_positions(n_slices, positions, context):
    """int64 (len(positions), 2K + 1): the positions of each slice's neighbours j-K .. j+K
    in a volume of ``n_slices`` slices, clamped to 0 .. n_slices - 1."""
    positions = np.asarray(positions, dtype=np.int64).reshape(-1)
    if positions.size and (positions.min() < 0 or positions.max() >= n_slices):
        raise DataError(f"neighbour_positions: positions must be in 0 .. {n_slices - 1} for a "
                        f"volume of {n_slices} slices, got {positions.min()} .. "
                        f"{positions.max()}")
    offsets = np.arange(-context, context + 1)
    return np.clip(positions[:, None] + offsets[None, :], 0, n_slices - 1)


def neighbour_table(patient_of, context):
    """int64 (N, 2K + 1): for each of N slices (``patient_of[i]`` its patient, slices of a
    patient in volume order), the indices of its neighbours in the same patient."""
    table = np.empty((len(patient_of), 2 * context + 1), dtype=np.int64)
    rows = {}
    for index, patient in enumerate(patient_of):
        rows.setdefault(patient, []).append(index)
    for indices in rows.values():
        indices = np.asarray(indices, dtype=np.int64)
        table[indices] = indices[neighbour_positions(len(indices), np.arange(len(indices)),
                                                     context)]
    return table


def stack_context(volume, positions, context):
    """uint8 (len(positions), H, W, 3 (2K + 1)): the 2.5-D inputs of the slices at
    ``positions`` of ``volume`` (uint8 (N, H, W, 3), the slices of one scan in order)."""
    volume = np.asarray(volume)
    if volume.ndim != 4 or volume.shape[-1] != 3:
        raise DataError(f"stack_context: expected the slices (N, H, W, 3) of one volume, got "
                        f"shape {volume.shape}")
    table = neighbour_positions(len(volume), positions, context)
    # (P, 2K+1, H, W, 3) -> (P, H, W, 2K+1, 3) -> (P, H, W, 3 (2K+1))
    stacked = volume[table].transpose(0, 2, 3, 1, 4)
    return np.ascontiguousarray(stacked.reshape(stacked.shape[:3] + (-1,)))
