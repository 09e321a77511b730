"""tinynet.nn.Module mechanics: registration, traversal, modes, devices, state_dict, containers.

Layer numerics (parity with PyTorch) are in test_nn_layers.py, initialization in
test_nn_init.py.
"""
import copy
from collections import OrderedDict

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
import tinynet.nn.functional as F
from tinynet.backend import DeviceError
from gradcases import GradCase, run_case


class Block(nn.Module):
    """Registers things in a deliberately non-alphabetical order."""

    def __init__(self):
        super().__init__()
        self.zeta = nn.Parameter(np.ones(2, dtype=np.float32))
        self.conv = nn.Conv2d(2, 3, 1)
        self.alpha = nn.Parameter(np.zeros(3, dtype=np.float32))
        self.register_buffer("mu", np.zeros(3, dtype=np.float32))
        self.bn = nn.BatchNorm2d(3)
        self.register_buffer("scratch", np.zeros(1, dtype=np.float32), persistent=False)

    def forward(self, x):
        return self.bn(self.conv(x * self.zeta.reshape(1, 2, 1, 1)))


def small_net():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 5 * 5, 2))


def test_parameter_defaults_and_repr():
    p = nn.Parameter([[1.0, 2.0]])
    assert p.requires_grad and p.is_leaf and p.dtype == np.float32
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert nn.Parameter().shape == (0,)
    assert nn.Parameter(np.zeros(2)).dtype == np.float64  # a float64 array keeps its dtype
    assert not nn.Parameter([1.0], requires_grad=False).requires_grad


def test_registration_follows_insertion_order():
    m = Block()
    assert [n for n, _ in m.named_parameters()] == [
        "zeta", "alpha", "conv.weight", "conv.bias", "bn.weight", "bn.bias"]
    assert [n for n, _ in m.named_buffers()] == [
        "mu", "scratch", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert [n for n, _ in m.named_children()] == ["conv", "bn"]
    assert [n for n, _ in m.named_modules()] == ["", "conv", "bn"]
    assert list(m.state_dict()) == [
        "zeta", "alpha", "mu", "conv.weight", "conv.bias", "bn.weight", "bn.bias",
        "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]


def test_reassigning_a_parameter_keeps_its_slot_and_type_rules():
    m = Block()
    m.zeta = nn.Parameter(np.ones(2, dtype=np.float32))
    assert next(iter(m.named_parameters()))[0] == "zeta"
    with pytest.raises(TypeError, match="parameter 'zeta'"):
        m.zeta = tn.tensor([1.0, 2.0])  # a plain Tensor is not a Parameter
    m.alpha = None
    assert "alpha" not in dict(m.named_parameters()) and m.alpha is None
    m.mu = np.ones(3, dtype=np.float32)  # a buffer accepts an array, wrapped in a Tensor
    assert isinstance(m.mu, tn.Tensor) and "mu" in m.state_dict()
    del m.conv
    assert "conv.weight" not in m.state_dict()
    m.plain = 3
    assert m.plain == 3 and "plain" not in m.state_dict()


def test_assigning_before_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter([1.0])

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Broken()


def test_missing_attribute_names_the_class():
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'wieght'"):
        nn.Linear(2, 2).wieght


def test_shared_parameter_is_listed_once():
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    net = nn.Sequential(a, b)
    names = [n for n, _ in net.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.bias"]
    assert len(list(net.parameters())) == 3
    assert net.num_parameters() == 9 + 3 + 3
    assert len([n for n, _ in net.named_parameters(remove_duplicate=False)]) == 4
    assert list(net.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]  # as torch


def test_shared_module_is_visited_once():
    shared = nn.ReLU()
    net = nn.Sequential(shared, nn.Linear(2, 2), shared)
    assert len(list(net.modules())) == 3
    assert len(list(net.children())) == 2
    assert [n for n, _ in net.named_modules(remove_duplicate=False)] == ["", "0", "1", "2"]


def test_parameters_vs_buffers_for_batchnorm():
    bn = nn.BatchNorm2d(5)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var",
                                                    "num_batches_tracked"]
    assert all(not b.requires_grad for b in bn.buffers())
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.shape == ()
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(5))
    assert not any(p is b for p in bn.parameters() for b in bn.buffers())


def test_non_persistent_buffer_is_not_saved():
    m = Block()
    assert "scratch" in dict(m.named_buffers())
    assert "scratch" not in m.state_dict()


def test_train_eval_recurse_and_change_batchnorm():
    net = small_net()
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="bool"):
        net.train("no")

    bn = nn.BatchNorm2d(3)
    x = tn.tensor(np.random.default_rng(0).normal(2.0, 3.0, (4, 3, 5, 5)).astype(np.float32))
    y_train = bn(x).numpy()  # batch statistics: each channel has mean 0, std 1
    np.testing.assert_allclose(y_train.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 1
    bn.eval()
    mean = bn.running_mean.numpy().copy()[:, None, None]
    var = bn.running_var.numpy().copy()[:, None, None]
    y_eval = bn(x).numpy()  # running statistics, which eval mode does not update
    expected = (x.numpy() - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(y_eval, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(bn.running_mean.numpy(), mean[:, 0, 0])
    assert int(bn.num_batches_tracked.item()) == 1


def test_state_dict_values_are_tensors_on_the_module_arrays():
    """As in PyTorch: detached Tensors sharing the module's memory, so that EMA code that
    writes into them (``v.copy_(...)``, ``v.mul_(d).add_(...)``) updates the module."""
    net = small_net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    weight = sd["0.weight"]
    assert isinstance(weight, tn.Tensor) and not weight.requires_grad
    assert weight.data is net[0].weight.data and weight.size() == net[0].weight.shape
    assert sd["1.num_batches_tracked"].dtype == np.int64
    weight.mul_(0).add_(1)
    assert (net[0].weight.numpy() == 1).all()
    assert net.state_dict(keep_vars=True)["0.weight"] is net[0].weight


def test_state_dict_round_trip_is_bit_exact():
    tn.manual_seed(1)
    net = small_net()
    x = tn.randn(2, 3, 5, 5)
    net(x)  # update running statistics so that buffers are not at their defaults
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    net.eval()
    expected = net(x).numpy()

    tn.manual_seed(2)
    fresh = small_net().eval()
    params_before = list(fresh.parameters())
    arrays_before = [p.data for p in params_before]
    result = fresh.load_state_dict(saved)
    assert result == ([], []) and result.missing_keys == [] and result.unexpected_keys == []
    for key, value in fresh.state_dict().items():
        assert value.dtype == saved[key].dtype
        np.testing.assert_array_equal(value, saved[key])
    np.testing.assert_array_equal(fresh(x).numpy(), expected)
    # Values were copied in place: same Parameter objects, same arrays.
    assert all(a is b for a, b in zip(params_before, fresh.parameters()))
    assert all(a is p.data for a, p in zip(arrays_before, fresh.parameters()))


def test_load_converts_dtype_and_accepts_tensors():
    lin = nn.Linear(2, 3)
    weight = np.arange(6, dtype=np.float64).reshape(3, 2)
    lin.load_state_dict({"weight": weight, "bias": tn.tensor(np.ones(3, dtype=np.float32))})
    assert lin.weight.dtype == np.float32
    np.testing.assert_array_equal(lin.weight.numpy(), weight)
    np.testing.assert_array_equal(lin.bias.numpy(), np.ones(3))


def test_strict_load_lists_missing_unexpected_and_size_mismatches():
    net = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 2, 3), fc=nn.Linear(512, 2)))
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    del sd["conv.bias"]
    sd["head.weight"] = np.zeros(3)
    sd["fc.weight"] = np.zeros((1000, 512), dtype=np.float32)
    before = net.fc.bias.numpy().copy()
    sd["fc.bias"] = before + 1
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    message = str(info.value)
    assert "Error(s) in loading state_dict for Sequential" in message
    assert 'Missing key(s) in state_dict: "conv.bias"' in message
    assert 'Unexpected key(s) in state_dict: "head.weight"' in message
    assert "size mismatch for fc.weight: checkpoint (1000, 512) vs model (2, 512)" in message
    # Nothing was copied: the load is all or nothing.
    np.testing.assert_array_equal(net.fc.bias.numpy(), before)

    with pytest.raises(RuntimeError, match=r"size mismatch for fc\.weight: checkpoint "
                                           r"\(1000, 512\) vs model \(2, 512\)"):
        net.load_state_dict(sd, strict=False)  # shape errors are errors even when not strict

    sd["fc.weight"] = np.zeros((2, 512), dtype=np.float32)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["conv.bias"] and result.unexpected_keys == ["head.weight"]
    np.testing.assert_array_equal(net.fc.bias.numpy(), before + 1)


@pytest.mark.parametrize("bad_bias, message", [
    (["a", "b", "c"], r'parameter named "bias", expected a numeric array or Tensor in the '
                      r"checkpoint, but received list of dtype <U1"),
    ([1.0, None, 2.0], r'parameter named "bias", .* received list of dtype object'),
    ([[1.0], [2.0, 3.0], [4.0]], r'parameter named "bias", the checkpoint value \(list\) '
                                 r"cannot be converted to an array"),
])
def test_load_of_an_unconvertible_value_names_the_key_and_changes_nothing(bad_bias, message):
    lin = nn.Linear(2, 3)
    weight_before = lin.weight.numpy().copy()
    with pytest.raises(RuntimeError, match=message):
        lin.load_state_dict({"weight": np.ones((3, 2)), "bias": bad_bias})
    np.testing.assert_array_equal(lin.weight.numpy(), weight_before)  # all or nothing


def test_load_of_none_for_a_buffer_names_the_key():
    bn = nn.BatchNorm2d(2)
    sd = dict(bn.state_dict(), num_batches_tracked=None)
    with pytest.raises(RuntimeError, match=r'"num_batches_tracked", .* received NoneType'):
        bn.load_state_dict(sd)


def test_load_requires_a_mapping():
    with pytest.raises(TypeError, match="dict-like"):
        nn.Linear(2, 2).load_state_dict([("weight", np.zeros((2, 2)))])


def test_batchnorm_loads_checkpoint_without_num_batches_tracked():
    # torchvision's ResNet checkpoints predate num_batches_tracked; PyTorch loads them strictly.
    bn = nn.BatchNorm2d(2)
    sd = {"weight": np.full(2, 2.0), "bias": np.zeros(2), "running_mean": np.ones(2),
          "running_var": np.full(2, 4.0)}
    assert bn.load_state_dict(sd) == ([], [])
    np.testing.assert_array_equal(bn.running_var.numpy(), [4.0, 4.0])
    assert "num_batches_tracked" not in sd  # the caller's dict is not modified


def test_zero_grad():
    net = small_net()
    net(tn.randn(2, 3, 5, 5)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    for p in net.parameters():
        assert p.grad.shape == p.shape and not np.any(p.grad.numpy())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_to_cpu_is_a_no_op_and_gpu_without_cupy_is_a_clear_error(without_cupy):
    net = small_net()
    arrays = [t.data for t in list(net.parameters()) + list(net.buffers())]
    assert net.to("cpu") is net and net.cpu() is net
    assert all(a is t.data for a, t in zip(arrays, list(net.parameters()) + list(net.buffers())))
    with pytest.raises(DeviceError, match="CuPy"):
        net.to("gpu")
    assert all(a is t.data for a, t in zip(arrays, net.parameters()))  # nothing moved
    with pytest.raises(DeviceError, match="unknown device"):
        net.to("tpu")


def test_to_dtype_casts_floating_state_and_grads():
    net = small_net()
    net(tn.randn(2, 3, 5, 5)).sum().backward()
    params = list(net.parameters())
    net.double()
    assert all(a is b for a, b in zip(params, net.parameters()))  # optimizers keep working
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in params)
    assert net[1].running_mean.dtype == np.float64
    assert net[1].num_batches_tracked.dtype == np.int64  # integers are not cast
    net.to(np.float32)
    assert all(p.dtype == np.float32 for p in params)
    with pytest.raises(TypeError, match="floating"):
        net.to(dtype=np.int32)


def test_requires_grad_and_trainable_count():
    net = small_net()
    total = net.num_parameters()
    net[0].requires_grad_(False)
    assert nn.utils.count_parameters(net, only_trainable=True) == total - (4 * 3 * 9 + 4)
    assert nn.utils.count_parameters(net) == total


def test_repr_nests_layer_names():
    text = repr(nn.Sequential(OrderedDict(features=small_net(), drop=nn.Dropout(0.2))))
    assert text.startswith("Sequential(\n  (features): Sequential(\n    (0): Conv2d(3, 4, ")
    assert "(1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, " in text
    assert "(4): Linear(in_features=100, out_features=2, bias=True)" in text
    assert "(drop): Dropout(p=0.2, inplace=False)" in text
    assert repr(nn.ReLU()) == "ReLU()" and repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
    assert repr(nn.Identity()) == "Identity()"


def test_apply_get_submodule_and_hooks():
    net = small_net()
    visited = []
    assert net.apply(lambda m: visited.append(type(m).__name__)) is net
    assert visited == ["Conv2d", "BatchNorm2d", "ReLU", "Flatten", "Linear", "Sequential"]
    assert net.get_submodule("4") is net[4] and net.get_submodule("") is net
    with pytest.raises(AttributeError, match="no submodule '9'"):
        net.get_submodule("9")

    seen = {}
    handle = net[2].register_forward_hook(lambda m, args, out: seen.setdefault("act", out))
    net(tn.randn(2, 3, 5, 5))
    assert seen["act"].shape == (2, 4, 5, 5)
    handle.remove()
    seen.clear()
    net(tn.randn(2, 3, 5, 5))
    assert seen == {}
    with net[4].register_forward_pre_hook(lambda m, args: (args[0] * 0,)):
        out = net(tn.randn(2, 3, 5, 5))
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(net[4].bias.numpy(), (2, 2)))


def test_module_without_forward():
    with pytest.raises(NotImplementedError, match='ModuleList.*missing the required "forward"'):
        nn.ModuleList([nn.ReLU()])(tn.randn(2))


def test_deepcopy_gives_independent_parameters():
    net = small_net()
    clone = copy.deepcopy(net)
    clone[0].weight.data[...] = 0
    assert np.any(net[0].weight.numpy())
    assert list(clone.state_dict()) == list(net.state_dict())


def test_sequential_behaviour():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[2]
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and list(head._modules) == ["1", "2"]
    with pytest.raises(IndexError, match="index 3 is out of range"):
        seq[3]
    x = tn.randn(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), layers[2](layers[1](layers[0](x))).numpy())

    named = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 1, 1)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["conv.weight", "conv.bias"]
    assert named[0] is named.conv

    seq.append(nn.Sigmoid())
    assert list(seq._modules) == ["0", "1", "2", "3"]
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"] and seq[1] is layers[2]
    seq.insert(1, nn.Tanh())
    assert [type(m).__name__ for m in seq] == ["Linear", "Tanh", "Linear", "Sigmoid"]
    seq[1] = nn.ReLU()
    assert isinstance(seq[1], nn.ReLU)


def test_modulelist_behaviour():
    blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(blocks) == 3 and [n for n, _ in blocks.named_children()] == ["0", "1", "2"]
    assert len(list(blocks.parameters())) == 6
    blocks.append(nn.ReLU())
    blocks.extend([nn.Tanh(), nn.Sigmoid()])
    blocks += [nn.Identity()]
    assert [type(m).__name__ for m in blocks][3:] == ["ReLU", "Tanh", "Sigmoid", "Identity"]
    assert blocks[-1] is list(blocks)[-1]
    assert isinstance(blocks[1:3], nn.ModuleList) and len(blocks[1:3]) == 2
    first = blocks[0]
    del blocks[0]
    assert blocks[0] is not first and list(blocks._modules)[0] == "0" and len(blocks) == 6
    popped = blocks.pop()
    assert isinstance(popped, nn.Identity) and len(blocks) == 5
    blocks.insert(0, first)
    assert blocks[0] is first
    blocks[4] = nn.ReLU()
    assert isinstance(blocks[4], nn.ReLU)
    with pytest.raises(IndexError, match="out of range"):
        blocks[10]
    # Like PyTorch's repr, identical neighbours are folded: "(0-2): 3 x Linear(...)".
    assert "(0-2): 3 x Linear(in_features=2, out_features=2, bias=True)" in repr(
        nn.ModuleList([nn.Linear(2, 2) for _ in range(3)]))


def test_moduledict_behaviour():
    heads = nn.ModuleDict({"cls": nn.Linear(4, 2), "seg": nn.Conv2d(4, 1, 1)})
    assert list(heads) == ["cls", "seg"] and "cls" in heads and len(heads) == 2
    assert list(heads.state_dict()) == ["cls.weight", "cls.bias", "seg.weight", "seg.bias"]
    heads["aux"] = nn.ReLU()
    assert list(heads.keys()) == ["cls", "seg", "aux"]
    assert isinstance(heads.pop("aux"), nn.ReLU) and "aux" not in heads


def test_functional_reexports_ops():
    assert F.conv2d is tn.ops.conv2d and F.relu is tn.ops.relu and F.linear is tn.ops.linear
    assert "conv2d" in F.__all__ and "math" not in F.__all__


def test_clip_grad_norm_through_nn_utils():
    lin = nn.Linear(3, 2)
    (lin(tn.randn(4, 3)) * 100).sum().backward()
    total = nn.utils.clip_grad_norm_(lin.parameters(), max_norm=1.0)
    grads = np.concatenate([p.grad.numpy().ravel() for p in lin.parameters()])
    assert float(total) > 1.0
    np.testing.assert_allclose(np.linalg.norm(grads), 1.0, rtol=1e-4)


def test_a_parameter_of_an_int_is_refused_not_read_as_a_size():
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype"):
        nn.Parameter(3)


def test_parameter_list_and_dict_register_their_parameters(torch):
    """The same names, order and state_dict keys as PyTorch's; Tensors are wrapped."""
    def build(lib):
        class Scales(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.scales = lib.nn.ParameterList([lib.ones(2), lib.nn.Parameter(lib.zeros(3))])
                self.extra = lib.nn.ParameterDict({"gain": lib.ones(1)})
                self.scales.append(lib.ones(4))
                self.extra["bias"] = lib.nn.Parameter(lib.zeros(2))

            def forward(self, x):
                return sum(s.sum() for s in self.scales) * x * self.extra["gain"]

        return Scales()

    ours, theirs = build(tn), build(torch)
    names = [name for name, _ in ours.named_parameters()]
    assert names == [name for name, _ in theirs.named_parameters()]
    assert names == ["scales.0", "scales.1", "scales.2", "extra.gain", "extra.bias"]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert all(p.requires_grad for p in ours.parameters())
    assert len(ours.scales) == 3 and ours.scales[-1].shape == (4,) and "gain" in ours.extra
    ours(tn.ones(1)).sum().backward()
    assert ours.scales[0].grad.tolist() == [1.0, 1.0]
    assert "(0): Parameter containing: [float32 of size 2]" in repr(ours)
    assert ours.half().scales[0].dtype == np.float16


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_full_backward_hooks_see_and_replace_gradients_like_torch(torch):
    """grad_input / grad_output as PyTorch hands them to the hooks, a grad_input the hook
    replaces reaching the layers below, a pre-hook's grad_output reaching the module."""
    def run(lib):
        lib.manual_seed(0)
        first, second = lib.nn.Linear(3, 4), lib.nn.Linear(4, 2)
        with lib.no_grad():
            for p in list(first.parameters()) + list(second.parameters()):
                p.copy_(lib.tensor(np.linspace(-1, 1, p.numel(), dtype=np.float32)
                                   .reshape(tuple(p.shape))))
        seen = []

        def record(module, grad_input, grad_output):
            seen.append([None if g is None else g.numpy().copy() for g in grad_input + grad_output])
            return tuple(None if g is None else g * 2 for g in grad_input)

        def halve_output_grad(module, grad_output):
            return tuple(g / 2 for g in grad_output)

        second.register_full_backward_hook(record)
        second.register_full_backward_pre_hook(halve_output_grad)
        first.register_full_backward_hook(record)       # its input needs no gradient
        x = lib.tensor(np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]], dtype=np.float32))
        second(lib.relu(first(x))).sum().backward()
        return seen, first.weight.grad.numpy(), second.weight.grad.numpy()

    (ours, ours_w1, ours_w2), (theirs, theirs_w1, theirs_w2) = run(tn), run(torch)
    assert len(ours) == len(theirs) == 2
    for mine, reference in zip(ours, theirs):
        assert [g is None for g in mine] == [g is None for g in reference]
        for a, b in zip(mine, reference):
            if b is not None:
                np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(ours_w1, theirs_w1, rtol=1e-6)
    np.testing.assert_allclose(ours_w2, theirs_w2, rtol=1e-6)


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_backward_hooks_of_a_module_with_a_none_output(torch):
    """MultiheadAttention(need_weights=False) returns (out, None): the hooks still run, with
    None for the output that is no Tensor, whether or not the input needs a gradient."""
    for needs_grad in (True, False):
        results = []
        for lib in (tn, torch):
            lib.manual_seed(0)
            module, seen = lib.nn.MultiheadAttention(4, 2, batch_first=True), []
            module.register_full_backward_pre_hook(lambda m, go: seen.append("pre"))
            module.register_full_backward_hook(
                lambda m, gi, go: seen.append((len(gi), [None if g is None else tuple(g.shape)
                                                         for g in go])))
            q = lib.ones(1, 3, 4, requires_grad=needs_grad)
            module(q, q, q, need_weights=False)[0].sum().backward()
            results.append(seen)
        assert results[0] == results[1] == ["pre", (3, [(1, 3, 4), None])]


def test_forward_hooks_with_kwargs_and_prepend(torch):
    def run(lib):
        class Scale(lib.nn.Module):
            def forward(self, x, factor=1.0):
                return x * factor

        module, order = Scale(), []
        module.register_forward_hook(lambda m, a, out: order.append("second"))
        module.register_forward_hook(lambda m, a, out: order.append("first"), prepend=True)
        module.register_forward_pre_hook(lambda m, a, kw: (a, {"factor": kw["factor"] * 10}),
                                         with_kwargs=True)
        module.register_forward_hook(lambda m, a, kw, out: out + kw["factor"], with_kwargs=True)
        out = module(lib.ones(2), factor=0.5)
        return out.tolist(), order

    assert run(tn) == run(torch) == ([10.0, 10.0], ["first", "second"])


class _Scale(nn.Module):
    def forward(self, x, w):
        return x * w


def _scaled_with_backward_hooks(x, w):
    """x * w through a module whose backward hooks pass the gradients on unchanged."""
    module = _Scale()
    module.register_full_backward_pre_hook(lambda m, grad_output: None)
    module.register_full_backward_hook(lambda m, grad_input, grad_output: None)
    return module(x, w)


# The identity Function the backward hooks put around a module (nn/hooks.py HookBoundary).
GRADCHECK_CASES = [
    GradCase("module_with_backward_hooks", _scaled_with_backward_hooks,
             lambda r: [r.standard_normal((2, 3)), r.standard_normal(3)]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


def test_every_layer_of_tinynet_nn_is_in_its_all():
    """``from tinynet.nn import *`` (and the docs that list ``__all__``) miss no layer."""
    import inspect
    layers = {name for name, value in vars(tn.nn).items()
              if inspect.isclass(value) and issubclass(value, tn.nn.Module)}
    assert sorted(layers - set(tn.nn.__all__)) == []
