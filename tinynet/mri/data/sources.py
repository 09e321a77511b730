"""``open_dataset``: one entry point for the phantom, a kaggle_3m folder or a packed file."""
from pathlib import Path

from .errors import DataError
from .kaggle3m import read_kaggle3m
from .packed import load_packed
from .phantom import make_phantom
from .preprocess import check_image_size, resize_dataset

__all__ = ["open_dataset"]


def open_dataset(data=None, size=None, seed=0):
    """A SliceDataset from ``data``:

    - None or "phantom": ``make_phantom(size=size or 128, seed=seed)``
    - a folder: ``read_kaggle3m(data, size)`` (kaggle_3m layout)
    - a ``.npz`` file: ``load_packed(data)``, resized to ``size`` if that differs
      from the packed size (pack at the size you train at: resizing a
      packed 128 up to 256 only blurs it)

    ``seed`` only matters for the phantom.
    """
    size = check_image_size(size, "open_dataset")
    if data is None or data == "phantom":
        return make_phantom(size=size or 128, seed=seed)
    path = Path(data)
    if not path.exists():
        raise DataError(f"{data}: no such file or folder (expected a kaggle_3m folder, an .npz "
                        "made by `python -m tinynet pack`, or 'phantom')")
    if path.is_dir():
        return read_kaggle3m(path, size=size)
    if path.suffix != ".npz":
        raise DataError(f"{data}: not a folder or an .npz file; cannot tell how to read it")
    dataset = load_packed(path)
    return dataset if size in (None, dataset.image_size) else resize_dataset(dataset, size)
