"""tinynet.models: ResNet and ResUNet: architecture, parameter counts, the ResNet width,
parity with PyTorch, learning, float16-stored weights.

The width tests derive parameter counts and shapes from the architecture (stem ``width``
channels, doubled at each of 4 stages).
"""
import numpy as np
import pytest

import tinynet as tn
from fp16_weights import half_weights, randomized_resnet
from tinynet import ops
from tinynet.models import ResNet, ResUNet, replace_head, resnet18, resnet34, resnet50
from tinynet.models.resnet import BasicBlock
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


# ---------------------------------------------------------------------------
# ResNet width
# ---------------------------------------------------------------------------

def resnet18_parameter_count(width, num_classes, in_channels=3):
    """Parameters of ResNet-18 (BasicBlock [2, 2, 2, 2]) from the architecture.

    stem: 7x7 conv in->w (49 in w) + BN (2w).  A stage c -> d with two blocks:
    block 0 has 3x3 c->d (9cd), 3x3 d->d (9d^2), two BNs (4d) and, when the
    shape changes, a 1x1 c->d (cd) + BN (2d); block 1 has 18 d^2 + 4d.
    fc: 8w * classes + classes.
    """
    w = width
    total = 49 * in_channels * w + 2 * w
    for c, d in [(w, w), (w, 2 * w), (2 * w, 4 * w), (4 * w, 8 * w)]:
        total += 9 * c * d + 9 * d * d + 4 * d + 18 * d * d + 4 * d
        if c != d:
            total += c * d + 2 * d
    return total + 8 * w * num_classes + num_classes


def test_the_parameter_formula_gives_torchvision_resnet18():
    """The formula reproduces torchvision's 11,689,512 (width 64, 1000 classes)."""
    assert resnet18_parameter_count(64, 1000) == 11_689_512
    assert count(resnet18().parameters()) == 11_689_512


@pytest.mark.parametrize("width, num_classes", [(32, 2), (16, 5), (8, 2)])
def test_resnet18_parameter_count_follows_the_width(width, num_classes):
    """resnet18(width=w) has exactly the parameters the architecture formula gives."""
    assert count(resnet18(num_classes=num_classes, width=width).parameters()) == \
        resnet18_parameter_count(width, num_classes)


@pytest.mark.parametrize("builder, expansion", [(resnet18, 1), (resnet50, 4)])
def test_width_sets_feature_and_output_shapes(builder, expansion):
    """features: (N, 8*width*expansion, H/32, W/32); forward: (N, num_classes)."""
    width = 8
    model = builder(num_classes=3, width=width).eval()
    x = tn.tensor(np.random.default_rng(0).standard_normal((2, 3, 64, 96)).astype(np.float32))
    with tn.no_grad():
        assert model.features(x).shape == (2, 8 * width * expansion, 2, 3)
        assert model(x).shape == (2, 3)
    assert model.fc.weight.shape == (3, 8 * width * expansion)


def test_width_changes_shapes_only_not_keys():
    """width 32 and 64 have the same keys in the same order; channel dims halve, others stay."""
    wide = resnet18(num_classes=2).state_dict()
    narrow = resnet18(num_classes=2, width=32).state_dict()
    assert list(wide) == list(narrow)
    for key, value in wide.items():
        shape = list(np.shape(value))
        if key == "conv1.weight":
            shape[0] //= 2                              # its input stays 3 channels
        elif key == "fc.weight":
            shape[1] //= 2                              # its output stays 2 classes
        elif key.endswith(".weight") and len(shape) == 4:
            shape[0] //= 2
            shape[1] //= 2
        elif len(shape) == 1 and key != "fc.bias":     # BatchNorm weight/bias/running stats
            shape[0] //= 2
        assert tuple(np.shape(narrow[key])) == tuple(shape), key


def test_default_width_is_the_standard_resnet():
    """width=64 is the default: same keys and shapes as resnet18() without it."""
    default, explicit = resnet18().state_dict(), resnet18(width=64).state_dict()
    assert {k: np.shape(v) for k, v in default.items()} == \
        {k: np.shape(v) for k, v in explicit.items()}
    assert default["layer4.1.conv2.weight"].shape == (512, 512, 3, 3)


@pytest.mark.parametrize("width", [0, -1, 2.5, True, "32", None])
def test_bad_width_raises_value_error(width):
    """width 0, -1, 2.5, True, "32", None: a ValueError naming width, for every builder."""
    for builder in (resnet18, resnet34, resnet50):
        with pytest.raises(ValueError, match="width"):
            builder(num_classes=2, width=width)
    with pytest.raises(ValueError, match="width"):
        ResNet(BasicBlock, [2, 2, 2, 2], width=width)


def test_width_64_weights_do_not_load_into_width_32():
    """Width-64 weights in a width-32 ResNet: one message naming both widths (the builder),
    or the shapes (load_state_dict)."""
    weights = resnet18(num_classes=2).state_dict()
    with pytest.raises(ValueError, match=r"width 64 .* this one has width 32: pass width=64"):
        resnet18(num_classes=2, width=32, weights=weights)
    narrow = resnet18(num_classes=2, width=32)
    before = narrow.conv1.weight.data.copy()
    with pytest.raises(RuntimeError, match="size mismatch"):
        narrow.load_state_dict(weights)
    np.testing.assert_array_equal(narrow.conv1.weight.data, before)   # nothing copied


def test_weights_of_the_same_width_load_through_the_builder():
    """resnet18(width=8, weights=...) of a width-8 state dict copies the weights."""
    source = resnet18(num_classes=2, width=8)
    model = resnet18(num_classes=2, width=8, weights=source.state_dict())
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[key], value)


# ---------------------------------------------------------------------------
# float16 weights
# ---------------------------------------------------------------------------

def test_float16_weights_give_outputs_within_fp16_rounding():
    """fp16-stored weights: outputs equal float32(fp16) weights', close to the original's."""
    source = randomized_resnet()
    model = resnet18(num_classes=2, width=8)
    model.load_state_dict(half_weights(source))
    model.eval()
    x = tn.tensor(np.random.default_rng(1).standard_normal((3, 3, 64, 64)).astype(np.float32))
    with tn.no_grad():
        original = source(x).data
        features_original = source.features(x).data
        features_half = model.features(x).data
        out = model(x).data
    assert out.dtype == np.float32
    # Every weight moves by <= 2^-11 relative; about 20 layers in series each add
    # that much, so the relative change of the features stays near 20 * 2^-11.
    relative = np.abs(features_half - features_original).max() / np.abs(features_original).max()
    assert 0 < relative <= 20 * 2.0 ** -11
    scale = np.abs(original).max()
    assert np.abs(out - original).max() <= 20 * 2.0 ** -11 * scale
