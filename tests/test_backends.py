"""tinynet/backends.py, the torch.backends switches, and the torch.cuda and torch.dtype names
that training scripts use: accepted where tinynet has nothing to switch, working where it has."""
import os

import numpy as np
import pytest

import tinynet as tn


@pytest.fixture
def tf32_restored():
    before = os.environ.get("CUPY_TF32")
    yield
    if before is None:
        os.environ.pop("CUPY_TF32", None)
    else:
        os.environ["CUPY_TF32"] = before


def test_a_training_scripts_first_lines_run():
    """The lines of a typical script's preamble, PyTorch's names unchanged."""
    tn.backends.cudnn.benchmark = True
    tn.backends.cudnn.deterministic = True
    tn.use_deterministic_algorithms(True, warn_only=True)
    try:
        assert tn.backends.cudnn.benchmark and tn.are_deterministic_algorithms_enabled()
        device = "mps" if tn.backends.mps.is_available() else (
            "cuda" if tn.cuda.is_available() else "cpu")
        assert device == ("cuda" if tn.cuda.is_available() else "cpu")
        assert tn.backends.cudnn.is_available() is False
        tn.cuda.empty_cache()
        assert tn.cuda.memory_allocated() >= 0 and tn.cuda.current_device() == 0
    finally:
        tn.backends.cudnn.benchmark = tn.backends.cudnn.deterministic = False
        tn.use_deterministic_algorithms(False)


def test_tf32_switches_are_one_setting(tf32_restored):
    tn.backends.cuda.matmul.allow_tf32 = True
    assert os.environ["CUPY_TF32"] == "1" and tn.get_float32_matmul_precision() == "high"
    tn.set_float32_matmul_precision("highest")
    assert tn.backends.cuda.matmul.allow_tf32 is False and os.environ["CUPY_TF32"] == "0"
    tn.set_float32_matmul_precision("medium")
    assert tn.backends.cuda.matmul.allow_tf32 is True
    with pytest.raises(ValueError, match="set_float32_matmul_precision: precision must be one "
                                         "of 'highest', 'high', 'medium', got 'low'"):
        tn.set_float32_matmul_precision("low")


@pytest.mark.skipif(tn.cuda.is_available(), reason="the CPU-only answer")
def test_get_device_name_without_a_gpu_says_so():
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        tn.cuda.get_device_name()


def test_cuda_amp_is_the_older_spelling_of_amp():
    """torch.cuda.amp.autocast() / GradScaler(): the same objects as tn.autocast("cuda") and
    tn.amp.GradScaler("cuda") (which without a GPU is disabled, with PyTorch's warning)."""
    with tn.cuda.amp.autocast() as block:
        assert isinstance(block, tn.autocast) and block.device == "gpu"
        assert (tn.ones(2, 2) @ tn.ones(2, 2)).dtype == np.float32   # CPU tensors: untouched
    if not tn.cuda.is_available():
        with pytest.warns(UserWarning, match="no GPU is available: disabling it"):
            scaler = tn.cuda.amp.GradScaler(init_scale=1024.0)
        assert not scaler.is_enabled()


def test_dtype_for_annotations_and_isinstance(torch):
    """isinstance(x, torch.dtype) holds for the dtype names and for x.dtype, as in PyTorch."""
    for lib in (torch, tn):
        assert isinstance(lib.float32, lib.dtype) and isinstance(lib.ones(2).dtype, lib.dtype)
        assert isinstance(lib.long, lib.dtype) and not isinstance(3, lib.dtype)
        assert not isinstance("float32", lib.dtype)
    with pytest.raises(TypeError, match="tn.dtype cannot be created"):
        tn.dtype()
