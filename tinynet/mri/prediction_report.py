"""The HTML page of ``tinynet predict --html``: per patient its tumour size and a slice viewer.

One self-contained file (pictures embedded, the viewer's few lines of
JavaScript inline), in the style of the evaluation report (``report.py``)::

    Inputs and settings     the input, the models, the thresholds
    Tumour size             per patient: slices, tumour slices, volume, largest extent
                            (mL and mm for a NIfTI scan; pixels for image slices)
    Slice viewer            per patient: every slice with the predicted tumour
                            outlined in red (a slider, or the arrow keys)
"""
import html
from pathlib import Path

from tinynet.io import atomic_write_text
from . import viewer
from .report import PAGE_STYLE, key_value_table

__all__ = ["render_prediction_html", "save_prediction_html"]

#: The summary.json keys shown under "Inputs and settings".
SETTINGS = ("input", "classifier", "segmenter", "cls_threshold", "seg_threshold", "min_area",
            "min_component", "tta", "device")


def render_prediction_html(summary, viewers):
    """The page (str) for a prediction's ``summary`` (the summary.json dict) and its viewers.

    viewers : HTML fragments of ``viewer.slice_viewer``, one per patient, in
    the order of ``summary["patients"]``.
    """
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>"
             f"<title>tinynet prediction</title><style>{PAGE_STYLE}</style></head><body>",
             "<h1>Brain MRI tumour prediction</h1>",
             f"<p>{summary['slices_positive']} of {summary['slices_total']} slices called "
             "tumour.</p>",
             key_value_table({key: summary.get(key) for key in SETTINGS},
                             "Inputs and settings"),
             _size_table(summary),
             "<h2>Slice viewer</h2>",
             "<p class='note'>Every slice, in order: drag a slider, or click a picture and use "
             "the arrow keys. The predicted tumour is outlined in red.</p>",
             *viewers,
             f"<script>{viewer.VIEWER_SCRIPT}</script></body></html>"]
    return "\n".join(parts)


def save_prediction_html(path, summary, viewers):
    """Write ``render_prediction_html(summary, viewers)`` to ``path``, atomically."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, render_prediction_html(summary, viewers))


def _size_table(summary):
    rows = []
    for patient in summary["patients"]:
        size = patient["tumour_size"]
        if size is None:               # a classifier alone: no masks, no size
            volume = extent = "n/a"
        elif size["volume_ml"] is not None:
            volume = f"{size['volume_ml']:.2f} mL ({size['tumour_voxels']} voxels)"
            extent = f"{size['largest_extent_mm']:.1f} mm"
        else:
            volume = f"{size['tumour_voxels']} px"
            extent = f"{size['largest_extent_pixels']:.1f} px"
        tumour_slices = "n/a" if size is None else size["tumour_slices"]
        rows.append(f"<tr><td>{html.escape(patient['patient'])}</td><td>{patient['slices']}</td>"
                    f"<td>{tumour_slices}</td><td>{volume}</td><td>{extent}</td></tr>")
    return ("<h2>Tumour size</h2>"
            f"<p class='note'>{html.escape(summary['size_units'])}. Largest extent: the longest "
            "line through the tumour in one slice.</p>"
            "<table><tr><th>patient</th><th>slices</th><th>tumour slices</th>"
            "<th>tumour volume</th><th>largest extent</th></tr>" + "".join(rows) + "</table>")
