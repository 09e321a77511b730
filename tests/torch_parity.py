"""Run the same code with PyTorch and with tinynet, and compare values, dtypes and gradients.

The code under test is written once, against a library argument ``lib`` that is
either ``torch`` or ``tinynet`` (``lib.tensor``, ``lib.sum``, ``x.transpose(1, 2)``,
``lib.nn.functional.mse_loss``): if tinynet has PyTorch's API and semantics,
both runs agree.  PyTorch is only an oracle here; the tests skip without it.
"""
import os

import numpy as np
import pytest

import tinynet as tn

#: Set by CI (.ci/run): a parity test that cannot import torch fails instead of skipping.
REQUIRE_TORCH_VARIABLE = "TINYNET_REQUIRE_TORCH"


def torch_or_skip():
    """PyTorch, the oracle of a parity test: the test is skipped where torch is not
    installed, and fails where $TINYNET_REQUIRE_TORCH is 1 (CI installs torch, so
    there a missing torch is a broken setup, not a reason to skip 53 tests)."""
    if os.environ.get(REQUIRE_TORCH_VARIABLE) == "1":
        try:
            import torch
        except ImportError as exc:
            pytest.fail(f"${REQUIRE_TORCH_VARIABLE}=1 but torch cannot be imported ({exc}); "
                        "pip install torch==2.13.0 (the CPU build)", pytrace=False)
        return torch
    return pytest.importorskip("torch")


def to_numpy(value):
    """A torch or tinynet tensor (or a Python value) as a NumPy array."""
    if isinstance(value, tn.Tensor):
        return value.numpy()
    if hasattr(value, "detach"):  # a torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


def dtype_name(value):
    """The dtype as a plain name ("float32", "int64", "bool"), for either library."""
    if isinstance(value, tn.Tensor):
        return value.dtype.name
    if hasattr(value, "detach"):
        return str(value.dtype).replace("torch.", "")
    return type(value).__name__


def flatten(value):
    """The tensors and numbers inside nested tuples/lists (namedtuples too), in order."""
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in flatten(item)]
    return [value]


def assert_same(ours, theirs, rtol, atol, where=""):
    """Same shapes, dtypes and values (for tensors), or equal Python values."""
    ours, theirs = flatten(ours), flatten(theirs)
    assert len(ours) == len(theirs), f"{where}: {len(ours)} outputs vs PyTorch's {len(theirs)}"
    for i, (a, b) in enumerate(zip(ours, theirs)):
        label = f"{where} output {i}"
        if isinstance(a, tn.Tensor) or hasattr(b, "detach"):
            assert dtype_name(a) == dtype_name(b), \
                f"{label}: dtype {dtype_name(a)} vs {dtype_name(b)}"
            a, b = to_numpy(a), to_numpy(b)
            assert a.shape == b.shape, f"{label}: shape {a.shape} vs PyTorch's {b.shape}"
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=label)
        elif isinstance(b, float):
            assert a == pytest.approx(b, rel=rtol, abs=atol), f"{label}: {a} vs {b}"
        else:
            assert type(a) is type(b) and a == b, f"{label}: {a!r} vs PyTorch's {b!r}"


class constant:
    """An input array that gets no gradient (a class weight, a target)."""

    def __init__(self, array):
        self.array = array


def _tensor(lib, a, grad):
    if isinstance(a, constant):
        return lib.tensor(a.array)
    if isinstance(a, np.ndarray):
        return lib.tensor(a, requires_grad=grad and a.dtype.kind == "f")
    return a


def run(lib, fn, arrays, grad):
    """``fn(lib, *tensors)``; with ``grad``, also the input gradients of sum(out * R)."""
    tensors = [_tensor(lib, a, grad) for a in arrays]
    out = fn(lib, *tensors)
    grads = []
    if grad:
        rng = np.random.default_rng(7)
        outputs = [o for o in flatten(out) if getattr(o, "requires_grad", False)]
        if outputs:
            weights = [lib.tensor(rng.standard_normal(tuple(o.shape)).astype(dtype_name(o)))
                       for o in outputs]
            sum((o * w).sum() for o, w in zip(outputs, weights)).backward()
        grads = [t.grad for t in tensors if getattr(t, "requires_grad", False)]
    return out, grads


def assert_parity(fn, *arrays, grad=True, rtol=1e-6, atol=1e-9):
    """``fn`` gives PyTorch's outputs (values, shapes, dtypes) and input gradients."""
    torch = torch_or_skip()
    ours, our_grads = run(tn, fn, arrays, grad)
    theirs, their_grads = run(torch, fn, arrays, grad)
    assert_same(ours, theirs, rtol, atol, "forward")
    if grad:
        assert_same(our_grads, their_grads, rtol, atol, "gradient")
