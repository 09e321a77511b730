import os
import pathlib
import sys

import numpy as np
import pytest

# Test modules import each other's helpers (gradcases.py) by plain name.
sys.path.insert(0, str(pathlib.Path(__file__).parent))

#: The strict CuPy stand-in (strict_gpu/cupy/__init__.py says what it is).
STRICT_GPU = pathlib.Path(__file__).parent / "strict_gpu"
STRICT_GPU_VARIABLE = "TINYNET_STRICT_GPU"


def _real_gpu_usable():
    """True where a real CuPy is installed and sees a GPU (asked in a child process,
    so that a CuPy that fails here is never half-imported into the test session)."""
    import importlib.util
    import subprocess
    if importlib.util.find_spec("cupy") is None:
        return False
    probe = "import cupy, sys; sys.exit(0 if cupy.cuda.runtime.getDeviceCount() > 0 else 1)"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def _install_strict_gpu():
    """Run the ``gpu`` tests on the strict CuPy stand-in where no real GPU is usable
    (or always with $TINYNET_STRICT_GPU=1; never with 0): it goes first on sys.path
    and on the PYTHONPATH of the processes the tests start (training scripts, ranks)."""
    setting = os.environ.get(STRICT_GPU_VARIABLE, "")
    if setting == "0" or (setting != "1" and _real_gpu_usable()):
        return False
    sys.path.insert(0, str(STRICT_GPU))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(STRICT_GPU), os.environ.get("PYTHONPATH")]))
    return True


STRICT_GPU_INSTALLED = _install_strict_gpu()

import tinynet as tn  # noqa: E402
from tinynet import deferred_checks  # noqa: E402
from torch_parity import REQUIRE_TORCH_VARIABLE, torch_or_skip  # noqa: E402,F401


def pytest_report_header(config):
    if STRICT_GPU_INSTALLED:
        return "gpu tests: on the strict CuPy stand-in (tests/strict_gpu), NumPy underneath"
    return "gpu tests: on a real GPU" if tn.gpu_available() else "gpu tests: skipped"


@pytest.fixture
def strict_cupy():
    """The strict CuPy stand-in itself, for tests about it or that count its transfers;
    skipped where a real CuPy (and GPU) is in use."""
    import cupy
    if not getattr(cupy, "STRICT_STAND_IN", False):
        pytest.skip("a real CuPy is in use: this test needs the strict stand-in")
    return cupy


@pytest.fixture
def without_cupy(monkeypatch):
    """As on a machine without CuPy, even where it (or the stand-in) is importable."""
    from tinynet import backend
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError
    monkeypatch.setattr(backend, "_cupy", None)      # forget a CuPy tinynet imported earlier


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
        skip = pytest.mark.skip(reason="needs CuPy and a CUDA GPU, or the strict CuPy "
                                       f"stand-in (${STRICT_GPU_VARIABLE} is 0 here)")
        for item in gpu_tests:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state, and with no GPU check pending
    (a test that left one would raise in the next test's first read from the device)."""
    tn.manual_seed(0)
    yield
    deferred_checks.discard_pending()


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
