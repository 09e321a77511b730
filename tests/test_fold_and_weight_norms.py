"""F.unfold / F.fold (and nn.Unfold / nn.Fold), nn.utils.weight_norm and nn.utils.spectral_norm:
gradient checks, parity with PyTorch (float64 values and gradients), errors."""
import itertools

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F
from gradcases import GradCase, run_case
from torch_parity import torch_or_skip


@pytest.fixture
def torch():
    return torch_or_skip()


def _blocks(size, kernel, dilation, padding, stride):
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                 for n, k, d, p, s in zip(size, kernel, dilation, padding, stride))


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _fold_rows_and_length(channels, output_size, kernel_size, dilation=1, padding=0, stride=1):
    kernel = _pair(kernel_size)
    oh, ow = _blocks(_pair(output_size), kernel, _pair(dilation), _pair(padding), _pair(stride))
    return channels * kernel[0] * kernel[1], oh * ow


def unfold_case(name, x_shape, **kwargs):
    return GradCase(name, lambda x: F.unfold(x, **kwargs),
                    lambda r: [r.standard_normal(x_shape)])


def fold_case(name, batch, channels, output_size, **kwargs):
    rows, length = _fold_rows_and_length(channels, output_size, **kwargs)
    shape = (rows, length) if batch is None else (batch, rows, length)
    return GradCase(name, lambda c: F.fold(c, output_size, **kwargs),
                    lambda r: [r.standard_normal(shape)])


GRADCHECK_CASES = [
    unfold_case("unfold_3x3", (2, 2, 5, 4), kernel_size=3),
    unfold_case("unfold_non_square_strided_padded_dilated", (1, 2, 7, 6), kernel_size=(2, 3),
                dilation=(2, 1), padding=(1, 2), stride=(2, 1)),
    unfold_case("unfold_1x1", (2, 3, 3, 2), kernel_size=1),
    unfold_case("unfold_tiling", (1, 2, 4, 6), kernel_size=2, stride=2),
    unfold_case("unfold_unbatched", (2, 4, 5), kernel_size=(2, 2), padding=1),
    fold_case("fold_3x3", 2, 2, (5, 4), kernel_size=3),
    fold_case("fold_non_square_strided_padded_dilated", 1, 2, (7, 6), kernel_size=(2, 3),
              dilation=(2, 1), padding=(1, 2), stride=(2, 1)),
    fold_case("fold_stride_leaves_pixels_out", 1, 2, (6, 5), kernel_size=2, stride=3),
    fold_case("fold_1x1", 2, 3, (3, 2), kernel_size=1),
    fold_case("fold_unbatched", None, 2, (4, 5), kernel_size=(2, 2), padding=1),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


# ---------------------------------------------------------------------------
# unfold / fold: parity with PyTorch
# ---------------------------------------------------------------------------

CONFIGS = [
    dict(kernel_size=3),
    dict(kernel_size=(2, 3)),
    dict(kernel_size=(3, 2), stride=2),
    dict(kernel_size=2, padding=1),
    dict(kernel_size=(2, 3), dilation=(2, 1), padding=(1, 2), stride=(2, 1)),
    dict(kernel_size=3, dilation=2, padding=2, stride=(1, 3)),
    dict(kernel_size=1),
    dict(kernel_size=1, stride=2),
    dict(kernel_size=2, stride=2),
    dict(kernel_size=(3, 1), stride=(3, 1)),
]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=str)
@pytest.mark.parametrize("batched", [True, False])
def test_unfold_matches_torch(torch, rng, kwargs, batched):
    shape = (2, 3, 7, 6) if batched else (3, 7, 6)
    x = rng.standard_normal(shape)
    ours_x = tn.tensor(x, requires_grad=True)
    theirs_x = torch.tensor(x, requires_grad=True)
    ours = F.unfold(ours_x, **kwargs)
    theirs = torch.nn.functional.unfold(theirs_x, **kwargs)
    assert ours.shape == tuple(theirs.shape) and ours.dtype == np.float64
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=0, atol=0)
    weights = rng.standard_normal(tuple(theirs.shape))
    (ours * tn.tensor(weights)).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("kwargs", CONFIGS, ids=str)
@pytest.mark.parametrize("batched", [True, False])
def test_fold_matches_torch(torch, rng, kwargs, batched):
    output_size = (7, 6)
    rows, length = _fold_rows_and_length(3, output_size, **kwargs)
    cols = rng.standard_normal((2, rows, length) if batched else (rows, length))
    ours_c = tn.tensor(cols, requires_grad=True)
    theirs_c = torch.tensor(cols, requires_grad=True)
    ours = F.fold(ours_c, output_size, **kwargs)
    theirs = torch.nn.functional.fold(theirs_c, output_size, **kwargs)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    weights = rng.standard_normal(tuple(theirs.shape))
    (ours * tn.tensor(weights)).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours_c.grad.numpy(), theirs_c.grad.numpy(), rtol=0, atol=0)


def test_arguments_positionally_and_by_name_as_torch(torch, rng):
    x = rng.standard_normal((1, 2, 6, 5))
    ours = F.unfold(tn.tensor(x), (2, 3), 2, 1, (2, 1)).numpy()
    theirs = torch.nn.functional.unfold(torch.tensor(x), (2, 3), 2, 1, (2, 1)).numpy()
    np.testing.assert_array_equal(ours, theirs)
    cols = rng.standard_normal((1, 12, 4))
    ours = F.fold(tn.tensor(cols), output_size=(5, 5), kernel_size=2, dilation=1, padding=0,
                  stride=2).numpy()
    theirs = torch.nn.functional.fold(torch.tensor(cols), output_size=(5, 5), kernel_size=2,
                                      dilation=1, padding=0, stride=2).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


def _overlap_count(size, kernel, dilation, padding, stride):
    """How many blocks cover each pixel, counted block by block (no im2col involved)."""
    (h, w), (kh, kw), (dh, dw), (ph, pw), (sh, sw) = size, kernel, dilation, padding, stride
    count = np.zeros((h + 2 * ph, w + 2 * pw))
    oh, ow = _blocks(size, kernel, dilation, padding, stride)
    for bi, bj, i, j in itertools.product(range(oh), range(ow), range(kh), range(kw)):
        count[bi * sh + i * dh, bj * sw + j * dw] += 1
    return count[ph:ph + h, pw:pw + w]


@pytest.mark.parametrize("kwargs", CONFIGS, ids=str)
def test_fold_of_unfold_is_input_times_overlap_count(rng, kwargs):
    size = (7, 6)
    x = rng.standard_normal((2, 3) + size)
    args = {k: _pair(kwargs.get(k, default))
            for k, default in [("kernel_size", None), ("dilation", 1), ("padding", 0),
                               ("stride", 1)]}
    count = _overlap_count(size, args["kernel_size"], args["dilation"], args["padding"],
                           args["stride"])
    folded = F.fold(F.unfold(tn.tensor(x), **kwargs), size, **kwargs)
    np.testing.assert_allclose(folded.numpy(), x * count, rtol=1e-12, atol=1e-12)


def test_unfold_row_order_is_the_convolution_weight_order(rng):
    """conv2d(x, w) == w.reshape(O, -1) @ unfold(x): rows run (c, i, j), like the weight."""
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 2, 3))
    kwargs = dict(stride=(2, 1), padding=1, dilation=(1, 2))
    conv = F.conv2d(tn.tensor(x), tn.tensor(w), **kwargs).numpy()
    cols = F.unfold(tn.tensor(x), (2, 3), **kwargs).numpy()
    via_unfold = (w.reshape(4, -1) @ cols).reshape(conv.shape)
    np.testing.assert_allclose(via_unfold, conv, rtol=1e-10, atol=1e-10)


def test_outputs_do_not_share_memory_with_inputs(rng):
    """The 1x1 kernel is a reshape inside columns.py: the op's output must still be its own."""
    x = tn.tensor(rng.standard_normal((1, 2, 3, 3)))
    cols = F.unfold(x, 1)
    assert not np.shares_memory(cols.numpy(), x.numpy())
    assert not np.shares_memory(F.fold(cols, (3, 3), 1).numpy(), cols.numpy())


def test_float32_keeps_its_dtype(rng):
    x = tn.tensor(rng.standard_normal((1, 2, 5, 5)).astype(np.float32))
    cols = F.unfold(x, 2)
    assert cols.dtype == np.float32 and F.fold(cols, (5, 5), 2).dtype == np.float32


def test_modules_match_torch(torch, rng):
    cases = [(nn.Unfold((2, 3), dilation=2, padding=(1, 0), stride=1),
              torch.nn.Unfold((2, 3), dilation=2, padding=(1, 0), stride=1), (2, 3, 7, 6)),
             (nn.Unfold(3), torch.nn.Unfold(3), (3, 5, 5)),
             (nn.Fold((5, 4), 2, stride=(1, 2)), torch.nn.Fold((5, 4), 2, stride=(1, 2)),
              (2, 12, 8)),
             (nn.Fold(output_size=4, kernel_size=3, padding=1),
              torch.nn.Fold(output_size=4, kernel_size=3, padding=1), (18, 16))]
    for ours, theirs, shape in cases:
        assert repr(ours) == repr(theirs)
        x = rng.standard_normal(shape)
        np.testing.assert_allclose(ours(tn.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(),
                                   rtol=1e-12, atol=1e-12)
    assert "Fold" in nn.__all__ and "Unfold" in nn.__all__
    assert F.fold is tn.ops.fold and F.unfold is tn.ops.unfold


def test_fold_rows_not_divisible_by_kernel_area():
    cols = tn.tensor(np.zeros((1, 10, 16)))
    with pytest.raises(ValueError, match=r"divisible by the product of kernel_size \(2, 2\)"):
        F.fold(cols, (5, 5), 2)


def test_fold_length_not_matching_output_size():
    cols = tn.tensor(np.zeros((1, 8, 15)))
    with pytest.raises(ValueError, match=r"4 \* 4 = 16 blocks.*L is 15"):
        F.fold(cols, (5, 5), 2)


@pytest.mark.parametrize("fn, shape", [(lambda x: F.unfold(x, 2), (2, 5, 5, 5, 5)),
                                       (lambda x: F.unfold(x, 2), (5, 5)),
                                       (lambda x: F.fold(x, (3, 3), 2), (1, 1, 4, 4)),
                                       (lambda x: F.fold(x, (3, 3), 2), (4,))])
def test_wrong_number_of_dims_names_the_shape(fn, shape):
    with pytest.raises(ValueError, match=str(shape).replace("(", r"\(").replace(")", r"\)")):
        fn(tn.tensor(np.zeros(shape)))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"unfold: spatial size \(3, 3\).*\(0, 0\)"):
        F.unfold(tn.tensor(np.zeros((1, 1, 3, 3))), 4)
    with pytest.raises(ValueError, match="fold: spatial size"):
        F.fold(tn.tensor(np.zeros((1, 16, 1))), (3, 3), 4)


@pytest.mark.parametrize("kwargs, name", [(dict(kernel_size=0), "kernel_size"),
                                          (dict(kernel_size=2, stride=0), "stride"),
                                          (dict(kernel_size=2, dilation=(1, 0)), "dilation"),
                                          (dict(kernel_size=2, padding=-1), "padding")])
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        F.unfold(tn.tensor(np.zeros((1, 1, 4, 4))), **kwargs)
    with pytest.raises(TypeError, match="kernel_size"):
        F.unfold(tn.tensor(np.zeros((1, 1, 4, 4))), (1, 2, 3))


# ---------------------------------------------------------------------------
# weight_norm and spectral_norm against PyTorch
# ---------------------------------------------------------------------------

def _layers(torch):
    """(tinynet module, torch module, input shape) pairs of float64 layers."""
    return {
        "linear": (nn.Linear(5, 4), torch.nn.Linear(5, 4), (3, 5)),
        "conv2d": (nn.Conv2d(3, 4, (2, 3)), torch.nn.Conv2d(3, 4, (2, 3)), (2, 3, 5, 6)),
        "conv_transpose2d": (nn.ConvTranspose2d(3, 2, 3, stride=2),
                             torch.nn.ConvTranspose2d(3, 2, 3, stride=2), (2, 3, 3, 4)),
        "conv1d_no_bias": (nn.Conv1d(2, 3, 3, bias=False), torch.nn.Conv1d(2, 3, 3, bias=False),
                           (2, 2, 7)),
    }


def _copy_state(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})


def _assert_same_state(ours, theirs, rtol=1e-10):
    mine, other = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(other)
    for key in other:
        assert tuple(np.shape(mine[key])) == tuple(other[key].shape), key
        np.testing.assert_allclose(np.asarray(mine[key]), other[key].detach().numpy(),
                                   rtol=rtol, atol=1e-12, err_msg=key)


def _step_and_compare(torch, ours, theirs, shape, rng, steps=3):
    """Several forward/backward calls with an SGD step between them; outputs, the computed
    weight and the gradients of every parameter must agree at every call."""
    for _ in range(steps):
        x = rng.standard_normal(shape)
        out_t = theirs(torch.tensor(x))
        out_o = ours(tn.tensor(x))
        weights = rng.standard_normal(tuple(out_t.shape))
        np.testing.assert_allclose(out_o.numpy(), out_t.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(),
                                   rtol=1e-10, atol=1e-12)
        (out_t * torch.tensor(weights)).sum().backward()
        (out_o * tn.tensor(weights)).sum().backward()
        params_t, params_o = dict(theirs.named_parameters()), dict(ours.named_parameters())
        assert list(params_o) == list(params_t)
        for name, p in params_t.items():
            np.testing.assert_allclose(params_o[name].grad.numpy(), p.grad.numpy(), rtol=1e-9,
                                       atol=1e-12, err_msg=name)
        with torch.no_grad():
            for p in params_t.values():
                p -= 0.1 * p.grad
                p.grad = None
        for p in params_o.values():
            p.data[...] = p.data - 0.1 * p.grad.numpy()
            p.grad = None
        _assert_same_state(ours, theirs)


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("layer", ["linear", "conv2d", "conv_transpose2d", "conv1d_no_bias"])
@pytest.mark.parametrize("dim", [0, 1, None, -1, -2])
def test_weight_norm_matches_torch(torch, rng, layer, dim):
    ours, theirs, shape = _layers(torch)[layer]
    ours, theirs = ours.double(), theirs.double()
    theirs = torch.nn.utils.weight_norm(theirs, dim=dim)
    assert nn.utils.weight_norm(ours, dim=dim) is ours
    for key, value in theirs.state_dict().items():   # names and shapes (values: random init)
        assert tuple(ours.state_dict()[key].shape) == tuple(value.shape), key
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _copy_state(ours, theirs)
    _step_and_compare(torch, ours, theirs, shape, rng)
    ours.eval(), theirs.eval()
    _step_and_compare(torch, ours, theirs, shape, rng, steps=1)
    torch.nn.utils.remove_weight_norm(theirs)
    assert nn.utils.remove_weight_norm(ours) is ours
    assert isinstance(ours.weight, nn.Parameter) and not ours._forward_pre_hooks
    _assert_same_state(ours, theirs)
    _step_and_compare(torch, ours, theirs, shape, rng, steps=1)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_weight_norm_other_name_and_errors(torch):
    ours = nn.utils.weight_norm(nn.Linear(3, 2), name="bias")
    assert ours.bias_g.shape == (2,) and ours.bias_v.shape == (2,)
    assert "bias" not in dict(ours.named_parameters())
    with pytest.raises(RuntimeError, match="two weight_norm hooks"):
        nn.utils.weight_norm(ours, name="bias")
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found"):
        nn.utils.remove_weight_norm(ours)
    assert list(ours.state_dict()) == ["weight", "bias_g", "bias_v"]


@pytest.mark.parametrize("layer", ["linear", "conv2d", "conv_transpose2d", "conv1d_no_bias"])
@pytest.mark.parametrize("kwargs", [{}, dict(n_power_iterations=3), dict(dim=1, eps=1e-6)],
                         ids=str)
def test_spectral_norm_matches_torch(torch, rng, layer, kwargs):
    ours, theirs, shape = _layers(torch)[layer]
    ours, theirs = ours.double(), theirs.double()
    theirs = torch.nn.utils.spectral_norm(theirs, **kwargs)
    assert nn.utils.spectral_norm(ours, **kwargs) is ours
    for key, value in theirs.state_dict().items():   # names and shapes; values are random
        assert tuple(ours.state_dict()[key].shape) == tuple(value.shape), key
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _copy_state(ours, theirs)
    _step_and_compare(torch, ours, theirs, shape, rng)          # u, v updated each call
    ours.eval(), theirs.eval()
    u, v = ours.weight_u.numpy().copy(), ours.weight_v.numpy().copy()
    _step_and_compare(torch, ours, theirs, shape, rng, steps=2)
    # eval mode leaves the vectors alone
    np.testing.assert_array_equal(ours.weight_u.numpy(), u)
    np.testing.assert_array_equal(ours.weight_v.numpy(), v)
    ours.train(), theirs.train()
    _step_and_compare(torch, ours, theirs, shape, rng, steps=1)
    torch.nn.utils.remove_spectral_norm(theirs)
    assert nn.utils.remove_spectral_norm(ours) is ours
    assert isinstance(ours.weight, nn.Parameter) and not ours._forward_pre_hooks
    _assert_same_state(ours, theirs)
    _step_and_compare(torch, ours, theirs, shape, rng, steps=1)


def test_spectral_norm_power_iteration_converges_to_the_largest_singular_value(rng):
    """A check that needs no PyTorch: many training-mode calls make sigma the top singular
    value, so the computed weight has spectral norm 1."""
    layer = nn.utils.spectral_norm(nn.Linear(6, 4).double(), n_power_iterations=5)
    for _ in range(20):
        layer(tn.tensor(rng.standard_normal((2, 6))))
    matrix = layer.weight_orig.numpy()
    np.testing.assert_allclose(np.linalg.norm(layer.weight.numpy(), 2), 1.0, rtol=1e-8)
    np.testing.assert_allclose(np.linalg.norm(layer.weight_u.numpy()), 1.0, rtol=1e-12)
    assert layer.weight_u.shape == (4,) and layer.weight_v.shape == (6,)
    assert np.linalg.norm(matrix, 2) > 0


def test_spectral_norm_buffers_updated_in_place_and_defaults():
    conv_t = nn.utils.spectral_norm(nn.ConvTranspose2d(3, 5, 2))
    assert conv_t.weight_u.shape == (5,) and conv_t.weight_v.shape == (12,)
    u = conv_t.weight_u
    conv_t(tn.tensor(np.ones((1, 3, 2, 2), np.float32)))
    assert conv_t.weight_u is u and conv_t.weight_u.dtype == np.float32
    with pytest.raises(RuntimeError, match="two spectral_norm hooks"):
        nn.utils.spectral_norm(conv_t)
    with pytest.raises(ValueError, match="spectral_norm of 'bias' not found"):
        nn.utils.remove_spectral_norm(conv_t, name="bias")
    with pytest.raises(ValueError, match="n_power_iterations"):
        nn.utils.spectral_norm(nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(ValueError, match="parameter `bias` is None"):
        nn.utils.spectral_norm(nn.Linear(2, 2, bias=False), name="bias")


@pytest.mark.parametrize("dim, g_shape", [(0, (4, 1, 1, 1)), (1, (1, 3, 1, 1)), (None, ()),
                                          (-1, ()), (-2, (1, 1, 2, 1))])
def test_weight_norm_at_apply_keeps_the_weight(dim, g_shape):
    layer = nn.Conv2d(3, 4, (2, 3)).double()
    original = layer.weight.numpy().copy()
    nn.utils.weight_norm(layer, dim=dim)
    assert layer.weight_g.shape == g_shape and layer.weight_v.shape == original.shape
    np.testing.assert_allclose(layer.weight.numpy(), original, rtol=1e-12)
    axes = tuple(a for a in range(4) if g_shape == () or g_shape[a] == 1)
    np.testing.assert_allclose(layer.weight_g.numpy(),
                               np.sqrt((original ** 2).sum(axis=axes)).reshape(g_shape),
                               rtol=1e-12)
    assert "weight" not in dict(layer.named_parameters())
