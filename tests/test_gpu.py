"""tinynet on the GPU (CuPy) computes what it computes on the CPU (NumPy).

The tests marked ``gpu`` run on a real GPU where CuPy sees one (``pytest -m gpu``;
benchmarks/gpu_check.sh runs it), and elsewhere, CI included, on the strict
CuPy stand-in of tests/strict_gpu (NumPy underneath, CuPy's rules; conftest.py
installs it; $TINYNET_STRICT_GPU=0 skips them instead).  The two
tests at the end are not marked: they check the error a machine without CuPy
gives, and run everywhere.

What is compared, in float32 on both devices:

* every op's forward and backward: each ``GRADCHECK_CASES`` entry of the op
  test files (which together reach every Function, see
  test_gradcheck_coverage.py) is run on CPU tensors and on GPU tensors with
  the same inputs and the same output gradient;
* a ResUNet training step (batch 2, 64x64, focal Tversky loss, Adam) and a
  ResNet-18 one (batch 4, 64x64, cross-entropy, Adam);
* checkpoints written from the GPU read on the CPU, and the other way round.

Tolerances.  Both devices round every float32 operation, but sum in different
orders (cuBLAS GEMMs, CuPy reductions), so results differ by a few units in
the last place of the largest terms.  Hence ``|gpu - cpu| <= RTOL * |cpu| +
ATOL * max(1, max |cpu|)`` with RTOL = 1e-4 and ATOL = 1e-5, about a hundred
float32 epsilons; a wrong kernel is off by far more.  For the whole ResUNet
step, whose gradients pass through ~40 layers, each parameter's gradient
may differ by GRAD_RTOL = 1e-3 of that parameter's largest gradient.  These
assume full float32 GEMMs: TF32 (``CUPY_TF32=1``) keeps only 10 mantissa
bits, so the comparisons refuse to run with it.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinynet as tn
from tinynet import backend, ops
from tinynet.models import ResUNet, resnet18

from gradcases import build_inputs
from test_gradcheck_coverage import all_cases

RTOL, ATOL = 1e-4, 1e-5
GRAD_RTOL = 1e-3
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

gpu = pytest.mark.gpu

# Cases the generic CPU-versus-GPU comparison cannot take as they are, each
# tested by its own test below:
# - batch norm's cases keep their running statistics in NumPy arrays made
#   inside the case's function, which on the GPU would mix host and device
#   arrays (PyTorch refuses that as well);
# - dropout draws its mask on the device, from CuPy's generator, so the GPU
#   mask is not the CPU one.
HOST_STATISTICS_CASES = {"bn_train_affine_nchw", "bn_train_plain_nchw", "bn_train_affine_nc",
                         "bn_train_large_random_dirs", "bn_eval_affine_nchw", "bn_eval_plain_nc"}
RANDOM_CASES = {"dropout_seeded"}
# Moving to the host is this case's whole point: it may wait for the GPU.
HOST_COPY_CASES = {"to_device_cpu"}

ALL_CASES = all_cases()
DEVICE_CASES = [c for c in ALL_CASES if c.name not in HOST_STATISTICS_CASES | RANDOM_CASES]


@pytest.fixture(autouse=True)
def _full_float32(request):
    """The tolerances above are for float32 GEMMs, not TF32."""
    if request.node.get_closest_marker("gpu") and os.environ.get("CUPY_TF32", "0") != "0":
        pytest.fail("unset CUPY_TF32 (or set it to 0): these comparisons are for full float32")


def assert_close(actual, expected, what, rtol=RTOL, atol=ATOL):
    """``actual`` within rtol * |expected| + atol * max(1, max |expected|) of ``expected``."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    scale = max(1.0, float(np.abs(expected).max())) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=what)


# ---------------------------------------------------------------------------
# Every op: forward and backward on the GPU equal the CPU's
# ---------------------------------------------------------------------------

def inputs_on(case, device):
    """The case's inputs on ``device``, floating ones in float32.

    Floating arrays become leaves that require grad (as in gradcheck); label
    and mask Tensors are copied over as they are (floating ones in float32).
    """
    inputs = []
    for x in build_inputs(case):
        if isinstance(x, tn.Tensor):
            data = x.data.astype(np.float32) if x.dtype.kind == "f" else x.data
            x = tn.tensor(data, requires_grad=x.requires_grad, device=device)
        inputs.append(x)
    return inputs


def as_list(outputs):
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


def output_gradients(outputs, seed=1):
    """A fixed random gradient for each output that requires one, on the output's device."""
    rng = np.random.default_rng(seed)
    return [tn.tensor(rng.standard_normal(o.shape).astype(o.dtype), device=o.device)
            if o.requires_grad else None for o in outputs]


def backward_all(outputs, gradients):
    for out, grad in zip(outputs, gradients):
        if grad is not None:
            out.backward(grad, retain_graph=True)


def run_case_on(case, device):
    """(outputs, inputs) of ``case.fn`` on ``device``, after backward from fixed gradients."""
    inputs = inputs_on(case, device)
    outputs = as_list(case.fn(*inputs))
    backward_all(outputs, output_gradients(outputs))
    return outputs, inputs


def assert_runs_alike(case, expected_device="gpu"):
    """``case`` on the CPU and on ``expected_device``: same outputs, same input gradients."""
    cpu_outputs, cpu_inputs = run_case_on(case, "cpu")
    dev_outputs, dev_inputs = run_case_on(case, expected_device)
    for i, (d, c) in enumerate(zip(dev_outputs, cpu_outputs)):
        if case.name not in HOST_COPY_CASES:
            assert d.device == expected_device, f"output {i} left the {expected_device}"
        assert_close(d.numpy(), c.numpy(), f"{case.name}: output {i}")
    for i, (d, c) in enumerate(zip(dev_inputs, cpu_inputs)):
        if not (isinstance(c, tn.Tensor) and c.requires_grad):
            continue
        assert (d.grad is None) == (c.grad is None), f"{case.name}: gradient of input {i}"
        if c.grad is not None:
            assert d.grad.device == expected_device, f"gradient of input {i} left the device"
            assert_close(d.grad.numpy(), c.grad.numpy(), f"{case.name}: gradient of input {i}")


@gpu
@pytest.mark.parametrize("case", DEVICE_CASES, ids=str)
def test_op_forward_and_backward_on_the_gpu_equal_the_cpu(case):
    assert_runs_alike(case)


@gpu
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # allow_synchronize is deprecated
@pytest.mark.parametrize("case", [c for c in DEVICE_CASES if c.name not in HOST_COPY_CASES],
                         ids=str)
def test_op_forward_and_backward_never_wait_for_the_gpu(case):
    """No device-to-host copy (``.get()``, ``.item()``, ``float(array)``, ``if array:``)
    inside forward or backward: each would stall the host until the GPU is done."""
    import cupyx
    allow_synchronize = getattr(cupyx, "allow_synchronize", None)
    if allow_synchronize is None:
        pytest.skip("this CuPy has no cupyx.allow_synchronize to detect synchronizations")
    inputs = inputs_on(case, "gpu")
    gradients = output_gradients(as_list(case.fn(*inputs_on(case, "gpu"))))
    with allow_synchronize(False):  # raises cupyx.DeviceSynchronized on a device-to-host copy
        backward_all(as_list(case.fn(*inputs)), gradients)


@gpu
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_with_running_statistics_on_the_gpu_equals_the_cpu(training):
    rng = np.random.default_rng(5)
    x = (3 * rng.standard_normal((4, 3, 5, 5)) + 2).astype(np.float32)
    weight = rng.uniform(0.5, 2, 3).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    mean = rng.standard_normal(3).astype(np.float32)
    var = rng.uniform(0.5, 2, 3).astype(np.float32)
    grad = rng.standard_normal(x.shape).astype(np.float32)
    names = ["output", "input gradient", "weight gradient", "bias gradient", "running_mean",
             "running_var"]
    results = {}
    for device in ("cpu", "gpu"):
        xt, wt, bt = (tn.tensor(a, requires_grad=True, device=device) for a in (x, weight, bias))
        rm, rv = tn.tensor(mean.copy(), device=device), tn.tensor(var.copy(), device=device)
        y = ops.batch_norm(xt, rm, rv, wt, bt, training=training)
        y.backward(tn.tensor(grad, device=device))
        results[device] = [y, xt.grad, wt.grad, bt.grad, rm, rv]
    for name, on_gpu, on_cpu in zip(names, results["gpu"], results["cpu"]):
        assert on_gpu.device == "gpu", f"{name} left the GPU"
        assert_close(on_gpu.numpy(), on_cpu.numpy(), f"batch_norm training={training}: {name}")


@gpu
def test_dropout_on_the_gpu_zeroes_or_scales_each_element_and_repeats_with_the_seed():
    p = 0.25
    x = tn.tensor(np.random.default_rng(2).standard_normal((64, 64)).astype(np.float32),
                  requires_grad=True, device="gpu")
    grad = np.random.default_rng(3).standard_normal((64, 64)).astype(np.float32)
    tn.manual_seed(7)
    y = ops.dropout(x, p=p)
    y.backward(tn.tensor(grad, device="gpu"))
    assert y.device == "gpu" and x.grad.device == "gpu"
    out, kept = y.numpy(), y.numpy() != 0
    np.testing.assert_allclose(out[kept], x.numpy()[kept] / (1 - p), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, grad / (1 - p), 0), rtol=1e-6)
    # 4096 draws: the kept share is 0.75 with a standard deviation of 0.007.
    assert 0.72 < kept.mean() < 0.78
    tn.manual_seed(7)
    np.testing.assert_array_equal(ops.dropout(x, p=p).numpy(), out)


# ---------------------------------------------------------------------------
# A ResUNet training step
# ---------------------------------------------------------------------------

def focal_tversky(logits, masks):
    return ops.focal_tversky_loss(logits, masks, from_logits=True)


def training_step(model, x, target, device, loss_fn=focal_tversky):
    """One training step of ``model`` on ``device``: (loss, {name: gradient}, state after)."""
    model.to(device)
    model.train()
    optimizer = tn.optim.Adam(model.parameters(), lr=1e-3)
    optimizer.zero_grad()
    loss = loss_fn(model(tn.tensor(x, device=device)), tn.tensor(target, device=device))
    loss.backward()
    grads = {name: p.grad.numpy() for name, p in model.named_parameters()}
    for name, p in model.named_parameters():
        assert p.grad.device == device, f"gradient of {name} is not on the {device}"
    optimizer.step()
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    return loss.item(), grads, state


def assert_steps_alike(cpu_step, other_step):
    """The step on the other device took the CPU's: loss, gradients, weights, statistics."""
    cpu_loss, cpu_grads, cpu_state = cpu_step
    loss, grads, state = other_step
    assert abs(loss - cpu_loss) <= RTOL * abs(cpu_loss), f"loss {loss} vs {cpu_loss} on the CPU"
    largest = max(float(np.abs(g).max()) for g in cpu_grads.values())
    tolerance = {}
    for name, g in cpu_grads.items():
        # A bias followed by batch norm has a zero gradient in exact arithmetic:
        # its computed one is rounding noise, hence the floor.
        tolerance[name] = GRAD_RTOL * float(np.abs(g).max()) + 1e-6 * largest
        worst = float(np.abs(grads[name] - g).max())
        assert worst <= tolerance[name], f"gradient of {name}: off by {worst:.3g}"
    for key, expected in cpu_state.items():
        if key not in cpu_grads:  # batch norm's running statistics and counters
            if expected.dtype.kind == "f":
                assert_close(state[key], expected, key)
            else:
                np.testing.assert_array_equal(state[key], expected, err_msg=key)
            continue
        # Adam's first step moves every weight by lr * g / (|g| + eps), i.e. by
        # +-lr whatever |g| is: where a gradient is rounding-level on either
        # device its sign, and so the step, may differ.  Nowhere else.
        moved_apart = np.abs(state[key] - expected) > 1e-6 + 1e-5 * np.abs(expected)
        unsure = np.abs(cpu_grads[key]) <= tolerance[key]
        assert not np.any(moved_apart & ~unsure), \
            f"{key}: {int(np.sum(moved_apart & ~unsure))} weights stepped differently"


def resunet_step_inputs():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 64, 64)).astype(np.float32)
    yy, xx = np.mgrid[:64, :64]
    discs = [(yy - cy) ** 2 + (xx - cx) ** 2 < 12 ** 2 for cy, cx in ((20, 30), (40, 44))]
    return x, np.stack(discs)[:, None].astype(np.float32)  # one round "tumour" per image


@gpu
def test_resunet_training_step_on_the_gpu_equals_the_cpu():
    x, masks = resunet_step_inputs()
    tn.manual_seed(0)
    cpu_model = ResUNet()
    gpu_model = ResUNet()
    gpu_model.load_state_dict(cpu_model.state_dict())
    cpu_step = training_step(cpu_model, x, masks, "cpu")
    assert_steps_alike(cpu_step, training_step(gpu_model, x, masks, "gpu"))


@gpu
def test_resnet18_training_step_on_the_gpu_equals_the_cpu():
    """ResNet-18 (2 classes, batch 4 at 64x64, cross-entropy, Adam): strided convolutions,
    max pooling, the global average pool and the linear head, on top of the ResUNet's."""
    x = np.random.default_rng(12).standard_normal((4, 3, 64, 64)).astype(np.float32)
    labels = np.array([0, 1, 1, 0])
    tn.manual_seed(0)
    cpu_model = resnet18(num_classes=2)
    gpu_model = resnet18(num_classes=2)
    gpu_model.load_state_dict(cpu_model.state_dict())
    cpu_step = training_step(cpu_model, x, labels, "cpu", ops.cross_entropy)
    assert_steps_alike(cpu_step, training_step(gpu_model, x, labels, "gpu", ops.cross_entropy))


# ---------------------------------------------------------------------------
# Checkpoints cross devices
# ---------------------------------------------------------------------------

def small_trained_model(device):
    """A small ResUNet after one Adam step on ``device``, and its optimizer."""
    tn.manual_seed(3)
    model = ResUNet(base=4, depth=2).to(device)
    optimizer = tn.optim.Adam(model.parameters(), lr=1e-2)
    x, masks = (a[:, :, :32, :32] for a in resunet_step_inputs())
    loss = ops.focal_tversky_loss(model(tn.tensor(x, device=device)),
                                  tn.tensor(masks, device=device), from_logits=True)
    loss.backward()
    optimizer.step()
    return model, optimizer


def load_into_fresh(path, device):
    """A fresh small ResUNet and Adam on ``device`` with the checkpoint at ``path`` loaded."""
    checkpoint = tn.io.load_checkpoint(path)
    model = ResUNet(base=4, depth=2).to(device)
    model.load_state_dict(checkpoint["model"])
    optimizer = tn.optim.Adam(model.parameters(), lr=1e-2)
    optimizer.load_state_dict(checkpoint["optimizer"])
    return model, optimizer


def assert_same_training_state(model, optimizer, device, saved_model, saved_optimizer):
    """Bit-equal weights, buffers and Adam moments, with ``model``'s on ``device``."""
    for key, value in model.state_dict().items():
        assert value.device == device, f"{key} is not on the {device}"
        np.testing.assert_array_equal(value.numpy(), saved_model.state_dict()[key].numpy(),
                                      err_msg=key)
    for p, saved_p in zip(model.parameters(), saved_model.parameters()):
        state, saved = optimizer.state[p], saved_optimizer.state[saved_p]
        assert state["step"] == saved["step"] == 1
        for key in ("exp_avg", "exp_avg_sq"):
            assert backend.device_of(state[key]) == device
            np.testing.assert_array_equal(backend.to_numpy(state[key]),
                                          backend.to_numpy(saved[key]))


@gpu
@pytest.mark.parametrize("saved_on, loaded_on", [("gpu", "cpu"), ("cpu", "gpu")])
def test_checkpoint_saved_on_one_device_loads_on_the_other(tmp_path, saved_on, loaded_on):
    model, optimizer = small_trained_model(saved_on)
    path = tn.io.save_checkpoint(tmp_path / f"from_{saved_on}.npz", model, optimizer, epoch=1)
    loaded_model, loaded_optimizer = load_into_fresh(path, loaded_on)
    assert_same_training_state(loaded_model, loaded_optimizer, loaded_on, model, optimizer)


# ---------------------------------------------------------------------------
# Without CuPy (runs everywhere): one clear error
# ---------------------------------------------------------------------------

def test_the_gpu_without_cupy_is_one_clear_device_error(without_cupy):
    assert not tn.gpu_available()
    with pytest.raises(backend.DeviceError, match="device 'gpu' needs CuPy") as error:
        tn.tensor([1.0], device="gpu")
    assert "\n" not in str(error.value)
    with pytest.raises(backend.DeviceError, match="needs CuPy"):
        tn.nn.Linear(2, 1).to("gpu")


@pytest.mark.parametrize("script", ["bench_kernels.py", "bench_pool.py", "bench_train_step.py"])
def test_benchmark_device_gpu_without_cupy_says_so_in_one_line(script):
    code = ("import runpy, sys\n"
            "sys.modules['cupy'] = None\n"  # as if CuPy were not installed
            f"sys.path.insert(0, {str(BENCHMARKS)!r})\n"
            f"sys.argv = [{script!r}, '--device', 'gpu']\n"
            f"runpy.run_path({str(BENCHMARKS / script)!r}, run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"{script}: --device gpu: device 'gpu' needs CuPy")


# ---------------------------------------------------------------------------
# Adam's fused kernel
# ---------------------------------------------------------------------------

@gpu
@pytest.mark.parametrize("weight_decay, decoupled", [(0.0, False), (0.1, False), (0.1, True)])
def test_fused_adam_on_the_gpu_equals_the_elementwise_update(weight_decay, decoupled):
    """``Adam(fused=True)``: one CUDA kernel per parameter on a GPU, the xp code where no
    kernel can run (the strict stand-in), always the update of ``fused=False``."""
    rng = np.random.default_rng(5)
    start = rng.standard_normal((3, 40)).astype(np.float32)
    grads = [rng.standard_normal((3, 40)).astype(np.float32) for _ in range(4)]
    results = []
    for fused in (False, True):
        p = tn.tensor(start, requires_grad=True, device="gpu")
        opt = tn.optim.Adam([p], lr=1e-2, weight_decay=weight_decay,
                            decoupled_weight_decay=decoupled, fused=fused)
        for g in grads:
            p.grad = tn.tensor(g, device="gpu")
            opt.step()
        state = opt.state[p]
        results.append([p.numpy(), backend.to_numpy(state["exp_avg"]),
                        backend.to_numpy(state["exp_avg_sq"])])
    for name, plain, fused in zip(("param", "exp_avg", "exp_avg_sq"), *results):
        assert_close(fused, plain, f"fused Adam: {name}")
