"""Volumes (N, C, D, H, W): conv3d, conv_transpose3d, the 3-D pools, 1-D/3-D interpolate,
BatchNorm3d/InstanceNorm3d, channel dropout, 1-D/3-D padding, and a 3-D U-Net written in
PyTorch's API: gradient checks, parity with PyTorch (values and gradients), errors."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn.functional as F
from tinynet import nn
from gradcases import GradCase, run_case
from torch_parity import assert_same


def normal(rng, *shape):
    return rng.standard_normal(shape)


def case(name, fn, *shapes, tolerances=None):
    """A gradcheck of ``fn`` on float64 inputs of ``shapes`` (None: that input is None)."""
    return GradCase(name, fn, lambda r: [None if s is None else normal(r, *s) for s in shapes],
                    tolerances or {})


def ties(rng, *shape):
    """Values with ties spaced well apart (a max pool's finite difference stays on one side)."""
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.1


GRADCHECK_CASES = [
    case("conv3d_bias", lambda x, w, b: F.conv3d(x, w, b), (2, 2, 4, 4, 3), (3, 2, 2, 3, 2),
         (3,)),
    case("conv3d_stride_padding_dilation",
         lambda x, w: F.conv3d(x, w, stride=(2, 1, 2), padding=(1, 0, 1), dilation=(2, 1, 1)),
         (1, 2, 5, 4, 5), (2, 2, 2, 2, 3)),
    case("conv3d_groups_same", lambda x, w: F.conv3d(x, w, padding="same", groups=2),
         (1, 4, 3, 4, 3), (2, 2, 2, 3, 2)),
    case("conv_transpose3d_stride2", lambda x, w, b: F.conv_transpose3d(x, w, b, stride=2),
         (2, 2, 2, 3, 2), (2, 3, 2, 2, 2), (3,)),
    case("conv_transpose3d_padding_output_padding_groups",
         lambda x, w: F.conv_transpose3d(x, w, stride=(2, 1, 2), padding=1,
                                         output_padding=(1, 0, 1), groups=2, dilation=(1, 2, 1)),
         (1, 4, 3, 2, 3), (4, 1, 3, 2, 3)),
    GradCase("max_pool3d_padding_ceil",
             lambda x: F.max_pool3d(x, 3, 2, 1, ceil_mode=True),
             lambda r: [ties(r, 1, 2, 4, 5, 4)]),
    case("avg_pool3d_count_exclude_pad",
         lambda x: F.avg_pool3d(x, (2, 3, 3), (1, 2, 2), 1, count_include_pad=False),
         (1, 2, 3, 5, 4)),
    case("adaptive_avg_pool3d_overlapping", lambda x: F.adaptive_avg_pool3d(x, (2, 3, 2)),
         (1, 2, 3, 5, 4)),
    GradCase("adaptive_max_pool3d_overlapping", lambda x: F.adaptive_max_pool3d(x, (2, 3, 2)),
             lambda r: [ties(r, 1, 2, 3, 5, 4)]),
    case("interpolate_trilinear", lambda x: F.interpolate(x, (3, 5, 2), mode="trilinear"),
         (1, 2, 2, 3, 4)),
    case("interpolate_nearest_3d_non_integer",
         lambda x: F.interpolate(x, scale_factor=(1.5, 1, 0.7)), (1, 2, 2, 3, 4)),
    case("interpolate_area_3d", lambda x: F.interpolate(x, (2, 2, 3), mode="area"),
         (1, 2, 3, 4, 5)),
    case("interpolate_linear_1d", lambda x: F.interpolate(x, 7, mode="linear",
                                                          align_corners=True), (2, 2, 4)),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


# ---------------------------------------------------------------------------
# Parity with PyTorch, functional: values, and the gradients of every input
# ---------------------------------------------------------------------------

def run_both(torch, fn, arrays):
    """``fn(lib, *tensors)`` with float64 inputs in both libraries, a seeded output gradient:
    returns (ours, theirs), each [output, gradient of every input]."""
    results = []
    for lib in (tn, torch):
        inputs = [lib.tensor(a, requires_grad=True) for a in arrays]
        y = fn(lib, *inputs)
        g = np.random.default_rng(1).standard_normal(tuple(y.shape))
        y.backward(lib.tensor(g))
        results.append([y] + [x.grad for x in inputs])
    return results


FUNCTIONAL_CASES = {
    "conv3d": (lambda lib, x, w, b: lib.nn.functional.conv3d(x, w, b), (2, 3, 5, 6, 7),
               (4, 3, 3, 3, 3), (4,)),
    "conv3d_strided_padded_dilated": (
        lambda lib, x, w: lib.nn.functional.conv3d(x, w, None, (2, 1, 2), (1, 0, 1), (2, 1, 1)),
        (2, 3, 5, 6, 7), (4, 3, 3, 2, 3)),
    "conv3d_same_even_kernel_groups": (
        lambda lib, x, w: lib.nn.functional.conv3d(x, w, padding="same", groups=2,
                                                   dilation=(3, 1, 2)),
        (2, 4, 6, 6, 7), (6, 2, 2, 3, 3)),
    "conv3d_one_volume": (lambda lib, x, w: lib.nn.functional.conv3d(x, w, padding=1),
                          (3, 5, 6, 7), (4, 3, 1, 3, 3)),
    "conv_transpose3d_2x": (lambda lib, x, w, b: lib.nn.functional.conv_transpose3d(
        x, w, b, stride=2), (2, 3, 4, 5, 6), (3, 4, 2, 2, 2), (4,)),
    "conv_transpose3d_everything": (lambda lib, x, w, b: lib.nn.functional.conv_transpose3d(
        x, w, b, stride=(2, 3, 1), padding=(1, 1, 0), output_padding=(1, 2, 0), groups=2,
        dilation=(1, 1, 2)), (2, 4, 4, 5, 6), (4, 3, 3, 3, 3), (6,)),
    "conv_transpose3d_output_padding_past_padding": (
        lambda lib, x, w: lib.nn.functional.conv_transpose3d(x, w, stride=3, padding=1,
                                                             output_padding=2),
        (1, 2, 3, 3, 3), (2, 2, 3, 3, 3)),
    "max_pool3d": (lambda lib, x: lib.nn.functional.max_pool3d(x, 2), (2, 3, 6, 6, 6)),
    "max_pool3d_everything": (lambda lib, x: lib.nn.functional.max_pool3d(
        x, (3, 2, 3), (2, 1, 2), (1, 0, 1), (1, 2, 1), ceil_mode=True), (2, 3, 7, 6, 9)),
    "avg_pool3d_padded_ceil": (lambda lib, x: lib.nn.functional.avg_pool3d(
        x, (3, 2, 3), (2, 2, 1), (1, 1, 0), ceil_mode=True), (2, 3, 7, 6, 9)),
    "avg_pool3d_exclude_pad": (lambda lib, x: lib.nn.functional.avg_pool3d(
        x, 3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 3, 7, 6, 9)),
    "avg_pool3d_divisor_override": (lambda lib, x: lib.nn.functional.avg_pool3d(
        x, 3, 2, 1, divisor_override=5), (2, 3, 7, 6, 9)),
    "adaptive_avg_pool3d": (lambda lib, x: lib.nn.functional.adaptive_avg_pool3d(
        x, (3, None, 2)), (2, 3, 7, 6, 9)),
    "adaptive_max_pool3d": (lambda lib, x: lib.nn.functional.adaptive_max_pool3d(
        x, (3, 4, 2)), (3, 7, 6, 9)),
    "trilinear_2x": (lambda lib, x: lib.nn.functional.interpolate(
        x, scale_factor=2, mode="trilinear"), (2, 3, 4, 5, 6)),
    "trilinear_align_corners_size": (lambda lib, x: lib.nn.functional.interpolate(
        x, (7, 3, 9), mode="trilinear", align_corners=True), (2, 3, 4, 5, 6)),
    "trilinear_recomputed_scale": (lambda lib, x: lib.nn.functional.interpolate(
        x, scale_factor=1.7, mode="trilinear", recompute_scale_factor=True), (2, 3, 4, 5, 6)),
    "nearest_3d_per_axis_factors": (lambda lib, x: lib.nn.functional.interpolate(
        x, scale_factor=(1.5, 0.5, 3)), (2, 3, 4, 5, 6)),
    "nearest_exact_3d": (lambda lib, x: lib.nn.functional.interpolate(
        x, (5, 7, 3), mode="nearest-exact"), (2, 3, 4, 5, 6)),
    "area_3d": (lambda lib, x: lib.nn.functional.interpolate(x, (3, 4, 4), mode="area"),
                (2, 3, 4, 5, 6)),
    "linear_1d": (lambda lib, x: lib.nn.functional.interpolate(x, scale_factor=2.5,
                                                               mode="linear"), (2, 3, 6)),
    "nearest_1d": (lambda lib, x: lib.nn.functional.interpolate(x, 7), (2, 3, 6)),
    "area_1d": (lambda lib, x: lib.nn.functional.interpolate(x, 4, mode="area"), (2, 3, 6)),
    "pad_3d_replicate": (lambda lib, x: lib.nn.functional.pad(x, (1, 2, 0, 1, 2, 1),
                                                              mode="replicate"),
                         (2, 3, 4, 5, 6)),
}


@pytest.mark.parametrize("name", list(FUNCTIONAL_CASES))
def test_functional_matches_pytorch(torch, name):
    fn, *shapes = FUNCTIONAL_CASES[name]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    ours, theirs = run_both(torch, fn, arrays)
    assert_same(ours, theirs, rtol=1e-10, atol=1e-12, where=name)


@pytest.mark.parametrize("pool", ["max_pool3d", "adaptive_max_pool3d"])
def test_max_pools_send_tied_gradients_where_pytorch_does(torch, pool):
    """Rounded values tie often; the gradient must go to PyTorch's element of each window
    (the first maximum in (d, h, w) order), through both passes."""
    x = np.round(np.random.default_rng(2).standard_normal((2, 3, 7, 6, 9)))
    args = {"max_pool3d": ((3, 2, 3), (2, 1, 2), 1), "adaptive_max_pool3d": ((3, 4, 2),)}[pool]
    ours, theirs = run_both(torch, lambda lib, t: getattr(lib.nn.functional, pool)(t, *args),
                            [x])
    assert_same(ours, theirs, rtol=1e-12, atol=1e-12, where=pool)


def test_conv3d_float32_matches_pytorch(torch):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7, 8)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((5, 3, 3, 3, 3)).astype(np.float32)
    ours = F.conv3d(tn.tensor(x), tn.tensor(w), stride=2, padding=1)
    theirs = torch.nn.functional.conv3d(torch.tensor(x), torch.tensor(w), stride=2, padding=1)
    assert_same(ours, theirs, rtol=1e-4, atol=1e-4, where="conv3d float32")


# ---------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------

def copy_weights(ours, theirs):
    """Load PyTorch's parameters and buffers into the tinynet module (by name)."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


LAYER_CASES = {
    "Conv3d": (lambda nn: nn.Conv3d(3, 4, 3, stride=(1, 2, 1), padding=1), (2, 3, 5, 6, 5)),
    "Conv3d_reflect_same": (lambda nn: nn.Conv3d(3, 4, (2, 3, 3), padding="same",
                                                 padding_mode="reflect"), (2, 3, 4, 5, 6)),
    "Conv3d_replicate": (lambda nn: nn.Conv3d(3, 2, 3, padding=(1, 2, 1),
                                              padding_mode="replicate", bias=False),
                         (2, 3, 4, 5, 6)),
    "Conv3d_circular_groups": (lambda nn: nn.Conv3d(4, 2, 3, padding=1, groups=2,
                                                    padding_mode="circular"), (1, 4, 4, 5, 6)),
    "ConvTranspose3d": (lambda nn: nn.ConvTranspose3d(3, 2, 2, stride=2), (2, 3, 3, 4, 5)),
    "MaxPool3d": (lambda nn: nn.MaxPool3d(3, 2, padding=1), (2, 3, 5, 6, 7)),
    "AvgPool3d": (lambda nn: nn.AvgPool3d((1, 2, 2)), (2, 3, 5, 6, 8)),
    "AdaptiveAvgPool3d": (lambda nn: nn.AdaptiveAvgPool3d(1), (2, 3, 5, 6, 7)),
    "AdaptiveMaxPool3d": (lambda nn: nn.AdaptiveMaxPool3d((2, 3, 3)), (2, 3, 5, 6, 7)),
    "BatchNorm3d": (lambda nn: nn.BatchNorm3d(3), (2, 3, 4, 5, 6)),
    "InstanceNorm3d_affine_tracked": (lambda nn: nn.InstanceNorm3d(3, affine=True,
                                                                   track_running_stats=True),
                                      (2, 3, 4, 5, 6)),
    "Upsample_trilinear": (lambda nn: nn.Upsample(scale_factor=2, mode="trilinear",
                                                  align_corners=False), (2, 3, 3, 4, 5)),
    "ReflectionPad3d": (lambda nn: nn.ReflectionPad3d((1, 2, 0, 1, 2, 1)), (2, 3, 4, 5, 6)),
    "ReplicationPad1d": (lambda nn: nn.ReplicationPad1d((2, 1)), (2, 3, 6)),
    "ConstantPad3d": (lambda nn: nn.ConstantPad3d(1, 0.5), (2, 3, 4, 5, 6)),
    "ZeroPad1d": (lambda nn: nn.ZeroPad1d(2), (2, 3, 6)),
    "CircularPad3d": (lambda nn: nn.CircularPad3d(1), (2, 3, 4, 5, 6)),
}


@pytest.mark.parametrize("name", list(LAYER_CASES))
def test_layer_matches_pytorch(torch, name):
    """Forward and backward in training mode, then the running statistics and repr."""
    build, shape = LAYER_CASES[name]
    torch.manual_seed(0)
    theirs = build(torch.nn).double()
    ours = build(nn).double()
    copy_weights(ours, theirs)
    x = np.random.default_rng(0).standard_normal(shape)
    outputs = []
    for lib, layer in ((tn, ours), (torch, theirs)):
        t = lib.tensor(x, requires_grad=True)
        y = layer(t)
        y.backward(lib.tensor(np.random.default_rng(1).standard_normal(tuple(y.shape))))
        grads = [p.grad for p in layer.parameters()]
        outputs.append([y, t.grad] + grads + list(layer.state_dict().values()))
    assert_same(outputs[0], outputs[1], rtol=1e-9, atol=1e-11, where=name)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)


def test_conv_transpose3d_output_size_picks_the_output_padding(torch):
    torch.manual_seed(0)
    theirs = torch.nn.ConvTranspose3d(2, 3, 3, stride=2, padding=1).double()
    ours = nn.ConvTranspose3d(2, 3, 3, stride=2, padding=1).double()
    copy_weights(ours, theirs)
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 4, 5))
    size = (6, 7, 10)
    assert_same(ours(tn.tensor(x), output_size=size),
                theirs(torch.tensor(x), output_size=size), rtol=1e-10, atol=1e-12,
                where="output_size")
    with pytest.raises(ValueError, match=r"dimension 0 must be between 5 and 6"):
        ours(tn.tensor(x), output_size=(8, 7, 9))


def test_batchnorm3d_eval_uses_the_running_statistics(torch):
    torch.manual_seed(0)
    layers = [torch.nn.BatchNorm3d(3).double(), nn.BatchNorm3d(3).double()]
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5, 6)) * 3 + 1
    outputs = []
    for lib, layer in zip((torch, tn), layers):
        for _ in range(3):
            layer(lib.tensor(x))
        layer.eval()
        outputs.append([layer(lib.tensor(x)), layer.running_mean, layer.running_var,
                        layer.num_batches_tracked])
    assert_same(outputs[1], outputs[0], rtol=1e-10, atol=1e-12, where="BatchNorm3d eval")


@pytest.mark.parametrize("layer, shape", [(nn.Dropout3d, (4, 6, 3, 4, 5)),
                                          (nn.Dropout1d, (4, 6, 7))])
def test_channel_dropout_zeroes_whole_channels_in_training_only(layer, shape):
    tn.manual_seed(0)
    drop = layer(p=0.5)
    x = tn.ones(*shape, requires_grad=True)
    y = drop(x)
    per_channel = y.numpy().reshape(shape[0], shape[1], -1)
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2)), "a channel was split"
    assert set(np.unique(per_channel)) == {0.0, 2.0}
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())     # the gradient is the mask
    one = drop(tn.ones(*shape[1:]))                               # one sample, no batch dim
    assert tuple(one.shape) == shape[1:]
    drop.eval()
    assert np.array_equal(drop(x).numpy(), x.numpy())


# ---------------------------------------------------------------------------
# A volumetric model in PyTorch's API: a small 3-D U-Net, trained a few steps
# ---------------------------------------------------------------------------

def unet3d(lib, in_channels=2, classes=3, base=4):
    """A 3-D U-Net as volumetric segmentation code writes it (Cicek et al. 2016's shape)."""
    nn, F = lib.nn, lib.nn.functional

    def double_conv(cin, cout):
        return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1, bias=False),
                             nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
                             nn.Conv3d(cout, cout, 3, padding=1, bias=False),
                             nn.InstanceNorm3d(cout, affine=True), nn.LeakyReLU(0.01))

    class UNet3D(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1 = double_conv(in_channels, base)
            self.enc2 = double_conv(base, 2 * base)
            self.pool = nn.MaxPool3d(2)
            self.bottom = double_conv(2 * base, 4 * base)
            self.up2 = nn.ConvTranspose3d(4 * base, 2 * base, kernel_size=2, stride=2)
            self.dec2 = double_conv(4 * base, 2 * base)
            self.dec1 = double_conv(3 * base, base)
            self.drop = nn.Dropout3d(0.0)
            self.head = nn.Conv3d(base, classes, 1)

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(self.pool(e1))
            b = self.bottom(self.pool(e2))
            d2 = self.dec2(lib.cat([self.up2(b), e2], dim=1))
            up = F.interpolate(d2, scale_factor=2, mode="trilinear", align_corners=False)
            d1 = self.dec1(lib.cat([up, e1], dim=1))
            return self.head(self.drop(d1))

    return UNet3D()


def train_unet3d(lib, steps=3):
    lib.manual_seed(0)
    model = unet3d(lib)
    rng = np.random.default_rng(0)
    with lib.no_grad():
        for _, p in model.named_parameters():
            p.copy_(lib.tensor(rng.uniform(-0.3, 0.3, tuple(p.shape)).astype(np.float32)))
    optimizer = lib.optim.Adam(model.parameters(), lr=1e-2)
    x = lib.tensor(rng.standard_normal((2, 2, 8, 8, 8)).astype(np.float32))
    target = lib.tensor(rng.integers(0, 3, (2, 8, 8, 8)))
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = lib.nn.functional.cross_entropy(model(x), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with lib.no_grad():
        prediction = model(x).argmax(dim=1)
    return losses + [model.enc1[0].weight.grad, model.up2.weight, prediction.float().mean()]


def test_unet3d_trains_like_pytorch(torch):
    assert_same(train_unet3d(tn), train_unet3d(torch), rtol=2e-3, atol=2e-4, where="3-D U-Net")


# ---------------------------------------------------------------------------
# Errors name the op, the argument and the shapes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: F.conv3d(tn.zeros(1, 3, 4, 4, 4), tn.zeros(2, 2, 3, 3, 3)),
     r"conv3d: input has 3 channels but weight of shape \(2, 2, 3, 3, 3\) with groups=1 "
     r"expects 2"),
    (lambda: F.conv3d(tn.zeros(1, 3, 4, 4), tn.zeros(2, 3, 3, 3)),
     r"conv3d: weight must be 5-D \(C_out, C_in/G, KD, KH, KW\), got shape \(2, 3, 3, 3\)"),
    (lambda: F.conv3d(tn.zeros(3, 4, 4), tn.zeros(2, 3, 3, 3, 3)),
     r"conv3d: expected input \(N, C, D, H, W\) or \(C, D, H, W\), got shape \(3, 4, 4\)"),
    (lambda: F.conv3d(tn.zeros(1, 3, 2, 8, 8), tn.zeros(2, 3, 3, 3, 3)),
     r"conv3d: output depth would be 0 for input shape \(1, 3, 2, 8, 8\)"),
    (lambda: F.conv3d(tn.zeros(1, 3, 4, 4, 4), tn.zeros(2, 3, 3, 3, 3), padding="same",
                      stride=2), r"conv3d: padding='same' is not supported for strided"),
    (lambda: F.conv_transpose3d(tn.zeros(1, 2, 3, 3, 3), tn.zeros(2, 2, 3, 3, 3), stride=2,
                                output_padding=2),
     r"conv_transpose3d: output_padding \(2, 2, 2\) must be non-negative and smaller than "
     r"stride"),
    (lambda: F.max_pool3d(tn.zeros(2, 3, 4), 2),
     r"max_pool3d: expected input \(N, C, D, H, W\) or \(C, D, H, W\), got shape \(2, 3, 4\)"),
    (lambda: F.max_pool3d(tn.zeros(1, 1, 1, 4, 4), 2),
     r"max_pool3d: kernel \(2, 2, 2\) .* input of shape \(1, 1, 1, 4, 4\)"),
    (lambda: F.avg_pool3d(tn.zeros(1, 1, 4, 4, 4), 2, padding=2),
     r"avg_pool3d: padding \(2, 2, 2\) must be at most half"),
    (lambda: F.adaptive_avg_pool3d(tn.zeros(1, 1, 4, 4, 4), (2, 2)),
     r"adaptive_avg_pool3d: output_size must be an int or a triple, got \(2, 2\)"),
    (lambda: F.interpolate(tn.zeros(1, 1, 4, 4), scale_factor=2, mode="trilinear"),
     r"interpolate: got a 4-D input of shape \(1, 1, 4, 4\), but mode 'trilinear' needs a "
     r"5-D input"),
    (lambda: F.interpolate(tn.zeros(1, 1, 4, 4, 4), size=(2, 3)),
     r"interpolate: size must be a positive int or a triple of them for a 5-D input"),
    (lambda: F.interpolate(tn.zeros(1, 4), size=2),
     r"interpolate: expected a 3-D \(N, C, L\), 4-D \(N, C, H, W\) or 5-D"),
    (lambda: nn.BatchNorm3d(3)(tn.zeros(2, 3, 4, 4)),
     r"BatchNorm3d: expected 5D input \(N, C, D, H, W\), got 4D input"),
    (lambda: nn.Dropout3d()(tn.zeros(2, 3)),
     r"dropout3d: expected input \(N, C, D, H, W\) \(or one sample without N\), got shape"),
    (lambda: nn.ReflectionPad3d((1, 1, 1, 1)),
     r"ReflectionPad3d: padding must be an int or \(left, right, top, bottom, front, back\)"),
    (lambda: nn.Conv3d(3, 4, (3, 3)),
     r"Conv3d: kernel_size must be an int or a triple of ints, got \(3, 3\)"),
])
def test_errors_name_the_op_and_shapes(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
