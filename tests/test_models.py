"""ResNet and ResUNet: architecture, parameter counts, parity with PyTorch, learning."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import ops
from tinynet.models import ResUNet, replace_head, resnet18, resnet34, resnet50
from torch_models import torch_resnet, torch_resunet


def count(params):
    return sum(p.numel() for p in params)


# ---------------------------------------------------------------------------
# Architecture
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("builder, expected", [
    (resnet18, 11_689_512), (resnet34, 21_797_672), (resnet50, 25_557_032)])
def test_resnet_parameter_counts_equal_torchvision(builder, expected):
    assert count(builder().parameters()) == expected


def test_resunet_parameter_counts_equal_the_classic_network():
    net = ResUNet()
    assert count(net.parameters()) == 1_206_129
    running = sum(b.numel() for name, b in net.named_buffers() if "running" in name)
    assert count(net.parameters()) + running == 1_210_513


@pytest.mark.parametrize("side", [32, 48])
def test_resunet_output_has_input_spatial_shape(side):
    net = ResUNet(base=4)
    with tn.no_grad():
        y = net(tn.randn(2, 3, side, side))
    assert y.shape == (2, 1, side, side)


def test_resunet_width_and_depth_are_configurable():
    net = ResUNet(in_channels=1, out_channels=2, base=8, depth=2)
    with tn.no_grad():
        assert net(tn.randn(1, 1, 12, 12)).shape == (1, 2, 12, 12)
    assert len(net.encoder) == 1 and len(net.decoder) == 2


def test_resunet_rejects_sides_that_are_not_multiples():
    with pytest.raises(ValueError, match=r"multiples of 16, got shape \(1, 3, 40, 40\)"):
        ResUNet(base=4)(tn.randn(1, 3, 40, 40))


def test_resnet_keys_follow_torchvision():
    keys = list(resnet18().state_dict())
    assert keys[:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                        "bn1.running_var", "bn1.num_batches_tracked"]
    assert "layer2.0.downsample.0.weight" in keys and "layer2.0.downsample.1.running_var" in keys
    assert "layer1.0.downsample.0.weight" not in keys
    assert keys[-2:] == ["fc.weight", "fc.bias"]
    assert "layer4.2.conv3.weight" in resnet50().state_dict()


def test_replace_head_for_binary_classification():
    model = replace_head(resnet18(), 2)
    assert model.fc.weight.shape == (2, 512)
    model.eval()
    with tn.no_grad():
        assert model(tn.randn(1, 3, 64, 64)).shape == (1, 2)


def test_imagenet_weights_start_a_two_class_model():
    source = resnet18()
    weights = source.state_dict()
    model = resnet18(num_classes=2, weights=weights)
    assert model.fc.weight.shape == (2, 512)
    np.testing.assert_array_equal(model.conv1.weight.data, source.conv1.weight.data)
    np.testing.assert_array_equal(model.layer4[1].bn2.running_var.data,
                                  source.layer4[1].bn2.running_var.data)


def test_weights_for_another_architecture_are_refused():
    with pytest.raises(KeyError, match="layer1.2"):
        resnet18(weights=resnet34().state_dict())


# ---------------------------------------------------------------------------
# Parity with PyTorch: a reference ResNet with torchvision's module names
# ---------------------------------------------------------------------------

def randomize_batchnorm(torch, net):
    """Give every BN non-trivial statistics and affine terms, so the test is not vacuous."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.1)


@pytest.mark.parametrize("name, bottleneck, layers, builder", [
    ("resnet18", False, [2, 2, 2, 2], resnet18),
    ("resnet50", True, [3, 4, 6, 3], resnet50)])
def test_resnet_matches_pytorch_through_a_pth_file(torch, tmp_path, name, bottleneck, layers, builder):
    torch.manual_seed(0)
    reference = torch_resnet(torch, bottleneck, layers)
    randomize_batchnorm(torch, reference)
    path = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), path)

    model = builder()
    model.load_state_dict(tn.io.load_torchvision(str(path)), strict=True)

    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    # eval mode: the logits
    reference.eval()
    model.eval()
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    with tn.no_grad():
        got = model(tn.tensor(x)).data
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)

    # train mode: the gradient of a loss with respect to the input.  In float64:
    # on a 64x64 input, layer4's BatchNorm normalizes over only 2*2*2 = 8 values
    # per channel, which amplifies float32 rounding to a few percent in ResNet-50.
    reference.double().train()
    model.to(np.float64).train()
    x64 = x.astype(np.float64)
    tx = torch.from_numpy(x64).requires_grad_()
    reference(tx).logsumexp(dim=1).mean().backward()
    ix = tn.tensor(x64, requires_grad=True)
    logits = model(ix)
    peak = logits.amax(dim=1, keepdim=True)
    (ops.log(ops.exp(logits - peak).sum(axis=1)) + peak.squeeze(1)).mean().backward()
    scale = np.abs(tx.grad.numpy()).max()
    np.testing.assert_allclose(ix.grad.data, tx.grad.numpy(), atol=1e-9 * scale, rtol=1e-7)


def test_resunet_matches_pytorch(torch):
    torch.manual_seed(0)
    reference = torch_resunet(torch, base=4, depth=3)
    randomize_batchnorm(torch, reference)
    net = ResUNet(base=4, depth=3)
    net.load_state_dict({k: v.numpy() for k, v in reference.state_dict().items()}, strict=True)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    reference.eval()
    net.eval()
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    with tn.no_grad():
        np.testing.assert_allclose(net(tn.tensor(x)).data, expected, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------------
# Learning: each model overfits a tiny fixed batch, with SGD and with Adam
# ---------------------------------------------------------------------------

def small_resnet_batch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 32, 32)).astype(np.float32)
    y = np.array([0, 1, 1, 0])
    return tn.tensor(x), tn.tensor(y)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resnet18_overfits_a_tiny_batch(optimizer):
    model = resnet18(num_classes=2)
    opt = (tn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9) if optimizer == "sgd"
           else tn.optim.Adam(model.parameters(), lr=1e-3))
    x, y = small_resnet_batch()
    model.train()
    for step in range(30):
        opt.zero_grad()
        loss = ops.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if loss.item() < 0.05:
            break
    assert loss.item() < 0.05, f"loss still {loss.item():.3f} after {step + 1} steps"


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resunet_overfits_a_tiny_batch(optimizer):
    rng = np.random.default_rng(0)
    x = tn.tensor(rng.standard_normal((2, 3, 32, 32)).astype(np.float32))
    mask = np.zeros((2, 1, 32, 32), dtype=np.float32)
    mask[0, :, 8:20, 10:24] = 1
    mask[1, :, 16:30, 4:12] = 1
    target = tn.tensor(mask)
    net = ResUNet(base=8, depth=2)
    opt = (tn.optim.SGD(net.parameters(), lr=0.1, momentum=0.9) if optimizer == "sgd"
           else tn.optim.Adam(net.parameters(), lr=1e-2))
    net.train()
    for step in range(60):
        opt.zero_grad()
        loss = ops.binary_cross_entropy_with_logits(net(x), target)
        loss.backward()
        opt.step()
        if loss.item() < 0.1:
            break
    assert loss.item() < 0.1, f"loss still {loss.item():.3f} after {step + 1} steps"
    with tn.no_grad():  # still in training mode: the running statistics lag after few steps
        predicted = net(x).data > 0
    assert (predicted == (mask > 0.5)).mean() > 0.95
