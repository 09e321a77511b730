import os
import pathlib
import sys

import numpy as np
import pytest

# Test modules import each other's helpers (gradcases.py) by plain name.
sys.path.insert(0, str(pathlib.Path(__file__).parent))

import tinynet as tn  # noqa: E402
from torch_parity import REQUIRE_TORCH_VARIABLE, torch_or_skip  # noqa: E402,F401


def pytest_collection_modifyitems(config, items):
    """Mark the PyTorch-parity tests ``torch``; skip the ``gpu`` tests without a GPU.

    A test that takes the ``torch`` fixture (itself or through another
    fixture) is a parity test: it gets the ``torch`` marker, so
    ``pytest -m torch`` runs them all and ``pytest -m "not torch"`` none.
    Tests that reach torch only through a helper carry the marker explicitly.
    """
    for item in items:
        if "torch" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.torch)
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


@pytest.fixture
def torch():
    """PyTorch for a parity test (see ``torch_parity.torch_or_skip``: skipped without it,
    an error where CI requires it)."""
    return torch_or_skip()


def pytest_sessionfinish(session, exitstatus):
    """Where torch is required ($TINYNET_REQUIRE_TORCH=1, as in CI), a run in which a
    test was skipped for want of torch fails, however the test asked for it."""
    if os.environ.get(REQUIRE_TORCH_VARIABLE) != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    torch_skips = [r.nodeid for r in skipped if "torch" in str(r.longrepr)]
    if torch_skips:
        reporter.write_line(f"${REQUIRE_TORCH_VARIABLE}=1, but {len(torch_skips)} test(s) "
                            f"were skipped for want of torch, e.g. {torch_skips[0]}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
