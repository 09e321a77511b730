"""tinynet.ops.sync_batch_norm and nn.SyncBatchNorm in one process (a world of one).

Across ranks (2 ranks x batch 4 against 1 process x batch 8, forward, backward
and running statistics) they are tested in test_distributed_training.py, under
mpiexec.
"""
import numpy as np
import pytest

import tinynet as tn
from tinynet import backend, nn, ops
from tinynet.ops.sync_batch_norm import SyncBatchNormFunction
from gradcases import GradCase, run_case


def _sync(x, w=None, b=None):
    c = x.shape[1]
    xp = backend.get_array_module(x.data)     # running statistics on x's device
    return SyncBatchNormFunction(0.1, 1e-5, xp.zeros(c), xp.ones(c))(x, w, b)


GRADCHECK_CASES = [
    GradCase("sync_bn_world_of_one_affine", _sync,
             lambda r: [r.standard_normal((3, 2, 2, 3)), r.uniform(0.5, 2, 2),
                        r.standard_normal(2)]),
    GradCase("sync_bn_world_of_one_plain_nc", _sync, lambda r: [r.standard_normal((5, 3))]),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=str)
def test_gradcheck(case):
    run_case(case)


def test_without_a_process_group_it_is_batch_norm(rng):
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    stats = [np.zeros(3, np.float32), np.ones(3, np.float32)]
    plain = [np.zeros(3, np.float32), np.ones(3, np.float32)]
    y = ops.sync_batch_norm(tn.tensor(x), *stats, momentum=0.3)
    expected = ops.batch_norm(tn.tensor(x), *plain, training=True, momentum=0.3)
    np.testing.assert_array_equal(y.numpy(), expected.numpy())
    np.testing.assert_array_equal(stats[0], plain[0])
    np.testing.assert_array_equal(stats[1], plain[1])


def test_the_function_in_a_world_of_one_equals_batch_norm_forward_and_backward(rng):
    x = rng.standard_normal((4, 3, 2, 2)).astype(np.float32)
    w, b = rng.uniform(0.5, 2, 3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    results = []
    for make in (lambda a, *p: SyncBatchNormFunction(0.1, 1e-5, None, None)(a, *p),
                 lambda a, *p: ops.batch_norm(a, None, None, *p, training=True)):
        leaves = [tn.tensor(v, requires_grad=True) for v in (x, w, b)]
        y = make(*leaves)
        (y * tn.tensor(np.arange(y.numel(), dtype=np.float32).reshape(y.shape))).sum().backward()
        results.append([y.numpy()] + [t.grad.numpy() for t in leaves])
    for ours, plain in zip(*results):
        np.testing.assert_allclose(ours, plain, rtol=1e-5, atol=1e-5)


def test_convert_sync_batchnorm_keeps_parameters_buffers_and_mode():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4),
                          nn.Sequential(nn.BatchNorm1d(4, momentum=0.2)))
    model[1].running_mean.data[:] = 0.5
    model[2][0].eval()
    weight = model[1].weight
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model
    assert isinstance(model[1], nn.SyncBatchNorm) and isinstance(model[2][0], nn.SyncBatchNorm)
    assert model[1].weight is weight and model[2][0].momentum == 0.2
    assert model[1].training and not model[2][0].training
    np.testing.assert_array_equal(model[1].running_mean.numpy(), 0.5)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias",
                                        "1.running_mean", "1.running_var",
                                        "1.num_batches_tracked", "2.0.weight", "2.0.bias",
                                        "2.0.running_mean", "2.0.running_var",
                                        "2.0.num_batches_tracked"]
    single = nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm2d(2))
    assert isinstance(single, nn.SyncBatchNorm)


def test_sync_batchnorm_module_trains_and_evaluates_like_batchnorm(rng):
    x = tn.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    sync, plain = nn.SyncBatchNorm(3), nn.BatchNorm2d(3)
    np.testing.assert_allclose(sync(x).numpy(), plain(x).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sync.running_var.numpy(), plain.running_var.numpy(), rtol=1e-6)
    assert int(sync.num_batches_tracked.item()) == 1
    sync.eval(), plain.eval()
    np.testing.assert_allclose(sync(x).numpy(), plain(x).numpy(), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="SyncBatchNorm: expected at least 2D input"):
        sync(tn.ones(3))
