"""Helpers shared by the tests of the commands (tinynet.mri.commands) and the example scripts.

* ``load_script``: examples/<name>.py imported as a module, its command line not run;
* ``write_png``, ``read_png``: a random RGB slice written as a PNG, an image read back;
* ``expect_exit_2``: a script's main(argv) exits with code 2 and one message, no traceback;
* ``fail_renames_onto``: the last step of an atomic save (the rename) fails for some files.
"""
import errno
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tinynet.mri.commands import predict

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_script(name):
    """Import examples/<name>.py as a module (without running its command line)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_png(path):
    return np.asarray(Image.open(path))


def write_png(path, shape=(40, 50, 3), seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(image).save(path)
    return image


def expect_exit_2(capsys, argv, message, script=predict):
    """``script.main(argv)`` exits with code 2 and one message on stderr, no traceback."""
    with pytest.raises(SystemExit) as exit_info:
        script.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    return err


def fail_renames_onto(monkeypatch, suffix):
    """Make ``os.replace`` fail with "No space left on device" when its target ends in
    ``suffix``: an atomic save of such a file fails at its very last step."""
    real_replace = os.replace

    def replace(src, dst):
        if os.fspath(dst).endswith(suffix):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
