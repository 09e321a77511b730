"""Volumes (N, C, D, H, W): conv3d, conv_transpose3d, the 3-D pools, 1-D/3-D interpolate,
BatchNorm3d/InstanceNorm3d, channel dropout, 1-D/3-D padding, and a 3-D U-Net written in
PyTorch's API; and the max pools' indices with max unpooling (1-D, 2-D, 3-D; a SegNet
block): gradient checks, parity with PyTorch (values and gradients), errors."""
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
    # (non-overlapping windows: where two windows share a maximum, the unpool writes one of
    # the two values there, PyTorch's too, and the other's gradient is not a derivative)
    GradCase("max_unpool2d_to_an_odd_size",
             lambda x, y: F.max_unpool2d(y, F.max_pool2d(x, 2, return_indices=True)[1], 2,
                                         output_size=x.shape),
             lambda r: [ties(r, 1, 2, 5, 7), normal(r, 1, 2, 2, 3)]),
    GradCase("max_unpool3d", lambda x, y: F.max_unpool3d(
        y, F.max_pool3d(x, 2, return_indices=True)[1], 2),
        lambda r: [ties(r, 1, 2, 4, 4, 2), normal(r, 1, 2, 2, 2, 1)]),
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


# Where PyTorch's own backward is not the derivative of its forward, only values are compared:
# its nearest 1-D/3-D backward maps an unchanged or doubled axis by o and o // 2 (the 2-D
# forward's shortcut), while its forward takes floor(o * scale); tinynet's gradient is the
# derivative of the forward (the gradchecks below).
RESIZE_VALUE_CASES = {
    "trilinear_keeps_an_axis_of_the_same_length": ((1, 2, 8, 5, 6), dict(
        scale_factor=(1.1, 2, 0.6), mode="trilinear")),
    "bilinear_keeps_an_axis_of_the_same_length": ((1, 2, 8, 6), dict(
        scale_factor=(1.1, 2), mode="bilinear")),
    "linear_keeps_the_length": ((1, 2, 8), dict(scale_factor=1.1, mode="linear")),
    "nearest_1d_no_shortcut_at_2_1": ((1, 2, 5), dict(scale_factor=2.1)),
    "nearest_1d_no_shortcut_at_1_1": ((1, 2, 8), dict(scale_factor=1.1)),
    "nearest_3d_no_shortcut": ((1, 2, 8, 5, 6), dict(scale_factor=(1.1, 2.1, 1))),
    "nearest_2d_shortcut_at_2_1": ((1, 2, 5, 7), dict(scale_factor=(2.1, 1.1))),
    "nearest_exact_2d_no_shortcut": ((1, 2, 8, 6), dict(scale_factor=(1.1, 2.1),
                                                        mode="nearest-exact")),
}


@pytest.mark.parametrize("name", list(RESIZE_VALUE_CASES))
def test_interpolate_follows_pytorchs_rule_for_each_rank(torch, name):
    shape, kwargs = RESIZE_VALUE_CASES[name]
    x = np.random.default_rng(0).standard_normal(shape)
    assert_same(F.interpolate(tn.tensor(x), **kwargs),
                torch.nn.functional.interpolate(torch.tensor(x), **kwargs), rtol=1e-12,
                atol=1e-12, where=name)


@pytest.mark.parametrize("name", [n for n in RESIZE_VALUE_CASES if "nearest" in n])
def test_interpolate_gradient_is_the_derivative_where_pytorchs_is_not(name):
    shape, kwargs = RESIZE_VALUE_CASES[name]
    small = shape[:2] + tuple(min(n, 4) for n in shape[2:])
    run_case(case(name, lambda x: F.interpolate(x, **kwargs), small))


def test_trilinear_keeps_an_inf_in_its_neighbourhood(torch):
    """The depth pass mixes two slices; a product with a dense (out, D) matrix would spread
    0 * inf = NaN over every output slice.  (Where PyTorch's lerp gives NaN next to an inf,
    inf - inf, the two taps give inf: the same places are not finite.)"""
    x = np.zeros((1, 1, 8, 1, 1))
    x[0, 0, 3] = np.inf
    ours = F.interpolate(tn.tensor(x), scale_factor=(2, 1, 1), mode="trilinear").numpy()
    theirs = torch.nn.functional.interpolate(torch.tensor(x), scale_factor=(2, 1, 1),
                                             mode="trilinear").numpy()
    np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(theirs))
    np.testing.assert_array_equal(ours[np.isfinite(ours)], theirs[np.isfinite(theirs)])


@pytest.mark.parametrize("pool", ["max_pool3d", "adaptive_max_pool3d"])
def test_max_pools_send_tied_gradients_where_pytorch_does(torch, pool):
    """Rounded values tie often; the gradient must go to PyTorch's element of each window
    (the first maximum in (d, h, w) order), through both passes."""
    x = np.round(np.random.default_rng(2).standard_normal((2, 3, 7, 6, 9)))
    args = {"max_pool3d": ((3, 2, 3), (2, 1, 2), 1), "adaptive_max_pool3d": ((3, 4, 2),)}[pool]
    ours, theirs = run_both(torch, lambda lib, t: getattr(lib.nn.functional, pool)(t, *args),
                            [x])
    assert_same(ours, theirs, rtol=1e-12, atol=1e-12, where=pool)


POOLS_WITH_INDICES = {
    "max_pool1d": ((2, 3, 9), (3, 2, 1)),
    "max_pool1d_one_signal": ((3, 9), (2,)),
    "max_pool2d": ((2, 3, 7, 8), (2,)),
    "max_pool2d_padded_ceil": ((2, 3, 7, 8), (3, 2, 1, 1, True)),
    "max_pool2d_dilated": ((2, 3, 9, 8), ((3, 2), (2, 1), (1, 1), (2, 1))),
    "max_pool2d_one_image": ((3, 9, 8), (2,)),
    "max_pool3d": ((2, 3, 5, 7, 8), (2,)),
    "max_pool3d_padded_ceil": ((2, 3, 5, 7, 8), (3, 2, 1, 1, True)),
    "max_pool3d_one_volume": ((3, 5, 7, 8), ((2, 3, 3), (1, 2, 2), (1, 1, 0), (2, 1, 1))),
    "adaptive_max_pool1d": ((2, 3, 7), (3,)),
    "adaptive_max_pool2d_overlapping": ((2, 3, 7, 8), ((3, 5),)),
    "adaptive_max_pool2d_tiling": ((2, 3, 8, 8), ((4, 2),)),
    "adaptive_max_pool3d": ((2, 3, 5, 7, 8), ((2, 3, 5),)),
}


@pytest.mark.parametrize("name", list(POOLS_WITH_INDICES))
def test_max_pool_indices_are_pytorchs(torch, name):
    """return_indices: the same maxima and the same int64 positions (ties included: the
    values are rounded, so many windows hold equal maxima)."""
    shape, args = POOLS_WITH_INDICES[name]
    op = name.split("_one")[0].split("_padded")[0].split("_dilated")[0].split("_overlapping")[0]
    op = op.split("_tiling")[0]
    x = np.round(np.random.default_rng(0).standard_normal(shape) * 2)
    ours = getattr(F, op)(tn.tensor(x), *args, return_indices=True)
    theirs = getattr(torch.nn.functional, op)(torch.tensor(x), *args, return_indices=True)
    assert_same(list(ours), list(theirs), rtol=0, atol=0, where=name)


@pytest.mark.parametrize("dims, shape, kernel, stride, padding", [
    (1, (2, 3, 9), 3, 2, 1), (2, (2, 3, 8, 9), 2, 2, 0), (2, (3, 7, 7), 3, 2, 1),
    (3, (2, 3, 4, 6, 7), 2, 2, 0)])
def test_max_unpool_matches_pytorch(torch, dims, shape, kernel, stride, padding):
    """Pool with indices, unpool to the pool's input size; values and the gradient."""
    x = np.random.default_rng(0).standard_normal(shape)
    results = []
    for lib in (tn, torch):
        functional = lib.nn.functional
        pooled, indices = getattr(functional, f"max_pool{dims}d")(
            lib.tensor(x), kernel, stride, padding, return_indices=True)
        values = lib.tensor(pooled.numpy(), requires_grad=True)
        out = getattr(functional, f"max_unpool{dims}d")(values, indices, kernel, stride, padding,
                                                        output_size=shape[-dims:])
        out.backward(lib.tensor(np.random.default_rng(1).standard_normal(tuple(out.shape))))
        results.append([out, values.grad])
    assert_same(results[0], results[1], rtol=0, atol=0, where=f"max_unpool{dims}d")


def segnet_step(lib):
    """A SegNet-style encoder-decoder (Badrinarayanan et al. 2017): the decoder unpools with
    the encoder's indices.  One SGD step; returns the output, a gradient and the loss."""
    nn = lib.nn

    class SegNetBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
            self.pool = nn.MaxPool2d(2, 2, return_indices=True)
            self.unpool = nn.MaxUnpool2d(2, 2)
            self.dec = nn.Conv2d(4, 2, 3, padding=1)

        def forward(self, x):
            features = self.enc(x)
            pooled, indices = self.pool(features)
            return self.dec(self.unpool(pooled, indices, output_size=features.size()))

    model = SegNetBlock()
    rng = np.random.default_rng(0)
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.tensor(rng.uniform(-0.5, 0.5, tuple(p.shape)).astype(np.float32)))
    optimizer = lib.optim.SGD(model.parameters(), lr=0.1)
    x = lib.tensor(rng.standard_normal((2, 3, 7, 9)).astype(np.float32))
    target = lib.tensor(rng.integers(0, 2, (2, 7, 9)))
    out = model(x)
    loss = lib.nn.functional.cross_entropy(out, target)
    loss.backward()
    optimizer.step()
    return [out, model.enc[0].weight.grad, loss, model(x)]


def test_segnet_unpooling_trains_like_pytorch(torch):
    assert_same(segnet_step(tn), segnet_step(torch), rtol=1e-4, atol=1e-5, where="SegNet")


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


@pytest.mark.parametrize("layer, shape, size", [
    ("ConvTranspose1d", (3, 9), [19]), ("ConvTranspose2d", (3, 9, 10), [19, 21]),
    ("ConvTranspose2d", (1, 3, 9, 10), (1, 2, 19, 21)),
    ("ConvTranspose3d", (3, 4, 5, 6), [9, 11, 13])])
def test_conv_transpose_output_size_for_one_sample_or_a_batch(torch, layer, shape, size):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, layer)(3, 2, 3, stride=2).double()
    ours = getattr(nn, layer)(3, 2, 3, stride=2).double()
    copy_weights(ours, theirs)
    x = np.random.default_rng(0).standard_normal(shape)
    assert_same(ours(tn.tensor(x), output_size=size),
                theirs(torch.tensor(x), output_size=size), rtol=1e-10, atol=1e-12, where=layer)


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
     r"conv3d: output size would be \(0, 6, 6\) for input shape \(1, 3, 2, 8, 8\)"),
    (lambda: F.conv3d(tn.zeros(1, 1, 5, 2, 5), tn.zeros(1, 1, 3, 3, 3)),
     r"conv3d: output size would be \(3, 0, 3\) for input shape \(1, 1, 5, 2, 5\) with "
     r"weight shape \(1, 1, 3, 3, 3\)"),
    (lambda: F.conv3d(tn.zeros(1, 1, 3, 3, 3), tn.zeros(1, 1, 3, 3, 3, dtype=tn.float64)),
     r"conv3d: input dtype float32 and weight dtype float64 differ"),
    (lambda: F.conv3d(tn.zeros(1, 1, 3, 3, 3), tn.zeros(2, 1, 3, 3, 3), tn.zeros(3)),
     r"conv3d: bias must have shape \(2,\)"),
    (lambda: F.conv_transpose3d(tn.zeros(1, 2, 3, 3, 3), tn.zeros(2, 2, 3, 3, 3),
                                stride=(2, 1, 2), output_padding=(1, 1, 0)),
     r"conv_transpose3d: output_padding \(1, 1, 0\) must be non-negative and smaller"),
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
    (lambda: F.max_unpool2d(tn.zeros(1, 2, 3, 3), tn.zeros(1, 2, 3, 2, dtype=tn.int64), 2),
     r"max_unpool2d: indices of shape \(1, 2, 3, 2\) must have the shape of the input, "
     r"\(1, 2, 3, 3\)"),
    (lambda: F.max_unpool2d(tn.zeros(1, 2, 3, 3), tn.zeros(1, 2, 3, 3), 2),
     r"max_unpool2d: indices must be integers"),
    (lambda: F.max_unpool2d(tn.zeros(1, 1, 2, 2), tn.tensor([[[[0, 1], [2, 16]]]]), 2),
     r"max_unpool2d: an index is outside the output of size \(4, 4\) \(16 positions"),
    (lambda: F.max_unpool2d(tn.zeros(1, 1, 2, 2), tn.zeros(1, 1, 2, 2, dtype=tn.int64), 2,
                            output_size=(1, 4, 4)),
     r"max_unpool2d: output_size must have 2 or 4 elements for input of shape \(1, 1, 2, 2\), "
     r"got \(1, 4, 4\)"),
    (lambda: F.max_unpool2d(tn.zeros(1, 1, 2, 2), tn.zeros(1, 1, 2, 2, dtype=tn.int64), 2,
                            output_size=(6, 4)),
     r"max_unpool2d: output_size \(6, 4\) is not reachable from input of shape"),
])
def test_errors_name_the_op_and_shapes(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
