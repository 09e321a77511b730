import pathlib
import sys

import numpy as np
import pytest

# Test modules import each other's helpers (gradcases.py) by plain name.
sys.path.insert(0, str(pathlib.Path(__file__).parent))

import tinynet as tn  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked ``gpu`` unless tinynet can use a GPU (CuPy and a CUDA device)."""
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_tests and not tn.gpu_available():
        skip = pytest.mark.skip(reason="needs CuPy and a CUDA GPU (tinynet.gpu_available() "
                                       "is False)")
        for item in gpu_tests:
            item.add_marker(skip)


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
