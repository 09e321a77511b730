"""tinynet.nn layers against PyTorch: same weights (copied via load_state_dict), same
outputs and gradients; same default initialization, repr, keys and parameter counts.

Tolerances: float32 forward and gradients, rtol 1e-4 / atol 1e-5 (1e-4 for sums over
many terms), from accumulation-order differences only.
"""
import math

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn


def copy_from_torch(torch_module, module):
    """Load a torch module's state into ours by name (the checkpoint path users take)."""
    result = module.load_state_dict(
        {k: v.detach().numpy() for k, v in torch_module.state_dict().items()})
    assert result == ([], [])


def run_both(torch, torch_module, module, x, call=lambda m, x: m(x)):
    """Forward with ``x`` and backward with a fixed random output gradient in both
    frameworks; return (ours, theirs) as dicts of NumPy arrays."""
    xt = torch.tensor(x, requires_grad=True)
    yt = call(torch_module, xt)
    g = np.random.default_rng(7).standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g))
    theirs = {"out": yt.detach().numpy(), "input": xt.grad.numpy()}
    theirs.update({n: p.grad.numpy() for n, p in torch_module.named_parameters()})

    xn = tn.tensor(x, requires_grad=True)
    yn = call(module, xn)
    yn.backward(g)
    ours = {"out": yn.numpy(), "input": xn.grad.numpy()}
    ours.update({n: p.grad.numpy() for n, p in module.named_parameters()})
    return ours, theirs


def assert_same(ours, theirs, rtol=1e-4, atol=1e-5):
    assert list(ours) == list(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=rtol, atol=atol, err_msg=key)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("args, kwargs", [
    ((3, 4, 3), dict(stride=2, padding=1)),
    ((3, 5, (3, 1)), dict(padding=(1, 0), dilation=2, bias=False)),
    ((2, 4, 1), dict()),
    ((3, 4, 3), dict(padding=1, padding_mode="reflect")),             # CycleGAN's convolutions
    ((3, 4, (3, 5)), dict(padding=(1, 2), stride=2, padding_mode="replicate")),
    ((3, 4, 4), dict(padding="same", dilation=2, padding_mode="circular")),
    ((4, 8, 3), dict(padding=1, groups=4, padding_mode="reflect")),
])
def test_conv2d_matches_torch(torch, args, kwargs):
    theirs_m, ours_m = torch.nn.Conv2d(*args, **kwargs), nn.Conv2d(*args, **kwargs)
    assert repr(ours_m) == repr(theirs_m)
    copy_from_torch(theirs_m, ours_m)
    assert_same(*run_both(torch, theirs_m, ours_m, randn(2, args[0], 9, 8)))


@pytest.mark.parametrize("args, kwargs", [
    ((4, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((4, 2, (2, 3)), dict(stride=(2, 1), bias=False)),
    ((3, 3, 3), dict(dilation=2, padding=2)),
])
def test_conv_transpose2d_matches_torch(torch, args, kwargs):
    theirs_m = torch.nn.ConvTranspose2d(*args, **kwargs)
    ours_m = nn.ConvTranspose2d(*args, **kwargs)
    assert ours_m.weight.shape == tuple(theirs_m.weight.shape)  # (in, out, kH, kW)
    copy_from_torch(theirs_m, ours_m)
    assert_same(*run_both(torch, theirs_m, ours_m, randn(2, args[0], 5, 6)))


def test_conv_transpose2d_output_size_matches_torch(torch):
    theirs_m, ours_m = torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), \
        nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    copy_from_torch(theirs_m, ours_m)
    call = lambda m, x: m(x, output_size=(2, 2, 10, 9))  # noqa: E731
    ours, theirs = run_both(torch, theirs_m, ours_m, randn(2, 3, 5, 5), call)
    assert ours["out"].shape == (2, 2, 10, 9)
    assert_same(ours, theirs)
    with pytest.raises(ValueError, match="dimension 0 must be between 9 and 10"):
        ours_m(tn.randn(2, 3, 5, 5), output_size=(12, 9))


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm2d_training_matches_torch(torch, momentum):
    theirs_m = torch.nn.BatchNorm2d(3, momentum=momentum)
    ours_m = nn.BatchNorm2d(3, momentum=momentum)
    with torch.no_grad():  # non-trivial affine parameters
        theirs_m.weight.copy_(torch.tensor([0.5, 1.5, -1.0]))
        theirs_m.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    copy_from_torch(theirs_m, ours_m)
    for step in range(3):
        x = randn(4, 3, 5, 6, seed=step) * 2 + 1
        ours_m.zero_grad()
        theirs_m.zero_grad()
        assert_same(*run_both(torch, theirs_m, ours_m, x), atol=1e-4)
    assert int(ours_m.num_batches_tracked.item()) == int(theirs_m.num_batches_tracked) == 3
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(ours_m, name).numpy(),
                                   getattr(theirs_m, name).numpy(), rtol=1e-5, atol=1e-6)
    ours_m.eval()
    theirs_m.eval()
    assert_same(*run_both(torch, theirs_m, ours_m, randn(2, 3, 4, 4, seed=9)))


def test_batchnorm1d_and_untracked_batchnorm_match_torch(torch):
    theirs_m, ours_m = torch.nn.BatchNorm1d(4), nn.BatchNorm1d(4)
    copy_from_torch(theirs_m, ours_m)
    assert_same(*run_both(torch, theirs_m, ours_m, randn(8, 4)), atol=1e-4)
    np.testing.assert_allclose(ours_m.running_var.numpy(), theirs_m.running_var.numpy(),
                               rtol=1e-5)

    theirs_m = torch.nn.BatchNorm2d(2, affine=False, track_running_stats=False).eval()
    ours_m = nn.BatchNorm2d(2, affine=False, track_running_stats=False).eval()
    assert ours_m.state_dict() == {} and ours_m.running_mean is None
    assert repr(ours_m) == repr(theirs_m)
    assert_same(*run_both(torch, theirs_m, ours_m, randn(3, 2, 4, 4)), atol=1e-4)

    theirs_m, ours_m = torch.nn.BatchNorm2d(2, bias=False), nn.BatchNorm2d(2, bias=False)
    assert repr(ours_m) == repr(theirs_m) and list(ours_m.state_dict()) == list(
        theirs_m.state_dict())
    assert_same(*run_both(torch, theirs_m, ours_m, randn(3, 2, 4, 4)), atol=1e-4)


def test_batchnorm_input_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input .* got 3D"):
        nn.BatchNorm2d(3)(tn.randn(2, 3, 4))
    with pytest.raises(ValueError, match="input has 5 channels .* num_features=3"):
        nn.BatchNorm2d(3)(tn.randn(2, 5, 4, 4))


@pytest.mark.parametrize("shape", [(5, 6), (2, 3, 6)])
def test_linear_matches_torch(torch, shape):
    theirs_m, ours_m = torch.nn.Linear(6, 4), nn.Linear(6, 4)
    copy_from_torch(theirs_m, ours_m)
    assert_same(*run_both(torch, theirs_m, ours_m, randn(*shape)))


@pytest.mark.parametrize("name, args, kwargs", [
    ("MaxPool2d", (3,), dict(stride=2, padding=1)),
    ("AvgPool2d", (2,), dict()),
    ("AdaptiveAvgPool2d", ((1, 1),), dict()),
    ("AdaptiveAvgPool2d", ((4, 5),), dict()),                  # windows that overlap
    ("AdaptiveAvgPool2d", ((None, 4),), dict()),
    ("AdaptiveMaxPool2d", ((4, 5),), dict()),
    ("AdaptiveMaxPool2d", (3,), dict()),
    ("Upsample", (), dict(scale_factor=2, mode="nearest")),
    ("ReLU", (), dict()),
    ("LeakyReLU", (0.2,), dict()),
    ("Sigmoid", (), dict()),
    ("Tanh", (), dict()),
    ("Softmax", (), dict(dim=1)),
    ("LogSoftmax", (), dict(dim=1)),
    ("Flatten", (), dict()),
    ("Identity", (), dict()),
    ("ReLU6", (), dict()),
    ("ELU", (0.5,), dict()),
    ("GELU", (), dict(approximate="tanh")),
    ("GELU", (), dict()),
    ("SiLU", (), dict()),
    ("Softplus", (), dict(beta=2.0, threshold=5.0)),
    ("Hardtanh", (-0.5, 0.5), dict()),
    ("Hardsigmoid", (), dict()),
    ("Hardswish", (), dict()),
    ("Mish", (), dict()),
    ("LogSigmoid", (), dict()),
    ("Unflatten", (1, (1, 3)), dict()),
    ("PixelUnshuffle", (2,), dict()),
    ("ZeroPad2d", (1,), dict()),
    ("ConstantPad2d", ((1, 2, 0, 1), 3.5), dict()),
    ("ReflectionPad2d", (2,), dict()),
    ("ReplicationPad2d", ((1, 0, 2, 0),), dict()),
    ("CircularPad2d", (3,), dict()),
])
def test_stateless_layers_match_torch(torch, name, args, kwargs):
    theirs_m, ours_m = getattr(torch.nn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)
    assert repr(ours_m) == repr(theirs_m)
    assert_same(*run_both(torch, theirs_m, ours_m, 3 * randn(2, 3, 6, 6)))


@pytest.mark.parametrize("name, args, kwargs, shape", [
    ("LayerNorm", (6,), dict(), (2, 5, 6)),
    ("LayerNorm", ((5, 6),), dict(eps=1e-3), (2, 5, 6)),
    ("LayerNorm", (6,), dict(bias=False), (4, 6)),
    ("LayerNorm", (6,), dict(elementwise_affine=False), (4, 6)),
    ("GroupNorm", (2, 4), dict(), (2, 4, 3, 5)),
    ("GroupNorm", (4, 4), dict(affine=False), (1, 4, 3, 3)),       # batch 1: per sample
    ("GroupNorm", (3, 6), dict(bias=False), (2, 6, 4)),
    ("InstanceNorm2d", (3,), dict(), (2, 3, 4, 5)),
    ("InstanceNorm2d", (3,), dict(affine=True), (2, 3, 4, 5)),
    ("InstanceNorm1d", (3,), dict(affine=True, bias=False), (2, 3, 6)),
    ("InstanceNorm2d", (3,), dict(affine=True), (3, 4, 5)),                  # unbatched
    ("PReLU", (), dict(), (2, 3, 4, 4)),
    ("PReLU", (3,), dict(init=0.1), (2, 3, 4, 4)),
])
def test_layers_with_parameters_match_torch(torch, name, args, kwargs, shape):
    """Same repr, keys, default init (checked before copying), forward and gradients."""
    theirs_m, ours_m = getattr(torch.nn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)
    assert repr(ours_m) == repr(theirs_m)
    initial = {k: v.detach().numpy() for k, v in theirs_m.state_dict().items()}
    assert list(ours_m.state_dict()) == list(initial)
    for key, value in ours_m.state_dict().items():
        np.testing.assert_array_equal(value, initial[key], err_msg=key)
    with torch.no_grad():                    # weights other than the init, to test them
        for p in theirs_m.parameters():
            p.copy_(torch.tensor(np.random.default_rng(3).uniform(0.5, 1.5, tuple(p.shape))))
    copy_from_torch(theirs_m, ours_m)
    assert_same(*run_both(torch, theirs_m, ours_m, 2 * randn(*shape)), atol=1e-4)


def test_embedding_matches_torch(torch):
    """Lookup, padding row (zero at init, no gradient), repr, from_pretrained."""
    theirs_m, ours_m = torch.nn.Embedding(7, 3, padding_idx=-1), nn.Embedding(7, 3, padding_idx=-1)
    assert repr(ours_m) == repr(theirs_m) == "Embedding(7, 3, padding_idx=6)"
    assert not ours_m.weight.data[6].any() and ours_m.weight.data[:6].std() > 0.5   # N(0, 1)
    copy_from_torch(theirs_m, ours_m)
    index = np.array([[0, 6, 2], [6, 2, 5]])
    ours, theirs = ours_m(tn.tensor(index)), theirs_m(torch.tensor(index))
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy())
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(ours_m.weight.grad.numpy(), theirs_m.weight.grad.numpy())
    assert not ours_m.weight.grad.numpy()[6].any()
    table = randn(4, 2)
    frozen = nn.Embedding.from_pretrained(tn.tensor(table))
    assert not frozen.weight.requires_grad and frozen.num_embeddings == 4
    np.testing.assert_array_equal(frozen(tn.tensor([3, 1])).numpy(), table[[3, 1]])
    assert nn.Embedding.from_pretrained(tn.tensor(table), freeze=False).weight.requires_grad
    with pytest.raises(ValueError, match=r"Embedding: padding_idx \(7\) must be within "
                                         r"num_embeddings \(7\)"):
        nn.Embedding(7, 3, padding_idx=7)
    with pytest.raises(NotImplementedError, match="max_norm"):
        nn.Embedding(7, 3, max_norm=1.0)


def test_dropout2d_zeroes_whole_channels():
    drop = nn.Dropout2d(0.5)
    assert repr(drop) == "Dropout2d(p=0.5, inplace=False)"
    y = drop(tn.ones(40, 50, 3, 3)).numpy()
    per_channel = y.reshape(40, 50, 9)
    assert (per_channel == per_channel[..., :1]).all()            # one draw a channel
    assert set(np.unique(y)) == {0.0, 2.0}
    assert abs((per_channel[..., 0] == 0).mean() - 0.5) < 0.05
    drop.eval()
    np.testing.assert_array_equal(drop(tn.ones(2, 3, 2, 2)).numpy(), np.ones((2, 3, 2, 2)))
    with pytest.raises(ValueError, match=r"dropout2d: expected input \(N, C, H, W\), got "
                                         r"shape \(3, 4\)"):
        nn.Dropout2d()(tn.ones(3, 4))
    with pytest.raises(ValueError, match=r"Dropout2d: p \(the dropout probability\) must be"):
        nn.Dropout2d(2.0)


def test_instancenorm_running_statistics_match_torch(torch):
    """track_running_stats: updated from the instances' statistics while training (with
    num_batches_tracked left at 0, as PyTorch), used in evaluation."""
    theirs_m = torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True, momentum=0.3)
    ours_m = nn.InstanceNorm2d(3, affine=True, track_running_stats=True, momentum=0.3)
    assert repr(ours_m) == repr(theirs_m)
    for seed in range(3):
        x = 2 * randn(2, 3, 4, 5, seed=seed) + 1
        theirs_m(torch.tensor(x))
        ours_m(tn.tensor(x))
    theirs = {k: v.numpy() for k, v in theirs_m.state_dict().items()}
    for key, value in ours_m.state_dict().items():
        np.testing.assert_allclose(value.numpy(), theirs[key], rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    theirs_m.eval()
    ours_m.eval()
    assert_same(*run_both(torch, theirs_m, ours_m, randn(2, 3, 4, 5, seed=7)))


def test_pixel_shuffle_matches_torch(torch):
    theirs_m, ours_m = torch.nn.PixelShuffle(2), nn.PixelShuffle(2)
    assert repr(ours_m) == repr(theirs_m)
    assert_same(*run_both(torch, theirs_m, ours_m, randn(2, 12, 3, 4)))


@pytest.mark.parametrize("case", ["self_seq_first", "batch_first_padding", "causal_bool",
                                  "float_mask_per_head", "no_weights", "per_head", "unbatched",
                                  "no_bias_cross"])
def test_multihead_attention_matches_torch(torch, case):
    """Outputs, averaged (or per-head) weights and every gradient, with PyTorch's masks."""
    E, H, L, S, N = 8, 2, 4, 5, 3
    batch_first = case in ("batch_first_padding", "no_weights", "per_head")
    kwargs = dict(bias=case != "no_bias_cross", batch_first=batch_first)
    theirs_m, ours_m = (lib.nn.MultiheadAttention(E, H, **kwargs) for lib in (torch, tn))
    assert list(ours_m.state_dict()) == list(theirs_m.state_dict())
    copy_from_torch(theirs_m, ours_m)
    shape = (N, L, E) if batch_first else (L, N, E)
    query = randn(*shape, seed=1)
    other = randn(*((N, S, E) if batch_first else (S, N, E)), seed=2)
    key = value = query if case in ("self_seq_first", "causal_bool") else other
    masks = {}
    if case == "batch_first_padding":
        padding = np.zeros((N, S), dtype=bool)
        padding[0, -2:] = padding[2, -1] = True
        masks["key_padding_mask"] = padding
    if case == "causal_bool":
        masks["attn_mask"] = ~np.tril(np.ones((L, L), dtype=bool))
    if case == "float_mask_per_head":
        masks["attn_mask"] = randn(N * H, L, S, seed=3)
    if case == "unbatched":
        query, key, value = query[:, 0], other[:, 0], other[:, 0]
    options = {"no_weights": dict(need_weights=False),
               "per_head": dict(average_attn_weights=False)}.get(case, {})

    def call(lib, module):
        inputs = [lib.tensor(a, requires_grad=True) for a in (query, key, value)]
        given = {name: lib.tensor(mask) for name, mask in masks.items()}
        out, weights = module(*inputs, **given, **options)
        (out * lib.tensor(randn(*tuple(out.shape), seed=9))).sum().backward()
        grads = [None if t.grad is None else t.grad.numpy() for t in inputs]
        return out.detach().numpy(), None if weights is None else weights.detach().numpy(), \
            grads, {n: p.grad.numpy() for n, p in module.named_parameters()}

    ours, theirs = call(tn, ours_m), call(torch, theirs_m)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-4, atol=1e-5)
    assert (ours[1] is None) == (theirs[1] is None)
    if ours[1] is not None:
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-4, atol=1e-6)
    for a, b in zip(ours[2], theirs[2]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for name in theirs[3]:
        np.testing.assert_allclose(ours[3][name], theirs[3][name], rtol=1e-4, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("norm_first, activation", [(False, "relu"), (True, "gelu")])
def test_transformer_encoder_matches_torch(torch, norm_first, activation):
    """Two layers and a final norm, batch_first, with a key padding mask: the same keys,
    outputs and gradients as PyTorch's (eval: dropout off)."""
    def build(lib, **extra):
        layer = lib.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation=activation,
                                               batch_first=True, norm_first=norm_first)
        return lib.nn.TransformerEncoder(layer, 2, norm=lib.nn.LayerNorm(8), **extra).eval()

    theirs_m, ours_m = build(torch, enable_nested_tensor=False), build(tn)
    assert list(ours_m.state_dict()) == list(theirs_m.state_dict())
    copy_from_torch(theirs_m, ours_m)
    padding = np.zeros((2, 5), dtype=bool)
    padding[1, 3:] = True

    def call(module, x):
        lib = torch if isinstance(module, torch.nn.Module) else tn
        return module(x, src_key_padding_mask=lib.tensor(padding))

    ours, theirs = run_both(torch, theirs_m, ours_m, randn(2, 5, 8), call)
    assert_same(ours, theirs, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name, args, kwargs", [
    ("Conv1d", (4, 6, 3), dict()),
    ("Conv1d", (4, 6, 5), dict(stride=2, padding=2, bias=False)),
    ("Conv1d", (4, 6, 4), dict(padding="same", dilation=2, groups=2)),
    ("ConvTranspose1d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1)),
    ("MaxPool1d", (3,), dict(stride=2, padding=1)),
    ("AvgPool1d", (3,), dict(stride=2, padding=1, count_include_pad=False)),
    ("AdaptiveAvgPool1d", (5,), dict()),
    ("AdaptiveMaxPool1d", (4,), dict()),
])
def test_1d_layers_match_torch(torch, name, args, kwargs):
    """Signals (N, C, L): the same repr, keys, outputs and gradients as PyTorch."""
    theirs_m, ours_m = getattr(torch.nn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)
    assert repr(ours_m) == repr(theirs_m)
    assert list(ours_m.state_dict()) == list(theirs_m.state_dict())
    if list(theirs_m.parameters()):
        copy_from_torch(theirs_m, ours_m)
    assert_same(*run_both(torch, theirs_m, ours_m, randn(2, 4, 13)))


def test_1d_layers_take_one_signal_and_an_output_size(torch):
    for lib in (torch, tn):
        assert tuple(lib.nn.functional.conv1d(lib.ones(1, 5), lib.ones(1, 1, 2)).shape) == (1, 4)
        assert tuple(lib.nn.MaxPool1d(2)(lib.ones(2, 6)).shape) == (2, 3)
        layer = lib.nn.ConvTranspose1d(2, 3, 3, stride=2)
        assert tuple(layer(lib.ones(1, 2, 11), output_size=[24]).shape) == (1, 3, 24)


def test_padding_modes_refuse_what_they_cannot_pad():
    with pytest.raises(ValueError, match=r"pad: mode 'reflect' needs each padding smaller than "
                                         r"the padded dim's size 3, got \(3, 0\)"):
        nn.ReflectionPad2d((3, 0, 0, 0))(tn.ones(1, 1, 2, 3))
    with pytest.raises(ValueError, match="pad: mode must be 'constant', 'reflect', 'replicate' "
                                         "or 'circular', got 'mirror'"):
        nn.functional.pad(tn.ones(1, 1, 2, 3), (1, 1), mode="mirror")
    with pytest.raises(ValueError, match="Conv2d: padding_mode must be one of 'zeros', "
                                         "'reflect', 'replicate', 'circular', got 'bad'"):
        nn.Conv2d(1, 1, 3, padding_mode="bad")
    with pytest.raises(ValueError, match="ConvTranspose2d: only padding_mode='zeros'"):
        nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(TypeError, match=r"ZeroPad2d: padding must be an int or \(left, right, "
                                        r"top, bottom\), got \(1, 2\)"):
        nn.ZeroPad2d((1, 2))


def test_groupnorm_and_layernorm_errors():
    with pytest.raises(ValueError, match=r"GroupNorm: num_channels \(6\) must be divisible by "
                                         r"num_groups \(4\)"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"group_norm: expected input \(N, C, \*\) with C "
                                         r"divisible by num_groups = 2, got shape \(2, 3, 4\)"):
        nn.GroupNorm(2, 4)(tn.ones(2, 3, 4))
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(6,\) must be the last"):
        nn.LayerNorm(6)(tn.ones(2, 5))


def test_dropout_train_and_eval():
    drop = nn.Dropout(0.25)
    x = tn.ones(200, 100)
    y = drop(x).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02
    drop.eval()
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match=r"Dropout: p \(the dropout probability\) must be "
                                         r"between 0 and 1, got 1.5"):
        nn.Dropout(1.5)


@pytest.mark.parametrize("make, error, match", [
    (lambda: nn.Linear(-3, 2), ValueError, r"Linear: in_features must be >= 0, got -3"),
    (lambda: nn.Linear(3, -2), ValueError, r"Linear: out_features must be >= 0, got -2"),
    (lambda: nn.Linear(2.5, 3), TypeError, r"Linear: in_features must be an int, got 2.5 "
                                           r"\(float\)"),
    (lambda: nn.Linear(3, "4"), TypeError, r"Linear: out_features must be an int, got '4'"),
    (lambda: nn.BatchNorm2d(-3), ValueError, r"BatchNorm2d: num_features must be >= 0, got -3"),
    (lambda: nn.BatchNorm1d(None), TypeError, r"BatchNorm1d: num_features must be an int, "
                                              r"got None"),
    (lambda: nn.Dropout(float("nan")), ValueError, r"Dropout: p .* between 0 and 1, got nan"),
    (lambda: nn.Dropout(-0.1), ValueError, r"Dropout: p .* between 0 and 1, got -0.1"),
    (lambda: nn.Dropout("0.5"), TypeError, r"Dropout: p .* must be a number, got '0.5'"),
])
def test_bad_layer_sizes_name_the_argument_and_value(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_zero_sizes_and_numpy_ints_are_valid_layer_sizes():
    # PyTorch allows empty layers; NumPy integers (e.g. from a shape) are plain ints.
    lin = nn.Linear(np.int64(0), 2)
    assert lin.weight.shape == (2, 0) and type(lin.in_features) is int
    assert nn.BatchNorm2d(0).running_mean.shape == (0,)


def test_upsample_needs_exactly_one_of_size_and_scale():
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        nn.Upsample()
    assert nn.Upsample(size=(4, 6))(tn.randn(1, 2, 2, 3)).shape == (1, 2, 4, 6)


def test_conv2d_same_padding_and_construction_dtype():
    conv = nn.Conv2d(2, 3, 5, padding="same", dtype=np.float64)
    assert conv.weight.dtype == np.float64 and conv.bias.dtype == np.float64
    assert conv(tn.tensor(np.zeros((1, 2, 7, 9)))).shape == (1, 3, 7, 9)
    assert "padding=same" in repr(conv)
    even = nn.Conv2d(2, 3, 4, padding="same")   # the extra zero goes bottom/right, as in PyTorch
    assert even(tn.tensor(np.zeros((1, 2, 7, 9), np.float32))).shape == (1, 3, 7, 9)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv2d(2, 3, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="invalid padding string 'full'"):
        nn.Conv2d(2, 3, 3, padding="full")
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


def build(torch_or_tinynet_nn):
    """The same small network in either framework (same constructor calls)."""
    m = torch_or_tinynet_nn
    return m.Sequential(
        m.Conv2d(3, 8, 3, padding=1, bias=False), m.BatchNorm2d(8), m.ReLU(inplace=True),
        m.MaxPool2d(3, 2, 1), m.ConvTranspose2d(8, 4, 2, stride=2), m.LeakyReLU(0.1),
        m.AdaptiveAvgPool2d((1, 1)), m.Flatten(), m.Dropout(0.5), m.Linear(4, 2))


def test_network_structure_matches_torch(torch):
    theirs, ours = build(torch.nn), build(nn)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    for key, value in theirs.state_dict().items():
        assert ours.state_dict()[key].shape == tuple(value.shape), key


def test_network_forward_backward_matches_torch(torch):
    theirs, ours = build(torch.nn).eval(), build(nn).eval()  # eval: no dropout randomness
    copy_from_torch(theirs, ours)
    assert_same(*run_both(torch, theirs, ours, randn(2, 3, 8, 8)), atol=1e-4)
    # And back: a tinynet state_dict loads into torch.
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})


@pytest.mark.parametrize("make, fan_in", [
    (lambda m: m.Conv2d(16, 32, 5), 16 * 25),
    (lambda m: m.ConvTranspose2d(8, 64, 3), 64 * 9),  # PyTorch reads fan_in from dim 1
    (lambda m: m.Linear(300, 200), 300),
])
def test_default_init_bounds_follow_torch_formula(torch, make, fan_in):
    theirs = make(torch.nn)
    torch_fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)
    assert torch_fan_in == fan_in
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) and the bias rule
    ours = make(nn)
    w, b = ours.weight.numpy(), ours.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.95 * bound  # the whole range is used
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.05)
    np.testing.assert_allclose(w.std(), theirs.weight.detach().numpy().std(), rtol=0.05)
    assert w.dtype == np.float32


def test_batchnorm_default_init():
    bn = nn.BatchNorm2d(4)
    np.testing.assert_array_equal(bn.weight.numpy(), np.ones(4))
    np.testing.assert_array_equal(bn.bias.numpy(), np.zeros(4))
    np.testing.assert_array_equal(bn.running_mean.numpy(), np.zeros(4))
    assert int(bn.num_batches_tracked.item()) == 0


@pytest.mark.parametrize("layer", [nn.Conv2d, nn.ConvTranspose2d])
@pytest.mark.parametrize("kwargs, message", [
    ({"in_channels": -3}, "in_channels must be >= 0, got -3"),
    ({"out_channels": -1}, "out_channels must be >= 0, got -1"),
    ({"in_channels": 1.5}, "in_channels must be an int"),
    ({"kernel_size": 0}, r"kernel_size must be >= 1, got \(0, 0\)"),
    ({"stride": (1, 0)}, r"stride must be >= 1, got \(1, 0\)"),
    ({"padding": -1}, r"padding must be >= 0, got \(-1, -1\)"),
    ({"dilation": 0}, r"dilation must be >= 1, got \(0, 0\)"),
    ({"groups": 0}, "groups must be >= 1, got 0"),
])
def test_bad_conv_layer_arguments_name_the_argument_and_value(layer, kwargs, message):
    args = {"in_channels": 4, "out_channels": 4, "kernel_size": 3, **kwargs}
    with pytest.raises((ValueError, TypeError), match=f"{layer.__name__}: {message}"):
        layer(**args)
