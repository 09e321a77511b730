"""tinynet.mri.data.phantom, the synthetic MRI phantom: shapes, determinism, tumour share, anatomy
that can be learnt."""
import numpy as np
import pytest
from scipy import ndimage

from tinynet.mri.data import DataError, institution_of, make_phantom


@pytest.fixture(scope="module")
def phantom():
    return make_phantom(n_patients=8, slices_per_patient=24, size=64, seed=0)


def test_shapes_dtypes_and_names():
    ds = make_phantom(n_patients=5, slices_per_patient=3, size=32, seed=2)
    images, masks = ds.arrays()
    assert images.shape == (15, 32, 32, 3) and images.dtype == np.uint8
    assert masks.shape == (15, 32, 32) and masks.dtype == np.uint8
    assert ds.patients == ["PHANTOM_P1_0000", "PHANTOM_P1_0004", "PHANTOM_P2_0001",
                           "PHANTOM_P3_0002", "PHANTOM_P4_0003"]
    assert ds.names[:3] == ["PHANTOM_P1_0000_1", "PHANTOM_P1_0000_2", "PHANTOM_P1_0000_3"]
    assert ds.image_size == 32 and ds.paths == [None] * 15
    assert {institution_of(p) for p in ds.patients} == {"P1", "P2", "P3", "P4"}


def test_masks_binary_and_share_of_tumour_free_slices(phantom):
    _, masks = phantom.arrays()
    assert set(np.unique(masks)) == {0, 1}
    assert 0.3 <= 1 - phantom.has_tumour.mean() <= 0.45


def test_deterministic_and_patients_independent_of_their_number():
    a = make_phantom(n_patients=3, slices_per_patient=4, size=32, seed=7).arrays()
    b = make_phantom(n_patients=3, slices_per_patient=4, size=32, seed=7).arrays()
    c = make_phantom(n_patients=3, slices_per_patient=4, size=32, seed=8).arrays()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    more = make_phantom(n_patients=4, slices_per_patient=4, size=32, seed=7).arrays()
    np.testing.assert_array_equal(more[0][:12], a[0])  # patient k is the same in both


def test_tumour_is_one_run_of_slices_per_patient(phantom):
    tumour = phantom.has_tumour.reshape(8, 24)
    for row in tumour:
        present = np.flatnonzero(row)
        assert present.size and np.all(np.diff(present) == 1)  # appears, grows, disappears


def test_neighbouring_slices_look_alike(phantom):
    images = phantom.arrays()[0].astype(np.float64)
    neighbours = np.abs(images[11] - images[12]).mean()
    other_patient = np.abs(images[11] - images[24 + 12]).mean()
    assert neighbours < 0.5 * other_patient


def test_tumour_is_bright_on_flair(phantom):
    images, masks = phantom.arrays()
    differences = []
    for image, mask in zip(images, masks):
        if mask.sum() < 10:
            continue
        tumour = mask.astype(bool)
        around = ndimage.binary_dilation(tumour, iterations=3) & ~tumour & (image[..., 1] > 60)
        differences.append([image[..., c][tumour].mean() - image[..., c][around].mean()
                            for c in range(3)])
    pre, flair, post = np.mean(differences, axis=0)
    assert flair > 30  # grey levels brighter than the tissue around it
    assert abs(pre) < flair / 2 and abs(post) < flair / 2


@pytest.mark.parametrize("kwargs, message", [
    ({"n_patients": 0}, "n_patients must be a whole number >= 1, got 0"),
    ({"slices_per_patient": 2.5}, "slices_per_patient must be a whole number"),
    ({"size": 8}, "size must be a whole number >= 16, got 8"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(DataError, match=message):
        make_phantom(**kwargs)
