"""tinynet.optim, the optimizers (SGD, Adam, AdamW): step-by-step parity with PyTorch, state_dict,
errors, behaviour.

Parity tests build the same optimizer in tinynet and in torch (the two share
class names and arguments, so one factory `make(optim_module, params)` builds
both), feed both the same random gradients and compare the parameters after
every step.  state_dict tests are in test_optim_state_dict.py, schedulers and
gradient clipping in test_lr_scheduler.py and test_clip_grad.py.
"""
import numpy as np
import pytest

import tinynet as tn
from tinynet import optim

SHAPES = [(3,), (2, 4), (2, 3, 2)]


def make_arrays(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def tn_params(arrays):
    return [tn.tensor(a.copy(), requires_grad=True) for a in arrays]


def gradient_sequence(steps, seed=1, dtype=np.float64, skip=None):
    """``steps`` lists of gradients, one per parameter; ``skip=(step, i)`` makes one None."""
    rng = np.random.default_rng(seed)
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]
    if skip is not None:
        grads[skip[0]][skip[1]] = None
    return grads


def run_tn(make, arrays, grads):
    """Run a tinynet optimizer over ``grads``; return the parameter values after every step."""
    params = tn_params(arrays)
    opt = make(optim, params)
    history = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else tn.tensor(g.copy())
        opt.step()
        history.append([p.data.copy() for p in params])
    return history


def run_torch(torch, make, arrays, grads):
    params = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    opt = make(torch.optim, params)
    history = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else torch.tensor(g.copy())
        opt.step()
        history.append([p.detach().numpy().copy() for p in params])
    return history


def two_groups(module, params, opt_name, **kwargs):
    """Parameter groups with their own lr (and, for the second, weight decay)."""
    groups = [{"params": params[:1], "lr": 0.3},
              {"params": params[1:], "weight_decay": 0.05}]
    return getattr(module, opt_name)(groups, **kwargs)


PARITY_CASES = {
    "sgd_plain": lambda m, ps: m.SGD(ps, lr=0.1),
    "sgd_momentum": lambda m, ps: m.SGD(ps, lr=0.1, momentum=0.9),
    "sgd_nesterov": lambda m, ps: m.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "sgd_weight_decay": lambda m, ps: m.SGD(ps, lr=0.1, momentum=0.8, weight_decay=0.1),
    "sgd_dampening": lambda m, ps: m.SGD(ps, lr=0.05, momentum=0.9, dampening=0.3),
    "sgd_maximize": lambda m, ps: m.SGD(ps, lr=0.1, momentum=0.5, weight_decay=0.01,
                                        maximize=True),
    "sgd_groups": lambda m, ps: two_groups(m, ps, "SGD", lr=0.1, momentum=0.9),
    "adam": lambda m, ps: m.Adam(ps, lr=0.05),
    "adam_betas_eps": lambda m, ps: m.Adam(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-3),
    "adam_weight_decay": lambda m, ps: m.Adam(ps, lr=0.05, weight_decay=0.1),
    "adam_amsgrad": lambda m, ps: m.Adam(ps, lr=0.05, amsgrad=True),
    "adam_maximize": lambda m, ps: m.Adam(ps, lr=0.05, maximize=True),
    "adam_groups": lambda m, ps: two_groups(m, ps, "Adam", lr=0.05),
    "adamw": lambda m, ps: m.AdamW(ps, lr=0.05),
    "adamw_amsgrad_strong_decay": lambda m, ps: m.AdamW(ps, lr=0.05, weight_decay=0.5,
                                                        amsgrad=True),
    "adamw_groups": lambda m, ps: two_groups(m, ps, "AdamW", lr=0.05),
}


@pytest.mark.parametrize("name", sorted(PARITY_CASES))
def test_matches_torch_step_by_step_float64(torch, name):
    make, arrays = PARITY_CASES[name], make_arrays()
    # Parameter 1 gets no gradient at step 3: it must be skipped (no update, no state step).
    grads = gradient_sequence(10, skip=(3, 1))
    ours, theirs = run_tn(make, arrays, grads), run_torch(torch, make, arrays, grads)
    for step, (mine, ref) in enumerate(zip(ours, theirs)):
        for i, (a, b) in enumerate(zip(mine, ref)):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6,
                                       err_msg=f"{name}: parameter {i} after step {step + 1}")


@pytest.mark.parametrize("name", ["sgd_nesterov", "adam_amsgrad", "adamw"])
def test_matches_torch_float32_and_keeps_dtype(torch, name):
    make = PARITY_CASES[name]
    arrays = make_arrays(dtype=np.float32)
    grads = gradient_sequence(10, dtype=np.float32)
    ours, theirs = run_tn(make, arrays, grads), run_torch(torch, make, arrays, grads)
    for mine, ref in zip(ours, theirs):
        for a, b in zip(mine, ref):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_float64_gradient_on_float32_parameter_keeps_float32_state():
    p = tn.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    p.grad = tn.tensor(np.ones(3, np.float64))
    opt.step()
    assert p.data.dtype == np.float32
    assert opt.state[p]["exp_avg"].dtype == np.float32


def test_update_is_in_place_and_leaves_gradient_untouched():
    p = tn.tensor(np.ones(4), requires_grad=True)
    data = p.data
    grad = np.full(4, 0.5)
    p.grad = tn.tensor(grad)
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1)
    opt.step()
    opt.step()
    assert p.data is data  # modules hold this array: it must not be replaced
    np.testing.assert_array_equal(grad, np.full(4, 0.5))


def test_step_calls_closure_and_returns_its_loss():
    p = tn.tensor(np.array([3.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with tn.no_grad():  # the closure must still record its graph
        loss = opt.step(closure)
    assert loss.item() == 9.0
    np.testing.assert_allclose(p.data, [3.0 - 0.25 * 6.0])


# ---------------------------------------------------------------------------
# zero_grad
# ---------------------------------------------------------------------------

def test_zero_grad_set_to_none():
    params = tn_params(make_arrays())
    for p in params:
        p.grad = tn.tensor(np.ones(p.shape))
    optim.SGD(params, lr=0.1).zero_grad()
    assert all(p.grad is None for p in params)


def test_zero_grad_to_zeros_does_not_write_into_shared_arrays():
    a, b = tn.tensor(np.ones(3), requires_grad=True), tn.tensor(np.ones(3), requires_grad=True)
    shared = np.full(3, 2.0)  # autograd may give two leaves the same gradient array
    a.grad, b.grad = tn.tensor(shared), tn.tensor(shared)
    optim.SGD([a, b], lr=0.1).zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.data, np.zeros(3))
    np.testing.assert_array_equal(b.grad.data, np.zeros(3))
    np.testing.assert_array_equal(shared, np.full(3, 2.0))


# ---------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("make, match", [
    (lambda ps: optim.SGD(ps, lr=-0.1), "SGD: invalid lr -0.1"),
    (lambda ps: optim.SGD(ps, momentum=-0.5), "SGD: invalid momentum"),
    (lambda ps: optim.SGD(ps, weight_decay=-1), "SGD: invalid weight_decay"),
    (lambda ps: optim.SGD(ps, nesterov=True), "Nesterov momentum requires momentum > 0"),
    (lambda ps: optim.SGD(ps, momentum=0.9, dampening=0.1, nesterov=True), "dampening = 0"),
    (lambda ps: optim.SGD([{"params": ps, "lr": -1.0}], lr=0.1), "SGD: invalid lr -1.0"),
    (lambda ps: optim.Adam(ps, lr=-1e-3), "Adam: invalid lr"),
    (lambda ps: optim.Adam(ps, eps=-1.0), "Adam: invalid eps"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), r"Adam: invalid betas\[0\] 1.0 .*\[0, 1\)"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), r"invalid betas\[1\] -0.1"),
    (lambda ps: optim.Adam(ps, betas=0.9), r"betas must be a pair"),
    (lambda ps: optim.AdamW(ps, weight_decay=-0.1), "AdamW: invalid weight_decay"),
    (lambda ps: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda ps: optim.SGD(ps + ps[:1], lr=0.1), "same parameter more than once"),
    (lambda ps: optim.SGD([{"params": ps}, {"params": ps[:1]}]), "more than one parameter group"),
    (lambda ps: optim.SGD([{"lr": 0.1}]), "needs a 'params' entry"),
])
def test_bad_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make(tn_params(make_arrays()))


NAN = float("nan")


@pytest.mark.parametrize("make, match", [
    (lambda ps: optim.Adam(ps, lr=NAN), r"Adam: invalid lr nan \(must be >= 0\)"),
    (lambda ps: optim.Adam(ps, eps=NAN), r"Adam: invalid eps nan"),
    (lambda ps: optim.Adam(ps, weight_decay=NAN), r"Adam: invalid weight_decay nan"),
    (lambda ps: optim.Adam(ps, betas=(NAN, 0.999)), r"Adam: invalid betas\[0\] nan"),
    (lambda ps: optim.Adam(ps, betas=(0.9, NAN)), r"Adam: invalid betas\[1\] nan"),
    (lambda ps: optim.AdamW(ps, lr=NAN), r"AdamW: invalid lr nan"),
    (lambda ps: optim.AdamW(ps, weight_decay=NAN), r"AdamW: invalid weight_decay nan"),
    (lambda ps: optim.SGD(ps, lr=NAN), r"SGD: invalid lr nan"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=NAN), r"SGD: invalid momentum nan"),
    (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=NAN), r"SGD: invalid weight_decay nan"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=NAN),
     r"SGD: invalid dampening nan \(must not be NaN\)"),
    (lambda ps: optim.SGD([{"params": ps, "lr": NAN}], lr=0.1), r"SGD: invalid lr nan"),
])
def test_nan_hyperparameters_are_refused_naming_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make(tn_params(make_arrays()))


def test_negative_dampening_is_allowed_as_in_pytorch():
    opt = optim.SGD(tn_params(make_arrays()), lr=0.1, momentum=0.9, dampening=-0.5)
    assert opt.param_groups[0]["dampening"] == -0.5


@pytest.mark.parametrize("make, match", [
    (lambda ps: optim.Adam(ps, lr="0.1"), r"Adam: lr must be a number, got '0.1' \(str\)"),
    (lambda ps: optim.Adam(ps, betas=(0.9, None)), r"Adam: betas\[1\] must be a number"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=True), r"SGD: momentum must be a number"),
])
def test_non_numeric_hyperparameters_raise_type_error(make, match):
    with pytest.raises(TypeError, match=match):
        make(tn_params(make_arrays()))


@pytest.mark.parametrize("make, match", [
    (lambda ps: optim.SGD(ps[0]), "single Tensor"),
    (lambda ps: optim.SGD(set(ps)), "not a set"),
    (lambda ps: optim.SGD([ps[0], np.ones(3)]), "parameter 1 of group 0 is a ndarray"),
])
def test_bad_parameter_containers_raise_type_error(make, match):
    with pytest.raises(TypeError, match=match):
        make(tn_params(make_arrays()))


@pytest.mark.parametrize("optimizer", [optim.SGD, optim.Adam, optim.AdamW])
def test_a_model_instead_of_its_parameters_names_the_fix(optimizer):
    """Passing the model (or model.parameters uncalled) says what to pass instead, not
    "'Linear' object is not iterable"."""
    model = tn.nn.Sequential(tn.nn.Linear(2, 3), tn.nn.ReLU())
    with pytest.raises(TypeError, match=r"not the Sequential model itself; pass "
                                        r"model\.parameters\(\)"):
        optimizer(model, lr=0.1)
    with pytest.raises(TypeError, match=r"params is the method model\.parameters, not its "
                                        r"result; call it"):
        optimizer(model.parameters, lr=0.1)


def test_gradient_of_the_wrong_shape_is_named():
    params = tn_params(make_arrays())
    params[1].grad = tn.tensor(np.ones(3))
    with pytest.raises(ValueError, match=r"parameter 1 of group 0 has shape \(2, 4\) but its "
                                         r"gradient has shape \(3,\)"):
        optim.SGD(params, lr=0.1).step()


# ---------------------------------------------------------------------------
# real behaviour: minimizing a badly conditioned quadratic with autograd
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("make, steps", [
    (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True), 300),
    (lambda ps: optim.Adam(ps, lr=0.1), 500),
    (lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.0), 500),
])
def test_minimizes_a_quadratic(make, steps):
    """f(x) = sum(scales * (x - target)**2), condition number 20; minimum at target."""
    target = np.array([1.0, -2.0, 3.0, 0.5])
    scales = tn.tensor(np.array([0.5, 1.0, 4.0, 10.0]))
    x = tn.tensor(np.zeros(4), requires_grad=True)
    opt = make([x])
    for _ in range(steps):
        opt.zero_grad()
        loss = (scales * (x - tn.tensor(target)) ** 2).sum()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(x.data, target, atol=1e-3)


# ---------------------------------------------------------------------------
# GPU (CuPy): same numbers as on the CPU, state on the device
# ---------------------------------------------------------------------------

@pytest.mark.gpu
@pytest.mark.parametrize("name", ["sgd_nesterov", "adam_amsgrad", "adamw_groups"])
def test_gpu_matches_cpu_and_keeps_state_on_device(name):
    make, arrays, grads = PARITY_CASES[name], make_arrays(), gradient_sequence(5)
    cpu = run_tn(make, arrays, grads)
    params = [tn.tensor(a, requires_grad=True, device="gpu") for a in arrays]
    opt = make(optim, params)
    for step_grads, expected in zip(grads, cpu):
        for p, g in zip(params, step_grads):
            p.grad = tn.tensor(g, device="gpu")
        opt.step()
        for p, e in zip(params, expected):
            assert p.device == "gpu"
            np.testing.assert_allclose(p.numpy(), e, rtol=1e-10, atol=1e-12)
    for state in opt.state.values():
        for value in state.values():
            assert not hasattr(value, "shape") or tn.backend.device_of(value) == "gpu"
    # A state dict saved on the CPU (numpy arrays) loads onto the GPU parameters.
    cpu_params = tn_params(arrays)
    cpu_opt = make(optim, cpu_params)
    for p, g in zip(cpu_params, grads[0]):
        p.grad = tn.tensor(g)
    cpu_opt.step()
    opt.load_state_dict(cpu_opt.state_dict())
    for state in opt.state.values():
        for value in state.values():
            assert not hasattr(value, "shape") or tn.backend.device_of(value) == "gpu"


def test_trains_a_linear_module_given_a_parameters_generator():
    """Fit y = x @ W.T + b with nn.Linear: the optimizer takes module.parameters() directly."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3))
    true_w, true_b = np.array([[1.5, -2.0, 0.5]]), np.array([0.3])
    y = tn.tensor(x @ true_w.T + true_b)
    model = tn.nn.Linear(3, 1).to(np.float64)
    opt = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        loss = ((model(tn.tensor(x)) - y) ** 2).mean()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(model.weight.data, true_w, atol=1e-3)
    np.testing.assert_allclose(model.bias.data, true_b, atol=1e-3)
