"""Report figures drawn with Pillow and NumPy alone: overlays, curves, ROC, confusion matrix.

Two kinds of output:

* pictures of a slice, returned as uint8 (H, W, 3) arrays with the image's own
  size: ``overlay`` (outlines of the predicted mask in red and of the true
  mask in green, yellow where they coincide) and ``heatmap_overlay`` (a
  Grad-CAM map blended over the slice in a jet colormap);
* charts, returned as RGB ``PIL.Image``: ``plot_curves`` (loss and metrics
  against the epoch), ``plot_roc`` and ``plot_confusion_matrix``, plus
  ``image_grid`` to tile pictures with captions.

``save_png`` writes either kind atomically; ``png_data_uri`` embeds one in HTML
(``jpeg_data_uri`` a slice picture, five times smaller).

Images are uint8 (H, W, 3) RGB or (H, W) grayscale; masks are (H, W) bool,
0/1 or 0/255.  CuPy arrays are accepted and copied to the host.

Charts are drawn ``_Canvas.scale`` (2) times larger than asked and shrunk with
a Lanczos filter at the end: Pillow draws lines and text without anti-aliasing,
and supersampling is the simplest way to get smooth ones.  Text uses Pillow's
own default font, scalable (FreeType) on Pillow >= 10.1; an older Pillow has a
single fixed-size bitmap font, in which case charts are drawn at scale 1 and
every text comes out in that one size.
"""
import base64
import functools
import io
import math
import os

import numpy as np
from ._lazy import Image, ImageDraw, ImageFont  # Pillow, imported at first use
from scipy import ndimage

from tinynet.backend import to_numpy
from tinynet.io import atomic_write

__all__ = ["overlay", "heatmap_overlay", "jet_colormap", "plot_curves", "plot_roc",
           "plot_confusion_matrix", "image_grid", "save_png", "png_data_uri", "jpeg_data_uri",
           "PRED_COLOR", "TRUE_COLOR", "BOTH_COLOR", "SERIES_COLORS"]

PRED_COLOR = (255, 0, 0)     # outline of the predicted mask
TRUE_COLOR = (0, 255, 0)     # outline of the true mask
BOTH_COLOR = (255, 255, 0)   # where the two outlines coincide (red + green light)

#: Line colours of chart series, in order; distinct in hue and lightness.
SERIES_COLORS = ((31, 105, 180), (232, 120, 20), (40, 150, 60), (200, 40, 45),
                 (130, 85, 180), (140, 90, 70), (220, 100, 180), (100, 100, 100),
                 (170, 170, 30), (20, 175, 195))

BACKGROUND = (255, 255, 255)
INK = (35, 35, 35)           # text and axes
MUTED = (110, 110, 110)      # secondary text
GRID = (228, 228, 228)
CHANCE_COLOR = (150, 150, 150)


# ---------------------------------------------------------------------------
# Input checks and conversions
# ---------------------------------------------------------------------------

def _host(x):
    """``x`` as a NumPy array (CuPy arrays are copied to the host)."""
    return np.asarray(to_numpy(x))


def _rgb_image(fn, image):
    """A uint8 (H, W, 3) copy of a uint8 RGB (H, W, 3) or grayscale (H, W) image."""
    image = _host(image)
    if image.dtype != np.uint8:
        raise ValueError(f"{fn}: image must be uint8 (values 0-255), got dtype {image.dtype}; "
                         f"convert floats in [0, 1] with (x * 255).round().astype(np.uint8)")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 3:
        return image.copy()
    raise ValueError(f"{fn}: image must have shape (H, W, 3) or (H, W), got {image.shape}")


def _mask(fn, name, mask, image_shape):
    """A bool (H, W) mask from a bool, 0/1 or 0/255 array of the image's height and width."""
    mask = _host(mask)
    if mask.shape != tuple(image_shape[:2]):
        raise ValueError(f"{fn}: {name} has shape {mask.shape} but the image has shape "
                         f"{tuple(image_shape)}; the mask must be (H, W) = "
                         f"{tuple(image_shape[:2])}")
    if mask.dtype == bool:
        return mask
    valid = (mask == 0) | (mask == 1) | (mask == 255)
    if not valid.all():
        raise ValueError(f"{fn}: {name} must be bool, 0/1 or 0/255, found the value "
                         f"{mask[~valid].flat[0]!r}; threshold probabilities first")
    return mask > 0


def _pil(fn, image):
    """A PIL image from a PIL image or a uint8 (H, W), (H, W, 3) or (H, W, 4) array."""
    if isinstance(image, Image.Image):
        return image
    array = _host(image)
    if array.dtype != np.uint8:
        raise ValueError(f"{fn}: array images must be uint8, got dtype {array.dtype}")
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4)):
        return Image.fromarray(np.ascontiguousarray(array))
    raise ValueError(f"{fn}: an array image must have shape (H, W), (H, W, 3) or (H, W, 4), "
                     f"got {array.shape}")


# ---------------------------------------------------------------------------
# Slice pictures: mask outlines and Grad-CAM heat maps
# ---------------------------------------------------------------------------

def _outline(mask, thickness):
    """The pixels of ``mask`` within ``thickness`` steps of its edge (4-neighbour erosion).

    A pixel on the image border counts as next to the outside, so a mask that
    touches the border is closed there too.
    """
    if not mask.any():
        return mask
    interior = ndimage.binary_erosion(mask, iterations=thickness, border_value=0)
    return mask & ~interior


def overlay(image, pred_mask=None, true_mask=None, thickness=1):
    """The slice with the outline of the prediction in red and of the truth in green.

    image : uint8 (H, W, 3) or (H, W); pred_mask, true_mask : (H, W) bool, 0/1 or
    0/255, or None to leave one out.  An outline is the set of mask pixels that
    have a 4-neighbour outside the mask, ``thickness`` pixels wide; where the two
    outlines coincide the pixel is yellow (``BOTH_COLOR``).  Every other pixel
    keeps the image's value.  Returns a new uint8 (H, W, 3) array.
    """
    out = _rgb_image("overlay", image)
    empty = np.zeros(out.shape[:2], dtype=bool)
    pred_edge, true_edge = empty, empty
    if pred_mask is not None:
        pred_edge = _outline(_mask("overlay", "pred_mask", pred_mask, out.shape), thickness)
    if true_mask is not None:
        true_edge = _outline(_mask("overlay", "true_mask", true_mask, out.shape), thickness)
    out[true_edge & ~pred_edge] = TRUE_COLOR
    out[pred_edge & ~true_edge] = PRED_COLOR
    out[pred_edge & true_edge] = BOTH_COLOR
    return out


def jet_colormap(values):
    """Map values in [0, 1] to uint8 RGB (..., 3) along a jet-like blue-cyan-yellow-red scale.

    Each channel is a tent function of v, clipped to [0, 1]:
    red = 1.5 - |4v - 3|, green = 1.5 - |4v - 2|, blue = 1.5 - |4v - 1|,
    which runs dark blue (0) - blue - cyan - yellow - red - dark red (1).
    """
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)[..., None]
    centres = np.array([3.0, 2.0, 1.0], dtype=np.float32)  # where R, G, B peak, in units of v/4
    rgb = np.clip(1.5 - np.abs(4.0 * v - centres), 0.0, 1.0)
    return (rgb * 255.0 + 0.5).astype(np.uint8)


def heatmap_overlay(image, heat, alpha=0.45):
    """Blend a heat map (e.g. Grad-CAM) over the slice: (1 - alpha) image + alpha jet(heat).

    image : uint8 (H, W, 3) or (H, W); heat : (h, w) floats in [0, 1], usually
    coarser than the image, resized to (H, W) bilinearly (pixel centres
    aligned).  Returns a uint8 (H, W, 3) array.
    """
    fn = "heatmap_overlay"
    rgb = _rgb_image(fn, image)
    heat = _host(heat).astype(np.float32)
    if heat.ndim != 2 or heat.size == 0:
        raise ValueError(f"{fn}: heat must be a non-empty 2-D array (h, w), got shape {heat.shape}")
    if not np.isfinite(heat).all():
        raise ValueError(f"{fn}: heat contains NaN or inf")
    if heat.min() < -1e-6 or heat.max() > 1 + 1e-6:
        raise ValueError(f"{fn}: heat must lie in [0, 1], got [{heat.min():.4g}, "
                         f"{heat.max():.4g}]; normalise it first, e.g. heat / heat.max()")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"{fn}: alpha must be in [0, 1], got {alpha}")
    height, width = rgb.shape[:2]
    resized = np.asarray(Image.fromarray(heat).resize((width, height), Image.Resampling.BILINEAR))
    blended = (1.0 - alpha) * rgb + alpha * jet_colormap(resized).astype(np.float32)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------
# Text and a supersampled drawing surface
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _font(size):
    """Pillow's default font at ``size`` pixels, or its fixed bitmap font on Pillow < 10.1."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # load_default() takes no size before Pillow 10.1
        return ImageFont.load_default()


def _fonts_scale():
    """Whether the default font can be drawn at any size (FreeType) or only at one (bitmap)."""
    return isinstance(_font(12), ImageFont.FreeTypeFont)


def _draw_text(draw, xy, text, font, color, anchor="mm"):
    """Draw ``text`` with the point ``xy`` at its ``anchor``: two letters, horizontal
    l/m/r (left, middle, right) then vertical t/m/b.  Placed from ``textbbox``
    rather than Pillow's ``anchor=``, which bitmap fonts do not support."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    dx = {"l": left, "m": (left + right) / 2, "r": right}[anchor[0]]
    dy = {"t": top, "m": (top + bottom) / 2, "b": bottom}[anchor[1]]
    draw.text((xy[0] - dx, xy[1] - dy), text, font=font, fill=color)


class _Canvas:
    """A white RGB chart surface addressed in output pixels, drawn ``scale`` times larger.

    All coordinates and sizes are in pixels of the final image; ``finish()``
    shrinks the large drawing to that size, which smooths every edge.
    """

    def __init__(self, width, height):
        self.width, self.height = int(width), int(height)
        self.scale = 2 if _fonts_scale() else 1
        self.image = Image.new("RGB", (self.width * self.scale, self.height * self.scale),
                               BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)

    def _px(self, points):
        return [(x * self.scale, y * self.scale) for x, y in points]

    def font(self, size):
        return _font(int(round(size * self.scale)))

    def line(self, points, color, width=1.0):
        self.draw.line(self._px(points), fill=color, width=max(1, round(width * self.scale)),
                       joint="curve")

    def dashed_line(self, start, end, color, width=1.0, dash=6.0):
        """A straight line drawn as ``dash``-long strokes with equal gaps."""
        (x0, y0), (x1, y1) = start, end
        length = math.hypot(x1 - x0, y1 - y0)
        for t0 in np.arange(0.0, length, 2 * dash):
            a, b = t0 / length, min(t0 + dash, length) / length
            self.line([(x0 + a * (x1 - x0), y0 + a * (y1 - y0)),
                       (x0 + b * (x1 - x0), y0 + b * (y1 - y0))], color, width)

    def rectangle(self, box, fill=None, outline=None, width=1.0):
        x0, y0, x1, y1 = (v * self.scale for v in box)
        self.draw.rectangle((x0, y0, x1, y1), fill=fill, outline=outline,
                            width=max(1, round(width * self.scale)))

    def dot(self, centre, radius, color):
        (x, y), r = self._px([centre])[0], radius * self.scale
        self.draw.ellipse((x - r, y - r, x + r, y + r), fill=color)

    def text_size(self, text, size):
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=self.font(size))
        return (right - left) / self.scale, (bottom - top) / self.scale

    def text(self, xy, text, size=12, color=INK, anchor="mm"):
        _draw_text(self.draw, self._px([xy])[0], text, self.font(size), color, anchor)

    def vertical_text(self, centre, text, size=12, color=INK):
        """Text turned 90 degrees counter-clockwise (reading upwards), centred on ``centre``."""
        font = self.font(size)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=font)
        label = Image.new("RGB", (right - left + 2, bottom - top + 2), BACKGROUND)
        ImageDraw.Draw(label).text((1 - left, 1 - top), text, font=font, fill=color)
        label = label.rotate(90, expand=True)
        x, y = self._px([centre])[0]
        self.image.paste(label, (round(x - label.width / 2), round(y - label.height / 2)))

    def finish(self):
        if self.scale == 1:
            return self.image
        return self.image.resize((self.width, self.height), Image.Resampling.LANCZOS)


# ---------------------------------------------------------------------------
# Axes: tick choice and the line chart shared by plot_curves and plot_roc
# ---------------------------------------------------------------------------

def _nice_step(span, max_intervals):
    """The smallest 'nice' step (1, 2 or 5 times a power of ten) that cuts ``span`` into
    at most ``max_intervals`` intervals (P. Heckbert, "Nice numbers for graph labels",
    Graphics Gems, 1990)."""
    raw = span / max_intervals
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1.0, 2.0, 5.0, 10.0):
        if multiple * power >= raw * (1 - 1e-9):
            return multiple * power
    return 10.0 * power


def _axis(lo, hi, integer=False, max_intervals=5):
    """Tick values covering [lo, hi], round numbers, the first <= lo and the last >= hi.

    A zero-width range (a constant series, a single point) is widened around
    its value; ``integer`` (e.g. epochs) keeps the step a whole number.
    """
    if hi - lo <= 1e-12 * max(1.0, abs(lo)):
        pad = 1.0 if integer else (0.1 * abs(lo) if lo != 0 else 0.5)
        lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo, max_intervals)
    if integer:
        step = max(1.0, round(step))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _tick_label(value, step):
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3g}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:.{decimals}f}"


class _Series:
    """One line of a chart: finite (x, y) points, a legend label and a look."""

    def __init__(self, label, xs, ys, color, width=2.0, dashed=False, markers=None):
        xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        # NaN (e.g. an epoch without validation) is skipped: the line joins its neighbours
        keep = np.isfinite(xs) & np.isfinite(ys)
        self.xs, self.ys = xs[keep], ys[keep]
        self.label, self.color, self.width, self.dashed = label, color, width, dashed
        # dots show where the measurements are, as long as they do not crowd the line
        self.markers = len(self.xs) <= 40 if markers is None else markers


TITLE_SIZE, LABEL_SIZE, TICK_SIZE, LEGEND_SIZE = 16, 13, 12, 12  # font sizes in pixels
_LEGEND_ROW = 20.0    # height of a row of legend items
_SWATCH = 20.0        # length of the line sample in front of a legend label


def _ticks(values, limits, integer=False):
    """Tick values of an axis: over ``limits`` if given, else over the finite ``values``."""
    if limits is None:
        limits = (values.min(), values.max()) if len(values) else (0.0, 1.0)
    return _axis(*limits, integer=integer)


def _legend_rows(canvas, series, max_width):
    """Legend items laid out left to right, wrapped into rows: [[(series, x_offset), ...]]."""
    rows, row, x = [], [], 0.0
    for s in series:
        item_width = _SWATCH + 6 + canvas.text_size(s.label, LEGEND_SIZE)[0] + 18
        if row and x + item_width > max_width:
            rows.append(row)
            row, x = [], 0.0
        row.append((s, x))
        x += item_width
    return rows + [row] if row else rows


def _draw_legend(canvas, rows, top):
    """Each row of legend items centred horizontally, the first row starting at ``top``."""
    for r, row in enumerate(rows):
        last, last_offset = row[-1]
        row_width = last_offset + _SWATCH + 6 + canvas.text_size(last.label, LEGEND_SIZE)[0]
        start = (canvas.width - row_width) / 2
        y = top + (r + 0.5) * _LEGEND_ROW
        for s, offset in row:
            x = start + offset
            _draw_series(canvas, s, [(x, y), (x + _SWATCH, y)], markers=False)
            canvas.text((x + _SWATCH + 6, y), s.label, LEGEND_SIZE, INK, "lm")


class _Axes:
    """The plot box of a chart and the ranges it shows; maps data to pixels and draws itself.

    ``xticks``/``yticks`` are the tick values; the first and last are the ends
    of the axis (``_axis`` rounds the data range out to whole ticks).
    """

    def __init__(self, box, xticks, yticks):
        self.left, self.top, self.right, self.bottom = box
        self.xticks, self.yticks = xticks, yticks

    def to_px(self, x, y):
        (x0, x1), (y0, y1) = (self.xticks[0], self.xticks[-1]), (self.yticks[0], self.yticks[-1])
        return (self.left + (x - x0) / (x1 - x0) * (self.right - self.left),
                self.bottom - (y - y0) / (y1 - y0) * (self.bottom - self.top))

    def draw(self, canvas, xlabel, ylabel):
        """Grid lines, tick marks and labels, the frame, and the axis labels."""
        for x, text in zip(self.xticks, _tick_labels(self.xticks)):
            px = self.to_px(x, 0)[0]
            canvas.line([(px, self.top), (px, self.bottom)], GRID, 1)
            canvas.line([(px, self.bottom), (px, self.bottom + 4)], INK, 1)
            canvas.text((px, self.bottom + 7), text, TICK_SIZE, INK, "mt")
        for y, text in zip(self.yticks, _tick_labels(self.yticks)):
            py = self.to_px(0, y)[1]
            canvas.line([(self.left, py), (self.right, py)], GRID, 1)
            canvas.line([(self.left - 4, py), (self.left, py)], INK, 1)
            canvas.text((self.left - 7, py), text, TICK_SIZE, INK, "rm")
        canvas.rectangle((self.left, self.top, self.right, self.bottom), outline=INK, width=1)
        if xlabel:
            canvas.text(((self.left + self.right) / 2, canvas.height - 10), xlabel, LABEL_SIZE,
                        INK, "mb")
        if ylabel:
            centre = (12 + canvas.text_size(ylabel, LABEL_SIZE)[1] / 2,
                      (self.top + self.bottom) / 2)
            canvas.vertical_text(centre, ylabel, LABEL_SIZE, INK)


def _tick_labels(ticks):
    return [_tick_label(v, ticks[1] - ticks[0]) for v in ticks]


def _plot_box(canvas, top, yticks, xlabel, ylabel, square):
    """(left, top, right, bottom) of the plot area below ``top``, leaving room for the labels."""
    bottom = canvas.height - 12 - (canvas.text_size("0123456789", TICK_SIZE)[1] + 10)
    if xlabel:
        bottom -= canvas.text_size(xlabel, LABEL_SIZE)[1] + 8
    left = 14 + max(canvas.text_size(t, TICK_SIZE)[0] for t in _tick_labels(yticks)) + 8
    if ylabel:
        left += canvas.text_size(ylabel, LABEL_SIZE)[1] + 10
    right = canvas.width - 20
    if square:  # equal scales: shrink the longer side and centre the box horizontally
        side = min(right - left, bottom - top)
        left += (right - left - side) / 2
        right, bottom = left + side, top + side
    return left, top, right, bottom


def _line_chart(series, title, xlabel, ylabel, size, xlim=None, ylim=None, integer_x=False,
                square=False):
    """Draw ``series`` (list of _Series) on axes with ticks, grid, labels, legend and title.

    Layout from top to bottom: title, legend rows, plot area, x tick labels,
    x label; the y label is turned upwards at the left.  ``xlim``/``ylim`` fix
    an axis to a range (e.g. (0, 1) for the ROC); otherwise it covers the data.
    ``square`` makes the plot area square (equal scales for the ROC).
    """
    canvas = _Canvas(*size)
    xs = np.concatenate([s.xs for s in series])
    ys = np.concatenate([s.ys for s in series])
    integer_x = integer_x and bool(np.all(xs == np.round(xs)))
    xticks, yticks = _ticks(xs, xlim, integer_x), _ticks(ys, ylim)

    top = 12.0
    if title:
        canvas.text((canvas.width / 2, top), title, TITLE_SIZE, INK, "mt")
        top += canvas.text_size(title, TITLE_SIZE)[1] + 12
    legend = _legend_rows(canvas, [s for s in series if s.label], canvas.width - 40)
    _draw_legend(canvas, legend, top)
    top += _LEGEND_ROW * len(legend) + (6 if legend else 0)

    axes = _Axes(_plot_box(canvas, top, yticks, xlabel, ylabel, square), xticks, yticks)
    axes.draw(canvas, xlabel, ylabel)
    for s in series:
        _draw_series(canvas, s, [axes.to_px(x, y) for x, y in zip(s.xs, s.ys)])
    return canvas.finish()


def _draw_series(canvas, s, points, markers=None):
    """A _Series through ``points`` (pixels): solid or dashed, dots at the points if wanted."""
    if len(points) >= 2:
        if s.dashed:
            for a, b in zip(points[:-1], points[1:]):
                canvas.dashed_line(a, b, s.color, s.width)
        else:
            canvas.line(points, s.color, s.width)
    if len(points) == 1 or (s.markers if markers is None else markers):
        radius = 3.5 if len(points) == 1 else s.width + 0.5
        for p in points:
            canvas.dot(p, radius, s.color)


def _curve_arrays(fn, name, xs, ys):
    xs, ys = _host(xs), _host(ys)
    if xs.ndim != 1 or ys.ndim != 1 or len(xs) != len(ys):
        raise ValueError(f"{fn}: series {name!r} needs 1-D xs and ys of one length, got shapes "
                         f"{xs.shape} and {ys.shape}")
    try:
        return xs.astype(np.float64), ys.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{fn}: series {name!r} has non-numeric values ({exc})") from exc


def plot_curves(series, title="", xlabel="", ylabel="", size=(640, 400)):
    """Line chart of several series, e.g. {"train loss": (epochs, losses), "val loss": (...)}.

    series : {name: (xs, ys)}, 1-D sequences of equal length; NaN points are
    skipped (the line joins its neighbours), a single point is drawn as a dot,
    a constant series gets a small range around its value.  The x axis gets
    whole-number ticks when every x is a whole number (epochs).  ``size`` is
    (width, height) in pixels.  Returns an RGB PIL.Image.
    """
    if not isinstance(series, dict) or not series:
        raise ValueError("plot_curves: series must be a non-empty dict {name: (xs, ys)}")
    lines = []
    for k, (name, pair) in enumerate(series.items()):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"plot_curves: series {name!r} must be a pair (xs, ys)")
        xs, ys = _curve_arrays("plot_curves", name, *pair)
        lines.append(_Series(str(name), xs, ys, SERIES_COLORS[k % len(SERIES_COLORS)]))
    return _line_chart(lines, title, xlabel, ylabel, size, integer_x=True)


def plot_roc(fpr, tpr, auc=None, title="", size=(480, 500)):
    """ROC curve (tpr against fpr) on the unit square with the chance diagonal.

    fpr, tpr : 1-D arrays of one length, as returned by ``tinynet.metrics.roc_curve``
    (NaN points are skipped); auc : float shown in the legend, or None.
    The title defaults to "ROC curve".  Returns an RGB PIL.Image.
    """
    fpr, tpr = _curve_arrays("plot_roc", "roc", fpr, tpr)
    finite = np.concatenate([fpr[np.isfinite(fpr)], tpr[np.isfinite(tpr)]])
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise ValueError("plot_roc: fpr and tpr are rates and must lie in [0, 1]")
    label = "ROC" if auc is None else (
        f"ROC (AUC = {auc:.3f})" if math.isfinite(auc) else "ROC (AUC undefined)")
    lines = [_Series("chance (AUC = 0.5)", [0, 1], [0, 1], CHANCE_COLOR, 1.5, dashed=True,
                     markers=False),
             _Series(label, fpr, tpr, SERIES_COLORS[0], 2.5, markers=False)]
    return _line_chart(lines, title or "ROC curve", "false positive rate (1 - specificity)",
                       "true positive rate (sensitivity)", size, xlim=(0, 1), ylim=(0, 1),
                       square=True)


# ---------------------------------------------------------------------------
# Confusion matrix
# ---------------------------------------------------------------------------

_CELL_LIGHT = np.array([241, 246, 252], dtype=np.float64)  # colour of an empty cell
_CELL_DARK = np.array([25, 75, 150], dtype=np.float64)     # colour of the largest count


def _count_matrix(cm, labels):
    cm = _host(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"plot_confusion_matrix: cm must be a square (k, k) matrix, "
                         f"got shape {cm.shape}")
    if not np.issubdtype(cm.dtype, np.number) or (cm < 0).any() or (cm != np.round(cm)).any():
        raise ValueError("plot_confusion_matrix: cm must hold non-negative whole counts")
    if len(labels) != cm.shape[0]:
        raise ValueError(f"plot_confusion_matrix: {len(labels)} labels for a "
                         f"{cm.shape[0]}x{cm.shape[0]} matrix")
    return cm.astype(np.int64)


def plot_confusion_matrix(cm, labels=("no tumour", "tumour"), title="", cell=120):
    """Confusion matrix as coloured cells: rows = true class, columns = predicted class.

    cm : (k, k) counts, e.g. [[TN, FP], [FN, TP]] from ``tinynet.metrics``;
    labels : the k class names.  Each cell shows its count and its share of
    the true class (row), so the diagonal reads specificity and sensitivity
    directly; the darker the cell, the larger the count.  ``cell`` is the
    side of a cell in pixels.  Returns an RGB PIL.Image.
    """
    cm = _count_matrix(cm, labels)
    k = cm.shape[0]
    probe = _Canvas(1, 1)  # only measures text
    label_width = max(probe.text_size(str(label), LABEL_SIZE)[0] for label in labels)
    title_height = probe.text_size(title, TITLE_SIZE)[1] + 16 if title else 0
    left = 16 + probe.text_size("true", 14)[1] + 12 + label_width + 10
    top = 14 + title_height
    width = int(left + k * cell + 24)
    height = int(top + k * cell + 92)
    canvas = _Canvas(width, height)
    if title:
        canvas.text((width / 2, 14), title, TITLE_SIZE, INK, "mt")

    largest = max(int(cm.max()), 1)
    row_totals = cm.sum(axis=1)
    for r in range(k):
        for c in range(k):
            x, y = left + c * cell, top + r * cell
            shade = cm[r, c] / largest
            fill = tuple(int(v) for v in np.round(_CELL_LIGHT + shade * (_CELL_DARK - _CELL_LIGHT)))
            canvas.rectangle((x, y, x + cell, y + cell), fill=fill, outline=BACKGROUND, width=2)
            ink = BACKGROUND if shade > 0.5 else INK  # keep the numbers readable on dark cells
            share = f"{100.0 * cm[r, c] / row_totals[r]:.1f}%" if row_totals[r] else "n/a"
            canvas.text((x + cell / 2, y + cell / 2 - 4), f"{cm[r, c]:,}", 22, ink, "mb")
            canvas.text((x + cell / 2, y + cell / 2 + 6), share, 13, ink, "mt")
    for i, label in enumerate(labels):
        canvas.text((left - 10, top + (i + 0.5) * cell), str(label), LABEL_SIZE, INK, "rm")
        canvas.text((left + (i + 0.5) * cell, top + k * cell + 8), str(label), LABEL_SIZE, INK,
                    "mt")
    canvas.vertical_text((16 + canvas.text_size("true", 14)[1] / 2, top + k * cell / 2), "true", 14)
    canvas.text((left + k * cell / 2, top + k * cell + 34), "predicted", 14, INK, "mt")
    canvas.text((width / 2, height - 10),
                f"n = {int(cm.sum()):,}; % = share of the true class (row)", 11, MUTED, "mb")
    return canvas.finish()


# ---------------------------------------------------------------------------
# Tiling, saving, embedding
# ---------------------------------------------------------------------------

def _fit_caption(draw, text, font, max_width):
    """``text``, cut short with '...' if it is wider than ``max_width`` pixels."""
    def width(t):
        left, _, right, _ = draw.textbbox((0, 0), t, font=font)
        return right - left
    if width(text) <= max_width:
        return text
    while text and width(text + "...") > max_width:
        text = text[:-1]
    return text + "..."


def image_grid(images, ncols=4, captions=None, pad=8):
    """Tile pictures in rows of ``ncols``, each centred in a cell, with optional captions below.

    images : list of PIL images or uint8 arrays (H, W), (H, W, 3); sizes may
    differ (a cell fits the largest).  captions : None or one string per image,
    cut short to the cell width.  Returns an RGB PIL.Image on white.
    """
    if len(images) == 0:
        raise ValueError("image_grid: images is empty")
    if captions is not None and len(captions) != len(images):
        raise ValueError(f"image_grid: {len(captions)} captions for {len(images)} images")
    if ncols < 1:
        raise ValueError(f"image_grid: ncols must be at least 1, got {ncols}")
    tiles = [_pil("image_grid", image).convert("RGB") for image in images]
    ncols = min(ncols, len(tiles))
    nrows = math.ceil(len(tiles) / ncols)
    font = _font(12)
    caption_height = 18 if captions is not None else 0
    cell_w = max(t.width for t in tiles)
    cell_h = max(t.height for t in tiles) + caption_height
    grid = Image.new("RGB", (pad + ncols * (cell_w + pad), pad + nrows * (cell_h + pad)),
                     BACKGROUND)
    draw = ImageDraw.Draw(grid)
    for i, tile in enumerate(tiles):
        x = pad + (i % ncols) * (cell_w + pad)
        y = pad + (i // ncols) * (cell_h + pad)
        image_height = cell_h - caption_height
        grid.paste(tile, (x + (cell_w - tile.width) // 2, y + (image_height - tile.height) // 2))
        if captions is not None:
            text = _fit_caption(draw, str(captions[i]), font, cell_w)
            _draw_text(draw, (x + cell_w / 2, y + cell_h - caption_height / 2), text, font, INK)
    return grid


def save_png(image, path):
    """Write ``image`` (PIL image or uint8 array) as a PNG at ``path``, atomically.

    ``tinynet.io.atomic_write``: a reader (a report being built, a browser) sees
    the old file or the new one, never half of one.  Missing parent folders are
    created.  Returns ``path`` as a string.
    """
    picture = _pil("save_png", image)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return atomic_write(path, lambda f: picture.save(f, format="PNG"))


def png_data_uri(image):
    """``"data:image/png;base64,..."`` for an ``<img src=...>`` in a self-contained HTML report."""
    buffer = io.BytesIO()
    _pil("png_data_uri", image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def jpeg_data_uri(image, quality=90):
    """``"data:image/jpeg;base64,..."``: a slice picture for HTML, about a fifth of its PNG.

    A noisy MRI slice compresses badly without loss (a 256x256 overlay is about
    78 kB as PNG, 17 kB as this JPEG), which matters when a report embeds every
    slice of every patient.  The colours are kept at full resolution (no chroma
    subsampling), so one-pixel red and green outlines stay sharp.
    """
    buffer = io.BytesIO()
    _pil("jpeg_data_uri", image).convert("RGB").save(buffer, format="JPEG", quality=quality,
                                                     subsampling=0)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
