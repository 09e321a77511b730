"""The host-sync budget: a training step on the GPU never waits for the GPU.

A GPU step is fast only while the host queues kernels ahead of the device.
Anything that copies a value back to the host (``.item()``, ``float()``,
``bool()`` of a device array, printing it) makes the host wait until every
queued kernel has run, and a copy from the host (``cupy.asarray`` of a NumPy
array or a list) is a synchronous memcpy from pageable memory.  So one step,
forward, loss, backward and Adam, makes none of either once warmed up (the
first step may upload the small constant tables that ops keep on the device,
``backend.constant``).  The scripts read the loss only every
``--log-every`` steps (tinynet/mri/run.py).

Counted on the strict CuPy stand-in (tests/strict_gpu), which counts every
transfer and says where it was made; skipped on a real GPU.
"""
import numpy as np
import pytest

import tinynet as tn
from tinynet import ops
from tinynet.models import ResUNet, resnet18

pytestmark = pytest.mark.gpu


@pytest.fixture
def cupy(strict_cupy):
    """The strict stand-in as ``cupy`` (conftest.py's ``strict_cupy``)."""
    return strict_cupy


def segmenter():
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    masks = (np.random.default_rng(1).random((2, 1, 64, 64)) > 0.7).astype(np.float32)
    loss = lambda logits, y: ops.focal_tversky_loss(logits, y, from_logits=True)  # noqa: E731
    return ResUNet(), x, masks, loss


def classifier():
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    return resnet18(num_classes=2), x, np.array([0, 1]), ops.cross_entropy


@pytest.mark.parametrize("network", [segmenter, classifier], ids=["resunet", "resnet18"])
def test_a_training_step_makes_no_transfer_between_host_and_device(cupy, network):
    model, x, target, loss_fn = network()
    model.to("gpu").train()
    optimizer = tn.optim.Adam(model.parameters(), lr=1e-3)
    x, target = tn.tensor(x, device="gpu"), tn.tensor(target, device="gpu")

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), target)
        loss.backward()
        optimizer.step()
        return loss

    with cupy.count_transfers() as first:
        step()
    with cupy.count_transfers() as steady:
        losses = [step() for _ in range(2)]
    print(f"\n{network.__name__}: first step {first.device_to_host} device->host, "
          f"{first.host_to_device} host->device; then per step "
          f"{steady.device_to_host / 2:g} and {steady.host_to_device / 2:g}")
    assert steady.device_to_host == 0, steady.summary()
    assert steady.host_to_device == 0, steady.summary()
    assert first.device_to_host == 0, first.summary()
    assert all(np.isfinite(loss.item()) for loss in losses)     # the reads come after
