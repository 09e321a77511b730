"""tinynet.mri.data.sources: open_dataset, every kind of source (phantom, kaggle_3m folder,
packed .npz) and the bad paths."""
import pytest

from datahelpers import assert_same_dataset, small_root  # noqa: F401 (a fixture)
from tinynet.mri.data import DataError, load_packed, open_dataset, pack, read_kaggle3m


def test_open_dataset_every_kind(small_root, tmp_path):
    phantom = open_dataset(None, size=32, seed=3)
    assert phantom.image_size == 32 and phantom.patients[0].startswith("PHANTOM_")
    assert_same_dataset(open_dataset("phantom", size=32, seed=3), phantom)
    assert_same_dataset(open_dataset(small_root, size=8), read_kaggle3m(small_root, size=8))
    packed = pack(small_root, tmp_path / "small.npz", size=8)
    assert_same_dataset(open_dataset(packed), load_packed(packed))
    smaller = open_dataset(str(packed), size=4)
    assert smaller.image_size == 4 and smaller.arrays()[1].shape == (5, 4, 4)


def test_open_dataset_bad_paths(tmp_path):
    with pytest.raises(DataError, match="missing_data: no such file or folder"):
        open_dataset(tmp_path / "missing_data")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="notes.txt: not a folder or an .npz file"):
        open_dataset(tmp_path / "notes.txt")
