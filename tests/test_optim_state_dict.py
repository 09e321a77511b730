"""tinynet.optim.optimizer, Optimizer.state_dict: round trips, PyTorch's layout, loading torch's
state, errors."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import optim
from test_optim import PARITY_CASES, gradient_sequence, make_arrays, tn_params, two_groups


ROUND_TRIP_CASES = ["sgd_momentum", "sgd_groups", "adam_amsgrad", "adamw_groups"]


@pytest.mark.parametrize("name", ROUND_TRIP_CASES)
def test_state_dict_round_trip_continues_identically(name):
    make, grads = PARITY_CASES[name], gradient_sequence(10)
    params_a = tn_params(make_arrays())
    opt_a = make(optim, params_a)
    for step_grads in grads[:5]:
        for p, g in zip(params_a, step_grads):
            p.grad = tn.tensor(g)
        opt_a.step()
    params_b = tn_params([p.data for p in params_a])
    opt_b = make(optim, params_b)
    opt_b.load_state_dict(opt_a.state_dict())
    for step_grads in grads[5:]:
        for pa, pb, g in zip(params_a, params_b, step_grads):
            pa.grad, pb.grad = tn.tensor(g.copy()), tn.tensor(g.copy())
        opt_a.step()
        opt_b.step()
        for pa, pb in zip(params_a, params_b):
            np.testing.assert_array_equal(pa.data, pb.data)


def test_state_dict_has_torch_layout(torch):
    arrays, grads = make_arrays(), gradient_sequence(2, skip=(0, 0))
    grads[1][0] = None  # parameter 0 never gets a gradient: it has no state
    make = PARITY_CASES["adam_groups"]
    params = tn_params(arrays)
    opt = make(optim, params)
    t_params = [torch.tensor(a, requires_grad=True) for a in arrays]
    t_opt = make(torch.optim, t_params)
    for step_grads in grads:
        for p, tp, g in zip(params, t_params, step_grads):
            p.grad = None if g is None else tn.tensor(g)
            tp.grad = None if g is None else torch.tensor(g)
        opt.step()
        t_opt.step()
    ours, theirs = opt.state_dict(), t_opt.state_dict()
    assert list(ours["state"]) == list(theirs["state"]) == [1, 2]
    for index, state in theirs["state"].items():
        assert set(ours["state"][index]) == set(state)
        assert ours["state"][index]["step"] == int(state["step"]) == 2
        np.testing.assert_allclose(ours["state"][index]["exp_avg"], state["exp_avg"].numpy())
    for group, t_group in zip(ours["param_groups"], theirs["param_groups"]):
        assert group["params"] == t_group["params"]
        assert {k: group[k] for k in group} == {k: t_group[k] for k in group}


def test_loads_a_torch_state_dict_converted_to_numpy(torch):
    make, arrays, grads = PARITY_CASES["adam_amsgrad"], make_arrays(), gradient_sequence(6)
    t_params = [torch.tensor(a, requires_grad=True) for a in arrays]
    t_opt = make(torch.optim, t_params)
    for step_grads in grads[:3]:
        for tp, g in zip(t_params, step_grads):
            tp.grad = torch.tensor(g)
        t_opt.step()
    sd = t_opt.state_dict()
    sd = {"state": {i: {k: v.numpy() for k, v in s.items()} for i, s in sd["state"].items()},
          "param_groups": sd["param_groups"]}
    params = tn_params([tp.detach().numpy() for tp in t_params])
    opt = make(optim, params)
    opt.load_state_dict(sd)
    for step_grads in grads[3:]:
        for p, tp, g in zip(params, t_params, step_grads):
            p.grad, tp.grad = tn.tensor(g), torch.tensor(g)
        opt.step()
        t_opt.step()
    for p, tp in zip(params, t_params):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=0, atol=1e-6)


def test_state_dict_is_a_snapshot_and_load_copies():
    p = tn.tensor(np.ones(3), requires_grad=True)
    p.grad = tn.tensor(np.ones(3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.step()
    sd = opt.state_dict()
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["momentum_buffer"], np.ones(3))
    other = optim.SGD([tn.tensor(np.ones(3), requires_grad=True)], lr=0.1, momentum=0.9)
    other.load_state_dict(sd)
    loaded = next(iter(other.state.values()))["momentum_buffer"]
    assert loaded is not sd["state"][0]["momentum_buffer"]


def test_load_state_dict_restores_hyperparameters():
    params = tn_params(make_arrays())
    saved = optim.SGD(params, lr=0.5, momentum=0.9)
    opt = optim.SGD(tn_params(make_arrays()), lr=0.1, momentum=0.9)
    opt.load_state_dict(saved.state_dict())
    assert opt.param_groups[0]["lr"] == 0.5


def _stepped_adam(arrays):
    params = tn_params(arrays)
    opt = optim.Adam(params, lr=0.1)
    for p in params:
        p.grad = tn.tensor(np.ones(p.shape))
    opt.step()
    return opt


def test_load_state_dict_errors_name_the_mismatch():
    sd = _stepped_adam(make_arrays()).state_dict()
    with pytest.raises(ValueError,
                       match="state dict has 1 parameter groups but this optimizer has 2"):
        two_groups(optim, tn_params(make_arrays()), "Adam").load_state_dict(sd)
    with pytest.raises(ValueError, match="parameter group 0 has 3 parameters in the state dict "
                                         "but 2 in this optimizer"):
        optim.Adam(tn_params(make_arrays())[:2]).load_state_dict(sd)
    swapped = [np.zeros((2, 4)), np.zeros(3), np.zeros((2, 3, 2))]
    with pytest.raises(ValueError, match=r"'exp_avg' of parameter 0 has shape \(3,\) but the "
                                         r"parameter has shape \(2, 4\)"):
        optim.Adam(tn_params(swapped)).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"lacks hyperparameters \['dampening', 'momentum'"):
        optim.SGD(tn_params(make_arrays()), momentum=0.9).load_state_dict(sd)
    bad_index = {"state": {7: {}}, "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match="state for parameter 7"):
        optim.Adam(tn_params(make_arrays())).load_state_dict(bad_index)
    with pytest.raises(ValueError, match="keys 'state' and 'param_groups'"):
        optim.Adam(tn_params(make_arrays())).load_state_dict({"state": {}})


def test_failed_load_leaves_optimizer_unchanged():
    opt = _stepped_adam(make_arrays())
    before = opt.state_dict()
    sd = _stepped_adam(make_arrays(seed=5)).state_dict()
    sd["state"][2]["exp_avg_sq"] = np.zeros(5)  # the last parameter's state is bad
    sd["param_groups"][0]["lr"] = 123.0
    with pytest.raises(ValueError, match="'exp_avg_sq' of parameter 2"):
        opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.1
    after = opt.state_dict()
    for i in before["state"]:
        np.testing.assert_array_equal(after["state"][i]["exp_avg"], before["state"][i]["exp_avg"])


def test_load_state_dict_refuses_nan_hyperparameters_and_keeps_the_old_ones():
    opt = _stepped_adam(make_arrays())
    sd = _stepped_adam(make_arrays(seed=5)).state_dict()
    sd["param_groups"][0]["eps"] = float("nan")
    with pytest.raises(ValueError, match=r"Adam\.load_state_dict: parameter group 0 in the "
                                         r"state dict: Adam: invalid eps nan"):
        opt.load_state_dict(sd)
    assert opt.param_groups[0]["eps"] == 1e-8
    sd["param_groups"][0]["eps"] = 1e-6
    sd["param_groups"][0]["betas"] = [0.8, 0.99]  # a list (e.g. from JSON) becomes a tuple
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["eps"] == 1e-6 and opt.param_groups[0]["betas"] == (0.8, 0.99)
