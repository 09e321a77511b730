import pathlib
import sys

import numpy as np
import pytest

# Test modules import each other's helpers (gradcases.py) by plain name.
sys.path.insert(0, str(pathlib.Path(__file__).parent))

import tinynet as tn  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    tn.manual_seed(0)
    yield


def torch_or_skip():
    """Import torch for a parity test, or skip the test when it is not installed."""
    return pytest.importorskip("torch")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
