"""The engine: graph recording, accumulation, no_grad, deep graphs, freeing, errors."""
import gc
import weakref

import numpy as np
import pytest

import tinynet as tn
from tinynet import backend
from tinynet.autograd import Function


def test_gradient_accumulates_when_a_tensor_is_used_twice():
    x = tn.tensor(np.array([2.0, -1.0]), requires_grad=True)
    y = x * x + x        # dy/dx = 2x + 1
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [5.0, -1.0])


def test_diamond_graph_sums_both_paths():
    x = tn.tensor(np.array(3.0), requires_grad=True)
    a = x * 2
    b = x * 3
    (a * b).backward()   # d(6x^2)/dx = 12x
    assert x.grad.item() == pytest.approx(36.0)


def test_grad_accumulates_across_backward_calls_until_zeroed():
    x = tn.tensor(np.ones(3), requires_grad=True)
    (x * 2).sum().backward()
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 4.0, 4.0])
    x.zero_grad()
    assert x.grad is None


def test_leaf_gradients_do_not_alias_each_other():
    # add returns the same array for both inputs; an in-place update of one
    # leaf's grad (as an optimizer does) must not change the other's.
    a = tn.tensor(np.zeros(3), requires_grad=True)
    b = tn.tensor(np.zeros(3), requires_grad=True)
    (a + b).sum().backward()
    a.grad.data *= 10
    np.testing.assert_array_equal(b.grad.data, np.ones(3))


def test_no_grad_builds_no_graph():
    x = tn.tensor(np.ones(3), requires_grad=True)
    with tn.no_grad():
        y = x * 2 + 1
    assert y.grad_fn is None and not y.requires_grad
    assert tn.is_grad_enabled()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_no_grad_restores_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with tn.no_grad():
            1 / 0
    assert tn.is_grad_enabled()


def test_inputs_without_requires_grad_record_nothing():
    y = tn.tensor(np.ones(3)) * 2
    assert y.grad_fn is None


def test_chain_of_10000_ops_backpropagates_without_recursion():
    x = tn.tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 10_000, rel=1e-9)


def test_backward_on_non_scalar_needs_a_gradient():
    x = tn.tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"scalar output, got shape \(2, 3\)"):
        y.backward()
    y.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad.data, np.full((2, 3), 2.0))


def test_backward_gradient_shape_is_checked():
    y = tn.tensor(np.ones(3), requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"gradient shape \(2,\) does not match output shape \(3,\)"):
        y.backward(np.ones(2))


def test_graph_is_freed_after_backward_unless_retained():
    x = tn.tensor(np.ones(3), requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()                              # second pass works: graph was kept
    np.testing.assert_array_equal(x.grad.data, np.full(3, 4.0))
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()                          # now it was freed


def test_saved_arrays_are_released_after_backward():
    x = tn.tensor(np.ones(1000), requires_grad=True)
    e = x.exp()                               # Exp saves its output for backward
    exp_fn = e.grad_fn
    e.sum().backward()
    assert not hasattr(exp_fn, "y")


def test_unused_graph_is_garbage_collected():
    x = tn.tensor(np.ones(1000), requires_grad=True)
    e = x.exp()
    saved = weakref.ref(e.grad_fn.y)
    del e
    gc.collect()
    assert saved() is None


def test_detach_cuts_the_graph():
    x = tn.tensor(np.ones(2), requires_grad=True)
    y = (x * 3).detach() * x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])  # no gradient through the detached branch


def test_wrong_device_name_is_a_clear_error():
    with pytest.raises(backend.DeviceError, match="unknown device 'tpu'"):
        tn.tensor([1.0], device="tpu")


@pytest.mark.skipif(backend.gpu_available(), reason="this machine has a GPU")
def test_gpu_without_cupy_or_gpu_says_what_is_missing():
    with pytest.raises(backend.DeviceError, match="device 'gpu'"):
        tn.tensor([1.0], device="gpu")


def test_python_floats_default_to_float32_and_numpy_keeps_dtype():
    assert tn.tensor([1.0, 2.0]).dtype == np.float32
    assert tn.tensor(np.zeros(2)).dtype == np.float64
    assert tn.tensor([1, 2]).dtype.kind == "i"


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype"):
        tn.tensor([1, 2], requires_grad=True)


def test_custom_function_returning_wrong_gradient_shape_is_reported():
    class Broken(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy):
            return gy[:1]

    x = tn.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Broken.backward returned a gradient of shape \(1,\)"):
        Broken()(x).sum().backward()


def test_gradcheck_reports_the_worst_element():
    class WrongSquare(Function):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, gy):
            return gy * self.x  # should be 2x

    x = tn.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    with pytest.raises(tn.GradcheckError,
                       match=r"input 0 \(shape \(3,\)\) at element \(2,\): analytic"):
        tn.gradcheck(lambda t: WrongSquare()(t), [x])


def test_gradcheck_large_input_uses_random_directions():
    x = tn.tensor(np.random.default_rng(0).standard_normal((20, 20)), requires_grad=True)
    assert tn.gradcheck(lambda t: (t * t).sum(axis=0), [x])


def test_gradcheck_refuses_float32():
    x = tn.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        tn.gradcheck(lambda t: t * 2, [x])
