"""The strict CuPy stand-in catches GPU bugs on a machine without a GPU.

Two halves.  First, the stand-in itself (tests/strict_gpu) behaves like CuPy
where bugs hide: NumPy refuses its arrays and it refuses NumPy's, only CuPy's
names exist, every copy to the host is counted, CUDA source does not run.
Second, each kind of bug that breaks a first GPU run is planted in a small
Function and run as test_gpu.py runs every op: the run fails, naming it.  And
tinynet's own GPU rules: one device per op (PyTorch's error), NumPy index
arrays copied to the device, and the checks of loss targets kept on the device
until the next read from it (tinynet/deferred_checks.py).

These run only on the stand-in: a real GPU does not count transfers this way.
"""
import json
from pathlib import Path

import numpy as np
import pytest

import tinynet as tn
from tinynet import backend, deferred_checks, ops
from tinynet.autograd import Function

STRICT_GPU = Path(__file__).resolve().parent / "strict_gpu"   # (as conftest.py's)

pytestmark = pytest.mark.gpu


@pytest.fixture
def cupy(strict_cupy):
    """The strict stand-in as ``cupy`` (conftest.py's ``strict_cupy``)."""
    return strict_cupy


# ---------------------------------------------------------------------------
# The stand-in behaves like CuPy where bugs hide
# ---------------------------------------------------------------------------

def test_numpy_refuses_device_arrays_as_cupy_does(cupy):
    a = cupy.ones((2, 3), dtype=cupy.float32)
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(a)
    with pytest.raises(TypeError, match="numpy.exp was given a device array"):
        np.exp(a)
    with pytest.raises(TypeError, match="numpy.sum was given a device array"):
        np.sum(a)


def test_device_code_refuses_numpy_arrays_as_cupy_does(cupy):
    a, host = cupy.ones(3), np.ones(3)
    for bad in (lambda: a + host, lambda: cupy.maximum(a, host), lambda: a[np.array([0, 1])],
                lambda: a.__setitem__(slice(None), host)):
        with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
            bad()


def test_only_the_names_cupy_14_has_exist(cupy):
    listed = json.loads((STRICT_GPU / "cupy14_names.json").read_text())["names"]
    assert len(listed["cupy"]) > 400
    for name in listed["cupy"]:
        if name != "annotations":
            assert hasattr(cupy, name), name
    for numpy_only in ("nanquantile", "block", "insert", "errstate"):
        assert hasattr(np, numpy_only) and not hasattr(cupy, numpy_only)
    assert not hasattr(cupy.ones(2), "itemset") and not hasattr(cupy.ones(2).flags, "writeable")


def test_every_copy_to_the_host_is_counted(cupy):
    a = cupy.arange(4, dtype=cupy.float32)
    reads = [lambda: a.get(), lambda: float(a[0]), lambda: int(a[1]), lambda: bool(a[2]),
             lambda: a[3].item(), lambda: a.tolist(), lambda: repr(a), lambda: str(a),
             lambda: f"{a[0]:.2f}", lambda: cupy.asnumpy(a)]
    with cupy.count_transfers() as transfers:
        b = (a * 2 + 1).sum()                      # stays on the device: a 0-d array
        assert isinstance(b, cupy.ndarray) and b.shape == ()
        assert transfers.device_to_host == 0
        for read in reads:
            read()
    assert transfers.device_to_host == len(reads)
    assert "test_gpu_strict.py" in transfers.summary()


def test_uploads_are_counted_and_copy(cupy):
    host = np.zeros(3, np.float32)
    with cupy.count_transfers() as transfers:
        device = cupy.asarray(host)
        cupy.array([1.0, 2.0])
    host[0] = 5
    assert transfers.host_to_device == 2 and float(device[0]) == 0.0


def test_cuda_source_kernels_do_not_run_here(cupy):
    kernel = cupy.ElementwiseKernel("float32 x", "float32 y", "y = x * 2", "double_it")
    with pytest.raises(NotImplementedError, match="xp fallback"):
        kernel(cupy.ones(2, dtype=cupy.float32))


# ---------------------------------------------------------------------------
# Planted bugs: each kind fails a run of the op on the "gpu"
# ---------------------------------------------------------------------------

class NumpyCallOnDeviceArray(Function):
    """Bug: ``np.exp`` where ``xp.exp`` was meant."""

    def forward(self, x):
        self.y = np.exp(x)
        return self.y

    def backward(self, gy):
        return gy * self.y


class ItemInBackward(Function):
    """Bug: a host read (``.item()``) in backward, e.g. to log or to branch."""

    def forward(self, x):
        return x * 2

    def backward(self, gy):
        if gy.max().item() > 1e6:
            raise FloatingPointError("gradient too large")
        return gy * 2


class NumpyOnlyFunction(Function):
    """Bug: a function NumPy has and CuPy does not (``nanquantile``)."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        return x - xp.nanquantile(x, 0.5)

    def backward(self, gy):
        return gy


def forward_and_backward(function_class, cupy):
    x = tn.tensor(np.linspace(-1, 1, 6, dtype=np.float32), requires_grad=True, device="gpu")
    with cupy.count_transfers() as transfers:
        function_class()(x).sum().backward()
    return transfers


def test_a_numpy_call_on_a_device_array_fails(cupy):
    with pytest.raises(TypeError, match="numpy.exp was given a device array"):
        forward_and_backward(NumpyCallOnDeviceArray, cupy)


def test_an_item_in_backward_is_a_counted_transfer_and_fails_where_waiting_is_refused(cupy):
    transfers = forward_and_backward(ItemInBackward, cupy)
    assert transfers.device_to_host == 1 and "in backward" in transfers.summary()
    import cupyx
    with cupyx.allow_synchronize(False), pytest.raises(cupyx.DeviceSynchronized):
        forward_and_backward(ItemInBackward, cupy)


def test_a_numpy_only_function_fails(cupy):
    with pytest.raises(AttributeError, match="nanquantile"):
        forward_and_backward(NumpyOnlyFunction, cupy)


# ---------------------------------------------------------------------------
# tinynet's GPU rules
# ---------------------------------------------------------------------------

def test_tensors_of_one_op_must_share_a_device_as_in_pytorch():
    cpu, gpu = tn.ones(3), tn.ones(3, device="gpu")
    with pytest.raises(RuntimeError, match="same device.*Mul"):
        cpu * gpu
    with pytest.raises(RuntimeError, match="gather: index is on cpu but input on gpu"):
        tn.ones(2, 3, device="gpu").gather(1, tn.tensor([[0], [1]]))
    with pytest.raises(RuntimeError, match="embedding: input is on cpu but weight on gpu"):
        ops.embedding(tn.tensor([0, 1]), tn.ones(4, 2, device="gpu"))


def test_a_numpy_index_array_indexes_a_gpu_tensor_as_in_pytorch(cupy):
    x = tn.arange(6.0, device="gpu").reshape(3, 2)
    with cupy.count_transfers() as transfers:
        picked = x[np.array([2, 0, 2])]
    assert picked.device == "gpu" and transfers.host_to_device == 1
    np.testing.assert_array_equal(picked.numpy(), [[4, 5], [0, 1], [4, 5]])


@pytest.mark.parametrize("loss, error, fragment", [
    (lambda: ops.cross_entropy(tn.zeros(2, 3, device="gpu"), tn.tensor([0, 3], device="gpu")),
     IndexError, "a target is out of bounds for 3 classes"),
    (lambda: ops.binary_cross_entropy(tn.full((2,), 1.5, device="gpu"), tn.ones(2, device="gpu")),
     RuntimeError, "should be between 0 and 1"),
])
def test_a_bad_target_on_the_gpu_is_raised_at_the_next_read_without_waiting_before(
        cupy, loss, error, fragment):
    with cupy.count_transfers() as transfers:
        value = loss()
    assert transfers.device_to_host == 0 and deferred_checks.pending_count() == 1
    with pytest.raises(error, match=fragment):
        value.item()
    assert deferred_checks.pending_count() == 0
    assert np.isfinite(tn.ones(1, device="gpu").item())      # nothing left pending


def test_good_targets_leave_nothing_to_raise(cupy):
    loss = ops.cross_entropy(tn.zeros(2, 3, device="gpu"), tn.tensor([0, 2], device="gpu"))
    assert loss.item() == pytest.approx(np.log(3))
    assert deferred_checks.pending_count() == 0


def test_on_the_gpu_conv2d_runs_im2col_without_cpu_cache_blocks(cupy):
    from tinynet.ops import blocking
    x = tn.randn(2, 64, 16, 16, device="gpu", requires_grad=True)
    w = tn.randn(64, 64, 3, 3, device="gpu", requires_grad=True)
    assert ops.conv2d(x, w, padding=1).grad_fn.algorithm == "im2col"
    assert ops.conv2d(x.detach().cpu(), w.detach().cpu(), padding=1).grad_fn is None
    assert ops.conv2d(x.cpu(), w.cpu(), padding=1).grad_fn.algorithm == "rows"
    assert blocking.limits(cupy) is blocking.GPU_LIMITS and blocking.limits() is not \
        blocking.GPU_LIMITS
    with blocking.override_limits(im2col_chunk=1):          # tests may still force blocks
        assert blocking.limits(cupy).im2col_chunk == 1


def test_a_worker_uploads_through_pinned_memory_on_its_own_stream(cupy):
    import threading
    host = np.arange(12, dtype=np.float32).reshape(3, 4)
    results = []
    with cupy.count_transfers() as transfers:
        worker = threading.Thread(target=lambda: results.append(
            backend.upload_from_worker(host, "gpu")))
        worker.start()
        worker.join()
    (on_device,) = results
    assert isinstance(on_device, cupy.ndarray) and transfers.host_to_device == 1
    np.testing.assert_array_equal(on_device.get(), host)
    assert backend.upload_from_worker(host, "cpu") is host
