"""nn.utils.parametrize / nn.utils.parametrizations (weight_norm, spectral_norm) and the layers
of nn/layers_more.py (Bilinear, LocalResponseNorm, AlphaDropout, FeatureAlphaDropout,
LPPool1d/2d, ChannelShuffle, UpsamplingNearest2d/Bilinear2d, EmbeddingBag): parity with
PyTorch (float64 values and gradients, state_dict keys, reprs), gradient checks, errors."""
import copy
import pickle

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F
from tinynet.nn.utils import parametrizations, parametrize
from gradcases import GradCase, run_case
from torch_parity import torch_or_skip

TOL = dict(rtol=1e-10, atol=1e-12)


@pytest.fixture
def torch():
    return torch_or_skip()


def _np(t):
    if isinstance(t, tn.Tensor):
        return np.asarray(t.numpy())
    return t.detach().cpu().numpy()


def _load_from_torch(ours, theirs):
    """Copy PyTorch's state_dict (same keys) into our module."""
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    ours.load_state_dict(state)


def _assert_grads_equal(ours, theirs, inputs=(), torch_inputs=()):
    """Same parameter names, and the same gradient for every parameter and input."""
    mine = dict(ours.named_parameters())
    their = dict(theirs.named_parameters())
    assert list(mine) == list(their)
    for name in mine:
        assert mine[name].grad is not None, name
        np.testing.assert_allclose(_np(mine[name].grad), _np(their[name].grad), **TOL,
                                   err_msg=name)
    for x, tx in zip(inputs, torch_inputs):
        np.testing.assert_allclose(_np(x.grad), _np(tx.grad), **TOL)


def _pair_inputs(torch, *arrays):
    ours = [tn.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, theirs


def _forward_backward(torch, ours, theirs, *arrays, seed=0):
    """Run both modules on the arrays, backward a fixed random projection, compare."""
    xs, txs = _pair_inputs(torch, *arrays)
    y, ty = ours(*xs), theirs(*txs)
    np.testing.assert_allclose(_np(y), _np(ty), **TOL)
    proj = np.random.default_rng(seed).standard_normal(tuple(ty.shape))
    (y * tn.tensor(proj)).sum().backward()
    (ty * torch.tensor(proj)).sum().backward()
    _assert_grads_equal(ours, theirs, xs, txs)


def _layer_pairs(torch):
    """(tinynet module, PyTorch module, input shape) in float64, same layer settings."""
    return {
        "linear": (lambda m: m.Linear(5, 4), (3, 5)),
        "conv2d": (lambda m: m.Conv2d(2, 3, 3, padding=1), (2, 2, 5, 5)),
        "conv_transpose2d": (lambda m: m.ConvTranspose2d(3, 2, 3), (2, 3, 4, 4)),
        "conv1d": (lambda m: m.Conv1d(2, 4, 3), (2, 2, 7)),
    }


LAYERS = ["linear", "conv2d", "conv_transpose2d", "conv1d"]


def _make(torch, kind):
    build, shape = _layer_pairs(torch)[kind]
    return build(nn).double(), build(torch.nn).double(), shape


# ---------------------------------------------------------------------------
# weight_norm (parametrization)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("dim", [0, 1, None, -1])
def test_weight_norm_matches_pytorch(torch, kind, dim):
    ours, theirs, shape = _make(torch, kind)
    parametrizations.weight_norm(ours, dim=dim)
    torch.nn.utils.parametrizations.weight_norm(theirs, dim=dim)
    state, tstate = ours.state_dict(), theirs.state_dict()
    assert list(state) == list(tstate)
    assert "parametrizations.weight.original0" in state
    for key in state:
        assert tuple(state[key].shape) == tuple(tstate[key].shape), key
    _load_from_torch(ours, theirs)
    np.testing.assert_allclose(_np(ours.weight), _np(theirs.weight), **TOL)
    x = np.random.default_rng(1).standard_normal(shape)
    _forward_backward(torch, ours, theirs, x)


def test_weight_norm_g_and_v_are_pytorchs_at_registration(torch):
    ours, theirs, _ = _make(torch, "conv2d")
    _load_from_torch(ours, theirs)
    parametrizations.weight_norm(ours)
    torch.nn.utils.parametrizations.weight_norm(theirs)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(_np(ours.state_dict()[key]), _np(value), **TOL, err_msg=key)


def test_weight_norm_repr_and_class(torch):
    ours = parametrizations.weight_norm(nn.Linear(20, 40))
    theirs = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(20, 40))
    assert repr(ours) == repr(theirs)
    assert type(ours).__name__ == "ParametrizedLinear"
    assert isinstance(ours, nn.Linear)
    assert parametrize.type_before_parametrizations(ours) is nn.Linear
    assert "weight" not in dict(ours.named_parameters())


def test_weight_norm_trains_with_an_optimizer():
    m = parametrizations.weight_norm(nn.Linear(3, 2).double())
    opt = tn.optim.SGD(m.parameters(), lr=0.1)
    before = m.weight.numpy().copy()
    m(tn.tensor(np.ones((4, 3)))).sum().backward()
    opt.step()
    assert not np.allclose(before, m.weight.numpy())


def test_weight_norm_errors():
    with pytest.raises(ValueError, match="bogus"):
        parametrizations.weight_norm(nn.Linear(3, 2), name="bogus")
    with pytest.raises(IndexError, match="dim"):
        parametrizations.weight_norm(nn.Linear(3, 2), dim=5)


# ---------------------------------------------------------------------------
# spectral_norm (parametrization)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", LAYERS)
def test_spectral_norm_state_dict_keys_and_shapes(torch, kind):
    ours, theirs, _ = _make(torch, kind)
    parametrizations.spectral_norm(ours)
    torch.nn.utils.parametrizations.spectral_norm(theirs)
    state, tstate = ours.state_dict(), theirs.state_dict()
    assert list(state) == list(tstate)
    assert {"parametrizations.weight.original", "parametrizations.weight.0._u",
            "parametrizations.weight.0._v"} <= set(state)
    for key in state:
        assert tuple(state[key].shape) == tuple(tstate[key].shape), key
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("n_power_iterations", [1, 3])
def test_spectral_norm_power_iteration_over_training_steps(torch, kind, n_power_iterations):
    ours, theirs, shape = _make(torch, kind)
    parametrizations.spectral_norm(ours, n_power_iterations=n_power_iterations)
    torch.nn.utils.parametrizations.spectral_norm(theirs, n_power_iterations=n_power_iterations)
    _load_from_torch(ours, theirs)
    rng = np.random.default_rng(2)
    lr = 0.05
    for step in range(4):
        x = rng.standard_normal(shape)
        ours.zero_grad()
        theirs.zero_grad()
        _forward_backward(torch, ours, theirs, x, seed=step)
        for key, value in theirs.state_dict().items():     # buffers after the power step
            np.testing.assert_allclose(_np(ours.state_dict()[key]), _np(value), **TOL,
                                       err_msg=f"step {step}: {key}")
        with torch.no_grad():
            for p in theirs.parameters():
                p -= lr * p.grad
        for p in ours.parameters():
            p.data -= lr * p.grad.numpy()
    # evaluation mode: no power iteration, the buffers stay as they are
    ours.eval()
    theirs.eval()
    u = ours.state_dict()["parametrizations.weight.0._u"].numpy().copy()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(_np(ours(tn.tensor(x))), _np(theirs(torch.tensor(x))), **TOL)
    np.testing.assert_array_equal(ours.state_dict()["parametrizations.weight.0._u"].numpy(), u)


def test_spectral_norm_normalizes_the_largest_singular_value():
    m = parametrizations.spectral_norm(nn.Linear(6, 5).double(), n_power_iterations=30)
    m(tn.tensor(np.ones((1, 6))))
    sigma = np.linalg.svd(m.weight.numpy(), compute_uv=False)[0]
    assert sigma == pytest.approx(1.0, rel=1e-6)


def test_spectral_norm_of_a_1d_tensor_is_its_normalization(torch):
    ours = nn.Linear(3, 4).double()
    theirs = torch.nn.Linear(3, 4).double()
    parametrizations.spectral_norm(ours, name="bias")
    torch.nn.utils.parametrizations.spectral_norm(theirs, name="bias")
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _load_from_torch(ours, theirs)
    _forward_backward(torch, ours, theirs, np.random.default_rng(3).standard_normal((2, 3)))


def test_spectral_norm_errors():
    with pytest.raises(ValueError, match="bogus"):
        parametrizations.spectral_norm(nn.Linear(3, 2), name="bogus")
    with pytest.raises(ValueError, match="n_power_iterations"):
        parametrizations.spectral_norm(nn.Linear(3, 2), n_power_iterations=0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        parametrizations.spectral_norm(nn.Linear(3, 2), dim=2)


def test_spectral_norm_after_weight_norm_chains(torch):
    ours, theirs, shape = _make(torch, "linear")
    parametrizations.weight_norm(ours)
    parametrizations.spectral_norm(ours)
    torch.nn.utils.parametrizations.weight_norm(theirs)
    torch.nn.utils.parametrizations.spectral_norm(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    _load_from_torch(ours, theirs)
    ours.eval()
    theirs.eval()
    _forward_backward(torch, ours, theirs, np.random.default_rng(4).standard_normal(shape))


# ---------------------------------------------------------------------------
# register_parametrization / remove_parametrizations
# ---------------------------------------------------------------------------

def _symmetric(base):
    class Symmetric(base.Module):
        def forward(self, x):
            return x.triu() + x.triu(1).transpose(0, 1)

        def right_inverse(self, a):
            return a.triu()
    return Symmetric()


def _scale(base):
    class Scale(base.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("factor", None)

        def forward(self, x):
            return x * 2.0

        def right_inverse(self, x):
            return x / 2.0
    return Scale()


def test_custom_parametrization_chain_matches_pytorch(torch):
    ours, theirs, shape = nn.Linear(4, 4).double(), torch.nn.Linear(4, 4).double(), (3, 4)
    _load_from_torch(ours, theirs)
    for mod, base, P in ((ours, nn, parametrize), (theirs, torch.nn, torch.nn.utils.parametrize)):
        P.register_parametrization(mod, "weight", _symmetric(base))
        P.register_parametrization(mod, "weight", _scale(base))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    np.testing.assert_allclose(_np(ours.weight), _np(theirs.weight), **TOL)
    _forward_backward(torch, ours, theirs, np.random.default_rng(5).standard_normal(shape))
    # assignment goes through right_inverse, last parametrization first
    value = np.random.default_rng(6).standard_normal((4, 4))
    value = value + value.T
    ours.weight = tn.tensor(value)
    with torch.no_grad():
        theirs.weight = torch.tensor(value)
    np.testing.assert_allclose(_np(ours.weight), value, **TOL)
    np.testing.assert_allclose(_np(ours.parametrizations.weight.original),
                               _np(theirs.parametrizations.weight.original), **TOL)


def test_assigning_a_parameter_to_a_parametrized_name_is_refused():
    m = parametrizations.weight_norm(nn.Linear(3, 2))
    with pytest.raises(KeyError, match="weight"):
        m.weight = nn.Parameter(np.zeros((2, 3), dtype=np.float32))
    m.bias = nn.Parameter(np.zeros(2, dtype=np.float32))        # other names as usual
    assert "bias" in dict(m.named_parameters())


def test_parametrizing_a_buffer():
    m = nn.BatchNorm1d(3).double()
    parametrize.register_parametrization(m, "running_var", _scale(nn))
    assert "parametrizations.running_var.original" in m.state_dict()
    np.testing.assert_allclose(m.running_var.numpy(), np.ones(3))


def test_register_parametrization_checks_shape_and_dtype_unless_unsafe():
    class Flatten(nn.Module):
        def forward(self, x):
            return x.reshape(-1)

    with pytest.raises(ValueError, match="shape"):
        parametrize.register_parametrization(nn.Linear(3, 2), "weight", Flatten())
    m = parametrize.register_parametrization(nn.Linear(3, 2), "weight", Flatten(), unsafe=True)
    assert tuple(m.weight.shape) == (6,)
    with pytest.raises(ValueError, match="nothing"):
        parametrize.register_parametrization(nn.Linear(3, 2), "nothing", Flatten())
    with pytest.raises(TypeError, match="Module"):
        parametrize.register_parametrization(nn.Linear(3, 2), "weight", lambda x: x)


def test_is_parametrized_and_remove_restores_the_class():
    m = nn.Linear(3, 2)
    assert not parametrize.is_parametrized(m)
    parametrizations.spectral_norm(m)
    parametrizations.weight_norm(m, "bias")
    assert parametrize.is_parametrized(m) and parametrize.is_parametrized(m, "weight")
    assert not parametrize.is_parametrized(m, "other")
    parametrize.remove_parametrizations(m, "weight")
    assert type(m).__name__ == "ParametrizedLinear"
    parametrize.remove_parametrizations(m, "bias")
    assert type(m) is nn.Linear and not parametrize.is_parametrized(m)
    assert list(m.state_dict()) == ["weight", "bias"]
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        parametrize.remove_parametrizations(m, "weight")


@pytest.mark.parametrize("which", ["weight_norm", "spectral_norm"])
def test_remove_parametrizations_leaves_the_parametrized_tensor(torch, which):
    ours, theirs, shape = _make(torch, "conv2d")
    getattr(parametrizations, which)(ours)
    getattr(torch.nn.utils.parametrizations, which)(theirs)
    _load_from_torch(ours, theirs)
    ours.eval()
    theirs.eval()
    expected = _np(ours.weight)
    parametrize.remove_parametrizations(ours, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(theirs, "weight")
    assert type(ours) is nn.Conv2d
    assert isinstance(ours.weight, nn.Parameter)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert sorted(ours.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(ours.weight.numpy(), expected, **TOL)
    np.testing.assert_allclose(ours.weight.numpy(), _np(theirs.weight), **TOL)
    _forward_backward(torch, ours, theirs, np.random.default_rng(7).standard_normal(shape))


def test_remove_parametrizations_unparametrized_keeps_the_original_object():
    m = nn.Linear(3, 2).double()
    parametrizations.spectral_norm(m)
    original = m.parametrizations.weight.original
    before = original.numpy().copy()
    parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
    assert m.weight is original
    np.testing.assert_array_equal(m.weight.numpy(), before)
    m2 = parametrizations.weight_norm(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="leave_parametrized"):
        parametrize.remove_parametrizations(m2, "weight", leave_parametrized=False)


def test_cached_reuses_the_value_inside_the_context():
    m = parametrizations.weight_norm(nn.Linear(3, 2))
    assert m.weight is not m.weight
    with parametrize.cached():
        first = m.weight
        assert m.weight is first
    assert m.weight is not first


def test_deepcopy_works_and_pickling_is_refused():
    m = parametrizations.weight_norm(nn.Linear(3, 2).double())
    clone = copy.deepcopy(m)
    assert type(clone) is type(m)
    np.testing.assert_array_equal(clone.weight.numpy(), m.weight.numpy())
    clone.parametrizations.weight.original1.data[...] = 0
    assert np.abs(m.weight.numpy()).sum() > 0
    with pytest.raises(RuntimeError, match="state_dict"):
        pickle.dumps(m)


def test_parametrizing_one_module_leaves_others_of_its_class_alone():
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    parametrizations.weight_norm(a)
    assert type(b) is nn.Linear and "weight" in dict(b.named_parameters())


# ---------------------------------------------------------------------------
# Bilinear
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch", [(4,), (2, 3), ()])
def test_bilinear_matches_pytorch(torch, bias, batch):
    ours = nn.Bilinear(3, 5, 4, bias=bias).double()
    theirs = torch.nn.Bilinear(3, 5, 4, bias=bias).double()
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    _load_from_torch(ours, theirs)
    rng = np.random.default_rng(8)
    _forward_backward(torch, ours, theirs, rng.standard_normal(batch + (3,)),
                      rng.standard_normal(batch + (5,)))
    assert repr(ours) == repr(theirs)


def test_bilinear_init_range_and_errors():
    m = nn.Bilinear(4, 2, 3)
    assert np.abs(m.weight.numpy()).max() <= 0.5 and np.abs(m.bias.numpy()).max() <= 0.5
    with pytest.raises(ValueError, match="in2_features"):
        m(tn.ones(2, 4), tn.ones(2, 3))
    with pytest.raises(ValueError, match="in1_features"):
        nn.Bilinear(0, 2, 3)
    with pytest.raises(ValueError, match="batch"):
        F.bilinear(tn.ones(2, 4), tn.ones(3, 2), m.weight)


# ---------------------------------------------------------------------------
# LocalResponseNorm
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 6, 5), (2, 7, 3, 4), (1, 5, 2, 3, 2)])
@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_local_response_norm_matches_pytorch(torch, shape, size):
    args = dict(alpha=0.3, beta=0.6, k=1.5)
    x = np.random.default_rng(9).standard_normal(shape)
    (xo,), (xt,) = _pair_inputs(torch, x)
    y = F.local_response_norm(xo, size, **args)
    ty = torch.nn.functional.local_response_norm(xt, size, **args)
    np.testing.assert_allclose(_np(y), _np(ty), **TOL)
    proj = np.random.default_rng(10).standard_normal(shape)
    (y * tn.tensor(proj)).sum().backward()
    (ty * torch.tensor(proj)).sum().backward()
    np.testing.assert_allclose(_np(xo.grad), _np(xt.grad), **TOL)


def test_local_response_norm_module(torch):
    assert repr(nn.LocalResponseNorm(3)) == repr(torch.nn.LocalResponseNorm(3))
    assert repr(nn.LocalResponseNorm(2, 0.5, 0.2, 2.0)) == \
        repr(torch.nn.LocalResponseNorm(2, 0.5, 0.2, 2.0))
    x = np.random.default_rng(11).standard_normal((2, 4, 3, 3))
    np.testing.assert_allclose(_np(nn.LocalResponseNorm(3)(tn.tensor(x))),
                               _np(torch.nn.LocalResponseNorm(3)(torch.tensor(x))), **TOL)
    with pytest.raises(ValueError, match="3D or higher"):
        F.local_response_norm(tn.ones(2, 3), 2)
    with pytest.raises(ValueError, match="size"):
        nn.LocalResponseNorm(0)


# ---------------------------------------------------------------------------
# AlphaDropout / FeatureAlphaDropout
# ---------------------------------------------------------------------------

ALPHA_PRIME = 1.7580993408473766


def test_alpha_dropout_eval_and_functional_default_are_identity(torch):
    x = tn.tensor(np.random.default_rng(12).standard_normal((3, 4)))
    for layer in (nn.AlphaDropout(0.3), nn.FeatureAlphaDropout(0.3)):
        layer.eval()
        assert layer(x) is x
    assert F.alpha_dropout(x, 0.5) is x          # training=False by default, as PyTorch
    assert F.feature_alpha_dropout(x, 0.5) is x
    assert F.alpha_dropout(x, 0.0, training=True) is x
    assert repr(nn.AlphaDropout(0.2)) == repr(torch.nn.AlphaDropout(0.2))
    assert repr(nn.FeatureAlphaDropout()) == repr(torch.nn.FeatureAlphaDropout())


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_alpha_dropout_keeps_zero_mean_and_unit_variance(p):
    tn.manual_seed(0)
    x = tn.tensor(np.random.default_rng(13).standard_normal(200_000))
    y = nn.AlphaDropout(p)(x).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.var() - 1) < 0.03
    a = 1 / np.sqrt((ALPHA_PRIME ** 2 * p + 1) * (1 - p))
    dropped_value = -ALPHA_PRIME * a + ALPHA_PRIME * a * p
    kept = np.isclose(y, a * x.numpy() + ALPHA_PRIME * a * p)
    dropped = np.isclose(y, dropped_value)
    assert (kept | dropped).all()
    assert abs(dropped.mean() - p) < 0.01


def test_alpha_dropout_gradient_is_the_scale_of_kept_elements():
    tn.manual_seed(1)
    p = 0.4
    x = tn.tensor(np.random.default_rng(14).standard_normal((50, 20)), requires_grad=True)
    y = F.alpha_dropout(x, p, training=True)
    y.sum().backward()
    a = 1 / np.sqrt((ALPHA_PRIME ** 2 * p + 1) * (1 - p))
    g = x.grad.numpy()
    assert set(np.round(np.unique(g), 12)) <= {0.0, round(a, 12)}
    assert np.allclose(y.numpy()[g == 0], -ALPHA_PRIME * a + ALPHA_PRIME * a * p)


def test_feature_alpha_dropout_drops_whole_channels():
    tn.manual_seed(2)
    p = 0.5
    x = tn.tensor(np.random.default_rng(15).standard_normal((8, 16, 3, 3)))
    y = nn.FeatureAlphaDropout(p)(x).numpy()
    a = 1 / np.sqrt((ALPHA_PRIME ** 2 * p + 1) * (1 - p))
    dropped_value = -ALPHA_PRIME * a + ALPHA_PRIME * a * p
    dropped = np.isclose(y, dropped_value).all(axis=(2, 3))
    kept = np.isclose(y, a * x.numpy() + ALPHA_PRIME * a * p).all(axis=(2, 3))
    assert (dropped ^ kept).all()
    assert 0 < dropped.sum() < dropped.size


def test_alpha_dropout_edge_cases_and_errors():
    x = tn.tensor(np.ones((2, 3)))
    np.testing.assert_array_equal(F.alpha_dropout(x, 1.0, training=True).numpy(), 0)
    with pytest.raises(ValueError, match="probability"):
        F.alpha_dropout(x, 1.5, training=True)
    with pytest.raises(ValueError, match="AlphaDropout"):
        nn.AlphaDropout(-0.1)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        F.feature_alpha_dropout(tn.ones(3), 0.5, training=True)


# ---------------------------------------------------------------------------
# LPPool1d / LPPool2d
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("norm_type", [1, 2, 3.0])
@pytest.mark.parametrize("kernel_size,stride,ceil_mode", [(2, None, False), (3, 2, False),
                                                          (3, 2, True)])
def test_lp_pool1d_matches_pytorch(torch, norm_type, kernel_size, stride, ceil_mode):
    ours = nn.LPPool1d(norm_type, kernel_size, stride, ceil_mode)
    theirs = torch.nn.LPPool1d(norm_type, kernel_size, stride, ceil_mode)
    assert repr(ours) == repr(theirs)
    x = np.abs(np.random.default_rng(16).standard_normal((2, 3, 8))) + 0.1
    _forward_backward(torch, ours, theirs, x)


@pytest.mark.parametrize("norm_type", [1, 2, 3.0])
@pytest.mark.parametrize("kernel_size,stride,ceil_mode", [(2, None, False), ((2, 3), (1, 2),
                                                                              False),
                                                          (3, 2, True)])
def test_lp_pool2d_matches_pytorch(torch, norm_type, kernel_size, stride, ceil_mode):
    ours = nn.LPPool2d(norm_type, kernel_size, stride, ceil_mode)
    theirs = torch.nn.LPPool2d(norm_type, kernel_size, stride, ceil_mode)
    assert repr(ours) == repr(theirs)
    x = np.abs(np.random.default_rng(17).standard_normal((2, 3, 7, 8))) + 0.1
    _forward_backward(torch, ours, theirs, x)


def test_lp_pool_signed_input_matches_pytorch(torch):
    x = np.random.default_rng(18).standard_normal((1, 2, 9))
    for p in (1, 3):      # odd powers: negative window sums give 0, as PyTorch
        np.testing.assert_allclose(
            _np(F.lp_pool1d(tn.tensor(x), p, 3)),
            _np(torch.nn.functional.lp_pool1d(torch.tensor(x), p, 3)), **TOL)


def test_lp_pool_errors():
    with pytest.raises(ValueError, match="norm_type"):
        nn.LPPool2d(0, 2)
    with pytest.raises(ValueError, match="norm_type"):
        F.lp_pool1d(tn.ones(1, 1, 4), "two", 2)


# ---------------------------------------------------------------------------
# ChannelShuffle
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape,groups", [((2, 6, 3, 3), 2), ((2, 6, 3, 3), 3),
                                          ((1, 8, 5), 4), ((2, 4, 2, 2, 2), 1)])
def test_channel_shuffle_matches_pytorch(torch, shape, groups):
    ours, theirs = nn.ChannelShuffle(groups), torch.nn.ChannelShuffle(groups)
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(19).standard_normal(shape)
    _forward_backward(torch, ours, theirs, x)


def test_channel_shuffle_errors():
    with pytest.raises(ValueError, match="divisible by groups"):
        F.channel_shuffle(tn.ones(1, 6, 2, 2), 4)
    with pytest.raises(ValueError, match="groups"):
        F.channel_shuffle(tn.ones(1, 6, 2, 2), 0)
    with pytest.raises(ValueError, match="groups"):
        nn.ChannelShuffle(-1)


# ---------------------------------------------------------------------------
# UpsamplingNearest2d / UpsamplingBilinear2d
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["UpsamplingNearest2d", "UpsamplingBilinear2d"])
@pytest.mark.parametrize("kwargs", [dict(scale_factor=2), dict(size=(5, 7)), dict(size=6)])
def test_upsampling_layers_match_pytorch(torch, name, kwargs):
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(20).standard_normal((2, 3, 4, 3))
    _forward_backward(torch, ours, theirs, x)


def test_upsampling_bilinear_uses_align_corners():
    m = nn.UpsamplingBilinear2d(scale_factor=2)
    assert m.mode == "bilinear" and m.align_corners is True
    y = m(tn.tensor(np.arange(4.0).reshape(1, 1, 2, 2))).numpy()
    assert y[0, 0, 0, 0] == 0 and y[0, 0, -1, -1] == 3          # corners kept exactly
    with pytest.raises(ValueError, match="size and scale_factor"):
        nn.UpsamplingNearest2d()


# ---------------------------------------------------------------------------
# EmbeddingBag
# ---------------------------------------------------------------------------

def _bag_pair(torch, mode, **kwargs):
    ours = nn.EmbeddingBag(10, 4, mode=mode, **kwargs).double()
    theirs = torch.nn.EmbeddingBag(10, 4, mode=mode, **kwargs).double()
    _load_from_torch(ours, theirs)
    return ours, theirs


def _bag_check(torch, ours, theirs, index, offsets=None, weights=None):
    idx_o, idx_t = tn.tensor(index), torch.tensor(index)
    off_o = None if offsets is None else tn.tensor(offsets)
    off_t = None if offsets is None else torch.tensor(offsets)
    w_o = w_t = None
    if weights is not None:
        (w_o,), (w_t,) = _pair_inputs(torch, weights)
    y, ty = ours(idx_o, off_o, w_o), theirs(idx_t, off_t, w_t)
    np.testing.assert_allclose(_np(y), _np(ty), **TOL)
    proj = np.random.default_rng(21).standard_normal(tuple(ty.shape))
    (y * tn.tensor(proj)).sum().backward()
    (ty * torch.tensor(proj)).sum().backward()
    _assert_grads_equal(ours, theirs)
    if weights is not None:
        np.testing.assert_allclose(_np(w_o.grad), _np(w_t.grad), **TOL)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_bag_2d_input_matches_pytorch(torch, mode, padding_idx):
    ours, theirs = _bag_pair(torch, mode, padding_idx=padding_idx)
    index = np.array([[1, 2, 4, 5], [4, 3, 2, 9], [2, 2, 2, 2]], dtype=np.int64)
    _bag_check(torch, ours, theirs, index)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("include_last_offset", [False, True])
@pytest.mark.parametrize("padding_idx", [None, 7])
def test_embedding_bag_offsets_match_pytorch(torch, mode, include_last_offset, padding_idx):
    ours, theirs = _bag_pair(torch, mode, include_last_offset=include_last_offset,
                             padding_idx=padding_idx)
    index = np.array([1, 2, 4, 5, 4, 3, 7, 9, 7, 0], dtype=np.int64)
    # an empty bag, a padding-only bag; with include_last_offset the last offset ends the
    # input (PyTorch's results are undefined, and differ by dtype, for a shorter one)
    offsets = np.array([0, 3, 3, 8, 10 if include_last_offset else 9], dtype=np.int64)
    _bag_check(torch, ours, theirs, index, offsets)


@pytest.mark.parametrize("two_d", [False, True])
def test_embedding_bag_per_sample_weights_match_pytorch(torch, two_d):
    ours, theirs = _bag_pair(torch, "sum", padding_idx=3)
    rng = np.random.default_rng(22)
    if two_d:
        index, offsets = rng.integers(0, 10, (3, 4)), None
    else:
        index, offsets = np.array([1, 3, 4, 5, 3, 8, 2]), np.array([0, 2, 2, 5])
    _bag_check(torch, ours, theirs, index, offsets, rng.standard_normal(index.shape))


def test_embedding_bag_module_basics(torch):
    assert repr(nn.EmbeddingBag(10, 3)) == repr(torch.nn.EmbeddingBag(10, 3))
    assert repr(nn.EmbeddingBag(10, 3, mode="max", padding_idx=-1)) == \
        repr(torch.nn.EmbeddingBag(10, 3, mode="max", padding_idx=-1))
    m = nn.EmbeddingBag(5, 3, padding_idx=1)
    assert tuple(m.weight.shape) == (5, 3) and (m.weight.numpy()[1] == 0).all()
    assert list(m.state_dict()) == ["weight"]
    table = np.random.default_rng(23).standard_normal((4, 2))
    bag = nn.EmbeddingBag.from_pretrained(tn.tensor(table), mode="sum")
    assert not bag.weight.requires_grad
    np.testing.assert_allclose(bag(tn.tensor([[0, 3]])).numpy(), table[[0]] + table[[3]])


def test_embedding_bag_errors():
    m = nn.EmbeddingBag(5, 3)
    with pytest.raises(ValueError, match="offsets"):
        m(tn.tensor([[1, 2]]), tn.tensor([0]))
    with pytest.raises(ValueError, match="offsets"):
        m(tn.tensor([1, 2]))
    with pytest.raises(ValueError, match="offsets\\[0\\]"):
        m(tn.tensor([1, 2]), tn.tensor([1]))
    with pytest.raises(NotImplementedError, match="per_sample_weights"):
        m(tn.tensor([[1, 2]]), None, tn.ones(1, 2))
    with pytest.raises(ValueError, match="mode"):
        nn.EmbeddingBag(5, 3, mode="median")
    with pytest.raises(ValueError, match="padding_idx"):
        nn.EmbeddingBag(5, 3, padding_idx=5)
    with pytest.raises(IndexError, match="out of range"):
        m(tn.tensor([[1, 7]]))
    with pytest.raises(TypeError, match="integer"):
        m(tn.tensor([[1.0, 2.0]]))


# ---------------------------------------------------------------------------
# Gradient checks of the composed ops
# ---------------------------------------------------------------------------

_BAG_INDEX = np.array([1, 2, 4, 5, 4, 3, 2, 0])
_BAG_OFFSETS = np.array([0, 3, 3, 6])

GRADCHECK_CASES = [
    GradCase("bilinear", lambda a, b, w, c: F.bilinear(a, b, w, c),
             lambda r: [r.standard_normal((3, 2)), r.standard_normal((3, 4)),
                        r.standard_normal((5, 2, 4)), r.standard_normal(5)]),
    GradCase("local_response_norm", lambda x: F.local_response_norm(x, 3, 0.5, 0.7, 1.2),
             lambda r: [r.standard_normal((2, 5, 3, 2))]),
    GradCase("lp_pool2d", lambda x: F.lp_pool2d(x, 2, 2),
             lambda r: [np.abs(r.standard_normal((1, 2, 4, 4))) + 0.5]),
    GradCase("lp_pool1d", lambda x: F.lp_pool1d(x, 3, 3, 2),
             lambda r: [np.abs(r.standard_normal((2, 2, 7))) + 0.5]),
    GradCase("channel_shuffle", lambda x: F.channel_shuffle(x, 2),
             lambda r: [r.standard_normal((2, 4, 3))]),
    GradCase("embedding_bag_sum_weighted",
             lambda w, s: F.embedding_bag(tn.tensor(_BAG_INDEX), w, tn.tensor(_BAG_OFFSETS),
                                          mode="sum", per_sample_weights=s),
             lambda r: [r.standard_normal((6, 3)), r.standard_normal(8)]),
    GradCase("embedding_bag_mean",
             lambda w: F.embedding_bag(tn.tensor(_BAG_INDEX), w, tn.tensor(_BAG_OFFSETS),
                                       padding_idx=2),
             lambda r: [r.standard_normal((6, 3))]),
    GradCase("embedding_bag_max",
             lambda w: F.embedding_bag(tn.tensor(_BAG_INDEX.reshape(2, 4)), w, mode="max"),
             lambda r: [r.standard_normal((6, 3))]),
    GradCase("weight_norm_linear",
             lambda g, v, x: F.linear(x, parametrizations._WeightNorm(0)(g, v)),
             lambda r: [r.standard_normal((3, 1)), r.standard_normal((3, 4)),
                        r.standard_normal((2, 4))]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)
