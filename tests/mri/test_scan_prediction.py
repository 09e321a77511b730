"""tinynet.mri.scan_prediction: a scan's axial slices through the two stages; a field of view
that is not square in millimetres is padded with background and the padding cut off again, so
a slice cropped out of its black border is predicted exactly as the whole slice was."""
import numpy as np
import pytest

from tinynet.mri.data import DataError
from tinynet.mri.inference import TwoStagePredictor, classify
from tinynet.mri.scan_prediction import predict_scan, square_field_padding


def test_square_field_padding():
    assert square_field_padding((256, 256), (0.9, 0.9)) == ((0, 0), (0, 0))
    assert square_field_padding((256, 192), (1.0, 1.0)) == ((0, 0), (32, 32))
    assert square_field_padding((191, 256), (1.0, 1.0)) == ((32, 33), (0, 0))
    # 256 x 128 pixels of 0.9 x 1.8 mm: a square field of view already
    assert square_field_padding((256, 128), (0.9, 1.8)) == ((0, 0), (0, 0))
    # 256 x 256 pixels of 0.9 x 1.2 mm: 230 x 307 mm, 85 rows more make it square
    assert square_field_padding((256, 256), (0.9, 1.2)) == ((42, 43), (0, 0))


def test_a_cropped_scan_is_predicted_like_the_whole_one(tiny_models, rng):
    """Slices whose outer columns are background, and the same slices with those columns cut
    off (256 x 200): the padding puts them back, so the masks agree on the cropped grid."""
    slices = rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    slices[:, :, :7] = 0
    slices[:, :, 57:] = 0
    whole_result = None
    for seg_threshold in (0.3, 0.5, 0.7):      # untrained model: some threshold splits it
        predictor = TwoStagePredictor(*tiny_models, cls_threshold=0.0,
                                      seg_threshold=seg_threshold)
        whole_result = predict_scan(predictor, slices, (3.0, 1.0, 1.0), chunk_size=2)
        if 0 < whole_result.masks.mean() < 1:
            break
    assert 0 < whole_result.masks.mean() < 1           # a mask with tumour and background
    cropped = predict_scan(predictor, slices[:, :, 7:57], (3.0, 1.0, 1.0), chunk_size=2)
    assert cropped.padding == ((0, 0), (7, 7))
    np.testing.assert_array_equal(cropped.masks, whole_result.masks[:, :, 7:57])
    np.testing.assert_array_equal(cropped.pixel_probabilities,
                                  whole_result.pixel_probabilities[:, :, 7:57])
    np.testing.assert_array_equal(cropped.probability, whole_result.probability)
    assert cropped.masks.shape == (5, 64, 50) and cropped.masks.dtype == np.uint8


def test_the_masks_are_the_slice_wise_prediction(tiny_models, rng):
    slices = rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    middle = np.sort(classify(*tiny_models[0], slices))[3:5].mean()
    # a threshold between two slices' probabilities: some slices are called tumour, some not
    predictor = TwoStagePredictor(*tiny_models, cls_threshold=float(middle))
    result = predict_scan(predictor, slices, (1.0, 1.0, 1.0), chunk_size=3)
    # the same chunks of slices, predicted one after the other (a batch's composition can
    # move a probability in its last bits)
    chunks = [predictor(slices[first:first + 3]) for first in range(0, 7, 3)]
    assert 0 < result.positive.sum() < len(slices)
    np.testing.assert_array_equal(result.masks, np.concatenate([c.masks for c in chunks]))
    np.testing.assert_array_equal(result.positive, np.concatenate([c.positive for c in chunks]))
    # the probability map is the segmenter's on positive slices, 0 where it did not run
    assert not result.pixel_probabilities[~result.positive].any()
    np.testing.assert_array_equal(result.masks[result.positive],
                                  result.pixel_probabilities[result.positive] >= 0.5)


def test_a_classifier_alone_gives_no_masks(tiny_models, rng):
    slices = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    result = predict_scan(TwoStagePredictor(tiny_models[0]), slices, (1.0, 1.0, 1.0))
    assert result.masks is None and result.pixel_probabilities is None
    assert result.probability.shape == (3,)


def test_bad_slices_are_refused(tiny_models):
    with pytest.raises(DataError, match="expected uint8 axial slices"):
        predict_scan(TwoStagePredictor(*tiny_models), np.zeros((2, 8, 8), np.uint8),
                     (1.0, 1.0, 1.0))
