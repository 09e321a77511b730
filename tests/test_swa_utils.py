"""tinynet.optim.swa_utils against torch.optim.swa_utils: the averaged weights and buffers
after the same training steps (EMA and equal averages, with and without buffers),
update_bn, and the errors."""
import numpy as np
import pytest

import tinynet as tn
from tinynet.optim import swa_utils
from torch_parity import torch_or_skip


def small_net(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 2))


def twin_nets(torch):
    """A torch net and a tinynet net with the same weights."""
    torch.manual_seed(0)
    theirs, ours = small_net(torch), small_net(tn)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return theirs, ours


AVERAGES = {  # name -> (keyword arguments of AveragedModel, given the swa_utils module)
    "ema multi": lambda m: dict(multi_avg_fn=m.get_ema_multi_avg_fn(0.9), use_buffers=True),
    "ema per tensor": lambda m: dict(avg_fn=m.get_ema_avg_fn(0.8), use_buffers=True),
    "swa with buffers": lambda m: dict(use_buffers=True),
    "swa": lambda m: {},
    "swa multi": lambda m: dict(multi_avg_fn=m.get_swa_multi_avg_fn()),
}


@pytest.mark.parametrize("average", sorted(AVERAGES))
def test_averaged_model_matches_pytorch(average):
    torch = torch_or_skip()
    theirs, ours = twin_nets(torch)
    their_avg = torch.optim.swa_utils.AveragedModel(theirs,
                                                    **AVERAGES[average](torch.optim.swa_utils))
    our_avg = swa_utils.AveragedModel(ours, **AVERAGES[average](swa_utils))
    their_opt = torch.optim.SGD(theirs.parameters(), lr=0.1)
    our_opt = tn.optim.SGD(ours.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
        for lib, net, opt, avg in ((torch, theirs, their_opt, their_avg),
                                   (tn, ours, our_opt, our_avg)):
            loss = net(lib.tensor(x)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            avg.update_parameters(net)
    their_state, our_state = their_avg.state_dict(), our_avg.state_dict()
    assert list(our_state) == list(their_state)
    for key, value in their_state.items():
        np.testing.assert_allclose(np.asarray(our_state[key]), value.numpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=key)
    # the averaged network predicts with the averaged weights
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    their_avg.eval()
    our_avg.eval()
    np.testing.assert_allclose(our_avg(tn.tensor(x)).numpy(),
                               their_avg(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_the_average_is_a_copy_and_the_first_update_copies():
    net = small_net(tn)
    average = swa_utils.AveragedModel(net)
    assert average.module is not net and int(average.n_averaged.item()) == 0
    for p in net.parameters():
        p.data[...] += 1.0                       # the model moves on; the copy does not
    assert not np.allclose(average.module[0].weight.numpy(), net[0].weight.numpy())
    average.update_parameters(net)
    np.testing.assert_array_equal(average.module[0].weight.numpy(), net[0].weight.numpy())
    assert int(average.n_averaged.item()) == 1


def test_update_bn_matches_pytorch():
    torch = torch_or_skip()
    theirs, ours = twin_nets(torch)
    batches = [np.random.default_rng(k).standard_normal((4, 3, 8, 8)).astype(np.float32)
               for k in range(3)]
    torch.optim.swa_utils.update_bn([torch.tensor(b) for b in batches], theirs)
    swa_utils.update_bn([tn.tensor(b) for b in batches], ours)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(np.asarray(ours.state_dict()[key]), value.numpy(),
                                   rtol=1e-5, atol=1e-6, err_msg=key)
    assert ours[1].momentum == 0.1 and ours.training


def test_errors():
    net = small_net(tn)
    with pytest.raises(ValueError, match="avg_fn or multi_avg_fn, not both"):
        swa_utils.AveragedModel(net, avg_fn=swa_utils.get_ema_avg_fn(),
                                multi_avg_fn=swa_utils.get_ema_multi_avg_fn())
    average = swa_utils.AveragedModel(net)
    with pytest.raises(ValueError, match="give the model that was copied"):
        average.update_parameters(tn.nn.Linear(2, 2))


@pytest.mark.parametrize("make", [swa_utils.get_ema_avg_fn, swa_utils.get_ema_multi_avg_fn])
@pytest.mark.parametrize("decay", [-0.1, 1.5])
def test_a_decay_outside_0_1_is_refused(make, decay):
    with pytest.raises(ValueError, match="Invalid decay value"):
        make(decay)


def test_multi_avg_fn_gets_one_dtype_at_a_time():
    """A PyTorch-style function looks at the first tensor's dtype to choose its update."""
    seen = []

    def pytorch_style(averaged, current, n):
        seen.append({str(a.data.dtype) for a in averaged})
        if averaged[0].data.dtype.kind == "f":
            for a, c in zip(averaged, current):
                a.data[...] = 0.5 * (a.data + c.data)

    net = small_net(tn)
    average = swa_utils.AveragedModel(net, multi_avg_fn=pytorch_style, use_buffers=True)
    average.update_parameters(net)
    average.update_parameters(net)
    assert all(len(dtypes) == 1 for dtypes in seen) and {"int64"} in seen


def test_the_copy_has_no_gradient_hooks_and_updates_never_read_the_count():
    net = small_net(tn)
    for p in net.parameters():
        p.register_post_accumulate_grad_hook(lambda p: None)
    average = swa_utils.AveragedModel(net)
    assert all(p._post_accumulate_hooks is None for p in average.module.parameters())
    average.update_parameters(net)

    def no_read():
        raise AssertionError("n_averaged read from its device")

    average.n_averaged.item = no_read      # a read would wait for a GPU at every step
    average.update_parameters(net)
    average.update_parameters(net)
    assert int(np.asarray(average.n_averaged.data)) == 3


def test_the_count_survives_load_state_dict():
    net = small_net(tn)
    saved = swa_utils.AveragedModel(net)
    for _ in range(3):
        saved.update_parameters(net)
    restored = swa_utils.AveragedModel(net)
    restored.load_state_dict(saved.state_dict())
    restored.update_parameters(net)
    assert int(restored.n_averaged.item()) == 4


def test_update_bn_takes_arrays_and_a_device():
    net = small_net(tn)
    batches = [np.random.default_rng(k).standard_normal((4, 3, 8, 8)).astype(np.float32)
               for k in range(2)]
    swa_utils.update_bn(batches, net, device="cpu")
    expected = np.concatenate([tn.tensor(b).numpy() for b in batches])
    conv = net[0](tn.tensor(expected)).numpy()
    np.testing.assert_allclose(net[1].running_mean.numpy(), conv.mean(axis=(0, 2, 3)),
                               rtol=1e-4, atol=1e-5)
