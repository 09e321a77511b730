"""A slice viewer for the HTML reports: scroll through a patient's slices with a slider or the
arrow keys, the truth and the prediction outlined on each.

A viewer is an HTML fragment that carries its own pictures, so the report
stays one file that works offline (no network, no external script)::

    <figure class="viewer" tabindex="0">
      <h3>title</h3>
      <img class="viewer-image" src="data:image/jpeg;base64,...">   the slice shown
      <figcaption class="viewer-caption">slice 7 of 20: ...</figcaption>
      <input class="viewer-slider" type="range" min="0" max="19" value="6">
      <script type="application/json" class="viewer-frames">[[uri, caption], ...]</script>
    </figure>

A page holds any number of viewers and, once, ``VIEWER_STYLE`` in its
``<style>`` and ``VIEWER_SCRIPT`` at its end: a few lines of plain JavaScript
that show frame k when the slider moves or an arrow key is pressed (the page
opens on the slice with the most tumour).  Pictures are JPEG (``viz.jpeg_data_uri``):
a 256x256 slice takes about 23 kB in the page, so a 20-slice patient about 0.5 MB.
"""
import html
import json

import numpy as np

from . import viz

__all__ = ["VIEWER_STYLE", "VIEWER_SCRIPT", "viewer_frame", "slice_viewer", "busiest_slice",
           "enlarged"]

VIEWER_STYLE = """
.viewer { display: inline-block; width: 384px; margin: 0.6em 1.2em 1em 0; vertical-align: top; }
.viewer:focus { outline: 2px solid #4a7bd0; }
.viewer-image { display: block; width: 100%; image-rendering: pixelated; margin: 0; }
.viewer-caption { font-size: 0.9em; color: #333; margin: 0.3em 0; min-height: 2.4em; }
.viewer-slider { width: 100%; margin: 0; }
"""

VIEWER_SCRIPT = """
// Slice viewers: each .viewer holds its frames as JSON, [[image URI, caption], ...].
document.querySelectorAll(".viewer").forEach(function (viewer) {
  var frames = JSON.parse(viewer.querySelector(".viewer-frames").textContent);
  var image = viewer.querySelector(".viewer-image");
  var caption = viewer.querySelector(".viewer-caption");
  var slider = viewer.querySelector(".viewer-slider");
  function show(k) {
    k = Math.max(0, Math.min(frames.length - 1, k));
    slider.value = k;
    image.src = frames[k][0];
    caption.textContent = frames[k][1];
  }
  // The slider moves itself with the mouse and, when it has the focus, the arrow keys.
  slider.addEventListener("input", function () { show(Number(slider.value)); });
  // Arrow keys on the rest of the viewer (click the picture first) step through the slices too.
  viewer.addEventListener("keydown", function (event) {
    var step = {ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1}[event.key];
    if (step && event.target !== slider) {
      show(Number(slider.value) + step);
      event.preventDefault();
    }
  });
  show(Number(slider.value));
});
"""

#: Pictures smaller than this (pixels, the longer side) are enlarged for the page.
MIN_SIDE = 256


def viewer_frame(image, caption, pred_mask=None, true_mask=None):
    """One slice of a viewer: ``[JPEG data URI, caption]``.

    image : uint8 (H, W, 3) slice; pred_mask, true_mask : (H, W) 0/1 or None.
    The prediction is outlined in red, the truth in green, yellow where they
    meet (``viz.overlay``); a picture smaller than ``MIN_SIDE`` is enlarged.
    Frames are made one slice at a time, so a caller never holds a whole
    patient's pictures, only their compressed bytes.
    """
    return [viz.jpeg_data_uri(enlarged(viz.overlay(image, pred_mask, true_mask))), str(caption)]


def slice_viewer(frames, title, start=0):
    """One viewer as an HTML fragment (str): a heading, the picture, its caption, a slider.

    frames : list of ``viewer_frame`` results, one per slice, in slice order
    title : the heading above the viewer (e.g. the patient id)
    start : index of the slice shown when the page opens
    """
    if not frames:
        raise ValueError(f"slice_viewer: {title!r} has no frames")
    if not 0 <= start < len(frames):
        raise ValueError(f"slice_viewer: start must be in [0, {len(frames)}), got {start}")
    # Inside <script>, "</script>" or "<!--" in a caption would end or confuse the data:
    # JSON may spell "<" as \u003c, which the HTML parser does not see.
    data = json.dumps(frames).replace("<", "\\u003c")
    return (f"<figure class='viewer' tabindex='0'>"
            f"<h3>{html.escape(title)}</h3>"
            f"<img class='viewer-image' alt='{html.escape(title)}' src='{frames[start][0]}'>"
            f"<figcaption class='viewer-caption'>{html.escape(frames[start][1])}</figcaption>"
            f"<input class='viewer-slider' type='range' min='0' max='{len(frames) - 1}' "
            f"value='{start}' aria-label='slice of {html.escape(title)}'>"
            f"<script type='application/json' class='viewer-frames'>{data}</script>"
            f"</figure>")


def busiest_slice(areas):
    """The index of the slice with the most tumour, given each slice's tumour pixels (N,);
    the middle slice when there is no tumour at all (the page opens on it)."""
    areas = np.asarray(areas)
    return int(np.argmax(areas)) if areas.any() else len(areas) // 2


def enlarged(picture):
    """A uint8 (H, W, 3) picture scaled up by an integer factor (nearest) to >= MIN_SIDE."""
    factor = -(-MIN_SIDE // max(picture.shape[:2]))      # ceiling division
    return picture if factor <= 1 else picture.repeat(factor, axis=0).repeat(factor, axis=1)
