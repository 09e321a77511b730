"""The evaluation report: score the two stages on slices with true masks.

``evaluate(dataset, classifier, segmenter)`` predicts every slice at the
data's own size (the models resize internally, see inference.py) and scores:

* the classifier, slice by slice (label: the true mask has tumour pixels):
  accuracy, precision, sensitivity, specificity, F1, ROC AUC, confusion matrix;
* the segmenter alone, on every slice: per-patient 3-D Dice and IoU (all
  slices of a patient as one volume), their mean and median, the mean 2-D
  Dice over the slices with tumour;
* the pipeline: the segmenter's masks zeroed on the slices the classifier
  calls tumour-free, scored like the segmenter.

Empty masks: a patient (or slice) without tumour and without predicted tumour
has Dice 1 and IoU 1; with exactly one of them empty, 0 (``EMPTY_MASK_RULE``).
The numbers come from ``tinynet.metrics`` and, per patient, from
``patient_metrics``; the tumour probabilities are those validation scores
(``scoring.tumour_probability``, through ``TwoStagePredictor``).

Each patient's tumour size, true and predicted (``tumour_size.py``: tumour
slices, voxels, largest in-plane extent), is given in pixels: the slices of
the LGG data carry no voxel spacing, so there are no millilitres here
(``tinynet predict`` on a NIfTI scan gives them).

The result is an ``Evaluation``: ``.report`` is a JSON-ready dict (schema in
``evaluate``); ``format_table`` prints it, ``render_html`` makes a
self-contained page (figures embedded as PNG data URIs) with the worst
patients' slices outlined and a slice viewer per patient (``viewer.py``: every
slice, truth and prediction outlined, a slider and the arrow keys);
``save_json`` and ``save_html`` write them atomically.
"""
import html
import json
import math
import time
from pathlib import Path

import numpy as np

from tinynet import metrics
from tinynet.io import atomic_write_text
from . import viewer, viz
from .data import DataError
from .inference import TwoStagePredictor
from .patient_metrics import segmentation_metrics
from .tumour_size import PIXEL_UNITS_NOTE, tumour_size

__all__ = ["EMPTY_MASK_RULE", "Evaluation", "evaluate", "worst_patients", "tumour_sizes",
           "format_table", "render_html", "save_json", "save_html", "key_value_table",
           "PAGE_STYLE"]

EMPTY_MASK_RULE = ("Dice and IoU are 1 when the true and the predicted mask are both empty "
                   "(no tumour, none predicted) and 0 when exactly one of them is empty; "
                   "a patient's Dice treats all of its slices as one 3-D volume.")

#: Slices predicted at a time (bounds the memory of the probability maps).
CHUNK = 64


class Evaluation:
    """A finished evaluation: ``report`` (JSON-ready dict) and what the figures need.

    Attributes: ``dataset`` (the SliceDataset scored), ``labels`` (N,) bool
    truth per slice, ``cls_probability`` (N,) or None, ``seg_masks`` and
    ``pipeline_masks`` (N, H, W) uint8 0/1 or None.
    """

    def __init__(self, report, dataset, labels, cls_probability, seg_masks, pipeline_masks):
        self.report = report
        self.dataset = dataset
        self.labels = labels
        self.cls_probability = cls_probability
        self.seg_masks = seg_masks
        self.pipeline_masks = pipeline_masks


# ---------------------------------------------------------------------------
# Computing the numbers
# ---------------------------------------------------------------------------

def evaluate(dataset, classifier=None, segmenter=None, *, cls_threshold=None,
             seg_threshold=None, min_area=0, min_component=0, tta=False, device="cpu",
             batch_size=16, sources=None, progress=None, rule=None, area_size=None):
    """Predict every slice of ``dataset`` and score the models given: an ``Evaluation``.

    ``classifier``/``segmenter``: ``(model, spec)`` pairs or None; thresholds
    None take the checkpoints' own (see ``TwoStagePredictor``); ``sources``
    (e.g. {"data": path, "classifier": ckpt, ...}) is copied into the report;
    ``progress(n)`` is called after every n slices (a tqdm ``update``).

    ``report`` keys::

        patients, slices, tumour_slices, image_size [H, W], sources, settings
        classifier: {accuracy, precision, sensitivity, specificity, f1, auc,
                     confusion_matrix [[tn, fp], [fn, tp]], threshold, n,
                     roc_curve {fpr, tpr}}                  (with a classifier)
        segmenter:  {dice_per_patient_mean, dice_per_patient_median,
                     dice_tumour_slices_mean, iou_per_patient_mean,
                     per_patient {pid: {dice, iou, slices, tumour_slices,
                                        true_pixels, pred_pixels}}}  (with a segmenter)
        pipeline:   the same keys as segmenter              (with both)
        tumour_size: {units, per_patient {pid: {true: size, predicted: size}}}
                     (with a segmenter; size: see tumour_size.tumour_size, in
                     pixels; predicted: the pipeline's masks, else the segmenter's)
        worst_patients, empty_mask_rule, timings {predict_seconds, seconds_per_slice}

    Fractions are in [0, 1]; a number that is undefined (AUC with one class,
    tumour-slice Dice without tumour slices) is None.
    """
    if len(dataset) == 0:
        raise DataError("evaluate: the dataset has no slices (an empty subset of the split?)")
    predictor = TwoStagePredictor(classifier, segmenter, cls_threshold=cls_threshold,
                                  seg_threshold=seg_threshold, min_area=min_area,
                                  min_component=min_component, tta=tta, rule=rule,
                                  area_size=area_size,
                                  device=device, cls_batch_size=batch_size,
                                  seg_batch_size=max(1, batch_size // 2), segment_all=True)
    start = time.perf_counter()
    predictions = _predict_dataset(predictor, dataset, progress)
    predict_seconds = time.perf_counter() - start

    cls_probability, seg_masks, pipeline_masks, true_masks = predictions
    labels = true_masks.reshape(len(true_masks), -1).any(axis=1)
    report = {"patients": len(dataset.patients), "slices": len(dataset),
              "tumour_slices": int(labels.sum()), "image_size": list(true_masks.shape[1:]),
              "sources": dict(sources or {}), "settings": predictor.settings()}
    if cls_probability is not None:
        report["classifier"] = _classifier_section(labels, cls_probability,
                                                   predictor.cls_threshold)
    if seg_masks is not None:
        report["segmenter"] = segmentation_metrics(seg_masks, true_masks, dataset.patient_of)
    if cls_probability is not None and seg_masks is not None:
        report["pipeline"] = segmentation_metrics(pipeline_masks, true_masks,
                                                  dataset.patient_of)
    if seg_masks is not None:
        predicted = pipeline_masks if pipeline_masks is not None else seg_masks
        report["tumour_size"] = tumour_sizes(dataset, true_masks, predicted)
    evaluation = Evaluation(report, dataset, labels, cls_probability, seg_masks, pipeline_masks)
    report["worst_patients"] = worst_patients(report)
    report["empty_mask_rule"] = EMPTY_MASK_RULE
    report["timings"] = {"predict_seconds": round(predict_seconds, 3),
                         "seconds_per_slice": round(predict_seconds / len(dataset), 5)}
    return evaluation


def _predict_dataset(predictor, dataset, progress):
    """Run the predictor over the dataset, patient by patient, ``CHUNK`` slices at a time.

    Each patient's slices are one volume (``volume=`` of the predictor: a model
    normalized per volume measures the whole scan, whatever the chunk).
    Returns (classifier probabilities (N,) or None, segmenter masks, pipeline
    masks (N, H, W) uint8 or None, true masks (N, H, W) uint8), in dataset order.
    """
    order, cls_parts, seg_parts, pipeline_parts, true_parts = [], [], [], [], []
    for patient in dataset.patients:
        indices = dataset.indices_of([patient])
        pairs = [dataset[int(i)] for i in indices]
        volume = np.stack([image for image, _ in pairs])
        true_parts.append(np.stack([mask for _, mask in pairs]).astype(np.uint8))
        order.append(indices)
        for start in range(0, len(volume), CHUNK):
            chunk = volume[start:start + CHUNK]
            result = predictor(chunk, volume=volume,
                               positions=np.arange(start, start + len(chunk)))
            cls_parts.append(result.classifier_probability)
            seg_parts.append(result.segmenter_masks)
            pipeline_parts.append(result.masks)
            if progress is not None:
                progress(len(result.positive))
    inverse = np.argsort(np.concatenate(order), kind="stable")   # back to dataset order

    def join(parts):
        return None if parts[0] is None else np.concatenate(parts)[inverse]
    return join(cls_parts), join(seg_parts), join(pipeline_parts), join(true_parts)


def _classifier_section(labels, probability, threshold):
    section = metrics.classification_metrics(labels, probability, threshold=threshold)
    if labels.all() or not labels.any():
        section["roc_curve"] = None        # one class only: no ROC curve
        section["youden_threshold"] = None
    else:
        fpr, tpr, _ = metrics.roc_curve(labels, probability)
        section["roc_curve"] = {"fpr": np.round(fpr, 5).tolist(), "tpr": np.round(tpr, 5).tolist()}
        # Where sensitivity + specificity peak on THESE slices: a threshold to choose on
        # validation patients (and store with examples/export_model.py), never on test ones.
        section["youden_threshold"] = metrics.youden_threshold(labels, probability)
    return section


def tumour_sizes(dataset, true_masks, pred_masks):
    """Each patient's true and predicted tumour size, in pixels (the slices have no spacing).

    true_masks, pred_masks : (N, H, W) 0/1, one per slice of ``dataset``.
    Returns {"units": PIXEL_UNITS_NOTE, "per_patient": {pid: {"true": size,
    "predicted": size}}}, each size a ``tumour_size.tumour_size`` dict.
    """
    per_patient = {}
    for pid in dataset.patients:
        indices = dataset.indices_of([pid])
        per_patient[pid] = {"true": tumour_size(true_masks[indices]),
                            "predicted": tumour_size(pred_masks[indices])}
    return {"units": PIXEL_UNITS_NOTE, "per_patient": per_patient}


def worst_patients(report, count=3):
    """The ``count`` patients with the lowest Dice (pipeline's if present, else segmenter's).

    Patients without tumour and without predicted tumour (Dice 1) are never
    among them unless every patient is perfect.  Ties go by patient id.
    """
    section = report.get("pipeline") or report.get("segmenter")
    if section is None:
        return []
    rows = sorted(section["per_patient"].items(), key=lambda item: (item[1]["dice"], item[0]))
    return [pid for pid, row in rows[:count] if row["dice"] < 1.0]


# ---------------------------------------------------------------------------
# Writing it out: JSON, the printed table
# ---------------------------------------------------------------------------

def _json_ready(value):
    """``value`` with NaN and inf replaced by None (strict JSON has neither)."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save_json(report, path):
    """Write ``report`` to ``path`` as strict JSON (NaN -> null), one key per line, atomically
    (missing folders are made).

    Lists of numbers (a confusion matrix, ROC coordinates) stay on one line.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, _dumps(_json_ready(report)) + "\n")


def _dumps(value, indent=0):
    """json.dumps with dicts indented by 2 and lists of plain values kept inline."""
    if isinstance(value, dict) and value:
        pad = " " * (indent + 2)
        items = [f"{pad}{json.dumps(str(k))}: {_dumps(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        pad = " " * (indent + 2)
        return "[\n" + ",\n".join(pad + _dumps(v, indent + 2) for v in value) + "\n" + \
            " " * indent + "]"
    return json.dumps(value, allow_nan=False)


def _number(value, digits=3):
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.{digits}f}"


CLASSIFIER_ROWS = [("accuracy", "accuracy"), ("precision", "precision (PPV)"),
                   ("sensitivity", "sensitivity (recall)"), ("specificity", "specificity"),
                   ("f1", "F1"), ("auc", "ROC AUC")]
SEGMENTATION_ROWS = [("dice_per_patient_mean", "Dice per patient, mean"),
                     ("dice_per_patient_median", "Dice per patient, median"),
                     ("dice_tumour_slices_mean", "Dice on tumour slices, mean"),
                     ("iou_per_patient_mean", "IoU per patient, mean")]


def format_table(report):
    """The report as plain text: the summary numbers, then the per-patient table."""
    lines = [f"{report['patients']} patients, {report['slices']} slices "
             f"({report['tumour_slices']} with tumour), scored at "
             f"{report['image_size'][0]}x{report['image_size'][1]}", ""]
    if "classifier" in report:
        c = report["classifier"]
        lines.append(f"Classifier (tumour if probability >= {c['threshold']:.3g})")
        lines += [f"  {label:<30}{_number(c[key])}" for key, label in CLASSIFIER_ROWS]
        (tn, fp), (fn, tp) = c["confusion_matrix"]
        lines += ["  confusion matrix              pred no   pred yes",
                  f"    true no                     {tn:>7}   {fp:>8}",
                  f"    true yes                    {fn:>7}   {tp:>8}"]
        if c.get("youden_threshold") is not None:
            lines.append(f"  threshold with the highest sensitivity + specificity on these "
                         f"slices (Youden): {c['youden_threshold']:.6g}")
        lines.append("")
    for name, title in (("segmenter", "Segmenter alone"),
                        ("pipeline", "Pipeline (masks zeroed where the classifier says no)")):
        if name in report:
            lines.append(title)
            lines += [f"  {label:<30}{_number(report[name][key])}"
                      for key, label in SEGMENTATION_ROWS]
            lines.append("")
    if "segmenter" in report:
        lines.append(f"Rule: {EMPTY_MASK_RULE}")
        lines.append("")
        lines += _patient_table_lines(report)
    return "\n".join(lines).rstrip() + "\n"


def patient_rows(report):
    """One dict per patient joining the segmenter's and the pipeline's numbers (sorted by id)."""
    seg = report["segmenter"]["per_patient"]
    pipe = report.get("pipeline", {}).get("per_patient", {})
    rows = []
    for pid, s in sorted(seg.items()):
        row = {"patient": pid, "slices": s["slices"], "tumour_slices": s["tumour_slices"],
               "true_pixels": s["true_pixels"], "seg_pixels": s["pred_pixels"],
               "seg_dice": s["dice"], "seg_iou": s["iou"]}
        if pid in pipe:
            row.update(pipeline_pixels=pipe[pid]["pred_pixels"], pipeline_dice=pipe[pid]["dice"],
                       pipeline_iou=pipe[pid]["iou"])
        rows.append(row)
    return rows


def _patient_columns(report):
    """(key, header, format) of the per-patient table's columns."""
    columns = [("patient", "patient", "s"), ("slices", "slices", "d"),
               ("tumour_slices", "tumour slices", "d"), ("true_pixels", "true px", "d"),
               ("seg_pixels", "seg px", "d"), ("seg_dice", "seg Dice", ".3f"),
               ("seg_iou", "seg IoU", ".3f")]
    if "pipeline" in report:
        columns += [("pipeline_pixels", "pipeline px", "d"),
                    ("pipeline_dice", "pipeline Dice", ".3f"),
                    ("pipeline_iou", "pipeline IoU", ".3f")]
    return columns


def _patient_table_lines(report):
    columns = _patient_columns(report)
    cells = [[format(row[key], fmt) for key, _, fmt in columns] for row in patient_rows(report)]
    headers = [header for _, header, _ in columns]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    align = (lambda i, text: text.ljust(widths[i]) if i == 0 else text.rjust(widths[i]))
    lines = ["Per patient (3-D: all slices of a patient as one volume; px = pixels)",
             "  ".join(align(i, h) for i, h in enumerate(headers))]
    lines += ["  ".join(align(i, text) for i, text in enumerate(row)) for row in cells]
    return lines


# ---------------------------------------------------------------------------
# The HTML page
# ---------------------------------------------------------------------------

#: The style sheet of tinynet's HTML pages (this report and ``tinynet predict --html``).
PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { padding: 0.25em 0.7em; border-bottom: 1px solid #e4e4e4; text-align: right; }
td:first-child, th:first-child { text-align: left; }
th { background: #f3f3f3; } .note { color: #555; font-size: 0.92em; }
img { max-width: 100%; margin: 0.4em 0.6em 0.4em 0; vertical-align: top; }
.bad { background: #fde8e8; }
""" + viewer.VIEWER_STYLE


def render_html(evaluation, overlays_per_patient=4):
    """The report as one self-contained HTML page (str): numbers, figures, per-patient table,
    tumour sizes, and a slice viewer per patient.

    Figures (confusion matrix, ROC curve, sorted per-patient Dice, overlays
    of the worst patients' slices) are PNGs embedded as data URIs, so the page
    can be mailed or archived as a single file.  The viewers embed every slice
    as a JPEG (about 23 kB a 256x256 slice, so about 0.5 MB a 20-slice
    patient) and a few lines of JavaScript, inline: no network is needed.
    """
    report = evaluation.report
    sources = report.get("sources", {})
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'>"
             f"<title>tinynet evaluation</title><style>{PAGE_STYLE}</style></head><body>",
             "<h1>Brain MRI tumour detection and segmentation: evaluation</h1>",
             f"<p>{report['patients']} patients, {report['slices']} slices "
             f"({report['tumour_slices']} with tumour), scored at the data's own size "
             f"{report['image_size'][0]}&times;{report['image_size'][1]}.</p>",
             key_value_table({**sources, **report.get("settings", {})}, "Inputs and settings")]
    if "classifier" in report:
        parts.append(_classifier_html(report["classifier"]))
    for name, title in (("segmenter", "Segmenter alone"),
                        ("pipeline", "Pipeline: masks zeroed where the classifier says no tumour")):
        if name in report:
            parts.append(f"<h2>{title}</h2>")
            parts.append(_metric_table(report[name], SEGMENTATION_ROWS))
    if "segmenter" in report:
        parts.append(f"<p class='note'>{html.escape(EMPTY_MASK_RULE)}</p>")
        parts.append(_img(viz.plot_curves(_sorted_dice_series(report),
                                          title="Per-patient Dice, sorted",
                                          xlabel="patient (worst first)", ylabel="Dice")))
        parts.append(_worst_patients_html(evaluation, overlays_per_patient))
        parts.append(_patient_table_html(report))
        parts.append(_tumour_size_html(report["tumour_size"]))
        parts.append(_viewers_html(evaluation))
    timings = report.get("timings", {})
    parts.append(key_value_table(timings, "Timings (seconds)"))
    parts.append(f"<script>{viewer.VIEWER_SCRIPT}</script></body></html>")
    return "\n".join(parts)


def save_html(evaluation, path, overlays_per_patient=4):
    """Write ``render_html(evaluation)`` to ``path``, atomically (missing folders are made)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, render_html(evaluation, overlays_per_patient))


def _img(picture, alt="figure"):
    return f"<img alt='{html.escape(alt)}' src='{viz.png_data_uri(picture)}'>"


def key_value_table(values, title):
    """An HTML heading and a two-column table of ``values`` (a dict), escaped."""
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in values.items())
    return f"<h2>{title}</h2><table>{rows}</table>"


def _metric_table(section, rows):
    body = "".join(f"<tr><td>{label}</td><td>{_number(section[key])}</td></tr>"
                   for key, label in rows)
    return f"<table><tr><th>metric</th><th>value</th></tr>{body}</table>"


def _classifier_html(section):
    parts = [f"<h2>Classifier (tumour if probability &ge; {section['threshold']:.3g})</h2>",
             _metric_table(section, CLASSIFIER_ROWS),
             _img(viz.plot_confusion_matrix(section["confusion_matrix"],
                                            title="Confusion matrix (slices)"), "confusion matrix")]
    if section.get("roc_curve"):
        roc = section["roc_curve"]
        parts.append(_img(viz.plot_roc(roc["fpr"], roc["tpr"], auc=section["auc"],
                                       title="ROC curve (slices)"), "ROC curve"))
    return "\n".join(parts)


def _sorted_dice_series(report):
    series = {}
    for name in ("segmenter", "pipeline"):
        if name in report:
            dice = sorted(row["dice"] for row in report[name]["per_patient"].values())
            series[name] = (list(range(1, len(dice) + 1)), dice)
    return series


def _worst_patients_html(evaluation, per_patient):
    """For each worst patient, its slices with the most true or predicted tumour, outlined."""
    report, dataset = evaluation.report, evaluation.dataset
    masks = evaluation.pipeline_masks if "pipeline" in report else evaluation.seg_masks
    section = report.get("pipeline") or report["segmenter"]
    parts = ["<h2>Worst patients</h2>",
             "<p class='note'>Outlines: prediction red, truth green, yellow where they agree. "
             "Slices shown: the largest true or predicted tumour.</p>"]
    if not report["worst_patients"]:
        parts.append("<p>Every patient has Dice 1.</p>")
    for pid in report["worst_patients"]:
        indices = dataset.indices_of([pid])
        pictures, captions = [], []
        for i in _largest_tumour_slices(indices, dataset, masks, per_patient):
            image, true_mask = dataset[i]
            pictures.append(viewer.enlarged(viz.overlay(image, masks[i], true_mask)))
            slice_number = dataset.names[i].rsplit("_", 1)[-1]
            captions.append(f"slice {slice_number}: true {int(true_mask.sum())}, "
                            f"pred {int(masks[i].sum())} px")
        parts.append(f"<h3>{html.escape(pid)}: Dice {_number(section['per_patient'][pid]['dice'])}"
                     "</h3>")
        if pictures:
            parts.append(_img(viz.image_grid(pictures, ncols=per_patient, captions=captions),
                              f"slices of {pid}"))
    return "\n".join(parts)


def _largest_tumour_slices(indices, dataset, masks, count):
    """Up to ``count`` slices with the largest max(true area, predicted area), in slice order."""
    areas = [max(int(dataset[i][1].sum()), int(masks[i].sum())) for i in indices]
    chosen = [i for area, i in sorted(zip(areas, indices), key=lambda t: -t[0])[:count] if area]
    return sorted(chosen)


def _patient_table_html(report):
    columns = _patient_columns(report)
    worst = set(report["worst_patients"])
    head = "".join(f"<th>{header}</th>" for _, header, _ in columns)
    body = []
    for row in patient_rows(report):
        cells = "".join(f"<td>{html.escape(format(row[key], fmt))}</td>" for key, _, fmt in columns)
        body.append(f"<tr class='bad'>{cells}</tr>" if row["patient"] in worst
                    else f"<tr>{cells}</tr>")
    return ("<h2>Per patient</h2><p class='note'>3-D scores: all slices of a patient as one "
            "volume; px = pixels.</p>" f"<table><tr>{head}</tr>{''.join(body)}</table>")


def _tumour_size_html(sizes):
    """The true and predicted tumour size of every patient, in pixels."""
    columns = [("tumour_slices", "tumour slices", "d"), ("tumour_voxels", "tumour px", "d"),
               ("largest_extent_pixels", "largest extent px", ".1f")]
    head = "".join(f"<th>{label}, true</th><th>{label}, predicted</th>"
                   for _, label, _ in columns)
    body = "".join(
        f"<tr><td>{html.escape(pid)}</td>" + "".join(
            f"<td>{format(size['true'][key], fmt)}</td>"
            f"<td>{format(size['predicted'][key], fmt)}</td>" for key, _, fmt in columns)
        + "</tr>" for pid, size in sorted(sizes["per_patient"].items()))
    return (f"<h2>Tumour size per patient</h2><p class='note'>{html.escape(sizes['units'])}; "
            "largest extent: the longest line through the tumour in one slice.</p>"
            f"<table><tr><th>patient</th>{head}</tr>{body}</table>")


def _viewers_html(evaluation):
    """A slice viewer per patient: every slice, truth green, prediction red, yellow both."""
    report, dataset = evaluation.report, evaluation.dataset
    masks = evaluation.pipeline_masks if "pipeline" in report else evaluation.seg_masks
    section = report.get("pipeline") or report["segmenter"]
    parts = ["<h2>Slice viewer</h2>",
             "<p class='note'>Every slice of every patient, in slice order: drag a slider, or "
             "click a picture and use the arrow keys. Outlines: prediction red, truth green, "
             "yellow where they agree. Each viewer opens on its slice with the most tumour.</p>"]
    for pid in dataset.patients:
        indices = dataset.indices_of([pid])
        frames, areas = [], []
        for k, i in enumerate(indices):
            image, true_mask = dataset[i]
            true_area, pred_area = int(true_mask.sum()), int(masks[i].sum())
            slice_number = dataset.names[i].rsplit("_", 1)[-1]
            caption = (f"slice {slice_number} ({k + 1} of {len(indices)}): truth "
                       f"{true_area} px, prediction {pred_area} px")
            frames.append(viewer.viewer_frame(image, caption, masks[i], true_mask))
            areas.append(max(true_area, pred_area))
        start = viewer.busiest_slice(areas)
        title = f"{pid}: Dice {_number(section['per_patient'][pid]['dice'])}"
        parts.append(viewer.slice_viewer(frames, title, start))
    return "\n".join(parts)
