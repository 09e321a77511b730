"""Fixtures shared by the application's tests (tests/mri/, one file per module of tinynet/mri/).

* every test sees an empty ``$TINYNET_WEIGHTS`` folder, so the shipped weights of
  tinynet/mri/weights/ never stand in for a model a test did not pass (test_weights.py,
  the tests of those weights, removes the variable again);
* ``tiny_checkpoint_files`` (alias ``checkpoints``): a tiny untrained classifier and
  segmenter saved once per session; ``tiny_models``: the two loaded back;
* ``folder``: a small kaggle_3m folder of the three ``PATIENTS``.

The helpers are in mrihelpers.py, commandhelpers.py and datahelpers.py (this folder);
tests/conftest.py (the seed, ``rng``, the ``torch`` fixture and markers) applies here too.
"""
import pathlib
import sys

import pytest

# The test modules here import the helper modules of this folder by plain name.
sys.path.insert(0, str(pathlib.Path(__file__).parent))

from mrihelpers import PATIENTS, tiny_checkpoints, write_kaggle3m  # noqa: E402
from tinynet.mri.checkpoint import load_model  # noqa: E402


@pytest.fixture(autouse=True)
def _no_repository_weights(tmp_path_factory, monkeypatch):
    """Every test sees an empty TINYNET_WEIGHTS folder unless it points it elsewhere."""
    empty = tmp_path_factory.mktemp("no_weights")
    monkeypatch.setenv("TINYNET_WEIGHTS", str(empty))


@pytest.fixture(scope="session")
def tiny_checkpoint_files(tmp_path_factory):
    """(classifier path, segmenter path), saved once per test session (ResNet-18 is 45 MB)."""
    return tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"))


@pytest.fixture(scope="session")
def tiny_models(tiny_checkpoint_files):
    """((classifier, spec), (segmenter, spec)), loaded back from the tiny checkpoints."""
    cls_path, seg_path = tiny_checkpoint_files
    return (load_model(cls_path, task="classification"),
            load_model(seg_path, task="segmentation"))


@pytest.fixture
def checkpoints(tiny_checkpoint_files):
    return tiny_checkpoint_files


@pytest.fixture
def folder(tmp_path):
    write_kaggle3m(tmp_path / "kaggle_3m", patients=PATIENTS, slices=4, size=32)
    return tmp_path / "kaggle_3m"
