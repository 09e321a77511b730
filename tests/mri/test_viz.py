"""Tests for tinynet.mri.viz: exact overlay pixels, chart content by colour, PNG files and data
URIs."""
import base64
import io
import os

import numpy as np
import pytest
from PIL import Image, ImageFont

from tinynet.mri import viz
from tinynet.mri.viz import (BOTH_COLOR, PRED_COLOR, SERIES_COLORS, TRUE_COLOR, heatmap_overlay,
                         image_grid, jet_colormap, overlay, plot_confusion_matrix, plot_curves,
                         plot_roc, png_data_uri, save_png)


def boundary(mask):
    """Mask pixels with a 4-neighbour outside the mask (outside the image counts as outside)."""
    padded = np.pad(mask, 1, constant_values=False)
    inside = (padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    return mask & ~inside


def near(image, color, tolerance=40):
    """Bool (H, W): pixels within ``tolerance`` (Euclidean, RGB) of ``color``."""
    array = np.asarray(image.convert("RGB"), dtype=np.float64)
    return np.linalg.norm(array - np.array(color, dtype=np.float64), axis=2) < tolerance


def region(mask, x_range, y_range):
    """The part of an (H, W) array between fractions x_range and y_range of its size."""
    h, w = mask.shape
    return mask[int(y_range[0] * h):int(y_range[1] * h), int(x_range[0] * w):int(x_range[1] * w)]


# ---------------------------------------------------------------------------
# overlay
# ---------------------------------------------------------------------------

def square_masks():
    pred = np.zeros((12, 12), bool)
    pred[1:5, 1:5] = True          # 4x4 square: 12 edge pixels, 4 inside
    true = np.zeros((12, 12), bool)
    true[6:12, 5:11] = True        # touches the bottom border of the image
    return pred, true


def test_overlay_outlines_exactly_the_mask_boundaries(rng):
    image = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    original = image.copy()
    pred, true = square_masks()
    out = overlay(image, pred, true)
    assert out.shape == (12, 12, 3) and out.dtype == np.uint8
    pred_edge, true_edge = boundary(pred), boundary(true)
    assert pred_edge.sum() == 12 and true_edge[11, 5:11].all()   # the border row is outlined
    assert (out[pred_edge] == PRED_COLOR).all()
    assert (out[true_edge] == TRUE_COLOR).all()
    untouched = ~(pred_edge | true_edge)                          # interiors and background
    assert np.array_equal(out[untouched], image[untouched])
    assert np.array_equal(image, original)                        # the input is not modified


def test_overlay_accepts_0_1_and_0_255_masks_and_grayscale(rng):
    gray = rng.integers(0, 256, (12, 12), dtype=np.uint8)
    pred, true = square_masks()
    expected = overlay(gray, pred, true)
    as_0_1, as_0_255 = pred.astype(np.uint8), true.astype(np.uint8) * 255
    assert np.array_equal(overlay(gray, as_0_1, as_0_255), expected)
    untouched = ~(boundary(pred) | boundary(true))
    assert (expected[untouched] == gray[untouched][:, None]).all()  # gray copied to R, G and B


def test_overlay_coinciding_outlines_are_yellow_and_thickness(rng):
    image = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
    mask = np.zeros((10, 10), bool)
    mask[2:8, 2:8] = True
    out = overlay(image, mask, mask)
    assert (out[boundary(mask)] == BOTH_COLOR).all()
    thick = overlay(image, pred_mask=mask, thickness=2)
    ring = mask & ~np.pad(np.ones((2, 2), bool), 4)                 # all but the central 2x2
    assert (thick[ring] == PRED_COLOR).all() and np.array_equal(thick[4:6, 4:6], image[4:6, 4:6])


def test_overlay_without_masks_is_a_copy(rng):
    image = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    out = overlay(image)
    assert np.array_equal(out, image) and out is not image


def test_overlay_errors():
    image = np.zeros((12, 12, 3), np.uint8)
    with pytest.raises(ValueError, match=r"pred_mask has shape \(5, 5\) but the image has shape "
                                         r"\(12, 12, 3\)"):
        overlay(image, pred_mask=np.zeros((5, 5), bool))
    with pytest.raises(ValueError, match=r"true_mask must be bool, 0/1 or 0/255.*0\.5"):
        overlay(image, true_mask=np.full((12, 12), 0.5))
    with pytest.raises(ValueError, match="image must be uint8.*float32"):
        overlay(np.zeros((12, 12, 3), np.float32))
    with pytest.raises(ValueError, match=r"image must have shape \(H, W, 3\) or \(H, W\), got "
                                         r"\(12, 12, 4\)"):
        overlay(np.zeros((12, 12, 4), np.uint8))


# ---------------------------------------------------------------------------
# heat maps
# ---------------------------------------------------------------------------

def test_jet_colormap_by_hand():
    # red = 1.5 - |4v - 3|, green = 1.5 - |4v - 2|, blue = 1.5 - |4v - 1|, clipped to [0, 1]
    colors = jet_colormap(np.array([0.0, 0.5, 1.0]))
    assert colors.tolist() == [[0, 0, 128], [128, 255, 128], [128, 0, 0]]
    assert jet_colormap(np.zeros((2, 3))).shape == (2, 3, 3)


def test_heatmap_overlay_blend_and_resize(rng):
    image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    heat = np.array([[0.0, 0.0], [1.0, 1.0]])                      # cold top, hot bottom
    out = heatmap_overlay(image, heat, alpha=1.0)
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert (out[0] == [0, 0, 128]).all() and (out[-1] == [128, 0, 0]).all()
    assert np.array_equal(heatmap_overlay(image, heat, alpha=0.0), image)
    half = heatmap_overlay(image, np.ones((2, 2)), alpha=0.5)
    expected = np.floor(0.5 * image + 0.5 * np.array([128, 0, 0]) + 0.5)
    assert np.abs(half.astype(int) - expected).max() <= 1


def test_heatmap_overlay_errors():
    image = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match=r"heat must lie in \[0, 1\], got \[0, 2\]"):
        heatmap_overlay(image, np.array([[0.0, 2.0]]))
    with pytest.raises(ValueError, match=r"2-D array \(h, w\), got shape \(1, 2, 2\)"):
        heatmap_overlay(image, np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        heatmap_overlay(image, np.array([[np.nan]]))


# ---------------------------------------------------------------------------
# charts
# ---------------------------------------------------------------------------

def test_plot_curves_draws_a_rising_line_where_it_rises():
    xs = np.arange(11)
    figure = plot_curves({"dice": (xs, xs / 10)}, title="rising", xlabel="epoch", ylabel="Dice")
    assert figure.size == (640, 400) and figure.mode == "RGB"
    line = near(figure, SERIES_COLORS[0])
    assert region(line, (0.7, 1.0), (0.15, 0.5)).sum() > 20        # upper right: the line
    assert region(line, (0.7, 1.0), (0.6, 0.85)).sum() == 0        # lower right: nothing


def test_plot_curves_several_series_have_their_own_colours():
    xs = np.arange(1, 21)
    figure = plot_curves({"falling": (xs, 1 / xs), "rising": (xs, xs / 20.0)}, size=(500, 320))
    assert figure.size == (500, 320)
    falling, rising = near(figure, SERIES_COLORS[0]), near(figure, SERIES_COLORS[1])
    assert region(falling, (0.1, 0.3), (0.15, 0.5)).sum() > 10
    assert region(rising, (0.1, 0.3), (0.15, 0.5)).sum() == 0
    assert region(rising, (0.7, 1.0), (0.15, 0.5)).sum() > 10


@pytest.mark.parametrize("xs, ys", [([3], [0.5]),                          # a single point
                                    ([1, 2, 3, 4], [0.2, np.nan, 0.4, 0.5]),  # a NaN skipped
                                    ([1, 2, 3], [0.693, 0.693, 0.693])])      # constant
def test_plot_curves_edge_cases_still_draw(xs, ys):
    figure = plot_curves({"loss": (xs, ys)}, title="edge case")
    assert near(figure, SERIES_COLORS[0]).sum() > 20                # more than the legend swatch


def test_plot_curves_series_without_finite_points():
    figure = plot_curves({"pending": ([1, 2], [np.nan, np.nan])})
    assert figure.size == (640, 400)


def test_plot_curves_errors():
    with pytest.raises(ValueError, match="non-empty dict"):
        plot_curves({})
    with pytest.raises(ValueError, match=r"series 'val' needs 1-D xs and ys of one length, got "
                                         r"shapes \(3,\) and \(2,\)"):
        plot_curves({"val": ([1, 2, 3], [0.1, 0.2])})
    with pytest.raises(ValueError, match=r"series 'val' must be a pair \(xs, ys\)"):
        plot_curves({"val": [0.1, 0.2, 0.3]})


@pytest.mark.parametrize("fpr, tpr, side", [([0.0, 0.0, 1.0], [0.0, 1.0, 1.0], "left"),
                                            ([0.0, 1.0, 1.0], [0.0, 0.0, 1.0], "right")])
def test_plot_roc_curve_runs_up_the_expected_side(fpr, tpr, side):
    # a perfect classifier goes up the left edge (fpr = 0), the worst one up the right (fpr = 1)
    figure = plot_roc(fpr, tpr, auc=1.0 if side == "left" else 0.0)
    assert figure.size == (480, 500)
    curve = near(figure, SERIES_COLORS[0])
    left = region(curve, (0.1, 0.2), (0.3, 0.8)).sum()
    right = region(curve, (0.9, 1.0), (0.3, 0.8)).sum()
    assert (left > 20 and right == 0) if side == "left" else (right > 20 and left == 0)
    chance = near(figure, viz.CHANCE_COLOR, tolerance=30)
    assert region(chance, (0.45, 0.6), (0.35, 0.65)).sum() > 5       # the dashed diagonal


def test_plot_roc_errors():
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\]"):
        plot_roc([0.0, 2.0], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"shapes \(3,\) and \(2,\)"):
        plot_roc([0.0, 0.5, 1.0], [0.0, 1.0])


def test_confusion_matrix_shades_cells_by_count():
    dark = tuple(int(v) for v in viz._CELL_DARK)
    one_full_cell = near(plot_confusion_matrix([[50, 0], [0, 0]]), dark, 6).sum()
    two_full_cells = near(plot_confusion_matrix([[50, 0], [0, 50]]), dark, 6).sum()
    assert one_full_cell > 0.5 * 120 * 120                           # most of a 120 px cell
    assert two_full_cells == pytest.approx(2 * one_full_cell, rel=0.1)


def test_confusion_matrix_sizes_and_errors():
    figure = plot_confusion_matrix(np.array([[5, 1], [2, 9]]), title="validation", cell=100)
    assert figure.mode == "RGB" and figure.width > 200 and figure.height > 200
    with pytest.raises(ValueError, match=r"square \(k, k\) matrix, got shape \(2, 3\)"):
        plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="non-negative whole counts"):
        plot_confusion_matrix([[1, -1], [0, 2]])
    with pytest.raises(ValueError, match="3 labels for a 2x2 matrix"):
        plot_confusion_matrix([[1, 0], [0, 1]], labels=("a", "b", "c"))


def test_charts_with_the_fixed_size_font_of_old_pillow(monkeypatch):
    """Before Pillow 10.1 load_default() took no size and gave a bitmap font."""
    def old_load_default(*args, **kwargs):
        if args or kwargs:
            raise TypeError("load_default() got an unexpected keyword argument 'size'")
        return ImageFont.load_default_imagefont()

    monkeypatch.setattr(ImageFont, "load_default", old_load_default)
    viz._font.cache_clear()
    try:
        figure = plot_curves({"x": ([1, 2], [0, 1])}, title="old", xlabel="epoch", ylabel="y")
        assert figure.size == (640, 400) and near(figure, SERIES_COLORS[0]).sum() > 20
        assert plot_confusion_matrix([[1, 2], [3, 4]]).mode == "RGB"
    finally:
        viz._font.cache_clear()


# ---------------------------------------------------------------------------
# grids, files, data URIs
# ---------------------------------------------------------------------------

def test_image_grid_layout(rng):
    tiles = [rng.integers(0, 256, (10, 12, 3), dtype=np.uint8) for _ in range(4)]
    tiles.append(rng.integers(0, 256, (10, 12), dtype=np.uint8))      # grayscale tile
    grid = image_grid(tiles, ncols=2, pad=8)
    assert grid.size == (8 + 2 * (12 + 8), 8 + 3 * (10 + 8))
    array = np.asarray(grid)
    assert np.array_equal(array[8:18, 8:20], tiles[0])
    assert np.array_equal(array[8:18, 28:40], tiles[1])
    assert np.array_equal(array[44:54, 8:20, 1], tiles[4])
    assert (array[44:54, 28:40] == 255).all()                         # the empty sixth cell


def test_image_grid_captions(rng):
    tiles = [Image.new("RGB", (40, 30), (0, 0, 0)) for _ in range(3)]
    grid = image_grid(tiles, ncols=3, captions=["a", "b", "a much too long caption"], pad=4)
    assert grid.size == (4 + 3 * 44, 4 + 30 + 18 + 4)
    caption_band = np.asarray(grid)[34:52]
    assert (caption_band < 128).any()                                 # some text is drawn
    with pytest.raises(ValueError, match="2 captions for 3 images"):
        image_grid(tiles, captions=["a", "b"])
    with pytest.raises(ValueError, match="images is empty"):
        image_grid([])


def test_save_png_round_trip_creates_folders(tmp_path, rng):
    array = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    path = tmp_path / "report" / "figures" / "slice.png"
    assert save_png(array, path) == str(path)
    with Image.open(path) as reopened:
        assert reopened.format == "PNG" and reopened.size == (9, 7)
        assert np.array_equal(np.asarray(reopened), array)
    save_png(plot_curves({"a": ([1, 2], [1, 2])}, size=(300, 200)), path)  # overwrite
    with Image.open(path) as reopened:
        assert reopened.size == (300, 200)
    assert os.listdir(path.parent) == ["slice.png"]                   # no temporary left behind


def test_save_png_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "figure.png"
    save_png(np.zeros((4, 4), np.uint8), path)
    before = path.read_bytes()

    def failing_save(self, fp, *args, **kwargs):
        fp.write(b"half a PNG")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_png(np.ones((4, 4), np.uint8), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["figure.png"]


def test_save_png_rejects_bad_arrays(tmp_path):
    with pytest.raises(ValueError, match="array images must be uint8, got dtype float64"):
        save_png(np.zeros((4, 4)), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_png_data_uri_decodes_to_the_same_png(rng):
    array = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    uri = png_data_uri(array)
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    data = base64.b64decode(uri[len(prefix):], validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as decoded:
        assert np.array_equal(np.asarray(decoded), array)
